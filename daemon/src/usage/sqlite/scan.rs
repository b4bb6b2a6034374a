//! Reading one DB's sessions: where each resumes, its new rows batch by batch, each row classified
//! (cheaply by its navigation when compressed, from the row's bytes without copying them) and
//! turned into a call record once.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};

use super::pass::Pass;
use super::schema::{Layout, list_sessions, row_hash, sql_error};
use super::{DbCursor, MAX_RECORDS_PER_POLL};
use crate::usage::event::{self, NavigationVerdict, ParsedEvent, TranscriptCall};
use crate::usage::recent::{self, LegacySeen, WINDOW};
use crate::usage::{CallRecord, SourceError, SourceKind};

/// Rows fetched per statement.
const BATCH_ROWS: i64 = 256;
/// OpenClaw's bound on a compressed event's decoded size.
const MAX_EVENT_BYTES: i64 = 4 * 1024 * 1024;

pub(super) struct Scan<'a> {
    pub(super) agent: &'a str,
    pub(super) path: &'a Path,
    pub(super) since: Timestamp,
    pub(super) since_ms: i64,
    pub(super) layout: Layout,
    pub(super) legacy: &'a LegacySeen,
    /// A backlog of at least this many rows is read in one pass (see `pass.rs`).
    pub(super) catch_up_rows: u64,
}

/// What a scan noticed besides the records.
#[derive(Default)]
pub(super) struct Tally {
    /// Rows that looked like assistant replies but could not be decoded.
    pub(super) malformed: u64,
    /// Stopped at [`MAX_RECORDS_PER_POLL`]: the cursors are where it stopped.
    pub(super) more: bool,
}

/// Where a session is read from: rows after `from`; those up to `cursor` were read before (the
/// cursor moves only past them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resume {
    pub(super) from: i64,
    pub(super) cursor: i64,
}

/// A session to read in this poll: from where, and up to its last seq when it was listed (rows
/// added later are read by the next poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Planned {
    pub(super) resume: Resume,
    pub(super) to: i64,
}

/// About how many rows the planned sessions have to read.
fn backlog(plan: &BTreeMap<String, Planned>) -> u64 {
    plan.values()
        .map(|p| p.to.saturating_sub(p.resume.from.max(0)).max(0) as u64)
        .sum()
}

/// The rows that can be an assistant reply, as a condition on `transcript_events` (no table
/// prefix): the JSON holds `"assistant"`; a compressed row's navigation does (or it has none).
/// The functions are registered on every connection by [`register_call_filter`].
macro_rules! call_filter {
    (compressed) => {
        "msclaw_may_be_call(event_json, navigation_json)"
    };
    (json_only) => {
        "msclaw_mentions_assistant(event_json)"
    };
}
pub(super) use call_filter;

/// The SQL functions [`call_filter`] uses. `msclaw_mentions_assistant(text)`: 1 when the text (or
/// blob) holds `"assistant"`, 0 otherwise (NULL too). SQLite's `instr` compares at every `"` of
/// the row, a third of a catch-up's time; memchr's search is vectorised.
/// `msclaw_may_be_call(event_json, navigation_json)`: the event's text mentions it, or (a
/// compressed row, no event text) the navigation does or is missing. One call where the same
/// condition in SQL took ten of SQLite's steps for each of a catch-up's million rows.
const MENTIONS_ASSISTANT: &str = "msclaw_mentions_assistant";
const MAY_BE_CALL: &str = "msclaw_may_be_call";

pub(super) fn register_call_filter(conn: &Connection) -> rusqlite::Result<()> {
    let finder = memchr::memmem::Finder::new(b"\"assistant\"").into_owned();
    let mentions = move |v: ValueRef<'_>| match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => finder.find(t).is_some(),
        _ => false,
    };
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let one = mentions.clone();
    conn.create_scalar_function(MENTIONS_ASSISTANT, 1, flags, move |ctx| {
        Ok(one(ctx.get_raw(0)))
    })?;
    conn.create_scalar_function(MAY_BE_CALL, 2, flags, move |ctx| {
        Ok(match (ctx.get_raw(0), ctx.get_raw(1)) {
            (ValueRef::Null, ValueRef::Null) => true,
            (ValueRef::Null, navigation) => mentions(navigation),
            (event, _) => mentions(event),
        })
    })
}

