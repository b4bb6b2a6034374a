//! `msclawctl relay status`: each provider the relay fronts, its real upstream (never the key),
//! and whether OpenClaw's `baseUrl` for it goes through the relay.

use anyhow::Context;
use msclawd::relay::store::{self, StoredUpstream};
use msclawd::settings::Settings;

use super::{Paths, paths};
use crate::cli::Cli;

/// The real upstream of each provider the relay fronts, the rotation provider first: the stored
/// one when `relay on` moved it, else msclaw's config's (`[relay] upstream`, `[relay.upstreams]`).
fn real_upstreams(p: &Paths, settings: &Settings) -> Vec<(String, String)> {
    let stored = store::load(&store::store_path(&p.msclaw))
        .ok()
        .flatten()
        .map(|s| s.providers)
        .unwrap_or_default();
    let rotation = settings.provider.as_str();
    let configured = |provider: &str| match provider == rotation {
        true => Some(settings.relay.rotation_upstream(rotation).to_owned()),
        false => settings.relay.upstreams.get(provider).cloned(),
    };
    let others = stored
        .keys()
        .chain(settings.relay.upstreams.keys())
        .filter(|p| p.as_str() != rotation);
    let mut out: Vec<(String, String)> = Vec::new();
    for provider in std::iter::once(&settings.provider).chain(others) {
        if out.iter().any(|(p, _)| p == provider) {
            continue;
        }
        let real = stored
            .get(provider)
            .and_then(StoredUpstream::real_base_url)
            .or_else(|| configured(provider));
        if let Some(real) = real {
            out.push((provider.clone(), real));
        }
    }
    out
}

/// One provider in `relay status`: its real upstream and whether OpenClaw goes through the relay.
struct ProviderStatus {
    provider: String,
    upstream: String,
    base: Option<String>,
    through_relay: bool,
}

pub(super) fn status(cli: &Cli) -> anyhow::Result<Option<Vec<String>>> {
    let p = paths(cli)?;
    let settings = Settings::load(&p.msclaw.settings)?;
    let cfg = msclawd::openclaw::load(&p.openclaw.config).ok();
    let rotation = settings.provider.as_str();
    let providers: Vec<ProviderStatus> = real_upstreams(&p, &settings)
        .into_iter()
        .map(|(provider, upstream)| {
            let base = cfg
                .as_ref()
                .and_then(|c| c.providers.get(&provider)?.base_url.clone());
            let relay_url = settings.relay.provider_base_url(&provider, rotation);
            ProviderStatus {
                through_relay: base.as_deref() == Some(relay_url.as_str()),
                provider,
                upstream,
                base,
            }
        })
        .collect();
    let (first, others) = providers
        .split_first()
        .context("the rotation provider has no upstream")?;
    if cli.json {
        let each: Vec<_> = providers
            .iter()
            .map(|s| {
                serde_json::json!({ "provider": s.provider, "upstream": s.upstream,
                "openclaw_base_url": s.base, "openclaw_uses_relay": s.through_relay })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "enabled": settings.relay.enabled, "listen": settings.relay.listen.to_string(),
                "upstream": first.upstream, "openclaw_base_url": first.base, "openclaw_uses_relay": first.through_relay,
                "providers": each })
        );
        return Ok(None);
    }
    let uses = |through: bool| match through {
        true => "goes through the relay",
        false => "does not use the relay",
    };
    let mut lines = vec![format!(
        "relay {} (listen {}, upstream {}); OpenClaw's baseUrl {} {}",
        if settings.relay.enabled { "on" } else { "off" },
        settings.relay.listen,
        first.upstream,
        first.base.as_deref().unwrap_or("(none)"),
        uses(first.through_relay)
    )];
    for s in others {
        lines.push(format!(
            "  provider {} (upstream {}): OpenClaw's baseUrl {} {}",
            s.provider,
            s.upstream,
            s.base.as_deref().unwrap_or("(none)"),
            uses(s.through_relay)
        ));
    }
    Ok(Some(lines))
}
