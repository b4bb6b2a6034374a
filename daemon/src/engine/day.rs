//! The quota day: rolling to a new one at the reset, and filing the finished one into the history.

use jiff::Timestamp;
use msclaw_shared::EventKind;

use super::Engine;
use crate::policy::DayState;
use crate::state_store::{DayModelRecord, DayRecord};

impl Engine {
    /// Rolls to a new quota day when the wall clock has passed the reset. Only forward: a clock
    /// set back across midnight must not reset twice.
    pub(super) fn roll_if_new_day(&mut self, now: Timestamp) -> bool {
        let day = self.settings.calendar.day_of(now);
        if self.state.today.as_ref().is_some_and(|d| d.day < day) {
            self.roll_day(now);
            true
        } else {
            false
        }
    }

    pub(super) async fn reset_if_due(&mut self) {
        let now = self.clock.now();
        let rolled = self.roll_if_new_day(now);
        // Each pool turns on its own clock (an OpenRouter pool at 00:00 UTC).
        let refilled = self.tick_pools(now);
        if rolled || refilled {
            self.save();
            self.apply_policy().await;
        }
    }

    pub(super) fn today(&mut self) -> &mut DayState {
        self.state
            .today
            .get_or_insert_with(|| DayState::new(jiff::civil::date(1970, 1, 1)))
    }

    /// The quota reset: file the finished day into the history, clear every mark and the pin, and
    /// bring the user's own fallbacks back.
    pub(super) fn roll_day(&mut self, now: Timestamp) {
        let new_day = self.settings.calendar.day_of(now);
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

    /// A day as the history keeps it: every rotation model (and any other model seen), in
    /// rotation order.
    pub(super) fn day_record(&self, day: &DayState) -> DayRecord {
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
            pools: self.pool_day_records(),
        }
    }
}
