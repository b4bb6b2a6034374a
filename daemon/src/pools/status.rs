//! Each pool as `msclawctl status` will show it (`pools: [...]` in the JSON; field names are the
//! wire contract).

use jiff::Timestamp;
use serde::Serialize;

use super::ledger::{PoolBook, PoolSpentReason};
use super::plan::Pool;
use super::settings::Refill;
use super::units::Units;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    pub name: String,
    pub unit: String,
    /// None when unknown.
    pub capacity: Option<Units>,
    pub used: Units,
    /// None when the capacity is unknown.
    pub remaining: Option<Units>,
    pub refill: Refill,
    /// RFC 3339 in the pool's time zone; None for `refill = "unknown"`.
    pub next_refill: Option<String>,
    /// No member has room.
    pub spent: bool,
    pub spent_reason: Option<String>,
    /// The rotation models that draw from the pool, in rotation order.
    pub models: Vec<String>,
}

impl PoolBook {
    /// Every pool at `now` (after [`PoolBook::tick`] for `now`), in definition order.
    pub fn status(&self, now: Timestamp, rotation: &[String]) -> Vec<PoolStatus> {
        self.pools
            .iter()
            .map(|pool| self.pool_status(pool, now, rotation))
            .collect()
    }

    fn pool_status(&self, pool: &Pool, now: Timestamp, rotation: &[String]) -> PoolStatus {
        let used = self.used(pool);
        let models: Vec<String> = rotation.iter().filter(|m| pool.draws(m)).cloned().collect();
        let spent_reason = self.spent_reason(pool, &models);
        PoolStatus {
            name: pool.name.clone(),
            unit: pool.unit.clone(),
            capacity: pool.capacity,
            used,
            remaining: pool.capacity.map(|c| c.saturating_sub(used)),
            refill: pool.refill,
            next_refill: (pool.refill == Refill::Daily)
                .then(|| pool.clock.format(pool.clock.next_reset(now))),
            spent: spent_reason.is_some(),
            spent_reason: spent_reason.map(|r| r.to_string()),
            models,
        }
    }

    /// Why no member has room: judged for the cheapest member of the rotation (any member when
    /// none is in the rotation).
    fn spent_reason(&self, pool: &Pool, members: &[String]) -> Option<PoolSpentReason> {
        match members.iter().min_by_key(|m| pool.cost_of(m)) {
            Some(cheapest) => self.no_room_reason(pool, cheapest),
            None => self.no_room_reason(pool, ""),
        }
    }
}
