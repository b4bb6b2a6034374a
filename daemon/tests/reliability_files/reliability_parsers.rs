//! The usage readers against hostile files, as property tests: random bytes, lines cut in half
//! and finished later, the same records written twice, a file truncated and rewritten, log
//! rotation, and the reader restarted from its serialized cursors at random points. Whatever the
//! order, every record written is returned exactly once and nothing panics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::{Timestamp, ToSpan};
use msclaw_tests::agent_db::{FakeAgentDb, agent_db_path};
use msclaw_tests::transcripts;
use msclawd::usage::{
    CallOutcome, GatewayLogCursor, GatewayLogSource, GatewaySignal, JsonlCursors, JsonlSource,
    LogLocation, SqliteCursors, SqliteSource,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const CASES: u32 = 256;

/// Per reader (JSONL, gateway log, SQLite): operations run, restarts, records written.
static OPS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
static RESTARTS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
static RECORDS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
const JSONL: usize = 0;
const LOG: usize = 1;
const SQLITE: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    /// A new record, written whole.
    Record,
    /// A new record written in two parts with a poll (and maybe a restart) between them.
    Split {
        cut: usize,
        restart: bool,
    },
    /// A record already written, written again (a rewritten tail, a replayed file).
    Again {
        which: usize,
    },
    /// A line of random bytes.
    Garbage(Vec<u8>),
    /// A valid record cut short, with its newline: a line that never gets finished.
    Truncated {
        cut: usize,
    },
    Poll,
    /// Serialize the cursors, drop the reader, make a new one from them.
    Restart,
    /// JSONL: the file truncated and rewritten with every record so far (an atomic rewrite).
    /// Gateway log: the live file rotated to `.1`.
    Rewrite,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Record),
        2 => (1usize..400, any::<bool>()).prop_map(|(cut, restart)| Op::Split { cut, restart }),
        2 => (0usize..64).prop_map(|which| Op::Again { which }),
        2 => prop::collection::vec(any::<u8>(), 0..120).prop_map(Op::Garbage),
        1 => (1usize..400).prop_map(|cut| Op::Truncated { cut }),
        3 => Just(Op::Poll),
        2 => Just(Op::Restart),
        1 => Just(Op::Rewrite),
    ]
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// A byte index at most `cut` that splits `line` somewhere inside (never at either end).
fn inside(line: &str, cut: usize) -> usize {
    (cut % (line.len() - 1)).max(1)
}

fn garbage_line(bytes: &[u8]) -> Vec<u8> {
    let mut line: Vec<u8> = bytes.iter().copied().filter(|b| *b != b'\n').collect();
    line.push(b'\n');
    line
}

