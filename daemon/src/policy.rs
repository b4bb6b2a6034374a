//! Which model should be active, and when. Pure: no files, no clock, no I/O. The engine feeds it
//! observations and the current time as plain values; tests drive it the same way.
//!
//! Rules:
//! - the active model is the first model in rotation order that is not spent;
//! - proactive: a model is spent when today's count reaches its limit minus the reserve;
//! - reactive: a model is spent on quota evidence — OpenClaw's whole retry loop failing with 429,
//!   or `rate_limit_errors` 429s within `rate_limit_window` with no success between (one stray 429
//!   is a throttle, not a spent day);
//! - gone: a model ModelScope no longer serves is skipped for the day;
//! - account-wide: when the model just switched to is rate-limited at once too, or every model is
//!   spent, stop switching until the reset (never flap);
//! - reset: at the reset instant every mark is cleared and the first model is active again;
//! - manual: a pin holds until the reset or `auto`; pause stops automatic switching.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Why a model has no room in a shared pool (issue 14), if it has none: `pool NAME spent (...)`.
/// The policy's own marks are per model; the engine's `pools::PoolBook` answers this.
pub type PoolGate<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The gate with no shared pools: today's per-model rule alone.
fn no_pools(_: &str) -> Option<String> {
    None
}

/// `provider` of a `provider/model-id` ref.
fn provider_of(model: &str) -> &str {
    model.split_once('/').map_or(model, |(p, _)| p)
}

/// One rotation model and its daily limit (None: unknown, only evidence counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationModel {
    /// Full ref, `provider/model-id`.
    pub model: String,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub models: Vec<RotationModel>,
    pub reserve: u32,
    pub rate_limit_errors: u32,
    pub rate_limit_window: SignedDuration,
    /// A model that is rate-limited within this long after it became active, with no success, is
    /// taken as the whole account being limited.
    pub account_window: SignedDuration,
}

impl PolicyConfig {
    pub fn new(models: Vec<RotationModel>) -> Self {
        Self {
            models,
            reserve: 0,
            rate_limit_errors: 3,
            rate_limit_window: SignedDuration::from_mins(5),
            account_window: SignedDuration::from_secs(90),
        }
    }

    fn limit_of(&self, model: &str) -> Option<u32> {
        self.models
            .iter()
            .find(|m| m.model == model)
            .and_then(|m| m.limit)
    }

    fn position(&self, model: &str) -> Option<usize> {
        self.models.iter().position(|m| m.model == model)
    }
}

/// What a usage source saw, reduced to what the policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A model call that ModelScope served, from a transcript (counts toward the day).
    Call,
    /// A call the metering relay saw ModelScope serve. The relay also sees calls no transcript
    /// records, so where both exist the larger count wins; the two are never added.
    RelayCall,
    /// A call the OpenClaw plugin saw end (`model_call_ended`), served or failed: the plugin sees
    /// every call of the embedded path, also those no transcript records. Counted on its own and,
    /// like the relay's, merged by the larger count. Only a served one is a success.
    PluginCall { failed: bool },
    /// ModelScope's own header said the model has no requests left today.
    NoneRemaining,
    /// One 429; `retry_loop_failed` when OpenClaw gave up on the model after its whole retry loop.
    RateLimited { retry_loop_failed: bool },
    /// ModelScope no longer serves the model.
    Gone { detail: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpentReason {
    LimitReached {
        used: u32,
        limit: u32,
    },
    RateLimited {
        errors: u32,
    },
    RetryLoopFailed,
    NoneRemaining,
    Gone {
        detail: String,
    },
    /// Marked while the whole account was judged rate-limited.
    AccountLimited,
}

impl std::fmt::Display for SpentReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpentReason::LimitReached { used, limit } => {
                write!(f, "daily limit reached ({used}/{limit} calls)")
            }
            SpentReason::RateLimited { errors } => {
                write!(
                    f,
                    "quota exhausted ({errors} rate-limit errors with no success between)"
                )
            }
            SpentReason::RetryLoopFailed => {
                write!(f, "quota exhausted (OpenClaw's retry loop failed with 429)")
            }
            SpentReason::NoneRemaining => write!(
                f,
                "quota exhausted (ModelScope reports 0 requests remaining)"
            ),
            SpentReason::Gone { detail } => write!(f, "not served by the provider ({detail})"),
            SpentReason::AccountLimited => write!(f, "account rate-limited"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentMark {
    pub at: Timestamp,
    pub reason: SpentReason,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDay {
    /// Calls counted from transcripts.
    pub used: u32,
    /// Calls counted by the relay (0 without it).
    #[serde(default)]
    pub relay_used: u32,
    /// Calls the OpenClaw plugin reported, served or failed (0 without it).
    #[serde(default)]
    pub plugin_used: u32,
    pub rate_limited: u32,
    /// 429s since the last success, within the window (pruned as new ones come).
    pub recent_429: Vec<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub spent: Option<SpentMark>,
}

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

/// Something the policy noticed while taking an observation; the engine turns these into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Spent {
        model: String,
        reason: SpentReason,
    },
    /// A success after a 429-based mark: it was a throttle after all.
    Recovered {
        model: String,
    },
    AccountLimited,
}

/// Which source counted a call: each keeps its own count, the day's count is the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counter {
    Transcript,
    Relay,
    Plugin,
}