impl Scan<'_> {
    /// Reads the new rows of every session of the DB, moving `cursor` on; sessions that are gone
    /// keep no cursor. A big backlog is read in one pass in storage order (see `pass.rs`), kept
    /// in `pass` from poll to poll until it is done; a small one session by session.
    pub(super) fn read_sessions(
        &self,
        conn: &Connection,
        cursor: &mut DbCursor,
        pass: &mut Option<Pass>,
        out: &mut Vec<CallRecord>,
        tally: &mut Tally,
    ) -> Result<(), SourceError> {
        let err = |e| sql_error(self.path, e);
        let sessions = list_sessions(conn).map_err(err)?;
        let mut plan = BTreeMap::new();
        let mut restarted = false;
        for (session, last) in &sessions {
            let Some((max_seq, last_created)) = *last else {
                continue;
            };
            let known = cursor.sessions.contains_key(session);
            let Some(resume) = self.resume_from(conn, cursor, session, max_seq)? else {
                continue;
            };
            restarted |= known && resume.from == i64::MIN;
            if last_created.is_some_and(|t| t < self.since_ms) {
                // Its newest row is older than `since`: nothing of today in it. It keeps no
                // cursor (so the cursors stay as few as the sessions active today); when it
                // gets a new row it is read from `since` on.
                cursor.forget(session);
                continue;
            }
            plan.insert(
                session.clone(),
                Planned {
                    resume,
                    to: max_seq,
                },
            );
        }
        if pass
            .as_ref()
            .is_some_and(|p| !p.still_valid(self, cursor, &sessions, restarted))
        {
            // Something was rewritten, replaced or the day rolled over: plan again from the cursors.
            *pass = None;
        }
        if pass.is_none() && !plan.is_empty() && backlog(&plan) >= self.catch_up_rows {
            *pass = Some(Pass::plan(self, conn, cursor, std::mem::take(&mut plan))?);
        }
        if let Some(p) = pass {
            if self.read_pass(conn, p, cursor, out, tally)? {
                *pass = None;
            }
        } else {
            self.read_each_session(conn, &plan, cursor, out, tally)?;
        }
        if tally.more {
            return Ok(());
        }
        // Sessions that are gone (deleted, or reset into a new session id) keep no cursor.
        cursor.sessions.retain(|s, _| sessions.contains_key(s));
        let kept = &cursor.sessions;
        cursor.tails.retain(|s, _| kept.contains_key(s));
        cursor.recent.retain(|s, _| kept.contains_key(s));
        Ok(())
    }

    /// The planned sessions one after the other, each through the primary key.
    fn read_each_session(
        &self,
        conn: &Connection,
        plan: &BTreeMap<String, Planned>,
        cursor: &mut DbCursor,
        out: &mut Vec<CallRecord>,
        tally: &mut Tally,
    ) -> Result<(), SourceError> {
        for (session, planned) in plan {
            cursor.tails.remove(session);
            let end = self.read_session(
                conn,
                session,
                planned.resume,
                planned.to,
                cursor,
                out,
                tally,
            )?;
            self.note_tail(conn, cursor, session, end)?;
            if tally.more {
                break;
            }
        }
        Ok(())
    }

    /// Remembers the hash of the row at the session's cursor `at`.
    pub(super) fn note_tail(
        &self,
        conn: &Connection,
        cursor: &mut DbCursor,
        session: &str,
        at: i64,
    ) -> Result<(), SourceError> {
        match row_hash(conn, self.layout, session, at).map_err(|e| sql_error(self.path, e))? {
            Some(tail) => cursor.tails.insert(session.to_owned(), tail),
            None => cursor.tails.remove(session),
        };
        Ok(())
    }

    /// Where to read a session from; `None` when nothing new is in it.
    fn resume_from(
        &self,
        conn: &Connection,
        cursor: &DbCursor,
        session: &str,
        max_seq: i64,
    ) -> Result<Option<Resume>, SourceError> {
        let known = cursor.sessions.get(session).copied();
        let rewritten = match (known, cursor.tails.get(session)) {
            (Some(c), Some(tail)) if c <= max_seq => {
                row_hash(conn, self.layout, session, c).map_err(|e| sql_error(self.path, e))?
                    != Some(*tail)
            }
            _ => false,
        };
        let remembered = cursor.recent.contains_key(session);
        Ok(resume_point(known, remembered, rewritten, max_seq))
    }

    /// Reads rows `resume.from < seq <= to` of one session, batch by batch, advancing the session's cursor as it goes so a failure half
    /// way keeps what was read. Returns the seq the cursor stopped at.
    #[allow(clippy::too_many_arguments)]
    fn read_session(
        &self,
        conn: &Connection,
        session: &str,
        resume: Resume,
        to: i64,
        cursor: &mut DbCursor,
        out: &mut Vec<CallRecord>,
        tally: &mut Tally,
    ) -> Result<i64, SourceError> {
        let err = |e| sql_error(self.path, e);
        let sql = match self.layout {
            Layout::Compressed => concat!(
                "SELECT seq, created_at, event_json, navigation_json, event_zstd IS NOT NULL
                 FROM transcript_events
                 WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3 AND created_at >= ?4 AND ",
                call_filter!(compressed),
                " ORDER BY seq LIMIT ?5"
            ),
            _ => concat!(
                "SELECT seq, created_at, event_json, NULL, 0
                 FROM transcript_events
                 WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3 AND created_at >= ?4 AND ",
                call_filter!(json_only),
                " ORDER BY seq LIMIT ?5"
            ),
        };
        let mut after = resume.from;
        let mut end = to;
        loop {
            let mut stmt = conn.prepare_cached(sql).map_err(err)?;
            let mut rows = stmt
                .query(params![session, after, to, self.since_ms, BATCH_ROWS])
                .map_err(err)?;
            let mut n = 0;
            while let Some(r) = rows.next().map_err(err)? {
                n += 1;
                let row = Row::of(r).map_err(err)?;
                after = row.seq;
                let past_cursor = row.seq > resume.cursor;
                match self.classify(conn, session, &row)? {
                    ParsedEvent::Call(call) => {
                        let recent = recent_of(cursor, session);
                        self.emit(session, (row.seq, row.created_at), call, recent, out)
                    }
                    ParsedEvent::Malformed(_) => tally.malformed += 1,
                    ParsedEvent::NotACall => {}
                }
                if past_cursor {
                    set_cursor(cursor, session, row.seq);
                    if out.len() >= MAX_RECORDS_PER_POLL && row.seq < to {
                        tally.more = true;
                        end = row.seq;
                        break;
                    }
                }
            }
            // the statement is reset here: no read transaction outlives the batch
            drop(rows);
            if tally.more || n < BATCH_ROWS {
                break;
            }
        }
        set_cursor(cursor, session, end);
        Ok(end)
    }

    /// What a row is: from its text where that tells, else from its decoded event.
    pub(super) fn classify(
        &self,
        conn: &Connection,
        session: &str,
        row: &Row<'_>,
    ) -> Result<ParsedEvent, SourceError> {
        let created = Timestamp::from_millisecond(row.created_at).ok();
        match row.text().verdict(created) {
            Verdict::Parsed(event) => Ok(event),
            Verdict::NeedEvent => self.decode_event(conn, session, row.seq, created),
        }
    }

    /// A compressed row's event, decoded and parsed.
    pub(super) fn decode_event(
        &self,
        conn: &Connection,
        session: &str,
        seq: i64,
        created: Option<Timestamp>,
    ) -> Result<ParsedEvent, SourceError> {
        let blob: Option<(Vec<u8>, Option<i64>)> = conn
            .prepare_cached("SELECT event_zstd, event_utf8_bytes FROM transcript_events WHERE session_id = ?1 AND seq = ?2")
            .and_then(|mut s| s.query_row(params![session, seq], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| sql_error(self.path, e))?;
        let Some((blob, Some(len))) = blob else {
            // Deleted since the batch was read, or no recorded size: nothing to decode.
            return Ok(ParsedEvent::Malformed("compressed row without its size"));
        };
        Ok(match decode_zstd(&blob, len) {
            Some(text) => event::parse_event(&text, created),
            None => ParsedEvent::Malformed("compressed event does not decode"),
        })
    }

    /// A call of the row at `(seq, created_at)` as a record, unless it is before `since` or was
    /// counted before.
    pub(super) fn emit(
        &self,
        session: &str,
        (seq, created_at): (i64, i64),
        call: TranscriptCall,
        recent: &mut recent::RecentCalls,
        out: &mut Vec<CallRecord>,
    ) {
        if call.at < self.since {
            return;
        }
        let fallback_id = || format!("seq:{seq}:{created_at}");
        if let Some(record) = recent::admit(
            self.legacy,
            recent,
            self.agent,
            session,
            call,
            fallback_id,
            SourceKind::Sqlite,
        ) {
            out.push(record);
        }
    }
}

