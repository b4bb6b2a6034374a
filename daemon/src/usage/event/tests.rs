use super::error_outcome::status_from_text;
use super::*;
use serde_json::Value;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const OK_ROW: &str = r#"{"type":"message","id":"792b9914","parentId":"df2bdeb3","timestamp":"2026-02-25T05:19:47.535Z","message":{"role":"assistant","content":[{"type":"text","text":"hi"}],"api":"openai-completions","provider":"modelscope","model":"Qwen/Qwen3.5-397B-A17B","usage":{"input":2651,"output":232,"cacheRead":0,"cacheWrite":0,"totalTokens":2883,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"stopReason":"stop","timestamp":1771996780527}}"#;

#[test]
fn successful_reply_is_a_call_at_message_timestamp() {
    let ParsedEvent::Call(c) = parse_event(OK_ROW, None) else {
        panic!()
    };
    assert_eq!(c.provider, "modelscope");
    assert_eq!(c.model, "Qwen/Qwen3.5-397B-A17B");
    assert_eq!(c.at, Timestamp::from_millisecond(1771996780527).unwrap());
    assert_eq!(c.outcome, CallOutcome::Success);
    assert_eq!(c.entry_id.as_deref(), Some("792b9914"));
}

#[test]
fn every_non_error_stop_reason_is_success() {
    for reason in ["stop", "toolUse", "length", "aborted"] {
        let row = OK_ROW.replace(
            r#""stopReason":"stop""#,
            &format!(r#""stopReason":"{reason}""#),
        );
        let ParsedEvent::Call(c) = parse_event(&row, None) else {
            panic!("{reason}")
        };
        assert_eq!(c.outcome, CallOutcome::Success, "{reason}");
    }
}

#[test]
fn time_falls_back_to_row_time_then_outer_iso() {
    let row = OK_ROW.replace(r#","timestamp":1771996780527"#, "");
    let created = ts("2026-02-25T05:20:00Z");
    let ParsedEvent::Call(c) = parse_event(&row, Some(created)) else {
        panic!()
    };
    assert_eq!(c.at, created);
    let ParsedEvent::Call(c) = parse_event(&row, None) else {
        panic!()
    };
    assert_eq!(c.at, ts("2026-02-25T05:19:47.535Z"));
    let row = row.replace(r#""timestamp":"2026-02-25T05:19:47.535Z","#, "");
    assert_eq!(
        parse_event(&row, None),
        ParsedEvent::Malformed("assistant message without a time")
    );
}

#[test]
fn rate_limited_error_row_means_the_retry_loop_failed() {
    let row = r#"{"type":"message","id":"a1","message":{"role":"assistant","content":[],"api":"openai-completions","provider":"modelscope","model":"Qwen/Qwen3.5-397B-A17B","stopReason":"error","errorMessage":"429 {\"errors\":{\"message\":\"Request limit exceeded.\"}}","errorCode":"429","timestamp":1764000000000}}"#;
    let ParsedEvent::Call(c) = parse_event(row, None) else {
        panic!()
    };
    assert_eq!(
        c.outcome,
        CallOutcome::RateLimited {
            retry_loop_failed: true
        }
    );
}

#[test]
fn withdrawn_model_is_gone() {
    let row = r#"{"type":"message","id":"a2","message":{"role":"assistant","provider":"modelscope","model":"Old/Model","stopReason":"error","errorMessage":"400 Model Old/Model has no provider supported","timestamp":1764000000000}}"#;
    let ParsedEvent::Call(c) = parse_event(row, None) else {
        panic!()
    };
    assert!(
        matches!(c.outcome, CallOutcome::Gone { ref detail } if detail.contains("has no provider supported"))
    );
    let row404 = row.replace(
        "400 Model Old/Model has no provider supported",
        "404 page not found",
    );
    let ParsedEvent::Call(c) = parse_event(&row404, None) else {
        panic!()
    };
    assert!(matches!(c.outcome, CallOutcome::Gone { .. }));
}

#[test]
fn other_errors_fail_with_their_status() {
    assert_eq!(
        classify_error(
            Some(&Value::String("500".into())),
            Some("500 internal error")
        ),
        CallOutcome::Failed {
            status: Some(500),
            detail: "500 internal error".into()
        }
    );
    assert_eq!(
        classify_error(
            Some(&Value::String("incomplete_tool_call".into())),
            Some("")
        ),
        CallOutcome::Failed {
            status: None,
            detail: "incomplete_tool_call".into()
        }
    );
    assert_eq!(
        classify_error(None, Some("400 bad request")),
        CallOutcome::Failed {
            status: Some(400),
            detail: "400 bad request".into()
        }
    );
    assert_eq!(
        classify_error(None, Some("API rate limit reached")),
        CallOutcome::RateLimited {
            retry_loop_failed: true
        }
    );
    assert_eq!(
        classify_error(Some(&serde_json::json!(429)), None),
        CallOutcome::RateLimited {
            retry_loop_failed: true
        }
    );
    assert_eq!(
        status_from_text("Request failed with status code 503"),
        Some(503)
    );
    assert_eq!(status_from_text("4290 things"), None);
}

#[test]
fn synthetic_and_non_assistant_entries_are_not_calls() {
    let mirror = OK_ROW.replace(
        r#""provider":"modelscope","model":"Qwen/Qwen3.5-397B-A17B""#,
        r#""provider":"openclaw","model":"delivery-mirror""#,
    );
    assert_eq!(parse_event(&mirror, None), ParsedEvent::NotACall);
    assert_eq!(
        parse_event(
            &OK_ROW.replace(r#""role":"assistant""#, r#""role":"user""#),
            None
        ),
        ParsedEvent::NotACall
    );
    assert_eq!(
        parse_event(
            r#"{"type":"session","version":4,"id":"s","timestamp":"2026-01-01T00:00:00Z"}"#,
            None
        ),
        ParsedEvent::NotACall
    );
    assert_eq!(
        parse_event(
            r#"{"type":"model_change","provider":"modelscope","modelId":"x"}"#,
            None
        ),
        ParsedEvent::NotACall
    );
    assert_eq!(
        parse_event(r#"{"type":"message","message":"hello"}"#, None),
        ParsedEvent::NotACall
    );
    assert_eq!(
        parse_event(r#"{"type":"message","message":[1,2]}"#, None),
        ParsedEvent::NotACall
    );
}

#[test]
fn garbage_is_malformed() {
    assert_eq!(
        parse_event("", None),
        ParsedEvent::Malformed("not valid JSON")
    );
    assert_eq!(
        parse_event(&OK_ROW[..OK_ROW.len() - 3], None),
        ParsedEvent::Malformed("not valid JSON")
    );
    assert_eq!(
        parse_event("[1,2]", None),
        ParsedEvent::Malformed("not a JSON object")
    );
    assert_eq!(
        parse_event("42", None),
        ParsedEvent::Malformed("not a JSON object")
    );
    assert_eq!(
        parse_event_bytes(b"{\"type\":\"\xff\"}", None),
        ParsedEvent::Malformed("not valid JSON")
    );
    let no_provider = OK_ROW.replace(r#""provider":"modelscope","#, "");
    assert_eq!(
        parse_event(&no_provider, None),
        ParsedEvent::Malformed("assistant message without provider")
    );
}

#[test]
fn duplicate_keys_last_one_wins_like_javascript() {
    let row = r#"{"type":"message","message":{"role":"user","role":"assistant","provider":"p","model":"m","timestamp":5}}"#;
    assert!(matches!(parse_event(row, None), ParsedEvent::Call(_)));
}

#[test]
fn escaped_strings_and_non_string_fields_read_as_their_values() {
    // Strings are borrowed from the row unless they carry an escape: both read the same.
    let row = OK_ROW
        .replace(
            r#""provider":"modelscope""#,
            r#""provider":"model\u0073cope""#,
        )
        .replace("Qwen/Qwen3.5", r"Qwen\/Qwen3.5")
        .replace(r#""id":"792b9914""#, r#""id":"792\u00629914""#);
    let ParsedEvent::Call(c) = parse_event(&row, None) else {
        panic!()
    };
    assert_eq!(
        (c.provider.as_str(), c.model.as_str(), c.entry_id.as_deref()),
        ("modelscope", "Qwen/Qwen3.5-397B-A17B", Some("792b9914"))
    );
    // A numeric errorCode, an object where a string belongs.
    let error = |code: &str| {
        OK_ROW
            .replace(r#""stopReason":"stop""#, r#""stopReason":"error""#)
            .replace(r#""api":"#, &format!(r#""errorCode":{code},"api":"#))
    };
    let ParsedEvent::Call(c) = parse_event(&error("429"), None) else {
        panic!()
    };
    assert_eq!(
        c.outcome,
        CallOutcome::RateLimited {
            retry_loop_failed: true
        }
    );
    let ParsedEvent::Call(c) = parse_event(&error(r#"{"status":500}"#), None) else {
        panic!()
    };
    assert_eq!(
        c.outcome,
        CallOutcome::Failed {
            status: None,
            detail: r#"{"status":500}"#.into()
        }
    );
    let model_object = OK_ROW.replace(
        r#""model":"Qwen/Qwen3.5-397B-A17B""#,
        r#""model":{"id":"x"}"#,
    );
    assert_eq!(
        parse_event(&model_object, None),
        ParsedEvent::Malformed("assistant message without model")
    );
    // The navigation reads its `model` part the same way.
    let nav = r#"{"version":1,"report":{},"model":{"type":"mess\u0061ge","id":"e1","message":{"role":"assistant","provider":"model\u0073cope","model":"Q\/M","timestamp":"1783504800000","stopReason":"stop"}}}"#;
    let NavigationVerdict::Call(c) = classify_navigation(nav, None) else {
        panic!("{nav}")
    };
    assert_eq!(
        (c.provider.as_str(), c.model.as_str(), c.at.as_millisecond()),
        ("modelscope", "Q/M", 1783504800000)
    );
}

#[test]
fn detail_is_short_one_line_and_has_no_credentials() {
    let long = "x".repeat(1000);
    assert_eq!(sanitize_detail(&long).chars().count(), DETAIL_MAX_CHARS);
    assert_eq!(sanitize_detail("a\nb\tc"), "a b c");
    let leaky = "401 invalid token ms-0123456789abcdef0123 sent with Authorization: Bearer abc.def";
    let d = sanitize_detail(leaky);
    assert!(!d.contains("ms-0123456789abcdef0123"), "{d}");
    assert!(!d.contains("abc.def"), "{d}");
    assert!(d.starts_with("401 invalid token [redacted]"), "{d}");
    assert!(!sanitize_detail("apiKey=sk-live-123").contains("sk-live"));
    // model ids stay readable
    assert_eq!(
        sanitize_detail("400 Model Qwen/Qwen3.5-397B-A17B has no provider supported"),
        "400 Model Qwen/Qwen3.5-397B-A17B has no provider supported"
    );
}

#[test]
fn navigation_classifies_without_the_event() {
    let ok = r#"{"version":1,"report":{"kind":"canonical"},"navigation":{},"reset":{},"model":{"type":"message","id":"e1","timestamp":"2026-07-08T10:00:00Z","message":{"role":"assistant","provider":"modelscope","model":"Q/M","timestamp":1783504800000,"stopReason":"toolUse","content":[]}},"modelBytes":1,"modelWithoutCheckpointBytes":1,"withoutCustomDataBytes":1}"#;
    let NavigationVerdict::Call(c) = classify_navigation(ok, None) else {
        panic!()
    };
    assert_eq!(
        (c.provider.as_str(), c.model.as_str(), c.entry_id.as_deref()),
        ("modelscope", "Q/M", Some("e1"))
    );
    assert_eq!(c.at.as_millisecond(), 1783504800000);
    assert_eq!(
        classify_navigation(&ok.replace("toolUse", "error"), None),
        NavigationVerdict::NeedEvent
    );
    assert_eq!(
        classify_navigation(
            &ok.replace(r#""role":"assistant""#, r#""role":"toolResult""#),
            None
        ),
        NavigationVerdict::NotACall
    );
    assert_eq!(
        classify_navigation(
            &ok.replace(r#""type":"message""#, r#""type":"compaction""#),
            None
        ),
        NavigationVerdict::NotACall
    );
    assert_eq!(
        classify_navigation(&ok.replace("modelscope", "openclaw"), None),
        NavigationVerdict::NotACall
    );
    assert_eq!(classify_navigation("{", None), NavigationVerdict::NeedEvent);
    assert_eq!(
        classify_navigation(r#"{"version":1}"#, None),
        NavigationVerdict::NeedEvent
    );
}

/// A JSON value's time, as a field of an event reads it.
fn timestamp_from_value(v: &Value) -> Option<Timestamp> {
    let text = v.to_string();
    time_of(&Some(
        serde_json::from_str::<raw::Scalar<'_>>(&text).unwrap(),
    ))
}

#[test]
fn timestamps_accept_ms_and_iso() {
    assert_eq!(
        timestamp_from_value(&serde_json::json!(1000)),
        Some(Timestamp::from_millisecond(1000).unwrap())
    );
    assert_eq!(
        timestamp_from_value(&serde_json::json!(1000.7)),
        Some(Timestamp::from_millisecond(1000).unwrap())
    );
    assert_eq!(
        timestamp_from_value(&serde_json::json!("1000")),
        Some(Timestamp::from_millisecond(1000).unwrap())
    );
    assert_eq!(
        timestamp_from_value(&serde_json::json!("2026-07-08T22:41:50.257-03:00")),
        Some(ts("2026-07-09T01:41:50.257Z"))
    );
    assert_eq!(timestamp_from_value(&serde_json::json!(-5)), None);
    assert_eq!(timestamp_from_value(&serde_json::json!(1e300)), None);
    assert_eq!(timestamp_from_value(&serde_json::json!("yesterday")), None);
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "type",
                "message",
                "role",
                "provider",
                "model",
                "stopReason",
                "errorCode",
                "errorMessage",
                "timestamp",
                "id",
                "content"
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z_]{1,8}",
        ]
    }

    /// Arbitrary JSON, biased towards the field names and values the parser looks at.
    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".{0,24}".prop_map(Value::from),
            prop::sample::select(vec![
                "message",
                "assistant",
                "error",
                "openclaw",
                "modelscope",
                "429",
                "404",
                "400 x has no provider supported",
                "2026-07-08T10:00:00Z"
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..7)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn check_call(c: &TranscriptCall) {
        assert!(!c.provider.is_empty() && c.provider != "openclaw");
        assert!(!c.model.is_empty());
        match &c.outcome {
            CallOutcome::Gone { detail } | CallOutcome::Failed { detail, .. } => {
                assert!(detail.chars().count() <= DETAIL_MAX_CHARS);
                assert!(!detail.contains('\n'));
            }
            _ => {}
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_event_bytes(&bytes, None);
            let _ = classify_navigation(&String::from_utf8_lossy(&bytes), None);
        }

        #[test]
        fn random_json_never_panics_and_calls_are_sane(v in arb_json(), wrap in any::<bool>()) {
            // Half the time force the outer shape of an assistant message around it.
            let v = if wrap { json!({"type": "message", "id": "x", "message": v}) } else { v };
            let text = v.to_string();
            if let ParsedEvent::Call(c) = parse_event(&text, None) { check_call(&c) }
            let nav = json!({"model": v});
            if let NavigationVerdict::Call(c) = classify_navigation(&nav.to_string(), None) { check_call(&c) }
        }

        #[test]
        fn assistant_rows_round_trip_and_every_truncation_is_malformed(
            provider in "[a-z]{1,12}",
            model in "\\PC{1,40}",
            ms in 1i64..4_000_000_000_000,
            stop in prop::sample::select(vec!["stop", "toolUse", "length", "aborted", "error"]),
            code in prop::option::of(prop::sample::select(vec!["429", "404", "500", "incomplete_tool_call"])),
            message in ".{0,300}",
        ) {
            prop_assume!(provider != "openclaw");
            let mut ev = json!({"type": "message", "id": "e1", "timestamp": "2026-07-08T10:00:00Z",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}], "provider": provider,
                            "model": model, "stopReason": stop, "timestamp": ms}});
            if stop == "error" {
                ev["message"]["errorMessage"] = json!(message);
                if let Some(c) = code { ev["message"]["errorCode"] = json!(c); }
            }
            let text = ev.to_string();
            let ParsedEvent::Call(c) = parse_event(&text, None) else { panic!("{text}") };
            prop_assert_eq!(&c.model, &model);
            prop_assert_eq!(c.at.as_millisecond(), ms);
            prop_assert_eq!(stop != "error", c.outcome == CallOutcome::Success);
            if stop == "error" && code == Some("429") { prop_assert_eq!(&c.outcome, &CallOutcome::RateLimited { retry_loop_failed: true }); }
            check_call(&c);
            for cut in (0..text.len()).filter(|i| text.is_char_boundary(*i)).step_by(7) {
                prop_assert_eq!(parse_event(&text[..cut], None), ParsedEvent::Malformed("not valid JSON"));
            }
        }

        #[test]
        fn details_are_bounded_single_line_and_never_carry_keys(
            before in ".{0,300}", after in ".{0,300}", key in "[A-Za-z0-9]{20,40}", prefix in prop::sample::select(vec!["ms-", "sk-"]),
        ) {
            let secret = format!("{prefix}{key}");
            let d = sanitize_detail(&format!("{before} {secret} {after}"));
            prop_assert!(d.chars().count() <= DETAIL_MAX_CHARS);
            prop_assert!(!d.chars().any(char::is_control));
            prop_assert!(!d.contains(&secret));
            let d = sanitize_detail(&format!("{before} Authorization: Bearer {key} {after}"));
            prop_assert!(!d.contains(&key) || before.contains(&key));
        }
    }
}
