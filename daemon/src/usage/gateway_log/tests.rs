use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::files::{profile_family, rotated_path};
use super::*;
use crate::usage::{CallOutcome, SourceKind};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn rolling_names_are_recognised() {
    assert_eq!(
        parse_rolling("openclaw-2026-07-08.log"),
        Some(("openclaw", "2026-07-08", 0))
    );
    assert_eq!(
        parse_rolling("openclaw-2026-07-08.3.log"),
        Some(("openclaw", "2026-07-08", 3))
    );
    assert_eq!(
        parse_rolling("openclaw-work-2026-07-08.log"),
        Some(("openclaw-work", "2026-07-08", 0))
    );
    assert_eq!(
        parse_rolling("openclaw-w--x-1a-2026-07-08.1.log"),
        Some(("openclaw-w--x-1a", "2026-07-08", 1))
    );
    for bad in [
        "openclaw.log",
        "openclaw-2026-07-8.log",
        "other-2026-07-08.log",
        "openclaw-Work-2026-07-08.log",
        "openclaw-2026-07-08.log.gz",
        "openclaw--2026-07-08.log",
        "é-2026-07-08.log",
        ".log",
    ] {
        assert_eq!(parse_rolling(bad), None, "{bad}");
    }
    assert_eq!(profile_family(None), "openclaw");
    assert_eq!(profile_family(Some("Default")), "openclaw");
    assert_eq!(profile_family(Some("work")), "openclaw-work");
    assert_eq!(profile_family(Some("My_bot-2")), "openclaw--1my-0bot--2");
    assert_eq!(
        rotated_path(Path::new("/l/gw.log"), 2),
        PathBuf::from("/l/gw.2.log")
    );
    assert_eq!(
        rotated_path(Path::new("/l/gw"), 1),
        PathBuf::from("/l/gw.1")
    );
}

