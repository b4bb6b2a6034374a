//! Counts seen half way through a catch-up (issue 13): a cold start on a big day is read in
//! several bounded batches, and each batch's counts are only a lower bound of the day's. A switch
//! decided on them could pick a model that the rest of the catch-up shows spent; the engine
//! decides once the catch-up is in, so the only switch is the one the full counts call for.

use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use msclaw_shared::{Request, Response};
use msclaw_tests::agent_db::FakeAgentDb;
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, MINIMAX, QWEN};
use msclawd::usage::sqlite::MAX_RECORDS_PER_POLL;

const WAIT: Duration = Duration::from_secs(60);

/// A day's transcript in one session: runs of `(provider, model, calls)` one millisecond apart.
fn write_day(layout: &Layout, runs: &[(&str, &str, usize)]) {
    let db = FakeAgentDb::create(&layout.openclaw_state, "main");
    let t0 = Timestamp::now() - 1.minute();
    db.conn.execute_batch("BEGIN").unwrap();
    db.add_session("s1", t0);
    let mut i = 0i64;
    for &(provider, model, n) in runs {
        for _ in 0..n {
            let at = t0 + i.milliseconds();
            let reply = transcripts::assistant_reply(provider, model, at.as_millisecond());
            db.append_at("s1", &reply, at);
            i += 1;
        }
    }
    db.conn.execute_batch("COMMIT").unwrap();
}

fn layout_with_primary(dir: &std::path::Path, primary: &str) -> Layout {
    let layout = Layout::in_dir(dir);
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", "").replace(
        &format!("primary: \"modelscope/{QWEN}\""),
        &format!("primary: \"{primary}\""),
    );
    assert!(
        config.contains(primary),
        "the guide config names its primary"
    );
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    layout
}

async fn switches_today(daemon: &TestDaemon) -> Vec<String> {
    let reply = daemon.request(&Request::History { days: 1 }).await.unwrap();
    let Ok(Response::History(history)) = reply.reply else {
        panic!("{reply:?}")
    };
    history.days[0]
        .switches
        .iter()
        .map(|s| s.to.clone())
        .collect()
}

#[tokio::test]
async fn no_switch_to_a_model_the_rest_of_the_catch_up_shows_spent() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout_with_primary(dir.path(), &format!("modelscope/{QWEN}"));
    // The day so far: Qwen (the active model) spent first, then many calls of another provider,
    // then GLM (next in the rotation) spent too, late enough to fall into a later batch.
    let limit = 3000;
    let other = MAX_RECORDS_PER_POLL + 100 - limit;
    write_day(
        &layout,
        &[
            ("modelscope", QWEN, limit),
            ("elsewhere", "some-model", other),
            ("modelscope", GLM, limit),
        ],
    );

    let settings = layout.settings(&format!("daily_limit = {limit}\n"));
    let daemon = TestDaemon::start(&layout, settings).await.unwrap();
    let minimax = format!("modelscope/{MINIMAX}");
    let status = daemon
        .wait_for("the catch-up and the switch", WAIT, |s| {
            s.models.len() >= 2
                && s.models[0].used == limit as u32
                && s.models[1].used == limit as u32
                && s.active_model.as_deref() == Some(&minimax)
        })
        .await
        .unwrap();
    assert!(status.models[0].spent && status.models[1].spent);
    assert_eq!(
        switches_today(&daemon).await,
        vec![minimax],
        "one switch, straight past the model the full count shows spent"
    );
    daemon.stop().await.unwrap();
}

/// A cold start (no state) finds GLM active, as msclaw left it before its state was lost. Before
/// the transcripts are read every count is zero and Qwen looks fresh: a decision then would
/// switch back to Qwen, and the catch-up would switch away again. The config stays as it is.
#[tokio::test]
async fn a_cold_start_decides_nothing_before_the_transcripts_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let glm = format!("modelscope/{GLM}");
    let layout = layout_with_primary(dir.path(), &glm);
    let limit = 50;
    write_day(
        &layout,
        &[("modelscope", QWEN, limit), ("modelscope", GLM, 3)],
    );
    let config_before = std::fs::read(&layout.openclaw_config).unwrap();

    let settings = layout.settings(&format!("daily_limit = {limit}\n"));
    let daemon = TestDaemon::start(&layout, settings).await.unwrap();
    let status = daemon
        .wait_for("the catch-up", WAIT, |s| {
            s.models.len() >= 2 && s.models[0].used == limit as u32 && s.models[1].used == 3
        })
        .await
        .unwrap();
    assert!(status.models[0].spent);
    // A switch would have been written by now: the counts came in after the first decision.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(daemon.status().await.unwrap().active_model, Some(glm));
    assert_eq!(switches_today(&daemon).await, Vec::<String>::new());
    assert_eq!(
        std::fs::read(&layout.openclaw_config).unwrap(),
        config_before,
        "the config is not touched"
    );
    daemon.stop().await.unwrap();
}
