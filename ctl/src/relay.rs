//! `msclawctl relay on|off|status`: point OpenClaw's providers at msclawd's metering relay, or put
//! them back. `relay on [--provider P]…` moves each provider's real `baseUrl` and `apiKey` (exactly
//! as written) into msclaw's private store and gives OpenClaw the relay's URL (`/v1` for the
//! rotation provider, `/P/v1` for any other) and the install's relay token instead; `relay off`
//! puts the real text back byte for byte. Files only; the daemon starts or stops the relay when it
//! (re)starts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use msclaw_shared::paths::{MsclawPaths, OpenClawPaths, effective_profile, process_env};
use msclawd::openclaw::EditError;
use msclawd::openclaw::base_url::{self, KeptProvider, json_string};
use msclawd::relay::store::{self, RelayStore, StoredUpstream};
use msclawd::relay::{forwards_to_itself, is_provider_id, new_token, real_key};
use msclawd::settings::{RelaySettings, Settings};

use crate::cli::{Cli, RelayAction};

mod status;
use status::status;

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

/// The relay URLs this install knows: the configured listen address's, every stored one, and the
/// new one. A `baseUrl` naming one of them is never taken for the real upstream.
struct KnownRelays {
    urls: Vec<String>,
    listens: Vec<SocketAddr>,
}

impl KnownRelays {
    fn new(settings: &RelaySettings, new_listen: SocketAddr, store: Option<&RelayStore>) -> Self {
        let mut urls = vec![settings.base_url(), format!("http://{new_listen}/v1")];
        urls.extend(
            store
                .iter()
                .flat_map(|s| s.providers.values())
                .map(|p| p.relay_url.clone()),
        );
        Self {
            urls,
            listens: vec![settings.listen, new_listen],
        }
    }

    fn names_a_relay(&self, url: &str) -> bool {
        let trimmed = |u: &str| u.trim().trim_end_matches('/').to_owned();
        self.urls.iter().any(|r| trimmed(r) == trimmed(url))
            || self.listens.iter().any(|l| forwards_to_itself(url, *l))
    }
}

/// The provider's `baseUrl` in OpenClaw's config.
fn current_base_url(p: &Paths, provider: &str) -> anyhow::Result<String> {
    let cfg = msclawd::openclaw::load(&p.openclaw.config)?;
    cfg.providers
        .get(provider)
        .and_then(|pr| pr.base_url.clone())
        .with_context(|| {
            format!(
                "provider {provider} has no baseUrl in {}; run msclawctl init first",
                p.openclaw.config.display()
            )
        })
}

/// The provider's `apiKey` text as written in the config file itself (checked before anything is
/// written: msclawd must be able to resolve what it is given to keep).
fn check_api_key(config: &Path, provider: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let at = ["models", "providers", provider, "apiKey"];
    let (_, raw) = base_url::swap_raw_at(&text, &at, "\"\"", config).with_context(|| {
        format!(
            "relay on needs models.providers.{provider}.apiKey written in {} itself",
            config.display()
        )
    })?;
    real_key::check_supported(&raw)
        .with_context(|| "relay not turned on, nothing changed".to_owned())
}

