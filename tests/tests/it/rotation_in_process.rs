//! The rotation engine end to end, in-process: records appended the way OpenClaw appends them,
//! `primary` rewritten in the file at the limit, status showing it, counts kept across a restart.

use std::time::Duration;

use msclaw_shared::{Request, Response};
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, KIMI, MINIMAX, QWEN};

const WAIT: Duration = Duration::from_secs(10);

fn setup(extra_model_block: &str) -> (tempfile::TempDir, Layout, String) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", extra_model_block);
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    (dir, layout, config)
}

fn primary_in(config: &str) -> String {
    let line = config
        .lines()
        .find(|l| l.trim_start().starts_with("primary:"))
        .unwrap();
    line.split('"').nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn primary_moves_at_the_limit_and_only_its_value_changes() {
    let (_dir, layout, original) = setup("");
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = 2\n"))
        .await
        .unwrap();
    let status = daemon
        .wait_for("the config read", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some("modelscope/Qwen/Qwen3.5-397B-A17B")
    );
    assert_eq!(status.models.len(), 4);
    assert_eq!(status.models[1].alias.as_deref(), Some("glm5"));

    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    let mut expected_text = original.clone();
    for (model, next) in [(QWEN, GLM), (GLM, MINIMAX), (MINIMAX, KIMI)] {
        for _ in 0..2 {
            session.append(&transcripts::assistant_reply(
                "modelscope",
                model,
                transcripts::now_ms(),
            ));
        }
        let want = format!("modelscope/{next}");
        let status = daemon
            .wait_for(&format!("switch to {next}"), WAIT, |s| {
                s.active_model.as_deref() == Some(&want)
            })
            .await
            .unwrap();
        let on_disk = std::fs::read_to_string(&layout.openclaw_config).unwrap();
        assert_eq!(primary_in(&on_disk), want);
        expected_text = expected_text.replacen(
            &format!("\"modelscope/{model}\", // msclaw"),
            &format!("\"{want}\", // msclaw"),
            1,
        );
        assert_eq!(on_disk, expected_text, "only the value of primary changed");
        let spent = status
            .models
            .iter()
            .find(|m| m.model == format!("modelscope/{model}"))
            .unwrap();
        assert!(spent.spent && spent.used == 2, "{spent:?}");
        let last = status.last_switch.unwrap();
        assert_eq!(last.to, want);
        assert!(
            last.reason.contains("daily limit reached"),
            "{}",
            last.reason
        );
        assert_eq!(last.outcome, "not_needed", "no gateway runs in this test");
    }
    // Kimi spends too: nothing left, the daemon says so and stays.
    for _ in 0..2 {
        session.append(&transcripts::assistant_reply(
            "modelscope",
            KIMI,
            transcripts::now_ms(),
        ));
    }
    let status = daemon
        .wait_for("all spent", WAIT, |s| s.all_spent_until.is_some())
        .await
        .unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some("modelscope/moonshotai/Kimi-K2.5")
    );
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.starts_with("all models spent until")),
        "{:?}",
        status.warnings
    );
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_keeps_the_counts_and_counts_nothing_twice() {
    let (_dir, layout, _) = setup("");
    let settings = "daily_limit = 5\n";
    let daemon = TestDaemon::start(&layout, layout.settings(settings))
        .await
        .unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    for _ in 0..3 {
        session.append(&transcripts::assistant_reply(
            "modelscope",
            QWEN,
            transcripts::now_ms(),
        ));
    }
    daemon
        .wait_for("3 calls", WAIT, |s| s.models[0].used == 3)
        .await
        .unwrap();
    daemon.stop().await.unwrap();

    // While it is down, OpenClaw goes on.
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    let daemon = TestDaemon::start(&layout, layout.settings(settings))
        .await
        .unwrap();
    let status = daemon
        .wait_for("4 calls", WAIT, |s| s.models[0].used == 4)
        .await
        .unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some("modelscope/Qwen/Qwen3.5-397B-A17B")
    );
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    let status = daemon
        .wait_for("switch at 5", WAIT, |s| {
            s.active_model.as_deref() == Some("modelscope/ZhipuAI/GLM-5")
        })
        .await
        .unwrap();
    assert_eq!(
        status.models[0].used, 5,
        "nothing counted twice across the restart"
    );
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn rate_limit_lines_in_the_gateway_log_spend_a_model_with_an_unknown_limit() {
    let (_dir, layout, _) = setup("");
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = \"unknown\"\n"))
        .await
        .unwrap();
    daemon
        .wait_for("the config read", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let log = layout.gateway_log_dir.join(format!(
        "openclaw-{}.log",
        jiff::ZonedDateTime::now().date()
    ));
    let line = |status: u16| transcripts::model_fetch_line(QWEN, status);
    transcripts::append_line(&log, &line(429));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = daemon.status().await.unwrap();
    assert!(!status.models[0].spent, "one 429 is a throttle");
    assert_eq!(status.models[0].rate_limited, 1);
    transcripts::append_line(&log, &line(429));
    transcripts::append_line(&log, &line(429));
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
            .contains("rate-limit"),
        "{:?}",
        status.models[0]
    );
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn switch_pins_auto_unpins_and_an_unknown_model_is_refused() {
    let (_dir, layout, _) = setup("");
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    daemon
        .wait_for("the config read", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let reply = daemon
        .request(&Request::Switch {
            model: "kimi".into(),
        })
        .await
        .unwrap();
    assert!(
        matches!(&reply.reply, Ok(Response::Handled(t)) if t.contains("pinned")),
        "{reply:?}"
    );
    let status = daemon.status().await.unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some("modelscope/moonshotai/Kimi-K2.5")
    );
    assert_eq!(status.mode, msclaw_shared::Mode::Pinned);
    let on_disk = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert_eq!(primary_in(&on_disk), "modelscope/moonshotai/Kimi-K2.5");

    let reply = daemon
        .request(&Request::Switch {
            model: "gpt-99".into(),
        })
        .await
        .unwrap();
    let err = reply.reply.unwrap_err();
    assert!(err.message.contains("gpt-99"), "{}", err.message);
    assert_eq!(
        primary_in(&std::fs::read_to_string(&layout.openclaw_config).unwrap()),
        "modelscope/moonshotai/Kimi-K2.5"
    );

    daemon.request(&Request::Auto).await.unwrap();
    let status = daemon.status().await.unwrap();
    assert_eq!(status.mode, msclaw_shared::Mode::Auto);
    assert_eq!(
        status.active_model.as_deref(),
        Some("modelscope/Qwen/Qwen3.5-397B-A17B")
    );
    daemon.stop().await.unwrap();
}

