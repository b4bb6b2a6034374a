//! msclaw's own config (TOML, optional). Built-in defaults make `msclawd` with no file do the right
//! thing. The key names are a contract (scripts and users' files depend on them): add, never rename.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::pools::{PoolSetup, PoolTable, PresetChoice, pool_setup};
use crate::quota_calendar::QuotaCalendar;

pub const DEFAULT_DAILY_LIMIT: u32 = 500;

/// A daily limit: a number of calls, or `"unknown"` (only 429 evidence marks the model spent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Calls(u32),
    Unknown,
}

impl Limit {
    pub fn calls(self) -> Option<u32> {
        match self {
            Limit::Calls(n) => Some(n),
            Limit::Unknown => None,
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Calls(u32),
            Word(String),
        }
        match Raw::deserialize(de).map_err(|_| {
            serde::de::Error::custom("expected a whole number of calls or \"unknown\"")
        })? {
            Raw::Calls(n) => Ok(Limit::Calls(n)),
            Raw::Word(w) if w == "unknown" => Ok(Limit::Unknown),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "expected a whole number of calls or \"unknown\", found {w:?}"
            ))),
        }
    }
}

/// A command as argv, or one string run by `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Argv(Vec<String>),
    Shell(String),
}

impl Command {
    pub fn to_argv(&self) -> Vec<String> {
        match self {
            Command::Argv(argv) => argv.clone(),
            Command::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSettings {
    /// Run on each switch with the event in `MSCLAW_*` variables and as JSON on stdin.
    pub command: Command,
    #[serde(default = "default_hook_timeout")]
    pub timeout_secs: u64,
}

fn default_hook_timeout() -> u64 {
    10
}

/// The metering relay: OpenClaw's provider `baseUrl` points at it and it forwards to ModelScope
/// (`/v1`) and to the other providers it fronts (`/<provider>/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    #[serde(default)]
    pub enabled: bool,
    /// A loopback address with a fixed port (OpenClaw's `baseUrl` names it).
    #[serde(default = "default_relay_listen")]
    pub listen: std::net::SocketAddr,
    /// The real ModelScope base URL that requests are forwarded to.
    #[serde(default = "default_relay_upstream")]
    pub upstream: String,
    /// How long ModelScope may take to send response headers (non-streaming replies send them last).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// `[relay.upstreams]`: providers' real base URLs by provider id. The rotation provider's
    /// entry, when listed, stands instead of `upstream`.
    #[serde(default)]
    pub upstreams: BTreeMap<String, String>,
}

pub const DEFAULT_RELAY_LISTEN: &str = "127.0.0.1:18790";

fn default_relay_listen() -> std::net::SocketAddr {
    DEFAULT_RELAY_LISTEN.parse().expect("a valid address")
}

fn default_relay_upstream() -> String {
    crate::modelscope::BASE_URL.to_owned()
}

fn default_header_timeout() -> u64 {
    300
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: default_relay_listen(),
            upstream: default_relay_upstream(),
            header_timeout_secs: default_header_timeout(),
            upstreams: BTreeMap::new(),
        }
    }
}

impl RelaySettings {
    /// The `baseUrl` OpenClaw is given for the rotation provider while the relay is on.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.listen)
    }

    /// The `baseUrl` OpenClaw is given for `provider` while the relay is on: the rotation
    /// provider keeps `/v1` (existing set-ups), any other is `/<provider>/v1`.
    pub fn provider_base_url(&self, provider: &str, rotation: &str) -> String {
        match provider == rotation {
            true => self.base_url(),
            false => format!("http://{}/{provider}/v1", self.listen),
        }
    }

    /// The rotation provider's real base URL: its `[relay.upstreams]` entry, else `upstream`.
    pub fn rotation_upstream(&self, rotation: &str) -> &str {
        self.upstreams.get(rotation).unwrap_or(&self.upstream)
    }

    /// Every upstream is a URL that is not the relay itself, under a provider id that can be a
    /// path segment.
    fn check(&self) -> Result<(), String> {
        let named = std::iter::once(("upstream", &self.upstream))
            .chain(self.upstreams.iter().map(|(p, u)| (p.as_str(), u)));
        for (key, upstream) in named {
            if crate::relay::forwards_to_itself(upstream, self.listen) {
                return Err(format!(
                    "[relay] {key} {upstream} is the relay's own address ({}): it would forward to itself",
                    self.listen
                ));
            }
        }
        match self
            .upstreams
            .keys()
            .find(|p| !crate::relay::is_provider_id(p))
        {
            Some(bad) => Err(format!(
                "[relay.upstreams] {bad:?} is no provider id the relay can front (letters, digits, `-`, `_`, `.`; not `v1`)"
            )),
            None => Ok(()),
        }
    }
}

