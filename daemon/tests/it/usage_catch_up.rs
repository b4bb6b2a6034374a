//! The SQLite catch-up in one pass in storage order (issue 13) against the session-by-session
//! read: on the same DB (rows of many sessions interleaved, compressed and error rows, rows
//! committed out of order, rows from before `since`) both count the same calls and leave the
//! same cursors; a restart, a replaced DB, new rows and a new day half way through the pass
//! count nothing twice.

use jiff::{Timestamp, ToSpan};
use msclaw_tests::agent_db::FakeAgentDb;
use msclawd::usage::sqlite::MAX_RECORDS_PER_POLL;
use msclawd::usage::{CallRecord, SqliteCursors, SqliteSource};
use serde_json::{Value, json};

const MODELS: [&str; 3] = [
    "Qwen/Qwen3.5-397B-A17B",
    "deepseek-ai/DeepSeek-V3.2",
    "ZhipuAI/GLM-5",
];
const SESSIONS: usize = 7;

fn message(id: &str, at: Timestamp, message: Value) -> Value {
    let mut message = message;
    message["timestamp"] = json!(at.as_millisecond());
    json!({"type": "message", "id": id, "parentId": "p", "timestamp": at.to_string(), "message": message})
}

/// Event `i` of the generated day: replies (some ≥ 1 KiB, so compressed), error replies (some
/// compressed), user messages, tool results, delivery mirrors and a reply without a model.
fn event(i: usize, at: Timestamp) -> Value {
    let id = format!("e{i}");
    let model = MODELS[i % MODELS.len()];
    let long = "words that make the event long enough to be compressed ".repeat(30);
    let reply = |stop: &str, text: &str| {
        json!({"role": "assistant", "provider": "modelscope", "model": model, "stopReason": stop,
            "content": [{"type": "text", "text": text}]})
    };
    match i % 11 {
        0 | 4 => message(&id, at, reply("stop", "ok")),
        1 => message(&id, at, reply("toolUse", &long)),
        2 => {
            let mut m = reply("error", &long);
            m["errorMessage"] = json!("429 Too Many Requests");
            message(&id, at, m)
        }
        3 => {
            let mut m = reply("error", "");
            m["errorMessage"] = json!("404 model not found");
            message(&id, at, m)
        }
        5 => message(
            &id,
            at,
            json!({"role": "user", "content": "assistant, go on"}),
        ),
        6 => message(
            &id,
            at,
            json!({"role": "toolResult", "toolCallId": "c", "content": [{"type": "text", "text": long}]}),
        ),
        7 => message(
            &id,
            at,
            json!({"role": "assistant", "provider": "openclaw", "model": "delivery-mirror", "content": []}),
        ),
        8 => message(
            &id,
            at,
            json!({"role": "assistant", "provider": "modelscope", "content": []}),
        ),
        _ => message(&id, at, reply("stop", "fine")),
    }
}

