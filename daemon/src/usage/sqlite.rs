//! Transcripts in SQLite (OpenClaw ≥ 2026.7.2): `<state>/agents/<agentId>/agent/openclaw-agent.sqlite`.
//!
//! Table (agent schema 23, openclaw@2026.9.6):
//! `transcript_events(session_id, seq, event_json TEXT NULL, created_at INTEGER ms,
//! event_zstd BLOB NULL, event_utf8_bytes INTEGER, navigation_json TEXT, PK(session_id, seq))`.
//! A row holds its event either as `event_json` or as one zstd frame in `event_zstd` (then
//! `navigation_json`, a small projection of the event, is always set). Agent schemas before 23 have
//! only `(session_id, seq, event_json NOT NULL, created_at)`; both are read.
//!
//! How it reads:
//! - a DB whose file and `-wal` sizes and mtimes did not change since the last scan is not opened;
//! - otherwise a read-only connection (no create), `query_only`, short busy timeout, opened for the
//!   scan and closed after it (an idle reader would keep OpenClaw from taking the DB exclusively);
//!   every query is one short statement (no read transaction is held between them), so rows that
//!   are still only in the `-wal` are seen and checkpoints are never blocked;
//! - sessions come from `session_windows` (one index seek each for their last seq);
//! - cursor = last seq per (agent, session), kept only for sessions with rows from `since` on.
//!   New rows are read in batches; rows that cannot be an
//!   assistant reply are filtered out inside SQLite; zstd rows are classified by their
//!   `navigation_json` and only decompressed when they are assistant error rows;
//! - a DB replaced (other inode, or other `schema_meta` creation time) or a session whose last
//!   seq went backwards is re-read; calls already returned are remembered by
//!   (agent, session, entry id, time), so nothing is returned twice.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::event::{self, NavigationVerdict, ParsedEvent, TranscriptCall};
use super::{
    CallRecord, FileId, SeenSet, SourceError, SourceErrorKind, SourceKind, SqliteCursors, fnv1a64,
};

/// OpenClaw's agent database file name, under `agents/<agentId>/agent/`.
pub const AGENT_DB_FILE: &str = "openclaw-agent.sqlite";

/// How long a query waits for a writer's lock before the DB is reported locked for this poll.
const BUSY_TIMEOUT: Duration = Duration::from_millis(50);
/// Rows fetched per statement.
const BATCH_ROWS: i64 = 256;
/// OpenClaw's bound on a compressed event's decoded size.
const MAX_EVENT_BYTES: i64 = 4 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub(crate) struct SqliteState {
    /// Per agent id (the directory name under `agents/`).
    #[serde(default)]
    dbs: BTreeMap<String, DbCursor>,
    #[serde(default)]
    seen: SeenSet,
}

#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
struct DbCursor {
    #[serde(default)]
    file: FileId,
    /// `schema_meta.created_at` of the 'primary' row: tells a recreated DB from the old one even
    /// if the inode number was reused while the daemon was down.
    #[serde(default)]
    meta_created_at: Option<i64>,
    /// Last seq read, per session id.
    #[serde(default)]
    sessions: BTreeMap<String, i64>,
    /// Hash of the row at that seq, per session id: the rows up to the cursor are still the ones
    /// read. (A rewritten tail can bring the last seq back to, or past, the cursor with other rows
    /// at those seqs; the seq alone would skip them.)
    #[serde(default)]
    tails: BTreeMap<String, u64>,
}

/// What `transcript_events` looks like in this DB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Agent schema ≥ 23: `event_json` or `event_zstd` + `navigation_json`.
    Compressed,
    /// Agent schema < 23: `event_json` only.
    JsonOnly,
    /// No `transcript_events` table (yet).
    Missing,
}

/// A cheap "did anything change" check, so an idle DB is not even opened: the DB and `-wal`
/// sizes and mtimes. Every commit changes one of them (WAL frames are appended or rewritten).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    file: FileId,
    db: (u64, i128),
    wal: (u64, i128),
}

impl Signature {
    fn of(path: &Path, meta: &std::fs::Metadata) -> Signature {
        let stamp = |m: &std::fs::Metadata| (m.len(), mtime_ns(m));
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal = std::fs::metadata(Path::new(&wal_path))
            .map(|m| stamp(&m))
            .unwrap_or((0, 0));
        Signature {
            file: FileId::of(meta),
            db: stamp(meta),
            wal,
        }
    }

