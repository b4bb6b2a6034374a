//! The usage readers against real files: SQLite agent databases built from OpenClaw's own schema,
//! JSONL transcripts, and gateway log files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::{Timestamp, ToSpan};
use msclaw_tests::agent_db::{FakeAgentDb, agent_db_path};
use msclawd::usage::{
    CallOutcome, CallRecord, SourceErrorKind, SourceKind, SqliteCursors, SqliteSource,
};
use rusqlite::Connection;
use serde_json::{Value, json};

// Events, shaped like OpenClaw's (see research: openclaw.md §3).

fn assistant(
    id: &str,
    provider: &str,
    model: &str,
    stop: &str,
    at: Timestamp,
    text_len: usize,
) -> Value {
    let text: String = "The quick brown fox jumps over the lazy dog. ".repeat(text_len / 45 + 1)
        [..text_len]
        .to_owned();
    json!({"type": "message", "id": id, "parentId": "p0", "timestamp": at.to_string(),
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}], "api": "openai-completions",
            "provider": provider, "model": model,
            "usage": {"input": 10, "output": 5, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 15,
                      "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}},
            "stopReason": stop, "timestamp": at.as_millisecond()}})
}

fn assistant_error(
    id: &str,
    model: &str,
    code: &str,
    message: &str,
    at: Timestamp,
    pad: usize,
) -> Value {
    let mut ev = assistant(id, "modelscope", model, "error", at, pad.max(1));
    if pad == 0 {
        ev["message"]["content"] = json!([]);
    }
    ev["message"]["errorMessage"] = json!(message);
    ev["message"]["errorCode"] = json!(code);
    ev
}

fn user(id: &str, at: Timestamp, text_len: usize) -> Value {
    json!({"type": "message", "id": id, "parentId": null, "timestamp": at.to_string(),
        "message": {"role": "user", "content": "x".repeat(text_len), "timestamp": at.as_millisecond()}})
}

fn tool_result(id: &str, at: Timestamp, text_len: usize) -> Value {
    json!({"type": "message", "id": id, "parentId": "p", "timestamp": at.to_string(),
        "message": {"role": "toolResult", "toolCallId": "c1", "toolName": "read", "isError": false,
            "content": [{"type": "text", "text": "assistant output line\n".repeat(text_len / 22 + 1)}], "timestamp": at.as_millisecond()}})
}

fn mirror(id: &str, at: Timestamp) -> Value {
    json!({"type": "message", "id": id, "parentId": "p", "timestamp": at.to_string(),
        "message": {"role": "assistant", "content": [{"type": "text", "text": "delivered"}], "api": "openclaw-transcript",
            "provider": "openclaw", "model": "delivery-mirror", "stopReason": "stop", "timestamp": at.as_millisecond()}})
}

const QWEN: &str = "Qwen/Qwen3.5-397B-A17B";
const GLM: &str = "ZhipuAI/GLM-5";

fn now_ms() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap()
}

fn summary(records: &[CallRecord]) -> Vec<(String, CallOutcome)> {
    records
        .iter()
        .map(|r| (r.model.clone(), r.outcome.clone()))
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// SQLite

#[test]
fn sqlite_json_and_zstd_rows_are_read_once_and_new_rows_seen_through_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let db = FakeAgentDb::create(state, "main");
    db.conn
        .execute_batch("PRAGMA wal_autocheckpoint = 0;")
        .unwrap();
    let t0 = now_ms() - 10.minutes();
    let since = t0 - 1.hour();
    db.add_session("s1", t0);
    db.append_at("s1", &user("u1", t0, 20), t0);
    let small_ok = db.append_at(
        "s1",
        &assistant("a1", "modelscope", QWEN, "stop", t0 + 1.second(), 40),
        t0 + 2.seconds(),
    );
    let big_tool = db.append_at("s1", &tool_result("t1", t0, 5000), t0 + 3.seconds());
    let big_ok = db.append_at(
        "s1",
        &assistant("a2", "modelscope", QWEN, "toolUse", t0 + 4.seconds(), 4000),
        t0 + 5.seconds(),
    );
    db.append_at("s1", &mirror("m1", t0 + 6.seconds()), t0 + 6.seconds());
    let big_mirror = db.append_at(
        "s1",
        &{
            let mut m = mirror("m2", t0 + 6.seconds());
            m["message"]["content"][0]["text"] = json!("delivered again. ".repeat(200));
            m
        },
        t0 + 6.seconds(),
    );
    let big_429 = db.append_at(
        "s1",
        &assistant_error(
            "a3",
            QWEN,
            "429",
            "429 {\"errors\":{\"message\":\"Request limit exceeded.\"}}",
            t0 + 7.seconds(),
            3000,
        ),
        t0 + 150.seconds(),
    );
    db.append_at(
        "s1",
        &assistant_error(
            "a4",
            GLM,
            "400",
            "400 Model ZhipuAI/GLM-5 has no provider supported",
            t0 + 8.seconds(),
            0,
        ),
        t0 + 151.seconds(),
    );
    db.append_at(
        "s1",
        &assistant("a5", "other", "gpt-x", "length", t0 + 9.seconds(), 10),
        t0 + 152.seconds(),
    );
    assert!(!db.is_compressed("s1", small_ok));
    assert!(
        db.is_compressed("s1", big_tool)
            && db.is_compressed("s1", big_ok)
            && db.is_compressed("s1", big_429)
            && db.is_compressed("s1", big_mirror)
    );

    let mut src = SqliteSource::new(state, SqliteCursors::default());
    let got = src.poll(since).unwrap();
    assert_eq!(
        summary(&got),
        vec![
            (QWEN.into(), CallOutcome::Success),
            (QWEN.into(), CallOutcome::Success),
            (
                QWEN.into(),
                CallOutcome::RateLimited {
                    retry_loop_failed: true
                }
            ),
            (
                GLM.into(),
                CallOutcome::Gone {
                    detail: "400 Model ZhipuAI/GLM-5 has no provider supported".into()
                }
            ),
            ("gpt-x".into(), CallOutcome::Success),
        ]
    );
    assert!(got.iter().all(|r| r.source == SourceKind::Sqlite));
    assert_eq!(got[0].provider, "modelscope");
    assert_eq!(
        got[0].at,
        t0 + 1.second(),
        "message.timestamp, not the row time"
    );
    assert_eq!(got[2].at, t0 + 7.seconds());
    assert_eq!(src.records_seen(), 5);
    assert!(src.poll(since).unwrap().is_empty(), "nothing new");

    // OpenClaw keeps writing through its own connection; with no checkpoint the rows exist only
    // in the -wal file.
    let t1 = t0 + 5.minutes();
    db.append_at(
        "s1",
        &assistant(
            "a6",
            "modelscope",
            "marker-model-only-in-wal",
            "stop",
            t1,
            30,
        ),
        t1,
    );
    db.append_at(
        "s1",
        &assistant("a7", "modelscope", QWEN, "stop", t1, 3000),
        t1,
    );
    let main_file = fs::read(&db.path).unwrap();
    let wal = fs::read(db.path.with_extension("sqlite-wal")).unwrap();
    assert!(
        !contains(&main_file, "marker-model-only-in-wal")
            && contains(&wal, "marker-model-only-in-wal")
    );
    let got = src.poll(since).unwrap();
    assert_eq!(
        summary(&got),
        vec![
            ("marker-model-only-in-wal".into(), CallOutcome::Success),
            (QWEN.into(), CallOutcome::Success)
        ]
    );

    // The reader holds no read transaction between polls: a full checkpoint goes through.
    let (busy, _, _): (i64, i64, i64) = db
        .conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0, "checkpoint not blocked by the reader");
    db.append_at(
        "s1",
        &assistant("a8", "modelscope", GLM, "stop", t1, 30),
        t1,
    );
    assert_eq!(
        summary(&src.poll(since).unwrap()),
        vec![(GLM.into(), CallOutcome::Success)]
    );
    assert!(src.take_errors().is_empty());
}

