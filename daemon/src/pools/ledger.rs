//! What each pool has spent this period, the evidence that spent it, and which models have room.
//! Pure: observations and instants come in as plain values.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::plan::Pool;
use super::settings::Refill;
use super::units::Units;

/// Quota errors from two or more members within this long, with no success between, spend a pool.
pub const DEFAULT_EVIDENCE_WINDOW: SignedDuration = SignedDuration::from_mins(5);

/// What a usage source saw about one model, reduced to what pools need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolObservation {
    /// A call the provider served, from a transcript.
    Call,
    /// A call the metering relay saw served. Where both sources count a model, the larger count
    /// wins (as `policy::ModelDay::calls`); they are never added.
    RelayCall,
    /// A quota error: 429, or ModelScope's 402/403 balance errors.
    QuotaError,
}

/// One model's calls this period, by source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    pub transcript: u32,
    pub relay: u32,
}

impl CallCounts {
    pub fn calls(self) -> u32 {
        self.transcript.max(self.relay)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaErrorSeen {
    pub at: Timestamp,
    pub model: String,
}

/// Evidence that the whole pool is spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceMark {
    pub at: Timestamp,
    /// The members whose quota errors spent it.
    pub models: Vec<String>,
}

/// One pool's ledger; kept across restarts by the state store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolState {
    /// The pool clock's day the counts belong to.
    pub period: Option<Date>,
    pub counts: BTreeMap<String, CallCounts>,
    /// When the count left no room for the cheapest member. For `refill = "unknown"` this holds
    /// across periods until evidence says the pool is back.
    pub full_since: Option<Timestamp>,
    pub evidence: Option<EvidenceMark>,
    /// Quota errors since the last success of any member, within the evidence window.
    pub recent_errors: Vec<QuotaErrorSeen>,
    pub last_success: Option<Timestamp>,
    pub last_probe: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PoolSpentReason {
    CapacityReached { used: Units, capacity: Units },
    QuotaErrors { models: Vec<String> },
}

impl fmt::Display for PoolSpentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolSpentReason::CapacityReached { used, capacity } => {
                write!(f, "capacity reached ({used}/{capacity})")
            }
            PoolSpentReason::QuotaErrors { models } => write!(
                f,
                "quota errors from {} with no success between",
                models.join(" and ")
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefillCause {
    /// The pool's daily reset.
    Reset,
    /// A member was served after the pool was spent.
    Success { model: String },
    /// A probe came back served.
    Probe,
}

impl fmt::Display for RefillCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefillCause::Reset => write!(f, "daily reset"),
            RefillCause::Success { model } => write!(f, "{model} was served"),
            RefillCause::Probe => write!(f, "a probe was served"),
        }
    }
}

/// Something a pool did; the engine turns these into events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PoolNotice {
    Spent {
        pool: String,
        reason: PoolSpentReason,
    },
    Refilled {
        pool: String,
        cause: RefillCause,
    },
}

/// The pools in force and their ledgers.
#[derive(Debug, Clone)]
pub struct PoolBook {
    pub pools: Vec<Pool>,
    /// By pool name.
    pub states: BTreeMap<String, PoolState>,
    pub evidence_window: SignedDuration,
}

impl PoolBook {
    pub fn new(pools: Vec<Pool>) -> Self {
        Self {
            pools,
            states: BTreeMap::new(),
            evidence_window: DEFAULT_EVIDENCE_WINDOW,
        }
    }

    pub fn state(&self, pool: &str) -> Option<&PoolState> {
        self.states.get(pool)
    }

    /// The amount a pool has spent this period.
    pub fn used(&self, pool: &Pool) -> Units {
        self.states.get(&pool.name).map_or(Units::ZERO, |s| {
            s.counts.iter().fold(Units::ZERO, |sum, (model, c)| {
                sum.saturating_add(pool.cost_of(model).times(c.calls()))
            })
        })
    }

    /// Takes one observation of `model` at `at`, for every pool it draws from.
    pub fn observe(&mut self, model: &str, at: Timestamp, obs: PoolObservation) -> Vec<PoolNotice> {
        let mut notices = Vec::new();
        for i in 0..self.pools.len() {
            if !self.pools[i].draws(model) {
                continue;
            }
            notices.extend(self.roll(i, at));
            match obs {
                PoolObservation::Call | PoolObservation::RelayCall => {
                    notices.extend(self.success(i, model, at, obs));
                }
                PoolObservation::QuotaError => notices.extend(self.quota_error(i, model, at)),
            }
        }
        notices
    }

    /// Starts each pool's period that `now` has reached: counts clear, and daily pools refill.
    pub fn tick(&mut self, now: Timestamp) -> Vec<PoolNotice> {
        (0..self.pools.len())
            .flat_map(|i| self.roll(i, now))
            .collect()
    }

    fn roll(&mut self, i: usize, at: Timestamp) -> Option<PoolNotice> {
        let pool = &self.pools[i];
        let day = pool.clock.day_of(at);
        let state = self.states.entry(pool.name.clone()).or_default();
        match state.period {
            Some(period) if period >= day => return None,
            Some(_) => {}
            None => {
                state.period = Some(day);
                return None;
            }
        }
        state.period = Some(day);
        state.counts.clear();
        // An unknown refill's marks wait for evidence; only the count period turns.
        if pool.refill == Refill::Unknown {
            return None;
        }
        let was_spent = state.full_since.is_some() || state.evidence.is_some();
        *state = PoolState {
            period: Some(day),
            ..PoolState::default()
        };
        was_spent.then(|| PoolNotice::Refilled {
            pool: pool.name.clone(),
            cause: RefillCause::Reset,
        })
    }