    /// The newest mtime is far enough in the past that a later write would show in it, even on
    /// file systems with coarse timestamps.
    fn settled(&self) -> bool {
        let newest = self.db.1.max(self.wal.1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        now - newest > 2_000_000_000
    }
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Reads model calls from every agent's SQLite transcript store.
pub struct SqliteSource {
    agents_dir: PathBuf,
    state: SqliteCursors,
    /// Per agent: the signature at the last complete scan, when it can be trusted.
    unchanged_since: HashMap<String, Signature>,
    records_seen: u64,
    malformed_rows: u64,
    errors: Vec<SourceError>,
}

impl SqliteSource {
    pub fn new(openclaw_state_dir: &Path, cursors: SqliteCursors) -> Self {
        SqliteSource {
            agents_dir: openclaw_state_dir.join("agents"),
            state: cursors,
            unchanged_since: HashMap::new(),
            records_seen: 0,
            malformed_rows: 0,
            errors: Vec::new(),
        }
    }

    /// Reads what was added since the last poll, from every `agents/*/agent/openclaw-agent.sqlite`.
    ///
    /// Rows created before `since` (the quota day's start) are skipped, and calls whose time is
    /// before `since` are not returned. A DB that fails (locked, corrupt) keeps its cursor and is
    /// retried next poll, the others are still read: their records are returned and the failures
    /// are in [`take_errors`](Self::take_errors). `Err` (the first failure) when something failed
    /// and no record was read.
    pub fn poll(&mut self, since: Timestamp) -> Result<Vec<CallRecord>, SourceError> {
        self.errors.clear();
        self.state.0.seen.prune(since);
        let dbs = match self.discover() {
            Ok(dbs) => dbs,
            Err(e) => {
                self.errors.push(e.clone());
                return Err(e);
            }
        };
        // Forget agents whose DB is gone: if it comes back, it is re-read (and deduplicated).
        self.state.0.dbs.retain(|agent, _| dbs.contains_key(agent));
        self.unchanged_since
            .retain(|agent, _| dbs.contains_key(agent));

        let mut out = Vec::new();
        for (agent, path) in &dbs {
            match self.poll_db(agent, path, since, &mut out) {
                Ok(()) => {}
                Err(e) => self.errors.push(e),
            }
        }
        self.records_seen += out.len() as u64;
        if out.is_empty() && !self.errors.is_empty() {
            return Err(self.errors[0].clone());
        }
        Ok(out)
    }

    pub fn cursors(&self) -> &SqliteCursors {
        &self.state
    }

    /// Records returned by this source since it was created.
    pub fn records_seen(&self) -> u64 {
        self.records_seen
    }

    /// Rows that looked like assistant replies but could not be decoded (skipped for good).
    pub fn malformed_rows(&self) -> u64 {
        self.malformed_rows
    }

    /// The per-DB failures of the last poll (also when it returned `Ok`).
    pub fn take_errors(&mut self) -> Vec<SourceError> {
        std::mem::take(&mut self.errors)
    }

    /// What the daemon should watch, recursively: the agents directory (DBs and their `-wal`).
    pub fn watch_paths(&self) -> Vec<PathBuf> {
        vec![self.agents_dir.clone()]
    }

    fn discover(&self) -> Result<BTreeMap<String, PathBuf>, SourceError> {
        let mut dbs = BTreeMap::new();
        let entries = match std::fs::read_dir(&self.agents_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dbs),
            Err(e) => return Err(SourceError::io(&self.agents_dir, &e)),
        };
        for entry in entries.flatten() {
            let Some(agent) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let path = entry.path().join("agent").join(AGENT_DB_FILE);
            if path.is_file() {
                dbs.insert(agent, path);
            }
        }
        Ok(dbs)
    }

    fn poll_db(
        &mut self,
        agent: &str,
        path: &Path,
        since: Timestamp,
        out: &mut Vec<CallRecord>,
    ) -> Result<(), SourceError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()), // just deleted
            Err(e) => return Err(SourceError::io(path, &e)),
        };
        // Taken before reading: a commit during the scan makes the next poll look again.
        let sig = Signature::of(path, &meta);
        if self.unchanged_since.get(agent) == Some(&sig) {
            return Ok(());
        }
        self.unchanged_since.remove(agent);
        // A connection per scan, closed right after: an idle reader connection would keep
        // OpenClaw from taking the DB exclusively (journal mode switch, exclusive locking).
        let conn = open_read_only(path)?;
        let err = |e| sql_error(path, e);
        let cursor = self.state.0.dbs.entry(agent.to_owned()).or_default();
        let meta_created_at = schema_meta_created_at(&conn).map_err(err)?;
        let replaced = (cursor.file != FileId::default() && cursor.file != sig.file)
            || (cursor.meta_created_at.is_some()
                && meta_created_at.is_some()
                && cursor.meta_created_at != meta_created_at);
        if replaced {
            // Another file now (restored, recreated): read it all again; the seen keys keep
            // calls already returned from being returned again.
            cursor.sessions.clear();
            cursor.tails.clear();
        }
        cursor.file = sig.file;
        cursor.meta_created_at = meta_created_at;

        let layout = detect_layout(&conn).map_err(err)?;
        if layout == Layout::Missing {
            if sig.settled() {
                self.unchanged_since.insert(agent.to_owned(), sig);
            }
            return Ok(());
        }
        let sessions = list_sessions(&conn).map_err(err)?;
        let scan = Scan {
            agent,
            path,
            since,
            since_ms: since.as_millisecond(),
            layout,
        };
        let mut malformed = 0u64;
        let result = (|| {
            for (session, last) in &sessions {
                let Some((max_seq, last_created)) = *last else {
                    continue;
                };
                let known = cursor.sessions.get(session).copied();
                let rewritten = match (known, cursor.tails.get(session)) {
                    (Some(c), Some(tail)) if c <= max_seq => {
                        row_hash(&conn, layout, session, c).map_err(err)? != Some(*tail)
                    }
                    _ => false,
                };
                let from = match known {
                    Some(c) if c == max_seq && !rewritten => continue,
                    Some(c) if c < max_seq && !rewritten => c,
                    // New session, or its tail rewritten (its seq went backwards, or the row at
                    // the cursor is another one): read all of it again; already returned calls
                    // are deduplicated.
                    _ => i64::MIN,
                };
                if last_created.is_some_and(|t| t < scan.since_ms) {
                    // Its newest row is older than `since`: nothing of today in it. It keeps no
                    // cursor (so the cursors stay as few as the sessions active today); when it
                    // gets a new row it is read from `since` on, deduplicated.
                    cursor.sessions.remove(session);
                    cursor.tails.remove(session);
                    continue;
                }
                cursor.tails.remove(session);
                scan.read_session(
                    &conn,
                    session,
                    from,
                    max_seq,
                    cursor,
                    &mut self.state.0.seen,
                    out,
                    &mut malformed,
                )?;
                if let Some(tail) = row_hash(&conn, layout, session, max_seq).map_err(err)? {
                    cursor.tails.insert(session.clone(), tail);
                }
            }
            Ok(())
        })();
        self.malformed_rows += malformed;
        result?;
        // Sessions that are gone (deleted, or reset into a new session id) keep no cursor.
        cursor.sessions.retain(|s, _| sessions.contains_key(s));
        let kept = &cursor.sessions;
        cursor.tails.retain(|s, _| kept.contains_key(s));
        if sig.settled() {
            self.unchanged_since.insert(agent.to_owned(), sig);
        }
        Ok(())
    }
}