/// Takes the provider's real `baseUrl` and `apiKey` out of OpenClaw's files, leaving the relay's
/// URL and token there. A `baseUrl` that is already a relay (a relay turned on before msclaw kept
/// keys) is not real: the real URL is then `[relay] upstream`, unless that is a relay too.
fn take_over(
    p: &Paths,
    provider: &str,
    current: &str,
    relay_url: &str,
    store: &RelayStore,
    known: &KnownRelays,
    configured_upstream: Option<&str>,
) -> anyhow::Result<StoredUpstream> {
    let already_relayed = known.names_a_relay(current);
    let real_url = match already_relayed {
        true => configured_upstream.unwrap_or(current),
        false => current,
    };
    if known.names_a_relay(real_url) {
        let hint = match provider == msclawd::modelscope::PROVIDER {
            true => format!(" (ModelScope's is {})", msclawd::modelscope::BASE_URL),
            false => String::new(),
        };
        bail!(
            "OpenClaw's baseUrl {current} is msclaw's relay and no real upstream is known (msclaw's config names {real_url}): \
             set models.providers.{provider}.baseUrl in {} back to the real URL{hint} and run `msclawctl relay on` again",
            p.openclaw.config.display(),
        );
    }
    check_api_key(&p.openclaw.config, provider)?;
    let stored = |mut kept: KeptProvider| {
        if already_relayed {
            let real = json_string(real_url);
            kept.config.base_url_raw = real.clone();
            for copy in kept.copies.values_mut() {
                copy.base_url_raw = real.clone();
            }
        }
        StoredUpstream {
            relay_url: relay_url.to_owned(),
            kept,
        }
    };
    let store_path = store::store_path(&p.msclaw);
    // The real key goes into msclaw's store before the token goes into each OpenClaw file: a
    // crash in between leaves a stored key and an untouched file, never a token and no key.
    let kept = base_url::point_at_relay(
        &p.openclaw.config,
        &p.openclaw.state_dir,
        provider,
        relay_url,
        &store.token,
        &mut |kept| {
            let mut next = store.clone();
            next.providers
                .insert(provider.to_owned(), stored(kept.clone()));
            store::save(&store_path, &next).map_err(|e| {
                EditError::NotKept(format!(
                    "cannot keep the real baseUrl and apiKey in {}: {e}",
                    store_path.display()
                ))
            })
        },
    )?;
    Ok(stored(kept))
}

/// The relay is on already: the stored real URL and key stay; OpenClaw's `baseUrl` moves to
/// `relay_url` when the relay's address changed.
fn move_relay(
    p: &Paths,
    provider: &str,
    current: &str,
    relay_url: &str,
    entry: StoredUpstream,
) -> anyhow::Result<(StoredUpstream, Vec<String>)> {
    let mut lines = Vec::new();
    if current != relay_url {
        let done = base_url::set_base_url(
            &p.openclaw.config,
            &p.openclaw.state_dir,
            provider,
            relay_url,
        )?;
        for file in &done.written {
            lines.push(format!("{}: baseUrl -> {relay_url}", file.display()));
        }
    }
    let moved = StoredUpstream {
        relay_url: relay_url.to_owned(),
        kept: entry.kept,
    };
    Ok((moved, lines))
}

/// Points the rotation provider at the relay (as `msclawctl init --relay` does).
pub fn switch_on(cli: &Cli, listen: Option<SocketAddr>) -> anyhow::Result<Vec<String>> {
    switch_on_providers(cli, listen, &[])
}

/// The providers `relay on` points at the relay, in order: the rotation provider first (msclawd's
/// relay needs it), then each one named, then each one the relay fronts already (they move with
/// the relay's address).
fn providers_to_point(rotation: &str, named: &[String], store: &RelayStore) -> Vec<String> {
    let mut out = vec![rotation.to_owned()];
    for provider in named.iter().chain(store.providers.keys()) {
        if !out.contains(provider) {
            out.push(provider.clone());
        }
    }
    out
}

/// What `relay on` works with, shared by every provider it points.
struct SwitchOn<'a> {
    p: &'a Paths,
    settings: &'a Settings,
    /// The relay settings being written (its listen address may be new).
    relay: &'a RelaySettings,
    known: KnownRelays,
    store_path: std::path::PathBuf,
}

