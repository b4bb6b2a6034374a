//! Settings-time half of pools: presets merged with the user's `[[pools]]` tables into checked
//! definitions. Needs no OpenClaw config, so a bad table stops `msclawd` at load, naming the pool.

use std::collections::BTreeMap;

use jiff::SignedDuration;

use super::settings::{PoolTable, PresetChoice, Refill};
use super::units::{Capacity, Units};
use crate::quota_calendar::QuotaCalendar;

/// One pool as defined; member patterns and cost keys are still refs, aliases or globs.
#[derive(Debug, Clone)]
pub struct PoolDef {
    pub name: String,
    pub members: Vec<String>,
    pub capacity: Capacity,
    pub unit: String,
    pub refill: Refill,
    pub clock: QuotaCalendar,
    pub probe_every: Option<SignedDuration>,
    /// Where a probe asks the balance instead of sending a call.
    pub balance_url: Option<String>,
    pub costs: BTreeMap<String, Units>,
}

/// Everything the settings say about pools.
#[derive(Debug, Clone)]
pub struct PoolSetup {
    /// Each rotation model of the provider draws from its own daily pool (today's rule).
    pub per_model_daily: bool,
    pub pools: Vec<PoolDef>,
    /// The top-level `reset_time` / `time_zone`: the per-model pools' calendar.
    pub default_clock: QuotaCalendar,
}

/// Merges the presets' tables with the user's (same `name`: the user's keys win) and checks them.
/// `time_zone` and `reset_time` are the top-level settings, each pool's default.
pub fn pool_setup(
    preset: Option<&PresetChoice>,
    tables: &[PoolTable],
    time_zone: &str,
    reset_time: &str,
) -> Result<PoolSetup, String> {
    let presets = preset.cloned().unwrap_or_default().0;
    let mut merged: Vec<PoolTable> = presets.iter().flat_map(|p| p.tables()).collect();
    let preset_names = merged.len();
    for (i, table) in tables.iter().enumerate() {
        if table.name.trim().is_empty() {
            return Err("[[pools]]: a pool needs a non-empty name".into());
        }
        if tables[..i].iter().any(|t| t.name == table.name) {
            return Err(format!(
                "[[pools]] {:?}: the name is used twice",
                table.name
            ));
        }
        match merged[..preset_names]
            .iter_mut()
            .find(|t| t.name == table.name)
        {
            Some(base) => override_table(base, table),
            None => merged.push(table.clone()),
        }
    }
    let pools = merged
        .into_iter()
        .map(|t| define(t, time_zone, reset_time))
        .collect::<Result<Vec<_>, _>>()?;
    let default_clock = QuotaCalendar::new(time_zone, reset_time)?;
    Ok(PoolSetup {
        per_model_daily: presets.iter().any(|p| p.per_model_daily()),
        pools,
        default_clock,
    })
}

/// The keys `over` gives replace `base`'s; costs merge per model.
fn override_table(base: &mut PoolTable, over: &PoolTable) {
    fn take<T: Clone>(slot: &mut Option<T>, new: &Option<T>) {
        if new.is_some() {
            slot.clone_from(new);
        }
    }
    take(&mut base.models, &over.models);
    take(&mut base.capacity, &over.capacity);
    take(&mut base.unit, &over.unit);
    take(&mut base.refill, &over.refill);
    take(&mut base.reset_time, &over.reset_time);
    take(&mut base.time_zone, &over.time_zone);
    take(&mut base.probe_minutes, &over.probe_minutes);
    take(&mut base.balance_url, &over.balance_url);
    base.cost
        .extend(over.cost.iter().map(|(k, v)| (k.clone(), *v)));
}

fn define(t: PoolTable, time_zone: &str, reset_time: &str) -> Result<PoolDef, String> {
    let name = t.name;
    let bad = |what: String| format!("[[pools]] {name:?}: {what}");
    let members = t
        .models
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("models is missing or empty".into()))?;
    for pattern in &members {
        check_pattern(pattern).map_err(bad)?;
    }
    let capacity = t
        .capacity
        .ok_or_else(|| bad("capacity is missing (a number, or \"unknown\")".into()))?;
    if capacity == Capacity::Units(Units::ZERO) {
        return Err(bad(
            "capacity must be more than 0 (leave a model out of `models` instead)".into(),
        ));
    }
    let probe_every = match t.probe_minutes {
        Some(0) => return Err(bad("probe_minutes must be at least 1".into())),
        Some(m) => Some(SignedDuration::from_mins(i64::from(m))),
        None => None,
    };
    if let Some(url) = &t.balance_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(bad(format!(
            "balance_url must be an http(s) URL, found {url:?}"
        )));
    }
    if t.balance_url.is_some() && probe_every.is_none() {
        return Err(bad(
            "balance_url is asked only when a probe is due: set probe_minutes too".into(),
        ));
    }
    let clock = QuotaCalendar::new(
        t.time_zone.as_deref().unwrap_or(time_zone),
        t.reset_time.as_deref().unwrap_or(reset_time),
    )
    .map_err(bad)?;
    Ok(PoolDef {
        members,
        capacity,
        unit: t.unit.unwrap_or_else(|| "calls".into()),
        refill: t.refill.unwrap_or(Refill::Daily),
        clock,
        probe_every,
        balance_url: t.balance_url,
        costs: t.cost,
        name,
    })
}

/// A ref, an alias, or a glob with one `*` (`provider/*`, `openrouter/*:free`).
fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("models lists an empty name".into());
    }
    if pattern.matches('*').count() > 1 {
        return Err(format!(
            "models entry {pattern:?} has more than one `*` (write provider/*)"
        ));
    }
    Ok(())
}