#[test]
fn sqlite_restart_from_persisted_cursors_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    let since = t0 - 1.hour();
    db.add_session("s1", t0);
    db.append_at(
        "s1",
        &assistant("a1", "modelscope", QWEN, "stop", t0, 30),
        t0,
    );
    db.append_at(
        "s1",
        &assistant("a2", "modelscope", QWEN, "stop", t0, 3000),
        t0,
    );

    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    assert_eq!(src.poll(since).unwrap().len(), 2);
    let saved = serde_json::to_string(src.cursors()).unwrap();
    drop(src);

    db.add_session("s2", t0);
    db.append_at(
        "s2",
        &assistant("b1", "modelscope", GLM, "stop", t0 + 1.second(), 30),
        t0 + 1.second(),
    );
    db.append_at(
        "s1",
        &assistant("a3", "modelscope", QWEN, "aborted", t0 + 2.seconds(), 30),
        t0 + 2.seconds(),
    );

    let restored: SqliteCursors = serde_json::from_str(&saved).unwrap();
    let mut src = SqliteSource::new(dir.path(), restored);
    let got = src.poll(since).unwrap();
    let mut models: Vec<_> = got.iter().map(|r| r.model.as_str()).collect();
    models.sort();
    assert_eq!(models, vec![QWEN, GLM]);
    assert!(src.poll(since).unwrap().is_empty());

    // Even a cursor that lost its session positions (an older state file) does not count twice:
    // the remembered call keys catch it.
    let mut state: Value = serde_json::to_value(src.cursors()).unwrap();
    state["dbs"]["main"]["sessions"] = json!({});
    let mut src = SqliteSource::new(dir.path(), serde_json::from_value(state).unwrap());
    assert!(src.poll(since).unwrap().is_empty());
}

#[test]
fn sqlite_replaced_db_with_the_same_rows_is_not_counted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let db = FakeAgentDb::create(state, "main");
    let t0 = now_ms() - 5.minutes();
    let since = t0 - 1.hour();
    db.add_session("s1", t0);
    db.append_at(
        "s1",
        &assistant("a1", "modelscope", QWEN, "stop", t0, 30),
        t0,
    );
    db.append_at(
        "s1",
        &assistant("a2", "modelscope", QWEN, "stop", t0 + 1.second(), 3000),
        t0 + 1.second(),
    );
    let mut src = SqliteSource::new(state, SqliteCursors::default());
    assert_eq!(src.poll(since).unwrap().len(), 2);

    // A copy renamed over the original (restore, doctor repair...): the same rows, except that
    // its last row (same seq as before) is another call. Only that one is new.
    let copy = state.join("copy.sqlite");
    db.conn
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    {
        let c = Connection::open(&copy).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .unwrap();
        let fake = FakeAgentDb {
            path: copy.clone(),
            conn: c,
            legacy: false,
        };
        let last = fake.next_seq("s1") - 1;
        fake.conn
            .execute(
                "DELETE FROM transcript_events WHERE session_id = 's1' AND seq = ?1",
                [last],
            )
            .unwrap();
        fake.insert_row(
            "s1",
            last,
            &assistant("a9", "modelscope", GLM, "stop", t0 + 2.seconds(), 30),
            t0 + 2.seconds(),
        );
        fake.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    drop(db);
    for ext in ["sqlite-wal", "sqlite-shm"] {
        let _ = fs::remove_file(agent_db_path(state, "main").with_extension(ext));
    }
    fs::rename(&copy, agent_db_path(state, "main")).unwrap();
    let got = src.poll(since).unwrap();
    assert_eq!(summary(&got), vec![(GLM.into(), CallOutcome::Success)]);

    // And the same across a restart that finds a replaced file (persisted inode differs).
    let saved = serde_json::to_string(src.cursors()).unwrap();
    let path = agent_db_path(state, "main");
    let tmp = state.join("restored.sqlite");
    fs::copy(&path, &tmp).unwrap();
    fs::rename(&tmp, &path).unwrap(); // a new inode: the old one still existed while it was made
    let mut src = SqliteSource::new(state, serde_json::from_str(&saved).unwrap());
    assert!(src.poll(since).unwrap().is_empty());
}