struct Scan<'a> {
    agent: &'a str,
    path: &'a Path,
    since: Timestamp,
    since_ms: i64,
    layout: Layout,
}

impl Scan<'_> {
    /// Reads rows `from < seq <= to` of one session, batch by batch, advancing the session's cursor
    /// as it goes so a failure half way keeps what was read.
    #[allow(clippy::too_many_arguments)]
    fn read_session(
        &self,
        conn: &Connection,
        session: &str,
        from: i64,
        to: i64,
        cursor: &mut DbCursor,
        seen: &mut SeenSet,
        out: &mut Vec<CallRecord>,
        malformed: &mut u64,
    ) -> Result<(), SourceError> {
        let sql = match self.layout {
            Layout::Compressed => {
                "SELECT seq, created_at, event_json, navigation_json, event_zstd IS NOT NULL
                 FROM transcript_events
                 WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3 AND created_at >= ?4
                   AND ((event_json IS NOT NULL AND instr(event_json, '\"assistant\"') > 0)
                     OR (event_json IS NULL AND (navigation_json IS NULL OR instr(navigation_json, '\"assistant\"') > 0)))
                 ORDER BY seq LIMIT ?5"
            }
            _ => {
                "SELECT seq, created_at, event_json, NULL, 0
                 FROM transcript_events
                 WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3 AND created_at >= ?4
                   AND instr(event_json, '\"assistant\"') > 0
                 ORDER BY seq LIMIT ?5"
            }
        };
        let mut after = from;
        loop {
            let rows: Vec<Row> = {
                let mut stmt = conn
                    .prepare_cached(sql)
                    .map_err(|e| sql_error(self.path, e))?;
                let mapped = stmt
                    .query_map(
                        params![session, after, to, self.since_ms, BATCH_ROWS],
                        |r| {
                            Ok(Row {
                                seq: r.get(0)?,
                                created_at: r.get(1)?,
                                event_json: r.get(2)?,
                                navigation_json: r.get(3)?,
                                compressed: r.get::<_, i64>(4)? != 0,
                            })
                        },
                    )
                    .map_err(|e| sql_error(self.path, e))?;
                mapped
                    .collect::<Result<_, _>>()
                    .map_err(|e| sql_error(self.path, e))?
                // the statement is reset here: no read transaction outlives the batch
            };
            let full = rows.len() as i64 == BATCH_ROWS;
            for row in &rows {
                let created = Timestamp::from_millisecond(row.created_at).ok();
                let parsed = self.classify(conn, session, row, created)?;
                match parsed {
                    Some(ParsedEvent::Call(call)) => self.emit(session, row, call, seen, out),
                    Some(ParsedEvent::Malformed(_)) => *malformed += 1,
                    Some(ParsedEvent::NotACall) | None => {}
                }
                cursor.sessions.insert(session.to_owned(), row.seq);
                after = row.seq;
            }
            if !full {
                break;
            }
        }
        cursor.sessions.insert(session.to_owned(), to);
        Ok(())
    }

    /// `None`: a row that cannot be decoded (counted as malformed by the caller via `Malformed`).
    fn classify(
        &self,
        conn: &Connection,
        session: &str,
        row: &Row,
        created: Option<Timestamp>,
    ) -> Result<Option<ParsedEvent>, SourceError> {
        if let Some(json) = &row.event_json {
            return Ok(Some(event::parse_event(json, created)));
        }
        if !row.compressed {
            return Ok(Some(ParsedEvent::Malformed("row without an event")));
        }
        if let Some(nav) = &row.navigation_json {
            match event::classify_navigation(nav, created) {
                NavigationVerdict::NotACall => return Ok(Some(ParsedEvent::NotACall)),
                NavigationVerdict::Call(call) => return Ok(Some(ParsedEvent::Call(call))),
                NavigationVerdict::NeedEvent => {}
            }
        }
        let blob: Option<(Vec<u8>, Option<i64>)> = conn
            .prepare_cached("SELECT event_zstd, event_utf8_bytes FROM transcript_events WHERE session_id = ?1 AND seq = ?2")
            .and_then(|mut s| s.query_row(params![session, row.seq], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| sql_error(self.path, e))?;
        let Some((blob, Some(len))) = blob else {
            // Deleted since the batch was read, or no recorded size: nothing to decode.
            return Ok(Some(ParsedEvent::Malformed(
                "compressed row without its size",
            )));
        };
        Ok(Some(match decode_zstd(&blob, len) {
            Some(text) => event::parse_event(&text, created),
            None => ParsedEvent::Malformed("compressed event does not decode"),
        }))
    }

    fn emit(
        &self,
        session: &str,
        row: &Row,
        call: TranscriptCall,
        seen: &mut SeenSet,
        out: &mut Vec<CallRecord>,
    ) {
        if call.at < self.since {
            return;
        }
        let at_ms = call.at.as_millisecond();
        let fallback_id = format!("seq:{}:{}", row.seq, row.created_at);
        let id = call.entry_id.as_deref().unwrap_or(&fallback_id);
        let key = fnv1a64(&[
            self.agent.as_bytes(),
            session.as_bytes(),
            id.as_bytes(),
            &at_ms.to_le_bytes(),
        ]);
        if !seen.insert(key, at_ms) {
            return;
        }
        out.push(CallRecord {
            provider: call.provider,
            model: call.model,
            at: call.at,
            outcome: call.outcome,
            source: SourceKind::Sqlite,
        });
    }
}

