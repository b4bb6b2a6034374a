//! What a user sees day to day: history after a day with switches, the live event stream (and a
//! slow reader that must not stall anyone), and switch hooks that fail or hang.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use jiff::SignedDuration;
use msclaw_shared::client::Client;
use msclaw_shared::{EventKind, Request, Response};
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, QWEN};

const WAIT: Duration = Duration::from_secs(10);

fn setup() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::write(
        &layout.openclaw_config,
        transcripts::guide_config("http://127.0.0.1:9/v1", ""),
    )
    .unwrap();
    (dir, layout)
}

fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn history_shows_a_day_with_its_switches_after_the_reset() {
    let (_dir, layout) = setup();
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = 2\n"))
        .await
        .unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    for _ in 0..2 {
        session.append(&transcripts::assistant_reply(
            "modelscope",
            QWEN,
            transcripts::now_ms(),
        ));
    }
    daemon
        .wait_for("switch to GLM", WAIT, |s| {
            s.active_model.as_deref() == Some(&format!("modelscope/{GLM}"))
        })
        .await
        .unwrap();
    let yesterday = daemon.status().await.unwrap().day;
    // The night passes: the next request sees the new quota day.
    daemon.clock.shift(SignedDuration::from_hours(24));
    let status = daemon
        .wait_for("the reset", WAIT, |s| s.day != yesterday)
        .await
        .unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some(&*format!("modelscope/{QWEN}")),
        "back to the first model"
    );
    assert!(status.models.iter().all(|m| m.used == 0 && !m.spent));

    let reply = daemon.request(&Request::History { days: 7 }).await.unwrap();
    let Ok(Response::History(history)) = reply.reply else {
        panic!("{reply:?}")
    };
    assert_eq!(history.days.len(), 2, "{history:?}");
    let day = &history.days[0];
    assert_eq!(day.day, yesterday);
    assert_eq!(day.models[0].used, 2);
    assert!(
        day.models[0].spent_at.is_some()
            && day.models[0]
                .spent_reason
                .as_deref()
                .unwrap()
                .contains("daily limit")
    );
    assert_eq!(day.switches.len(), 1);
    assert_eq!(day.switches[0].to, format!("modelscope/{GLM}"));
    assert!(
        history.days[1]
            .switches
            .iter()
            .any(|s| s.reason.contains("quota has") || s.to.ends_with(QWEN))
    );
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn watch_gets_a_switchs_events_and_a_reader_that_never_reads_stalls_nobody() {
    let (_dir, layout) = setup();
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = 2\n"))
        .await
        .unwrap();
    daemon
        .wait_for("config", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();

    // A reader that subscribes and then never reads.
    let mut stuck = tokio::net::UnixStream::connect(&layout.socket)
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stuck, b"\"EventStream\"\n")
        .await
        .unwrap();

    let mut watcher = Client::connect(&layout.socket).await.unwrap();
    let reply = watcher.request(&Request::EventStream).await.unwrap();
    assert!(matches!(reply.reply, Ok(Response::Handled(_))));

    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    for _ in 0..2 {
        session.append(&transcripts::assistant_reply(
            "modelscope",
            QWEN,
            transcripts::now_ms(),
        ));
    }
    let mut seen = Vec::new();
    while !seen.iter().any(|k| matches!(k, EventKind::Switched { .. })) {
        let event = tokio::time::timeout(WAIT, watcher.next_event())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(event.kind);
    }
    assert!(
        seen.iter()
            .any(|k| matches!(k, EventKind::ModelSpent { model, .. } if model.ends_with(QWEN))),
        "{seen:?}"
    );

    // Flood events (each pin writes the config and emits) while the stuck reader reads nothing.
    for i in 0..300 {
        let model = if i % 2 == 0 { "kimi" } else { "minimax" };
        // A daemon that waited on the stuck reader would never answer: `WAIT` tells that hang
        // from a slow machine, the time taken is not judged.
        let reply = tokio::time::timeout(
            WAIT,
            daemon.request(&Request::Switch {
                model: model.into(),
            }),
        )
        .await
        .expect("a switch request hung behind the reader that never reads")
        .unwrap();
        assert!(reply.reply.is_ok());
    }
    tokio::time::timeout(WAIT, daemon.status())
        .await
        .expect("status hung behind the reader that never reads")
        .unwrap();
    drop(stuck);
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn switch_hooks_get_the_event_and_failing_or_hanging_ones_harm_nothing() {
    let (dir, layout) = setup();
    let out = dir.path().join("hook.out");
    let ok = script(
        dir.path(),
        "ok.sh",
        &format!(
            "{{ echo \"$MSCLAW_FROM|$MSCLAW_TO|$MSCLAW_REASON\"; cat; }} >> {}",
            out.display()
        ),
    );
    let daemon = TestDaemon::start(
        &layout,
        layout.settings(&format!("[hook]\ncommand = [\"{ok}\"]\ntimeout_secs = 5\n")),
    )
    .await
    .unwrap();
    daemon
        .wait_for("config", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    daemon
        .request(&Request::Switch {
            model: "glm5".into(),
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while std::fs::read_to_string(&out)
        .map(|t| t.lines().count() < 2)
        .unwrap_or(true)
    {
        assert!(std::time::Instant::now() < deadline, "hook did not run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("modelscope/{QWEN}|modelscope/{GLM}|pinned by msclawctl switch")
    );
    let json: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(json["to"], format!("modelscope/{GLM}"));
    daemon.stop().await.unwrap();

    // A hook that fails, and one that hangs past its timeout and is killed.
    let pidfile = dir.path().join("hang.pid");
    for (name, body, timeout) in [
        ("fail.sh", "exit 3".to_owned(), 5),
        (
            "hang.sh",
            format!("echo $$ > {}; exec sleep 60", pidfile.display()),
            1,
        ),
    ] {
        let hook = script(dir.path(), name, &body);
        let daemon = TestDaemon::start(
            &layout,
            layout.settings(&format!(
                "[hook]\ncommand = [\"{hook}\"]\ntimeout_secs = {timeout}\n"
            )),
        )
        .await
        .unwrap();
        daemon
            .wait_for("config", WAIT, |s| s.active_model.is_some())
            .await
            .unwrap();
        daemon
            .request(&Request::Switch {
                model: "kimi".into(),
            })
            .await
            .unwrap();
        daemon.request(&Request::Auto).await.unwrap();
        let status = daemon.status().await.unwrap();
        assert_eq!(
            status.active_model.as_deref(),
            Some(&*format!("modelscope/{QWEN}")),
            "{name}: the daemon goes on"
        );
        daemon.stop().await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            break pid.trim().to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "hanging hook never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the hanging hook (pid {pid}) was not killed after its timeout"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
