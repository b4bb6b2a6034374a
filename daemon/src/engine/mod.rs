//! The loop that owns msclawd's state: it takes the messages of its inbox (usage batches, client
//! requests, the relay's observations) and timer ticks one at a time, asks the policy what
//! `primary` should be, has the config editor write it, and has the gateway module make the
//! gateway apply it. Nothing here blocks for long: file edits are short, waiting for the gateway's
//! confirmation is a deadline in the select loop.
//!
//! By job: the quota day (`day`), the config and the rotation from it (`config`), observations in
//! (`observations`), the OpenClaw plugin's reports and model choice (`plugin`), switching and the gateway's confirmation (`switching`), requests
//! (`requests`), what clients see (`views`), and the pools' probes (`pools`, `probes`).

mod config;
mod day;
mod observations;
mod plugin;
mod pools;
mod probes;
mod requests;
mod switching;
mod views;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use msclaw_shared::paths::OpenClawPaths;
use msclaw_shared::{Event, EventKind, Request, SourceStatus};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use config::{LoadedConfig, rotation_from};

use crate::clock::Clock;
use crate::gateway::ReloadWait;
use crate::heap;
use crate::inbox::{Inbox, InboxMsg, InboxSender};
use crate::plugin::PluginLink;
use crate::policy::PolicyConfig;
use crate::pools::PoolBook;
use crate::relay::{Relay, RelayPolicyView};
use crate::settings::Settings;
use crate::state_store::{PersistedState, StateStore};
use crate::usage::gateway_log::LogLocation;
use crate::usage_watcher::{WatcherCmd, WatcherHandle};

/// The wall clock is compared at least this often, so a machine that wakes after the reset
/// resets at once (tokio's timers stop while it sleeps).
const WALL_CLOCK_CHECK: Duration = Duration::from_secs(60);
/// Saves of the state (after observations) are at least this far apart: a flood of them is one
/// write per interval, not one per observation. Sparse ones are saved at once.
const SAVE_INTERVAL: Duration = Duration::from_millis(500);
/// After a failed write, the same switch is not tried again for this long (unless the config changes).
const RETRY_FAILED_SWITCH: Duration = Duration::from_secs(30);

pub struct EngineParts {
    pub settings: Settings,
    pub openclaw_paths: OpenClawPaths,
    pub profile: Option<String>,
    pub store: StateStore,
    pub state: PersistedState,
    pub startup_warnings: Vec<String>,
    pub clock: Arc<dyn Clock>,
    pub events: broadcast::Sender<Event>,
    pub env: crate::EnvMap,
    pub relay: Option<Arc<Relay>>,
    pub relay_view: RelayPolicyView,
    /// The usage watcher, waiting for the targets the engine works out from the config.
    pub watcher: WatcherHandle,
    /// The engine's own inbox, for work it finishes later (a gateway restart, a probe).
    pub inbox: InboxSender,
    /// msclaw's relay store (`relay-upstreams.json`), where a probe finds a relayed provider's
    /// real endpoint and key.
    pub relay_store: PathBuf,
    /// Where the engine publishes its model choice for the plugin's connections.
    pub plugin: PluginLink,
}

pub struct Engine {
    settings: Settings,
    openclaw_paths: OpenClawPaths,
    profile: Option<String>,
    store: StateStore,
    state: PersistedState,
    startup_warnings: Vec<String>,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<Event>,
    env: crate::EnvMap,
    config: LoadedConfig,
    policy: PolicyConfig,
    rotation_warnings: Vec<String>,
    sources: Vec<SourceStatus>,
    pending_reload: Option<ReloadWait>,
    failed_switch: Option<(String, tokio::time::Instant)>,
    all_spent_announced: bool,
    watcher: WatcherHandle,
    relay: Option<Arc<Relay>>,
    /// The spent models as the relay sees them (kept in step with every change of marks).
    relay_view: RelayPolicyView,
    /// Last remaining-quota header per model ref.
    remaining: BTreeMap<String, u32>,
    /// What the watcher was last told to follow.
    watched: Option<(LogLocation, Vec<PathBuf>)>,
    inbox: InboxSender,
    /// Observations not saved yet, and when the last save was (see [`SAVE_INTERVAL`]).
    unsaved: bool,
    last_save: Option<tokio::time::Instant>,
    /// The last save error logged, and when (a failing save is logged once a minute).
    save_error_logged: Option<(String, tokio::time::Instant)>,
    plugin: PluginLink,
    /// When the plugin last reported a call.
    plugin_last_seen: Option<jiff::Timestamp>,
    /// The shared quota pools and their ledgers (mirrored into `state.pools` for saving).
    pools: PoolBook,
    relay_store: PathBuf,
    /// The counts are partial: the transcripts' first read, or a catch-up, is under way. No
    /// switch is decided and no choice published on them (a model still under its limit here
    /// may be spent by the rest); the batch that ends the catch-up decides. Its freed heap is
    /// given back then too.
    catching_up: bool,
}