fn jsonl_case(ops: Vec<Op>) -> Result<(), TestCaseError> {
    {
        let dir = tempfile::tempdir().unwrap();
        let session = transcripts::JsonlSession::create(dir.path(), "main", "s1");
        let path = session.path.clone();
        let now = Timestamp::now();
        let since = now - 2.hours();
        let base = (now - 1.hour()).as_millisecond();
        let mut src = JsonlSource::new(dir.path(), JsonlCursors::default());
        let mut lines: Vec<String> = Vec::new();
        let mut got: BTreeMap<i64, usize> = BTreeMap::new();
        let new_line = |i: usize| {
            let at = base + i as i64 * 1000;
            let ev = if i % 5 == 4 {
                transcripts::failed_turn("modelscope", transcripts::QWEN, "429", "rate limited", at)
            } else {
                transcripts::assistant_reply("modelscope", transcripts::GLM, at)
            };
            format!("{ev}\n")
        };
        let take = |src: &mut JsonlSource, got: &mut BTreeMap<i64, usize>| {
            for r in src.poll(since).unwrap() {
                *got.entry(r.at.as_millisecond()).or_default() += 1;
            }
        };
        for op in &ops {
            OPS[JSONL].fetch_add(1, Ordering::Relaxed);
            match op {
                Op::Record => {
                    let line = new_line(lines.len());
                    append(&path, line.as_bytes());
                    lines.push(line);
                }
                Op::Split { cut, restart } => {
                    let line = new_line(lines.len());
                    let at = inside(&line, *cut);
                    append(&path, &line.as_bytes()[..at]);
                    take(&mut src, &mut got);
                    if *restart {
                        let saved = serde_json::to_string(src.cursors()).unwrap();
                        src = JsonlSource::new(dir.path(), serde_json::from_str(&saved).unwrap());
                        RESTARTS[JSONL].fetch_add(1, Ordering::Relaxed);
                    }
                    append(&path, &line.as_bytes()[at..]);
                    lines.push(line);
                }
                Op::Again { which } => {
                    if !lines.is_empty() {
                        append(&path, lines[which % lines.len()].as_bytes());
                    }
                }
                Op::Garbage(bytes) => append(&path, &garbage_line(bytes)),
                Op::Truncated { cut } => {
                    // Not a record of the set: its time is far from the others.
                    let line = format!(
                        "{}\n",
                        transcripts::assistant_reply(
                            "modelscope",
                            transcripts::KIMI,
                            base - 600_000
                        )
                    );
                    let at = inside(&line, *cut).min(line.len() - 2);
                    let mut bytes = line.as_bytes()[..at].to_vec();
                    bytes.push(b'\n');
                    append(&path, &bytes);
                }
                Op::Poll => take(&mut src, &mut got),
                Op::Restart => {
                    let saved = serde_json::to_string(src.cursors()).unwrap();
                    src = JsonlSource::new(dir.path(), serde_json::from_str(&saved).unwrap());
                    RESTARTS[JSONL].fetch_add(1, Ordering::Relaxed);
                }
                Op::Rewrite => {
                    // Write it beside and rename over: another inode, the same records.
                    let tmp = path.with_extension("rewrite");
                    std::fs::write(&tmp, lines.concat()).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                }
            }
        }
        take(&mut src, &mut got);
        RECORDS[JSONL].fetch_add(lines.len(), Ordering::Relaxed);
        let want: BTreeMap<i64, usize> = (0..lines.len())
            .map(|i| (base + i as i64 * 1000, 1))
            .collect();
        prop_assert_eq!(got, want);
    }
    Ok(())
}

