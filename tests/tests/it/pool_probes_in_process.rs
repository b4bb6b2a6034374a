//! Probes of an evidence-spent pool, in-process against the fake ModelScope in balance mode
//! (issue 14): a due probe is sent once per interval, a served one moves `primary` back to the
//! first model, a failed one does not, and the balance check stands in for the call. The daemon's
//! clock is shifted past each interval; every status request is a loop turn that may send one.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::fake_modelscope::RequestRecord;
use msclaw_tests::fake_modelscope::{BALANCE_PATH, FakeConfig, FakeModelScope, GLM5, QWEN};
use msclaw_tests::provider_chain::{OR, config_with_openrouter, magicube_chain_settings};
use msclaw_tests::transcripts::{self, JsonlSession};

const WAIT: Duration = Duration::from_secs(10);
const Q: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";
const KEY: &str = "ms-probe-key-0123456789abcdef0123";

/// A daemon on the magicube chain (Qwen, GLM, then OpenRouter) whose ModelScope pool is probed
/// every minute (`extra` adds to that `[[pools]]` table), with the fake as ModelScope.
async fn spent_pool_daemon(
    dir: &std::path::Path,
    fake: &FakeModelScope,
    key: &'static str,
    extra: &str,
) -> TestDaemon {
    let layout = Layout::in_dir(dir);
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = config_with_openrouter(&fake.base_url(), "http://127.0.0.1:9/api/v1", "");
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    let settings = layout.settings(&format!(
        "{}[[pools]]\nname = \"modelscope\"\nprobe_minutes = 1\n{extra}",
        magicube_chain_settings()
    ));
    let env: msclawd::EnvMap =
        Arc::new(move |name: &str| (name == "MODELSCOPE_API_KEY").then(|| key.into()));
    let daemon = TestDaemon::start_with_env(&layout, settings, env)
        .await
        .unwrap();
    daemon
        .wait_for("on Qwen", WAIT, |s| s.active_model.as_deref() == Some(Q))
        .await
        .unwrap();
    // The balance is gone: Qwen and GLM fail, the whole pool is spent, OpenRouter serves.
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    for model in [QWEN, GLM5] {
        session.append(&transcripts::failed_turn(
            "modelscope",
            model,
            "429",
            "Request limit exceeded.",
            transcripts::now_ms(),
        ));
    }
    daemon
        .wait_for("on OpenRouter", WAIT, |s| {
            s.active_model.as_deref() == Some(OR)
        })
        .await
        .unwrap();
    daemon
}

fn balance_fake(units: u64) -> FakeModelScope {
    FakeModelScope::start(
        FakeConfig::default()
            .balance(units)
            .cost_milli(QWEN, 2000)
            .require_api_key(KEY),
    )
}

/// Moves the daemon's clock past a probe interval and makes a loop turn.
async fn next_interval(daemon: &TestDaemon) {
    daemon.clock.shift(SignedDuration::from_secs(61));
    daemon.status().await.unwrap();
}

/// The fake's `wait_for` without blocking the runtime the daemon runs on.
async fn wait_fake(fake: &FakeModelScope, pred: impl Fn(&[RequestRecord]) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if pred(&fake.requests()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn chat_count(fake: &FakeModelScope) -> usize {
    fake.chat_requests().len()
}

#[tokio::test]
async fn a_due_probe_is_sent_once_per_interval_and_a_served_one_brings_back_the_first_model() {
    let dir = tempfile::tempdir().unwrap();
    let fake = balance_fake(0);
    let daemon = spent_pool_daemon(dir.path(), &fake, KEY, "").await;
    // Not yet an interval since the pool was spent: no probe.
    daemon.status().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chat_count(&fake), 0);

    // An interval later: one minimal call of the cheapest member, refused (still no balance).
    next_interval(&daemon).await;
    assert!(wait_fake(&fake, |r| r.iter().any(|r| r.model.is_some())).await);
    let probe = &fake.chat_requests()[0];
    assert_eq!(probe.model.as_deref(), Some(GLM5), "the cheapest member");
    let body = probe.body.as_ref().unwrap();
    assert_eq!(body["max_tokens"], 1, "{body}");
    assert_eq!(
        probe.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    // More loop turns in the same interval send nothing more.
    for _ in 0..5 {
        daemon.status().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chat_count(&fake), 1);
    let status = daemon.status().await.unwrap();
    assert_eq!(status.active_model.as_deref(), Some(OR));
    assert!(status.pools[0].spent, "{:?}", status.pools[0]);

    // The grant arrives; the next probe is served and primary goes back to the first model.
    fake.set_balance(10);
    next_interval(&daemon).await;
    let status = daemon
        .wait_for("back on Qwen", WAIT, |s| {
            s.active_model.as_deref() == Some(Q)
        })
        .await
        .unwrap();
    assert_eq!(chat_count(&fake), 2);
    let pool = &status.pools[0];
    assert!(!pool.spent, "{pool:?}");
    assert_eq!(
        pool.used,
        1.into(),
        "the probe was a call of GLM: it counts"
    );
    // Back on the first choice: nothing more to ask.
    next_interval(&daemon).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chat_count(&fake), 2);
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_probe_is_no_evidence_and_primary_stays() {
    let dir = tempfile::tempdir().unwrap();
    // Plenty of balance, but the key is refused: a 401 says nothing about the pool.
    let fake = balance_fake(100);
    let daemon = spent_pool_daemon(dir.path(), &fake, "ms-a-wrong-key-0123456789abcdef", "").await;
    next_interval(&daemon).await;
    assert!(wait_fake(&fake, |r| r.iter().any(|r| r.status == 401)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = daemon.status().await.unwrap();
    assert_eq!(status.active_model.as_deref(), Some(OR));
    assert!(status.pools[0].spent, "{:?}", status.pools[0]);
    let text = serde_json::to_string(&status).unwrap();
    assert!(!text.contains("wrong-key"), "no key in status");
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn the_balance_check_stands_in_for_the_probe_and_refills_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let fake = balance_fake(0);
    let url = format!("{}{BALANCE_PATH}", fake.base_url().trim_end_matches("/v1"));
    let daemon = spent_pool_daemon(
        dir.path(),
        &fake,
        KEY,
        &format!("balance_url = \"{url}\"\n"),
    )
    .await;
    let balance_asks = |fake: &FakeModelScope| {
        fake.requests()
            .iter()
            .filter(|r| r.path == BALANCE_PATH)
            .count()
    };
    // The balance cannot pay for GLM (cost 1): still spent.
    next_interval(&daemon).await;
    assert!(wait_fake(&fake, |r| r.iter().any(|r| r.path == BALANCE_PATH)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        daemon.status().await.unwrap().active_model.as_deref(),
        Some(OR)
    );
    // A grant: the next check finds it, and the first model is back without a call.
    fake.set_balance(1);
    next_interval(&daemon).await;
    let status = daemon
        .wait_for("back on Qwen", WAIT, |s| {
            s.active_model.as_deref() == Some(Q)
        })
        .await
        .unwrap();
    assert_eq!(balance_asks(&fake), 2);
    assert_eq!(chat_count(&fake), 0, "a balance check sends no call");
    assert_eq!(status.pools[0].used, 0.into());
    assert_eq!(
        fake.requests()[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    daemon.stop().await.unwrap();
}