/// The session's last calls, created on its first call.
pub(super) fn recent_of<'c>(
    cursor: &'c mut DbCursor,
    session: &str,
) -> &'c mut recent::RecentCalls {
    if !cursor.recent.contains_key(session) {
        cursor.recent.insert(session.to_owned(), Default::default());
    }
    cursor.recent.get_mut(session).expect("just inserted")
}

pub(super) fn set_cursor(cursor: &mut DbCursor, session: &str, seq: i64) {
    match cursor.sessions.get_mut(session) {
        Some(at) => *at = seq,
        None => {
            cursor.sessions.insert(session.to_owned(), seq);
        }
    }
}

/// Where to read a session whose cursor is `known` and whose last seq is `max_seq`: `None` when
/// nothing is new. Past the cursor is new; the [`WINDOW`] seqs behind it are read again (a row
/// committed late lands there). A rewritten session (another row at the cursor, or its last seq
/// went backwards) is read from its start, and so is one without a cursor: all of it again when
/// its last calls are remembered (a cursor lost), as new when it is new.
pub(super) fn resume_point(
    known: Option<i64>,
    remembered: bool,
    rewritten: bool,
    max_seq: i64,
) -> Option<Resume> {
    let from_start = |cursor| {
        Some(Resume {
            from: i64::MIN,
            cursor,
        })
    };
    match known {
        Some(c) if c == max_seq && !rewritten => None,
        Some(c) if c < max_seq && !rewritten => Some(Resume {
            from: c.saturating_sub(WINDOW as i64),
            cursor: c,
        }),
        Some(c) => from_start(c),
        None if remembered => from_start(i64::MAX),
        None => from_start(i64::MIN),
    }
}