/// A day of `n` events over [`SESSIONS`] sessions, every 13th pair of a session's rows committed
/// in the wrong order (a second writer took the lower seq and committed late), and a session
/// whose rows are all from before `since`. Every event has its own time.
fn generate(db: &FakeAgentDb, n: usize, t0: Timestamp) {
    db.conn.execute_batch("BEGIN").unwrap();
    db.add_session("yesterday", t0 - 48.hours());
    for k in 0..50 {
        db.append_at("yesterday", &event(k, t0 - 48.hours()), t0 - 48.hours());
    }
    for s in 0..SESSIONS {
        db.add_session(&format!("s{s}"), t0);
    }
    let mut next = [1i64; SESSIONS];
    let mut i = 0;
    let mut rng = 0x2545_f491u64;
    while i < n {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let s = (rng >> 33) as usize % SESSIONS;
        let session = format!("s{s}");
        let at = |k: usize| t0 + (k as i64 * 3).milliseconds();
        if (rng >> 40).is_multiple_of(13) {
            db.insert_row(&session, next[s] + 1, &event(i + 1, at(i + 1)), at(i + 1));
            db.insert_row(&session, next[s], &event(i, at(i)), at(i));
            next[s] += 2;
            i += 2;
        } else {
            db.insert_row(&session, next[s], &event(i, at(i)), at(i));
            next[s] += 1;
            i += 1;
        }
    }
    db.conn.execute_batch("COMMIT").unwrap();
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

fn sorted(mut records: Vec<CallRecord>) -> Vec<String> {
    let mut keys: Vec<String> = records.drain(..).map(|r| format!("{r:?}")).collect();
    keys.sort();
    keys
}

fn per_session(state: &std::path::Path) -> SqliteSource {
    SqliteSource::new(state, SqliteCursors::default()).with_catch_up_rows(u64::MAX)
}

fn one_pass(state: &std::path::Path, cursors: SqliteCursors) -> SqliteSource {
    SqliteSource::new(state, cursors).with_catch_up_rows(0)
}

fn t0() -> Timestamp {
    Timestamp::from_millisecond((Timestamp::now() - 2.hours()).as_millisecond()).unwrap()
}

fn day(legacy: bool, n: usize) -> (tempfile::TempDir, FakeAgentDb, Timestamp) {
    let dir = tempfile::tempdir().unwrap();
    let db = if legacy {
        FakeAgentDb::create_legacy(dir.path(), "main")
    } else {
        FakeAgentDb::create(dir.path(), "main")
    };
    let t0 = t0();
    generate(&db, n, t0);
    (dir, db, t0)
}

#[test]
fn one_pass_counts_and_leaves_the_cursors_the_per_session_read_does() {
    for legacy in [false, true] {
        let (dir, _db, t0) = day(legacy, 40_000);
        let since = t0 - 1.hour();
        let mut a = per_session(dir.path());
        let want = poll_all(&mut a, since);
        let mut b = one_pass(dir.path(), SqliteCursors::default());
        let mut polls = 0;
        let mut got = Vec::new();
        loop {
            let batch = b.poll(since).unwrap();
            assert!(batch.len() <= MAX_RECORDS_PER_POLL);
            got.extend(batch);
            polls += 1;
            if !b.has_more() {
                break;
            }
        }
        assert!(
            polls >= 3,
            "the catch-up took {polls} polls (legacy: {legacy})"
        );
        assert!(
            want.len() > 2 * MAX_RECORDS_PER_POLL,
            "{} calls",
            want.len()
        );
        assert_eq!(sorted(got), sorted(want), "legacy: {legacy}");
        // The per-session read meets a malformed row again when it reads behind a cursor after
        // a stop; the pass meets each once.
        assert!(b.malformed_rows() > 0 && b.malformed_rows() <= a.malformed_rows());
        assert_eq!(
            serde_json::to_value(b.cursors()).unwrap(),
            serde_json::to_value(a.cursors()).unwrap(),
            "legacy: {legacy}"
        );
    }
}

#[test]
fn a_restart_half_way_through_the_pass_counts_nothing_twice() {
    let (dir, _db, t0) = day(false, 30_000);
    let since = t0 - 1.hour();
    let want = sorted(poll_all(&mut per_session(dir.path()), since));
    let mut b = one_pass(dir.path(), SqliteCursors::default());
    let mut got = b.poll(since).unwrap();
    assert!(b.has_more());
    let saved = serde_json::to_string(b.cursors()).unwrap();
    let mut b = one_pass(dir.path(), serde_json::from_str(&saved).unwrap());
    got.extend(poll_all(&mut b, since));
    assert_eq!(sorted(got), want);
}

#[test]
fn rows_added_and_a_replaced_db_during_the_pass_count_nothing_twice() {
    let (dir, db, t0) = day(false, 30_000);
    let since = t0 - 1.hour();
    let mut b = one_pass(dir.path(), SqliteCursors::default());
    let mut got = b.poll(since).unwrap();
    assert!(b.has_more());
    // New rows in a session the pass reads, and in a new session.
    let late = t0 + 1.hour();
    for (k, session) in ["s0", "s1"].iter().enumerate() {
        db.append_at(session, &event(11 * k, late + (k as i64).seconds()), late);
    }
    db.add_session("new", late);
    db.append_at("new", &event(0, late + 5.seconds()), late);
    got.extend(b.poll(since).unwrap());
    // The DB replaced by a copy of itself (another inode) half way.
    db.conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let copy = db.path.with_extension("copy");
    std::fs::copy(&db.path, &copy).unwrap();
    std::fs::rename(&copy, &db.path).unwrap();
    got.extend(poll_all(&mut b, since));
    let mut fresh = per_session(dir.path());
    let want = sorted(poll_all(&mut fresh, since));
    assert_eq!(want.len(), got.len(), "each call once");
    assert_eq!(sorted(got), want);
}

#[test]
fn a_day_rolling_over_during_the_pass_counts_nothing_twice_and_nothing_before_it() {
    let (dir, _db, t0) = day(false, 30_000);
    let mut b = one_pass(dir.path(), SqliteCursors::default());
    let mut got = b.poll(t0 - 1.hour()).unwrap();
    assert!(b.has_more());
    // The new day starts in the middle of the generated rows.
    let rollover = t0 + 20.seconds();
    let mut after: Vec<CallRecord> = got.drain(..).filter(|r| r.at >= rollover).collect();
    after.extend(poll_all(&mut b, rollover));
    let want = sorted(poll_all(&mut per_session(dir.path()), rollover));
    assert_eq!(sorted(after), want);
}

#[test]
fn a_huge_jsonl_transcript_is_read_in_bounded_polls_and_each_call_counted_once() {
    use msclawd::usage::JsonlSource;
    use msclawd::usage::jsonl::MAX_BYTES_PER_POLL;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    let t0 = t0();
    let pad = "x".repeat(900);
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(sessions.join("big.jsonl")).unwrap());
    let mut written = 0u64;
    let mut calls = 0;
    let (mut longest, mut shortest) = (0, u64::MAX);
    while written < MAX_BYTES_PER_POLL * 5 / 2 {
        let at = t0 + (calls as i64).milliseconds();
        let mut ev = message(
            &format!("r{calls}"),
            at,
            json!({"role": "assistant", "provider": "modelscope", "model": MODELS[0],
                "stopReason": "stop", "content": [{"type": "text", "text": pad}]}),
        );
        ev["n"] = json!(calls);
        let line = format!("{ev}\n");
        longest = longest.max(line.len() as u64);
        shortest = shortest.min(line.len() as u64);
        file.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        calls += 1;
    }
    file.flush().unwrap();
    drop(file);
    let mut src = JsonlSource::new(dir.path(), Default::default());
    let since = t0 - 1.hour();
    let mut seen = std::collections::BTreeSet::new();
    let mut polls = 0;
    loop {
        let batch = src.poll(since).unwrap();
        polls += 1;
        assert!(
            batch.len() as u64 <= (MAX_BYTES_PER_POLL + longest) / shortest,
            "a poll of {} calls",
            batch.len()
        );
        for r in batch {
            assert!(seen.insert(r.at), "{:?} counted twice", r.at);
        }
        if !src.has_more() {
            break;
        }
    }
    assert_eq!(polls, 3, "2.5 budgets of bytes take three polls");
    assert_eq!(seen.len(), calls);
    // Nothing more, and a restart from the cursors reads nothing again.
    assert!(src.poll(since).unwrap().is_empty());
    let saved = serde_json::to_string(src.cursors()).unwrap();
    let mut src = JsonlSource::new(dir.path(), serde_json::from_str(&saved).unwrap());
    assert!(src.poll(since).unwrap().is_empty());
}
