//! Where the gateway logs, by OpenClaw's own rule (openclaw@2026.9.6, log-file-path.ts,
//! tmp-openclaw-dir, fs-safe secure-temp-dir): msclaw's `gateway_log`, else `logging.file` (a
//! leading `~` expanded), else `/tmp/openclaw` when it is a real directory of the user's own
//! (or missing: OpenClaw creates it), else `<os.tmpdir()>/openclaw-<uid>`. The files of the
//! daemon's own profile only: `openclaw[-<segment>]-YYYY-MM-DD.log`.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use msclaw_shared::paths::EnvLookup;

use super::LogLocation;
use super::access::{Unsafe, check_dir};

/// OpenClaw's preferred log directory.
pub const PREFERRED_DIR: &str = "/tmp/openclaw";
/// Replaces [`PREFERRED_DIR`] (for tests, which must not touch the real one).
pub const PREFERRED_DIR_ENV: &str = "MSCLAW_OPENCLAW_PREFERRED_LOG_DIR";

/// Who chose the location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Settings,
    LoggingFile,
    OpenClawDefault,
}

impl LogSource {
    pub fn label(self) -> &'static str {
        match self {
            LogSource::Settings => "msclaw's gateway_log",
            LogSource::LoggingFile => "logging.file",
            LogSource::OpenClawDefault => "OpenClaw's default",
        }
    }
}

/// The location and why it is that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLog {
    pub location: LogLocation,
    pub source: LogSource,
    /// Why OpenClaw's default directory is not the preferred one (or will change), if so.
    pub note: Option<String>,
}

/// The gateway log of `profile`'s gateway, as OpenClaw would write it.
pub fn resolve_log_location(
    gateway_log: Option<&Path>,
    logging_file: Option<&Path>,
    profile: Option<&str>,
    env: EnvLookup,
) -> ResolvedLog {
    let profile = profile.map(str::to_owned);
    if let Some(path) = gateway_log {
        let location = if path.extension().is_some_and(|e| e == "log") {
            LogLocation::File(path.to_path_buf())
        } else {
            LogLocation::ProfileDir {
                dir: path.to_path_buf(),
                profile,
            }
        };
        return ResolvedLog {
            location,
            source: LogSource::Settings,
            note: None,
        };
    }
    if let Some(file) = logging_file {
        return ResolvedLog {
            location: LogLocation::File(expand_home(file, env)),
            source: LogSource::LoggingFile,
            note: None,
        };
    }
    let (dir, note) = default_dir(env);
    ResolvedLog {
        location: LogLocation::ProfileDir { dir, profile },
        source: LogSource::OpenClawDefault,
        note,
    }
}

/// The preferred dir if OpenClaw would use it, else its fallback; with the reason when not plain.
fn default_dir(env: EnvLookup) -> (PathBuf, Option<String>) {
    let preferred = env(PREFERRED_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(PREFERRED_DIR), PathBuf::from);
    let fallback = tmpdir(env).join(format!("openclaw-{}", rustix::process::getuid().as_raw()));
    let refused = |why: String| {
        let note = format!(
            "{} {why}; following {} as OpenClaw does",
            preferred.display(),
            fallback.display()
        );
        (fallback.clone(), Some(note))
    };
    match std::fs::symlink_metadata(&preferred) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = preferred.parent().unwrap_or(Path::new("/"));
            let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
            if rustix::fs::access(parent, access).is_ok() {
                (preferred, None)
            } else {
                refused("cannot be created".to_owned())
            }
        }
        Err(e) => refused(format!("cannot be examined ({e})")),
        Ok(meta) => match check_dir(&meta) {
            Ok(()) => (preferred, None),
            // OpenClaw tightens its own directory to 0700 and uses it; msclaw changes nothing and
            // reads it once it is private.
            Err(Unsafe::Writable(mode)) => {
                let note = format!(
                    "{} is group/world writable (mode {mode:o}): OpenClaw tightens it to 0700 when the gateway starts; msclawd reads it only once it is private",
                    preferred.display()
                );
                (preferred, Some(note))
            }
            Err(why) => refused(why.to_string()),
        },
    }
}

/// Node's `os.tmpdir()` on POSIX: the first non-empty of TMPDIR, TMP, TEMP, else `/tmp`; one
/// trailing `/` removed.
fn tmpdir(env: EnvLookup) -> PathBuf {
    let raw = ["TMPDIR", "TMP", "TEMP"]
        .iter()
        .find_map(|k| env(k).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| OsString::from("/tmp"));
    let mut bytes = raw.into_vec();
    if bytes.len() > 1 && bytes.last() == Some(&b'/') {
        bytes.pop();
    }
    PathBuf::from(OsString::from_vec(bytes))
}

/// A leading `~` (then end, `/` or `\`) → OpenClaw's home: OPENCLAW_HOME (its own `~` expanded
/// with HOME), else HOME.
fn expand_home(file: &Path, env: EnvLookup) -> PathBuf {
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let home = match env("OPENCLAW_HOME").filter(|h| !h.is_empty()) {
        Some(h) => Some(tilde(Path::new(&h), home.as_deref())),
        None => home,
    };
    tilde(file, home.as_deref())
}

fn tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    let bytes = path.as_os_str().as_bytes();
    match (bytes.strip_prefix(b"~"), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest[0] == b'/' || rest[0] == b'\\' => {
            let mut out = home.as_os_str().as_bytes().to_vec();
            out.extend_from_slice(rest);
            PathBuf::from(OsString::from_vec(out))
        }
        _ => path.to_path_buf(),
    }
}
