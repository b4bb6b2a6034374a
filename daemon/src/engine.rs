//! The loop that owns msclawd's state: it takes usage batches, client requests and timer ticks one
//! at a time, asks the policy what `primary` should be, has the config editor write it, and has the
//! reloader make the gateway apply it. Nothing here blocks for long: file edits are short, waiting
//! for the gateway's confirmation is a deadline in the select loop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use msclaw_shared::paths::OpenClawPaths;
use msclaw_shared::{
    ConfigState, DayHistory, DayModelUsage, Error, ErrorCode, Event, EventKind, History,
    LastSwitch, Mode, ModelStatus, PROTOCOL_VERSION, Reply, Request, Response, SourceStatus,
    Status, VersionInfo,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config_editor::{self, EditOutcome, ModelEdit};
use crate::hooks;
use crate::openclaw_config::{self, ConfigError, OpenClawConfig};
use crate::policy::{self, DayState, Decision, Notice, Observation, PolicyConfig, RotationModel};
use crate::relay::{Relay, RelayObservation, RelayOutcome, RelayPolicyView, SpentInfo};
use crate::reloader::{self, ReloadWait};
use crate::settings::{Limit, Settings};
use crate::state_store::{DayModelRecord, DayRecord, PersistedState, StateStore, SwitchRecord};
use crate::usage::gateway_log::LogLocation;
use crate::usage::{CallOutcome, CallRecord, GatewaySignal, SourceKind};
use crate::usage_watcher::{UsageBatch, WatchTargets, WatcherCmd, WatcherHandle};

/// The wall clock is compared at least this often, so a machine that wakes after the reset
/// resets at once (tokio's timers stop while it sleeps).
const WALL_CLOCK_CHECK: Duration = Duration::from_secs(60);
/// After a failed write, the same switch is not tried again for this long (unless the config changes).
const RETRY_FAILED_SWITCH: Duration = Duration::from_secs(30);

pub enum EngineMsg {
    Request {
        request: Request,
        reply: oneshot::Sender<Reply>,
    },
    Usage(UsageBatch),
    ConfigChanged,
    RestartDone {
        model: String,
        result: Result<String, String>,
    },
    /// A chat completion the metering relay saw.
    Relay(RelayObservation),
}

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
    config: Result<OpenClawConfig, String>,
    config_state: ConfigState,
    policy: PolicyConfig,
    rotation_warnings: Vec<String>,
    sources: Vec<SourceStatus>,
    pending_reload: Option<ReloadWait>,
    failed_switch: Option<(String, tokio::time::Instant)>,
    all_spent_announced: bool,
    watcher: Option<WatcherHandle>,
    relay: Option<Arc<Relay>>,
    /// The spent models as the relay sees them (kept in step with every change of marks).
    relay_view: RelayPolicyView,
    /// Last remaining-quota header per model ref.
    remaining: BTreeMap<String, u32>,
    /// What the watcher was last told to follow.
    watched: Option<(LogLocation, Vec<PathBuf>)>,
    tx: mpsc::Sender<EngineMsg>,
}