impl SwitchOn<'_> {
    /// The real URL msclaw's config names for `provider`, for a `baseUrl` that is a relay already.
    fn configured_upstream(&self, provider: &str) -> Option<&str> {
        let relay = &self.settings.relay;
        match provider == self.settings.provider {
            true => Some(relay.rotation_upstream(provider)),
            false => relay.upstreams.get(provider).map(String::as_str),
        }
    }

    /// Refuses before anything is written: a provider with no `baseUrl`, or one whose `apiKey`
    /// msclawd could not resolve.
    fn check(&self, provider: &str, store: &RelayStore) -> anyhow::Result<()> {
        let current = current_base_url(self.p, provider)?;
        let moving = store.providers.contains_key(provider) && self.known.names_a_relay(&current);
        if !moving {
            check_api_key(&self.p.openclaw.config, provider)?;
        }
        Ok(())
    }

    /// Points one provider at the relay and keeps its real URL and key in `store` (saved).
    fn point(&self, provider: &str, store: &mut RelayStore) -> anyhow::Result<Vec<String>> {
        let p = self.p;
        let relay_url = self
            .relay
            .provider_base_url(provider, &self.settings.provider);
        let current = current_base_url(p, provider)?;
        let (entry, mut lines) = match store.providers.get(provider).cloned() {
            Some(entry) if self.known.names_a_relay(&current) => {
                move_relay(p, provider, &current, &relay_url, entry)?
            }
            _ => {
                let configured = self.configured_upstream(provider);
                let entry = take_over(
                    p,
                    provider,
                    &current,
                    &relay_url,
                    store,
                    &self.known,
                    configured,
                )?;
                let files = std::iter::once(&p.openclaw.config).chain(entry.kept.copies.keys());
                let lines = files
                    .map(|f| {
                        format!(
                            "{}: baseUrl -> {relay_url}, apiKey -> the relay token",
                            f.display()
                        )
                    })
                    .collect();
                (entry, lines)
            }
        };
        entry
            .real_base_url()
            .context("the stored real baseUrl is not a string")?;
        store.providers.insert(provider.to_owned(), entry.clone());
        if let Err(e) = store::save(&self.store_path, store) {
            // OpenClaw's files must not keep the token without msclaw keeping the real key.
            base_url::restore_from_relay(&p.openclaw.config, provider, &entry.kept)?;
            return Err(e).context("the real baseUrl and apiKey were put back");
        }
        lines.insert(
            0,
            format!(
                "{}: the real baseUrl and apiKey of {provider} (not shown), mode 0600",
                self.store_path.display()
            ),
        );
        Ok(lines)
    }
}

/// Points the rotation provider and each of `named` at the relay: their real `baseUrl` and
/// `apiKey` go into msclaw's store (kept as they are for a provider already on: a second
/// `relay on` only moves the relay's address).
pub fn switch_on_providers(
    cli: &Cli,
    listen: Option<SocketAddr>,
    named: &[String],
) -> anyhow::Result<Vec<String>> {
    let p = paths(cli)?;
    let settings = Settings::load(&p.msclaw.settings)?;
    let mut relay = settings.relay.clone();
    if let Some(listen) = listen {
        relay.listen = listen;
    }
    if !relay.listen.ip().is_loopback() {
        bail!("the relay listens on loopback only, not {}", relay.listen);
    }
    if let Some(bad) = named.iter().find(|p| !is_provider_id(p)) {
        bail!(
            "--provider {bad:?} is no provider id the relay can front (letters, digits, `-`, `_`, `.`; not `v1`)"
        );
    }
    let store_path = store::store_path(&p.msclaw);
    let stored = store::load(&store_path)?;
    let known = KnownRelays::new(&settings.relay, relay.listen, stored.as_ref());
    let mut store = match stored {
        Some(store) => store,
        None => RelayStore {
            token: new_token().context("cannot make a relay token")?,
            providers: Default::default(),
        },
    };
    let on = SwitchOn {
        p: &p,
        settings: &settings,
        relay: &relay,
        known,
        store_path,
    };
    let providers = providers_to_point(&settings.provider, named, &store);
    for provider in &providers {
        on.check(provider, &store)?;
    }
    let mut lines = Vec::new();
    for provider in &providers {
        lines.extend(on.point(provider, &mut store)?);
    }
    let rotation = &store.providers[&settings.provider];
    relay.upstream = rotation
        .real_base_url()
        .context("the stored real baseUrl is not a string")?;
    write_relay_settings(&p.msclaw.settings, true, &relay)?;
    lines.insert(
        0,
        format!(
            "{}: relay on, listen {}, upstream {}",
            p.msclaw.settings.display(),
            relay.listen,
            relay.upstream
        ),
    );
    lines.push("restart msclawd to start the relay (systemctl --user restart msclawd); while msclawd is not running, OpenClaw cannot reach ModelScope".into());
    Ok(lines)
}

