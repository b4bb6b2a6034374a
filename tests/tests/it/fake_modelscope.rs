//! The fake ModelScope server, driven by a real HTTP client.

use std::time::{Duration, Instant};

use msclaw_tests::fake_modelscope::*;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn chat(fake: &FakeModelScope, model: &str, stream: bool) -> reqwest::Response {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    client()
        .post(format!("{}/chat/completions", fake.base_url()))
        .bearer_auth("ms-test-FAKEKEY-do-not-leak")
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn quota_spent_answers_429_with_modelscope_body() {
    let fake = FakeModelScope::start(FakeConfig::default().quota(QWEN, 2));
    assert!(fake.base_url().starts_with("http://127.0.0.1:") && fake.base_url().ends_with("/v1"));
    for i in 0..2 {
        let r = chat(&fake, QWEN, false).await;
        assert_eq!(r.status(), 200, "call {i} within quota");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], QWEN);
        assert_eq!(
            v["choices"][0]["message"]["content"],
            format!("ok from {QWEN}")
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
    }
    let r = chat(&fake, QWEN, false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"]["message"], "Request limit exceeded.");
    let rid = v["errors"]["request_id"].as_str().unwrap();
    assert_eq!(rid.len(), 36, "uuid-shaped request id: {rid}");
    assert_eq!(rid.matches('-').count(), 4, "uuid-shaped request id: {rid}");
    assert!(v.get("error").is_none());
    // Stays spent, and other models are not affected.
    assert_eq!(chat(&fake, QWEN, true).await.status(), 429);
    assert_eq!(chat(&fake, GLM5, false).await.status(), 200);

    assert_eq!(fake.count(QWEN, 200), 2);
    assert_eq!(fake.count(QWEN, 429), 2);
    assert_eq!(fake.count(GLM5, 200), 1);
    assert_eq!(fake.count_model(QWEN), 4);
    assert_eq!(fake.count_status(429), 2);
    assert_eq!(fake.used(QWEN), 2);

    // A new day.
    fake.reset_quotas();
    assert_eq!(fake.used(QWEN), 0);
    assert_eq!(chat(&fake, QWEN, false).await.status(), 200);
    // Quota changed at run time.
    fake.set_quota(QWEN, Some(1));
    assert_eq!(chat(&fake, QWEN, false).await.status(), 429);
    fake.set_quota(QWEN, None);
    assert_eq!(chat(&fake, QWEN, false).await.status(), 200);
}

#[tokio::test]
async fn error_shape_and_message_switches() {
    let fake = FakeModelScope::start(
        FakeConfig::empty()
            .quota(KIMI, 0)
            .error_shape(ErrorShape::Error),
    );
    let v: Value = chat(&fake, KIMI, false).await.json().await.unwrap();
    assert_eq!(v, json!({"error": {"message": "Request limit exceeded."}}));

    fake.set_limit_message(Some(DAILY_LIMIT_MESSAGE));
    let v: Value = chat(&fake, KIMI, false).await.json().await.unwrap();
    assert_eq!(v, json!({"error": {"message": "daily quota exceeded"}}));

    fake.set_error_shape(ErrorShape::Errors);
    let r = chat(&fake, KIMI, true).await;
    assert_eq!(
        r.status(),
        429,
        "a spent model answers 429 to a streaming request too"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"]["message"], "daily quota exceeded");

    fake.set_limit_message(None);
    let v: Value = chat(&fake, KIMI, false).await.json().await.unwrap();
    assert_eq!(v["errors"]["message"], LIMIT_MESSAGE);

    let fake2 = FakeModelScope::start(FakeConfig::empty().quota(QWEN, 0).limit_message("x y z"));
    let v: Value = chat(&fake2, QWEN, false).await.json().await.unwrap();
    assert_eq!(v["errors"]["message"], "x y z");
}

#[tokio::test]
async fn unknown_model_answers_400_no_provider() {
    let fake = FakeModelScope::start(FakeConfig::empty().model(QWEN, None));
    let r = chat(&fake, GLM5, false).await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains(NO_PROVIDER_MARKER), "{text}");
    assert!(text.contains(GLM5), "{text}");
    assert_eq!(fake.count(GLM5, 400), 1);

    fake.remove_model(QWEN);
    assert_eq!(chat(&fake, QWEN, false).await.status(), 400);
    fake.set_quota(GLM5, None);
    assert_eq!(chat(&fake, GLM5, false).await.status(), 200);
}

#[tokio::test]
async fn rate_limit_headers_on_and_off() {
    let fake = FakeModelScope::start(
        FakeConfig::default()
            .quota(QWEN, 2)
            .quota_headers(true)
            .account_limit(100),
    );
    let r = chat(&fake, QWEN, false).await;
    assert_eq!(header(&r, H_MODEL_LIMIT).as_deref(), Some("2"));
    assert_eq!(header(&r, H_MODEL_REMAINING).as_deref(), Some("1"));
    assert_eq!(header(&r, H_ACCOUNT_LIMIT).as_deref(), Some("100"));
    assert_eq!(header(&r, H_ACCOUNT_REMAINING).as_deref(), Some("99"));
    let r = chat(&fake, QWEN, true).await; // streaming replies carry them too
    assert_eq!(header(&r, H_MODEL_REMAINING).as_deref(), Some("0"));
    assert_eq!(header(&r, H_ACCOUNT_REMAINING).as_deref(), Some("98"));
    let _ = r.text().await;
    let r = chat(&fake, QWEN, false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, H_MODEL_REMAINING).as_deref(),
        Some("0"),
        "429 carries the headers"
    );
    assert_eq!(
        header(&r, H_ACCOUNT_REMAINING).as_deref(),
        Some("98"),
        "a 429 is not a spent call"
    );
    // An unlimited model reports against the account limit.
    let r = chat(&fake, GLM5, false).await;
    assert_eq!(header(&r, H_MODEL_LIMIT).as_deref(), Some("100"));
    assert_eq!(header(&r, H_ACCOUNT_REMAINING).as_deref(), Some("97"));

    fake.set_quota_headers(false);
    let r = chat(&fake, GLM5, false).await;
    assert_eq!(r.status(), 200);
    for h in [
        H_MODEL_LIMIT,
        H_MODEL_REMAINING,
        H_ACCOUNT_LIMIT,
        H_ACCOUNT_REMAINING,
    ] {
        assert!(
            header(&r, h).is_none(),
            "{h} must be absent when switched off"
        );
    }
    let off = FakeModelScope::start(FakeConfig::default());
    let r = chat(&off, QWEN, false).await;
    assert!(
        header(&r, H_MODEL_REMAINING).is_none(),
        "headers are off by default"
    );
}

