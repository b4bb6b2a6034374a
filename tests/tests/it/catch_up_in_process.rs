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

#[tokio::test]
async fn no_switch_to_a_model_the_rest_of_the_catch_up_shows_spent() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    std::fs::write(&layout.openclaw_config, &config).unwrap();

    // The day so far: Qwen (the active model) spent first, then many calls of another provider,
    // then GLM (next in the rotation) spent too, late enough to fall into a later batch.
    let limit = 3000;
    let other = MAX_RECORDS_PER_POLL + 100 - limit;
    let db = FakeAgentDb::create(&layout.openclaw_state, "main");
    let t0 = Timestamp::now() - 1.minute();
    db.conn.execute_batch("BEGIN").unwrap();
    db.add_session("s1", t0);
    let mut i = 0i64;
    let mut add = |provider: &str, model: &str, n: usize| {
        for _ in 0..n {
            let at = t0 + i.milliseconds();
            let reply = transcripts::assistant_reply(provider, model, at.as_millisecond());
            db.append_at("s1", &reply, at);
            i += 1;
        }
    };
    add("modelscope", QWEN, limit);
    add("elsewhere", "some-model", other);
    add("modelscope", GLM, limit);
    db.conn.execute_batch("COMMIT").unwrap();

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

    let reply = daemon.request(&Request::History { days: 1 }).await.unwrap();
    let Ok(Response::History(history)) = reply.reply else {
        panic!("{reply:?}")
    };
    let switches: Vec<&str> = history.days[0]
        .switches
        .iter()
        .map(|s| s.to.as_str())
        .collect();
    assert_eq!(
        switches,
        vec![minimax.as_str()],
        "one switch, straight past the model the full count shows spent"
    );
    daemon.stop().await.unwrap();
}
