use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::*;
use crate::policy::{DayState, Observation, PolicyConfig, RotationModel};
use crate::quota_calendar::QuotaCalendar;

const Q: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";
const G: &str = "modelscope/ZhipuAI/GLM-5";
const M3: &str = "modelscope/MiniMax/MiniMax-M3";
const K: &str = "modelscope/moonshotai/Kimi-K2.5";
const OR: &str = "openrouter/qwen/qwen3-coder:free";
const OR_PAID: &str = "openrouter/anthropic/claude-sonnet";
const OLLAMA: &str = "ollama/qwen3:8b";

use PoolObservation::{Call, QuotaError, RelayCall};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// 10:00 in Shanghai, 02:00 UTC.
fn at(secs: i64) -> Timestamp {
    ts("2026-12-03T02:00:00Z") + SignedDuration::from_secs(secs)
}

fn mins(m: i64) -> i64 {
    m * 60
}

fn aliases() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("qwen3.5".to_owned(), Q.to_owned()),
        ("glm5".to_owned(), G.to_owned()),
        ("kimi".to_owned(), K.to_owned()),
    ])
}

fn strings(models: &[&str]) -> Vec<String> {
    models.iter().map(|m| m.to_string()).collect()
}

fn rotation(models: &[&str], limit: Option<u32>) -> Vec<RotationModel> {
    models
        .iter()
        .map(|m| RotationModel {
            model: m.to_string(),
            limit,
        })
        .collect()
}

/// `preset` and `[[pools]]` as `settings.rs` will parse them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    preset: Option<PresetChoice>,
    #[serde(default)]
    pools: Vec<PoolTable>,
}

fn setup(text: &str) -> Result<PoolSetup, String> {
    let raw: Raw = toml::from_str(text).map_err(|e| e.to_string())?;
    pool_setup(raw.preset.as_ref(), &raw.pools, "Asia/Shanghai", "00:00")
}

/// The book for `text` over `models` (each with a daily limit of 500).
fn book(text: &str, models: &[&str]) -> PoolBook {
    let setup = setup(text).unwrap();
    let (pools, _) = plan_pools(
        &setup,
        &rotation(models, Some(500)),
        "modelscope",
        &aliases(),
        0,
    );
    PoolBook::new(pools)
}

fn pool(name: &str, members: &[&str], capacity: Option<u64>) -> Pool {
    Pool {
        name: name.into(),
        members: members
            .iter()
            .map(|m| Member::resolve(m, &aliases()))
            .collect(),
        capacity: capacity.map(Units::whole),
        unit: "calls".into(),
        refill: Refill::Daily,
        clock: QuotaCalendar::shanghai_midnight(),
        probe_every: None,
        balance_url: None,
        costs: BTreeMap::new(),
        reserve: Units::ZERO,
    }
}

#[test]
fn overlapping_pools_each_must_have_room() {
    // ModelScope's older rule: a per-model cap and an account cap at once.
    let mut b = PoolBook::new(vec![
        pool("qwen", &[Q], Some(3)),
        pool("account", &["modelscope/*"], Some(5)),
    ]);
    type Step = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    );
    let steps: [Step; 5] = [
        // (call, blocking Q, blocking G, blocking OR)
        (Q, &[], &[], &[]),
        (Q, &[], &[], &[]),
        (Q, &["qwen"], &[], &[]),
        (G, &["qwen"], &[], &[]),
        (G, &["qwen", "account"], &["account"], &[]),
    ];
    for (i, (model, q, g, or)) in steps.into_iter().enumerate() {
        b.observe(model, at(i as i64), Call);
        assert_eq!(b.blocking(Q), q, "step {i}");
        assert_eq!(b.blocking(G), g, "step {i}");
        assert_eq!(b.blocking(OR), or, "step {i}: not a member of either");
    }
}