fn gateway_log_case(ops: Vec<Op>) -> Result<(), TestCaseError> {
    {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("gateway.log");
        std::fs::write(&live, b"").unwrap();
        let loc = LogLocation::File(live.clone());
        let mut written = 0usize;
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        let mut rotations_unread = 0;
        let new_line = |i: usize| {
            transcripts::gateway_log_line(
                "provider-transport-fetch",
                &format!(
                    "[model-fetch] response provider=modelscope api=openai-completions model=m{i} status=429 elapsedMs=5"
                ),
            ) + "\n"
        };
        // As msclawd starts it: a brand-new cursor starts at the end of the log (what is there is
        // history) on the watcher's first poll; from then on every line counts.
        let mut src = GatewayLogSource::new(loc.clone(), GatewayLogCursor::default());
        append(&live, new_line(usize::MAX).as_bytes());
        prop_assert!(src.poll().unwrap().is_empty());
        let take = |src: &mut GatewayLogSource, got: &mut BTreeMap<String, usize>| {
            for s in src.poll().unwrap() {
                if let GatewaySignal::Call(r) = s {
                    assert_eq!(
                        r.outcome,
                        CallOutcome::RateLimited {
                            retry_loop_failed: false
                        }
                    );
                    *got.entry(r.model).or_default() += 1;
                }
            }
        };
        for op in &ops {
            OPS[LOG].fetch_add(1, Ordering::Relaxed);
            match op {
                Op::Record | Op::Again { .. } => {
                    // (A repeated log line is another request: the log has no duplicates to drop.)
                    append(&live, new_line(written).as_bytes());
                    written += 1;
                }
                Op::Split { cut, restart } => {
                    let line = new_line(written);
                    let at = inside(&line, *cut);
                    append(&live, &line.as_bytes()[..at]);
                    take(&mut src, &mut got);
                    if *restart {
                        let saved = serde_json::to_string(src.cursor()).unwrap();
                        src = GatewayLogSource::new(
                            loc.clone(),
                            serde_json::from_str(&saved).unwrap(),
                        );
                        RESTARTS[LOG].fetch_add(1, Ordering::Relaxed);
                    }
                    append(&live, &line.as_bytes()[at..]);
                    written += 1;
                }
                Op::Garbage(bytes) => append(&live, &garbage_line(bytes)),
                Op::Truncated { cut } => {
                    let line = transcripts::gateway_log_line(
                        "provider-transport-fetch",
                        "[model-fetch] response provider=modelscope api=openai-completions model=never status=429 elapsedMs=5",
                    );
                    let at = inside(&line, *cut).min(line.len() - 1);
                    let mut bytes = line.as_bytes()[..at].to_vec();
                    bytes.push(b'\n');
                    append(&live, &bytes);
                }
                Op::Poll => {
                    take(&mut src, &mut got);
                    rotations_unread = 0;
                }
                Op::Restart => {
                    let saved = serde_json::to_string(src.cursor()).unwrap();
                    src = GatewayLogSource::new(loc.clone(), serde_json::from_str(&saved).unwrap());
                    RESTARTS[LOG].fetch_add(1, Ordering::Relaxed);
                }
                Op::Rewrite => {
                    // OpenClaw's size rotation: .N -> .N+1, live -> .1, a new live file. It keeps
                    // five archives; more rotations than that between two reads lose lines for
                    // anyone, so the reader gets its turn first.
                    if rotations_unread == 4 {
                        take(&mut src, &mut got);
                        rotations_unread = 0;
                    }
                    rotations_unread += 1;
                    for n in (1..5).rev() {
                        let from = dir.path().join(format!("gateway.{n}.log"));
                        if from.exists() {
                            std::fs::rename(
                                &from,
                                dir.path().join(format!("gateway.{}.log", n + 1)),
                            )
                            .unwrap();
                        }
                    }
                    std::fs::rename(&live, dir.path().join("gateway.1.log")).unwrap();
                    std::fs::write(&live, b"").unwrap();
                }
            }
        }
        take(&mut src, &mut got);
        RECORDS[LOG].fetch_add(written, Ordering::Relaxed);
        let want: BTreeMap<String, usize> = (0..written).map(|i| (format!("m{i}"), 1)).collect();
        prop_assert_eq!(got, want);
    }
    Ok(())
}

