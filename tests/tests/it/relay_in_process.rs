//! The metering relay wired into the daemon: counts feed the policy, spent models are answered
//! locally with a long-window 429, and ModelScope's ambiguous 429 is rewritten once the model is
//! judged spent.

use std::time::Duration;

use msclaw_tests::daemon::{RELAY_TOKEN, start_with_relay};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, GLM5, QWEN};

const WAIT: Duration = Duration::from_secs(10);

async fn chat(client: &reqwest::Client, base: &str, model: &str) -> (u16, String) {
    let response = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(RELAY_TOKEN)
        .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_known_limit_is_counted_by_the_relay_and_spent_models_are_answered_locally() {
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(100));
    let (_dir, _layout, daemon, relay) = start_with_relay(&fake, "2").await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(chat(&client, &relay, QWEN).await.0, 200);
    }
    let status = daemon
        .wait_for("switch to GLM", WAIT, |s| {
            s.active_model.as_deref() == Some("modelscope/ZhipuAI/GLM-5")
        })
        .await
        .unwrap();
    assert_eq!(status.models[0].relay_calls, Some(2));
    assert_eq!(status.models[0].used, 2);
    // A late request for the spent model never reaches ModelScope.
    let (code, body) = chat(&client, &relay, QWEN).await;
    assert_eq!(code, 429);
    assert!(
        body.contains("daily quota exceeded") && body.contains("requests per day"),
        "{body}"
    );
    assert_eq!(
        fake.count_model(QWEN),
        2,
        "the fake server saw only the two served calls"
    );
    let status = daemon.status().await.unwrap();
    let relay_status = status.relay.expect("relay status");
    assert_eq!(relay_status.answered_locally, 1);
    assert_eq!(status.models[0].used, 2, "a local answer is not a call");
    assert_eq!(chat(&client, &relay, GLM5).await.0, 200);
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_limit_spends_on_the_third_429_and_rewrites_it() {
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(1));
    let (_dir, _layout, daemon, relay) = start_with_relay(&fake, "\"unknown\"").await;
    let client = reqwest::Client::new();
    assert_eq!(chat(&client, &relay, QWEN).await.0, 200);
    // ModelScope's own ambiguous 429 passes unchanged while it may be a throttle.
    for _ in 0..2 {
        let (code, body) = chat(&client, &relay, QWEN).await;
        assert_eq!(code, 429);
        assert!(body.contains("Request limit exceeded."), "{body}");
    }
    let (code, body) = chat(&client, &relay, QWEN).await;
    assert_eq!(code, 429);
    assert!(
        body.contains("daily quota exceeded"),
        "the third in a row is judged spent: {body}"
    );
    let status = daemon
        .wait_for("switch to GLM", WAIT, |s| {
            s.active_model.as_deref() == Some("modelscope/ZhipuAI/GLM-5")
        })
        .await
        .unwrap();
    assert!(
        status.models[0]
            .spent_reason
            .as_deref()
            .unwrap()
            .contains("rate-limit")
    );
    let before = fake.count_model(QWEN);
    let (code, _) = chat(&client, &relay, QWEN).await;
    assert_eq!(code, 429);
    assert_eq!(
        fake.count_model(QWEN),
        before,
        "answered locally once spent"
    );
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn other_users_requests_without_the_token_spend_nothing() {
    // Every request upstream would be a 429 (quota 0): another user's traffic, had it been
    // forwarded, would soon mark the model spent.
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(0));
    let (_dir, _layout, daemon, relay) = start_with_relay(&fake, "\"unknown\"").await;
    let client = reqwest::Client::new();
    for _ in 0..10 {
        let response = client
            .post(format!("{relay}/chat/completions"))
            .bearer_auth("sk-another-users-exhausted-key")
            .json(&serde_json::json!({"model": QWEN, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
    // The user's own request still goes through: the model is not held spent.
    let status = daemon.status().await.unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some("modelscope/Qwen/Qwen3.5-397B-A17B")
    );
    assert!(
        status.models[0].spent_reason.is_none(),
        "{:?}",
        status.models[0]
    );
    assert!(matches!(status.models[0].relay_calls, None | Some(0)));
    let relay_status = status.relay.expect("relay status");
    assert_eq!(
        (relay_status.relayed, relay_status.answered_locally),
        (0, 0)
    );
    assert_eq!(fake.count_model(QWEN), 0, "nothing reached ModelScope");
    let (code, _) = chat(&client, &relay, QWEN).await;
    assert_eq!(
        code, 429,
        "the user's own request is forwarded (and the fake is out of quota)"
    );
    assert_eq!(fake.count_model(QWEN), 1);
    daemon.stop().await.unwrap();
}