#[test]
fn sqlite_rewritten_tail_with_seq_going_backwards_is_reread_without_double_counting() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    let since = t0 - 1.hour();
    db.add_session("s1", t0);
    for i in 0..5 {
        db.append_at(
            "s1",
            &assistant(
                &format!("a{i}"),
                "modelscope",
                QWEN,
                "stop",
                t0 + i.seconds(),
                30,
            ),
            t0 + i.seconds(),
        );
    }
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    assert_eq!(src.poll(since).unwrap().len(), 5);
    // OpenClaw rewrites a suffix: deletes seq >= 3, writes back one old event and one new one,
    // so the last seq is lower than before.
    db.conn
        .execute(
            "DELETE FROM transcript_events WHERE session_id = 's1' AND seq >= 3",
            [],
        )
        .unwrap();
    db.insert_row(
        "s1",
        3,
        &assistant("a2", "modelscope", QWEN, "stop", t0 + 2.seconds(), 30),
        t0 + 2.seconds(),
    );
    db.insert_row(
        "s1",
        4,
        &assistant("new", "modelscope", GLM, "stop", t0 + 9.seconds(), 30),
        t0 + 9.seconds(),
    );
    let got = src.poll(since).unwrap();
    assert_eq!(summary(&got), vec![(GLM.into(), CallOutcome::Success)]);
}

#[test]
fn sqlite_locked_db_reports_an_error_keeps_its_cursor_and_others_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let a = FakeAgentDb::create(state, "alpha");
    let b = FakeAgentDb::create(state, "beta");
    let t0 = now_ms() - 5.minutes();
    let since = t0 - 1.hour();
    a.add_session("sa", t0);
    b.add_session("sb", t0);
    a.append_at(
        "sa",
        &assistant("x1", "modelscope", QWEN, "stop", t0, 30),
        t0,
    );
    let mut src = SqliteSource::new(state, SqliteCursors::default());
    assert_eq!(src.poll(since).unwrap().len(), 1);

    // A long writer that holds the database exclusively (OpenClaw's maintenance uses
    // locking_mode = EXCLUSIVE).
    a.conn
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE;")
        .unwrap();
    a.append_at(
        "sa",
        &assistant("x2", "modelscope", QWEN, "stop", t0 + 1.second(), 30),
        t0 + 1.second(),
    );
    b.append_at(
        "sb",
        &assistant("y1", "modelscope", GLM, "stop", t0 + 1.second(), 30),
        t0 + 1.second(),
    );
    let got = src.poll(since).unwrap();
    assert_eq!(
        summary(&got),
        vec![(GLM.into(), CallOutcome::Success)],
        "the other DB is still read"
    );
    let errors = src.take_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, SourceErrorKind::Locked);
    assert!(errors[0].to_string().contains("alpha"), "{}", errors[0]);

    // Only the locked DB has something new: the poll fails as a whole.
    a.append_at(
        "sa",
        &assistant("x3", "modelscope", QWEN, "stop", t0 + 2.seconds(), 30),
        t0 + 2.seconds(),
    );
    let err = src.poll(since).unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::Locked);

    // The writer lets go: the rows written meanwhile arrive, once.
    a.conn
        .execute_batch("PRAGMA locking_mode = NORMAL;")
        .unwrap();
    let _: i64 = a
        .conn
        .query_row("SELECT count(*) FROM transcript_events", [], |r| r.get(0))
        .unwrap();
    let got = src.poll(since).unwrap();
    assert_eq!(got.len(), 2);
    assert!(src.poll(since).unwrap().is_empty());
}

#[test]
fn sqlite_corrupt_db_is_an_error_and_the_others_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let good = FakeAgentDb::create(state, "good");
    let t0 = now_ms() - 5.minutes();
    good.add_session("s", t0);
    good.append_at("s", &assistant("a", "modelscope", QWEN, "stop", t0, 30), t0);
    let bad = agent_db_path(state, "bad");
    fs::create_dir_all(bad.parent().unwrap()).unwrap();
    fs::write(&bad, vec![0x42u8; 8192]).unwrap();

    let mut src = SqliteSource::new(state, SqliteCursors::default());
    let got = src.poll(t0 - 1.hour()).unwrap();
    assert_eq!(got.len(), 1);
    let errors = src.take_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, SourceErrorKind::Corrupt);
    assert_eq!(errors[0].path, bad);
    // It keeps failing (and the good one keeps working) without panics.
    good.append_at("s", &assistant("b", "modelscope", QWEN, "stop", t0, 30), t0);
    assert_eq!(src.poll(t0 - 1.hour()).unwrap().len(), 1);
    assert_eq!(src.take_errors().len(), 1);
}