/// The agent database: rows whole or compressed, rows that are not JSON or are cut short, the
/// same event written again as a new row, a rewritten tail (rows deleted and written back, the
/// session's last seq going backwards), the database replaced by a copy, and restarts from
/// serialized cursors.
fn sqlite_case(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut db = FakeAgentDb::create(dir.path(), "main");
    let now = Timestamp::now();
    let since = now - 2.hours();
    let base = (now - 1.hour()).as_millisecond();
    db.add_session("s1", now - 1.hour());
    db.add_session("s2", now - 1.hour());
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    let mut events: Vec<(&str, serde_json::Value)> = Vec::new();
    let mut got: BTreeMap<i64, usize> = BTreeMap::new();
    let take = |src: &mut SqliteSource, got: &mut BTreeMap<i64, usize>| {
        for r in src.poll(since).unwrap() {
            *got.entry(r.at.as_millisecond()).or_default() += 1;
        }
    };
    let new_event = |i: usize| {
        let mut ev =
            transcripts::assistant_reply("modelscope", transcripts::QWEN, base + i as i64 * 1000);
        if i.is_multiple_of(3) {
            // Over 1 KiB: stored zstd-compressed with its navigation projection.
            ev["message"]["content"][0]["text"] =
                "a long answer, compressed by OpenClaw. ".repeat(60).into();
        }
        ev
    };
    let raw_row = |db: &FakeAgentDb, text: &str| {
        let seq = db.next_seq("s2");
        db.conn
            .execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json)
                 VALUES ('s2', ?1, ?2, ?3, NULL, ?4, NULL)",
                rusqlite::params![seq, text, Timestamp::now().as_millisecond(), text.len() as i64],
            )
            .unwrap();
    };
    let restart = |src: &mut SqliteSource| {
        let saved = serde_json::to_string(src.cursors()).unwrap();
        *src = SqliteSource::new(dir.path(), serde_json::from_str(&saved).unwrap());
        RESTARTS[SQLITE].fetch_add(1, Ordering::Relaxed);
    };
    for (n, op) in ops.iter().enumerate() {
        OPS[SQLITE].fetch_add(1, Ordering::Relaxed);
        match op {
            Op::Record | Op::Split { .. } => {
                let session = if events.len().is_multiple_of(2) {
                    "s1"
                } else {
                    "s2"
                };
                let ev = new_event(events.len());
                db.append_at(session, &ev, Timestamp::now());
                events.push((session, ev));
                if let Op::Split { restart: again, .. } = op {
                    take(&mut src, &mut got);
                    if *again {
                        restart(&mut src);
                    }
                }
            }
            Op::Again { which } => {
                if !events.is_empty() {
                    let (session, ev) = events[which % events.len()].clone();
                    db.append_at(session, &ev, Timestamp::now());
                }
            }
            Op::Garbage(bytes) => raw_row(&db, &String::from_utf8_lossy(bytes)),
            Op::Truncated { cut } => {
                let text =
                    transcripts::assistant_reply("modelscope", transcripts::KIMI, base - 600_000)
                        .to_string();
                let at = (cut % (text.len() - 1)).max(1);
                raw_row(&db, &text[..at]);
            }
            Op::Poll => take(&mut src, &mut got),
            Op::Restart => restart(&mut src),
            Op::Rewrite if n % 2 == 0 => {
                // OpenClaw rewrites the tail of s1: its last rows are deleted and written back as
                // they were; when the row before them is the session header, that goes too and the
                // calls come back one seq lower (the session's last seq goes backwards).
                let last = db.next_seq("s1") - 1;
                let from = (last - 2).max(1);
                let header_before: bool = db
                    .conn
                    .query_row(
                        "SELECT coalesce(event_json, '') LIKE '%\"type\":\"session\"%' FROM transcript_events
                         WHERE session_id = 's1' AND seq = ?1",
                        [from - 1],
                        |r| r.get(0),
                    )
                    .unwrap_or(false);
                let rows: Vec<Vec<rusqlite::types::Value>> = {
                    let mut stmt = db
                        .conn
                        .prepare(
                            "SELECT event_json, created_at, event_zstd, event_utf8_bytes, navigation_json
                             FROM transcript_events WHERE session_id = 's1' AND seq >= ?1 ORDER BY seq",
                        )
                        .unwrap();
                    stmt.query_map([from], |r| (0..5).map(|c| r.get(c)).collect())
                        .unwrap()
                        .map(Result::unwrap)
                        .collect()
                };
                let start = if header_before { from - 1 } else { from };
                db.conn
                    .execute(
                        "DELETE FROM transcript_events WHERE session_id = 's1' AND seq >= ?1",
                        [start],
                    )
                    .unwrap();
                for (k, row) in rows.iter().enumerate() {
                    db.conn
                        .execute(
                            "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json)
                             VALUES ('s1', ?1, ?2, ?3, ?4, ?5, ?6)",
                            rusqlite::params![start + k as i64, row[0], row[1], row[2], row[3], row[4]],
                        )
                        .unwrap();
                }
            }
            Op::Rewrite => {
                // Replaced by a copy (a restore, `openclaw doctor`): the same rows, another file.
                let path = agent_db_path(dir.path(), "main");
                let copy = path.with_file_name("copy.sqlite");
                db.conn
                    .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                    .unwrap();
                drop(db);
                for ext in ["sqlite-wal", "sqlite-shm"] {
                    let _ = std::fs::remove_file(path.with_extension(ext));
                }
                std::fs::rename(&copy, &path).unwrap();
                let conn = rusqlite::Connection::open(&path).unwrap();
                conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
                    .unwrap();
                db = FakeAgentDb {
                    path,
                    conn,
                    legacy: false,
                };
            }
        }
    }
    take(&mut src, &mut got);
    RECORDS[SQLITE].fetch_add(events.len(), Ordering::Relaxed);
    let want: BTreeMap<i64, usize> = (0..events.len())
        .map(|i| (base + i as i64 * 1000, 1))
        .collect();
    prop_assert_eq!(got, want);
    Ok(())
}

