//! The catch-up in one pass: a big backlog (a cold start on a long day, a restart after hours) is
//! read in the table's storage order (`transcript_events` is a rowid table, so rowid order is
//! the order of its pages) instead of session by session through the primary key, which jumps
//! over the whole file once per session.
//!
//! - The pass starts at the lowest rowid among the first rows each planned session has to read
//!   (looking [`LOOK_BEHIND`] rows deep, so rows committed out of order are not left behind), and
//!   reads on in short statements of [`PASS_BATCH_ROWS`] rows, filtered inside SQLite by
//!   [`call_filter`]: only rows that can be a model call leave SQLite, and they are classified
//!   the way the per-session read does (a compressed one only decoded when its navigation says
//!   it is an error reply).
//! - A poll stops at [`MAX_RECORDS_PER_POLL`] calls; the pass keeps its place (in memory) and the
//!   next poll reads on. The rows of one poll are counted in the order of (session, seq), as the
//!   per-session read does, and each session's cursor moves to the last row read, so a restart
//!   half way reads on from the cursors.
//! - When the pass reaches the end, every planned session's cursor is its last seq at the time
//!   it was planned; the counts and cursors are then the ones the per-session read gives. (One
//!   exception: a row committed out of order whose seq is below rows of its session that an
//!   earlier poll of the pass already counted is counted after them, so at worst it is taken for
//!   one counted before (a miss, never a double count), as a late commit is when following.)
//! - A pass is dropped (and the next one planned from the cursors) when the DB was replaced,
//!   a session was rewritten or is gone, or the day rolled over.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use super::parse_ahead::{Feed, RowKey, parse_ahead};
use super::scan::{Planned, Row, Scan, Tally, Verdict, call_filter, recent_of, set_cursor};
use super::schema::{LastRow, Layout, sql_error};
use super::{DbCursor, MAX_RECORDS_PER_POLL};
use crate::usage::event::ParsedEvent;
use crate::usage::{CallRecord, FileId, SourceError};

/// How many rows of a session (in seq order) decide where a pass starts for it.
const LOOK_BEHIND: i64 = 64;
/// Rows fetched per statement (no read transaction outlives one).
const PASS_BATCH_ROWS: i64 = 1024;

/// A catch-up in storage order, from poll to poll.
#[derive(Debug)]
pub(crate) struct Pass {
    file: FileId,
    meta_created_at: Option<i64>,
    since_ms: i64,
    /// The sessions it reads, by id (the order records come out in), with where each is read.
    sessions: Vec<(String, Planned)>,
    index: HashMap<String, usize>,
    /// The lowest rowid not looked at yet.
    next_rowid: i64,
}

/// A row of this poll that is a call or could not be read, counted once the poll's rows are in.
struct Pending {
    ix: usize,
    seq: i64,
    created_at: i64,
    event: ParsedEvent,
}

impl Pass {
    /// A pass over the planned sessions, starting where the first of their rows to read is.
    pub(super) fn plan(
        scan: &Scan<'_>,
        conn: &Connection,
        cursor: &DbCursor,
        plan: BTreeMap<String, Planned>,
    ) -> Result<Pass, SourceError> {
        let err = |e| sql_error(scan.path, e);
        let mut start = i64::MAX;
        let mut stmt = conn
            .prepare_cached(
                "SELECT min(rowid) FROM (SELECT rowid FROM transcript_events
                 WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4)",
            )
            .map_err(err)?;
        for (session, p) in &plan {
            let first: Option<i64> = stmt
                .query_row(params![session, p.resume.from, p.to, LOOK_BEHIND], |r| {
                    r.get(0)
                })
                .map_err(err)?;
            start = start.min(first.unwrap_or(i64::MAX));
        }
        let sessions: Vec<(String, Planned)> = plan.into_iter().collect();
        let index = sessions
            .iter()
            .enumerate()
            .map(|(ix, (s, _))| (s.clone(), ix))
            .collect();
        Ok(Pass {
            file: cursor.file,
            meta_created_at: cursor.meta_created_at,
            since_ms: scan.since_ms,
            sessions,
            index,
            next_rowid: start,
        })
    }

    /// The DB file the pass reads.
    pub(super) fn file(&self) -> FileId {
        self.file
    }

    /// Whether the pass can read on: the same DB and day, and none of its sessions rewritten
    /// (`restarted`: some session must be read from its start again) or gone.
    pub(super) fn still_valid(
        &self,
        scan: &Scan<'_>,
        cursor: &DbCursor,
        sessions: &BTreeMap<String, LastRow>,
        restarted: bool,
    ) -> bool {
        !restarted
            && self.file == cursor.file
            && self.meta_created_at == cursor.meta_created_at
            && self.since_ms == scan.since_ms
            && self.sessions.iter().all(|(s, p)| {
                sessions
                    .get(s)
                    .copied()
                    .flatten()
                    .is_some_and(|(max_seq, _)| max_seq >= p.to)
            })
    }

    /// The planned session a row's `session_id` names.
    fn session_of(&self, value: ValueRef<'_>) -> Option<usize> {
        match value {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| self.index.get(s).copied()),
            _ => None,
        }
    }
}

/// What one poll of a pass gathered.
struct Gathered {
    pending: Vec<Pending>,
    /// Per planned session, the last seq read in this poll.
    last_seq: Vec<Option<i64>>,
    /// The next rowid to look at.
    next_rowid: i64,
    /// The table was read to its end.
    finished: bool,
}