#[test]
fn sqlite_first_sight_skips_rows_before_since() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let today = now_ms() - 1.hour();
    let yesterday = today - 20.hours();
    db.add_session("old", yesterday);
    db.append_at(
        "old",
        &assistant("o1", "modelscope", QWEN, "stop", yesterday, 30),
        yesterday,
    );
    db.add_session("mixed", yesterday);
    db.append_at(
        "mixed",
        &assistant("m1", "modelscope", QWEN, "stop", yesterday, 3000),
        yesterday,
    );
    db.append_at(
        "mixed",
        &assistant("m2", "modelscope", GLM, "stop", today, 3000),
        today,
    );
    // written today but the call itself was before `since`: not returned either
    db.append_at(
        "mixed",
        &assistant("m3", "modelscope", QWEN, "stop", today - 2.hours(), 30),
        today,
    );

    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    let got = src.poll(today - 30.minutes()).unwrap();
    assert_eq!(summary(&got), vec![(GLM.into(), CallOutcome::Success)]);
    // Only sessions with rows from `since` on keep a cursor.
    let cursors = serde_json::to_value(src.cursors()).unwrap();
    assert_eq!(
        cursors["dbs"]["main"]["sessions"],
        json!({"mixed": 3}),
        "{cursors}"
    );
    // The old session gets a row today: only that row is read.
    db.append_at(
        "old",
        &assistant("o2", "modelscope", GLM, "length", today, 30),
        today,
    );
    assert_eq!(
        summary(&src.poll(today - 30.minutes()).unwrap()),
        vec![(GLM.into(), CallOutcome::Success)]
    );
}

#[test]
fn sqlite_legacy_json_only_schema_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create_legacy(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    db.add_session("s", t0);
    db.append_at(
        "s",
        &assistant("a", "modelscope", QWEN, "stop", t0, 3000),
        t0,
    );
    db.append_at(
        "s",
        &assistant_error("b", QWEN, "429", "429 Request limit exceeded.", t0, 0),
        t0,
    );
    db.append_at("s", &mirror("c", t0), t0);
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    let got = src.poll(t0 - 1.hour()).unwrap();
    assert_eq!(
        summary(&got),
        vec![
            (QWEN.into(), CallOutcome::Success),
            (
                QWEN.into(),
                CallOutcome::RateLimited {
                    retry_loop_failed: true
                }
            )
        ]
    );
}

#[test]
fn sqlite_missing_state_dir_is_empty_and_a_db_appearing_later_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    let t0 = now_ms() - 5.minutes();
    assert!(src.poll(t0).unwrap().is_empty());
    assert_eq!(src.watch_paths(), vec![dir.path().join("agents")]);
    let db = FakeAgentDb::create(dir.path(), "main");
    db.add_session("s", t0);
    db.append_at("s", &assistant("a", "modelscope", QWEN, "stop", t0, 30), t0);
    assert_eq!(src.poll(t0 - 1.minute()).unwrap().len(), 1);
}

#[test]
fn sqlite_an_idle_db_is_skipped_but_the_next_commit_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    db.add_session("s", t0);
    db.append_at("s", &assistant("a", "modelscope", QWEN, "stop", t0, 30), t0);
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    assert_eq!(src.poll(t0 - 1.hour()).unwrap().len(), 1);
    // Let the files' mtimes settle so the reader trusts "unchanged" and skips the DB...
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
    // ...which must not hide the next commit.
    db.append_at("s", &assistant("b", "modelscope", GLM, "stop", t0, 30), t0);
    assert_eq!(
        summary(&src.poll(t0 - 1.hour()).unwrap()),
        vec![(GLM.into(), CallOutcome::Success)]
    );
}

// ---------------------------------------------------------------------------------------------
// JSONL

use msclawd::usage::{JsonlCursors, JsonlSource};

fn sessions_dir(state: &Path, agent: &str) -> PathBuf {
    let d = state.join("agents").join(agent).join("sessions");
    fs::create_dir_all(&d).unwrap();
    d
}

fn line(ev: &Value) -> String {
    format!("{ev}\n")
}

fn append(path: &Path, text: &str) {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn header(id: &str, at: Timestamp) -> String {
    line(
        &json!({"type": "session", "version": 3, "id": id, "timestamp": at.to_string(), "cwd": "/work"}),
    )
}

#[test]
fn jsonl_partial_last_line_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = sessions_dir(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    let f = sessions.join("0b8e6d1c-aaaa.jsonl");
    append(&f, &header("0b8e6d1c-aaaa", t0));
    append(&f, &line(&user("u1", t0, 10)));
    append(
        &f,
        &line(&assistant("a1", "modelscope", QWEN, "stop", t0, 50)),
    );
    let second = line(&assistant(
        "a2",
        "modelscope",
        GLM,
        "toolUse",
        t0 + 1.second(),
        50,
    ));
    let (head, tail) = second.split_at(second.len() / 2);
    append(&f, head);

    let mut src = JsonlSource::new(dir.path(), JsonlCursors::default());
    let since = t0 - 1.hour();
    assert_eq!(
        summary(&src.poll(since).unwrap()),
        vec![(QWEN.into(), CallOutcome::Success)]
    );
    assert!(
        src.poll(since).unwrap().is_empty(),
        "half a line is not read"
    );
    append(&f, tail);
    let got = src.poll(since).unwrap();
    assert_eq!(summary(&got), vec![(GLM.into(), CallOutcome::Success)]);
    assert_eq!(got[0].source, SourceKind::Jsonl);
    assert_eq!(got[0].at, t0 + 1.second());
    assert_eq!(
        src.garbled_lines(),
        0,
        "the half line was never taken for garbage"
    );
    assert_eq!(src.records_seen(), 2);
}

#[test]
fn jsonl_an_over_long_line_is_skipped_without_being_held_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = sessions_dir(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    let f = sessions.join("0b8e6d1c-long.jsonl");
    append(&f, &header("0b8e6d1c-long", t0));
    // 3 MiB without a newline yet: a line being written, far over the 1 MiB bound.
    append(
        &f,
        &format!("{{\"type\":\"message\",\"junk\":\"{}", "x".repeat(3 << 20)),
    );
    let mut src = JsonlSource::new(dir.path(), JsonlCursors::default());
    let since = t0 - 1.hour();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert!(src.poll(since).unwrap().is_empty());
        append(&f, &"y".repeat(64 << 10));
    }
    println!("5 polls of a growing 3 MiB line: {:?}", started.elapsed());
    assert_eq!(src.long_lines(), 1, "counted once, not per poll");
    // A restart in the middle of the long line: the cursor remembers it is skipping.
    let cursors = serde_json::to_string(src.cursors()).unwrap();
    assert!(cursors.len() < 4096, "the cursor holds no part of the line");
    let mut src = JsonlSource::new(dir.path(), serde_json::from_str(&cursors).unwrap());
    append(&f, "\"}\n");
    append(
        &f,
        &line(&assistant("a1", "modelscope", QWEN, "stop", t0, 50)),
    );
    assert_eq!(
        summary(&src.poll(since).unwrap()),
        vec![(QWEN.into(), CallOutcome::Success)]
    );
    assert_eq!(
        src.garbled_lines(),
        0,
        "the tail of the long line is not taken for a line"
    );
}

