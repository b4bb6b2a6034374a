//! msclawd: counts each ModelScope model's calls today, and when the active one is spent rewrites
//! OpenClaw's `agents.defaults.model.primary` to the next model with quota left.
//!
//! A file per concern: where usage comes from (`usage::*`, followed by `usage_watcher`), what to
//! do about it (`policy`, pure, on the days of `quota_calendar`), how the OpenClaw config is read
//! and edited (`openclaw`), which provider it is all about (`modelscope`), how the gateway is made
//! to apply it (`gateway`), what is remembered (`state_store`), how clients talk to it
//! (`ipc_server`), and the loop that ties them together (`engine`), which everything else reaches
//! through its `inbox`. [`run`] starts it all; tests call it in-process.

pub mod clock;
pub mod engine;
pub mod gateway;
pub mod heap;
pub mod hooks;
pub mod inbox;
pub mod ipc_server;
pub mod log_limit;
pub mod modelscope;
pub mod openclaw;
pub mod plugin;
pub mod policy;
pub mod pools;
pub mod prober;
pub mod quota_calendar;
pub mod relay;
pub mod settings;
pub mod single_instance;
pub mod state_store;
pub mod systemd;
pub mod usage;
pub mod usage_watcher;

use std::ffi::OsString;
use std::sync::Arc;

use anyhow::Context;
use msclaw_shared::paths::{MsclawPaths, OpenClawPaths};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::engine::{Engine, EngineParts};
use crate::inbox::{InboxMsg, InboxSender};
use crate::settings::Settings;
use crate::state_store::StateStore;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The environment as the daemon sees it (tests give each daemon its own).
pub type EnvMap = Arc<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

pub struct DaemonOptions {
    pub paths: MsclawPaths,
    pub openclaw: OpenClawPaths,
    pub profile: Option<String>,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub env: EnvMap,
}

impl DaemonOptions {
    /// Everything from the process environment, as `msclawd` runs for real.
    pub fn from_process_env(
        profile_flag: Option<&str>,
        settings_flag: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let env = msclaw_shared::paths::process_env;
        let profile = msclaw_shared::paths::effective_profile(profile_flag, &env)?;
        let mut paths = MsclawPaths::resolve(profile.as_deref(), &env)?;
        if let Some(path) = settings_flag {
            paths.settings = path.to_owned();
        }
        let openclaw = OpenClawPaths::resolve(profile.as_deref(), &env)?;
        let named = settings_flag.is_some() || env("MSCLAW_CONFIG").is_some();
        let settings = if named {
            Settings::load_named(&paths.settings)?
        } else {
            Settings::load(&paths.settings)?
        };
        Ok(Self {
            paths,
            openclaw,
            profile,
            settings,
            clock: Arc::new(SystemClock),
            env: Arc::new(env),
        })
    }
}

/// The most relay observations handed to the engine in one inbox message.
const RELAY_BATCH: usize = 1024;

/// Starts the metering relay; its observations go to the engine's inbox like any usage batch.
async fn start_relay(
    opts: &DaemonOptions,
    clock: Arc<dyn Clock>,
    view: relay::RelayPolicyView,
    inbox: InboxSender,
) -> anyhow::Result<relay::Relay> {
    let settings = &opts.settings;
    let cfg = &settings.relay;
    let (auth, others) = {
        let env = |name: &str| (opts.env)(name);
        let sources = relay::real_key::KeySources {
            env: &env,
            dotenv: &opts.openclaw.state_dir.join(".env"),
        };
        let store = relay::store::store_path(&opts.paths);
        let rotation = &settings.provider;
        relay::store::relay_auth(&store, rotation, &sources)
            .and_then(|auth| {
                let others =
                    relay::store::other_upstreams(&store, rotation, &cfg.upstreams, &sources)?;
                Ok((auth, others))
            })
            .with_context(|| format!("cannot start the relay on {}", cfg.listen))?
    };
    let relay_cfg = relay::RelayConfig {
        listen: cfg.listen,
        provider: settings.provider.clone(),
        upstream: cfg.rotation_upstream(&settings.provider).to_owned(),
        others,
        header_timeout: std::time::Duration::from_secs(cfg.header_timeout_secs),
        body_timeout: relay::BODY_READ_TIMEOUT,
        clock,
        auth,
    };
    let (obs_tx, mut obs_rx) = mpsc::channel(4096);
    // A 429 for a model the daemon already holds spent, or the policy's own threshold in a row:
    // decided on the response path without waiting for the engine.
    let consecutive =
        relay::consecutive_judge(settings.rate_limit_errors, settings.calendar.clone());
    let judge_view = view.clone();
    let judge: relay::Judge = Arc::new(move |seen: &relay::RateLimitSeen<'_>| {
        match judge_view.is_spent(seen.provider, seen.model) {
            Some(info) => relay::Judgement::Spent {
                resets_at: info.resets_at,
            },
            None => consecutive(seen),
        }
    });
    let relay = relay::Relay::start(relay_cfg, view, judge, obs_tx, settings.calendar.clone())
        .await
        .with_context(|| format!("cannot start the relay on {}", cfg.listen))?;
    // What queued up while the engine was busy goes as one message: a flood of requests is a
    // few inbox messages, and clients' requests are not stuck behind it.
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while obs_rx.recv_many(&mut batch, RELAY_BATCH).await > 0 {
            if inbox
                .send(InboxMsg::Relay(std::mem::take(&mut batch)))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    Ok(relay)
}

