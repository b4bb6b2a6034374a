//! The policy with shared pools (issue 14), driven as the engine drives it: each observation goes
//! to the day's per-model marks and to the pool book, and the choice is `decide_in` with the book
//! as the gate. Tables of steps: what happened, and what `primary` is afterwards.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::*;
use crate::pools::{
    PoolBook, PoolNotice, PoolObservation, PoolTable, PresetChoice, plan_pools, pool_setup,
};

const Q: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";
const G: &str = "modelscope/ZhipuAI/GLM-5";
const K: &str = "modelscope/moonshotai/Kimi-K2.5";
const OR: &str = "openrouter/qwen/qwen3-coder:free";
const OL: &str = "ollama/qwen3:8b";

/// 10:00 in Shanghai, 02:00 UTC.
fn at(secs: i64) -> Timestamp {
    "2026-12-03T02:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(secs)
}

const H: i64 = 3600;

#[derive(Deserialize)]
struct Raw {
    preset: Option<PresetChoice>,
    #[serde(default)]
    pools: Vec<PoolTable>,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Call(&'static str, i64),
    Err(&'static str, i64),
    /// The clock reaches this instant with nothing seen (the engine's tick).
    Tick(i64),
}

/// One day's policy state, the pools and the primary, as the engine keeps them.
struct Chain {
    cfg: PolicyConfig,
    day: DayState,
    book: PoolBook,
    primary: String,
    switches: Vec<String>,
    notices: Vec<PoolNotice>,
}

impl Chain {
    /// `models` with per-model limits as `rotation_from` gives them (none under named pools).
    fn new(pools_toml: &str, models: &[&str], limit: Option<u32>) -> Chain {
        let raw: Raw = toml::from_str(pools_toml).unwrap();
        let mut setup =
            pool_setup(raw.preset.as_ref(), &raw.pools, "Asia/Shanghai", "00:00").unwrap();
        setup.per_model_daily = false;
        let rotation: Vec<RotationModel> = models
            .iter()
            .map(|m| RotationModel {
                model: m.to_string(),
                limit,
            })
            .collect();
        let (pools, warnings) = plan_pools(&setup, &rotation, "modelscope", &BTreeMap::new(), 0);
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut book = PoolBook::new(pools);
        book.tick(at(0));
        Chain {
            cfg: PolicyConfig::new(rotation),
            day: DayState::new(jiff::civil::date(2026, 12, 3)),
            book,
            primary: models[0].to_owned(),
            switches: Vec::new(),
            notices: Vec::new(),
        }
    }

    fn gate(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |m: &str| {
            let blocking = self.book.blocking(m);
            (!blocking.is_empty()).then(|| format!("pool {} spent", blocking.join(", ")))
        }
    }

    fn step(&mut self, step: Step) {
        let (model, secs, obs, pool_obs) = match step {
            Step::Call(m, s) => (m, s, Observation::Call, PoolObservation::Call),
            Step::Err(m, s) => (m, s, rl(), PoolObservation::QuotaError),
            Step::Tick(s) => {
                self.notices.extend(self.book.tick(at(s)));
                return self.decide(s);
            }
        };
        self.notices
            .extend(self.book.observe(model, at(secs), pool_obs));
        self.day.observe(&self.cfg, model, at(secs), &obs);
        self.decide(secs);
    }

    fn decide(&mut self, secs: i64) {
        let decision = {
            let gate = self.gate();
            self.day
                .decide_in(&self.cfg, &gate, false, Some(&self.primary))
        };
        if let Decision::SwitchTo { model, .. } = decision {
            let from = std::mem::replace(&mut self.primary, model.clone());
            self.day.note_switch(Some(&from), &model, at(secs));
            self.switches.push(model);
        }
    }

    /// Runs `steps`, checking `primary` after each.
    fn run(&mut self, name: &str, steps: &[(Step, &str)]) {
        for (i, (step, want)) in steps.iter().enumerate() {
            self.step(*step);
            assert_eq!(self.primary, *want, "{name}: after step {i} {step:?}");
        }
    }
}

fn rl() -> Observation {
    Observation::RateLimited {
        retry_loop_failed: false,
    }
}

use Step::{Call, Err, Tick};

#[test]
fn no_pools_leave_the_per_model_rule_alone() {
    let mut c = Chain::new("", &[Q, G], Some(2));
    assert!(c.book.pools.is_empty());
    c.run(
        "per model",
        &[(Call(Q, 1), Q), (Call(Q, 2), G), (Call(G, 3), G)],
    );
}

#[test]
fn overlapping_pools_with_costs_decide_the_choice() {
    // A per-model cap on Q and an account cap, costs 2 (Q) and 1 (others).
    let mut c = Chain::new(
        r#"
[[pools]]
name = "qwen"
models = ["modelscope/Qwen/Qwen3.5-397B-A17B"]
capacity = 4
[[pools]]
name = "account"
models = ["modelscope/*"]
capacity = 7
[pools.cost]
"modelscope/Qwen/Qwen3.5-397B-A17B" = 2
"#,
        &[Q, G, OR],
        None,
    );
    c.run(
        "overlap",
        &[
            // Q's own pool: 4 calls; the account: 2 each.
            (Call(Q, 1), Q),
            (Call(Q, 2), Q),
            // account used 6 of 7: Q (2) no longer fits, G (1) does.
            (Call(Q, 3), G),
            (Call(G, 4), OR),
            (Call(OR, 5), OR),
        ],
    );
    assert_eq!(c.book.blocking(Q), ["account"]);
}

#[test]
fn a_pool_spent_by_two_members_moves_the_chain_to_another_provider_at_once() {
    let mut c = Chain::new(
        "preset = \"modelscope-magicube\"\n[[pools]]\nname = \"modelscope\"\ncapacity = \"unknown\"\n",
        &[Q, G, K, OR],
        None,
    );
    c.run(
        "evidence",
        &[
            (Call(Q, 1), Q),
            // One 429 of Q is a throttle; a second member's 429 soon after spends the account.
            (Err(Q, 10), Q),
            (Err(G, 20), OR),
            (Call(OR, 30), OR),
            (Call(OR, 40), OR),
        ],
    );
    // Every ModelScope model at once, not one by one.
    for m in [Q, G, K] {
        assert!(!c.book.has_room(m), "{m}");
    }
    assert_eq!(c.switches, [OR]);
    assert!(
        matches!(&c.notices[..], [PoolNotice::Spent { pool, .. }] if pool == "modelscope"),
        "{:?}",
        c.notices
    );
}

#[test]
fn a_success_refills_an_evidence_spent_pool_and_the_chain_comes_back() {
    let mut c = Chain::new("preset = \"modelscope-magicube\"\n", &[Q, G, OR], None);
    c.run(
        "refill by success",
        &[
            (Err(Q, 10), Q),
            (Err(G, 20), OR),
            (Call(OR, 30), OR),
            // Hours pass: an unknown refill never comes back by time alone.
            (Tick(20 * H), OR),
            // A call of a member served (e.g. a pinned turn, or one the relay saw): back to Q.
            (Call(G, 20 * H + 10), Q),
            (Call(Q, 20 * H + 20), Q),
        ],
    );
    assert_eq!(c.switches, [OR, Q]);
}

#[test]
fn a_daily_pool_refills_at_its_own_reset_in_its_own_time_zone() {
    // OpenRouter's pool resets at 00:00 UTC (08:00 Shanghai); the ModelScope day is Shanghai's.
    let mut c = Chain::new(
        "preset = \"openrouter-free\"\n[[pools]]\nname = \"openrouter-free\"\ncapacity = 2\n",
        &[OR, OL],
        None,
    );
    // at(0) is 02:00 UTC; the next UTC midnight is 22 h later.
    c.run(
        "utc reset",
        &[
            (Call(OR, 1), OR),
            (Call(OR, 2), OL),
            (Call(OL, 3), OL),
            // 16:00 Shanghai = 08:00 UTC: no reset of the UTC pool yet.
            (Tick(6 * H), OL),
            // Midnight Shanghai passes (16:00 UTC): still the same UTC day.
            (Tick(14 * H + 60), OL),
            // 00:00 UTC: the pool is back and the chain with it.
            (Tick(22 * H + 1), OR),
        ],
    );
    assert!(
        c.notices
            .iter()
            .any(|n| matches!(n, PoolNotice::Refilled { pool, .. } if pool == "openrouter-free")),
        "{:?}",
        c.notices
    );
}

#[test]
fn the_chain_never_flaps_between_providers() {
    let mut c = Chain::new(
        "preset = [\"modelscope-magicube\", \"openrouter-free\"]\n",
        &[Q, G, OR],
        None,
    );
    let mut steps = vec![(Err(Q, 10), Q), (Err(G, 20), OR)];
    // Many turns on OpenRouter, with the clock moving: the choice stays put.
    for i in 0..40 {
        steps.push((Call(OR, 30 + i * 60), OR));
        steps.push((Tick(31 + i * 60), OR));
    }
    // Late 429s of ModelScope's members (a log read late) change nothing.
    steps.push((Err(K, 2500), OR));
    steps.push((Err(Q, 2510), OR));
    c.run("no flapping", &steps);
    assert_eq!(c.switches, [OR], "one switch, no back and forth");
}

#[test]
fn the_account_rule_stops_only_the_limited_provider() {
    // Today's rule: Q spent by 429s, G rate-limited at once after the switch: the account looks
    // limited. With another provider in the rotation the chain goes on there.
    let mut c = Chain::new("", &[Q, G, OR], None);
    c.run(
        "account",
        &[
            (Err(Q, 1), Q),
            (Err(Q, 2), Q),
            (Err(Q, 3), G),
            (Err(G, 4), G),
            (Err(G, 5), G),
            (Err(G, 6), OR),
            (Call(OR, 7), OR),
        ],
    );
    assert!(c.day.account_limited.is_some());
    // Without another provider it stops, as before.
    let mut c = Chain::new("", &[Q, G], None);
    c.run(
        "single provider",
        &[
            (Err(Q, 1), Q),
            (Err(Q, 2), Q),
            (Err(Q, 3), G),
            (Err(G, 4), G),
            (Err(G, 5), G),
            (Err(G, 6), G),
        ],
    );
    assert_eq!(
        c.day.decide_in(&c.cfg, &c.gate(), false, Some(G)),
        Decision::AllSpent
    );
}