#[test]
fn jsonl_truncated_or_replaced_file_is_reread_without_double_counting() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = sessions_dir(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    let since = t0 - 1.hour();
    let f = sessions.join("s1.jsonl");
    let base = [
        header("s1", t0),
        line(&assistant("a1", "modelscope", QWEN, "stop", t0, 50)),
        line(&assistant("a2", "modelscope", QWEN, "stop", t0, 50)),
    ]
    .concat();
    fs::write(&f, &base).unwrap();
    let mut src = JsonlSource::new(dir.path(), JsonlCursors::default());
    assert_eq!(src.poll(since).unwrap().len(), 2);

    // Truncated, then written again shorter: the old calls plus one new one.
    let shorter = [
        header("s1", t0),
        line(&assistant("a1", "modelscope", QWEN, "stop", t0, 50)),
        line(&assistant("b1", "modelscope", GLM, "stop", t0, 5)),
    ]
    .concat();
    assert!(shorter.len() < base.len());
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&f)
        .unwrap()
        .write_all(shorter.as_bytes())
        .unwrap();
    assert_eq!(
        summary(&src.poll(since).unwrap()),
        vec![(GLM.into(), CallOutcome::Success)]
    );

    // Replaced by an atomic rewrite (new inode), longer than before, with a new call early in
    // the file (before the old offset) and one at the end.
    let longer = [
        header("s1", t0),
        line(&assistant("a1", "modelscope", QWEN, "stop", t0, 50)),
        line(&assistant("c0", "other", "m-c0", "stop", t0, 50)),
        line(&assistant("b1", "modelscope", GLM, "stop", t0, 5)),
        line(&assistant("a2", "modelscope", QWEN, "stop", t0, 50)),
        line(&assistant("c1", "other", "m-c1", "stop", t0, 50)),
    ]
    .concat();
    let tmp = sessions.join(".s1.jsonl.tmp");
    fs::write(&tmp, &longer).unwrap();
    fs::rename(&tmp, &f).unwrap();
    assert_eq!(
        summary(&src.poll(since).unwrap()),
        vec![
            ("m-c0".into(), CallOutcome::Success),
            ("m-c1".into(), CallOutcome::Success)
        ]
    );
    assert_eq!(src.garbled_lines(), 0);

    // Restart from persisted cursors: nothing again; an append is read once.
    let saved = serde_json::to_string(src.cursors()).unwrap();
    let mut src = JsonlSource::new(dir.path(), serde_json::from_str(&saved).unwrap());
    assert!(src.poll(since).unwrap().is_empty());
    append(
        &f,
        &line(&assistant_error(
            "e1",
            QWEN,
            "429",
            "429 Request limit exceeded.",
            t0 + 1.second(),
            0,
        )),
    );
    assert_eq!(
        summary(&src.poll(since).unwrap()),
        vec![(
            QWEN.into(),
            CallOutcome::RateLimited {
                retry_loop_failed: true
            }
        )]
    );
}

#[test]
fn jsonl_skips_trajectories_mirrors_and_garbled_lines_and_reads_topic_files() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - 5.minutes();
    let since = t0 - 1.hour();
    let main = sessions_dir(dir.path(), "main");
    let work = sessions_dir(dir.path(), "work");
    // trajectory: same shapes would count if read
    fs::write(
        main.join("s1.trajectory.jsonl"),
        line(&assistant("t1", "modelscope", QWEN, "stop", t0, 20)),
    )
    .unwrap();
    fs::write(main.join("s1.trajectory-path.json"), "{}").unwrap();
    fs::write(
        main.join("sessions.json"),
        r#"{"agent:main:main":{"sessionId":"s1"}}"#,
    )
    .unwrap();
    fs::create_dir_all(main.join("session-sqlite-import-archive")).unwrap();
    fs::write(
        main.join("session-sqlite-import-archive").join("old.jsonl"),
        line(&assistant("x", "modelscope", QWEN, "stop", t0, 20)),
    )
    .unwrap();
    fs::write(
        main.join("s1.jsonl"),
        [
            header("s1", t0),
            "{\"type\":\"message\",\"id\":\"broken\n".into(),
            "not json at all\n".into(),
            "\n".into(),
            "[1,2,3]\n".into(),
            line(&mirror("m1", t0)),
            line(&json!({"type": "message", "id": "gi", "message": {"role": "assistant", "provider": "openclaw", "model": "gateway-injected", "stopReason": "stop", "timestamp": t0.as_millisecond()}})),
            line(&assistant("a1", "modelscope", QWEN, "stop", t0, 20)),
            "\u{0}\u{1}\u{ff}garbage\n".into(),
        ]
        .concat(),
    )
    .unwrap();
    fs::write(
        work.join("s2-topic-42.jsonl"),
        [
            header("s2", t0),
            line(&assistant("b1", "modelscope", GLM, "stop", t0, 20)),
        ]
        .concat(),
    )
    .unwrap();

    let mut src = JsonlSource::new(dir.path(), JsonlCursors::default());
    let mut got = summary(&src.poll(since).unwrap());
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            (QWEN.into(), CallOutcome::Success),
            (GLM.into(), CallOutcome::Success)
        ]
    );
    assert_eq!(src.garbled_lines(), 4);
    assert!(src.take_errors().is_empty());
}