/// Runs the daemon until `shutdown` is cancelled or a client asks it to stop.
pub async fn run(opts: DaemonOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let guard = single_instance::acquire(&opts.paths, &opts.openclaw.config)?;
    let listener = ipc_server::bind(&opts.paths.socket)
        .with_context(|| format!("cannot listen on {}", opts.paths.socket.display()))?;
    // Temp files of a msclawd (or msclawctl-driven write) that was killed mid-write.
    openclaw::atomic_write::remove_stale_temp_files(&opts.openclaw.config);
    openclaw::atomic_write::remove_stale_temp_files(&opts.paths.state_file);
    let store = StateStore::new(opts.paths.state_file.clone());
    let loaded = store.load();
    let mut startup_warnings = Vec::new();
    if let Some(warning) = loaded.warning {
        tracing::warn!("{warning}");
        startup_warnings.push(warning);
    }
    let (events, _) = broadcast::channel(256);
    let (inbox_tx, inbox) = inbox::channel();
    let clock = opts.clock.clone();
    let relay_view = relay::RelayPolicyView::new();
    let plugin = plugin::PluginLink::new();
    let relay = match opts.settings.relay.enabled {
        true => Some(Arc::new(
            start_relay(&opts, clock.clone(), relay_view.clone(), inbox_tx.clone()).await?,
        )),
        false => None,
    };
    let watcher = usage_watcher::spawn(
        loaded.state.cursors.clone(),
        clock.clone(),
        opts.settings.calendar.clone(),
        inbox_tx.clone(),
    )
    .context("cannot start watching OpenClaw's files")?;
    let engine = Engine::new(EngineParts {
        settings: opts.settings,
        openclaw_paths: opts.openclaw,
        profile: opts.profile,
        store,
        state: loaded.state,
        startup_warnings,
        clock,
        events: events.clone(),
        env: opts.env,
        relay: relay.clone(),
        relay_view,
        watcher: watcher.clone(),
        inbox: inbox_tx.clone(),
        relay_store: relay::store::store_path(&opts.paths),
        plugin: plugin.clone(),
    });
    let server = tokio::spawn(ipc_server::serve(
        listener,
        inbox_tx,
        events,
        plugin,
        shutdown.clone(),
    ));
    tracing::info!(socket = %opts.paths.socket.display(), active = engine.active_model().as_deref().unwrap_or("-"), "msclawd {VERSION} listening");
    systemd::ready();
    engine.run(inbox, shutdown.clone()).await;
    systemd::stopping();
    shutdown.cancel();
    watcher.send(usage_watcher::WatcherCmd::Stop);
    let _ = server.await;
    if let Some(relay) = relay.and_then(|r| Arc::try_unwrap(r).ok()) {
        relay.shutdown().await;
    }
    match std::fs::remove_file(&guard.socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove socket {}: {e}", guard.socket.display()),
    }
    drop(guard);
    tracing::info!("msclawd stopped");
    Ok(())
}
