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
//! How the engine uses it (`engine/pools.rs`):
//! - it keeps one [`PoolBook`] of the *named* pools (its `states` are saved in the state file
//!   beside the day state); the per-model daily pools of `modelscope-daily` stay the policy's own
//!   per-model limits (`RotationModel::limit`), so with no pool settings the book is empty;
//! - each usage event also goes to [`PoolBook::observe`] as a [`PoolObservation`] (transcript call,
//!   relay call, or a 429), and each tick calls [`PoolBook::tick`]; the [`PoolNotice`]s become
//!   `pool_spent` / `pool_refilled` events, and a refill clears its members' 429 marks;
//! - the policy's choice is `DayState::decide_in` with the book as its gate: the first rotation
//!   model that is not spent per model and has room in all its pools. A pool changes only on a
//!   count, evidence or its reset, never by time alone, so the choice moves back to an earlier
//!   model (e.g. from OpenRouter to ModelScope) only on such an event: no flapping;
//! - `status` gains `pools` from [`PoolBook::status`] ([`PoolStatus`]).
//!
//! - each loop turn asks [`PoolBook::probe_due`]; a [`ProbeRequest`] is marked sent and handed to
//!   the prober (`crate::prober`), whose answer comes back through the inbox to
//!   [`PoolBook::probe_result`]; the engine wakes at [`PoolBook::next_probe_at`].

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
pub use probe::{ProbeCheck, ProbeRequest};
pub use settings::{PoolTable, PresetChoice, Refill};
pub use status::PoolStatus;
pub use units::{Capacity, Units};

#[cfg(test)]
mod tests;