#[test]
fn jsonl_files_untouched_since_before_since_are_not_read_and_keep_no_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = sessions_dir(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    let yesterday = t0 - 24.hours();
    let f = sessions.join("old.jsonl");
    fs::write(
        &f,
        [
            header("old", yesterday),
            line(&assistant("a1", "modelscope", QWEN, "stop", yesterday, 20)),
        ]
        .concat(),
    )
    .unwrap();
    let set_mtime = |p: &Path, at: Timestamp| {
        let file = fs::File::options().write(true).open(p).unwrap();
        file.set_modified(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.as_millisecond() as u64),
        )
        .unwrap();
    };
    set_mtime(&f, yesterday);
    // A file that is not even valid UTF-8 JSON: proves the old file is never opened.
    let junk = sessions.join("junk.jsonl");
    fs::write(&junk, b"\xff\xfe garbage\n").unwrap();
    set_mtime(&junk, yesterday);
    let mut src = JsonlSource::new(dir.path(), JsonlCursors::default());
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
    assert_eq!(src.garbled_lines(), 0, "old files are not read");
    let cursors = serde_json::to_value(src.cursors()).unwrap();
    assert_eq!(cursors["files"], json!({}), "and keep no cursor: {cursors}");

    // Written to again today: read, yesterday's call dropped, the new one returned once.
    append(
        &f,
        &line(&assistant("a2", "modelscope", GLM, "stop", t0, 20)),
    );
    assert_eq!(
        summary(&src.poll(t0 - 1.hour()).unwrap()),
        vec![(GLM.into(), CallOutcome::Success)]
    );
    assert!(src.poll(t0 - 1.hour()).unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Gateway log

use msclawd::usage::{GatewayLogCursor, GatewayLogSource, GatewaySignal, LogLocation};

/// A tslog line as OpenClaw's file transport writes it.
fn log_line(subsystem: &str, msg: &str, time: &str) -> String {
    let v = json!({"0": json!({"subsystem": subsystem}).to_string(), "1": msg,
        "_meta": {"runtime": "node", "runtimeVersion": "22.22.3", "hostname": "box", "name": json!({"subsystem": subsystem}).to_string(),
                  "parentNames": ["openclaw"], "date": "2026-07-09T01:41:50.257Z", "logLevelId": 3, "logLevelName": "INFO",
                  "path": {"fullFilePath": "file:///x.js:1:1"}},
        "time": time});
    format!("{v}\n")
}

fn fetch_line(model: &str, status: u16, time: &str) -> String {
    log_line(
        "provider-transport-fetch",
        &format!(
            "[model-fetch] response provider=modelscope api=openai-completions model={model} status={status} elapsedMs=812 dispatcher=reused contentType=application/json"
        ),
        time,
    )
}

fn noise(time: &str) -> String {
    log_line(
        "agents/embedded",
        "transient same-model retry 1/9 for modelscope/Qwen reason=rate_limit: delayMs=1000",
        time,
    )
}

fn kinds(sigs: &[GatewaySignal]) -> Vec<String> {
    sigs.iter()
        .map(|s| match s {
            GatewaySignal::ReloadApplied { paths, .. } => format!("applied {}", paths.join("+")),
            GatewaySignal::ReloadSkipped { reason, .. } => format!("skipped {reason}"),
            GatewaySignal::Call(r) => format!("{} {:?}", r.model, r.outcome),
        })
        .collect()
}

const T: &str = "2026-07-08T22:41:50.257-03:00";

#[test]
fn gateway_log_signals_garbled_lines_and_partial_lines() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("openclaw-2026-07-08.log");
    let text = [
        noise(T),
        fetch_line(QWEN, 429, T),
        "{\"1\":\"[model-fetch] response provider=modelscope model=X status=429\", broken\n".into(),
        "garbage [model-fetch] response not json\n".into(),
        "plain garbage\n".into(),
        log_line(
            "gateway/reload",
            "config change detected; evaluating reload (agents.defaults.model.primary)",
            T,
        ),
        log_line(
            "gateway/reload",
            "config hot reload applied (agents.defaults.model.primary)",
            T,
        ),
        log_line(
            "gateway/reload",
            "config reload skipped (invalid config): agents.defaults.model.primary: Unknown model",
            T,
        ),
        fetch_line(GLM, 200, T),
    ]
    .concat();
    fs::write(&f, &text).unwrap();
    let mut src = GatewayLogSource::new(
        LogLocation::Dir(dir.path().to_path_buf()),
        GatewayLogCursor::default(),
    )
    .start_at_end(false);
    let sigs = src.poll().unwrap();
    assert_eq!(
        kinds(&sigs),
        vec![
            format!("{QWEN} RateLimited {{ retry_loop_failed: false }}"),
            "applied agents.defaults.model.primary".into(),
            "skipped invalid config: agents.defaults.model.primary: Unknown model".into(),
            format!("{GLM} Success"),
        ]
    );
    let GatewaySignal::Call(r) = &sigs[0] else {
        panic!()
    };
    assert_eq!(
        r.at,
        "2026-07-09T01:41:50.257Z".parse::<Timestamp>().unwrap(),
        "time with its offset"
    );
    assert_eq!(r.source, SourceKind::GatewayLog);
    assert_eq!(
        src.garbled_lines(),
        2,
        "the two broken lines that looked relevant"
    );

    let next = fetch_line(QWEN, 429, T);
    let (a, b) = next.split_at(40);
    append(&f, a);
    assert!(src.poll().unwrap().is_empty(), "a partial line waits");
    append(&f, b);
    assert_eq!(src.poll().unwrap().len(), 1);
    assert_eq!(src.garbled_lines(), 2);
    assert_eq!(src.watch_dir(), dir.path());
}