/// Puts the real `baseUrl` and `apiKey` back byte for byte, the rotation provider's and every
/// other one's the relay fronts (for a relay turned on before msclaw kept keys, the configured
/// upstream URL).
fn switch_off(cli: &Cli) -> anyhow::Result<Vec<String>> {
    let p = paths(cli)?;
    let settings = Settings::load(&p.msclaw.settings)?;
    let provider = settings.provider.as_str();
    let mut relay = settings.relay.clone();
    let store_path = store::store_path(&p.msclaw);
    let stored = store::load(&store_path)?;
    let known = KnownRelays::new(&settings.relay, settings.relay.listen, stored.as_ref());
    let mut lines = Vec::new();
    match stored {
        Some(mut store) if store.providers.contains_key(provider) => {
            let entry = store.providers[provider].clone();
            let current = current_base_url(&p, provider)?;
            if !known.names_a_relay(&current) {
                bail!(
                    "OpenClaw's baseUrl is {current}, not msclaw's relay: nothing put back (the real baseUrl and apiKey stay in {})",
                    store_path.display()
                );
            }
            let written = base_url::restore_from_relay(&p.openclaw.config, provider, &entry.kept)?;
            relay.upstream = entry.real_base_url().unwrap_or(relay.upstream);
            for file in written {
                lines.push(format!(
                    "{}: the real baseUrl and apiKey back",
                    file.display()
                ));
            }
            store.providers.remove(provider);
            lines.extend(restore_others(&p, &known, &mut store)?);
            store::save(&store_path, &store)?;
        }
        stored => {
            if known.names_a_relay(&relay.upstream) {
                bail!(
                    "[relay] upstream {} is msclaw's relay, not a real upstream: set it to the real URL first",
                    relay.upstream
                );
            }
            let done = base_url::set_base_url(
                &p.openclaw.config,
                &p.openclaw.state_dir,
                provider,
                &relay.upstream,
            )?;
            for file in &done.written {
                lines.push(format!("{}: baseUrl -> {}", file.display(), relay.upstream));
            }
            if let Some(mut store) = stored {
                lines.extend(restore_others(&p, &known, &mut store)?);
                store::save(&store_path, &store)?;
            }
        }
    }
    write_relay_settings(&p.msclaw.settings, false, &relay)?;
    lines.push(format!("{}: relay off", p.msclaw.settings.display()));
    lines.push("restart msclawd to stop the relay".into());
    Ok(lines)
}

/// Puts back every provider in `store` (the rotation provider's is done): each whose `baseUrl`
/// is the relay gets its real text back and leaves the store; one pointed elsewhere since is left
/// as it is, its real text kept.
fn restore_others(
    p: &Paths,
    known: &KnownRelays,
    store: &mut RelayStore,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for (provider, entry) in store.providers.clone() {
        let current = current_base_url(p, &provider).ok();
        if !current.as_deref().is_some_and(|c| known.names_a_relay(c)) {
            lines.push(format!(
                "provider {provider}: baseUrl is {}, not msclaw's relay: left as it is",
                current.as_deref().unwrap_or("(none)")
            ));
            continue;
        }
        for file in base_url::restore_from_relay(&p.openclaw.config, &provider, &entry.kept)? {
            lines.push(format!(
                "{}: the real baseUrl and apiKey of {provider} back",
                file.display()
            ));
        }
        store.providers.remove(&provider);
    }
    Ok(lines)
}

pub fn run(cli: &Cli, action: &RelayAction) -> anyhow::Result<ExitCode> {
    let lines = match action {
        RelayAction::On { listen, provider } => switch_on_providers(cli, *listen, provider)?,
        RelayAction::Off => switch_off(cli)?,
        RelayAction::Status => match status(cli)? {
            Some(lines) => lines,
            None => return Ok(ExitCode::SUCCESS),
        },
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