fn fallbacks_in(config: &str) -> String {
    let line = config
        .lines()
        .find(|l| l.trim_start().starts_with("fallbacks:"))
        .unwrap();
    line.trim().to_owned()
}

#[tokio::test]
async fn fallbacks_drop_spent_models_and_come_back_at_the_reset() {
    let user_list = "        fallbacks: [\"modelscope/ZhipuAI/GLM-5\", \"modelscope/MiniMax/MiniMax-M2.5\", \"modelscope/moonshotai/Kimi-K2.5\"],\n";
    let (_dir, layout, original) = setup(user_list);
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = 1\n"))
        .await
        .unwrap();
    daemon
        .wait_for("config", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    daemon
        .wait_for("switch to GLM", WAIT, |s| {
            s.active_model.as_deref() == Some("modelscope/ZhipuAI/GLM-5")
        })
        .await
        .unwrap();
    let text = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert_eq!(
        fallbacks_in(&text),
        "fallbacks: [\"modelscope/MiniMax/MiniMax-M2.5\", \"modelscope/moonshotai/Kimi-K2.5\"],"
    );
    // MiniMax is found gone while GLM is active: it leaves the fallbacks without a switch.
    session.append(&transcripts::failed_turn(
        "modelscope",
        MINIMAX,
        "400",
        "Model id: MiniMax/MiniMax-M2.5 has no provider supported",
        transcripts::now_ms(),
    ));
    daemon
        .wait_for("MiniMax gone", WAIT, |s| s.models[2].spent)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&layout.openclaw_config).unwrap();
        if fallbacks_in(&text) == "fallbacks: [\"modelscope/moonshotai/Kimi-K2.5\"]," {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fallbacks not updated: {}",
            fallbacks_in(&text)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The reset brings back the first model and the user's own list, byte for byte.
    daemon.clock.shift(jiff::SignedDuration::from_hours(24));
    daemon
        .wait_for("reset", WAIT, |s| {
            s.active_model.as_deref() == Some("modelscope/Qwen/Qwen3.5-397B-A17B")
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while std::fs::read_to_string(&layout.openclaw_config).unwrap() != original {
        assert!(
            std::time::Instant::now() < deadline,
            "the file is not back to the user's own text"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn manage_fallbacks_false_leaves_them_alone() {
    let user_list = "        fallbacks: [\"modelscope/ZhipuAI/GLM-5\"],\n";
    let (_dir, layout, original) = setup(user_list);
    let daemon = TestDaemon::start(
        &layout,
        layout.settings("daily_limit = 1\nmanage_fallbacks = false\n"),
    )
    .await
    .unwrap();
    daemon
        .wait_for("config", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    daemon
        .wait_for("switch to GLM", WAIT, |s| {
            s.active_model.as_deref() == Some("modelscope/ZhipuAI/GLM-5")
        })
        .await
        .unwrap();
    let text = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert_eq!(
        text,
        original.replacen(
            "\"modelscope/Qwen/Qwen3.5-397B-A17B\", // msclaw",
            "\"modelscope/ZhipuAI/GLM-5\", // msclaw",
            1
        )
    );
    daemon.stop().await.unwrap();
}

/// Issue 11 point 3: another user's `/tmp/openclaw` full of 429s spends nothing; the log OpenClaw
/// really writes then (`$TMPDIR/openclaw-<uid>`) is the one followed. Runs as root in CI (chown).
#[tokio::test]
async fn a_log_dir_of_another_user_is_never_read() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, layout, _) = setup("");
    let settings_text = "daily_limit = \"unknown\"\n";
    std::fs::write(&layout.settings_file, settings_text).unwrap();
    let settings =
        msclawd::settings::Settings::parse(settings_text, &layout.settings_file).unwrap();
    let preferred = layout.root.join("tmp-openclaw");
    let tmp = layout.root.join("tmpdir");
    let fallback = tmp.join(format!("openclaw-{}", rustix::process::getuid().as_raw()));
    for dir in [&preferred, &fallback] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::os::unix::fs::chown(&preferred, Some(65534), Some(65534)).unwrap();
    let name = format!("openclaw-{}.log", jiff::ZonedDateTime::now().date());
    std::fs::write(fallback.join(&name), "").unwrap();
    let env_preferred = preferred.clone().into_os_string();
    let env_tmp = tmp.clone().into_os_string();
    let env: msclawd::EnvMap = std::sync::Arc::new(move |key: &str| match key {
        "MSCLAW_OPENCLAW_PREFERRED_LOG_DIR" => Some(env_preferred.clone()),
        "TMPDIR" => Some(env_tmp.clone()),
        _ => None,
    });
    let daemon = TestDaemon::start_with_env(&layout, settings, env)
        .await
        .unwrap();
    daemon
        .wait_for("the config read", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let line = transcripts::model_fetch_line(QWEN, 429);
    for _ in 0..3 {
        transcripts::append_line(&preferred.join(&name), &line);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = daemon.status().await.unwrap();
    assert_eq!(status.models[0].rate_limited, 0, "{:?}", status.models[0]);
    assert_eq!(
        status.active_model.as_deref(),
        Some(format!("modelscope/{QWEN}").as_str())
    );

    for _ in 0..3 {
        transcripts::append_line(&fallback.join(&name), &line);
    }
    daemon
        .wait_for("the user's own log read", WAIT, |s| {
            s.active_model.as_deref() == Some("modelscope/ZhipuAI/GLM-5")
        })
        .await
        .unwrap();
    daemon.stop().await.unwrap();
}
