//! `msclawctl doctor`: checks the whole set-up, one line per check (`ok` / `warn` / `fail`), and
//! exits 1 when a check fails. Needs no daemon (whether one answers is one of the checks).
//!
//! Secrets: the API key is described by kind only; for `${VAR}` only whether VAR is set is said.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use msclaw_shared::client::{Client, ClientError};
use msclaw_shared::paths::{MsclawPaths, OpenClawPaths, effective_profile, process_env};
use msclaw_shared::{ConfigState, PROTOCOL_VERSION, Request, Response, Status};
use msclawd::openclaw::{self, ApiKeyKind, ConfigError, OpenClawConfig, RotationWarning};
use msclawd::settings::Settings;
use msclawd::usage::GatewayLogSource;
use msclawd::usage::gateway_log::{LogLocation, resolve_log_location};
use serde::Serialize;

use crate::cli::Cli;

mod relay;
use crate::human::count;
use crate::render::Style;
use crate::term::{use_color, width};

/// A log file older than this is "not recently written".
const LOG_FRESH: Duration = Duration::from_secs(24 * 3600);
const DAEMON_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub level: Level,
    pub message: String,
}

#[derive(Default)]
pub struct Report(Vec<Check>);

impl Report {
    pub fn ok(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(check, Level::Ok, message);
    }
    pub fn warn(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(check, Level::Warn, message);
    }
    pub fn fail(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(check, Level::Fail, message);
    }
    fn push(&mut self, check: &'static str, level: Level, message: impl Into<String>) {
        self.0.push(Check {
            check,
            level,
            message: message.into(),
        });
    }
}

pub async fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let env = process_env;
    let profile = effective_profile(cli.profile.as_deref(), &env)?;
    let openclaw = OpenClawPaths::resolve(profile.as_deref(), &env)?;
    let msclaw = MsclawPaths::resolve(profile.as_deref(), &env)?;
    let socket = cli.socket.clone().unwrap_or_else(|| msclaw.socket.clone());

    let mut report = Report::default();
    let cfg = config_checks(&mut report, &openclaw);
    let settings = settings_check(&mut report, &msclaw.settings);
    if let Some(cfg) = &cfg {
        rotation_checks(&mut report, &settings, cfg, &openclaw);
    }
    log_check(&mut report, &settings, cfg.as_ref(), profile.as_deref());
    gateway_check(&mut report, cfg.as_ref()).await;
    let status = daemon_check(&mut report, &socket, &openclaw.config, profile.as_deref()).await;
    relay::relay_check(&mut report, &settings, cfg.as_ref(), &msclaw);
    service_check(&mut report, profile.as_deref());
    if cfg.is_some() {
        crate::doctor_plugin::plugin_checks(&mut report, &openclaw, status.as_ref());
    }

    let failed = report.0.iter().any(|c| c.level == Level::Fail);
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report.0)?);
    } else {
        let style = Style::new(use_color(cli.color));
        print!("{}", crate::doctor_view::render(&report.0, &style, width()));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The file and whether it parses; the loaded config when it does.
fn config_checks(report: &mut Report, openclaw: &OpenClawPaths) -> Option<OpenClawConfig> {
    let path = &openclaw.config;
    let rule = crate::init::describe_rule(openclaw.rule);
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => report.ok("config", format!("{} ({rule})", path.display())),
        Ok(_) => {
            report.fail(
                "config",
                format!("{} ({rule}) is not a file", path.display()),
            );
            return None;
        }
        Err(_) => {
            report.fail(
                "config",
                format!(
                    "{} ({rule}) does not exist; `msclawctl init` creates it",
                    path.display()
                ),
            );
            return None;
        }
    }
    match openclaw::load(path) {
        Ok(cfg) => {
            let more = match cfg.files.len() {
                1 => String::new(),
                n => format!(" with {} included files", n - 1),
            };
            report.ok("config_parse", format!("parses{more}"));
            Some(cfg)
        }
        Err(e @ ConfigError::Parse { .. }) => {
            // `file:line:column: message`; the message never quotes the file.
            report.fail("config_parse", e.to_string());
            None
        }
        Err(e) => {
            report.fail("config_parse", e.to_string());
            None
        }
    }
}