#[test]
fn costs_are_exact_including_halves() {
    assert_eq!(Units::from_number(0.5).unwrap().times(2), Units::ONE);
    assert_eq!(Units::from_number(0.1).unwrap().times(10), Units::ONE);
    assert_eq!(Units::from_milli(2500).to_string(), "2.5");
    assert_eq!(Units::from_milli(125).to_string(), "0.125");
    let mut b = book(
        "preset = \"modelscope-magicube\"\n[[pools]]\nname = \"modelscope\"\ncapacity = 3\n[pools.cost]\nkimi = 0.5\n",
        &[Q, G, K],
    );
    // (call, used after it, room for Q (2), G (1), K (0.5))
    let steps = [
        (Q, "2", false, true, true),
        (K, "2.5", false, false, true),
        (K, "3", false, false, false),
    ];
    for (model, used, q, g, k) in steps {
        let notices = b.observe(model, at(0), Call);
        let pool = b.pools[0].clone();
        assert_eq!(b.used(&pool).to_string(), used, "after {model}");
        assert_eq!(
            [b.has_room(Q), b.has_room(G), b.has_room(K)],
            [q, g, k],
            "after {model}"
        );
        assert_eq!(notices.is_empty(), used != "3", "{notices:?}");
    }
}

#[test]
fn two_members_erroring_spend_the_pool_one_member_alone_does_not() {
    type Step = (i64, &'static str, PoolObservation);
    let cases: [(&str, Vec<Step>, bool); 7] = [
        (
            "two members at once",
            vec![(0, Q, QuotaError), (10, G, QuotaError)],
            true,
        ),
        (
            "one member's lone 429s",
            vec![(0, Q, QuotaError), (10, Q, QuotaError), (20, Q, QuotaError)],
            false,
        ),
        (
            "a success between",
            vec![(0, Q, QuotaError), (5, K, Call), (10, G, QuotaError)],
            false,
        ),
        (
            "a relay success between",
            vec![(0, Q, QuotaError), (5, M3, RelayCall), (10, G, QuotaError)],
            false,
        ),
        (
            "too far apart",
            vec![(0, Q, QuotaError), (mins(6), G, QuotaError)],
            false,
        ),
        (
            "a late record of a success before the errors",
            vec![(0, Q, QuotaError), (10, G, QuotaError), (-5, K, Call)],
            true,
        ),
        (
            "a late record of an error before a success",
            vec![(0, K, Call), (-10, Q, QuotaError), (5, G, QuotaError)],
            false,
        ),
    ];
    for (name, steps, spent) in cases {
        let mut b = book("preset = \"modelscope-magicube\"", &[Q, G, K, M3, OR]);
        for (secs, model, obs) in steps {
            b.observe(model, at(secs), obs);
        }
        let rot = strings(&[Q, G, K, M3, OR]);
        let expected = if spent { Some(OR) } else { Some(Q) };
        assert_eq!(b.first_available(&rot, |_| false), expected, "{name}");
        // Every member goes at once, never one by one.
        let blocked = [Q, G, K, M3].map(|m| !b.has_room(m));
        assert_eq!(blocked, [spent; 4], "{name}");
    }
}

#[test]
fn a_success_of_any_member_from_any_source_refills_an_evidence_spent_pool() {
    let mut b = book("preset = \"modelscope-magicube\"", &[Q, G, K]);
    b.observe(Q, at(0), QuotaError);
    let spent = b.observe(G, at(10), QuotaError);
    assert_eq!(
        spent,
        vec![PoolNotice::Spent {
            pool: "modelscope".into(),
            reason: PoolSpentReason::QuotaErrors {
                models: strings(&[Q, G])
            }
        }]
    );
    // A record of a success from before the mark proves nothing.
    assert!(b.observe(K, at(9), Call).is_empty());
    assert!(!b.has_room(Q));
    // Kimi (not even in the rotation order's lead) served by the relay, after the mark.
    let back = b.observe(K, at(60), RelayCall);
    assert_eq!(
        back,
        vec![PoolNotice::Refilled {
            pool: "modelscope".into(),
            cause: RefillCause::Success { model: K.into() }
        }]
    );
    assert!(b.has_room(Q) && b.has_room(G));
}

#[test]
fn a_count_spent_unknown_refill_pool_waits_for_evidence_not_the_clock() {
    let mut b = book(
        "preset = \"modelscope-magicube\"\n[[pools]]\nname = \"modelscope\"\ncapacity = 3\n",
        &[Q, G],
    );
    for secs in 0..3 {
        b.observe(G, at(secs), Call);
    }
    assert!(!b.has_room(G));
    // The Shanghai day turns: counts start over, but the pool stays spent.
    assert!(b.tick(ts("2026-12-03T16:00:00Z")).is_empty());
    assert!(!b.has_room(G));
    assert_eq!(b.used(&b.pools[0].clone()), Units::ZERO);
    // A member served after that: a grant came.
    let back = b.observe(Q, ts("2026-12-04T01:00:00Z"), Call);
    assert!(matches!(back[0], PoolNotice::Refilled { .. }), "{back:?}");
    assert!(b.has_room(G));
    assert_eq!(
        b.used(&b.pools[0].clone()),
        Units::whole(2),
        "Q's call at 2"
    );
}

#[test]
fn probes_are_decided_only_when_due_and_useful() {
    let mut b = book(
        "preset = [\"modelscope-magicube\", \"openrouter-free\"]\n[[pools]]\nname = \"modelscope\"\nprobe_minutes = 30\n[pools.cost]\nkimi = 0.5\n",
        &[Q, G, K, OR],
    );
    let rot = strings(&[Q, G, K, OR]);
    b.observe(Q, at(0), QuotaError);
    b.observe(G, at(10), QuotaError);
    let probe = |m: &str| {
        Some(ProbeRequest {
            pool: "modelscope".into(),
            model: m.into(),
            check: ProbeCheck::Call,
        })
    };
    // (seconds, active model, probe due)
    let cases = [
        (10, Some(OR), None),
        (10 + mins(29), Some(OR), None),
        (10 + mins(30), Some(OR), probe(K)),
        (10 + mins(30), None, probe(K)),
        // On its first choice already (a pin, say): the pool keeps nothing ahead out of use.
        (10 + mins(30), Some(Q), None),
    ];
    for (secs, active, due) in cases {
        assert_eq!(
            b.probe_due(at(secs), &rot, active),
            due,
            "{secs} {active:?}"
        );
    }
    // Sent and refused: at most one per interval.
    b.probe_sent("modelscope", at(10 + mins(30)));
    assert_eq!(b.probe_due(at(10 + mins(31)), &rot, Some(OR)), None);
    assert_eq!(b.probe_result("modelscope", at(10 + mins(30)), false), None);
    assert!(!b.has_room(Q));
    assert_eq!(b.probe_due(at(10 + mins(59)), &rot, Some(OR)), None);
    assert_eq!(b.probe_due(at(10 + mins(60)), &rot, Some(OR)), probe(K));
    // Served: the pool is back.
    b.probe_sent("modelscope", at(10 + mins(60)));
    assert_eq!(
        b.probe_result("modelscope", at(10 + mins(60)), true),
        Some(PoolNotice::Refilled {
            pool: "modelscope".into(),
            cause: RefillCause::Probe
        })
    );
    assert_eq!(b.first_available(&rot, |_| false), Some(Q));
    assert_eq!(b.probe_due(at(10 + mins(120)), &rot, Some(Q)), None);
}

#[test]
fn no_probes_unless_asked_or_when_the_reset_is_known() {
    // probe_minutes absent.
    let mut b = book("preset = \"modelscope-magicube\"", &[Q, G, OR]);
    b.observe(Q, at(0), QuotaError);
    b.observe(G, at(10), QuotaError);
    assert_eq!(
        b.probe_due(at(mins(600)), &strings(&[Q, G, OR]), Some(OR)),
        None
    );
    // A daily pool spent by its count comes back at its reset: nothing to ask.
    let mut b = book(
        "preset = \"openrouter-free\"\n[[pools]]\nname = \"openrouter-free\"\ncapacity = 1\nprobe_minutes = 1\n",
        &[OR, OLLAMA],
    );
    b.observe(OR, at(0), Call);
    assert!(!b.has_room(OR));
    assert_eq!(
        b.probe_due(at(mins(600)), &strings(&[OR, OLLAMA]), Some(OLLAMA)),
        None
    );
}

#[test]
fn daily_pools_reset_in_their_own_time_zone() {
    let mut b = book(
        "preset = [\"modelscope-daily\", \"openrouter-free\"]\n[[pools]]\nname = \"openrouter-free\"\ncapacity = 1\n",
        &[Q, OR],
    );
    // Q's own daily pool: 1 call instead of 500.
    b.pools[0].capacity = Some(Units::whole(1));
    b.observe(Q, ts("2026-12-03T10:00:00Z"), Call);
    b.observe(OR, ts("2026-12-03T10:00:00Z"), Call);
    let refilled = |n: &str| PoolNotice::Refilled {
        pool: n.into(),
        cause: RefillCause::Reset,
    };
    // (instant, notices, Q has room, OR has room)
    let steps = [
        ("2026-12-03T15:59:59Z", vec![], false, false),
        ("2026-12-03T16:00:00Z", vec![refilled(Q)], true, false),
        ("2026-12-03T23:59:59Z", vec![], true, false),
        (
            "2026-12-04T00:00:00Z",
            vec![refilled(OPENROUTER_FREE_POOL)],
            true,
            true,
        ),
    ];
    for (instant, notices, q, or) in steps {
        assert_eq!(b.tick(ts(instant)), notices, "{instant}");
        assert_eq!([b.has_room(Q), b.has_room(OR)], [q, or], "{instant}");
    }
    let next: Vec<Option<String>> = b
        .status(ts("2026-12-04T00:00:00Z"), &strings(&[Q, OR]))
        .into_iter()
        .map(|s| s.next_refill)
        .collect();
    assert_eq!(
        next,
        [
            Some("2026-12-05T00:00:00+08:00".to_owned()),
            Some("2026-12-05T00:00:00+00:00".to_owned())
        ]
    );
}

#[test]
fn a_chain_leaves_modelscope_for_openrouter_and_comes_back() {
    let mut b = book(
        "preset = [\"modelscope-magicube\", \"openrouter-free\"]\n[[pools]]\nname = \"openrouter-free\"\ncapacity = 2\n",
        &[Q, G, OR, OLLAMA],
    );
    let rot = strings(&[Q, G, OR, OLLAMA]);
    type Step = (i64, &'static str, PoolObservation, &'static str);
    // (seconds, model, observation, first available after it)
    let steps: [Step; 7] = [
        (0, Q, Call, Q),
        (60, Q, QuotaError, Q),
        (70, G, QuotaError, OR),
        (80, OR, QuotaError, OR), // a lone throttle on OpenRouter
        (90, OR, Call, OR),
        (100, OR, Call, OLLAMA),     // OpenRouter's day is used up too
        (mins(90), K, RelayCall, Q), // ModelScope served Kimi elsewhere: back
    ];
    for (secs, model, obs, first) in steps {
        b.observe(model, at(secs), obs);
        assert_eq!(
            b.first_available(&rot, |_| false),
            Some(first),
            "{secs}s {model}"
        );
    }
    // The policy's own per-model marks still rule a model out.
    assert_eq!(b.first_available(&rot, |m| m == Q), Some(G));
}

#[test]
fn never_flapping_between_two_providers() {
    let mut b = book(
        "preset = [\"modelscope-magicube\", \"openrouter-free\"]",
        &[Q, G, OR],
    );
    let rot = strings(&[Q, G, OR]);
    b.observe(Q, at(0), QuotaError);
    b.observe(G, at(5), QuotaError);
    let mut choices = Vec::new();
    // Three hours of ticks with noise: OpenRouter calls, a lone OpenRouter 429, late ModelScope
    // records from before the mark, a lone ModelScope 429.
    for minute in 1..=180 {
        let now = at(mins(minute));
        b.tick(now);
        match minute % 30 {
            0 => {
                b.observe(OR, now, QuotaError);
            }
            7 => {
                b.observe(Q, at(1), Call);
            }
            11 => {
                b.observe(G, now, QuotaError);
            }
            _ => {
                b.observe(OR, now, Call);
            }
        }
        choices.push(b.first_available(&rot, |_| false));
    }
    let switches = choices.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(choices[0], Some(OR));
    // OpenRouter's 50 run out once; with ModelScope spent too, nothing bounces back and forth.
    assert_eq!(switches, 1, "{choices:?}");
    assert_eq!(choices.last().unwrap(), &None);
}

#[test]
fn presets_and_overrides() {
    struct Want {
        per_model_daily: bool,
        pools: Vec<(&'static str, Capacity, &'static str, Refill, &'static str)>,
    }
    let cap = |n| Capacity::Units(Units::whole(n));
    let cases = [
        (
            "",
            Want {
                per_model_daily: true,
                pools: vec![],
            },
        ),
        (
            "preset = \"modelscope-daily\"",
            Want {
                per_model_daily: true,
                pools: vec![],
            },
        ),
        (
            "preset = \"modelscope-magicube\"",
            Want {
                per_model_daily: false,
                pools: vec![(
                    "modelscope",
                    cap(250),
                    "magicube",
                    Refill::Unknown,
                    "00:00 Asia/Shanghai",
                )],
            },
        ),
        (
            "preset = \"openrouter-free\"",
            Want {
                per_model_daily: false,
                pools: vec![(
                    "openrouter-free",
                    cap(50),
                    "calls",
                    Refill::Daily,
                    "00:00 UTC",
                )],
            },
        ),
        (
            "preset = [\"modelscope-daily\", \"openrouter-free\"]\n[[pools]]\nname = \"openrouter-free\"\ncapacity = 1000\n",
            Want {
                per_model_daily: true,
                pools: vec![(
                    "openrouter-free",
                    cap(1000),
                    "calls",
                    Refill::Daily,
                    "00:00 UTC",
                )],
            },
        ),
        (
            "preset = \"modelscope-magicube\"\n[[pools]]\nname = \"modelscope\"\ncapacity = \"unknown\"\nreset_time = \"08:00\"\n[[pools]]\nname = \"local\"\nmodels = [\"ollama/*\"]\ncapacity = 100\nunit = \"turns\"\nrefill = \"unknown\"\ntime_zone = \"UTC\"\n",
            Want {
                per_model_daily: false,
                pools: vec![
                    (
                        "modelscope",
                        Capacity::Unknown,
                        "magicube",
                        Refill::Unknown,
                        "08:00 Asia/Shanghai",
                    ),
                    ("local", cap(100), "turns", Refill::Unknown, "00:00 UTC"),
                ],
            },
        ),
    ];
    for (text, want) in cases {
        let s = setup(text).unwrap();
        assert_eq!(s.per_model_daily, want.per_model_daily, "{text}");
        let got: Vec<_> = s
            .pools
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.capacity,
                    p.unit.as_str(),
                    p.refill,
                    p.clock.describe(),
                )
            })
            .collect();
        let want: Vec<_> = want
            .pools
            .iter()
            .map(|(n, c, u, r, clock)| (*n, *c, *u, *r, clock.to_string()))
            .collect();
        assert_eq!(got, want, "{text}");
    }
    // An override's costs merge with the preset's, aliases resolved at plan time.
    let b = book(
        "preset = \"modelscope-magicube\"\n[[pools]]\nname = \"modelscope\"\n[pools.cost]\nkimi = 0.5\n\"glm5\" = 2\n",
        &[Q, G, K, M3],
    );
    let p = &b.pools[0];
    let costs = [Q, G, K, M3, "modelscope/Other/Model"].map(|m| p.cost_of(m).to_string());
    assert_eq!(costs, ["2", "2", "0.5", "1", "1"]);
    // openrouter-free draws from `:free` models only.
    let b = book("preset = \"openrouter-free\"", &[OR, OR_PAID]);
    assert!(b.pools[0].draws(OR) && !b.pools[0].draws(OR_PAID));
}

