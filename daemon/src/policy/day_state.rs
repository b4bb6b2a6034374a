//! One quota day of the rotation: every model's day, the pin, the account-wide mark, and the
//! decisions taken from them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::model_day::{Counter, ModelDay};
use super::{
    Decision, Notice, Observation, PolicyConfig, PoolGate, SpentReason, Wanted, no_pools,
    provider_of,
};

/// One quota day's marks. Everything here is cleared at the reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayState {
    pub day: Date,
    pub models: BTreeMap<String, ModelDay>,
    /// Pinned by `msclawctl switch` until the reset or `auto`.
    pub pin: Option<String>,
    /// Set when the account looks rate-limited as a whole: no switching until the reset.
    pub account_limited: Option<Timestamp>,
    /// When the current active model became active through a switch, and whether that switch
    /// was forced by 429 evidence (for the account-wide rule).
    pub activated: Option<Activation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    pub model: String,
    pub at: Timestamp,
    pub after_rate_limit: bool,
}

impl DayState {
    pub fn new(day: Date) -> Self {
        Self {
            day,
            models: BTreeMap::new(),
            pin: None,
            account_limited: None,
            activated: None,
        }
    }

    pub fn model(&self, model: &str) -> Option<&ModelDay> {
        self.models.get(model)
    }

    /// Today's calls: the largest of the transcripts', the relay's and the plugin's counts.
    pub fn used(&self, model: &str) -> u32 {
        self.models.get(model).map_or(0, ModelDay::calls)
    }

    pub fn is_spent(&self, model: &str) -> bool {
        self.models.get(model).is_some_and(|m| m.spent.is_some())
    }

    /// Takes one observation for `model` at `at` (already known to belong to this day).
    pub fn observe(
        &mut self,
        cfg: &PolicyConfig,
        model: &str,
        at: Timestamp,
        obs: &Observation,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        let limit = cfg.limit_of(model);
        let entry = self.models.entry(model.to_owned()).or_default();
        match obs {
            Observation::Call => {
                notices.extend(entry.on_success(cfg, model, limit, at, Counter::Transcript));
            }
            Observation::RelayCall => {
                notices.extend(entry.on_success(cfg, model, limit, at, Counter::Relay));
            }
            Observation::PluginCall { failed: false } => {
                notices.extend(entry.on_success(cfg, model, limit, at, Counter::Plugin));
            }
            // A failed call counts (ModelScope counts the request) but proves nothing else: why it
            // failed comes from the log, the transcripts or the relay.
            Observation::PluginCall { failed: true } => {
                notices.extend(entry.count(cfg, model, limit, at, Counter::Plugin));
            }
            Observation::RateLimited { retry_loop_failed } => {
                let no_success_today = entry.last_success.is_none();
                let Some(spent) = entry.on_rate_limited(cfg, model, at, *retry_loop_failed) else {
                    return notices;
                };
                notices.push(spent);
                let just_activated = self.activated.as_ref().is_some_and(|a| {
                    a.model == model && a.after_rate_limit && at - a.at <= cfg.account_window
                });
                if no_success_today && just_activated && self.account_limited.is_none() {
                    self.account_limited = Some(at);
                    notices.push(Notice::AccountLimited);
                }
            }
            Observation::NoneRemaining => {
                notices.extend(entry.mark_spent(model, at, SpentReason::NoneRemaining));
            }
            Observation::Gone { detail } => {
                let reason = SpentReason::Gone {
                    detail: detail.clone(),
                };
                notices.extend(entry.mark_spent(model, at, reason));
            }
        }
        notices
    }

