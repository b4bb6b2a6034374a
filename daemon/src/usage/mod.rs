//! Where usage comes from: OpenClaw's transcripts and its gateway file log.
//!
//! Three readers, each incremental and restart-safe:
//! - [`SqliteSource`] reads `agents/*/agent/openclaw-agent.sqlite` (OpenClaw ≥ 2026.7.2),
//! - [`JsonlSource`] reads `agents/*/sessions/*.jsonl` (OpenClaw ≤ 2026.7.1),
//! - [`GatewayLogSource`] follows the gateway's JSON-lines file log (429s at once, reloads).
//!
//! Each reader keeps a cursor the daemon persists in its state file (`SqliteCursors`,
//! `JsonlCursors`, `GatewayLogCursor`: opaque, serde). The transcript readers also remember which
//! calls they already returned (a small set of keys, pruned by time), so a replaced file, a
//! rewritten tail or a restart from an older cursor never returns the same call twice.
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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use event::TranscriptCall;
pub(crate) use lines::{LineStart, MAX_LINE_BYTES, last_line_boundary, read_lines_from};

pub mod event;
pub mod gateway_log;
pub mod jsonl;
mod lines;
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

/// Keys of calls already returned, with the call's time (ms) so old keys can be pruned.
/// This is what makes re-reading (replaced file, rewritten tail, restart) safe.
#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub(crate) struct SeenSet {
    #[serde(default)]
    keys: BTreeMap<String, i64>,
}

/// How long before the `since` a poll is given (the quota day start, usually) a key is kept.
/// Calls before `since` are never returned, so older keys only matter if `since` moves back.
const SEEN_KEEP_BEFORE_SINCE_MS: i64 = 6 * 3600 * 1000;

impl SeenSet {
    /// True when the key is new (and records it).
    pub(crate) fn insert(&mut self, key: u64, at_ms: i64) -> bool {
        let k = format!("{key:016x}");
        if self.keys.contains_key(&k) {
            return false;
        }
        self.keys.insert(k, at_ms);
        true
    }
    /// A transcript call as a record, unless it was returned before. Its key is (agent, session,
    /// entry id, time); `fallback_id` stands for the entry id when the entry has none.
    pub(crate) fn admit(
        &mut self,
        agent: &str,
        session: &str,
        call: TranscriptCall,
        fallback_id: impl FnOnce() -> String,
        source: SourceKind,
    ) -> Option<CallRecord> {
        let at_ms = call.at.as_millisecond();
        let fallback;
        let id = match &call.entry_id {
            Some(id) => id.as_str(),
            None => {
                fallback = fallback_id();
                fallback.as_str()
            }
        };
        let key = fnv1a64(&[
            agent.as_bytes(),
            session.as_bytes(),
            id.as_bytes(),
            &at_ms.to_le_bytes(),
        ]);
        if !self.insert(key, at_ms) {
            return None;
        }
        Some(CallRecord {
            provider: call.provider,
            model: call.model,
            at: call.at,
            outcome: call.outcome,
            source,
        })
    }
    pub(crate) fn prune(&mut self, since: Timestamp) {
        let cutoff = since
            .as_millisecond()
            .saturating_sub(SEEN_KEEP_BEFORE_SINCE_MS);
        self.keys.retain(|_, at| *at >= cutoff);
    }
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
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