#[tokio::test]
async fn streaming_sends_chunks_usage_then_done() {
    let fake = FakeModelScope::start(FakeConfig::default());
    let r = chat(&fake, MINIMAX, true).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("text/event-stream")
    );
    let body = r.text().await.unwrap();
    let events: Vec<&str> = body
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not an SSE data event: {e:?}"))
        })
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{body}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks.len() >= 3);
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], MINIMAX);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, format!("ok from {MINIMAX}"));
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]), "the usage chunk has no choices");
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let recs = fake.chat_requests();
    assert_eq!(recs.len(), 1);
    assert!(recs[0].stream && recs[0].include_usage);
}

#[tokio::test]
async fn models_endpoint_lists_served_models() {
    let fake = FakeModelScope::start(FakeConfig::default().quota(QWEN, 0));
    let v: Value = client()
        .get(format!("{}/models", fake.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        MODELS.to_vec(),
        "a spent model is still listed, in config order"
    );
    fake.remove_model(GLM5);
    fake.set_quota("Qwen/Qwen3-Coder", None);
    let v: Value = client()
        .get(format!("{}/models", fake.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![QWEN, MINIMAX, KIMI, "Qwen/Qwen3-Coder"]);
}

#[tokio::test]
async fn records_every_request() {
    let fake = FakeModelScope::start(FakeConfig::default().quota(GLM5, 1));
    let t0 = Instant::now();
    let j0 = jiff::Timestamp::now();
    chat(&fake, GLM5, false).await;
    chat(&fake, GLM5, true).await;
    client()
        .get(format!("{}/models", fake.base_url()))
        .send()
        .await
        .unwrap();
    let r = client()
        .get(format!("http://{}/nope", fake.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .post(format!("{}/chat/completions", fake.base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let recs = fake.requests();
    assert_eq!(recs.len(), 5);
    let summary: Vec<(&str, &str, Option<&str>, u16, bool)> = recs
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                r.model.as_deref(),
                r.status,
                r.stream,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST", "/v1/chat/completions", Some(GLM5), 200, false),
            ("POST", "/v1/chat/completions", Some(GLM5), 429, true),
            ("GET", "/v1/models", None, 200, false),
            ("GET", "/nope", None, 404, false),
            ("POST", "/v1/chat/completions", None, 400, false),
        ]
    );
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        assert!(r.instant >= t0 && r.at >= j0);
        if i > 0 {
            assert!(r.instant >= recs[i - 1].instant);
        }
    }
    assert_eq!(
        recs[0].authorization.as_deref(),
        Some("Bearer ms-test-FAKEKEY-do-not-leak")
    );
    assert_eq!(
        recs[0].body.as_ref().unwrap()["messages"][0]["content"],
        "hi"
    );
    assert_eq!(fake.chat_requests().len(), 3);

    fake.clear_requests();
    assert!(fake.requests().is_empty());
    assert_eq!(fake.used(GLM5), 1, "clearing records keeps quotas");
}

#[tokio::test]
async fn api_key_check_latency_and_wait_for() {
    let fake = FakeModelScope::start(
        FakeConfig::default()
            .require_api_key("ms-test-FAKEKEY-do-not-leak")
            .latency(Duration::from_millis(300)),
    );
    let t = Instant::now();
    assert_eq!(chat(&fake, QWEN, false).await.status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "latency applies: {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let r = chat(&fake, QWEN, true).await;
    assert!(r.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "latency applies to streams: {:?}",
        t.elapsed()
    );
    fake.set_latency(Duration::ZERO);

    let r = client()
        .post(format!("{}/chat/completions", fake.base_url()))
        .bearer_auth("wrong")
        .json(&json!({"model": QWEN, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"]["message"], AUTH_FAILED_MESSAGE);
    assert_eq!(fake.used(QWEN), 2, "a 401 spends nothing");

    assert!(fake.wait_for(Duration::from_millis(100), |r| r.len() == 3));
    assert!(!fake.wait_for(Duration::from_millis(100), |r| r.len() == 4));
}

#[test]
fn usable_without_a_runtime_and_stops_on_drop() {
    let fake = FakeModelScope::start(FakeConfig::default());
    let addr = fake.addr();
    // A blocking client from a plain #[test]: raw HTTP over TcpStream.
    let (status, body) =
        msclaw_tests::openclaw::http_get(addr.port(), "/v1/models", Duration::from_secs(5))
            .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(QWEN));
    drop(fake);
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the port is closed once the handle is dropped"
    );
}

#[tokio::test]
async fn balance_mode_charges_per_model_and_refuses_every_model_when_gone() {
    // 5 units: Qwen costs 2, GLM 0.5, the others 1.
    let fake = FakeModelScope::start(
        FakeConfig::default()
            .balance(5)
            .cost_milli(QWEN, 2000)
            .cost_milli(GLM5, 500),
    );
    for (model, status, left) in [
        (QWEN, 200, 3000),
        (QWEN, 200, 1000),
        (QWEN, 429, 1000), // cannot pay 2
        (KIMI, 200, 0),
        (GLM5, 429, 0), // gone: every model refused
        (MINIMAX, 429, 0),
    ] {
        let r = chat(&fake, model, false).await;
        assert_eq!(r.status(), status, "{model}");
        assert_eq!(fake.balance_milli(), Some(left), "after {model}");
        if status == 429 {
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["errors"]["message"], LIMIT_MESSAGE);
        }
    }
    // The test endpoint refills it.
    let r = client()
        .post(format!("http://{}/test/balance", fake.addr()))
        .json(&json!({"balance": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(chat(&fake, GLM5, true).await.status(), 200);
    assert_eq!(fake.balance_milli(), Some(500));
    // A second provider: the same server with another model list, on another port.
    let other = FakeModelScope::start(FakeConfig::empty().model("qwen/qwen3-coder:free", None));
    assert_ne!(other.port(), fake.port());
    assert_eq!(
        chat(&other, "qwen/qwen3-coder:free", false).await.status(),
        200
    );
    assert_eq!(chat(&other, QWEN, false).await.status(), 400);
}