/// The file as written by the user; everything optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    provider: Option<String>,
    models: Option<Vec<String>>,
    daily_limit: Option<Limit>,
    reset_time: Option<String>,
    time_zone: Option<String>,
    #[serde(default)]
    limits: BTreeMap<String, Limit>,
    reserve: Option<u32>,
    manage_fallbacks: Option<bool>,
    restart_command: Option<Command>,
    reload_timeout_secs: Option<f64>,
    gateway_log: Option<PathBuf>,
    rate_limit_errors: Option<u32>,
    rate_limit_window_secs: Option<u64>,
    hook: Option<HookSettings>,
    relay: Option<RelaySettings>,
    /// Built-in pools by name (issue 14); default `modelscope-daily`.
    preset: Option<PresetChoice>,
    #[serde(default)]
    pools: Vec<PoolTable>,
}

/// The settings in force, defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub provider: String,
    /// Refs or aliases; empty means the provider's models in config order.
    pub models: Vec<String>,
    pub daily_limit: Limit,
    /// Per-model overrides, by ref or alias.
    pub limits: BTreeMap<String, Limit>,
    /// When quota days begin (`time_zone`, `reset_time`).
    pub calendar: QuotaCalendar,
    /// Calls kept back from each limit: the switch happens at `limit - reserve`.
    pub reserve: u32,
    pub manage_fallbacks: bool,
    pub restart_command: Option<Command>,
    /// How long to wait for the gateway's "hot reload applied" line.
    pub reload_timeout: std::time::Duration,
    /// Where the gateway log lives, overriding `logging.file` and `/tmp/openclaw`.
    pub gateway_log: Option<PathBuf>,
    /// This many 429s for a model in `rate_limit_window` with no success between mark it spent.
    pub rate_limit_errors: u32,
    pub rate_limit_window: jiff::SignedDuration,
    pub hook: Option<HookSettings>,
    pub relay: RelaySettings,
    /// The quota pools: `preset` merged with `[[pools]]`, checked (resolved against the rotation
    /// by the engine).
    pub pools: PoolSetup,
    /// The file these came from, if any.
    pub source: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_raw(RawSettings::default(), None).expect("built-in defaults are valid")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    // Not `source`: the reason is in the message, and an error chain would repeat it.
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Settings {
    /// Loads the file if it exists; a missing file means built-in defaults.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Settings::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(error) => Err(SettingsError::Io {
                path: path.to_owned(),
                error,
            }),
        }
    }

    /// Loads a file the user named (`MSCLAW_CONFIG`, `--config`): it must exist.
    pub fn load_named(path: &Path) -> Result<Settings, SettingsError> {
        if !path.exists() {
            return Err(SettingsError::Invalid {
                path: path.to_owned(),
                message: "does not exist (named by MSCLAW_CONFIG or --config)".into(),
            });
        }
        Settings::load(path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Settings, SettingsError> {
        // toml's message names the key and gives line and column.
        let raw: RawSettings = toml::from_str(text).map_err(|e| SettingsError::Invalid {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Settings::from_raw(raw, Some(path))
    }

    fn from_raw(raw: RawSettings, path: Option<&Path>) -> Result<Settings, SettingsError> {
        let invalid = |message: String| SettingsError::Invalid {
            path: path.map(Path::to_owned).unwrap_or_default(),
            message,
        };
        let tz_name = raw.time_zone.unwrap_or_else(|| "Asia/Shanghai".to_owned());
        let reset = raw.reset_time.unwrap_or_else(|| "00:00".to_owned());
        let calendar = QuotaCalendar::new(&tz_name, &reset).map_err(invalid)?;
        let pools =
            pool_setup(raw.preset.as_ref(), &raw.pools, &tz_name, &reset).map_err(invalid)?;
        let reload_timeout = raw.reload_timeout_secs.unwrap_or(8.0);
        if !(0.0..=600.0).contains(&reload_timeout) {
            return Err(invalid(
                "reload_timeout_secs must be between 0 and 600".into(),
            ));
        }
        let rate_limit_errors = raw.rate_limit_errors.unwrap_or(3);
        if rate_limit_errors == 0 {
            return Err(invalid("rate_limit_errors must be at least 1".into()));
        }
        let relay = raw.relay.unwrap_or_default();
        relay.check().map_err(invalid)?;
        Ok(Settings {
            provider: raw
                .provider
                .unwrap_or_else(|| crate::modelscope::PROVIDER.to_owned()),
            models: raw.models.unwrap_or_default(),
            daily_limit: raw.daily_limit.unwrap_or(Limit::Calls(DEFAULT_DAILY_LIMIT)),
            limits: raw.limits,
            calendar,
            reserve: raw.reserve.unwrap_or(0),
            manage_fallbacks: raw.manage_fallbacks.unwrap_or(true),
            restart_command: raw.restart_command,
            reload_timeout: std::time::Duration::from_secs_f64(reload_timeout),
            gateway_log: raw.gateway_log,
            rate_limit_errors,
            rate_limit_window: jiff::SignedDuration::from_secs(
                raw.rate_limit_window_secs.unwrap_or(300) as i64,
            ),
            hook: raw.hook,
            relay,
            pools,
            source: path.map(Path::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pools::{Capacity, Units};

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        Settings::parse(text, Path::new("/cfg/config.toml"))
    }

    #[test]
    fn defaults_are_the_guides() {
        let s = Settings::default();
        assert_eq!(s.provider, "modelscope");
        assert!(s.models.is_empty());
        assert_eq!(s.daily_limit, Limit::Calls(500));
        assert_eq!(s.calendar.describe(), "00:00 Asia/Shanghai");
        assert!(s.manage_fallbacks);
    }

    #[test]
    fn the_documented_keys_parse() {
        let s = parse(
            r#"
provider = "modelscope"
models = ["glm5", "modelscope/Qwen/Qwen3.5-397B-A17B"]
daily_limit = "unknown"
reset_time = "04:30:15"
time_zone = "UTC"
[limits]
kimi = 300
glm5 = "unknown"
"#,
        )
        .unwrap();
        assert_eq!(s.models, vec!["glm5", "modelscope/Qwen/Qwen3.5-397B-A17B"]);
        assert_eq!(s.daily_limit, Limit::Unknown);
        assert_eq!(s.limits["kimi"], Limit::Calls(300));
        assert_eq!(s.limits["glm5"], Limit::Unknown);
        assert_eq!(s.calendar.describe(), "04:30:15 UTC");
        assert!(!s.relay.enabled);
    }

    #[test]
    fn the_relay_section() {
        let s = parse("[relay]\nenabled = true\nlisten = \"127.0.0.1:9999\"\nupstream = \"http://127.0.0.1:1/v1\"\n").unwrap();
        assert!(s.relay.enabled);
        assert_eq!(s.relay.base_url(), "http://127.0.0.1:9999/v1");
        assert!(parse("[relay]\nlisten = \"nowhere\"\n").is_err());
    }

    #[test]
    fn a_relay_upstream_that_is_the_relay_is_refused() {
        for upstream in [
            "http://127.0.0.1:9999/v1",
            "http://localhost:9999/v1",
            "http://[::1]:9999/v1",
            "http://127.0.0.2:9999/v1",
        ] {
            let err = parse(&format!(
                "[relay]\nlisten = \"127.0.0.1:9999\"\nupstream = \"{upstream}\"\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains("forward to itself"), "{upstream}: {err}");
        }
        assert!(
            parse("[relay]\nlisten = \"127.0.0.1:80\"\nupstream = \"https://127.0.0.1/v1\"\n")
                .is_ok()
        );
    }

    #[test]
    fn relay_upstreams_name_other_providers() {
        let s = parse("[relay]\nlisten = \"127.0.0.1:9999\"\n[relay.upstreams]\nopenrouter = \"https://openrouter.ai/api/v1\"\nmodelscope = \"http://127.0.0.1:1/v1\"\n").unwrap();
        assert_eq!(
            s.relay.upstreams["openrouter"],
            "https://openrouter.ai/api/v1"
        );
        assert_eq!(
            s.relay.rotation_upstream("modelscope"),
            "http://127.0.0.1:1/v1"
        );
        assert_eq!(
            s.relay.provider_base_url("openrouter", "modelscope"),
            "http://127.0.0.1:9999/openrouter/v1"
        );
        assert_eq!(
            s.relay.provider_base_url("modelscope", "modelscope"),
            "http://127.0.0.1:9999/v1"
        );
        let err = parse("[relay]\nlisten = \"127.0.0.1:9999\"\n[relay.upstreams]\nloop = \"http://localhost:9999/loop/v1\"\n").unwrap_err().to_string();
        assert!(err.contains("forward to itself"), "{err}");
        let err = parse("[relay.upstreams]\nv1 = \"https://x/v1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("provider id"), "{err}");
    }

    #[test]
    fn an_unknown_key_or_wrong_type_is_named() {
        let err = parse("daily_limt = 5\n").unwrap_err().to_string();
        assert!(
            err.contains("daily_limt") && err.contains("/cfg/config.toml"),
            "{err}"
        );
        let err = parse("daily_limit = \"lots\"\n").unwrap_err().to_string();
        assert!(err.contains("daily_limit") || err.contains("lots"), "{err}");
        assert!(err.contains("line 1"), "{err}");
        let err = parse("reset_time = \"25:00\"\n").unwrap_err().to_string();
        assert!(err.contains("reset_time"), "{err}");
        let err = parse("time_zone = \"Mars/Olympus\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn no_pool_keys_mean_the_guides_per_model_rule() {
        let s = Settings::default();
        assert!(s.pools.per_model_daily);
        assert!(s.pools.pools.is_empty());
    }

    #[test]
    fn preset_and_pools_parse() {
        let s = parse(
            r#"
models = ["qwen3.5", "glm5", "openrouter/qwen/qwen3-coder:free", "ollama/qwen3:8b"]
preset = ["modelscope-magicube", "openrouter-free"]
time_zone = "UTC"
[[pools]]
name = "modelscope"
capacity = 300
[pools.cost]
"glm5" = 0.5
[[pools]]
name = "local"
models = ["ollama/*"]
capacity = "unknown"
refill = "unknown"
probe_minutes = 30
"#,
        )
        .unwrap();
        assert!(!s.pools.per_model_daily);
        let names: Vec<&str> = s.pools.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["modelscope", "openrouter-free", "local"]);
        let ms = &s.pools.pools[0];
        assert_eq!(ms.capacity, Capacity::Units(Units::whole(300)));
        assert_eq!(ms.unit, "magicube");
        assert_eq!(ms.costs["glm5"], Units::from_milli(500));
        assert_eq!(
            ms.costs["modelscope/Qwen/Qwen3.5-397B-A17B"],
            Units::whole(2)
        );
        assert_eq!(s.pools.pools[1].clock.describe(), "00:00 UTC");
        assert_eq!(s.pools.pools[2].capacity, Capacity::Unknown);
        // A single name works too.
        let s = parse("preset = \"modelscope-daily\"\n").unwrap();
        assert!(s.pools.per_model_daily);
    }

    #[test]
    fn pool_errors_name_the_key() {
        let err = parse("preset = \"modelscope-weekly\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("preset")
                && err.contains("modelscope-daily, modelscope-magicube, openrouter-free"),
            "{err}"
        );
        let err = parse("[[pools]]\nname = \"x\"\nmodels = [\"a/*\"]\ncapacity = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("capacity") && err.contains("unknown"), "{err}");
        let err = parse("[[pools]]\nname = \"x\"\ncapacity = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[[pools]] \"x\": models is missing"), "{err}");
        let err = parse("[[pools]]\nname = \"x\"\nmodels = [\"a/*\"]\ncapacity = 5\nsize = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("size") && err.contains("probe_minutes"),
            "{err}"
        );
        let err = parse("[[pools]]\nname = \"x\"\nmodels = [\"a/*\"]\ncapacity = 5\ntime_zone = \"Mars/Olympus\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[[pools]] \"x\"") && err.contains("Mars/Olympus"),
            "{err}"
        );
        let err = parse("[[pools]]\nname = \"x\"\nmodels = [\"a/*\"]\ncapacity = 0.0005\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("capacity") && err.contains("three decimals"),
            "{err}"
        );
        // An unknown top-level key still lists the valid ones, the new ones among them.
        let err = parse("pool = []\n").unwrap_err().to_string();
        assert!(err.contains("`pools`") && err.contains("`preset`"), "{err}");
    }
}
