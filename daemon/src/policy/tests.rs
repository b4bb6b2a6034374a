use jiff::Timestamp;

use super::*;

const Q: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";
const G: &str = "modelscope/ZhipuAI/GLM-5";
const M: &str = "modelscope/MiniMax/MiniMax-M2.5";
const K: &str = "modelscope/moonshotai/Kimi-K2.5";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn cfg(limit: Option<u32>) -> PolicyConfig {
    PolicyConfig::new(
        [Q, G, M, K]
            .iter()
            .map(|m| RotationModel {
                model: m.to_string(),
                limit,
            })
            .collect(),
    )
}

fn day() -> DayState {
    DayState::new(jiff::civil::date(2026, 11, 25))
}

fn at(secs: i64) -> Timestamp {
    ts("2026-11-25T02:00:00Z") + SignedDuration::from_secs(secs)
}

fn rl() -> Observation {
    Observation::RateLimited {
        retry_loop_failed: false,
    }
}

#[test]
fn proactive_switch_at_the_limit_in_rotation_order() {
    let cfg = cfg(Some(2));
    let mut day = day();
    assert_eq!(day.decide(&cfg, false, Some(Q)), Decision::Keep);
    assert!(day.observe(&cfg, Q, at(1), &Observation::Call).is_empty());
    assert_eq!(day.decide(&cfg, false, Some(Q)), Decision::Keep);
    let notices = day.observe(&cfg, Q, at(2), &Observation::Call);
    assert_eq!(
        notices,
        vec![Notice::Spent {
            model: Q.into(),
            reason: SpentReason::LimitReached { used: 2, limit: 2 }
        }]
    );
    match day.decide(&cfg, false, Some(Q)) {
        Decision::SwitchTo { model, reason } => {
            assert_eq!(model, G);
            assert!(reason.contains("daily limit reached (2/2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Two more calls each: G then M then K, then nothing.
    for (m, next) in [(G, Some(M)), (M, Some(K)), (K, None)] {
        day.observe(&cfg, m, at(3), &Observation::Call);
        day.observe(&cfg, m, at(4), &Observation::Call);
        let decision = day.decide(&cfg, false, Some(m));
        match next {
            Some(n) => assert!(
                matches!(&decision, Decision::SwitchTo { model, .. } if model == n),
                "{decision:?}"
            ),
            None => assert_eq!(decision, Decision::AllSpent),
        }
    }
}

#[test]
fn the_reserve_switches_early() {
    let mut cfg = cfg(Some(10));
    cfg.reserve = 3;
    let mut day = day();
    for i in 0..6 {
        day.observe(&cfg, Q, at(i), &Observation::Call);
    }
    assert!(!day.is_spent(Q));
    day.observe(&cfg, Q, at(7), &Observation::Call);
    assert!(day.is_spent(Q));
}

#[test]
fn an_unknown_limit_only_spends_on_evidence() {
    let cfg = cfg(None);
    let mut day = day();
    for i in 0..5000 {
        day.observe(&cfg, Q, at(i), &Observation::Call);
    }
    assert!(!day.is_spent(Q));
    assert_eq!(day.used(Q), 5000);
}

#[test]
fn a_stray_429_is_a_throttle_and_three_in_a_row_are_a_spent_day() {
    let cfg = cfg(None);
    let mut day = day();
    // 429, success, 429, success: throttles.
    for i in 0..4 {
        let obs = if i % 2 == 0 { rl() } else { Observation::Call };
        assert!(day.observe(&cfg, Q, at(i * 10), &obs).is_empty());
    }
    assert!(!day.is_spent(Q));
    // Two 429s then a success: still fine.
    day.observe(&cfg, Q, at(100), &rl());
    day.observe(&cfg, Q, at(101), &rl());
    day.observe(&cfg, Q, at(102), &Observation::Call);
    day.observe(&cfg, Q, at(103), &rl());
    assert!(!day.is_spent(Q));
    // Three in the window with no success between: spent.
    day.observe(&cfg, Q, at(104), &rl());
    let notices = day.observe(&cfg, Q, at(106), &rl());
    assert_eq!(
        notices,
        vec![Notice::Spent {
            model: Q.into(),
            reason: SpentReason::RateLimited { errors: 3 }
        }]
    );
    assert_eq!(day.model(Q).unwrap().rate_limited, 7);
}

#[test]
fn rate_limits_spread_beyond_the_window_do_not_add_up() {
    let cfg = cfg(None);
    let mut day = day();
    for i in 0..10 {
        day.observe(&cfg, Q, at(i * 400), &rl());
    }
    assert!(!day.is_spent(Q));
}

#[test]
fn a_failed_retry_loop_spends_the_model_at_once() {
    let cfg = cfg(Some(500));
    let mut day = day();
    day.observe(&cfg, Q, at(1), &Observation::Call);
    let notices = day.observe(
        &cfg,
        Q,
        at(5),
        &Observation::RateLimited {
            retry_loop_failed: true,
        },
    );
    assert_eq!(
        notices,
        vec![Notice::Spent {
            model: Q.into(),
            reason: SpentReason::RetryLoopFailed
        }]
    );
    // ...but a late record of a loop that ended before a later success proves nothing.
    let mut day2 = self::day();
    day2.observe(&cfg, G, at(10), &Observation::Call);
    assert!(
        day2.observe(
            &cfg,
            G,
            at(9),
            &Observation::RateLimited {
                retry_loop_failed: true
            }
        )
        .is_empty()
    );
    assert!(!day2.is_spent(G));
}

#[test]
fn a_success_after_a_429_mark_clears_it_but_not_a_limit_mark() {
    let cfg = cfg(Some(3));
    let mut day = day();
    for i in 0..3 {
        day.observe(&cfg, Q, at(i), &rl());
    }
    assert!(day.is_spent(Q));
    assert_eq!(
        day.observe(&cfg, Q, at(50), &Observation::Call),
        vec![Notice::Recovered { model: Q.into() }]
    );
    assert!(!day.is_spent(Q));
    // A transcript record older than the mark does not clear it.
    for i in 60..63 {
        day.observe(&cfg, G, at(i), &rl());
    }
    day.observe(&cfg, G, at(10), &Observation::Call);
    assert!(day.is_spent(G));
    // A limit mark stays whatever comes after.
    for i in 0..3 {
        day.observe(&cfg, M, at(100 + i), &Observation::Call);
    }
    day.observe(&cfg, M, at(200), &Observation::Call);
    assert!(day.is_spent(M));
}

#[test]
fn a_model_that_is_gone_is_skipped_for_the_day() {
    let cfg = cfg(Some(500));
    let mut day = day();
    day.observe(
        &cfg,
        Q,
        at(1),
        &Observation::Gone {
            detail: "400 has no provider supported".into(),
        },
    );
    let reason = day
        .model(Q)
        .unwrap()
        .spent
        .as_ref()
        .unwrap()
        .reason
        .to_string();
    assert!(reason.contains("has no provider supported"), "{reason}");
    assert!(
        matches!(day.decide(&cfg, false, Some(Q)), Decision::SwitchTo { model, .. } if model == G)
    );
}

#[test]
fn the_next_model_rate_limited_at_once_means_the_account_is_limited() {
    let cfg = cfg(None);
    let mut day = day();
    for i in 0..3 {
        day.observe(&cfg, Q, at(i), &rl());
    }
    let Decision::SwitchTo { model, .. } = day.decide(&cfg, false, Some(Q)) else {
        panic!()
    };
    assert_eq!(model, G);
    day.note_switch(Some(Q), G, at(3));
    for i in 4..6 {
        assert!(day.observe(&cfg, G, at(i), &rl()).is_empty());
    }
    let notices = day.observe(&cfg, G, at(6), &rl());
    assert!(notices.contains(&Notice::AccountLimited), "{notices:?}");
    assert_eq!(day.decide(&cfg, false, Some(G)), Decision::AllSpent);
    // It stays put: no flapping back and forth.
    assert_eq!(day.decide(&cfg, false, Some(G)), Decision::AllSpent);
}

#[test]
fn a_limit_switch_followed_by_a_throttle_is_not_account_wide() {
    let cfg = cfg(Some(1));
    let mut day = day();
    day.observe(&cfg, Q, at(0), &Observation::Call);
    day.note_switch(Some(Q), G, at(1));
    for i in 2..5 {
        day.observe(&cfg, G, at(i), &rl());
    }
    assert!(day.account_limited.is_none());
    assert!(
        matches!(day.decide(&cfg, false, Some(G)), Decision::SwitchTo { model, .. } if model == M)
    );
}

#[test]
fn a_pin_holds_and_pause_stops_switching() {
    let cfg = cfg(Some(1));
    let mut day = day();
    day.pin = Some(K.into());
    assert!(
        matches!(day.decide(&cfg, false, Some(Q)), Decision::SwitchTo { model, .. } if model == K)
    );
    day.observe(&cfg, K, at(0), &Observation::Call);
    assert!(day.is_spent(K));
    assert_eq!(
        day.decide(&cfg, false, Some(K)),
        Decision::Keep,
        "a pin holds even on a spent model"
    );
    day.pin = None;
    day.observe(&cfg, Q, at(1), &Observation::Call);
    assert_eq!(day.decide(&cfg, true, Some(Q)), Decision::Keep, "paused");
    assert!(
        matches!(day.decide(&cfg, false, Some(Q)), Decision::SwitchTo { model, .. } if model == G)
    );
}

#[test]
fn a_primary_outside_the_rotation_is_left_alone_and_a_missing_one_is_set() {
    let cfg = cfg(Some(5));
    let day = day();
    assert_eq!(
        day.decide(&cfg, false, Some("anthropic/claude")),
        Decision::Keep
    );
    assert!(
        matches!(day.decide(&cfg, false, None), Decision::SwitchTo { model, .. } if model == Q)
    );
}

#[test]
fn after_a_reset_the_first_model_comes_back() {
    let cfg = cfg(Some(1));
    let mut day = day();
    day.observe(&cfg, Q, at(0), &Observation::Call);
    assert!(
        matches!(day.decide(&cfg, false, Some(Q)), Decision::SwitchTo { model, .. } if model == G)
    );
    let fresh = DayState::new(jiff::civil::date(2026, 11, 26));
    assert!(
        matches!(fresh.decide(&cfg, false, Some(G)), Decision::SwitchTo { model, .. } if model == Q)
    );
}

#[test]
fn fallbacks_follow_the_active_model_and_keep_other_providers_in_place() {
    let rotation: Vec<String> = [Q, G, M, K].iter().map(|s| s.to_string()).collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let original = s(&[G, "openai/gpt-5", M, K]);
    let none_spent = |_: &str| false;
    assert_eq!(
        plan_fallbacks(&original, &rotation, none_spent, Q),
        s(&[G, "openai/gpt-5", M, K])
    );
    let q_spent = |m: &str| m == Q;
    assert_eq!(
        plan_fallbacks(&original, &rotation, q_spent, G),
        s(&[M, "openai/gpt-5", K])
    );
    let qg_spent = |m: &str| m == Q || m == G;
    assert_eq!(
        plan_fallbacks(&original, &rotation, qg_spent, M),
        s(&[K, "openai/gpt-5"])
    );
    let all_but_k = |m: &str| m != K;
    assert_eq!(
        plan_fallbacks(&original, &rotation, all_but_k, K),
        s(&["openai/gpt-5"])
    );
    // A list without rotation models is left as it is.
    assert_eq!(
        plan_fallbacks(&s(&["openai/gpt-5"]), &rotation, q_spent, G),
        s(&["openai/gpt-5"])
    );
    // A pin on a later model: the earlier unspent ones follow it, cyclically.
    assert_eq!(
        plan_fallbacks(&s(&[G, M, K]), &rotation, none_spent, M),
        s(&[K, Q, G])
    );
}

#[test]
fn relay_and_transcript_counts_never_add_up() {
    let cfg = cfg(Some(3));
    let mut day = day();
    // The relay sees every call, the transcripts only some: the larger count wins.
    for i in 0..2 {
        day.observe(&cfg, Q, at(i), &Observation::RelayCall);
        day.observe(&cfg, Q, at(i), &Observation::Call);
    }
    assert_eq!(day.used(Q), 2);
    assert!(!day.is_spent(Q));
    day.observe(&cfg, Q, at(5), &Observation::RelayCall);
    assert_eq!(day.used(Q), 3);
    assert!(day.is_spent(Q));
}

#[test]
fn plugin_counts_merge_with_the_others_by_the_larger_count() {
    let cfg = cfg(Some(4));
    let mut day = day();
    let served = Observation::PluginCall { failed: false };
    let failed = Observation::PluginCall { failed: true };
    // Every call is seen by the transcripts, the relay and the plugin: counted once.
    for i in 0..2 {
        day.observe(&cfg, Q, at(i), &Observation::Call);
        day.observe(&cfg, Q, at(i), &Observation::RelayCall);
        day.observe(&cfg, Q, at(i), &served);
    }
    assert_eq!(day.used(Q), 2);
    // A failed call no transcript records still counts, and reaches the limit.
    day.observe(&cfg, Q, at(3), &failed);
    assert_eq!(day.used(Q), 3);
    assert!(!day.is_spent(Q));
    day.observe(&cfg, Q, at(4), &failed);
    assert_eq!(day.used(Q), 4);
    assert!(day.is_spent(Q));
}

#[test]
fn a_failed_plugin_call_does_not_clear_a_rate_limit_mark() {
    let cfg = cfg(None);
    let mut day = day();
    for i in 0..3 {
        day.observe(&cfg, Q, at(i), &rl());
    }
    assert!(day.is_spent(Q));
    day.observe(&cfg, Q, at(10), &Observation::PluginCall { failed: true });
    assert!(day.is_spent(Q), "a failure proves no recovery");
    day.observe(&cfg, Q, at(11), &Observation::PluginCall { failed: false });
    assert!(!day.is_spent(Q), "a served call is a recovery");
}

#[test]
fn wanted_is_the_pin_else_the_first_available_and_no_opinion_when_paused() {
    let cfg = cfg(Some(1));
    let mut day = day();
    assert_eq!(day.wanted(&cfg, false, Some(Q)), Wanted::Model(Q));
    assert_eq!(day.wanted(&cfg, true, Some(Q)), Wanted::NoOpinion);
    assert_eq!(
        day.wanted(&cfg, false, Some("other/model")),
        Wanted::NoOpinion
    );
    day.observe(&cfg, Q, at(1), &Observation::PluginCall { failed: false });
    assert_eq!(day.wanted(&cfg, false, Some(Q)), Wanted::Model(G));
    day.pin = Some(M.to_owned());
    assert_eq!(day.wanted(&cfg, false, Some(Q)), Wanted::Model(M));
}

#[test]
fn zero_remaining_from_modelscope_spends_the_model() {
    let cfg = cfg(None);
    let mut day = day();
    let notices = day.observe(&cfg, G, at(1), &Observation::NoneRemaining);
    assert_eq!(
        notices,
        vec![Notice::Spent {
            model: G.into(),
            reason: SpentReason::NoneRemaining
        }]
    );
}
