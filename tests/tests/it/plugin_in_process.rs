//! The OpenClaw plugin's requests against msclawd in-process: `ModelCallEnded` counted as a source
//! of its own (merged with the transcripts by the larger count, failures included), and
//! `ChooseModel` answered at once with the engine's current choice.

use std::time::{Duration, Instant};

use msclaw_shared::client::Client;
use msclaw_shared::{
    CallOutcome, ChooseModel, ModelCallEnded, ModelChoice, Request, Response, Status,
};
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, QWEN};

const WAIT: Duration = Duration::from_secs(10);

fn call(model: &str, outcome: CallOutcome) -> Request {
    Request::ModelCallEnded(ModelCallEnded {
        provider: "modelscope".into(),
        model: model.into(),
        outcome,
        http_status: None,
        error_category: (outcome == CallOutcome::Error).then(|| "Error".into()),
        failure_kind: None,
        duration_ms: 12,
    })
}

/// Asks as the plugin does; returns the choice and how long the answer took.
async fn choose(client: &mut Client) -> (Option<ModelChoice>, Duration) {
    let started = Instant::now();
    let reply = client
        .request(&Request::ChooseModel(ChooseModel::default()))
        .await
        .unwrap();
    match reply.reply {
        Ok(Response::ModelChoice(choice)) => (choice, started.elapsed()),
        other => panic!("unexpected reply to ChooseModel: {other:?}"),
    }
}

fn used(status: &Status, model: &str) -> (u32, u32) {
    let m = status
        .models
        .iter()
        .find(|m| m.model == format!("modelscope/{model}"))
        .unwrap();
    (m.used, m.plugin_calls)
}

#[tokio::test]
async fn plugin_calls_count_once_and_the_choice_follows_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = 3\n"))
        .await
        .unwrap();
    daemon
        .wait_for("the config read", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let mut plugin = Client::connect(&layout.socket).await.unwrap();
    let (choice, took) = choose(&mut plugin).await;
    println!("ChooseModel answered in {took:?}");
    assert_eq!(choice.map(|c| c.model), Some(QWEN.to_owned()));
    assert!(took < Duration::from_millis(500), "{took:?}");

    // One call seen by the transcripts and the plugin, one failed call only the plugin saw.
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    for request in [
        call(QWEN, CallOutcome::Completed),
        call(QWEN, CallOutcome::Error),
    ] {
        plugin.request(&request).await.unwrap().reply.unwrap();
    }
    let status = daemon
        .wait_for("both plugin calls", WAIT, |s| used(s, QWEN) == (2, 2))
        .await
        .unwrap();
    let seen = status.plugin.expect("plugin status");
    assert!(seen.connected && seen.last_seen.is_some(), "{seen:?}");
    assert_eq!(seen.calls.len(), 1);
    assert_eq!(seen.calls[0].calls, 2);

    // The third call reaches the limit: the next turn is told GLM-5 at once.
    plugin
        .request(&call(QWEN, CallOutcome::Completed))
        .await
        .unwrap();
    let (choice, took) = choose(&mut plugin).await;
    println!("ChooseModel after the limit answered in {took:?}");
    assert_eq!(choice.map(|c| c.model), Some(GLM.to_owned()));
    let status = daemon.status().await.unwrap();
    assert_eq!(
        used(&status, QWEN),
        (3, 3),
        "never summed with the transcripts"
    );

    // Paused: no opinion.
    daemon.request(&Request::Pause).await.unwrap();
    assert_eq!(choose(&mut plugin).await.0, None);
    drop(plugin);
    let status = daemon
        .wait_for("the plugin gone", WAIT, |s| {
            s.plugin.as_ref().is_some_and(|p| !p.connected)
        })
        .await
        .unwrap();
    assert!(status.plugin.unwrap().last_seen.is_some());
    daemon.stop().await.unwrap();
}
