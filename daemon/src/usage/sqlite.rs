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
//!   scan and closed after it (an idle reader would keep OpenClaw from taking the DB exclusively;
//!   only a catch-up pass keeps one from step to step until it ends);
//!   every query is one short statement (no read transaction is held between them), so rows that
//!   are still only in the `-wal` are seen and checkpoints are never blocked;
//! - sessions come from `session_windows` (one index seek each for their last seq);
//! - cursor = last seq per (agent, session) and the hash of the row at it, kept only for sessions
//!   with rows from `since` on. New rows are read in batches; rows that cannot be an
//!   assistant reply are filtered out inside SQLite; zstd rows are classified by their
//!   `navigation_json` and only decompressed when they are assistant error rows;
//! - the last [`WINDOW`](super::recent::WINDOW) rows behind a cursor are read again, so a row
//!   committed late below the last seq (concurrent writers) is still counted;
//! - a session whose row at the cursor is another one (tail rewritten, DB replaced) or whose last
//!   seq went backwards is read again; its last calls (see `recent.rs`) keep what was counted
//!   from being counted twice;
//! - a poll returns at most [`MAX_RECORDS_PER_POLL`] records (catching up on a long day is done in
//!   several bounded polls, [`has_more`](SqliteSource::has_more) says so);
//! - a big backlog (a cold start, a restart after hours) is read in one pass over the table in
//!   storage order rather than session by session (see `sqlite/pass.rs`), with the same counts
//!   and cursors at its end.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::recent::{LegacySeen, RecentCalls};
use super::{CallRecord, FileId, SourceError, SqliteCursors};

mod parse_ahead;
mod pass;
mod scan;
mod schema;
#[cfg(test)]
mod tests;

use pass::Pass;
use scan::Scan;
use schema::{Layout, detect_layout, open_read_only, schema_meta_created_at, sql_error};

/// OpenClaw's agent database file name, under `agents/<agentId>/agent/`.
pub const AGENT_DB_FILE: &str = "openclaw-agent.sqlite";

#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub(crate) struct SqliteState {
    /// Per agent id (the directory name under `agents/`).
    #[serde(default)]
    dbs: BTreeMap<String, DbCursor>,
    /// The key set of a state file before issue 13 (see `recent.rs`).
    #[serde(default, skip_serializing_if = "LegacySeen::is_empty")]
    seen: LegacySeen,
}

/// Records one poll returns at most: a catch-up on a long day is done in bounded steps.
pub const MAX_RECORDS_PER_POLL: usize = 8192;

/// A DB with at least this many rows to read is caught up in one pass in storage order
/// (`sqlite/pass.rs`); fewer are read session by session.
const CATCH_UP_ROWS: u64 = 4096;

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
    /// The last calls counted, per session id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    recent: BTreeMap<String, RecentCalls>,
}

impl DbCursor {
    /// Notes which file this cursor is of. Another file than before (restored, recreated) keeps
    /// the session cursors: a session whose row at its cursor is another one is read again.
    fn follow(&mut self, file: FileId, meta_created_at: Option<i64>) {
        self.file = file;
        self.meta_created_at = meta_created_at;
    }

    /// Forgets a session (gone, or nothing of today in it).
    fn forget(&mut self, session: &str) {
        self.sessions.remove(session);
        self.tails.remove(session);
        self.recent.remove(session);
    }
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
    /// The last poll stopped at [`MAX_RECORDS_PER_POLL`]: there is more to read at once.
    more: bool,
    /// Per agent: the catch-up pass under way (see `sqlite/pass.rs`), with the connection it
    /// reads through: kept from step to step so the schema is not parsed and the statements not
    /// prepared again each time (a few percent of a catch-up), closed when the pass ends.
    passes: HashMap<String, (Pass, rusqlite::Connection)>,
    /// A backlog of this many rows is read in one pass.
    catch_up_rows: u64,
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
            more: false,
            passes: HashMap::new(),
            catch_up_rows: CATCH_UP_ROWS,
            errors: Vec::new(),
        }
    }

    /// Reads every backlog of at least `rows` rows in one pass (0: always, `u64::MAX`: never),
    /// so tests can hold both ways of reading against each other.
    #[doc(hidden)]
    pub fn with_catch_up_rows(mut self, rows: u64) -> Self {
        self.catch_up_rows = rows;
        self
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
        self.more = false;
        self.state.0.seen.prune(since);
        let dbs = match self.discover() {
            Ok(dbs) => dbs,
            Err(e) => {
                self.errors.push(e.clone());
                return Err(e);
            }
        };
        // An agent whose DB is gone keeps its cursor while it holds calls of today: if the DB
        // comes back it is re-read, and those calls are not counted again.
        self.state.0.dbs.retain(|agent, cursor| {
            dbs.contains_key(agent) || cursor.recent.values().any(|r| r.has_calls_since(since))
        });
        self.unchanged_since
            .retain(|agent, _| dbs.contains_key(agent));
        self.passes.retain(|agent, _| dbs.contains_key(agent));

        let mut out = Vec::new();
        for (agent, path) in &dbs {
            if self.more {
                break;
            }
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

    /// The last poll stopped at [`MAX_RECORDS_PER_POLL`] records: poll again at once.
    pub fn has_more(&self) -> bool {
        self.more
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
        // OpenClaw from taking the DB exclusively (journal mode switch, exclusive locking). Only
        // a pass under way keeps its own, while it reads on poll after poll.
        let (mut pass, conn) = match self.passes.remove(agent) {
            Some((pass, conn)) if pass.file() == sig.file => (Some(pass), conn),
            _ => (None, open_read_only(path)?),
        };
        let err = |e| sql_error(path, e);
        let cursor = self.state.0.dbs.entry(agent.to_owned()).or_default();
        cursor.follow(sig.file, schema_meta_created_at(&conn).map_err(err)?);

        let layout = detect_layout(&conn).map_err(err)?;
        if layout != Layout::Missing {
            let scan = Scan {
                agent,
                path,
                since,
                since_ms: since.as_millisecond(),
                layout,
                legacy: &self.state.0.seen,
                catch_up_rows: self.catch_up_rows,
            };
            let mut tally = scan::Tally::default();
            let result = scan.read_sessions(&conn, cursor, &mut pass, out, &mut tally);
            if let Some(pass) = pass {
                self.passes.insert(agent.to_owned(), (pass, conn));
            }
            self.malformed_rows += tally.malformed;
            if tally.more {
                // Stopped at the budget: the next poll reads on from the cursors at once.
                self.more = true;
                return result;
            }
            result?;
        }
        if sig.settled() {
            self.unchanged_since.insert(agent.to_owned(), sig);
        }
        Ok(())
    }
}
