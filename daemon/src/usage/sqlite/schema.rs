//! The agent database's shape and the queries that read it: read-only connections, which layout
//! `transcript_events` has, the sessions and their last rows, row hashes, and error kinds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use crate::usage::{SourceError, SourceErrorKind, fnv1a64};

/// How long a query waits for a writer's lock before the DB is reported locked for this poll.
const BUSY_TIMEOUT: Duration = Duration::from_millis(50);

/// What `transcript_events` looks like in this DB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// Agent schema ≥ 23: `event_json` or `event_zstd` + `navigation_json`.
    Compressed,
    /// Agent schema < 23: `event_json` only.
    JsonOnly,
    /// No `transcript_events` table (yet).
    Missing,
}

pub(super) fn open_read_only(path: &Path) -> Result<Connection, SourceError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sql_error(path, e))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA trusted_schema = OFF;")
        .map_err(|e| sql_error(path, e))?;
    super::scan::register_call_filter(&conn).map_err(|e| sql_error(path, e))?;
    Ok(conn)
}

pub(super) fn schema_meta_created_at(conn: &Connection) -> rusqlite::Result<Option<i64>> {
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

pub(super) fn detect_layout(conn: &Connection) -> rusqlite::Result<Layout> {
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
pub(super) type LastRow = Option<(i64, Option<i64>)>;

/// A hash of one row's stored event (JSON or compressed), `None` when there is no such row.
pub(super) fn row_hash(
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
            let bytes = |i| {
                r.get_ref(i)
                    .map(|v| v.as_bytes_or_null().ok().flatten().unwrap_or_default())
            };
            let created: i64 = r.get(2)?;
            Ok(fnv1a64(&[bytes(0)?, bytes(1)?, &created.to_le_bytes()]))
        })
        .optional()
}

/// Every session with its last row.
pub(super) fn list_sessions(conn: &Connection) -> rusqlite::Result<BTreeMap<String, LastRow>> {
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

pub(super) fn sql_error(path: &Path, e: rusqlite::Error) -> SourceError {
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SourceErrorKind::Locked,
        Some(ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::PermissionDenied) => {
            SourceErrorKind::Io
        }
        _ => SourceErrorKind::Corrupt,
    };
    SourceError::new(path, kind, e.to_string())
}