#[test]
fn per_model_pools_cover_the_providers_models_only() {
    let s = setup("").unwrap();
    let (pools, warnings) = plan_pools(
        &s,
        &rotation(&[Q, G, OR, OLLAMA], Some(500)),
        "modelscope",
        &aliases(),
        0,
    );
    let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, [Q, G]);
    assert!(warnings.is_empty(), "{warnings:?}");
    // A defined pool named like a model's ref replaces that model's.
    let s = setup(
        "[[pools]]\nname = \"modelscope/ZhipuAI/GLM-5\"\nmodels = [\"glm5\"]\ncapacity = 7\n",
    )
    .unwrap();
    let (pools, _) = plan_pools(
        &s,
        &rotation(&[Q, G], Some(500)),
        "modelscope",
        &aliases(),
        0,
    );
    let got: Vec<_> = pools
        .iter()
        .map(|p| (p.name.as_str(), p.capacity))
        .collect();
    assert_eq!(
        got,
        [(Q, Some(Units::whole(500))), (G, Some(Units::whole(7)))]
    );
    // Names that match nothing are reported.
    let s = setup(
        "[[pools]]\nname = \"x\"\nmodels = [\"groq/*\"]\ncapacity = 1\n[pools.cost]\nkimi = 2\n",
    )
    .unwrap();
    let (_, warnings) = plan_pools(&s, &rotation(&[Q], None), "modelscope", &aliases(), 0);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

