//! Quota pools (issue 14): budgets that models draw from. A pool has a capacity per period (calls or
//! other units, or unknown), a refill rule, and a cost per call of each member model (default 1).
//! A model may draw from several pools; it is available when every one has room for its cost.
//! Pure: no files, no clock, no I/O; the engine feeds plain values in and gets plain values out.
//!
//! Two stages, so a bad table fails when settings load and aliases resolve when OpenClaw's config
//! is read:
//! - [`pool_setup`] (settings time): the `preset` and `[[pools]]` keys ([`PresetChoice`],
//!   [`PoolTable`], parsed by `settings.rs`) plus the top-level `time_zone` / `reset_time` give a
//!   checked [`PoolSetup`]. Presets ([`Preset`]) are tables merged with the user's by `name`.
//! - [`plan_pools`] (whenever the rotation is rebuilt, next to `engine::rotation_from`): the setup,
//!   the rotation (`[RotationModel]`, limits already resolved), the provider, OpenClaw's alias → ref
//!   map and `reserve` give the [`Pool`]s and warnings for names that match nothing. The default
//!   preset `modelscope-daily` yields [`implicit_pools`]: one pool per rotation model of the provider,
//!   capacity its `daily_limit`, cost 1, reset at `reset_time` in `time_zone` — today's rule, so
//!   with no new settings msclaw decides exactly as before.
//!
//! How the engine will wire it (next step; nothing calls this module yet):
//! - keep one [`PoolBook`] (its `states` go into the state file beside the day state);
//! - each usage event also goes to [`PoolBook::observe`] as a [`PoolObservation`] (transcript call,
//!   relay call, or quota error: 429 and ModelScope's 402/403 balance errors), and each tick calls
//!   [`PoolBook::tick`]; both return [`PoolNotice`]s (spent / refilled) for events and the hook;
//! - the policy's choice becomes `book.first_available(rotation, |m| day.is_spent(m))`: per-model
//!   marks (lone 429s, gone models) stay in `policy`, pools add the shared budgets. A pool changes
//!   only on a count, evidence, its reset or a probe, never by time alone, so the choice moves back
//!   to an earlier model (e.g. from OpenRouter to ModelScope) only on such an event: no flapping;
//! - each tick asks [`PoolBook::probe_due`] with the active model; when it returns a
//!   [`ProbeRequest`] the engine calls [`PoolBook::probe_sent`], sends one minimal request through
//!   the model, and reports [`PoolBook::probe_result`];
//! - `status` gains `pools` from [`PoolBook::status`] ([`PoolStatus`]).

mod defs;
mod ledger;
mod plan;
mod presets;
mod probe;
mod settings;
mod status;
mod units;

pub use defs::{PoolDef, PoolSetup, pool_setup};
pub use ledger::{
    CallCounts, DEFAULT_EVIDENCE_WINDOW, EvidenceMark, PoolBook, PoolNotice, PoolObservation,
    PoolSpentReason, PoolState, QuotaErrorSeen, RefillCause,
};
pub use plan::{Member, Pool, implicit_pools, plan_pools};
pub use presets::{MAGICUBE_POOL, OPENROUTER_FREE_POOL, Preset};
pub use probe::ProbeRequest;
pub use settings::{PoolTable, PresetChoice, Refill};
pub use status::PoolStatus;
pub use units::{Capacity, Units};

#[cfg(test)]
mod tests;
