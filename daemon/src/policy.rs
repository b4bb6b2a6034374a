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
//!
//! Here: the rotation, the observations and the decisions; a model's day and its marks in
//! `model_day`, the day's state and the choice in `day_state`, the `fallbacks` list in `fallbacks`.

use jiff::SignedDuration;

mod day_state;
mod fallbacks;
mod model_day;

pub use day_state::{Activation, DayState};
pub use fallbacks::plan_fallbacks;
pub use model_day::{ModelDay, SpentMark, SpentReason};

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

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod tests;
