//! Where usage comes from: OpenClaw's transcripts and its gateway file log.
//!
//! Three readers, each incremental and restart-safe:
//! - [`SqliteSource`] reads `agents/*/agent/openclaw-agent.sqlite` (OpenClaw ≥ 2026.7.2),
//! - [`JsonlSource`] reads `agents/*/sessions/*.jsonl` (OpenClaw ≤ 2026.7.1),
//! - [`GatewayLogSource`] follows the gateway's JSON-lines file log (429s at once, reloads).
//!
//! Each reader keeps a cursor the daemon persists in its state file (`SqliteCursors`,
//! `JsonlCursors`, `GatewayLogCursor`: opaque, serde), a few hundred bytes per session followed
//! today however many calls the day had. What is past a cursor is new by construction; for what
//! is read again (a replaced file, a rewritten tail, rows committed late) the transcript readers
//! keep the last few calls per session (see `recent.rs`), so no call is ever returned twice.
//!
//! Records are returned for every provider; the caller filters by provider and quota day.
//!
//! Using them (the engine's side):
//! - poll when a watched path changes (`watch_paths()` recursively for the transcript readers,
//!   `watch_dir()` for the log) and on a timer; every poll is cheap when nothing changed;
//! - `since` is the start of the current quota day: calls before it are not returned;
//! - persist the cursors after the records of a poll were counted (a crash in between re-reads
//!   those records on restart, it never loses any);
//! - a poll can return records AND have failed for some file: check `take_errors()`;
//! - `GatewaySignal::Call` with `Success` is not a count (fast 200s are not logged at info);
//!   its 429s are single requests, a transcript's 429 is a whole failed retry loop.

use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub(crate) use lines::{LineStart, MAX_LINE_BYTES, last_line_boundary, read_lines_from};

pub mod event;
pub mod gateway_log;
pub mod jsonl;
mod lines;
mod recent;
pub mod sqlite;

pub use gateway_log::{GatewayLogSource, LogLocation};
pub use jsonl::JsonlSource;
pub use sqlite::SqliteSource;

/// One model call (or one failed turn) seen in OpenClaw's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// OpenClaw's provider id, e.g. `modelscope`.
    pub provider: String,
    /// Model id without the provider, e.g. `Qwen/Qwen3.5-397B-A17B`.
    pub model: String,
    /// When the call happened (`message.timestamp`, else the row/line time).
    pub at: Timestamp,
    pub outcome: CallOutcome,
    pub source: SourceKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallOutcome {
    /// An assistant reply with `stopReason != "error"` (stop, toolUse, length, aborted, ...).
    Success,
    /// HTTP 429. From the gateway log: one request (`false`). From a transcript error row: the
    /// whole OpenClaw retry loop failed (`true`).
    RateLimited { retry_loop_failed: bool },
    /// 404, or a 400 whose text says "has no provider supported" (the model was withdrawn).
    Gone { detail: String },
    /// Any other error.
    Failed { status: Option<u16>, detail: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceKind {
    Sqlite,
    Jsonl,
    GatewayLog,
}

/// What the gateway log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewaySignal {
    /// `config hot reload applied (a, b)` (or `config change applied (dynamic reads: a, b)`).
    ReloadApplied { at: Timestamp, paths: Vec<String> },
    /// `config reload skipped (invalid config): reason` and the other `config reload skipped` lines.
    ReloadSkipped { at: Timestamp, reason: String },
    /// `[model-fetch] response ... status=NNN`. Note 200s are usually logged at debug only, so a
    /// `Success` from here is a bonus, never a count.
    Call(CallRecord),
}

/// Persisted position of [`SqliteSource`]. Opaque: serialize it, hand it back on the next start.
#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub struct SqliteCursors(pub(crate) sqlite::SqliteState);

/// Persisted position of [`JsonlSource`].
#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub struct JsonlCursors(pub(crate) jsonl::JsonlState);

/// Persisted position of [`GatewayLogSource`].
#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub struct GatewayLogCursor(pub(crate) gateway_log::LogState);

/// What kind of trouble a source hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The database is locked by a writer (SQLITE_BUSY/LOCKED): retry on the next poll.
    Locked,
    /// The file is not what it should be (not a database, broken schema, undecodable row).
    Corrupt,
    /// Reading the file or directory failed.
    Io,
}

/// A failure of one file of a source. `Display` says which file and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub path: PathBuf,
    pub kind: SourceErrorKind,
    pub message: String,
}

impl SourceError {
    pub(crate) fn new(path: &Path, kind: SourceErrorKind, message: impl Into<String>) -> Self {
        SourceError {
            path: path.to_path_buf(),
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn io(path: &Path, err: &std::io::Error) -> Self {
        SourceError::new(path, SourceErrorKind::Io, err.to_string())
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            SourceErrorKind::Locked => "locked",
            SourceErrorKind::Corrupt => "unreadable",
            SourceErrorKind::Io => "i/o error",
        };
        write!(f, "{}: {kind}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for SourceError {}

// The engine polls the sources from a blocking thread: they must stay `Send`.
const _: () = {
    const fn send<T: Send>() {}
    send::<SqliteSource>();
    send::<JsonlSource>();
    send::<GatewayLogSource>();
    send::<SourceError>();
};

// ---------------------------------------------------------------------------------------------
// Shared helpers for the readers.

/// FNV-1a, 64 bit: a stable hash (std's `DefaultHasher` may change between Rust releases, and
/// these hashes are persisted).
pub(crate) fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // a separator that cannot be confused with content length games
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A file's identity: device and inode on Unix. Elsewhere (0, 0), which makes truncation the
/// only replacement signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId::default()
        }
    }
}

#[cfg(test)]
mod tests;
