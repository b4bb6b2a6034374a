//! Observations in: usage batches from the watcher and the relay's calls, turned into the policy's
//! observations of today; and the relay told which models are spent.

use std::collections::HashMap;

use jiff::Timestamp;
use msclaw_shared::EventKind;

use super::Engine;

/// The longest model ref kept in the state (real ones are well under 100 bytes).
pub(super) const MAX_MODEL_NAME: usize = 256;
use crate::inbox::UsageBatch;
use crate::policy::{Notice, Observation};
use crate::relay::{RelayObservation, RelayOutcome, SpentInfo};
use crate::usage::{CallOutcome, CallRecord, GatewaySignal, SourceKind};

impl Engine {
    pub(super) async fn take_batch(&mut self, batch: UsageBatch) {
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
        self.mark_dirty();
        self.apply_policy().await;
    }

    fn observe(&mut self, record: &CallRecord) {
        let model = format!("{}/{}", record.provider, record.model);
        // Counted per `provider/model`: the rotation provider's models, and any other provider's
        // that the rotation or a pool names (a chain that leaves ModelScope).
        if record.provider != self.settings.provider && !self.follows_model(&model) {
            return;
        }
        let observation = match (&record.outcome, record.source) {
            // Transcripts count calls; the log shows only slow or failed ones, so it never counts.
            (CallOutcome::Success, SourceKind::GatewayLog) => return,
            // With the relay on it sees every 429 of the provider it fronts itself: the log's copy
            // would count each twice. Other providers' 429s reach msclaw only through the log.
            (CallOutcome::RateLimited { .. }, SourceKind::GatewayLog)
                if self.relay.is_some() && record.provider == self.settings.provider =>
            {
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
        self.observe_model(&model, record.at, &observation);
    }

    pub(super) fn observe_model(&mut self, model: &str, at: Timestamp, observation: &Observation) {
        if model.len() > MAX_MODEL_NAME {
            // No model is named like that; a name this long is not kept in the state.
            return;
        }
        // Pools keep their own periods (and drop a late record of an earlier one themselves).
        self.observe_pools(model, at, observation);
        let day = self.settings.calendar.day_of(at);
        let clock_day = self.settings.calendar.day_of(self.clock.now());
        self.today();
        // Borrowed beside the policy (not through `today()`): no copy of the policy per record.
        let (policy, today) = (&self.policy, self.state.today.as_mut().expect("made above"));
        // While the wall clock is behind the quota day msclaw is in (it was set back), calls
        // stamped with that clock's day are calls of the current day.
        let late_clock = clock_day < today.day && day == clock_day;
        if day != today.day && !late_clock {
            return;
        }
        let notices = today.observe(policy, model, at, observation);
        for notice in notices {
            self.announce(notice);
        }
    }

    fn announce(&self, notice: Notice) {
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

    /// Takes what the relay saw since its last message; saved and decided on once for them all.
    pub(super) async fn take_relay(&mut self, observations: Vec<RelayObservation>) {
        self.roll_if_new_day(self.clock.now());
        for obs in observations {
            self.take_relay_one(obs);
        }
        self.mark_dirty();
        self.apply_policy().await;
    }

    fn take_relay_one(&mut self, obs: RelayObservation) {
        let model = crate::relay::model_ref(&obs.provider, &obs.model);
        if !self.knows_model(&model) && !self.follows_model(&model) {
            // Forwarded, but a name the config does not list is not remembered.
            return;
        }
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
    }

    /// A model of another provider is followed when the rotation or a pool names it.
    fn follows_model(&self, model: &str) -> bool {
        self.policy.models.iter().any(|m| m.model == model)
            || self.pools.pools.iter().any(|p| p.draws(model))
    }

    /// Tells the relay which models to answer locally (by `provider/model`, whatever the
    /// provider): the spent ones, except a pinned model.
    pub(super) fn sync_relay_view(&self) {
        if self.relay.is_none() {
            return;
        }
        let resets_at = self
            .settings
            .calendar
            .format(self.settings.calendar.next_reset(self.clock.now()));
        let mut spent: HashMap<String, SpentInfo> = self
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
            .map(|(model, reason)| {
                let resets_at = resets_at.clone();
                (model, SpentInfo { reason, resets_at })
            })
            .collect();
        // Models whose pool has no room are answered locally too.
        let pin = self.state.today.as_ref().and_then(|d| d.pin.as_deref());
        for m in &self.policy.models {
            if spent.contains_key(&m.model) || pin == Some(m.model.as_str()) {
                continue;
            }
            if let Some(reason) = self.pool_block(&m.model) {
                let info = SpentInfo {
                    reason,
                    resets_at: resets_at.clone(),
                };
                spent.insert(m.model.clone(), info);
            }
        }
        self.relay_view.set_spent(spent);
    }
}
