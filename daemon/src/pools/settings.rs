//! The TOML contract for pools: a top-level `preset` and `[[pools]]` tables. Scripts rely on these
//! key names: add, never rename. `settings.rs`'s raw struct carries the two fields:
//!
//! ```ignore
//! preset: Option<PresetChoice>,
//! #[serde(default)]
//! pools: Vec<PoolTable>,
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::presets::Preset;
use super::units::{Capacity, Units};

/// `preset = "name"`, or a list of names when the rotation spans providers
/// (`preset = ["modelscope-magicube", "openrouter-free"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetChoice(pub Vec<Preset>);

impl Default for PresetChoice {
    /// The guide's rule: each ModelScope model's own daily limit.
    fn default() -> Self {
        PresetChoice(vec![Preset::ModelscopeDaily])
    }
}

impl<'de> Deserialize<'de> for PresetChoice {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let names = match Raw::deserialize(de).map_err(|_| {
            serde::de::Error::custom("expected a preset name or a list of preset names")
        })? {
            Raw::One(name) => vec![name],
            Raw::Many(names) => names,
        };
        let presets = names
            .iter()
            .map(|n| Preset::from_name(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::de::Error::custom)?;
        if presets.is_empty() {
            return Err(serde::de::Error::custom("preset names no preset"));
        }
        Ok(PresetChoice(presets))
    }
}

/// How a spent pool comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refill {
    /// At `reset_time` in `time_zone`, the pool's own.
    Daily,
    /// When evidence says so: a success of any member model after it was spent, or a probe.
    Unknown,
}

/// One `[[pools]]` table as written. A `name` that a preset already defines overrides only the
/// keys given; a new name must give `models` and `capacity`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTable {
    pub name: String,
    /// Refs, aliases, or globs with one `*` (`modelscope/*`, `openrouter/*:free`).
    pub models: Option<Vec<String>>,
    pub capacity: Option<Capacity>,
    /// A label shown in status; default `calls`.
    pub unit: Option<String>,
    pub refill: Option<Refill>,
    /// Default: the top-level `reset_time` / `time_zone`.
    pub reset_time: Option<String>,
    pub time_zone: Option<String>,
    /// Probe an evidence-spent pool at most this often; no probes when absent.
    pub probe_minutes: Option<u32>,
    /// A provider endpoint that tells the account's balance to the provider's own key (ModelScope:
    /// `https://modelscope.cn/openapi/v1/magicubes/balance`); where set, a probe asks it instead
    /// of sending a call. Optional, and never required.
    pub balance_url: Option<String>,
    /// Per model, by ref or alias; default 1.
    #[serde(default)]
    pub cost: BTreeMap<String, Units>,
}