/// The model the rotation wants active now, before comparing it with `primary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted<'a> {
    /// Paused, or the user's own primary outside the rotation: msclaw has no opinion.
    NoOpinion,
    Model(&'a str),
    AllSpent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave `primary` as it is.
    Keep,
    SwitchTo {
        model: String,
        reason: String,
    },
    /// Nothing left to switch to: say so and stay.
    AllSpent,
}

impl ModelDay {
    /// Marks the model spent unless it already is; the notice when it was not.
    fn mark_spent(&mut self, model: &str, at: Timestamp, reason: SpentReason) -> Option<Notice> {
        if self.spent.is_some() {
            return None;
        }
        self.spent = Some(SpentMark {
            at,
            reason: reason.clone(),
        });
        Some(Notice::Spent {
            model: model.to_owned(),
            reason,
        })
    }

    /// One call counted by `counter`; the mark when today's count reaches the limit.
    fn count(
        &mut self,
        cfg: &PolicyConfig,
        model: &str,
        limit: Option<u32>,
        at: Timestamp,
        counter: Counter,
    ) -> Option<Notice> {
        match counter {
            Counter::Transcript => self.used += 1,
            Counter::Relay => self.relay_used += 1,
            Counter::Plugin => self.plugin_used += 1,
        }
        let limit = limit?;
        let threshold = limit.saturating_sub(cfg.reserve);
        if self.spent.is_some() || self.calls() < threshold {
            return None;
        }
        let reason = SpentReason::LimitReached {
            used: self.calls(),
            limit,
        };
        self.mark_spent(model, at, reason)
    }

    /// A successful call: clears a 429-based mark, then is counted and may reach the limit.
    fn on_success(
        &mut self,
        cfg: &PolicyConfig,
        model: &str,
        limit: Option<u32>,
        at: Timestamp,
        counter: Counter,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        self.recent_429.retain(|t| *t > at);
        self.last_success = Some(self.last_success.map_or(at, |t| t.max(at)));
        // A success after a 429-based mark means it was a throttle (half-open recovery).
        if let Some(mark) = &self.spent {
            let evidence_based = matches!(
                mark.reason,
                SpentReason::RateLimited { .. } | SpentReason::RetryLoopFailed
            );
            if evidence_based && at > mark.at {
                self.spent = None;
                notices.push(Notice::Recovered {
                    model: model.to_owned(),
                });
            }
        }
        notices.extend(self.count(cfg, model, limit, at, counter));
        notices
    }

    /// A 429: the Spent notice when it is quota evidence and the model was not spent yet.
    fn on_rate_limited(
        &mut self,
        cfg: &PolicyConfig,
        model: &str,
        at: Timestamp,
        retry_loop_failed: bool,
    ) -> Option<Notice> {
        self.rate_limited += 1;
        let since = at - cfg.rate_limit_window;
        let last_success = self.last_success;
        self.recent_429.push(at);
        self.recent_429
            .retain(|t| *t >= since && last_success.is_none_or(|s| *t > s));
        let reason = if retry_loop_failed {
            SpentReason::RetryLoopFailed
        } else if self.recent_429.len() as u32 >= cfg.rate_limit_errors {
            SpentReason::RateLimited {
                errors: self.recent_429.len() as u32,
            }
        } else {
            return None;
        };
        // A late transcript record of a loop that failed before the last success proves nothing.
        let stale = last_success.is_some_and(|s| s >= at);
        if stale {
            return None;
        }
        self.mark_spent(model, at, reason)
    }

    /// Today's calls: the largest of the sources' counts, never their sum (each source sees the
    /// same calls, some sources more of them).
    pub fn calls(&self) -> u32 {
        self.used.max(self.relay_used).max(self.plugin_used)
    }
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

/// The `fallbacks` list to write with `active`: rotation models that are spent are left out, the
/// others follow the active model in rotation order (no more of them than the user listed);
/// entries of other providers keep their places.
pub fn plan_fallbacks(
    original: &[String],
    rotation: &[String],
    is_spent: impl Fn(&str) -> bool,
    active: &str,
) -> Vec<String> {
    let is_rotation = |m: &str| rotation.iter().any(|r| r == m);
    let slots = original.iter().filter(|m| is_rotation(m)).count();
    let start = rotation
        .iter()
        .position(|r| r == active)
        .map_or(0, |i| i + 1);
    let mut next = (0..rotation.len())
        .map(|i| &rotation[(start + i) % rotation.len()])
        .filter(|m| m.as_str() != active && !is_spent(m))
        .take(slots);
    let mut out = Vec::with_capacity(original.len());
    for entry in original {
        if is_rotation(entry) {
            if let Some(m) = next.next() {
                out.push(m.clone());
            }
        } else {
            out.push(entry.clone());
        }
    }
    out
}

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod tests;
