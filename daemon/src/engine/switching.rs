//! Switching: asking the policy what `primary` should be, writing it (and the managed fallbacks)
//! with the config editor, and following the gateway until it has applied it (its log's
//! confirmation, else a restart).

use std::time::Duration;

use jiff::Timestamp;
use msclaw_shared::{EventKind, SwitchOutcome};

use super::{Engine, RETRY_FAILED_SWITCH};
use crate::gateway::{self, ReloadWait};
use crate::hooks;
use crate::inbox::InboxMsg;
use crate::openclaw::{self, EditOutcome, ModelEdit, OpenClawConfig};
use crate::policy::{self, Decision};
use crate::state_store::SwitchRecord;

/// How long a gateway restart may take to bring the new primary in.
const RESTART_WAIT: Duration = Duration::from_secs(120);

impl Engine {
    /// Asks the policy what `primary` should be and makes it so.
    pub(super) async fn apply_policy(&mut self) {
        if self.catching_up {
            // Partial counts; the batch that ends the catch-up comes back here.
            return;
        }
        self.sync_relay_view();
        let Some(cfg) = self.config.usable() else {
            return;
        };
        if self.pending_reload.is_some() {
            return; // one switch at a time; the next decision follows its confirmation
        }
        let current = cfg.primary.clone();
        let paused = self.state.paused;
        let policy = self.policy.clone();
        self.today();
        let today = self.state.today.as_ref().expect("made above");
        let gate = |m: &str| self.pool_block(m);
        let decision = today.decide_in(&policy, &gate, paused, current.as_deref());
        match decision {
            Decision::Keep => self.keep_fallbacks_in_step().await,
            Decision::AllSpent => self.announce_all_spent(),
            Decision::SwitchTo { model, reason } => {
                if self.failed_recently(&model) {
                    return;
                }
                if let Err(e) = self.switch_to(&model, &reason).await {
                    tracing::error!(%model, "switch failed: {e}");
                    self.failed_switch = Some((model, tokio::time::Instant::now()));
                }
            }
        }
    }

    /// Once a day at most: every model is spent until the reset.
    fn announce_all_spent(&mut self) {
        if self.all_spent_announced {
            return;
        }
        self.all_spent_announced = true;
        let until = self
            .settings
            .calendar
            .format(self.settings.calendar.next_reset(self.clock.now()));
        let message = format!("all models spent until {until}");
        tracing::warn!("{message}");
        self.emit(EventKind::Warning { message });
    }

    /// A write for `model` failed a moment ago: not tried again yet (unless the config changes).
    fn failed_recently(&self, model: &str) -> bool {
        self.failed_switch
            .as_ref()
            .is_some_and(|(m, at)| m == model && at.elapsed() < RETRY_FAILED_SWITCH)
    }

    /// Writes `model` as `primary` (and the managed fallbacks) and starts waiting for the gateway.
    async fn switch_to(&mut self, model: &str, reason: &str) -> Result<(), String> {
        let cfg = self.config.require()?.clone();
        let started = self.clock.now();
        let outcome = self.write_primary(&cfg, model).await?;
        self.record_switch(cfg.primary.clone(), model, reason, started);
        self.reload_config();
        self.save();
        if !matches!(outcome, EditOutcome::Written { .. }) {
            self.finish_switch(model, SwitchOutcome::Applied);
            return Ok(());
        }
        let port = gateway::gateway_port(self.config.usable(), &self.env);
        if gateway::gateway_listening(port).await {
            self.pending_reload = Some(ReloadWait::new(
                model,
                started,
                self.settings.reload_timeout,
            ));
        } else {
            self.finish_switch(model, SwitchOutcome::NotNeeded);
        }
        Ok(())
    }

    /// The config edit of a switch: `primary`, and the fallbacks when msclaw manages them.
    async fn write_primary(
        &mut self,
        cfg: &OpenClawConfig,
        model: &str,
    ) -> Result<EditOutcome, String> {
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
        let outcome = tokio::task::spawn_blocking(move || openclaw::apply_model_edit(&path, &edit))
            .await
            .map_err(|e| format!("config editor panicked: {e}"))?
            .map_err(|e| e.to_string())?;
        if let Some(f) = fallbacks {
            self.state.fallbacks.written = Some(f);
        }
        Ok(outcome)
    }

    /// A written switch: into today's state, the event stream and the user's hook.
    fn record_switch(&mut self, from: Option<String>, model: &str, reason: &str, at: Timestamp) {
        tracing::info!(
            from = from.as_deref().unwrap_or("-"),
            to = model,
            "switched primary: {reason}"
        );
        self.today().note_switch(from.as_deref(), model, at);
        let record = SwitchRecord {
            from: from.clone(),
            to: model.to_owned(),
            at,
            reason: reason.to_owned(),
            outcome: SwitchOutcome::Pending,
        };
        self.state.last_switch = Some(record.clone());
        self.state.switches_today.push(record);
        let event = self.event(EventKind::Switched {
            from,
            to: model.to_owned(),
            reason: reason.to_owned(),
        });
        let _ = self.events.send(event.clone());
        if let Some(hook) = &self.settings.hook {
            hooks::run_switch_hook(hook.clone(), event);
        }
    }

