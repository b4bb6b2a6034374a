//! The shared quota pools (issue 14) in the engine: the book planned from the settings and the
//! rotation, fed every call and quota error, turned at each pool's own reset, and asked which
//! models have room. The per-model daily rule of `modelscope-daily` stays the policy's own
//! (`RotationModel::limit`), so with no pool settings the book is empty and nothing changes.

use std::collections::BTreeMap;

use jiff::Timestamp;
use msclaw_shared::EventKind;

use super::Engine;
use crate::openclaw::OpenClawConfig;
use crate::policy::{Observation, RotationModel};
use crate::pools::{PoolBook, PoolNotice, PoolObservation, PoolSetup, Refill, Units, plan_pools};
use crate::state_store::DayPoolRecord;

/// The pools in force for `rotation`: the settings' named pools (presets and `[[pools]]`) resolved
/// against OpenClaw's aliases, and warnings for names that match nothing. The per-model daily
/// pools are left out: the policy keeps them as each model's limit.
pub(super) fn plan_book(
    setup: &PoolSetup,
    rotation: &[RotationModel],
    provider: &str,
    cfg: Option<&OpenClawConfig>,
) -> (PoolBook, Vec<String>) {
    let named_only = PoolSetup {
        per_model_daily: false,
        ..setup.clone()
    };
    // Pools resolve alias -> ref, as OpenClaw does (any case, the last alias wins).
    let aliases: BTreeMap<String, String> = cfg.map(|c| c.alias_refs.clone()).unwrap_or_default();
    let (pools, warnings) = plan_pools(&named_only, rotation, provider, &aliases, 0);
    (PoolBook::new(pools), warnings)
}

/// What a policy observation means to the pools. Plugin reports are left out: the transcripts
/// count the same calls, and the two would be added in one counter.
fn pool_observation(obs: &Observation) -> Option<PoolObservation> {
    match obs {
        Observation::Call => Some(PoolObservation::Call),
        Observation::RelayCall => Some(PoolObservation::RelayCall),
        Observation::RateLimited { .. } => Some(PoolObservation::QuotaError),
        Observation::PluginCall { .. } | Observation::NoneRemaining | Observation::Gone { .. } => {
            None
        }
    }
}

impl Engine {
    /// Rebuilds the book for the rotation just read, keeping the ledgers of pools that stay.
    pub(super) fn replan_pools(&mut self) {
        let (mut book, warnings) = plan_book(
            &self.settings.pools,
            &self.policy.models,
            &self.settings.provider,
            self.config.usable(),
        );
        let mut states = std::mem::take(&mut self.state.pools);
        states.retain(|name, _| book.pools.iter().any(|p| &p.name == name));
        book.states = states;
        self.pools = book;
        self.rotation_warnings.extend(warnings);
        self.tick_pools(self.clock.now());
    }

    /// One observation of `model` for every pool it draws from.
    pub(super) fn observe_pools(&mut self, model: &str, at: Timestamp, obs: &Observation) {
        let Some(obs) = pool_observation(obs) else {
            return;
        };
        if !self.pools.pools.iter().any(|p| p.draws(model)) {
            return;
        }
        let notices = self.pools.observe(model, at, obs);
        self.state.pools = self.pools.states.clone();
        self.announce_pools(notices);
    }

    /// Starts each pool's period that `now` has reached; true when a pool refilled.
    pub(super) fn tick_pools(&mut self, now: Timestamp) -> bool {
        let notices = self.pools.tick(now);
        self.state.pools = self.pools.states.clone();
        let refilled = notices
            .iter()
            .any(|n| matches!(n, PoolNotice::Refilled { .. }));
        self.announce_pools(notices);
        refilled
    }

    pub(super) fn announce_pools(&mut self, notices: Vec<PoolNotice>) {
        for notice in notices {
            match notice {
                PoolNotice::Spent { pool, reason } => {
                    tracing::info!(%pool, "pool spent: {reason}");
                    self.emit(EventKind::PoolSpent {
                        pool,
                        reason: reason.to_string(),
                    });
                }
                PoolNotice::Refilled { pool, cause } => {
                    let cause = cause.to_string();
                    tracing::info!(%pool, "pool refilled: {cause}");
                    self.clear_member_marks(&pool);
                    self.emit(EventKind::PoolRefilled { pool, cause });
                }
            }
        }
    }

    /// The refilled pool's members lose the quota-error marks its emptiness gave them.
    fn clear_member_marks(&mut self, pool: &str) {
        let Some(pool) = self.pools.pools.iter().find(|p| p.name == pool).cloned() else {
            return;
        };
        let members: Vec<String> = self
            .policy
            .models
            .iter()
            .filter(|m| pool.draws(&m.model))
            .map(|m| m.model.clone())
            .collect();
        if let Some(today) = self.state.today.as_mut() {
            for model in &members {
                today.pool_refilled(model, |m| pool.draws(m));
            }
        }
    }

    /// Why `model` has no room in a pool now (`pool NAME spent: ...`), for the policy.
    pub(super) fn pool_block(&self, model: &str) -> Option<String> {
        let pool = self
            .pools
            .pools
            .iter()
            .find(|p| p.draws(model) && self.pools.no_room_reason(p, model).is_some())?;
        let reason = self.pools.no_room_reason(pool, model)?;
        Some(format!("pool {} spent ({reason})", pool.name))
    }

    /// The next instant a pool starts a new period, if any pool has one before `until`.
    pub(super) fn next_pool_period(&self, now: Timestamp) -> Option<Timestamp> {
        self.pools
            .pools
            .iter()
            .map(|p| p.clock.next_reset(now))
            .min()
    }
}

impl Engine {
    /// Each pool as status shows it.
    pub(super) fn pool_statuses(&self, now: Timestamp) -> Vec<msclaw_shared::PoolStatus> {
        let rotation: Vec<String> = self.policy.models.iter().map(|m| m.model.clone()).collect();
        self.pools
            .status(now, &rotation)
            .into_iter()
            .map(|p| msclaw_shared::PoolStatus {
                name: p.name,
                unit: p.unit,
                capacity: p.capacity.map(amount),
                used: amount(p.used),
                remaining: p.remaining.map(amount),
                refill: match p.refill {
                    Refill::Daily => "daily",
                    Refill::Unknown => "unknown",
                }
                .to_owned(),
                next_refill: p.next_refill,
                spent: p.spent,
                spent_reason: p.spent_reason,
                models: p.models,
            })
            .collect()
    }
}

/// An amount on the wire: whole ones as integers, others as decimals.
fn amount(u: Units) -> serde_json::Number {
    if u.milli().is_multiple_of(1000) {
        serde_json::Number::from(u.milli() / 1000)
    } else {
        serde_json::Number::from_f64(u.milli() as f64 / 1000.0).unwrap_or_else(|| 0.into())
    }
}

impl Engine {
    /// Each pool's use now, for the day's history record.
    pub(super) fn pool_day_records(&self) -> Vec<DayPoolRecord> {
        self.pools
            .pools
            .iter()
            .map(|p| DayPoolRecord {
                name: p.name.clone(),
                unit: p.unit.clone(),
                used: self.pools.used(p),
                capacity: p.capacity,
            })
            .collect()
    }
}

/// A history record's pool on the wire.
pub(super) fn day_pool_usage(p: DayPoolRecord) -> msclaw_shared::DayPoolUsage {
    msclaw_shared::DayPoolUsage {
        name: p.name,
        unit: p.unit,
        used: amount(p.used),
        capacity: p.capacity.map(amount),
    }
}