    fn success(
        &mut self,
        i: usize,
        model: &str,
        at: Timestamp,
        obs: PoolObservation,
    ) -> Vec<PoolNotice> {
        let mut notices = Vec::new();
        let pool = &self.pools[i];
        let state = self.states.entry(pool.name.clone()).or_default();
        state.last_success = Some(state.last_success.map_or(at, |t| t.max(at)));
        state.recent_errors.retain(|e| e.at > at);
        // Evidence of quota errors is answered by a later success; so is an unknown refill's
        // count: a served call means a grant came.
        let evidence_answered = state.evidence.as_ref().is_some_and(|m| at > m.at);
        let count_answered =
            pool.refill == Refill::Unknown && state.full_since.is_some_and(|t| at > t);
        if evidence_answered || count_answered {
            state.evidence = None;
            // With an unknown refill the count runs from the last refill seen: a grant came.
            if count_answered || pool.refill == Refill::Unknown {
                state.full_since = None;
                state.counts.clear();
            }
            notices.push(PoolNotice::Refilled {
                pool: pool.name.clone(),
                cause: RefillCause::Success {
                    model: model.to_owned(),
                },
            });
        }
        // A late record from an earlier period still answers evidence but counts for nothing.
        if state.period != Some(pool.clock.day_of(at)) {
            return notices;
        }
        let counts = state.counts.entry(model.to_owned()).or_default();
        match obs {
            PoolObservation::RelayCall => counts.relay += 1,
            _ => counts.transcript += 1,
        }
        if state.full_since.is_none()
            && let Some(reason) = self.full_reason(i)
        {
            let pool = &self.pools[i];
            let state = self.states.get_mut(&pool.name).expect("rolled above");
            state.full_since = Some(at);
            notices.push(PoolNotice::Spent {
                pool: pool.name.clone(),
                reason,
            });
        }
        notices
    }

    fn quota_error(&mut self, i: usize, model: &str, at: Timestamp) -> Option<PoolNotice> {
        let pool = &self.pools[i];
        let window = self.evidence_window;
        let state = self.states.entry(pool.name.clone()).or_default();
        let last_success = state.last_success;
        // A late record of an error from before the last success proves nothing.
        if last_success.is_some_and(|s| s >= at) {
            return None;
        }
        state.recent_errors.push(QuotaErrorSeen {
            at,
            model: model.to_owned(),
        });
        state
            .recent_errors
            .retain(|e| e.at >= at - window && last_success.is_none_or(|s| e.at > s));
        let mut models: Vec<String> = state
            .recent_errors
            .iter()
            .map(|e| e.model.clone())
            .collect();
        models.sort();
        models.dedup();
        if models.len() < 2 || state.evidence.is_some() {
            return None;
        }
        state.evidence = Some(EvidenceMark {
            at,
            models: models.clone(),
        });
        Some(PoolNotice::Spent {
            pool: pool.name.clone(),
            reason: PoolSpentReason::QuotaErrors { models },
        })
    }

    /// Why the count leaves no room for even the cheapest member, if it does not.
    fn full_reason(&self, i: usize) -> Option<PoolSpentReason> {
        let pool = &self.pools[i];
        let capacity = pool.capacity?;
        let used = self.used(pool);
        (!count_has_room(pool, used, pool.cheapest_cost()))
            .then_some(PoolSpentReason::CapacityReached { used, capacity })
    }

    /// Why `pool` has no room for a call of `model` now, if it has none.
    pub fn no_room_reason(&self, pool: &Pool, model: &str) -> Option<PoolSpentReason> {
        let state = self.states.get(&pool.name);
        if let Some(mark) = state.and_then(|s| s.evidence.as_ref()) {
            return Some(PoolSpentReason::QuotaErrors {
                models: mark.models.clone(),
            });
        }
        let capacity = pool.capacity?;
        let used = self.used(pool);
        let held = pool.refill == Refill::Unknown && state.is_some_and(|s| s.full_since.is_some());
        (held || !count_has_room(pool, used, pool.cost_of(model)))
            .then_some(PoolSpentReason::CapacityReached { used, capacity })
    }

    /// The pools that have no room for a call of `model`, by name.
    pub fn blocking(&self, model: &str) -> Vec<&str> {
        self.pools
            .iter()
            .filter(|p| p.draws(model) && self.no_room_reason(p, model).is_some())
            .map(|p| p.name.as_str())
            .collect()
    }

    /// A model is available when every pool it draws from has room for its cost.
    pub fn has_room(&self, model: &str) -> bool {
        self.blocking(model).is_empty()
    }

    /// The first model of `rotation` whose pools all have room and that `excluded` (the policy's
    /// own per-model marks) does not rule out.
    pub fn first_available<'a>(
        &self,
        rotation: &'a [String],
        excluded: impl Fn(&str) -> bool,
    ) -> Option<&'a str> {
        rotation
            .iter()
            .map(String::as_str)
            .find(|m| !excluded(m) && self.has_room(m))
    }
}

/// Whether a call costing `cost` fits. An unused pool always has room: its first call tells
/// (as today, where a model is marked spent only when a call reaches the limit).
fn count_has_room(pool: &Pool, used: Units, cost: Units) -> bool {
    let Some(capacity) = pool.capacity else {
        return true;
    };
    used == Units::ZERO || used.saturating_add(cost) <= capacity.saturating_sub(pool.reserve)
}