#[test]
fn model_fetch_lines_become_calls() {
    let line = r#"{"0":"{\"subsystem\":\"provider-transport-fetch\"}","1":"[model-fetch] response provider=modelscope api=openai-completions model=Qwen/Qwen3.5-397B-A17B status=429 elapsedMs=812 dispatcher=reused contentType=application/json","_meta":{"date":"2026-07-09T01:41:50.257Z","logLevelName":"INFO"},"time":"2026-07-08T22:41:50.257-03:00"}"#;
    let Some(Parsed::Signal(GatewaySignal::Call(r))) = parse_line(line.as_bytes()) else {
        panic!()
    };
    assert_eq!(
        (r.provider.as_str(), r.model.as_str()),
        ("modelscope", "Qwen/Qwen3.5-397B-A17B")
    );
    assert_eq!(
        r.outcome,
        CallOutcome::RateLimited {
            retry_loop_failed: false
        }
    );
    assert_eq!(r.at, ts("2026-07-09T01:41:50.257Z"));
    assert_eq!(r.source, SourceKind::GatewayLog);
    for (status, outcome) in [
        ("200", CallOutcome::Success),
        (
            "404",
            CallOutcome::Gone {
                detail: "HTTP 404".into(),
            },
        ),
        (
            "400",
            CallOutcome::Failed {
                status: Some(400),
                detail: "HTTP 400".into(),
            },
        ),
        (
            "503",
            CallOutcome::Failed {
                status: Some(503),
                detail: "HTTP 503".into(),
            },
        ),
    ] {
        let l = line.replace("status=429", &format!("status={status}"));
        let Some(Parsed::Signal(GatewaySignal::Call(r))) = parse_line(l.as_bytes()) else {
            panic!()
        };
        assert_eq!(r.outcome, outcome);
    }
    // no time → not usable; _meta.date is the fallback
    let no_time = line.replace(r#","time":"2026-07-08T22:41:50.257-03:00""#, "");
    assert!(matches!(
        parse_line(no_time.as_bytes()),
        Some(Parsed::Signal(_))
    ));
    let no_time_at_all = no_time.replace(r#""date":"2026-07-09T01:41:50.257Z","#, "");
    assert_eq!(parse_line(no_time_at_all.as_bytes()), None);
    // a start line or a response without status is nothing
    let start = line.replace("[model-fetch] response", "[model-fetch] start");
    assert_eq!(parse_line(start.as_bytes()), Some(Parsed::Nothing));
}

#[test]
fn message_in_field_2_when_1_is_an_object() {
    let line = r#"{"0":"{\"subsystem\":\"gateway/reload\"}","1":{"event":"x"},"2":"config hot reload applied (agents.defaults.model.primary, agents.defaults.model.fallbacks)","time":"2026-07-08T22:41:50.257-03:00"}"#;
    assert_eq!(
        parse_line(line.as_bytes()),
        Some(Parsed::Signal(GatewaySignal::ReloadApplied {
            at: ts("2026-07-09T01:41:50.257Z"),
            paths: vec![
                "agents.defaults.model.primary".into(),
                "agents.defaults.model.fallbacks".into()
            ]
        }))
    );
}

#[test]
fn reload_skipped_reasons() {
    let mk = |m: &str| format!(r#"{{"1":"{m}","time":"2026-07-08T22:41:50Z"}}"#);
    let reason = |m: &str| match parse_line(mk(m).as_bytes()) {
        Some(Parsed::Signal(GatewaySignal::ReloadSkipped { reason, .. })) => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reason(
            "config reload skipped (invalid config): agents.defaults.model.primary: Invalid input"
        ),
        "invalid config: agents.defaults.model.primary: Invalid input"
    );
    assert_eq!(
        reason("config reload skipped (config file not found)"),
        "config file not found"
    );
    assert_eq!(
        reason("config reload skipped by writer intent (noop)"),
        "by writer intent (noop)"
    );
    let applied = parse_line(
        mk("config change applied (dynamic reads: agents.defaults.model.primary)").as_bytes(),
    );
    assert!(
        matches!(applied, Some(Parsed::Signal(GatewaySignal::ReloadApplied { ref paths, .. })) if paths == &vec!["agents.defaults.model.primary".to_string()])
    );
}

#[test]
fn a_400_followed_by_no_provider_supported_is_gone() {
    let mut out = Vec::new();
    let mut g = 0;
    let mut p = Pending::default();
    let resp = |model: &str, t: &str| {
        format!(
            r#"{{"1":"[model-fetch] response provider=modelscope api=openai-completions model={model} status=400 elapsedMs=5","time":"{t}"}}"#
        )
    };
    handle_line(
        resp("A/a", "2026-07-08T10:00:00Z").as_bytes(),
        &mut g,
        &mut out,
        &mut p,
    );
    handle_line(
        resp("B/b", "2026-07-08T10:00:01Z").as_bytes(),
        &mut g,
        &mut out,
        &mut p,
    );
    let err = r#"{"1":"embedded run agent end: isError=true model=A/a provider=modelscope error=400 Model A/a has no provider supported","time":"2026-07-08T10:00:02Z"}"#;
    handle_line(err.as_bytes(), &mut g, &mut out, &mut p);
    let outcomes: Vec<_> = out
        .iter()
        .map(|s| match s {
            GatewaySignal::Call(r) => r.outcome.clone(),
            _ => panic!(),
        })
        .collect();
    assert!(
        matches!(outcomes[0], CallOutcome::Gone { .. }),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[1],
        CallOutcome::Failed {
            status: Some(400),
            detail: "HTTP 400".into()
        }
    );
    assert_eq!(g, 0);
    assert_eq!(out.len(), 2, "the error line itself is not another call");
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn message() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,120}",
            ("[a-z]{1,10}", "\\PC{1,30}", any::<u16>(), ".{0,20}").prop_map(|(p, m, s, rest)| format!(
                "[model-fetch] response provider={p} api=openai-completions model={m} status={s} elapsedMs=3 {rest}"
            )),
            prop::collection::vec("[a-z.]{1,20}", 0..4).prop_map(|v| format!("config hot reload applied ({})", v.join(", "))),
            ".{0,60}".prop_map(|r| format!("config reload skipped (invalid config): {r}")),
            ".{0,60}".prop_map(|r| format!("error=400 {r} has no provider supported")),
        ]
    }

    fn log_line() -> impl Strategy<Value = String> {
        (message(), any::<bool>(), 0i64..4_000_000_000_000).prop_map(|(msg, second_field, ms)| {
            let time = jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
            let v = if second_field {
                json!({"0": "{\"subsystem\":\"x\"}", "1": {"event": "e"}, "2": msg, "_meta": {"date": time}})
            } else {
                json!({"0": "{\"subsystem\":\"x\"}", "1": msg, "time": time})
            };
            v.to_string()
        })
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_line(&bytes);
            let _ = parse_rolling(&String::from_utf8_lossy(&bytes));
            let (mut g, mut out, mut p) = (0, Vec::new(), Pending::default());
            handle_line(&bytes, &mut g, &mut out, &mut p);
        }

        #[test]
        fn log_lines_parse_and_every_truncation_is_rejected(line in log_line()) {
            let parsed = parse_line(line.as_bytes());
            prop_assert!(parsed.is_some(), "{}", line);
            if let Some(Parsed::Signal(GatewaySignal::Call(r))) = &parsed {
                prop_assert!(!r.model.is_empty() && !r.provider.is_empty());
            }
            for cut in (0..line.len()).filter(|i| line.is_char_boundary(*i)).step_by(5) {
                prop_assert_eq!(parse_line(&line.as_bytes()[..cut]), None);
            }
        }

        #[test]
        fn a_batch_of_mixed_lines_never_panics(lines in prop::collection::vec(prop_oneof![
            log_line(),
            log_line().prop_map(|l| { let cut = (0..=l.len() / 2).rev().find(|i| l.is_char_boundary(*i)).unwrap_or(0); l[..cut].to_owned() }),
            ".{0,80}",
        ], 0..20)) {
            let (mut g, mut out, mut p) = (0, Vec::new(), Pending::default());
            for l in &lines {
                handle_line(l.as_bytes(), &mut g, &mut out, &mut p);
            }
            prop_assert!(g as usize + out.len() <= lines.len());
        }

        #[test]
        fn rolling_names_round_trip(profile in "[a-z0-9][a-z0-9-]{0,10}", y in 1000u32..9999, m in 1u32..13, d in 1u32..32, n in 0u32..6) {
            let date = format!("{y:04}-{m:02}-{d:02}");
            let family = format!("openclaw-{profile}");
            let name = if n == 0 { format!("{family}-{date}.log") } else { format!("{family}-{date}.{n}.log") };
            prop_assert_eq!(parse_rolling(&name), Some((family.as_str(), date.as_str(), n)));
        }
    }
}