/// One row as SQLite hands it out: its text borrowed, not copied.
pub(super) struct Row<'r> {
    pub(super) seq: i64,
    pub(super) created_at: i64,
    event_json: Option<&'r [u8]>,
    navigation_json: Option<&'r [u8]>,
    compressed: bool,
}

/// What of a row tells what it is, before any decoding.
#[derive(Debug)]
pub(super) enum RowText<'r> {
    /// The event's JSON.
    Event(&'r [u8]),
    /// A compressed row's navigation.
    Navigation(&'r [u8]),
    /// Nothing to read: the verdict is known.
    Decided(Verdict),
}

/// What a row's text says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Parsed(ParsedEvent),
    /// A compressed row whose navigation cannot tell: decode its event.
    NeedEvent,
}

impl RowText<'_> {
    pub(super) fn verdict(self, created: Option<Timestamp>) -> Verdict {
        match self {
            RowText::Event(json) => Verdict::Parsed(event::parse_event_bytes(json, created)),
            RowText::Navigation(nav) => {
                let verdict = std::str::from_utf8(nav)
                    .map_or(NavigationVerdict::NeedEvent, |nav| {
                        event::classify_navigation(nav, created)
                    });
                match verdict {
                    NavigationVerdict::NotACall => Verdict::Parsed(ParsedEvent::NotACall),
                    NavigationVerdict::Call(call) => Verdict::Parsed(ParsedEvent::Call(call)),
                    NavigationVerdict::NeedEvent => Verdict::NeedEvent,
                }
            }
            RowText::Decided(verdict) => verdict,
        }
    }
}

impl<'r> Row<'r> {
    /// The part of the row that tells what it is.
    pub(super) fn text(&self) -> RowText<'r> {
        match (self.event_json, self.compressed, self.navigation_json) {
            (Some(json), _, _) => RowText::Event(json),
            (None, false, _) => RowText::Decided(Verdict::Parsed(ParsedEvent::Malformed(
                "row without an event",
            ))),
            (None, true, Some(nav)) => RowText::Navigation(nav),
            (None, true, None) => RowText::Decided(Verdict::NeedEvent),
        }
    }

    /// The row of a query selecting `seq, created_at, event_json, navigation_json, compressed`
    /// first.
    pub(super) fn of(r: &'r rusqlite::Row<'_>) -> rusqlite::Result<Row<'r>> {
        let text = |i: usize| -> rusqlite::Result<Option<&'r [u8]>> {
            Ok(match r.get_ref(i)? {
                ValueRef::Text(t) | ValueRef::Blob(t) => Some(t),
                _ => None,
            })
        };
        Ok(Row {
            seq: r.get(0)?,
            created_at: r.get(1)?,
            event_json: text(2)?,
            navigation_json: text(3)?,
            compressed: r.get::<_, i64>(4)? != 0,
        })
    }
}

/// Decodes one zstd frame whose decoded size OpenClaw recorded; the frame's checksum (OpenClaw
/// writes one) is verified by the decoder.
pub(super) fn decode_zstd(blob: &[u8], utf8_bytes: i64) -> Option<String> {
    if blob.is_empty() || !(1..=MAX_EVENT_BYTES).contains(&utf8_bytes) {
        return None;
    }
    let bytes = zstd::bulk::decompress(blob, utf8_bytes as usize).ok()?;
    if bytes.len() as i64 != utf8_bytes {
        return None;
    }
    String::from_utf8(bytes).ok()
}
