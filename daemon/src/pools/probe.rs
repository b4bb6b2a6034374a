//! When to ask whether an evidence-spent pool is back. The module only decides; the engine hands
//! the request to the prober (`crate::prober`: a minimal chat completion of the chosen model, or
//! the pool's balance endpoint) and reports the answer here.

use jiff::Timestamp;

use super::ledger::{PoolBook, PoolNotice, RefillCause};
use super::plan::Pool;
use super::settings::Refill;
use super::units::Units;

/// A probe the engine should send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub pool: String,
    /// The cheapest member of the rotation (the earliest among equals).
    pub model: String,
    pub check: ProbeCheck,
}

/// How a probe asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCheck {
    /// One minimal call of `model`: served means the pool is back.
    Call,
    /// The pool's `balance_url`, with `model`'s provider key: back when the balance is at least
    /// `at_least` (the cheapest member's cost).
    Balance { url: String, at_least: Units },
}

impl PoolBook {
    /// The probe due at `now`, if any. A pool is probed only when it has `probe_minutes`, its
    /// refill time is not known (spent by evidence, or a count with `refill = "unknown"`), it
    /// keeps a model ranked before `active` out of use (so it is why OpenClaw is not on its first
    /// choice), and an interval has passed since it was spent or last probed.
    pub fn probe_due(
        &self,
        now: Timestamp,
        rotation: &[String],
        active: Option<&str>,
    ) -> Option<ProbeRequest> {
        self.pools.iter().find_map(|pool| {
            self.planned_probe(pool, rotation, active)
                .filter(|(at, _)| *at <= now)
                .map(|(_, request)| request)
        })
    }

    /// When the next probe falls due as things stand (the engine wakes then).
    pub fn next_probe_at(&self, rotation: &[String], active: Option<&str>) -> Option<Timestamp> {
        self.pools
            .iter()
            .filter_map(|pool| self.planned_probe(pool, rotation, active))
            .map(|(at, _)| at)
            .min()
    }

    /// `pool`'s next probe and when it is due, if the pool is to be probed at all.
    fn planned_probe(
        &self,
        pool: &Pool,
        rotation: &[String],
        active: Option<&str>,
    ) -> Option<(Timestamp, ProbeRequest)> {
        let ahead = active
            .and_then(|a| rotation.iter().position(|m| m == a))
            .map_or(rotation, |pos| &rotation[..pos]);
        let every = pool.probe_every?;
        let since = self.waiting_since(pool)?;
        let blocks_ahead = ahead
            .iter()
            .any(|m| pool.draws(m) && self.no_room_reason(pool, m).is_some());
        if !blocks_ahead {
            return None;
        }
        let last = self
            .state(&pool.name)
            .and_then(|s| s.last_probe)
            .map_or(since, |p| p.max(since));
        let model = cheapest_member(pool, rotation)?;
        let check = match &pool.balance_url {
            Some(url) => ProbeCheck::Balance {
                url: url.clone(),
                at_least: pool.cost_of(&model),
            },
            None => ProbeCheck::Call,
        };
        let request = ProbeRequest {
            pool: pool.name.clone(),
            model,
            check,
        };
        Some((last + every, request))
    }

    /// Since when `pool` has been spent with no known refill time.
    fn waiting_since(&self, pool: &Pool) -> Option<Timestamp> {
        let state = self.state(&pool.name)?;
        let evidence = state.evidence.as_ref().map(|m| m.at);
        let count = state.full_since.filter(|_| pool.refill == Refill::Unknown);
        evidence.into_iter().chain(count).min()
    }

    /// The engine sent a probe for `pool` at `at`.
    pub fn probe_sent(&mut self, pool: &str, at: Timestamp) {
        if let Some(state) = self.states.get_mut(pool) {
            state.last_probe = Some(at);
        }
    }

    /// The probe's answer: served means the pool is back (its marks and counts clear); a quota
    /// error leaves it spent until the next interval.
    pub fn probe_result(&mut self, pool: &str, at: Timestamp, served: bool) -> Option<PoolNotice> {
        let state = self.states.get_mut(pool)?;
        state.last_probe = Some(state.last_probe.map_or(at, |t| t.max(at)));
        if !served || (state.evidence.is_none() && state.full_since.is_none()) {
            return None;
        }
        state.evidence = None;
        state.full_since = None;
        state.counts.clear();
        state.recent_errors.clear();
        Some(PoolNotice::Refilled {
            pool: pool.to_owned(),
            cause: RefillCause::Probe,
        })
    }
}

fn cheapest_member(pool: &Pool, rotation: &[String]) -> Option<String> {
    rotation
        .iter()
        .filter(|m| pool.draws(m))
        .min_by_key(|m| pool.cost_of(m))
        .cloned()
}