struct Row {
    seq: i64,
    created_at: i64,
    event_json: Option<String>,
    navigation_json: Option<String>,
    compressed: bool,
}

/// Decodes one zstd frame whose decoded size OpenClaw recorded; the frame's checksum (OpenClaw
/// writes one) is verified by the decoder.
fn decode_zstd(blob: &[u8], utf8_bytes: i64) -> Option<String> {
    if blob.is_empty() || !(1..=MAX_EVENT_BYTES).contains(&utf8_bytes) {
        return None;
    }
    let bytes = zstd::bulk::decompress(blob, utf8_bytes as usize).ok()?;
    if bytes.len() as i64 != utf8_bytes {
        return None;
    }
    String::from_utf8(bytes).ok()
}

fn open_read_only(path: &Path) -> Result<Connection, SourceError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sql_error(path, e))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA trusted_schema = OFF;")
        .map_err(|e| sql_error(path, e))?;
    Ok(conn)
}

fn schema_meta_created_at(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let has: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_meta')",
        [],
        |r| r.get(0),
    )?;
    if !has {
        return Ok(None);
    }
    conn.query_row(
        "SELECT created_at FROM schema_meta WHERE meta_key = 'primary'",
        [],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

fn detect_layout(conn: &Connection) -> rusqlite::Result<Layout> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('transcript_events')")?;
    let cols: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let has = |c: &str| cols.iter().any(|x| x == c);
    Ok(if cols.is_empty() {
        Layout::Missing
    } else if has("event_zstd") && has("navigation_json") {
        Layout::Compressed
    } else {
        Layout::JsonOnly
    })
}