impl Scan<'_> {
    /// Reads on with the pass, up to [`MAX_RECORDS_PER_POLL`] records in `out`; true when it
    /// reached the end. Either way `tally.more`: after the last step one more poll looks at the
    /// whole DB again (rows added while the pass ran, to sessions it did not plan or past the
    /// seqs it planned, are read by it).
    pub(super) fn read_pass(
        &self,
        conn: &Connection,
        pass: &mut Pass,
        cursor: &mut DbCursor,
        out: &mut Vec<CallRecord>,
        tally: &mut Tally,
    ) -> Result<bool, SourceError> {
        tally.more = true;
        let budget = MAX_RECORDS_PER_POLL.saturating_sub(out.len());
        if budget == 0 {
            return Ok(false);
        }
        let mut got = self.gather(conn, pass, budget)?;
        // Counted in (session, seq) order, as the per-session read counts them. The keys are
        // sorted, not the rows: a row with its call is big to move.
        let mut order: Vec<(usize, i64, usize)> = (got.pending.iter().enumerate())
            .map(|(i, p)| (p.ix, p.seq, i))
            .collect();
        order.sort_unstable();
        for (ix, seq, i) in order {
            let p = &mut got.pending[i];
            let session = &pass.sessions[ix].0;
            match std::mem::replace(&mut p.event, ParsedEvent::NotACall) {
                ParsedEvent::Call(call) => {
                    let recent = recent_of(cursor, session);
                    self.emit(session, (seq, p.created_at), call, recent, out);
                }
                ParsedEvent::Malformed(_) => tally.malformed += 1,
                ParsedEvent::NotACall => {}
            }
        }
        for (ix, (session, planned)) in pass.sessions.iter().enumerate() {
            let moved_to = if got.finished {
                Some(planned.to)
            } else {
                got.last_seq[ix].filter(|seq| {
                    *seq > planned.resume.cursor
                        && cursor.sessions.get(session).is_none_or(|at| seq > at)
                })
            };
            if let Some(seq) = moved_to {
                set_cursor(cursor, session, seq);
                self.note_tail(conn, cursor, session, seq)?;
            }
        }
        pass.next_rowid = got.next_rowid;
        Ok(got.finished)
    }

    /// The rows of the planned sessions from the pass's place on, until `budget` rows that can
    /// be calls are in or the table ends. Their text is parsed on a second thread meanwhile
    /// (see `parse_ahead.rs`); rows it cannot decide are decoded here after.
    fn gather(
        &self,
        conn: &Connection,
        pass: &Pass,
        budget: usize,
    ) -> Result<Gathered, SourceError> {
        let mut got = Gathered {
            pending: Vec::new(),
            last_seq: vec![None; pass.sessions.len()],
            next_rowid: pass.next_rowid,
            finished: false,
        };
        let (read, parsed) = parse_ahead(|feed| self.read_rows(conn, pass, budget, &mut got, feed));
        read?;
        for (key, verdict) in parsed {
            let event = match verdict {
                Verdict::Parsed(event) => event,
                Verdict::NeedEvent => {
                    let created = Timestamp::from_millisecond(key.created_at).ok();
                    self.decode_event(conn, &pass.sessions[key.ix].0, key.seq, created)?
                }
            };
            if event != ParsedEvent::NotACall {
                got.pending.push(Pending {
                    ix: key.ix,
                    seq: key.seq,
                    created_at: key.created_at,
                    event,
                });
            }
        }
        Ok(got)
    }

    /// Reads the pass's rows on from `got.next_rowid`, pushing those of planned sessions in
    /// their planned seqs to `feed`, until `budget` are pushed or the table ends.
    fn read_rows(
        &self,
        conn: &Connection,
        pass: &Pass,
        budget: usize,
        got: &mut Gathered,
        feed: &mut Feed,
    ) -> Result<(), SourceError> {
        let err = |e| sql_error(self.path, e);
        let sql = match self.layout {
            Layout::Compressed => concat!(
                "SELECT seq, created_at, event_json, navigation_json, event_zstd IS NOT NULL,
                   rowid, session_id
                 FROM transcript_events WHERE rowid >= ?1 AND created_at >= ?2 AND ",
                call_filter!(compressed),
                " ORDER BY rowid LIMIT ?3"
            ),
            _ => concat!(
                "SELECT seq, created_at, event_json, NULL, 0, rowid, session_id
                 FROM transcript_events WHERE rowid >= ?1 AND created_at >= ?2 AND ",
                call_filter!(json_only),
                " ORDER BY rowid LIMIT ?3"
            ),
        };
        let mut taken = 0;
        loop {
            let mut stmt = conn.prepare_cached(sql).map_err(err)?;
            let mut rows = stmt
                .query(params![got.next_rowid, self.since_ms, PASS_BATCH_ROWS])
                .map_err(err)?;
            let mut n = 0;
            while let Some(r) = rows.next().map_err(err)? {
                n += 1;
                got.next_rowid = r.get::<_, i64>(5).map_err(err)?.saturating_add(1);
                let Some(ix) = pass.session_of(r.get_ref(6).map_err(err)?) else {
                    continue;
                };
                let planned = &pass.sessions[ix].1;
                let row = Row::of(r).map_err(err)?;
                if row.seq <= planned.resume.from || row.seq > planned.to {
                    continue;
                }
                let last = &mut got.last_seq[ix];
                *last = Some(last.map_or(row.seq, |s| s.max(row.seq)));
                let key = RowKey {
                    ix,
                    seq: row.seq,
                    created_at: row.created_at,
                };
                feed.push(key, row.text());
                taken += 1;
                if taken >= budget {
                    return Ok(());
                }
            }
            if n < PASS_BATCH_ROWS {
                got.finished = true;
                return Ok(());
            }
        }
    }
}
