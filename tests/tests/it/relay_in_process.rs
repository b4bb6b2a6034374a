//! The metering relay wired into the daemon: counts feed the policy, spent models are answered
//! locally with a long-window 429, and ModelScope's ambiguous 429 is rewritten once the model is
//! judged spent.

use std::time::Duration;

use msclaw_tests::daemon::{
    Layout, RELAY_REAL_KEY, RELAY_TOKEN, TestDaemon, start_with_relay, write_relay_store,
};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, GLM5, QWEN};
use msclaw_tests::provider_chain::{OR, OR_ID, config_with_openrouter};

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

/// The relay fronting a second provider at `/openrouter/v1` (issue 14): that provider's calls are
/// counted as `openrouter/<model>`, and once the engine holds the model out of use (its pool has
/// no room) the relay answers it locally, never reaching the provider.
#[tokio::test]
async fn a_model_of_another_provider_out_of_its_pool_is_answered_locally() {
    let modelscope = FakeModelScope::start(FakeConfig::all_models_quota(100));
    let openrouter = FakeModelScope::start(FakeConfig::empty().model(OR_ID, None));
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let port = msclaw_tests::openclaw::free_port().unwrap();
    let relay = format!("http://127.0.0.1:{port}/v1");
    let relay_or = format!("http://127.0.0.1:{port}/openrouter/v1");
    std::fs::write(
        &layout.openclaw_config,
        config_with_openrouter(&relay, &relay_or, ""),
    )
    .unwrap();
    write_relay_store(
        &layout,
        RELAY_TOKEN,
        &relay,
        &modelscope.base_url(),
        RELAY_REAL_KEY,
    );
    let settings = format!(
        "models = [\"qwen3.5\", \"glm5\", \"{OR}\"]\npreset = [\"modelscope-daily\", \"openrouter-free\"]\n\
         [[pools]]\nname = \"openrouter-free\"\ncapacity = 1\n\
         [relay]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\n\
         [relay.upstreams]\nopenrouter = \"{}\"\n",
        modelscope.base_url(),
        openrouter.base_url()
    );
    let daemon = TestDaemon::start(&layout, layout.settings(&settings))
        .await
        .unwrap();
    daemon
        .wait_for("the config read", WAIT, |s| s.models.len() == 3)
        .await
        .unwrap();
    let client = reqwest::Client::new();

    assert_eq!(chat(&client, &relay_or, OR_ID).await.0, 200);
    let status = daemon
        .wait_for("the free pool used up", WAIT, |s| {
            s.models.iter().any(|m| m.model == OR && !m.available)
        })
        .await
        .unwrap();
    let pool = status
        .pools
        .iter()
        .find(|p| p.name == "openrouter-free")
        .expect("the openrouter-free pool");
    assert_eq!(pool.used, 1.into(), "{pool:?}");

    let (code, body) = chat(&client, &relay_or, OR_ID).await;
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("daily quota exceeded"), "{body}");
    assert_eq!(
        openrouter.count_model(OR_ID),
        1,
        "the provider saw only the served call"
    );
    // The rotation provider's models are not held: Qwen is forwarded to ModelScope.
    assert_eq!(chat(&client, &relay, QWEN).await.0, 200);
    assert_eq!(modelscope.count_model(QWEN), 1);
    daemon.stop().await.unwrap();
}
