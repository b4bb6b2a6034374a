//! `msclawctl relay on|off|status`: point OpenClaw's provider at msclawd's metering relay (and
//! remember the real ModelScope URL in msclaw's config), or put the real URL back. Files only; the
//! daemon starts or stops the relay when it (re)starts.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use msclaw_shared::paths::{MsclawPaths, OpenClawPaths, effective_profile, process_env};
use msclawd::openclaw::base_url;
use msclawd::settings::{RelaySettings, Settings};

use crate::cli::{Cli, RelayAction};

struct Paths {
    openclaw: OpenClawPaths,
    msclaw: MsclawPaths,
}

fn paths(cli: &Cli) -> anyhow::Result<Paths> {
    let env = process_env;
    let profile = effective_profile(cli.profile.as_deref(), &env)?;
    Ok(Paths {
        openclaw: OpenClawPaths::resolve(profile.as_deref(), &env)?,
        msclaw: MsclawPaths::resolve(profile.as_deref(), &env)?,
    })
}

/// Sets `[relay]` keys in msclaw's TOML config, keeping every other line and comment (toml_edit).
fn write_relay_settings(path: &Path, enabled: bool, relay: &RelaySettings) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let table = doc
        .entry("relay")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .context("[relay] in msclaw's config is not a table")?;
    table["enabled"] = toml_edit::value(enabled);
    table["listen"] = toml_edit::value(relay.listen.to_string());
    table["upstream"] = toml_edit::value(relay.upstream.clone());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    msclawd::openclaw::atomic_write::write_new_or_replace(path, doc.to_string().as_bytes(), 0o600)?;
    Ok(())
}

/// Points the provider at the relay; the URL it named becomes the relay's upstream.
pub fn switch_on(cli: &Cli, listen: Option<std::net::SocketAddr>) -> anyhow::Result<Vec<String>> {
    let p = paths(cli)?;
    let settings = Settings::load(&p.msclaw.settings)?;
    let mut relay = settings.relay.clone();
    if let Some(listen) = listen {
        relay.listen = listen;
    }
    if !relay.listen.ip().is_loopback() {
        bail!("the relay listens on loopback only, not {}", relay.listen);
    }
    let relay_url = relay.base_url();
    let cfg = msclawd::openclaw::load(&p.openclaw.config)?;
    let current = cfg
        .providers
        .get(&settings.provider)
        .and_then(|pr| pr.base_url.clone())
        .with_context(|| {
            format!(
                "provider {} has no baseUrl in {}; run msclawctl init first",
                settings.provider,
                p.openclaw.config.display()
            )
        })?;
    let mut lines = Vec::new();
    if current != relay_url {
        relay.upstream = current.clone();
    }
    write_relay_settings(&p.msclaw.settings, true, &relay)?;
    lines.push(format!(
        "{}: relay on, listen {}, upstream {}",
        p.msclaw.settings.display(),
        relay.listen,
        relay.upstream
    ));
    let done = base_url::set_base_url(
        &p.openclaw.config,
        &p.openclaw.state_dir,
        &settings.provider,
        &relay_url,
    )?;
    for file in &done.written {
        lines.push(format!("{}: baseUrl -> {relay_url}", file.display()));
    }
    lines.push("restart msclawd to start the relay (systemctl --user restart msclawd); while msclawd is not running, OpenClaw cannot reach ModelScope".into());
    Ok(lines)
}

fn switch_off(cli: &Cli) -> anyhow::Result<Vec<String>> {
    let p = paths(cli)?;
    let settings = Settings::load(&p.msclaw.settings)?;
    let done = base_url::set_base_url(
        &p.openclaw.config,
        &p.openclaw.state_dir,
        &settings.provider,
        &settings.relay.upstream,
    )?;
    write_relay_settings(&p.msclaw.settings, false, &settings.relay)?;
    let mut lines: Vec<String> = done
        .written
        .iter()
        .map(|f| format!("{}: baseUrl -> {}", f.display(), settings.relay.upstream))
        .collect();
    lines.push(format!("{}: relay off", p.msclaw.settings.display()));
    lines.push("restart msclawd to stop the relay".into());
    Ok(lines)
}

pub fn run(cli: &Cli, action: &RelayAction) -> anyhow::Result<ExitCode> {
    let lines = match action {
        RelayAction::On { listen } => switch_on(cli, *listen)?,
        RelayAction::Off => switch_off(cli)?,
        RelayAction::Status => {
            let p = paths(cli)?;
            let settings = Settings::load(&p.msclaw.settings)?;
            let base = msclawd::openclaw::load(&p.openclaw.config)
                .ok()
                .and_then(|c| {
                    c.providers
                        .get(&settings.provider)
                        .and_then(|pr| pr.base_url.clone())
                });
            let through_relay = base.as_deref() == Some(settings.relay.base_url().as_str());
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "enabled": settings.relay.enabled, "listen": settings.relay.listen.to_string(),
                        "upstream": settings.relay.upstream, "openclaw_base_url": base, "openclaw_uses_relay": through_relay })
                );
                return Ok(ExitCode::SUCCESS);
            }
            vec![format!(
                "relay {} (listen {}, upstream {}); OpenClaw's baseUrl {} {}",
                if settings.relay.enabled { "on" } else { "off" },
                settings.relay.listen,
                settings.relay.upstream,
                base.as_deref().unwrap_or("(none)"),
                if through_relay {
                    "goes through the relay"
                } else {
                    "does not use the relay"
                }
            )]
        }
    };
    if cli.json {
        println!("{}", serde_json::json!({ "ok": true, "changes": lines }));
    } else {
        for line in lines {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
