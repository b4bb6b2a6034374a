//! Making the gateway apply a switch. The gateway watches openclaw.json and hot-applies a change
//! of `primary`, logging `config hot reload applied (agents.defaults.model.primary)`; msclaw waits
//! for that line, and if none comes while a gateway is listening, restarts the gateway.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::EnvMap;
use crate::openclaw::OpenClawConfig;
use crate::settings::Settings;

pub const DEFAULT_GATEWAY_PORT: u16 = 18789;
const RESTART_TIMEOUT: Duration = Duration::from_secs(90);

/// A switch waiting for the gateway's word.
#[derive(Debug, Clone)]
pub struct ReloadWait {
    pub model: String,
    /// Real time of the write (the gateway's log has real time, whatever clock the engine uses).
    pub written_at: Timestamp,
    pub deadline: tokio::time::Instant,
}

/// Log lines carry millisecond times from another process: allow for a little skew.
const SKEW: SignedDuration = SignedDuration::from_secs(2);

impl ReloadWait {
    pub fn new(model: &str, _engine_time: Timestamp, timeout: Duration) -> Self {
        Self {
            model: model.to_owned(),
            written_at: Timestamp::now(),
            deadline: tokio::time::Instant::now() + timeout,
        }
    }

    pub fn is_after_write(&self, at: Timestamp) -> bool {
        at >= self.written_at - SKEW
    }

    /// A "hot reload applied" line after the write that names the model setting.
    pub fn confirmed_by(&self, at: Timestamp, paths: &[String]) -> bool {
        self.is_after_write(at)
            && paths.iter().any(|p| {
                p.starts_with("agents.defaults.model") || p == "agents" || p == "agents.defaults"
            })
    }
}

/// `OPENCLAW_GATEWAY_PORT`, else `gateway.port`, else OpenClaw's default.
pub fn gateway_port(cfg: Option<&OpenClawConfig>, env: &EnvMap) -> u16 {
    env("OPENCLAW_GATEWAY_PORT")
        .and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
        .or_else(|| cfg.and_then(|c| c.gateway_port))
        .unwrap_or(DEFAULT_GATEWAY_PORT)
}

pub async fn gateway_listening(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(
        tokio::time::timeout(Duration::from_millis(500), connect).await,
        Ok(Ok(_))
    )
}

/// The restart commands to try in order: the configured one, else the service manager's, else
/// `openclaw gateway restart`.
pub fn restart_command(settings: &Settings, profile: Option<&str>) -> Vec<Vec<String>> {
    if let Some(command) = &settings.restart_command {
        return vec![command.to_argv()];
    }
    let mut candidates = Vec::new();
    if cfg!(target_os = "macos") {
        let label = profile.map_or("ai.openclaw.gateway".to_owned(), |p| {
            format!("ai.openclaw.{p}")
        });
        let uid = rustix::process::getuid().as_raw();
        candidates.push(vec![
            "launchctl".into(),
            "kickstart".into(),
            "-k".into(),
            format!("gui/{uid}/{label}"),
        ]);
    } else {
        let unit = profile.map_or("openclaw-gateway.service".to_owned(), |p| {
            format!("openclaw-gateway-{p}.service")
        });
        candidates.push(vec![
            "systemctl".into(),
            "--user".into(),
            "restart".into(),
            unit,
        ]);
    }
    let mut openclaw = vec!["openclaw".to_owned(), "gateway".into(), "restart".into()];
    if let Some(p) = profile {
        openclaw.extend(["--profile".into(), p.to_owned()]);
    }
    candidates.push(openclaw);
    candidates
}

/// Runs the candidates until one succeeds; the error lists why each failed.
pub async fn run_restart(candidates: &[Vec<String>]) -> Result<String, String> {
    let mut failures = Vec::new();
    for argv in candidates {
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(RESTART_TIMEOUT, command.output()).await {
            Ok(Ok(out)) if out.status.success() => return Ok(argv.join(" ")),
            Ok(Ok(out)) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: String = stderr
                    .trim()
                    .chars()
                    .rev()
                    .take(200)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                failures.push(format!(
                    "`{}` exited with {}: {tail}",
                    argv.join(" "),
                    out.status
                ));
            }
            Ok(Err(e)) => failures.push(format!("`{}`: {e}", argv.join(" "))),
            Err(_) => failures.push(format!(
                "`{}` took longer than {}s",
                argv.join(" "),
                RESTART_TIMEOUT.as_secs()
            )),
        }
    }
    Err(failures.join("; "))
}