#[test]
fn gateway_log_new_cursor_starts_at_the_end_of_the_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("openclaw-2026-07-07.log"),
        fetch_line(QWEN, 429, T),
    )
    .unwrap();
    let f = dir.path().join("openclaw-2026-07-08.log");
    // history, and a half-written line at the end
    fs::write(
        &f,
        [
            fetch_line(QWEN, 429, T),
            fetch_line(GLM, 429, T)[..50].to_string(),
        ]
        .concat(),
    )
    .unwrap();
    let mut src = GatewayLogSource::new(
        LogLocation::Dir(dir.path().to_path_buf()),
        GatewayLogCursor::default(),
    );
    assert!(src.poll().unwrap().is_empty());
    // The half line is finished and a new one added: the first is taken (it started after the
    // last complete line), nothing older is.
    append(&f, &fetch_line(GLM, 429, T)[50..]);
    append(&f, &fetch_line("M/new", 404, T));
    assert_eq!(
        kinds(&src.poll().unwrap()),
        vec![
            format!("{GLM} RateLimited {{ retry_loop_failed: false }}"),
            "M/new Gone { detail: \"HTTP 404\" }".into()
        ]
    );

    // No file at all on first start: files that appear later are new, read from their start.
    let empty = tempfile::tempdir().unwrap();
    let mut src = GatewayLogSource::new(
        LogLocation::Dir(empty.path().join("openclaw")),
        GatewayLogCursor::default(),
    );
    assert!(src.poll().unwrap().is_empty());
    fs::create_dir_all(empty.path().join("openclaw")).unwrap();
    fs::write(
        empty
            .path()
            .join("openclaw")
            .join("openclaw-2026-07-08.log"),
        fetch_line(QWEN, 429, T),
    )
    .unwrap();
    assert_eq!(src.poll().unwrap().len(), 1);
}

/// OpenClaw's rotateLogFile: drop .5, shift .4..1 up by one, live → .1.
fn rotate(live: &Path) {
    let archive = |n: u32| {
        live.with_file_name(
            live.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .replace(".log", &format!(".{n}.log")),
        )
    };
    let _ = fs::remove_file(archive(5));
    for n in (1..=4).rev() {
        if archive(n).exists() {
            fs::rename(archive(n), archive(n + 1)).unwrap();
        }
    }
    fs::rename(live, archive(1)).unwrap();
}