#[test]
fn todays_implicit_pools_give_exactly_todays_answers() {
    // (limit, reserve, observations in order)
    let cases: [(Option<u32>, u32, &[PoolObservation]); 6] = [
        (Some(3), 0, &[Call, Call, Call, Call]),
        (Some(3), 1, &[Call, Call, Call]),
        (Some(0), 0, &[Call, Call]),
        (Some(2), 5, &[Call, Call]),
        (Some(3), 0, &[RelayCall, Call, RelayCall, RelayCall, Call]),
        (None, 0, &[Call, Call, Call, RelayCall]),
    ];
    let models = [Q, G, K];
    for (limit, reserve, observations) in cases {
        let rot = rotation(&models, limit);
        let mut cfg = PolicyConfig::new(rot.clone());
        cfg.reserve = reserve;
        let mut day = DayState::new(jiff::civil::date(2026, 12, 3));
        let s = setup("").unwrap();
        let (pools, _) = plan_pools(&s, &rot, "modelscope", &BTreeMap::new(), reserve);
        let mut b = PoolBook::new(pools);
        let order = strings(&models);
        let same = |day: &DayState, b: &PoolBook, step: &str| {
            for m in models {
                assert_eq!(
                    day.is_spent(m),
                    !b.has_room(m),
                    "{m} {limit:?}-{reserve} {step}"
                );
            }
            assert_eq!(
                day.first_available(&cfg),
                b.first_available(&order, |_| false),
                "{limit:?}-{reserve} {step}"
            );
        };
        same(&day, &b, "start");
        for (i, obs) in observations.iter().enumerate() {
            for (j, m) in [Q, Q, G].into_iter().enumerate() {
                let when = at((i * 3 + j) as i64);
                let policy_obs = match obs {
                    RelayCall => Observation::RelayCall,
                    _ => Observation::Call,
                };
                day.observe(&cfg, m, when, &policy_obs);
                b.observe(m, when, *obs);
                same(&day, &b, &format!("call {i}.{j}"));
            }
        }
    }
}

