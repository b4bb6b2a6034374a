//! Engine-time half of pools: definitions resolved against the rotation and OpenClaw's aliases into
//! the pools the ledger keeps. Also today's implicit pools, so no new settings means no change.

use std::collections::BTreeMap;

use jiff::SignedDuration;

use super::defs::{PoolDef, PoolSetup};
use super::settings::Refill;
use super::units::Units;
use crate::openclaw::config::alias_key;
use crate::policy::RotationModel;
use crate::quota_calendar::QuotaCalendar;

/// Who draws from a pool: one ref, or every ref around a `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Exact(String),
    Glob { prefix: String, suffix: String },
}

impl Member {
    /// `pattern` is a ref, an alias (looked up in `aliases`, alias → ref) or a glob.
    pub fn resolve(pattern: &str, aliases: &BTreeMap<String, String>) -> Member {
        match pattern.split_once('*') {
            Some((prefix, suffix)) => Member::Glob {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
            },
            None => Member::Exact(resolve_name(pattern, aliases)),
        }
    }

    pub fn matches(&self, model: &str) -> bool {
        match self {
            Member::Exact(m) => m == model,
            Member::Glob { prefix, suffix } => {
                model.len() >= prefix.len() + suffix.len()
                    && model.starts_with(prefix.as_str())
                    && model.ends_with(suffix.as_str())
            }
        }
    }
}

/// `aliases` is keyed the way OpenClaw matches aliases ([`alias_key`]).
fn resolve_name(name: &str, aliases: &BTreeMap<String, String>) -> String {
    aliases
        .get(&alias_key(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

/// A budget some models draw from, ready for the ledger.
#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub members: Vec<Member>,
    /// Per period (the pool clock's day); None: unknown, only evidence spends the pool.
    pub capacity: Option<Units>,
    pub unit: String,
    pub refill: Refill,
    /// The pool's own calendar: its count period, and its reset for `refill = "daily"`.
    pub clock: QuotaCalendar,
    pub probe_every: Option<SignedDuration>,
    /// Where a probe asks the balance instead of sending a call.
    pub balance_url: Option<String>,
    /// By full ref; a member not listed costs 1.
    pub costs: BTreeMap<String, Units>,
    /// Kept back from the capacity: the pool has no room once `used + cost > capacity - reserve`.
    pub reserve: Units,
}

impl Pool {
    pub fn draws(&self, model: &str) -> bool {
        self.members.iter().any(|m| m.matches(model))
    }

    pub fn cost_of(&self, model: &str) -> Units {
        self.costs.get(model).copied().unwrap_or(Units::ONE)
    }

    /// The least a member call can cost: below it, no member has room.
    pub fn cheapest_cost(&self) -> Units {
        let all_priced = self.members.iter().all(|m| match m {
            Member::Exact(r) => self.costs.contains_key(r),
            Member::Glob { .. } => false,
        });
        let listed = self.costs.values().copied().min();
        match (all_priced, listed) {
            (true, Some(min)) => min,
            (_, Some(min)) => min.min(Units::ONE),
            (_, None) => Units::ONE,
        }
    }
}

/// Today's rule as pools: each rotation model of `provider` its own daily pool named by its ref,
/// capacity its limit (None: unknown), cost 1, `reserve` calls kept back, reset on `clock`.
pub fn implicit_pools(
    rotation: &[RotationModel],
    provider: &str,
    clock: &QuotaCalendar,
    reserve: u32,
) -> Vec<Pool> {
    let prefix = format!("{provider}/");
    rotation
        .iter()
        .filter(|m| m.model.starts_with(&prefix))
        .map(|m| Pool {
            name: m.model.clone(),
            members: vec![Member::Exact(m.model.clone())],
            capacity: m.limit.map(|n| Units::whole(u64::from(n))),
            unit: "calls".into(),
            refill: Refill::Daily,
            clock: clock.clone(),
            probe_every: None,
            balance_url: None,
            costs: BTreeMap::new(),
            reserve: Units::whole(u64::from(reserve)),
        })
        .collect()
}

/// The pools in force for this rotation: the per-model daily pools when the preset asks for them
/// (a defined pool named like a model's ref replaces that model's), then the defined pools. Also
/// warnings for members and costs that name no rotation model.
pub fn plan_pools(
    setup: &PoolSetup,
    rotation: &[RotationModel],
    provider: &str,
    aliases: &BTreeMap<String, String>,
    reserve: u32,
) -> (Vec<Pool>, Vec<String>) {
    let mut pools = Vec::new();
    if setup.per_model_daily {
        pools.extend(
            implicit_pools(rotation, provider, &setup.default_clock, reserve)
                .into_iter()
                .filter(|p| !setup.pools.iter().any(|d| d.name == p.name)),
        );
    }
    let mut warnings = Vec::new();
    for def in &setup.pools {
        let pool = resolve_def(def, aliases);
        warnings.extend(unmatched(def, &pool, rotation));
        pools.push(pool);
    }
    (pools, warnings)
}

fn resolve_def(def: &PoolDef, aliases: &BTreeMap<String, String>) -> Pool {
    Pool {
        name: def.name.clone(),
        members: def
            .members
            .iter()
            .map(|p| Member::resolve(p, aliases))
            .collect(),
        capacity: def.capacity.known(),
        unit: def.unit.clone(),
        refill: def.refill,
        clock: def.clock.clone(),
        probe_every: def.probe_every,
        balance_url: def.balance_url.clone(),
        costs: def
            .costs
            .iter()
            .map(|(name, cost)| (resolve_name(name, aliases), *cost))
            .collect(),
        reserve: Units::ZERO,
    }
}

fn unmatched(def: &PoolDef, pool: &Pool, rotation: &[RotationModel]) -> Vec<String> {
    let mut warnings = Vec::new();
    for (pattern, member) in def.members.iter().zip(&pool.members) {
        if !rotation.iter().any(|m| member.matches(&m.model)) {
            warnings.push(format!(
                "pool {}: {pattern} matches no model of the rotation",
                def.name
            ));
        }
    }
    for model in pool.costs.keys() {
        if !pool.draws(model) {
            warnings.push(format!(
                "pool {}: cost names {model}, which does not draw from this pool",
                def.name
            ));
        }
    }
    warnings
}
