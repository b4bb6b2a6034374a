//! Where msclaw and OpenClaw keep their files.
//!
//! Every function takes the environment as a lookup function instead of reading the process
//! environment, so tests (many daemons in one process) can give each its own.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A view of environment variables; `process_env` is the real one.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

pub fn process_env(key: &str) -> Option<OsString> {
    std::env::var_os(key).filter(|v| !v.is_empty())
}

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("cannot find the home directory (set HOME)")]
    NoHome,
    #[error("invalid profile name {0:?}: use letters, digits, '-' and '_'")]
    BadProfile(String),
}

fn home(env: EnvLookup) -> Result<PathBuf, PathError> {
    env("HOME").map(PathBuf::from).ok_or(PathError::NoHome)
}

/// Profile names end up in file names, so they are kept to a safe alphabet.
pub fn check_profile(name: &str) -> Result<(), PathError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PathError::BadProfile(name.to_owned()))
    }
}

/// The profile from a `--profile` flag, else `OPENCLAW_PROFILE`.
pub fn effective_profile(flag: Option<&str>, env: EnvLookup) -> Result<Option<String>, PathError> {
    let name = match flag {
        Some(name) => Some(name.to_owned()),
        None => env("OPENCLAW_PROFILE").map(|v| v.to_string_lossy().into_owned()),
    };
    if let Some(name) = &name {
        check_profile(name)?;
    }
    Ok(name)
}

/// msclaw's own files for one daemon (one OpenClaw profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsclawPaths {
    pub socket: PathBuf,
    /// Held exclusively by the running daemon.
    pub lock: PathBuf,
    pub state_file: PathBuf,
    /// msclaw's optional TOML config.
    pub settings: PathBuf,
}

impl MsclawPaths {
    /// `MSCLAW_SOCKET`, `MSCLAW_STATE_DIR` and `MSCLAW_CONFIG` override the defaults:
    /// socket in `$XDG_RUNTIME_DIR/msclaw/` (else `$TMPDIR/msclaw-$UID/`), state in
    /// `$XDG_STATE_HOME/msclaw/`, config `~/.config/msclaw/config.toml`.
    pub fn resolve(profile: Option<&str>, env: EnvLookup) -> Result<Self, PathError> {
        let suffix = profile.map(|p| format!("-{p}")).unwrap_or_default();
        let socket = match env("MSCLAW_SOCKET") {
            Some(path) => PathBuf::from(path),
            None => runtime_dir(env).join(format!("msclawd{suffix}.sock")),
        };
        let lock = lock_path_for(&socket);
        let state_dir = match env("MSCLAW_STATE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => match env("XDG_STATE_HOME") {
                Some(dir) => PathBuf::from(dir).join("msclaw"),
                None => default_state_dir().ok_or(PathError::NoHome)?,
            },
        };
        let settings = match env("MSCLAW_CONFIG") {
            Some(path) => PathBuf::from(path),
            None => match env("XDG_CONFIG_HOME") {
                Some(dir) => PathBuf::from(dir).join("msclaw/config.toml"),
                None => home(env)?.join(".config/msclaw/config.toml"),
            },
        };
        Ok(Self {
            socket,
            lock,
            state_file: state_dir.join(format!("state{suffix}.json")),
            settings,
        })
    }
}

impl MsclawPaths {
    /// Held by the daemon that keeps this state file, whatever its socket.
    pub fn state_lock(&self) -> PathBuf {
        lock_path_for(&self.state_file)
    }

    /// Held by the daemon that manages the OpenClaw config at `canonical_config` (canonical, so two
    /// spellings of one file share it): `openclaw-<hash>.lock` beside the state file.
    pub fn config_lock(&self, canonical_config: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let hash = fnv1a64(canonical_config.as_os_str().as_bytes());
        self.state_file
            .with_file_name(format!("openclaw-{hash:016x}.lock"))
    }
}