fn run(name: &str, which: usize, cases: u32, case: fn(Vec<Op>) -> Result<(), TestCaseError>) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..40), case);
    println!(
        "parser-fuzz: {name}: {cases} cases, {} operations (random and cut lines, repeats, rewrites, {} restarts from \
         serialized cursors): {} records, each returned exactly once: {}",
        OPS[which].load(Ordering::Relaxed),
        RESTARTS[which].load(Ordering::Relaxed),
        RECORDS[which].load(Ordering::Relaxed),
        if result.is_ok() { "yes" } else { "NO" },
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

#[test]
fn jsonl_reader_returns_every_record_once_whatever_happens() {
    run("jsonl", JSONL, CASES, jsonl_case);
}

#[test]
fn sqlite_reader_returns_every_call_once_whatever_happens() {
    run("sqlite", SQLITE, CASES / 4, sqlite_case);
}

#[test]
fn gateway_log_reader_returns_every_line_once_whatever_happens() {
    run("gateway log", LOG, CASES, gateway_log_case);
}

/// What the property test found, as one fixed case: a session file rewritten in place (same
/// inode, longer than before) used to be read on from the old offset, skipping its first calls.
#[test]
fn jsonl_file_rewritten_in_place_is_read_again_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let session = transcripts::JsonlSession::create(dir.path(), "main", "s1");
    let now = Timestamp::now();
    let at = |i: i64| (now - 1.hour()).as_millisecond() + i * 1000;
    let line = |i: i64| {
        format!(
            "{}\n",
            transcripts::assistant_reply("modelscope", transcripts::QWEN, at(i))
        )
    };
    let first: Vec<String> = (0..3).map(line).collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&session.path)
        .unwrap()
        .write_all(first.concat().as_bytes())
        .unwrap();
    let mut src = JsonlSource::new(dir.path(), JsonlCursors::default());
    assert_eq!(src.poll(now - 2.hours()).unwrap().len(), 3);
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&session.path).unwrap());
    // Rewritten in place (O_TRUNC, the same inode): two calls of before and four new ones.
    let text: String = [first[0].clone(), first[1].clone()]
        .into_iter()
        .chain([10, 11, 12, 13].map(line))
        .collect();
    std::fs::write(&session.path, text).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&session.path).unwrap()),
        ino
    );
    let got: Vec<i64> = src
        .poll(now - 2.hours())
        .unwrap()
        .iter()
        .map(|r| r.at.as_millisecond())
        .collect();
    assert_eq!(
        got,
        vec![at(10), at(11), at(12), at(13)],
        "the new calls, and only them"
    );
}

/// What the SQLite property test found, as one fixed case: a session's tail rewritten one seq
/// lower and a new call appended, so that its last seq is back where the cursor was: the new
/// call sat at a seq the cursor had passed, and was never read.
#[test]
fn sqlite_tail_rewritten_lower_then_appended_to_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = FakeAgentDb::create(dir.path(), "main");
    let now = Timestamp::now();
    let at = |i: i64| (now - 1.hour()).as_millisecond() + i * 1000;
    db.add_session("s1", now - 1.hour()); // seq 0: the session header
    let first: Vec<serde_json::Value> = (0..2)
        .map(|i| transcripts::assistant_reply("modelscope", transcripts::QWEN, at(i)))
        .collect();
    for ev in &first {
        db.append_at("s1", ev, now); // seq 1, 2
    }
    let mut src = SqliteSource::new(dir.path(), SqliteCursors::default());
    assert_eq!(src.poll(now - 2.hours()).unwrap().len(), 2);
    // Rewritten: the header and both calls deleted, the calls written back at seq 0 and 1, and a
    // new call at seq 2, where the cursor stands.
    db.conn
        .execute("DELETE FROM transcript_events WHERE session_id = 's1'", [])
        .unwrap();
    let new = transcripts::assistant_reply("modelscope", transcripts::QWEN, at(5));
    for ev in first.iter().chain([&new]) {
        db.append_at("s1", ev, now);
    }
    let got: Vec<i64> = src
        .poll(now - 2.hours())
        .unwrap()
        .iter()
        .map(|r| r.at.as_millisecond())
        .collect();
    assert_eq!(got, vec![at(5)], "the new call, once, and nothing twice");
}