/// A session's last row: (seq, created_at), or None when it has no rows.
type LastRow = Option<(i64, Option<i64>)>;

/// Every session with its last row.
/// A hash of one row's stored event (JSON or compressed), `None` when there is no such row.
fn row_hash(
    conn: &Connection,
    layout: Layout,
    session: &str,
    seq: i64,
) -> rusqlite::Result<Option<u64>> {
    let sql = match layout {
        Layout::Compressed => {
            "SELECT coalesce(event_json, ''), coalesce(event_zstd, x''), created_at FROM transcript_events WHERE session_id = ?1 AND seq = ?2"
        }
        _ => {
            "SELECT coalesce(event_json, ''), x'', created_at FROM transcript_events WHERE session_id = ?1 AND seq = ?2"
        }
    };
    conn.prepare_cached(sql)?
        .query_row(params![session, seq], |r| {
            let json: String = r.get(0)?;
            let blob: Vec<u8> = r.get(1)?;
            let created: i64 = r.get(2)?;
            Ok(fnv1a64(&[json.as_bytes(), &blob, &created.to_le_bytes()]))
        })
        .optional()
}

fn list_sessions(conn: &Connection) -> rusqlite::Result<BTreeMap<String, LastRow>> {
    let has_windows: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'session_windows')",
        [],
        |r| r.get(0),
    )?;
    let sql = if has_windows {
        // One index seek per session on the (session_id, seq) primary key.
        "SELECT w.session_id,
           (SELECT e.seq FROM transcript_events e WHERE e.session_id = w.session_id ORDER BY e.seq DESC LIMIT 1),
           (SELECT e.created_at FROM transcript_events e WHERE e.session_id = w.session_id ORDER BY e.seq DESC LIMIT 1)
         FROM session_windows w"
    } else {
        "SELECT session_id, max(seq), NULL FROM transcript_events GROUP BY session_id"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| {
        let id: String = r.get(0)?;
        let seq: Option<i64> = r.get(1)?;
        let at: Option<i64> = r.get(2)?;
        Ok((id, seq.map(|s| (s, at))))
    })?;
    rows.collect()
}

fn sql_error(path: &Path, e: rusqlite::Error) -> SourceError {
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SourceErrorKind::Locked,
        Some(ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::PermissionDenied) => {
            SourceErrorKind::Io
        }
        _ => SourceErrorKind::Corrupt,
    };
    SourceError::new(path, kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_decoding_checks_the_recorded_size() {
        let text = r#"{"type":"message"}"#;
        let blob = zstd::bulk::compress(text.as_bytes(), 1).unwrap();
        assert_eq!(decode_zstd(&blob, text.len() as i64).as_deref(), Some(text));
        assert_eq!(decode_zstd(&blob, text.len() as i64 + 1), None);
        assert_eq!(decode_zstd(&blob, text.len() as i64 - 1), None);
        assert_eq!(decode_zstd(&blob, 0), None);
        assert_eq!(decode_zstd(b"not zstd", 10), None);
        assert_eq!(
            decode_zstd(&blob[..blob.len() - 2], text.len() as i64),
            None
        );
    }

    #[test]
    fn cursor_state_round_trips_through_json() {
        let mut st = SqliteState::default();
        let c = st.dbs.entry("main".into()).or_default();
        c.file = FileId { dev: 1, ino: 2 };
        c.meta_created_at = Some(5);
        c.sessions.insert("s".into(), 7);
        st.seen.insert(9, 100);
        let cursors = SqliteCursors(st);
        let back: SqliteCursors =
            serde_json::from_str(&serde_json::to_string(&cursors).unwrap()).unwrap();
        assert_eq!(back, cursors);
        // an empty/older state file still loads
        let empty: SqliteCursors = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, SqliteCursors::default());
    }
}