/// FNV-1a: a hash that stays the same across builds and Rust versions, as a file name must.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `~/.local/state/msclaw` on Linux; macOS has no state dir, so its local data dir.
fn default_state_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "msclaw")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_owned(),
    )
}

/// `<file>.lock` beside `file`. The socket's lock lives beside the socket, so a test's
/// `MSCLAW_SOCKET` isolates both.
pub fn lock_path_for(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("msclawd"));
    name.push(".lock");
    file.with_file_name(name)
}

/// `$XDG_RUNTIME_DIR/msclaw`, or `$TMPDIR/msclaw-$UID` where there is none (macOS).
pub fn runtime_dir(env: EnvLookup) -> PathBuf {
    match env("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("msclaw"),
        None => {
            let tmp = env("TMPDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp"));
            tmp.join(format!("msclaw-{}", rustix::process::getuid().as_raw()))
        }
    }
}

/// Which rule found the OpenClaw config; `doctor` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigRule {
    /// `OPENCLAW_CONFIG_PATH`.
    Env,
    /// `OPENCLAW_STATE_DIR`/openclaw.json.
    StateDir,
    /// `~/.openclaw-NAME` from `--profile` or `OPENCLAW_PROFILE`.
    Profile,
    /// `~/.openclaw/openclaw.json`.
    Default,
}

/// Where one OpenClaw installation keeps its config and its state (agents, transcripts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClawPaths {
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub rule: ConfigRule,
}

impl OpenClawPaths {
    /// Resolves the way OpenClaw does: `OPENCLAW_CONFIG_PATH`, else `OPENCLAW_STATE_DIR`/openclaw.json,
    /// else the profile's `~/.openclaw-NAME`, else `~/.openclaw` (the home from `OPENCLAW_HOME`, else `HOME`).
    pub fn resolve(profile: Option<&str>, env: EnvLookup) -> Result<Self, PathError> {
        let home = match env("OPENCLAW_HOME") {
            Some(dir) => PathBuf::from(dir),
            None => home(env)?,
        };
        let (state_dir, rule) = match (env("OPENCLAW_STATE_DIR"), profile) {
            (Some(dir), _) => (
                expand_tilde(PathBuf::from(dir), &home),
                ConfigRule::StateDir,
            ),
            (None, Some(name)) => (home.join(format!(".openclaw-{name}")), ConfigRule::Profile),
            (None, None) => (home.join(".openclaw"), ConfigRule::Default),
        };
        match env("OPENCLAW_CONFIG_PATH") {
            Some(path) => Ok(Self {
                config: expand_tilde(PathBuf::from(path), &home),
                state_dir,
                rule: ConfigRule::Env,
            }),
            None => Ok(Self {
                config: state_dir.join("openclaw.json"),
                state_dir,
                rule,
            }),
        }
    }
}