#[test]
fn status_has_the_documented_fields() {
    let mut b = book(
        "preset = [\"modelscope-magicube\", \"openrouter-free\"]\n[[pools]]\nname = \"modelscope\"\n[pools.cost]\nkimi = 0.5\n",
        &[Q, K, OR],
    );
    b.observe(K, at(0), Call);
    b.observe(Q, at(1), Call);
    let status = b.status(at(2), &strings(&[Q, K, OR]));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {
                "name": "modelscope", "unit": "magicube", "capacity": 250, "used": 2.5,
                "remaining": 247.5, "refill": "unknown", "next_refill": null, "spent": false,
                "spent_reason": null, "models": [Q, K]
            },
            {
                "name": "openrouter-free", "unit": "calls", "capacity": 50, "used": 0,
                "remaining": 50, "refill": "daily", "next_refill": "2026-12-04T00:00:00+00:00",
                "spent": false, "spent_reason": null, "models": [OR]
            }
        ])
    );
    b.observe(Q, at(10), QuotaError);
    b.observe(K, at(11), QuotaError);
    let s = &b.status(at(12), &strings(&[Q, K, OR]))[0];
    assert!(s.spent);
    assert_eq!(
        s.spent_reason.as_deref(),
        Some(format!("quota errors from {Q} and {K} with no success between").as_str())
    );
}