fn settings_check(report: &mut Report, path: &Path) -> Settings {
    let loaded = if process_env("MSCLAW_CONFIG").is_some() {
        Settings::load_named(path)
    } else {
        Settings::load(path)
    };
    match loaded {
        Ok(settings) if settings.source.is_some() => {
            report.ok("settings", path.display().to_string());
            settings
        }
        Ok(settings) => {
            report.ok(
                "settings",
                format!("built-in defaults ({} does not exist)", path.display()),
            );
            settings
        }
        Err(e) => {
            report.fail("settings", format!("{e}; msclawd will not start with it"));
            Settings::default()
        }
    }
}

/// Provider, rotation models, primary, API key, reload mode, what will not follow the rotation.
fn rotation_checks(
    report: &mut Report,
    settings: &Settings,
    cfg: &OpenClawConfig,
    openclaw: &OpenClawPaths,
) {
    let name = &settings.provider;
    let Some(provider) = cfg.providers.get(name) else {
        report.fail(
            "provider",
            format!("models.providers.{name} is missing; `msclawctl init` adds it"),
        );
        return;
    };
    report.ok(
        "provider",
        format!(
            "models.providers.{name}: {}, baseUrl {}",
            count(provider.model_ids.len(), "model", "models"),
            provider.base_url.as_deref().unwrap_or("(none)")
        ),
    );

    let (rotation, warnings) = msclawd::engine::rotation_from(settings, cfg);
    let mut unlisted = false;
    let mut in_the_way = false;
    for w in &warnings {
        match w {
            RotationWarning::UnlistedModel { .. } => {
                unlisted = true;
                report.fail("rotation_model", w.to_string());
            }
            RotationWarning::AgentModel { .. } => {
                in_the_way = true;
                report.warn("agent_model", w.to_string());
            }
            RotationWarning::NotAllowed { .. } => {
                in_the_way = true;
                report.warn("model_policy", w.to_string());
            }
            // Reported by their own checks.
            RotationWarning::ReloadOff | RotationWarning::ProviderMissing { .. } => {}
            RotationWarning::UnknownLimit { .. } => report.warn("rotation", w.to_string()),
        }
    }
    if rotation.is_empty() {
        report.fail(
            "rotation",
            format!("no models to rotate: models.providers.{name}.models[] lists none"),
        );
    } else {
        let models: Vec<&str> = rotation.iter().map(|m| m.model.as_str()).collect();
        let source = if settings.models.is_empty() {
            "the provider's list"
        } else {
            "msclaw's settings"
        };
        let mut message = format!(
            "{} from {source}: {}",
            count(models.len(), "model", "models"),
            models.join(", ")
        );
        if !unlisted {
            message += " (all listed)";
        }
        report.ok("rotation", message);
    }
    if !in_the_way {
        report.ok(
            "agent_model",
            "no per-agent model or modelPolicy.allow keeps agents off the rotation",
        );
    }

    match &cfg.primary {
        Some(p) if rotation.iter().any(|m| &m.model == p) => report.ok("primary", p.clone()),
        Some(p) => report.warn(
            "primary",
            format!("{p} is not in the rotation; msclawd will switch it"),
        ),
        None => report.warn(
            "primary",
            "agents.defaults.model.primary is not set; msclawd will set it",
        ),
    }

    match &provider.api_key {
        ApiKeyKind::Missing => {
            report.fail("api_key", format!("models.providers.{name} has no apiKey; `msclawctl init` adds ${{MODELSCOPE_API_KEY}}"))
        }
        ApiKeyKind::EnvRef(var) => {
            let dotenv = openclaw.state_dir.join(".env");
            if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
                report.ok("api_key", format!("apiKey is ${{{var}}}; {var} is set in this environment"));
            } else if dotenv_has(&dotenv, var) {
                report.ok("api_key", format!("apiKey is ${{{var}}}; {var} is set in {}", dotenv.display()));
            } else {
                report.warn(
                    "api_key",
                    format!(
                        "apiKey is ${{{var}}} but {var} is not set here nor in {}; the gateway needs it in its environment",
                        dotenv.display()
                    ),
                );
            }
        }
        ApiKeyKind::Literal => {
            let open = msclawd::openclaw::atomic_write::file_mode(&cfg.path).filter(|m| m & 0o077 != 0);
            match open {
                Some(mode) => report.warn(
                    "api_key",
                    format!("apiKey is written in the config, which other users can read (mode {mode:04o}); chmod 600 it"),
                ),
                None => report.ok("api_key", "apiKey is written in the config (not shown)"),
            }
        }
        ApiKeyKind::SecretRef => report.ok("api_key", "apiKey is a SecretRef"),
    }

    match cfg.reload_mode.as_deref() {
        Some("off") => report.warn(
            "reload_mode",
            "gateway.reload.mode is off: the gateway will not pick up a switch; msclawd has to restart it each time",
        ),
        Some(mode) => report.ok("reload_mode", format!("gateway.reload.mode is {mode}")),
        None => report.ok("reload_mode", "gateway.reload.mode is the default (hybrid)"),
    }
}