    fn planned_fallbacks(&self, active: &str) -> Option<Vec<String>> {
        if !self.settings.manage_fallbacks {
            return None;
        }
        let original = self.state.fallbacks.original.as_ref()?;
        let rotation: Vec<String> = self.policy.models.iter().map(|m| m.model.clone()).collect();
        let today = self.state.today.as_ref()?;
        // Left out of the fallbacks: spent models, and models whose pool has no room.
        let unavailable = |m: &str| today.is_spent(m) || self.pool_block(m).is_some();
        // A fresh day on the first model: the user's own list, exactly as they wrote it.
        if rotation.first().map(String::as_str) == Some(active)
            && !rotation.iter().any(|m| unavailable(m))
        {
            return Some(original.clone());
        }
        Some(policy::plan_fallbacks(
            original,
            &rotation,
            unavailable,
            active,
        ))
    }

    /// Without a switch, `fallbacks` may still be stale: a fallback model was spent, or the reset
    /// should bring the user's list back. Rewrites it (primary unchanged) when it differs.
    async fn keep_fallbacks_in_step(&mut self) {
        let Some(cfg) = self.config.usable() else {
            return;
        };
        let Some(active) = cfg.primary.clone() else {
            return;
        };
        if !self.policy.models.iter().any(|m| m.model == active) {
            return;
        }
        let Some(planned) = self.planned_fallbacks(&active) else {
            return;
        };
        if cfg.fallbacks.as_ref() == Some(&planned) || self.failed_recently(&active) {
            return;
        }
        let edit = ModelEdit {
            primary: active.clone(),
            fallbacks: Some(planned.clone()),
        };
        let path = self.openclaw_paths.config.clone();
        match tokio::task::spawn_blocking(move || openclaw::apply_model_edit(&path, &edit)).await {
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

    pub(super) fn on_reload_applied(&mut self, at: Timestamp, paths: &[String]) {
        let Some(wait) = &self.pending_reload else {
            return;
        };
        if wait.confirmed_by(at, paths) {
            let model = wait.model.clone();
            self.finish_switch(&model, SwitchOutcome::Applied);
        }
    }

    pub(super) fn on_reload_skipped(&mut self, at: Timestamp, reason: &str) {
        let Some(wait) = &self.pending_reload else {
            return;
        };
        if wait.is_after_write(at) {
            let model = wait.model.clone();
            self.finish_switch(
                &model,
                SwitchOutcome::Failed(format!("gateway skipped the reload: {reason}")),
            );
        }
    }

    /// No confirmation in time: if a gateway runs, restart it; otherwise nothing is needed.
    pub(super) async fn on_reload_timeout(&mut self) {
        let Some(wait) = self.pending_reload.take() else {
            return;
        };
        let port = gateway::gateway_port(self.config.usable(), &self.env);
        if !gateway::gateway_listening(port).await {
            self.finish_switch(&wait.model, SwitchOutcome::Unconfirmed);
            return;
        }
        tracing::warn!(model = %wait.model, "the gateway did not confirm a hot reload; restarting it");
        let command = gateway::restart_command(&self.settings, self.profile.as_deref());
        let inbox = self.inbox.clone();
        let model = wait.model.clone();
        self.pending_reload = Some(ReloadWait {
            deadline: tokio::time::Instant::now() + RESTART_WAIT,
            ..wait
        });
        tokio::spawn(async move {
            let result = gateway::run_restart(&command).await;
            let _ = inbox.send(InboxMsg::RestartDone { model, result }).await;
        });
    }

    pub(super) fn on_restart_done(&mut self, model: &str, result: Result<String, String>) {
        let outcome = match result {
            Ok(_) => SwitchOutcome::Restarted,
            Err(e) => SwitchOutcome::Failed(format!("restart: {e}")),
        };
        self.finish_switch(model, outcome);
    }

    pub(super) fn finish_switch(&mut self, model: &str, outcome: SwitchOutcome) {
        self.pending_reload = None;
        for record in self
            .state
            .last_switch
            .iter_mut()
            .chain(self.state.switches_today.iter_mut().rev().take(1))
        {
            if record.to == model {
                record.outcome = outcome.clone();
            }
        }
        let kind = match &outcome {
            SwitchOutcome::Failed(_) => EventKind::ReloadFailed {
                model: model.to_owned(),
                error: outcome.to_string(),
            },
            _ => EventKind::ReloadApplied {
                model: model.to_owned(),
                outcome: outcome.to_string(),
            },
        };
        self.emit(kind);
        crate::systemd::status(&format!("active model {model}"));
        self.save();
    }
}