fn expand_tilde(path: PathBuf, home: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => home.join(rest),
        Err(_) => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn openclaw_config_follows_openclaws_own_rules() {
        let env = env_of(&[("HOME", "/home/u")]);
        let p = OpenClawPaths::resolve(None, &env).unwrap();
        assert_eq!(p.config, PathBuf::from("/home/u/.openclaw/openclaw.json"));
        assert_eq!(p.rule, ConfigRule::Default);

        let p = OpenClawPaths::resolve(Some("work"), &env).unwrap();
        assert_eq!(
            p.config,
            PathBuf::from("/home/u/.openclaw-work/openclaw.json")
        );
        assert_eq!(p.rule, ConfigRule::Profile);

        let env = env_of(&[("HOME", "/home/u"), ("OPENCLAW_STATE_DIR", "~/oc")]);
        let p = OpenClawPaths::resolve(Some("work"), &env).unwrap();
        assert_eq!(p.config, PathBuf::from("/home/u/oc/openclaw.json"));
        assert_eq!(p.rule, ConfigRule::StateDir);

        let env = env_of(&[
            ("HOME", "/home/u"),
            ("OPENCLAW_STATE_DIR", "/s"),
            ("OPENCLAW_CONFIG_PATH", "/c/x.json"),
        ]);
        let p = OpenClawPaths::resolve(None, &env).unwrap();
        assert_eq!(
            (p.config, p.state_dir, p.rule),
            (
                PathBuf::from("/c/x.json"),
                PathBuf::from("/s"),
                ConfigRule::Env
            )
        );
    }

    #[test]
    fn a_profile_names_the_socket_lock_and_state() {
        let env = env_of(&[
            ("HOME", "/home/u"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
            ("XDG_STATE_HOME", "/home/u/.local/state"),
        ]);
        let p = MsclawPaths::resolve(Some("work"), &env).unwrap();
        assert_eq!(
            p.socket,
            PathBuf::from("/run/user/7/msclaw/msclawd-work.sock")
        );
        assert_eq!(
            p.lock,
            PathBuf::from("/run/user/7/msclaw/msclawd-work.sock.lock")
        );
        assert_eq!(
            p.state_file,
            PathBuf::from("/home/u/.local/state/msclaw/state-work.json")
        );
        assert_eq!(
            p.settings,
            PathBuf::from("/home/u/.config/msclaw/config.toml")
        );

        let p = MsclawPaths::resolve(None, &env).unwrap();
        assert_eq!(p.socket, PathBuf::from("/run/user/7/msclaw/msclawd.sock"));
    }

    #[test]
    fn overrides_and_the_no_runtime_dir_fallback() {
        let env = env_of(&[
            ("HOME", "/h"),
            ("TMPDIR", "/var/tmp"),
            ("MSCLAW_STATE_DIR", "/st"),
            ("MSCLAW_CONFIG", "/c.toml"),
        ]);
        let p = MsclawPaths::resolve(None, &env).unwrap();
        let uid = rustix::process::getuid().as_raw();
        assert_eq!(
            p.socket,
            PathBuf::from(format!("/var/tmp/msclaw-{uid}/msclawd.sock"))
        );
        assert_eq!(p.state_file, PathBuf::from("/st/state.json"));
        assert_eq!(p.settings, PathBuf::from("/c.toml"));

        let env = env_of(&[("HOME", "/h"), ("MSCLAW_SOCKET", "/x/d.sock")]);
        let p = MsclawPaths::resolve(None, &env).unwrap();
        assert_eq!(
            (p.socket, p.lock),
            (PathBuf::from("/x/d.sock"), PathBuf::from("/x/d.sock.lock"))
        );
    }

    #[test]
    fn the_state_and_config_locks_sit_beside_the_state_file() {
        let env = env_of(&[("HOME", "/h"), ("MSCLAW_STATE_DIR", "/st")]);
        let p = MsclawPaths::resolve(Some("work"), &env).unwrap();
        assert_eq!(p.state_lock(), PathBuf::from("/st/state-work.json.lock"));
        let a = p.config_lock(Path::new("/h/.openclaw/openclaw.json"));
        let b = p.config_lock(Path::new("/h/.openclaw-work/openclaw.json"));
        assert_eq!(a.parent(), Some(Path::new("/st")));
        assert!(
            a.to_string_lossy().ends_with(".lock") && a != b,
            "{a:?} {b:?}"
        );
        // Stable across builds: a daemon of the next release must find this one's lock.
        assert_eq!(
            a,
            PathBuf::from(format!(
                "/st/openclaw-{:016x}.lock",
                fnv1a64(b"/h/.openclaw/openclaw.json")
            ))
        );
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn profile_names_are_checked() {
        let env = env_of(&[]);
        assert!(effective_profile(Some("../etc"), &env).is_err());
        assert_eq!(
            effective_profile(Some("a-b_1"), &env).unwrap().as_deref(),
            Some("a-b_1")
        );
        let env = env_of(&[("OPENCLAW_PROFILE", "dev")]);
        assert_eq!(
            effective_profile(None, &env).unwrap().as_deref(),
            Some("dev")
        );
    }
}