    /// The first model in rotation order that is not spent.
    pub fn first_available<'a>(&self, cfg: &'a PolicyConfig) -> Option<&'a str> {
        self.first_available_in(cfg, &no_pools)
    }

    /// Whether `model` may be chosen: not spent itself, no pool without room for it, and not of
    /// the provider whose account looked rate-limited as a whole (only that provider's models
    /// stop; a rotation that spans providers goes on with the others).
    pub fn is_available(&self, model: &str, pools: PoolGate<'_>) -> bool {
        let account_limited = self.account_limited.is_some()
            && self
                .activated
                .as_ref()
                .is_none_or(|a| provider_of(&a.model) == provider_of(model));
        !account_limited && !self.is_spent(model) && pools(model).is_none()
    }

    /// The first model in rotation order that is available (see [`Self::is_available`]).
    pub fn first_available_in<'a>(
        &self,
        cfg: &'a PolicyConfig,
        pools: PoolGate<'_>,
    ) -> Option<&'a str> {
        cfg.models
            .iter()
            .map(|m| m.model.as_str())
            .find(|m| self.is_available(m, pools))
    }

    /// The model msclaw wants active, given what `primary` is now: the pin, else the first
    /// available rotation model. The plugin's model choice is this answer too.
    pub fn wanted<'a>(
        &'a self,
        cfg: &'a PolicyConfig,
        paused: bool,
        current: Option<&str>,
    ) -> Wanted<'a> {
        self.wanted_in(cfg, &no_pools, paused, current)
    }

    /// [`Self::wanted`] with the shared pools' say.
    pub fn wanted_in<'a>(
        &'a self,
        cfg: &'a PolicyConfig,
        pools: PoolGate<'_>,
        paused: bool,
        current: Option<&str>,
    ) -> Wanted<'a> {
        if paused {
            return Wanted::NoOpinion;
        }
        if let Some(pin) = &self.pin {
            return Wanted::Model(pin);
        }
        // A primary outside the rotation was chosen by the user on purpose: leave it.
        if let Some(cur) = current
            && cfg.position(cur).is_none()
        {
            return Wanted::NoOpinion;
        }
        match self.first_available_in(cfg, pools) {
            Some(model) => Wanted::Model(model),
            None => Wanted::AllSpent,
        }
    }

    /// What `primary` should be, given what it is now.
    pub fn decide(&self, cfg: &PolicyConfig, paused: bool, current: Option<&str>) -> Decision {
        self.decide_in(cfg, &no_pools, paused, current)
    }

    /// [`Self::decide`] with the shared pools' say.
    pub fn decide_in(
        &self,
        cfg: &PolicyConfig,
        pools: PoolGate<'_>,
        paused: bool,
        current: Option<&str>,
    ) -> Decision {
        let target = match self.wanted_in(cfg, pools, paused, current) {
            Wanted::NoOpinion => return Decision::Keep,
            Wanted::AllSpent => return Decision::AllSpent,
            Wanted::Model(target) => target,
        };
        if current == Some(target) {
            return Decision::Keep;
        }
        if self.pin.as_deref() == Some(target) {
            return Decision::SwitchTo {
                model: target.to_owned(),
                reason: "pinned by msclawctl switch".into(),
            };
        }
        let own_mark = current
            .and_then(|c| self.models.get(c))
            .and_then(|m| m.spent.as_ref());
        let reason = match (current, own_mark) {
            (Some(cur), Some(mark)) => format!("{cur} {}", mark.reason),
            (None, _) => "no primary model set".to_owned(),
            (Some(cur), None) => match pools(cur) {
                Some(why) => format!("{cur}: {why}"),
                None => "an earlier model in the rotation has quota".to_owned(),
            },
        };
        Decision::SwitchTo {
            model: target.to_owned(),
            reason,
        }
    }

    /// A pool `model` draws from is back (issue 14): the quota errors that marked the model spent
    /// were that pool's, so its evidence-based mark clears, and so does an account-wide mark
    /// raised by the same pool's models (`account_member` says which models those are).
    pub fn pool_refilled(&mut self, model: &str, account_member: impl Fn(&str) -> bool) {
        if let Some(m) = self.models.get_mut(model) {
            let evidence = m.spent.as_ref().is_some_and(|mark| {
                matches!(
                    mark.reason,
                    SpentReason::RateLimited { .. }
                        | SpentReason::RetryLoopFailed
                        | SpentReason::AccountLimited
                )
            });
            if evidence {
                m.spent = None;
            }
            m.recent_429.clear();
        }
        if self
            .activated
            .as_ref()
            .is_some_and(|a| account_member(&a.model))
        {
            self.account_limited = None;
        }
    }

    /// Records that `model` became active at `at` (for the account-wide rule).
    pub fn note_switch(&mut self, from: Option<&str>, model: &str, at: Timestamp) {
        let after_rate_limit = from
            .and_then(|f| self.models.get(f))
            .and_then(|m| m.spent.as_ref())
            .is_some_and(|mark| {
                matches!(
                    mark.reason,
                    SpentReason::RateLimited { .. } | SpentReason::RetryLoopFailed
                )
            });
        self.activated = Some(Activation {
            model: model.to_owned(),
            at,
            after_rate_limit,
        });
    }
}