/// Whether a dotenv file sets `var` to something (the value is not read further).
pub fn dotenv_has(path: &Path, var: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines().any(|line| {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        line.strip_prefix(var)
            .and_then(|rest| rest.trim_start().strip_prefix('='))
            .is_some_and(|value| !value.trim().trim_matches(['"', '\'']).is_empty())
    })
}

/// The gateway log msclawd follows, found by the rule msclawd uses (OpenClaw's own: msclaw's
/// `gateway_log`, else `logging.file`, else `/tmp/openclaw` when it is the user's own, else
/// `$TMPDIR/openclaw-<uid>`), and only this profile's files.
fn log_check(
    report: &mut Report,
    settings: &Settings,
    cfg: Option<&OpenClawConfig>,
    profile: Option<&str>,
) {
    let env = |key: &str| process_env(key);
    let resolved = resolve_log_location(
        settings.gateway_log.as_deref(),
        cfg.and_then(|c| c.log_file.as_deref()),
        profile,
        &env,
    );
    let from = match &resolved.note {
        Some(note) => format!("{}: {note}", resolved.source.label()),
        None => resolved.source.label().to_owned(),
    };
    let (place, is_file) = match &resolved.location {
        LogLocation::File(path) => (path.clone(), true),
        LogLocation::Dir(dir) | LogLocation::ProfileDir { dir, .. } => (dir.clone(), false),
    };
    let newest = GatewayLogSource::new(resolved.location, Default::default()).newest_file();
    match newest {
        Err(e) => report.warn(
            "gateway_log",
            format!("{} ({from}) is not read: {e}", place.display()),
        ),
        Ok(None) if is_file => report.warn(
            "gateway_log",
            format!("{} ({from}) does not exist yet", place.display()),
        ),
        Ok(None) if !place.exists() => report.warn(
            "gateway_log",
            format!("{} ({from}) does not exist: no gateway has logged there yet, so quota errors are seen only in transcripts", place.display()),
        ),
        Ok(None) => report.warn(
            "gateway_log",
            format!("{} ({from}) holds no log of this profile yet", place.display()),
        ),
        Ok(Some((file, at))) => {
            let age = SystemTime::now().duration_since(at).unwrap_or_default();
            let message = format!(
                "{} ({from}) last written {} ago",
                file.display(),
                human(age)
            );
            if age > LOG_FRESH {
                report.warn("gateway_log", message)
            } else {
                report.ok("gateway_log", message)
            }
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86400),
    }
}

async fn gateway_check(report: &mut Report, cfg: Option<&OpenClawConfig>) {
    let env: msclawd::EnvMap = Arc::new(|key: &str| -> Option<OsString> { process_env(key) });
    let port = msclawd::gateway::gateway_port(cfg, &env);
    if msclawd::gateway::gateway_listening(port).await {
        report.ok("gateway", format!("something listens on 127.0.0.1:{port}"));
    } else {
        report.warn(
            "gateway",
            format!("no gateway listens on 127.0.0.1:{port}; start it with `openclaw gateway`"),
        );
    }
}

