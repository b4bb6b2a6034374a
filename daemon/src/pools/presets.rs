//! Built-in presets: pools a user names instead of writing numbers. Each is written as the
//! `[[pools]]` tables a user would write, so a user table of the same `name` overrides it key by key
//! through the same path. Every number says where and when it comes from.

use std::collections::BTreeMap;

use super::settings::{PoolTable, Refill};
use super::units::{Capacity, Units};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The guide's rule and msclaw's default: each ModelScope model its own daily pool of
    /// `daily_limit` calls (500; `[limits]` per model), reset at `reset_time` in `time_zone`
    /// (00:00 Asia/Shanghai). Source: the request-count era, 2025 to about 2026-07 (Cherry Studio
    /// docs "计费与额度规则", claude-code-router #462, 2025-08-06; research/modelscope.md §1a).
    ModelscopeDaily,
    /// ModelScope's magicube (魔粒) metering since about 2026-08: one account-wide balance,
    /// 250 a day (200 for a web sign-in + 50 with a bound Aliyun account; official 魔粒 page, docs
    /// build 2026-08-07), spent at 0.5 (lite), 1 (standard) or 2 (flagship) per call (official limits
    /// page as quoted by mvalentsev/awesome-free-ai-coding, read 2026-09-19 and 2026-10-05). Known
    /// prices from a spot check of 2026-08-08: Qwen3.5-397B-A17B 2, MiniMax-M3 1; no public
    /// model→tier table exists, so other models cost the default 1. Grants arrive on a web session
    /// and expire after 24 h, so the refill is `unknown` (AgentHub notes, 2026-10-06;
    /// research/modelscope.md §7).
    ModelscopeMagicube,
    /// OpenRouter's `:free` models: one request count per account across all of them, 50 a day
    /// (1,000 once 10 credits were ever bought), reset at 00:00 UTC. Source: OpenRouter docs
    /// "Free Variant" (`FREE_MODEL_NO_CREDITS_RPD = 50`) and `free_model_daily_requests` of
    /// `GET /api/v1/key` ("resets at UTC midnight"), read 2026-12-03. The lower number is used:
    /// a user with credits overrides `capacity`.
    OpenrouterFree,
}

/// The pool name and member pattern of the magicube preset.
pub const MAGICUBE_POOL: &str = "modelscope";
pub const OPENROUTER_FREE_POOL: &str = "openrouter-free";

impl Preset {
    pub const ALL: [Preset; 3] = [
        Preset::ModelscopeDaily,
        Preset::ModelscopeMagicube,
        Preset::OpenrouterFree,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::ModelscopeDaily => "modelscope-daily",
            Preset::ModelscopeMagicube => "modelscope-magicube",
            Preset::OpenrouterFree => "openrouter-free",
        }
    }

    pub fn from_name(name: &str) -> Result<Preset, String> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown preset {name:?}, expected one of {}",
                    known.join(", ")
                )
            })
    }

    /// Whether each rotation model of the provider gets today's per-model daily pool.
    pub fn per_model_daily(self) -> bool {
        self == Preset::ModelscopeDaily
    }

    /// The named pools this preset defines, as `[[pools]]` tables.
    pub fn tables(self) -> Vec<PoolTable> {
        match self {
            Preset::ModelscopeDaily => Vec::new(),
            Preset::ModelscopeMagicube => vec![PoolTable {
                name: MAGICUBE_POOL.into(),
                models: Some(vec!["modelscope/*".into()]),
                capacity: Some(Capacity::Units(Units::whole(250))),
                unit: Some("magicube".into()),
                refill: Some(Refill::Unknown),
                cost: BTreeMap::from([
                    ("modelscope/Qwen/Qwen3.5-397B-A17B".into(), Units::whole(2)),
                    ("modelscope/MiniMax/MiniMax-M3".into(), Units::whole(1)),
                ]),
                ..PoolTable::default()
            }],
            Preset::OpenrouterFree => vec![PoolTable {
                name: OPENROUTER_FREE_POOL.into(),
                models: Some(vec!["openrouter/*:free".into()]),
                capacity: Some(Capacity::Units(Units::whole(50))),
                unit: Some("calls".into()),
                refill: Some(Refill::Daily),
                reset_time: Some("00:00".into()),
                time_zone: Some("UTC".into()),
                ..PoolTable::default()
            }],
        }
    }
}