#[test]
fn gateway_log_rotation_finishes_the_old_file_then_follows_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("openclaw-2026-07-08.log");
    fs::write(&live, fetch_line("m/1", 429, T)).unwrap();
    let mut src = GatewayLogSource::new(
        LogLocation::Dir(dir.path().to_path_buf()),
        GatewayLogCursor::default(),
    )
    .start_at_end(false);
    assert_eq!(src.poll().unwrap().len(), 1);

    // More lines, then a size rotation (twice, before the next poll): live → .1 → .2.
    append(&live, &fetch_line("m/2", 429, T));
    rotate(&live);
    fs::write(&live, fetch_line("m/3", 429, T)).unwrap();
    rotate(&live);
    fs::write(&live, fetch_line("m/4", 429, T)).unwrap();
    assert!(dir.path().join("openclaw-2026-07-08.2.log").exists());
    let models: Vec<String> = src
        .poll()
        .unwrap()
        .iter()
        .map(|s| match s {
            GatewaySignal::Call(r) => r.model.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(models, vec!["m/2", "m/3", "m/4"]);

    // Restart from the persisted cursor after another rotation while down.
    let saved = serde_json::to_string(src.cursor()).unwrap();
    drop(src);
    append(&live, &fetch_line("m/5", 429, T));
    rotate(&live);
    fs::write(&live, fetch_line("m/6", 429, T)).unwrap();
    let mut src = GatewayLogSource::new(
        LogLocation::Dir(dir.path().to_path_buf()),
        serde_json::from_str(&saved).unwrap(),
    );
    let models: Vec<String> = src
        .poll()
        .unwrap()
        .iter()
        .map(|s| match s {
            GatewaySignal::Call(r) => r.model.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(models, vec!["m/5", "m/6"]);
    assert!(src.poll().unwrap().is_empty());
}

#[test]
fn gateway_log_new_days_file_and_a_recreated_directory() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("openclaw");
    fs::create_dir_all(&dir).unwrap();
    let day1 = dir.join("openclaw-2026-07-08.log");
    fs::write(&day1, fetch_line("d1/a", 429, T)).unwrap();
    let mut src = GatewayLogSource::new(LogLocation::Dir(dir.clone()), GatewayLogCursor::default())
        .start_at_end(false);
    assert_eq!(src.poll().unwrap().len(), 1);
    // The last lines of the old day and the first of the new one, before one poll.
    append(&day1, &fetch_line("d1/b", 429, T));
    let day2 = dir.join("openclaw-2026-07-09.log");
    fs::write(&day2, fetch_line("d2/a", 429, T)).unwrap();
    let models: Vec<String> = src
        .poll()
        .unwrap()
        .iter()
        .map(|s| match s {
            GatewaySignal::Call(r) => r.model.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(models, vec!["d1/b", "d2/a"]);
    // (OpenClaw picks the file per line by the current date and flushes in order, so nothing
    // is written to an old day's file once the new one exists.)

    // The directory removed (reboot cleans /tmp) and recreated.
    fs::remove_dir_all(&dir).unwrap();
    assert!(src.poll().unwrap().is_empty());
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("openclaw-2026-07-09.log"),
        [fetch_line("r/a", 429, T), fetch_line("r/b", 429, T)].concat(),
    )
    .unwrap();
    let models: Vec<String> = src
        .poll()
        .unwrap()
        .iter()
        .map(|s| match s {
            GatewaySignal::Call(r) => r.model.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(models, vec!["r/a", "r/b"]);
}

#[test]
fn gateway_log_profiles_and_a_fixed_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("openclaw-2026-07-08.log"),
        fetch_line("default/a", 429, T),
    )
    .unwrap();
    fs::write(
        dir.path().join("openclaw-work-2026-07-09.log"),
        fetch_line("work/a", 429, T),
    )
    .unwrap();
    let pinned = |profile: Option<&str>| {
        let loc = LogLocation::ProfileDir {
            dir: dir.path().to_path_buf(),
            profile: profile.map(str::to_owned),
        };
        let mut src = GatewayLogSource::new(loc, GatewayLogCursor::default()).start_at_end(false);
        kinds(&src.poll().unwrap())
    };
    assert_eq!(
        pinned(None),
        vec!["default/a RateLimited { retry_loop_failed: false }"]
    );
    assert_eq!(
        pinned(Some("work")),
        vec!["work/a RateLimited { retry_loop_failed: false }"]
    );
    // unpinned: the newest file's profile, and it stays with it
    let mut src = GatewayLogSource::new(
        LogLocation::Dir(dir.path().to_path_buf()),
        GatewayLogCursor::default(),
    )
    .start_at_end(false);
    assert_eq!(
        kinds(&src.poll().unwrap()),
        vec!["work/a RateLimited { retry_loop_failed: false }"]
    );
    fs::write(
        dir.path().join("openclaw-2026-07-10.log"),
        fetch_line("default/b", 429, T),
    )
    .unwrap();
    append(
        &dir.path().join("openclaw-work-2026-07-09.log"),
        &fetch_line("work/b", 429, T),
    );
    assert_eq!(
        kinds(&src.poll().unwrap()),
        vec!["work/b RateLimited { retry_loop_failed: false }"]
    );

    // logging.file: one fixed file, rotated to gw.1.log
    let f = dir.path().join("gw.log");
    fs::write(&f, fetch_line("f/a", 429, T)).unwrap();
    let mut src = GatewayLogSource::new(LogLocation::File(f.clone()), GatewayLogCursor::default())
        .start_at_end(false);
    assert_eq!(src.poll().unwrap().len(), 1);
    append(&f, &fetch_line("f/b", 429, T));
    rotate(&f);
    fs::write(&f, fetch_line("f/c", 429, T)).unwrap();
    assert!(dir.path().join("gw.1.log").exists());
    let models: Vec<String> = src
        .poll()
        .unwrap()
        .iter()
        .map(|s| match s {
            GatewaySignal::Call(r) => r.model.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(models, vec!["f/b", "f/c"]);
    assert_eq!(src.watch_dir(), dir.path());
}

#[test]
fn sqlite_zstd_rows_are_classified_by_navigation_and_only_error_rows_are_decompressed() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let t0 = now_ms() - 5.minutes();
    db.add_session("s", t0);
    let ok = db.append_at(
        "s",
        &assistant("a", "modelscope", QWEN, "stop", t0, 3000),
        t0,
    );
    let tool = db.append_at("s", &tool_result("t", t0, 5000), t0);
    let err = db.append_at(
        "s",
        &assistant_error("e", GLM, "429", "429 Request limit exceeded.", t0, 3000),
        t0,
    );
    let good_err = db.append_at(
        "s",
        &assistant_error("f", GLM, "500", "500 upstream error", t0 + 1.second(), 3000),
        t0 + 1.second(),
    );
    for seq in [ok, tool, err, good_err] {
        assert!(db.is_compressed("s", seq));
    }
    // Spoil the compressed bodies of all but the last: only rows whose body is needed notice.
    for seq in [ok, tool, err] {
        db.conn
            .execute("UPDATE transcript_events SET event_zstd = zeroblob(length(event_zstd)) WHERE session_id = 's' AND seq = ?1", [seq])
            .unwrap();
    }
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    let got = src.poll(t0 - 1.hour()).unwrap();
    assert_eq!(
        summary(&got),
        vec![
            (QWEN.into(), CallOutcome::Success),
            (
                GLM.into(),
                CallOutcome::Failed {
                    status: Some(500),
                    detail: "500 upstream error".into()
                }
            ),
        ],
        "the success row came from its navigation alone, the error row needed (and had) a good body"
    );
    assert_eq!(
        src.malformed_rows(),
        1,
        "the spoiled error row is skipped, not the spoiled tool result"
    );
    assert!(
        src.poll(t0 - 1.hour()).unwrap().is_empty(),
        "a broken row does not block the cursor"
    );
}
