use super::*;

#[test]
fn the_model_of_a_whole_body_needs_valid_json() {
    assert_eq!(
        model_of(
            br#"{"messages":[{"role":"user","content":"hi \"model\""}],"model":"Qwen/Q"}"#,
            true
        )
        .as_deref(),
        Some("Qwen/Q")
    );
    assert_eq!(
        model_of(b" {\n \"model\" : \"a/b\" } \n", true).as_deref(),
        Some("a/b")
    );
    assert_eq!(
        model_of(br#"{"model":"a/b","messages":[}"#, true),
        None,
        "broken JSON"
    );
    assert_eq!(model_of(br#"{"model":"a/b"} trailing"#, true), None);
    assert_eq!(model_of(br#"{"model":7}"#, true), None);
    assert_eq!(model_of(br#"{"model":""}"#, true), None);
    assert_eq!(model_of(br#"["model","a/b"]"#, true), None);
    assert_eq!(model_of(b"model=a/b", true), None);
    assert_eq!(
        model_of(br#"{"inner":{"model":"x/y"}}"#, true),
        None,
        "only the top level counts"
    );
}

#[test]
fn a_cut_body_names_the_model_when_it_comes_first() {
    assert_eq!(
        model_of(
            br#"{"model":"a/b","messages":[{"role":"user","content":"aaaa"#,
            false
        )
        .as_deref(),
        Some("a/b")
    );
    assert_eq!(
        model_of(br#"{"stream":true,"model":"a/b","messages":[{"ro"#, false).as_deref(),
        Some("a/b")
    );
    assert_eq!(
        model_of(br#"{"messages":[{"role":"user","content":"aaaa"#, false),
        None
    );
    assert_eq!(model_of(b"not json at all", false), None);
}

#[test]
fn quota_headers_are_read_when_present() {
    let mut h = HeaderMap::new();
    h.insert(
        "modelscope-ratelimit-model-requests-remaining",
        "0".parse().unwrap(),
    );
    h.insert(
        "ModelScope-RateLimit-Requests-Limit",
        "2000".parse().unwrap(),
    );
    h.insert(
        "modelscope-ratelimit-requests-remaining",
        "lots".parse().unwrap(),
    );
    let q = QuotaHeaders::from_headers(&h);
    assert_eq!(
        q,
        QuotaHeaders {
            model_remaining: Some(0),
            model_limit: None,
            requests_remaining: None,
            requests_limit: Some(2000)
        }
    );
    assert!(QuotaHeaders::from_headers(&HeaderMap::new()).is_empty());
}

#[test]
fn error_details_come_from_either_shape() {
    assert_eq!(
        error_detail(br#"{"errors":{"message":"Request limit exceeded.","request_id":"r"}}"#),
        "Request limit exceeded."
    );
    assert_eq!(
        error_detail(br#"{"error":{"message":"Model x has no provider supported"}}"#),
        "Model x has no provider supported"
    );
    assert_eq!(error_detail(b"  upstream\n  broke "), "upstream broke");
    assert!(error_detail(&[b'x'; 1000]).chars().count() <= 301);
}

#[test]
fn the_credential_is_redacted() {
    let auth = Some("Bearer ms-0123456789");
    assert_eq!(
        redact("bad token ms-0123456789 here".into(), auth),
        "bad token [redacted] here"
    );
    assert_eq!(
        redact("got Bearer ms-0123456789".into(), auth),
        "got [redacted]"
    );
    assert_eq!(redact("nothing".into(), None), "nothing");
}

#[test]
fn hop_by_hop_headers_go() {
    let mut h = HeaderMap::new();
    h.insert("connection", "keep-alive, x-hop".parse().unwrap());
    h.insert("x-hop", "1".parse().unwrap());
    h.insert("keep-alive", "timeout=5".parse().unwrap());
    h.insert("transfer-encoding", "chunked".parse().unwrap());
    h.insert("authorization", "Bearer t".parse().unwrap());
    h.insert("x-keep", "1".parse().unwrap());
    strip_hop_by_hop(&mut h);
    let mut names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["authorization", "x-keep"]);
}

#[test]
fn the_spent_body_says_what_openclaw_looks_for() {
    let body: serde_json::Value =
        serde_json::from_slice(&spent_body("Qwen/Q", "2026-11-26T00:00:00+08:00")).unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("daily quota exceeded") && msg.contains("requests per day"),
        "{msg}"
    );
    assert!(
        msg.contains("Qwen/Q") && msg.contains("2026-11-26T00:00:00+08:00"),
        "{msg}"
    );
    assert_eq!(body["error"]["type"], "rate_limit_exceeded");
    assert_eq!(body["error"]["code"], "daily_limit_reached");
    let text = String::from_utf8(spent_body("Qwen/Q", "t")).unwrap();
    assert!(
        !text.contains("insufficient") && !text.contains("billing"),
        "OpenClaw reads those as billing: {text}"
    );
}
