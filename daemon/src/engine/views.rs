//! What clients see: status and history, built from the engine's state as the wire types.

use jiff::Timestamp;
use msclaw_shared::{
    DayHistory, DayModelUsage, History, LastSwitch, Mode, ModelStatus, PROTOCOL_VERSION,
    RelayStatus, Status,
};

use super::Engine;
use crate::policy::DayState;
use crate::state_store::{DayRecord, SwitchRecord};

impl Engine {
    pub(super) fn status(&self) -> Status {
        let now = self.clock.now();
        let next_reset = self.settings.calendar.next_reset(now);
        let today = self
            .state
            .today
            .clone()
            .unwrap_or_else(|| DayState::new(self.settings.calendar.day_of(now)));
        let gate = |m: &str| self.pool_block(m);
        let all_spent = !self.policy.models.is_empty()
            && today.first_available_in(&self.policy, &gate).is_none();
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
            next_reset: self.settings.calendar.format(next_reset),
            models: self.model_statuses(&today),
            last_switch: self.state.last_switch.as_ref().map(|s| self.last_switch(s)),
            config_path: self.openclaw_paths.config.display().to_string(),
            warnings: self.warnings(&today, all_spent.then_some(next_reset)),
            day: today.day.to_string(),
            all_spent_until: all_spent.then(|| self.settings.calendar.format(next_reset)),
            pinned: today.pin.clone(),
            openclaw_config: self.config.state(),
            profile: self.profile.clone(),
            sources: self.sources.clone(),
            relay: self.relay_status(),
            plugin: Some(self.plugin_status()),
            pools: self.pool_statuses(now),
        }
    }

    /// Each rotation model's day so far.
    fn model_statuses(&self, today: &DayState) -> Vec<ModelStatus> {
        let aliases = self
            .config
            .usable()
            .map(|c| c.aliases.clone())
            .unwrap_or_default();
        self.policy
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
                    plugin_calls: day.plugin_used,
                    pools: self
                        .pools
                        .pools
                        .iter()
                        .filter(|p| p.draws(&m.model))
                        .map(|p| p.name.clone())
                        .collect(),
                    available: today.is_available(&m.model, &|m| self.pool_block(m)),
                }
            })
            .collect()
    }

    /// Everything the user should know about, in a fixed order: startup, config, rotation,
    /// all spent (until `all_spent_until`), primary outside the rotation, usage sources.
    fn warnings(&self, today: &DayState, all_spent_until: Option<Timestamp>) -> Vec<String> {
        let mut warnings = self.startup_warnings.clone();
        warnings.extend(self.config.problem());
        warnings.extend(self.rotation_warnings.iter().cloned());
        if let Some(until) = all_spent_until {
            warnings.push(format!(
                "all models spent until {}",
                self.settings.calendar.format(until)
            ));
        }
        if let Some(cfg) = self.config.usable()
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
        warnings
    }

    fn relay_status(&self) -> Option<RelayStatus> {
        self.relay.as_ref().map(|r| {
            let h = r.health();
            RelayStatus {
                listening: h.listening.to_string(),
                upstream: h.upstream,
                relayed: h.relayed,
                answered_locally: h.answered_locally,
                upstream_errors: h.upstream_errors,
                rewritten_429: h.rewritten_429,
            }
        })
    }

    fn last_switch(&self, s: &SwitchRecord) -> LastSwitch {
        LastSwitch {
            from: s.from.clone(),
            to: s.to.clone(),
            at: self.settings.calendar.format(s.at),
            reason: s.reason.clone(),
            outcome: s.outcome.clone(),
        }
    }

    pub(super) fn history(&self, days: u32) -> History {
        let mut records: Vec<DayRecord> = self.state.history.clone();
        if let Some(today) = &self.state.today {
            records.push(self.day_record(today));
        }
        let skip = records.len().saturating_sub(days.max(1) as usize);
        History {
            days: records
                .into_iter()
                .skip(skip)
                .map(|d| self.day_history(d))
                .collect(),
        }
    }

    fn day_history(&self, d: DayRecord) -> DayHistory {
        DayHistory {
            day: d.day.to_string(),
            models: d
                .models
                .into_iter()
                .map(|m| DayModelUsage {
                    model: m.model,
                    used: m.used,
                    limit: m.limit,
                    spent_at: m.spent_at.map(|t| self.settings.calendar.format(t)),
                    spent_reason: m.spent_reason,
                })
                .collect(),
            switches: d.switches.iter().map(|s| self.last_switch(s)).collect(),
            pools: d
                .pools
                .into_iter()
                .map(super::pools::day_pool_usage)
                .collect(),
        }
    }
}