#[test]
fn bad_pool_tables_are_named() {
    let pool =
        |extra: &str| format!("[[pools]]\nname = \"p\"\nmodels = [\"a/*\"]\ncapacity = 1\n{extra}");
    let cases = [
        (pool("colour = \"red\"\n"), "colour"),
        (
            "[[pools]]\nname = \"p\"\nmodels = [\"a/*\"]\ncapacity = \"lots\"\n".into(),
            "lots",
        ),
        (
            "[[pools]]\nname = \"p\"\nmodels = [\"a/*\"]\ncapacity = -3\n".into(),
            "0 or more",
        ),
        (pool("refill = \"weekly\"\n"), "weekly"),
        (
            "preset = \"modelscope-hourly\"".into(),
            "modelscope-magicube",
        ),
        ("preset = []".into(), "no preset"),
        (pool("[pools.cost]\n\"a/b\" = -1\n"), "0 or more"),
        (pool("[pools.cost]\n\"a/b\" = 0.0001\n"), "three decimals"),
        (
            pool("[pools.cost]\n\"a/b\" = \"cheap\"\n"),
            "number of units",
        ),
        (
            format!("{}{}", pool(""), pool("")),
            "\"p\": the name is used twice",
        ),
        (
            "[[pools]]\nname = \"p\"\ncapacity = 1\n".into(),
            "\"p\": models is missing",
        ),
        (
            "[[pools]]\nname = \"p\"\nmodels = []\ncapacity = 1\n".into(),
            "models is missing or empty",
        ),
        (
            "[[pools]]\nname = \"p\"\nmodels = [\"a/*\"]\n".into(),
            "\"p\": capacity is missing",
        ),
        (
            "[[pools]]\nname = \"p\"\nmodels = [\"a/*\"]\ncapacity = 0\n".into(),
            "more than 0",
        ),
        (
            "[[pools]]\nname = \"\"\nmodels = [\"a/*\"]\ncapacity = 1\n".into(),
            "non-empty name",
        ),
        (
            "[[pools]]\nmodels = [\"a/*\"]\ncapacity = 1\n".into(),
            "name",
        ),
        (pool("time_zone = \"Mars/Olympus\"\n"), "Mars/Olympus"),
        (pool("reset_time = \"25:00\"\n"), "reset_time"),
        (
            pool("probe_minutes = 0\n"),
            "probe_minutes must be at least 1",
        ),
        (pool("probe_minutes = -5\n"), "probe_minutes"),
        (
            pool("probe_minutes = 5\nbalance_url = \"modelscope.cn/balance\"\n"),
            "balance_url must be an http(s) URL",
        ),
        (
            pool("balance_url = \"https://modelscope.cn/openapi/v1/magicubes/balance\"\n"),
            "set probe_minutes too",
        ),
        (
            "[[pools]]\nname = \"p\"\nmodels = [\"a/*/*\"]\ncapacity = 1\n".into(),
            "more than one `*`",
        ),
        ("pools = 3".into(), "pools"),
    ];
    for (text, wanted) in cases {
        let err = setup(&text).expect_err(&text);
        assert!(err.contains(wanted), "{text:?}: {err}");
    }
}