/// Whether msclawd answers, and its status when it does.
async fn daemon_check(
    report: &mut Report,
    socket: &Path,
    config: &Path,
    profile: Option<&str>,
) -> Option<Status> {
    let hint = match profile {
        Some(p) => format!(
            "start it with `msclawd --profile {p}` (or `systemctl --user start msclawd-{p}`)"
        ),
        None => "start it with `msclawd` (or `systemctl --user start msclawd`)".to_owned(),
    };
    let asked = tokio::time::timeout(DAEMON_TIMEOUT, async {
        let mut client = Client::connect(socket).await?;
        let version = client.request(&Request::Version).await?;
        let status = client.request(&Request::Status).await.ok();
        Ok::<_, ClientError>((version, status))
    })
    .await;
    let (version, status) = match asked {
        Err(_) => {
            report.fail(
                "daemon",
                format!(
                    "msclawd at {} did not answer within {}s",
                    socket.display(),
                    DAEMON_TIMEOUT.as_secs()
                ),
            );
            return None;
        }
        Ok(Err(ClientError::NotRunning(_))) => {
            report.fail(
                "daemon",
                format!(
                    "msclawd is not running ({}); {hint}",
                    msclaw_shared::client::absence(socket)
                ),
            );
            return None;
        }
        Ok(Err(e)) => {
            report.fail("daemon", format!("{e}; {hint}"));
            return None;
        }
        Ok(Ok(answer)) => answer,
    };
    match version.reply {
        Ok(Response::Version(v)) if version.protocol == PROTOCOL_VERSION => {
            report.ok(
                "daemon",
                format!(
                    "msclawd {} answers on {}, protocol {}",
                    v.version,
                    socket.display(),
                    version.protocol
                ),
            );
        }
        Ok(_) => {
            report.fail(
                "daemon",
                format!("msclawd speaks protocol {}, this msclawctl {PROTOCOL_VERSION}; restart msclawd after an update", version.protocol),
            );
            return None;
        }
        Err(e) => {
            report.fail(
                "daemon",
                format!("msclawd answered with an error: {}", e.message),
            );
            return None;
        }
    }
    let Some(Ok(Response::Status(status))) = status.map(|s| s.reply) else {
        return None;
    };
    daemon_config_check(report, &status, config);
    Some(*status)
}

/// Whether the daemon has a config to work with, and the one this environment means.
fn daemon_config_check(report: &mut Report, status: &Status, config: &Path) {
    // Until it has one, msclawd meters nothing and switches nothing.
    let path = &status.config_path;
    match status.openclaw_config {
        ConfigState::Ok => {}
        ConfigState::Missing => report.warn(
            "daemon",
            format!("msclawd has no OpenClaw config: none at {path} yet (`msclawctl init` writes one)"),
        ),
        ConfigState::Invalid => report.warn(
            "daemon",
            format!("msclawd has no OpenClaw config it can use: {path} is unusable; see `msclawctl status`"),
        ),
    }
    // The daemon edits the config it resolved at its start; say so when that is not this one.
    if Path::new(&status.config_path) != config {
        report.warn(
            "daemon",
            format!(
                "msclawd edits {}, but this environment's OpenClaw config is {}",
                status.config_path,
                config.display()
            ),
        );
    }
}

fn service_check(report: &mut Report, profile: Option<&str>) {
    if cfg!(target_os = "macos") {
        match crate::service::launchd_plist_path(profile) {
            Ok((path, _)) if path.exists() => {
                report.ok("service", format!("{} is installed", path.display()))
            }
            Ok((path, _)) => report.warn(
                "service",
                format!(
                    "{} is not installed; `msclawctl service install`",
                    path.display()
                ),
            ),
            Err(e) => report.warn("service", format!("cannot tell: {e:#}")),
        }
        return;
    }
    let name = crate::service::unit_name(profile);
    let path = match crate::service::systemd_unit_path(profile) {
        Ok(path) => path,
        Err(e) => return report.warn("service", format!("cannot tell: {e:#}")),
    };
    if !path.exists() {
        return report.warn(
            "service",
            format!(
                "{name} is not installed ({} does not exist); `msclawctl service install`",
                path.display()
            ),
        );
    }
    match std::process::Command::new("systemctl")
        .args(["--user", "is-enabled", &name])
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(out) => {
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if state == "enabled" {
                report.ok("service", format!("{name} is installed and enabled"));
            } else if state.is_empty() {
                let why = String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                report.warn(
                    "service",
                    format!(
                        "{name} is installed; systemctl cannot tell whether it is enabled ({why})"
                    ),
                );
            } else {
                report.warn(
                    "service",
                    format!(
                        "{name} is installed but {state}; `systemctl --user enable --now {name}`"
                    ),
                );
            }
        }
        Err(_) => report.warn(
            "service",
            format!("{name} is installed; systemctl cannot be asked whether it is enabled"),
        ),
    }
}
