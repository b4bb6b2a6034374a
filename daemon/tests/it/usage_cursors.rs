//! The transcript readers' cursors (issue 13): state that does not grow with the day, rows
//! committed late, a catch-up in bounded polls, and state files written before the cursors.

use jiff::{Timestamp, ToSpan};
use msclaw_tests::agent_db::FakeAgentDb;
use msclawd::usage::sqlite::MAX_RECORDS_PER_POLL;
use msclawd::usage::{CallRecord, SqliteCursors, SqliteSource};
use serde_json::{Value, json};

const QWEN: &str = "Qwen/Qwen3.5-397B-A17B";

fn reply(id: &str, at: Timestamp) -> Value {
    json!({"type": "message", "id": id, "parentId": "p0", "timestamp": at.to_string(),
        "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}], "api": "openai-completions",
            "provider": "modelscope", "model": QWEN, "stopReason": "stop", "timestamp": at.as_millisecond()}})
}

fn user(id: &str, at: Timestamp) -> Value {
    json!({"type": "message", "id": id, "parentId": null, "timestamp": at.to_string(),
        "message": {"role": "user", "content": "hi", "timestamp": at.as_millisecond()}})
}

fn t0() -> Timestamp {
    Timestamp::from_millisecond((Timestamp::now() - 10.minutes()).as_millisecond()).unwrap()
}

fn poll_all(src: &mut SqliteSource, since: Timestamp) -> Vec<CallRecord> {
    let mut all = Vec::new();
    loop {
        all.extend(src.poll(since).unwrap());
        if !src.has_more() {
            return all;
        }
    }
}

#[test]
fn the_state_stays_small_however_many_calls_the_day_had() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = t0();
    db.add_session("s1", t0);
    db.conn.execute_batch("BEGIN").unwrap();
    for i in 0..3000i64 {
        db.append_at(
            "s1",
            &reply(&format!("a{i}"), t0 + (i * 10).milliseconds()),
            t0,
        );
    }
    db.conn.execute_batch("COMMIT").unwrap();
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    assert_eq!(poll_all(&mut src, t0 - 1.hour()).len(), 3000);
    let small = serde_json::to_string(src.cursors()).unwrap().len();
    assert!(small < 1024, "{small} bytes for one session");
}

#[test]
fn a_catch_up_is_done_in_bounded_polls_and_counts_each_call_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = t0();
    let n = MAX_RECORDS_PER_POLL + 300;
    db.conn.execute_batch("BEGIN").unwrap();
    for s in 0..3 {
        db.add_session(&format!("s{s}"), t0);
    }
    for i in 0..n {
        let at = t0 + (i as i64).milliseconds();
        db.append_at(&format!("s{}", i % 3), &reply(&format!("a{i}"), at), at);
        db.append_at(&format!("s{}", i % 3), &user(&format!("u{i}"), at), at);
    }
    db.conn.execute_batch("COMMIT").unwrap();
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    let first = src.poll(t0 - 1.hour()).unwrap();
    assert_eq!(first.len(), MAX_RECORDS_PER_POLL);
    assert!(src.has_more());
    // A restart half way (from the cursors of the first poll) reads on without a double count.
    let saved = serde_json::to_string(src.cursors()).unwrap();
    let mut src = SqliteSource::new(dir.path(), serde_json::from_str(&saved).unwrap());
    assert_eq!(
        poll_all(&mut src, t0 - 1.hour()).len(),
        n - MAX_RECORDS_PER_POLL
    );
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
}

#[test]
fn a_row_committed_late_below_the_last_seq_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = t0();
    db.add_session("s1", t0);
    db.insert_row("s1", 1, &reply("a1", t0), t0);
    // A second writer took seq 2 but commits after the writer of seq 3.
    db.insert_row("s1", 3, &reply("a3", t0 + 2.seconds()), t0 + 2.seconds());
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    assert_eq!(src.poll(t0 - 1.hour()).unwrap().len(), 2);
    db.insert_row("s1", 2, &reply("a2", t0 + 1.second()), t0 + 1.second());
    db.insert_row("s1", 4, &reply("a4", t0 + 3.seconds()), t0 + 3.seconds());
    let ids: Vec<_> = src
        .poll(t0 - 1.hour())
        .unwrap()
        .iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(ids, vec![t0 + 1.second(), t0 + 3.seconds()]);
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
}

/// FNV-1a as msclaw persisted call keys before issue 13 (parts separated by 0xff).
fn old_key(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let sep: &[u8] = if i > 0 { &[0xff] } else { &[] };
        for b in sep.iter().chain(part.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[test]
fn a_state_file_from_before_the_cursors_counts_nothing_twice_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = t0();
    db.add_session("s1", t0);
    db.append_at("s1", &reply("a1", t0), t0);
    db.append_at("s1", &reply("a2", t0 + 1.second()), t0 + 1.second());
    // The old shape: per-session seqs (here lost, as after a rewrite was seen) and every key of
    // the day in `seen`.
    let key = |id: &str, at: Timestamp| {
        old_key(&[
            b"main",
            b"s1",
            id.as_bytes(),
            &at.as_millisecond().to_le_bytes(),
        ])
    };
    let old = json!({"dbs": {"main": {"file": {"dev": 0, "ino": 0}, "meta_created_at": null,
            "sessions": {}, "tails": {}}},
        "seen": {"keys": {key("a1", t0): t0.as_millisecond(),
                          key("a2", t0 + 1.second()): (t0 + 1.second()).as_millisecond()}}});
    let mut src = SqliteSource::new(dir.path(), serde_json::from_value(old).unwrap());
    assert!(
        src.poll(t0 - 1.hour()).unwrap().is_empty(),
        "re-read, nothing counted twice"
    );
    db.append_at("s1", &reply("a3", t0 + 2.seconds()), t0 + 2.seconds());
    assert_eq!(src.poll(t0 - 1.hour()).unwrap().len(), 1);
    // A day later the old keys are gone from the state.
    let _ = src.poll(t0 + 24.hours());
    let text = serde_json::to_string(src.cursors()).unwrap();
    assert!(!text.contains("seen"), "{text}");
}

#[test]
fn a_db_gone_for_a_while_and_back_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = t0();
    db.add_session("s1", t0);
    db.append_at("s1", &reply("a1", t0), t0);
    drop(db);
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    assert_eq!(src.poll(t0 - 1.hour()).unwrap().len(), 1);
    let agent = dir.path().join("agents/main");
    let away = dir.path().join("main-away");
    std::fs::rename(&agent, &away).unwrap();
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
    std::fs::rename(&away, &agent).unwrap();
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
}