impl Engine {
    /// Reads the config and tells the watcher what to follow; rolls the day if it has turned
    /// while msclawd was not running.
    pub fn new(parts: EngineParts) -> Self {
        // Read below, once the day is settled.
        let config = LoadedConfig::Missing(parts.openclaw_paths.config.clone());
        let mut engine = Engine {
            settings: parts.settings,
            openclaw_paths: parts.openclaw_paths,
            profile: parts.profile,
            store: parts.store,
            state: parts.state,
            startup_warnings: parts.startup_warnings,
            clock: parts.clock,
            events: parts.events,
            env: parts.env,
            relay: parts.relay,
            relay_view: parts.relay_view,
            remaining: BTreeMap::new(),
            config,
            policy: PolicyConfig::new(Vec::new()),
            rotation_warnings: Vec::new(),
            sources: Vec::new(),
            pending_reload: None,
            failed_switch: None,
            // Until the watcher's first batch: it reads the transcripts at once.
            catching_up: true,
            all_spent_announced: false,
            watcher: parts.watcher,
            watched: None,
            inbox: parts.inbox,
            unsaved: false,
            last_save: None,
            save_error_logged: None,
            plugin: parts.plugin,
            plugin_last_seen: None,
            pools: PoolBook::new(Vec::new()),
            relay_store: parts.relay_store,
        };
        let now = engine.clock.now();
        let today = engine.settings.calendar.day_of(now);
        if engine.state.today.as_ref().is_none_or(|d| d.day < today) {
            engine.roll_day(now);
        }
        engine.reload_config();
        engine
    }

    pub fn active_model(&self) -> Option<String> {
        self.config.usable().and_then(|c| c.primary.clone())
    }

    pub async fn run(mut self, mut inbox: Inbox, shutdown: CancellationToken) {
        self.apply_policy().await;
        self.publish_choice();
        // The start read the config whole (and maybe the state): give that back before idling.
        heap::trim();
        loop {
            let now = self.clock.now();
            let next_period = self.settings.calendar.next_reset(now);
            let next_period = self
                .next_pool_period(now)
                .into_iter()
                .chain(self.next_probe_at())
                .fold(next_period, Timestamp::min);
            let until_reset = next_period.duration_since(now);
            let tick = until_reset.clamp(
                SignedDuration::from_millis(1),
                SignedDuration::try_from(WALL_CLOCK_CHECK).unwrap(),
            );
            let reload_deadline = self.pending_reload.as_ref().map(|p| p.deadline);
            let save_due = self.save_due();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                msg = inbox.recv() => match msg {
                    Some(msg) => {
                        let stop = self.handle(msg).await;
                        // After every change: the plugin's next turn asks for this at once.
                        self.publish_choice();
                        if stop {
                            break;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep(tick.unsigned_abs()) => {
                    self.on_tick().await;
                    self.publish_choice();
                }
                _ = async { tokio::time::sleep_until(reload_deadline.unwrap()).await }, if reload_deadline.is_some() => {
                    self.on_reload_timeout().await;
                }
                _ = async { tokio::time::sleep_until(save_due.unwrap()).await }, if save_due.is_some() => {}
            }
            self.probe_if_due();
            self.save_if_due();
        }
        self.save();
        tracing::info!("engine stopped; state saved");
    }

    /// Returns true when the daemon should stop.
    async fn handle(&mut self, msg: InboxMsg) -> bool {
        match msg {
            InboxMsg::Request { request, reply } => {
                // Every request checks the wall clock too, so an answer is never a day behind.
                self.reset_if_due().await;
                let stop = request == Request::Shutdown;
                let answer = self.answer(request).await;
                let _ = reply.send(answer);
                return stop;
            }
            InboxMsg::Usage(batch) => {
                // A catch-up's steps come back to back: trimming between them only slows it.
                let done = std::mem::replace(&mut self.catching_up, batch.catching_up)
                    && !batch.catching_up;
                let burst =
                    !batch.catching_up && (done || batch.records.len() >= heap::BURST_RECORDS);
                self.take_batch(batch).await;
                if burst {
                    heap::trim();
                }
            }
            InboxMsg::ConfigChanged => {
                self.reload_config();
                self.failed_switch = None;
                self.apply_policy().await;
                // A config is read whole; a big one leaves megabytes of freed text behind.
                heap::trim();
            }
            InboxMsg::Relay(observation) => self.take_relay(observation).await,
            InboxMsg::RestartDone { model, result } => self.on_restart_done(&model, result),
            InboxMsg::Probed(report) => self.take_probe(report).await,
        }
        false
    }

    async fn on_tick(&mut self) {
        self.reset_if_due().await;
        self.watcher.send(WatcherCmd::Rescan);
    }

    /// An event as the stream (and the switch hook) carries it, stamped now.
    fn event(&self, kind: EventKind) -> Event {
        let at = self.settings.calendar.format(self.clock.now());
        Event { at, kind }
    }

    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(self.event(kind));
    }

    fn save(&mut self) {
        self.unsaved = false;
        self.last_save = Some(tokio::time::Instant::now());
        match self.store.save(&self.state) {
            Ok(()) => self.save_error_logged = None,
            // Keep running on what is in memory; the next save tries again. The same failure
            // (a full disk) is logged once a minute, not on every save.
            Err(e) => {
                let now = tokio::time::Instant::now();
                let text = e.to_string();
                let repeat = self.save_error_logged.as_ref().is_some_and(|(last, at)| {
                    *last == text && now.duration_since(*at) < std::time::Duration::from_secs(60)
                });
                if !repeat {
                    tracing::error!("{text}");
                    self.save_error_logged = Some((text, now));
                }
            }
        }
    }

    /// Observations changed the state: it is saved by the end of this loop turn, or within
    /// [`SAVE_INTERVAL`] of the last save (and always before the engine stops).
    fn mark_dirty(&mut self) {
        self.unsaved = true;
    }

    /// When unsaved observations are to be saved (`None`: nothing to save).
    fn save_due(&self) -> Option<tokio::time::Instant> {
        self.unsaved.then(|| {
            self.last_save
                .map_or_else(tokio::time::Instant::now, |at| at + SAVE_INTERVAL)
        })
    }

    fn save_if_due(&mut self) {
        if self
            .save_due()
            .is_some_and(|due| due <= tokio::time::Instant::now())
        {
            self.save();
        }
    }
}
