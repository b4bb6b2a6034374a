//! Reading one DB's sessions: where each resumes, its new rows batch by batch, each row classified
//! (cheaply by its navigation when compressed) and turned into a call record once.

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::DbCursor;
use super::schema::{Layout, list_sessions, row_hash, sql_error};
use crate::usage::event::{self, NavigationVerdict, ParsedEvent, TranscriptCall};
use crate::usage::{CallRecord, SeenSet, SourceError, SourceKind};

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
}

impl Scan<'_> {
    /// Reads the new rows of every session of the DB, moving `cursor` on; sessions that are gone
    /// keep no cursor.
    pub(super) fn read_sessions(
        &self,
        conn: &Connection,
        cursor: &mut DbCursor,
        seen: &mut SeenSet,
        out: &mut Vec<CallRecord>,
        malformed: &mut u64,
    ) -> Result<(), SourceError> {
        let err = |e| sql_error(self.path, e);
        let sessions = list_sessions(conn).map_err(err)?;
        for (session, last) in &sessions {
            let Some((max_seq, last_created)) = *last else {
                continue;
            };
            let Some(from) = self.resume_from(conn, cursor, session, max_seq)? else {
                continue;
            };
            if last_created.is_some_and(|t| t < self.since_ms) {
                // Its newest row is older than `since`: nothing of today in it. It keeps no
                // cursor (so the cursors stay as few as the sessions active today); when it
                // gets a new row it is read from `since` on, deduplicated.
                cursor.sessions.remove(session);
                cursor.tails.remove(session);
                continue;
            }
            cursor.tails.remove(session);
            self.read_session(conn, session, from, max_seq, cursor, seen, out, malformed)?;
            if let Some(tail) = row_hash(conn, self.layout, session, max_seq).map_err(err)? {
                cursor.tails.insert(session.clone(), tail);
            }
        }
        // Sessions that are gone (deleted, or reset into a new session id) keep no cursor.
        cursor.sessions.retain(|s, _| sessions.contains_key(s));
        let kept = &cursor.sessions;
        cursor.tails.retain(|s, _| kept.contains_key(s));
        Ok(())
    }

    /// The seq after which to read a session; `None` when nothing new is in it.
    fn resume_from(
        &self,
        conn: &Connection,
        cursor: &DbCursor,
        session: &str,
        max_seq: i64,
    ) -> Result<Option<i64>, SourceError> {
        let known = cursor.sessions.get(session).copied();
        let rewritten = match (known, cursor.tails.get(session)) {
            (Some(c), Some(tail)) if c <= max_seq => {
                row_hash(conn, self.layout, session, c).map_err(|e| sql_error(self.path, e))?
                    != Some(*tail)
            }
            _ => false,
        };
        Ok(match known {
            Some(c) if c == max_seq && !rewritten => None,
            Some(c) if c < max_seq && !rewritten => Some(c),
            // New session, or its tail rewritten (its seq went backwards, or the row at the
            // cursor is another one): read all of it again; already returned calls are
            // deduplicated.
            _ => Some(i64::MIN),
        })
    }

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
        let fallback_id = || format!("seq:{}:{}", row.seq, row.created_at);
        if let Some(record) = seen.admit(self.agent, session, call, fallback_id, SourceKind::Sqlite)
        {
            out.push(record);
        }
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