impl Engine {
    pub fn new(parts: EngineParts, tx: mpsc::Sender<EngineMsg>) -> Self {
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
            config: Err("not read yet".into()),
            config_state: ConfigState::Missing,
            policy: PolicyConfig::new(Vec::new()),
            rotation_warnings: Vec::new(),
            sources: Vec::new(),
            pending_reload: None,
            failed_switch: None,
            all_spent_announced: false,
            watcher: None,
            watched: None,
            tx,
        };
        let now = engine.clock.now();
        let today = engine.settings.clock.day_of(now);
        if engine.state.today.as_ref().is_none_or(|d| d.day < today) {
            engine.roll_day(now);
        }
        engine.reload_config();
        engine
    }

    /// Where the watcher should look, from the settings and the config as read now.
    pub fn watch_targets(&self) -> WatchTargets {
        let mut config_files = vec![self.openclaw_paths.config.clone()];
        if let Ok(cfg) = &self.config {
            config_files.extend(
                cfg.files
                    .iter()
                    .filter(|f| **f != self.openclaw_paths.config)
                    .cloned(),
            );
        }
        WatchTargets {
            openclaw_state_dir: self.openclaw_paths.state_dir.clone(),
            config_files,
            log: self.log_location(),
        }
    }

    fn log_location(&self) -> LogLocation {
        if let Some(path) = &self.settings.gateway_log {
            return if path.extension().is_some_and(|e| e == "log") {
                LogLocation::File(path.clone())
            } else {
                LogLocation::Dir(path.clone())
            };
        }
        match self.config.as_ref().ok().and_then(|c| c.log_file.clone()) {
            Some(file) => LogLocation::File(file),
            None => LogLocation::Dir(PathBuf::from("/tmp/openclaw")),
        }
    }

    pub fn cursors(&self) -> crate::state_store::Cursors {
        self.state.cursors.clone()
    }

    pub fn attach_watcher(&mut self, watcher: WatcherHandle) {
        self.watcher = Some(watcher);
    }

    pub fn active_model(&self) -> Option<String> {
        self.config.as_ref().ok().and_then(|c| c.primary.clone())
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<EngineMsg>, shutdown: CancellationToken) {
        self.apply_policy().await;
        loop {
            let now = self.clock.now();
            let until_reset = self.settings.clock.next_reset(now).duration_since(now);
            let tick = until_reset.clamp(
                SignedDuration::from_millis(1),
                SignedDuration::try_from(WALL_CLOCK_CHECK).unwrap(),
            );
            let reload_deadline = self.pending_reload.as_ref().map(|p| p.deadline);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(msg) => {
                        if self.handle(msg).await {
                            break;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep(tick.unsigned_abs()) => {
                    self.on_tick().await;
                }
                _ = async { tokio::time::sleep_until(reload_deadline.unwrap()).await }, if reload_deadline.is_some() => {
                    self.on_reload_timeout().await;
                }
            }
        }
        self.save();
        tracing::info!("engine stopped; state saved");
    }

    /// Returns true when the daemon should stop.
    async fn handle(&mut self, msg: EngineMsg) -> bool {
        match msg {
            EngineMsg::Request { request, reply } => {
                // Every request checks the wall clock too, so an answer is never a day behind.
                self.reset_if_due().await;
                let stop = request == Request::Shutdown;
                let answer = self.answer(request).await;
                let _ = reply.send(answer);
                stop
            }
            EngineMsg::Usage(batch) => {
                self.take_batch(batch).await;
                false
            }
            EngineMsg::ConfigChanged => {
                self.reload_config();
                self.failed_switch = None;
                self.apply_policy().await;
                false
            }
            EngineMsg::Relay(observation) => {
                self.take_relay(observation).await;
                false
            }
            EngineMsg::RestartDone { model, result } => {
                let outcome = match result {
                    Ok(_) => "restarted".to_owned(),
                    Err(e) => format!("failed: restart: {e}"),
                };
                self.finish_switch(&model, &outcome);
                false
            }
        }
    }

    async fn on_tick(&mut self) {
        self.reset_if_due().await;
        if let Some(w) = &self.watcher {
            w.send(WatcherCmd::Rescan);
        }
    }

    /// Rolls to a new quota day when the wall clock has passed the reset. Only forward: a clock
    /// set back across midnight must not reset twice.
    fn roll_if_new_day(&mut self, now: Timestamp) -> bool {
        let day = self.settings.clock.day_of(now);
        if self.state.today.as_ref().is_some_and(|d| d.day < day) {
            self.roll_day(now);
            true
        } else {
            false
        }
    }

    async fn reset_if_due(&mut self) {
        if self.roll_if_new_day(self.clock.now()) {
            self.save();
            self.apply_policy().await;
        }
    }

    fn today(&mut self) -> &mut DayState {
        self.state
            .today
            .get_or_insert_with(|| DayState::new(jiff::civil::date(1970, 1, 1)))
    }

    /// The quota reset: file the finished day into the history, clear every mark and the pin, and
    /// bring the user's own fallbacks back.
    fn roll_day(&mut self, now: Timestamp) {
        let new_day = self.settings.clock.day_of(now);
        if let Some(old) = self.state.today.take() {
            let record = self.day_record(&old);
            self.state.archive_day(record);
            tracing::info!(day = %new_day, "quota reset: every model is available again");
            self.emit(EventKind::Reset {
                day: new_day.to_string(),
            });
        }
        self.state.switches_today.clear();
        self.state.today = Some(DayState::new(new_day));
        self.all_spent_announced = false;
    }

    fn day_record(&self, day: &DayState) -> DayRecord {
        let mut models: Vec<String> = self.policy.models.iter().map(|m| m.model.clone()).collect();
        for m in day.models.keys() {
            if !models.contains(m) {
                models.push(m.clone());
            }
        }
        DayRecord {
            day: day.day,
            models: models
                .into_iter()
                .map(|model| {
                    let m = day.models.get(&model).cloned().unwrap_or_default();
                    DayModelRecord {
                        limit: self
                            .policy
                            .models
                            .iter()
                            .find(|r| r.model == model)
                            .and_then(|r| r.limit),
                        used: m.calls(),
                        rate_limited: m.rate_limited,
                        spent_at: m.spent.as_ref().map(|s| s.at),
                        spent_reason: m.spent.as_ref().map(|s| s.reason.to_string()),
                        model,
                    }
                })
                .collect(),
            switches: self.state.switches_today.clone(),
        }
    }

    /// Re-reads the OpenClaw config and works out the rotation from it and the settings.
    fn reload_config(&mut self) {
        self.config = match openclaw_config::load(&self.openclaw_paths.config) {
            Ok(cfg) => {
                self.config_state = ConfigState::Ok;
                Ok(cfg)
            }
            Err(ConfigError::NotFound(path)) => {
                self.config_state = ConfigState::Missing;
                Err(format!(
                    "no OpenClaw config at {} yet; waiting for it to appear",
                    path.display()
                ))
            }
            Err(e) => {
                self.config_state = ConfigState::Invalid;
                tracing::warn!("OpenClaw config unusable, not switching until it is fixed: {e}");
                Err(format!(
                    "OpenClaw config unusable (msclaw will not write it): {e}"
                ))
            }
        };
        let (models, warnings) = match &self.config {
            Ok(cfg) => rotation_from(&self.settings, cfg),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let mut policy = PolicyConfig::new(models);
        policy.reserve = self.settings.reserve;
        policy.rate_limit_errors = self.settings.rate_limit_errors;
        policy.rate_limit_window = self.settings.rate_limit_window;
        self.policy = policy;
        self.rotation_warnings = warnings;
        // The user's own fallbacks: whatever the file holds that msclaw did not write.
        if let Ok(cfg) = &self.config {
            let on_disk = cfg.fallbacks.clone();
            if on_disk != self.state.fallbacks.written {
                self.state.fallbacks.original = on_disk.clone();
                self.state.fallbacks.written = on_disk;
            }
        }
        // The log may have moved (logging.file) or includes changed: tell the watcher.
        let targets = self.watch_targets();
        let key = (targets.log.clone(), targets.config_files.clone());
        if self.watched.as_ref() != Some(&key) {
            if let Some(w) = &self.watcher {
                w.send(WatcherCmd::SetTargets(targets));
            }
            self.watched = Some(key);
        }
    }

    async fn take_batch(&mut self, batch: UsageBatch) {
        self.roll_if_new_day(self.clock.now());
        self.state.cursors = batch.cursors;
        self.sources = batch.sources;
        for record in &batch.records {
            self.observe(record);
        }
        for signal in batch.signals {
            match signal {
                GatewaySignal::Call(record) => self.observe(&record),
                GatewaySignal::ReloadApplied { at, paths } => self.on_reload_applied(at, &paths),
                GatewaySignal::ReloadSkipped { at, reason } => self.on_reload_skipped(at, &reason),
            }
        }
        self.save();
        self.apply_policy().await;
    }

    fn observe(&mut self, record: &CallRecord) {
        if record.provider != self.settings.provider {
            return;
        }
        let observation = match (&record.outcome, record.source) {
            // Transcripts count calls; the log shows only slow or failed ones, so it never counts.
            (CallOutcome::Success, SourceKind::GatewayLog) => return,
            // With the relay on it sees every 429 itself: the log's copy would count each twice.
            (CallOutcome::RateLimited { .. }, SourceKind::GatewayLog) if self.relay.is_some() => {
                return;
            }
            (CallOutcome::Success, _) => Observation::Call,
            (CallOutcome::RateLimited { retry_loop_failed }, _) => Observation::RateLimited {
                retry_loop_failed: *retry_loop_failed,
            },
            (CallOutcome::Gone { detail }, _) => Observation::Gone {
                detail: detail.clone(),
            },
            (CallOutcome::Failed { .. }, _) => return,
        };
        let model = format!("{}/{}", record.provider, record.model);
        self.observe_model(&model, record.at, &observation);
    }

    fn observe_model(&mut self, model: &str, at: Timestamp, observation: &Observation) {
        let day = self.settings.clock.day_of(at);
        let clock_day = self.settings.clock.day_of(self.clock.now());
        let policy = self.policy.clone();
        let today = self.today();
        // While the wall clock is behind the quota day msclaw is in (it was set back), calls
        // stamped with that clock's day are calls of the current day.
        let late_clock = clock_day < today.day && day == clock_day;
        if day != today.day && !late_clock {
            return;
        }
        let notices = today.observe(&policy, model, at, observation);
        for notice in notices {
            match notice {
                Notice::Spent { model, reason } => {
                    tracing::info!(%model, "model spent: {reason}");
                    self.emit(EventKind::ModelSpent {
                        model,
                        reason: reason.to_string(),
                    });
                }
                Notice::Recovered { model } => {
                    tracing::info!(%model, "a success after rate-limit errors: the model is available again");
                }
                Notice::AccountLimited => {
                    let message = "the model switched to was rate-limited at once too: the account looks rate-limited; no more switching until the reset".to_owned();
                    tracing::warn!("{message}");
                    self.emit(EventKind::Warning { message });
                }
            }
        }
    }

    async fn take_relay(&mut self, obs: RelayObservation) {
        self.roll_if_new_day(self.clock.now());
        let model = format!("{}/{}", self.settings.provider, obs.model);
        if let Some(remaining) = obs.quota.model_remaining {
            self.remaining.insert(model.clone(), remaining);
        }
        let observation = match obs.outcome {
            RelayOutcome::Success => Some(Observation::RelayCall),
            RelayOutcome::RateLimited => Some(Observation::RateLimited {
                retry_loop_failed: false,
            }),
            RelayOutcome::Gone { detail } => Some(Observation::Gone { detail }),
            RelayOutcome::Failed { .. } | RelayOutcome::AnsweredLocally => None,
        };
        if let Some(observation) = observation {
            self.observe_model(&model, obs.at, &observation);
        }
        if obs.quota.model_remaining == Some(0) {
            self.observe_model(&model, obs.at, &Observation::NoneRemaining);
        }
        self.save();
        self.apply_policy().await;
    }

    /// Tells the relay which models to answer locally: the spent ones, except a pinned model.
    fn sync_relay_view(&self) {
        if self.relay.is_none() {
            return;
        }
        let prefix = format!("{}/", self.settings.provider);
        let resets_at = self
            .settings
            .clock
            .format(self.settings.clock.next_reset(self.clock.now()));
        let spent: std::collections::HashMap<String, SpentInfo> = self
            .state
            .today
            .iter()
            .flat_map(|day| {
                let all = day.account_limited.is_some();
                let pin = day.pin.clone();
                day.models.iter().filter_map(move |(model, m)| {
                    let reason = match (&m.spent, all) {
                        (Some(mark), _) => mark.reason.to_string(),
                        (None, true) => "account rate-limited".to_owned(),
                        (None, false) => return None,
                    };
                    (pin.as_deref() != Some(model.as_str())).then(|| (model.clone(), reason))
                })
            })
            .filter_map(|(model, reason)| {
                model.strip_prefix(&prefix).map(|id| {
                    (
                        id.to_owned(),
                        SpentInfo {
                            reason,
                            resets_at: resets_at.clone(),
                        },
                    )
                })
            })
            .collect();
        self.relay_view.set_spent(spent);
    }

    /// Asks the policy what `primary` should be and makes it so.
    async fn apply_policy(&mut self) {
        self.sync_relay_view();
        let Ok(cfg) = &self.config else { return };
        if self.pending_reload.is_some() {
            return; // one switch at a time; the next decision follows its confirmation
        }
        let current = cfg.primary.clone();
        let paused = self.state.paused;
        let policy = self.policy.clone();
        let decision = self.today().decide(&policy, paused, current.as_deref());
        match decision {
            Decision::Keep => self.keep_fallbacks_in_step().await,
            Decision::AllSpent => {
                if !self.all_spent_announced {
                    self.all_spent_announced = true;
                    let until = self
                        .settings
                        .clock
                        .format(self.settings.clock.next_reset(self.clock.now()));
                    let message = format!("all models spent until {until}");
                    tracing::warn!("{message}");
                    self.emit(EventKind::Warning { message });
                }
            }
            Decision::SwitchTo { model, reason } => {
                if let Some((failed, at)) = &self.failed_switch
                    && *failed == model
                    && at.elapsed() < RETRY_FAILED_SWITCH
                {
                    return;
                }
                if let Err(e) = self.switch_to(&model, &reason).await {
                    tracing::error!(%model, "switch failed: {e}");
                    self.failed_switch = Some((model, tokio::time::Instant::now()));
                }
            }
        }
    }

    /// Writes `model` as `primary` (and the managed fallbacks) and starts waiting for the gateway.
    async fn switch_to(&mut self, model: &str, reason: &str) -> Result<(), String> {
        let cfg = self.config.as_ref().map_err(Clone::clone)?.clone();
        let (provider, _) = model
            .split_once('/')
            .ok_or_else(|| format!("{model} is not a provider/model ref"))?;
        if !cfg.is_listed(model) {
            return Err(format!(
                "{model} is not listed in models.providers.{provider}.models[] of {}",
                cfg.path.display()
            ));
        }
        let fallbacks = self.planned_fallbacks(model);
        let edit = ModelEdit {
            primary: model.to_owned(),
            fallbacks: fallbacks.clone(),
        };
        let path = self.openclaw_paths.config.clone();
        let started = self.clock.now();
        let outcome =
            tokio::task::spawn_blocking(move || config_editor::apply_model_edit(&path, &edit))
                .await
                .map_err(|e| format!("config editor panicked: {e}"))?
                .map_err(|e| e.to_string())?;
        if let Some(f) = fallbacks {
            self.state.fallbacks.written = Some(f);
        }
        let from = cfg.primary.clone();
        tracing::info!(
            from = from.as_deref().unwrap_or("-"),
            to = model,
            "switched primary: {reason}"
        );
        let written = matches!(outcome, EditOutcome::Written { .. });
        self.today().note_switch(from.as_deref(), model, started);
        let record = SwitchRecord {
            from: from.clone(),
            to: model.to_owned(),
            at: started,
            reason: reason.to_owned(),
            outcome: "pending".into(),
        };
        self.state.last_switch = Some(record.clone());
        self.state.switches_today.push(record);
        self.emit(EventKind::Switched {
            from: from.clone(),
            to: model.to_owned(),
            reason: reason.to_owned(),
        });
        if let Some(hook) = &self.settings.hook {
            hooks::run_switch_hook(
                hook.clone(),
                from,
                model.to_owned(),
                reason.to_owned(),
                self.settings.clock.format(started),
            );
        }
        self.reload_config();
        self.save();
        if !written {
            self.finish_switch(model, "applied");
            return Ok(());
        }
        let port = reloader::gateway_port(self.config.as_ref().ok(), &self.env);
        if reloader::gateway_listening(port).await {
            self.pending_reload = Some(ReloadWait::new(
                model,
                started,
                self.settings.reload_timeout,
            ));
        } else {
            self.finish_switch(model, "not_needed");
        }
        Ok(())
    }

    fn planned_fallbacks(&self, active: &str) -> Option<Vec<String>> {
        if !self.settings.manage_fallbacks {
            return None;
        }
        let original = self.state.fallbacks.original.as_ref()?;
        let rotation: Vec<String> = self.policy.models.iter().map(|m| m.model.clone()).collect();
        let today = self.state.today.as_ref()?;
        // A fresh day on the first model: the user's own list, exactly as they wrote it.
        if rotation.first().map(String::as_str) == Some(active)
            && !rotation.iter().any(|m| today.is_spent(m))
        {
            return Some(original.clone());
        }
        Some(policy::plan_fallbacks(
            original,
            &rotation,
            |m| today.is_spent(m),
            active,
        ))
    }

    /// Without a switch, `fallbacks` may still be stale: a fallback model was spent, or the reset
    /// should bring the user's list back. Rewrites it (primary unchanged) when it differs.
    async fn keep_fallbacks_in_step(&mut self) {
        let Ok(cfg) = &self.config else { return };
        let Some(active) = cfg.primary.clone() else {
            return;
        };
        if !self.policy.models.iter().any(|m| m.model == active) {
            return;
        }
        let Some(planned) = self.planned_fallbacks(&active) else {
            return;
        };
        if cfg.fallbacks.as_ref() == Some(&planned)
            || self
                .failed_switch
                .as_ref()
                .is_some_and(|(m, at)| *m == active && at.elapsed() < RETRY_FAILED_SWITCH)
        {
            return;
        }
        let edit = ModelEdit {
            primary: active.clone(),
            fallbacks: Some(planned.clone()),
        };
        let path = self.openclaw_paths.config.clone();
        match tokio::task::spawn_blocking(move || config_editor::apply_model_edit(&path, &edit))
            .await
        {
            Ok(Ok(_)) => {
                tracing::info!(fallbacks = ?planned, "fallbacks kept in step with the rotation");
                self.state.fallbacks.written = Some(planned);
                self.reload_config();
                self.save();
            }
            Ok(Err(e)) => {
                tracing::error!("cannot update fallbacks: {e}");
                self.failed_switch = Some((active, tokio::time::Instant::now()));
            }
            Err(e) => tracing::error!("config editor panicked: {e}"),
        }
    }

    fn on_reload_applied(&mut self, at: Timestamp, paths: &[String]) {
        let Some(wait) = &self.pending_reload else {
            return;
        };
        if wait.confirmed_by(at, paths) {
            let model = wait.model.clone();
            self.finish_switch(&model, "applied");
        }
    }

    fn on_reload_skipped(&mut self, at: Timestamp, reason: &str) {
        let Some(wait) = &self.pending_reload else {
            return;
        };
        if wait.is_after_write(at) {
            let model = wait.model.clone();
            self.finish_switch(
                &model,
                &format!("failed: gateway skipped the reload: {reason}"),
            );
        }
    }

    /// No confirmation in time: if a gateway runs, restart it; otherwise nothing is needed.
    async fn on_reload_timeout(&mut self) {
        let Some(wait) = self.pending_reload.take() else {
            return;
        };
        let port = reloader::gateway_port(self.config.as_ref().ok(), &self.env);
        if !reloader::gateway_listening(port).await {
            self.finish_switch(&wait.model, "unconfirmed");
            return;
        }
        tracing::warn!(model = %wait.model, "the gateway did not confirm a hot reload; restarting it");
        let command = reloader::restart_command(&self.settings, self.profile.as_deref());
        let tx = self.tx.clone();
        let model = wait.model.clone();
        self.pending_reload = Some(ReloadWait {
            deadline: tokio::time::Instant::now() + Duration::from_secs(120),
            ..wait
        });
        tokio::spawn(async move {
            let result = reloader::run_restart(&command).await;
            let _ = tx.send(EngineMsg::RestartDone { model, result }).await;
        });
    }

    fn finish_switch(&mut self, model: &str, outcome: &str) {
        self.pending_reload = None;
        for record in self
            .state
            .last_switch
            .iter_mut()
            .chain(self.state.switches_today.iter_mut().rev().take(1))
        {
            if record.to == model {
                record.outcome = outcome.to_owned();
            }
        }
        if outcome.starts_with("failed") {
            self.emit(EventKind::ReloadFailed {
                model: model.to_owned(),
                error: outcome.to_owned(),
            });
        } else {
            self.emit(EventKind::ReloadApplied {
                model: model.to_owned(),
                outcome: outcome.to_owned(),
            });
        }
        crate::systemd::status(&format!("active model {model}"));
        self.save();
    }

    fn emit(&self, kind: EventKind) {
        let at = self.settings.clock.format(self.clock.now());
        let _ = self.events.send(Event { at, kind });
    }

    fn save(&mut self) {
        if let Err(e) = self.store.save(&self.state) {
            // Keep running on what is in memory; the next save tries again.
            tracing::error!("{e}");
        }
    }

    async fn answer(&mut self, request: Request) -> Reply {
        match request {
            Request::Status => Ok(Response::Status(Box::new(self.status()))),
            Request::Version => Ok(Response::Version(VersionInfo {
                protocol: PROTOCOL_VERSION,
                version: crate::VERSION.into(),
            })),
            Request::Shutdown => Ok(Response::Handled("msclawd is stopping".into())),
            Request::History { days } => Ok(Response::History(self.history(days))),
            Request::Pause => {
                self.state.paused = true;
                self.save();
                Ok(Response::Handled(
                    "automatic switching paused (counting goes on)".into(),
                ))
            }
            Request::Resume => {
                self.state.paused = false;
                self.save();
                self.apply_policy().await;
                Ok(Response::Handled("automatic switching resumed".into()))
            }
            Request::Auto => {
                self.today().pin = None;
                self.state.paused = false;
                self.save();
                self.apply_policy().await;
                Ok(Response::Handled(format!(
                    "automatic rotation; active model {}",
                    self.active_model().unwrap_or_default()
                )))
            }
            Request::Switch { model } => self.pin(&model).await,
            Request::EventStream => Err(Error::new(
                ErrorCode::BadRequest,
                "EventStream is handled by the connection",
            )),
            // The plugin's requests (issue 15) are wired in the engine separately; until then they
            // are answered like any request this msclawd does not know.
            Request::ModelCallEnded(_) | Request::ChooseModel(_) => Err(Error::new(
                ErrorCode::BadRequest,
                "this msclawd does not handle plugin requests yet",
            )),
        }
    }

    async fn pin(&mut self, wanted: &str) -> Reply {
        let refused = |m: String| Err(Error::new(ErrorCode::Refused, m));
        let cfg = match &self.config {
            Ok(cfg) => cfg,
            Err(e) => return refused(e.clone()),
        };
        let Some(model) = cfg.resolve_model(&self.settings.provider, wanted) else {
            return refused(format!(
                "{wanted} is not a model or alias of provider {} in {}",
                self.settings.provider,
                cfg.path.display()
            ));
        };
        self.today().pin = Some(model.clone());
        self.failed_switch = None;
        if let Some(wait) = self.pending_reload.take() {
            self.finish_switch(&wait.model, "unconfirmed");
        }
        self.apply_policy().await;
        self.save();
        if let Some((failed, _)) = &self.failed_switch
            && *failed == model
        {
            self.today().pin = None;
            return Err(Error::new(
                ErrorCode::Internal,
                format!("could not switch to {model}; see msclawd's log"),
            ));
        }
        let until = self
            .settings
            .clock
            .format(self.settings.clock.next_reset(self.clock.now()));
        Ok(Response::Handled(format!(
            "pinned {model} until {until} (or msclawctl auto)"
        )))
    }

    fn status(&self) -> Status {
        let now = self.clock.now();
        let next_reset = self.settings.clock.next_reset(now);
        let today = self
            .state
            .today
            .clone()
            .unwrap_or_else(|| DayState::new(self.settings.clock.day_of(now)));
        let aliases = self
            .config
            .as_ref()
            .map(|c| c.aliases.clone())
            .unwrap_or_default();
        let models = self
            .policy
            .models
            .iter()
            .map(|m| {
                let day = today.model(&m.model).cloned().unwrap_or_default();
                ModelStatus {
                    model: m.model.clone(),
                    alias: aliases.get(&m.model).cloned(),
                    used: day.calls(),
                    limit: m.limit,
                    spent: day.spent.is_some(),
                    spent_reason: day.spent.as_ref().map(|s| s.reason.to_string()),
                    rate_limited: day.rate_limited,
                    relay_calls: self.relay.as_ref().map(|_| day.relay_used),
                    remaining: self.remaining.get(&m.model).copied(),
                }
            })
            .collect();
        let all_spent =
            !self.policy.models.is_empty() && today.first_available(&self.policy).is_none();
        let mut warnings = self.startup_warnings.clone();
        if let Err(e) = &self.config {
            warnings.push(e.clone());
        }
        warnings.extend(self.rotation_warnings.iter().cloned());
        if all_spent {
            warnings.push(format!(
                "all models spent until {}",
                self.settings.clock.format(next_reset)
            ));
        }
        if let Ok(cfg) = &self.config
            && let Some(p) = &cfg.primary
            && !self.policy.models.iter().any(|m| &m.model == p)
            && today.pin.is_none()
        {
            warnings.push(format!("primary {p} is not in the rotation; msclaw leaves it alone (msclawctl switch picks one)"));
        }
        for source in &self.sources {
            if let Some(e) = &source.last_error {
                warnings.push(format!("{} source: {e}", source.kind));
            }
        }
        Status {
            protocol: PROTOCOL_VERSION,
            version: crate::VERSION.into(),
            active_model: self.active_model(),
            mode: if self.state.paused {
                Mode::Paused
            } else if today.pin.is_some() {
                Mode::Pinned
            } else {
                Mode::Auto
            },
            next_reset: self.settings.clock.format(next_reset),
            models,
            last_switch: self.state.last_switch.as_ref().map(|s| self.last_switch(s)),
            config_path: self.openclaw_paths.config.display().to_string(),
            warnings,
            day: today.day.to_string(),
            all_spent_until: all_spent.then(|| self.settings.clock.format(next_reset)),
            pinned: today.pin.clone(),
            openclaw_config: self.config_state.clone(),
            profile: self.profile.clone(),
            sources: self.sources.clone(),
            relay: self.relay.as_ref().map(|r| {
                let h = r.health();
                msclaw_shared::RelayStatus {
                    listening: h.listening.to_string(),
                    upstream: h.upstream,
                    relayed: h.relayed,
                    answered_locally: h.answered_locally,
                    upstream_errors: h.upstream_errors,
                    rewritten_429: h.rewritten_429,
                }
            }),
        }
    }

    fn last_switch(&self, s: &SwitchRecord) -> LastSwitch {
        LastSwitch {
            from: s.from.clone(),
            to: s.to.clone(),
            at: self.settings.clock.format(s.at),
            reason: s.reason.clone(),
            outcome: s.outcome.clone(),
        }
    }

    fn history(&self, days: u32) -> History {
        let mut records: Vec<DayRecord> = self.state.history.clone();
        if let Some(today) = &self.state.today {
            records.push(self.day_record(today));
        }
        let skip = records.len().saturating_sub(days.max(1) as usize);
        History {
            days: records
                .into_iter()
                .skip(skip)
                .map(|d| DayHistory {
                    day: d.day.to_string(),
                    models: d
                        .models
                        .into_iter()
                        .map(|m| DayModelUsage {
                            model: m.model,
                            used: m.used,
                            limit: m.limit,
                            spent_at: m.spent_at.map(|t| self.settings.clock.format(t)),
                            spent_reason: m.spent_reason,
                        })
                        .collect(),
                    switches: d.switches.iter().map(|s| self.last_switch(s)).collect(),
                })
                .collect(),
        }
    }
}

/// The rotation order and limits: the settings' `models` (refs or aliases) or the provider's
/// models in config order, each with its limit; plus warnings for what will not follow.
pub fn rotation_from(
    settings: &Settings,
    cfg: &OpenClawConfig,
) -> (Vec<RotationModel>, Vec<String>) {
    let provider = &settings.provider;
    let mut warnings = Vec::new();
    let refs: Vec<String> = if settings.models.is_empty() {
        match cfg.providers.get(provider) {
            Some(p) => p
                .model_ids
                .iter()
                .map(|id| format!("{provider}/{id}"))
                .collect(),
            None => {
                warnings.push(format!(
                    "provider {provider} is not in models.providers of {}",
                    cfg.path.display()
                ));
                Vec::new()
            }
        }
    } else {
        settings
            .models
            .iter()
            .filter_map(|name| {
                let found = cfg.resolve_model(provider, name);
                if found.is_none() {
                    warnings.push(format!("model {name} from msclaw's config is not listed in models.providers.{provider}.models[]; skipped"));
                }
                found
            })
            .collect()
    };
    let mut limits: BTreeMap<String, Limit> = BTreeMap::new();
    for (name, limit) in &settings.limits {
        match cfg.resolve_model(provider, name) {
            Some(model) => {
                limits.insert(model, *limit);
            }
            None => warnings.push(format!(
                "[limits] names {name}, which is not a model of provider {provider}"
            )),
        }
    }
    let models: Vec<RotationModel> = refs
        .into_iter()
        .map(|model| RotationModel {
            limit: limits
                .get(&model)
                .copied()
                .unwrap_or(settings.daily_limit)
                .calls(),
            model,
        })
        .collect();
    for (agent, model) in &cfg.per_agent_models {
        warnings.push(format!(
            "agent {agent} sets its own model {model}; it will not follow the rotation"
        ));
    }
    if !cfg.allow.is_empty() {
        for m in &models {
            let allowed = cfg.allow.iter().any(|a| {
                a == &m.model
                    || a.strip_suffix("/*")
                        .is_some_and(|p| m.model.starts_with(&format!("{p}/")))
            });
            if !allowed {
                warnings.push(format!(
                    "{} is missing from agents.defaults.modelPolicy.allow",
                    m.model
                ));
            }
        }
    }
    if cfg.reload_mode.as_deref() == Some("off") {
        warnings.push("gateway.reload.mode is off: a switch needs a gateway restart".into());
    }
    (models, warnings)
}
