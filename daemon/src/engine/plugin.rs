//! The OpenClaw plugin: its `model_call_ended` reports counted as a source of their own, the model
//! choice published for the socket server to answer `ChooseModel` with, and what status shows.

use jiff::Timestamp;
use msclaw_shared::{CallOutcome, ModelCallEnded, PluginModelCalls, PluginStatus};

use super::Engine;
use crate::policy::{Observation, Wanted};

impl Engine {
    /// One call the plugin saw end. Served or failed, it is a call ModelScope counts; why it
    /// failed (a 429 carries no status in the hook) comes from the other sources.
    pub(super) async fn take_plugin_call(&mut self, call: ModelCallEnded) {
        let now = self.clock.now();
        self.roll_if_new_day(now);
        self.plugin_last_seen = Some(now);
        if call.provider != self.settings.provider || call.model.is_empty() {
            return;
        }
        let model = format!("{}/{}", call.provider, call.model);
        let failed = call.outcome == CallOutcome::Error;
        self.observe_model(&model, now, &Observation::PluginCall { failed });
        self.save();
        self.apply_policy().await;
        // Before the reply: the plugin asks for the next turn's model once this report is
        // answered, and the answer must already count this call.
        self.publish_choice();
    }

    /// Publishes the model the rotation wants now, for the plugin's `ChooseModel`: none while
    /// paused, all spent, the config unusable or the primary the user's own.
    pub(super) fn publish_choice(&mut self) {
        if self.catching_up {
            // Partial counts: the plugin keeps the last choice (none at the start: the config's).
            return;
        }
        let current = self.config.usable().and_then(|c| c.primary.clone());
        let usable = self.config.usable().is_some();
        let paused = self.state.paused;
        let policy = self.policy.clone();
        self.today();
        let today = self.state.today.as_ref().expect("made above");
        let gate = |m: &str| self.pool_block(m);
        let wanted = match today.wanted_in(&policy, &gate, paused, current.as_deref()) {
            Wanted::Model(model) if usable => Some(model.to_owned()),
            _ => None,
        };
        self.plugin.set_choice(wanted.as_deref());
    }

    pub(super) fn plugin_status(&self) -> PluginStatus {
        let calls = self
            .state
            .today
            .iter()
            .flat_map(|day| day.models.iter())
            .filter(|(_, m)| m.plugin_used > 0)
            .map(|(model, m)| PluginModelCalls {
                model: model.clone(),
                calls: m.plugin_used,
            })
            .collect();
        PluginStatus {
            connected: self.plugin.connected(),
            last_seen: self.plugin_last_seen.map(|t| self.format(t)),
            model_choice: self
                .plugin
                .choice()
                .map(|c| format!("{}/{}", c.provider, c.model)),
            calls,
        }
    }

    fn format(&self, at: Timestamp) -> String {
        self.settings.calendar.format(at)
    }
}
