//! Quota pools and a provider chain in the engine, in-process (issue 14): records of two providers
//! appended the way OpenClaw appends them, `primary` moved off ModelScope when its account pool is
//! spent by evidence and back when a member is served, status showing the pools.

use std::time::Duration;

use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::provider_chain::{OR, OR_ID, config_with_openrouter, magicube_chain_settings};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, QWEN};

const WAIT: Duration = Duration::from_secs(10);
const Q: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";

#[tokio::test]
async fn an_account_pool_spent_by_two_members_moves_primary_to_openrouter_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = config_with_openrouter("http://127.0.0.1:9/v1", "http://127.0.0.1:9/api/v1", "");
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    let settings = layout.settings(&magicube_chain_settings());
    let daemon = TestDaemon::start(&layout, settings).await.unwrap();
    let status = daemon
        .wait_for("the config read", WAIT, |s| s.models.len() == 3)
        .await
        .unwrap();
    assert_eq!(status.active_model.as_deref(), Some(Q));
    assert_eq!(status.pools.len(), 1, "{:?}", status.pools);
    let pool = &status.pools[0];
    assert_eq!(
        (pool.name.as_str(), pool.unit.as_str(), pool.refill.as_str()),
        ("modelscope", "magicube", "unknown")
    );
    assert_eq!(pool.capacity, Some(250.into()));
    assert_eq!(pool.next_refill, None);
    assert_eq!(pool.models, [Q, "modelscope/ZhipuAI/GLM-5"]);
    assert_eq!(status.models[0].pools, ["modelscope"]);
    assert!(status.models[2].pools.is_empty() && status.models.iter().all(|m| m.available));
    assert_eq!(
        status.models[0].limit, None,
        "no per-model limit under the magicube preset"
    );

    // A served Qwen call costs 2 magicube.
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    daemon
        .wait_for("2 used", WAIT, |s| s.pools[0].used == 2.into())
        .await
        .unwrap();

    // The balance is gone: Qwen and GLM both fail with 429, and the whole pool is spent at once.
    for model in [QWEN, GLM] {
        session.append(&transcripts::failed_turn(
            "modelscope",
            model,
            "429",
            "Request limit exceeded.",
            transcripts::now_ms(),
        ));
    }
    let status = daemon
        .wait_for("primary on OpenRouter", WAIT, |s| {
            s.active_model.as_deref() == Some(OR)
        })
        .await
        .unwrap();
    let pool = &status.pools[0];
    assert!(pool.spent, "{pool:?}");
    assert!(
        pool.spent_reason
            .as_deref()
            .unwrap()
            .contains("quota errors"),
        "{pool:?}"
    );
    assert_eq!(
        status
            .models
            .iter()
            .map(|m| m.available)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    assert!(status.all_spent_until.is_none());
    // OpenRouter's calls are counted per provider/model.
    session.append(&transcripts::assistant_reply(
        "openrouter",
        OR_ID,
        transcripts::now_ms(),
    ));
    daemon
        .wait_for("OpenRouter counted", WAIT, |s| s.models[2].used == 1)
        .await
        .unwrap();

    // A member served again (the grant came): the pool is back, and so is the first model.
    session.append(&transcripts::assistant_reply(
        "modelscope",
        GLM,
        transcripts::now_ms(),
    ));
    let status = daemon
        .wait_for("back on Qwen", WAIT, |s| {
            s.active_model.as_deref() == Some(Q)
        })
        .await
        .unwrap();
    assert!(!status.pools[0].spent, "{:?}", status.pools[0]);
    let last = status.last_switch.unwrap();
    assert_eq!(last.to, Q);
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn a_state_file_without_pools_still_loads_and_the_default_has_no_pools() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::create_dir_all(layout.state_file.parent().unwrap()).unwrap();
    std::fs::write(
        &layout.openclaw_config,
        transcripts::guide_config("http://127.0.0.1:9/v1", ""),
    )
    .unwrap();
    // A state file as msclawd wrote it before pools (no `pools` key).
    let day =
        msclawd::quota_calendar::QuotaCalendar::shanghai_midnight().day_of(jiff::Timestamp::now());
    std::fs::write(
        &layout.state_file,
        format!(
            r#"{{"version":1,"today":{{"day":"{day}","models":{{"{Q}":{{"used":3,"rate_limited":0,"recent_429":[],"last_success":null,"spent":null}}}},"pin":null,"account_limited":null,"activated":null}}}}"#
        ),
    )
    .unwrap();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let status = daemon
        .wait_for("the config read", WAIT, |s| s.models.len() == 4)
        .await
        .unwrap();
    assert_eq!(status.models[0].used, 3, "the old counts kept");
    assert!(status.pools.is_empty());
    assert!(
        status
            .models
            .iter()
            .all(|m| m.available && m.pools.is_empty())
    );
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["pools"], serde_json::json!([]));
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn an_openrouter_pool_refills_at_00_00_utc_and_the_chain_returns_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = config_with_openrouter("http://127.0.0.1:9/v1", "http://127.0.0.1:9/api/v1", "")
        .replacen(
            "primary: \"modelscope/Qwen/Qwen3.5-397B-A17B\"",
            &format!("primary: \"{OR}\""),
            1,
        );
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    // The free model first, ModelScope's daily rule behind it; the free pool holds 2 calls a day.
    let settings = layout.settings(&format!(
        "models = [\"{OR}\", \"qwen3.5\"]\npreset = [\"modelscope-daily\", \"openrouter-free\"]\n[[pools]]\nname = \"openrouter-free\"\ncapacity = 2\n"
    ));
    let daemon = TestDaemon::start(&layout, settings).await.unwrap();
    let status = daemon
        .wait_for("the config read", WAIT, |s| {
            s.active_model.as_deref() == Some(OR)
        })
        .await
        .unwrap();
    let pool = &status.pools[0];
    assert_eq!(
        (pool.name.as_str(), pool.refill.as_str()),
        ("openrouter-free", "daily")
    );
    assert!(
        pool.next_refill
            .as_deref()
            .unwrap()
            .ends_with("T00:00:00+00:00"),
        "{pool:?}"
    );
    assert_eq!(
        status.models[1].limit,
        Some(500),
        "ModelScope keeps its per-model rule"
    );
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    for _ in 0..2 {
        session.append(&transcripts::assistant_reply(
            "openrouter",
            OR_ID,
            transcripts::now_ms(),
        ));
    }
    let status = daemon
        .wait_for("on Qwen", WAIT, |s| s.active_model.as_deref() == Some(Q))
        .await
        .unwrap();
    assert!(
        status.pools[0].spent && !status.models[0].available,
        "{status:?}"
    );
    // The next 00:00 UTC (not Shanghai's midnight): the pool is back, and so is the free model.
    let next_utc_midnight: jiff::Timestamp = status.pools[0]
        .next_refill
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    daemon
        .clock
        .set(next_utc_midnight + jiff::SignedDuration::from_secs(1));
    let status = daemon
        .wait_for("back on the free model", WAIT, |s| {
            s.active_model.as_deref() == Some(OR)
        })
        .await
        .unwrap();
    assert!(
        !status.pools[0].spent && status.pools[0].used == 0.into(),
        "{:?}",
        status.pools
    );
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn with_the_relay_on_another_providers_429s_still_come_from_the_gateway_log() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let port = msclaw_tests::openclaw::free_port().unwrap();
    let relay_url = format!("http://127.0.0.1:{port}/v1");
    let config = config_with_openrouter(&relay_url, "http://127.0.0.1:9/api/v1", "");
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    let settings = layout.settings(&format!(
        "models = [\"{OR}\", \"qwen3.5\"]\ndaily_limit = \"unknown\"\n[relay]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nupstream = \"http://127.0.0.1:9/v1\"\n"
    ));
    // As `msclawctl relay on` leaves it: the real URL and key in msclaw's store.
    msclaw_tests::daemon::write_relay_store(
        &layout,
        msclaw_tests::daemon::RELAY_TOKEN,
        &relay_url,
        "http://127.0.0.1:9/v1",
        msclaw_tests::daemon::RELAY_REAL_KEY,
    );
    let daemon = TestDaemon::start(&layout, settings).await.unwrap();
    daemon
        .wait_for("on the free model", WAIT, |s| {
            s.active_model.as_deref() == Some(OR)
        })
        .await
        .unwrap();
    let log = layout.gateway_log_dir.join(format!(
        "openclaw-{}.log",
        jiff::ZonedDateTime::now().date()
    ));
    // The relay fronts ModelScope only: OpenRouter's 429s are seen in the log alone.
    for _ in 0..3 {
        transcripts::append_line(
            &log,
            &transcripts::gateway_log_line(
                "provider-transport-fetch",
                &format!(
                    "[model-fetch] response provider=openrouter api=openai-completions model={OR_ID} status=429 elapsedMs=12"
                ),
            ),
        );
    }
    let status = daemon
        .wait_for("on Qwen", WAIT, |s| s.active_model.as_deref() == Some(Q))
        .await
        .unwrap();
    assert!(status.models[0].spent, "{:?}", status.models[0]);
    daemon.stop().await.unwrap();
}
