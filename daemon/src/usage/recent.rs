//! What makes re-reading safe without remembering every call of the day.
//!
//! A transcript reader moves a cursor per session (a seq, a file offset) and reads each row once,
//! but some rows are read again (a rewritten tail, a replaced file, the few rows behind the cursor
//! it looks at for late commits) and some events are written twice (a replayed tail). So each
//! session keeps [`RecentCalls`]: the keys of its last [`WINDOW`] calls plus `floor`, the newest
//! time of a call that left the window. A call is new when its key is not in the window and its
//! time is after `floor`; every call counted before is one or the other, so none is counted twice.
//! (A call older than the last [`WINDOW`] calls of its session, written into it later, is the one
//! thing not counted: a miss, never a double count.)
//!
//! [`LegacySeen`] is the set of keys older state files kept for the whole day: loaded, consulted,
//! pruned by time, never grown, so the first start after the upgrade counts nothing twice and the
//! set is gone a day later.

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::event::TranscriptCall;
use super::{CallRecord, SourceKind, fnv1a64};

/// Calls remembered per session. A re-read looks at most this many rows behind a cursor.
pub(crate) const WINDOW: usize = 8;

/// The last calls counted from one session (see the module docs).
#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub(crate) struct RecentCalls {
    /// `[key, time ms]` of the newest calls counted, oldest first, at most [`WINDOW`].
    #[serde(default, rename = "k")]
    keys: VecDeque<(u64, i64)>,
    /// The newest time (ms) of a call that left the window; `None` while none did.
    #[serde(default, rename = "f", skip_serializing_if = "Option::is_none")]
    floor: Option<i64>,
}

/// A transcript call's identity: (agent, session, entry id, time).
pub(crate) fn call_key(agent: &str, session: &str, id: &str, at_ms: i64) -> u64 {
    fnv1a64(&[
        agent.as_bytes(),
        session.as_bytes(),
        id.as_bytes(),
        &at_ms.to_le_bytes(),
    ])
}

impl RecentCalls {
    /// Whether a call was counted before (or may have been: at or before `floor`).
    pub(crate) fn counted(&self, key: u64, at_ms: i64) -> bool {
        self.keys.iter().any(|(k, _)| *k == key) || self.floor.is_some_and(|floor| at_ms <= floor)
    }

    /// Whether a call from `since` on is remembered (the window still matters today).
    pub(crate) fn has_calls_since(&self, since: Timestamp) -> bool {
        let since = since.as_millisecond();
        self.keys.iter().any(|(_, at)| *at >= since)
    }

    /// Notes a call as counted; the oldest leaves the window (raising `floor`) when it is full.
    pub(crate) fn note(&mut self, key: u64, at_ms: i64) {
        self.keys.push_back((key, at_ms));
        while self.keys.len() > WINDOW {
            if let Some((_, at)) = self.keys.pop_front() {
                self.floor = Some(self.floor.map_or(at, |f| f.max(at)));
            }
        }
    }
}

/// A transcript call as a record, unless it was counted before: by an older state file's key set
/// (`legacy`) or by its session's window. `fallback_id` stands for the entry id when
/// the entry has none.
#[allow(clippy::too_many_arguments)]
pub(crate) fn admit(
    legacy: &LegacySeen,
    recent: &mut RecentCalls,
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
    let key = call_key(agent, session, id, at_ms);
    if legacy.contains(key) || recent.counted(key, at_ms) {
        return None;
    }
    recent.note(key, at_ms);
    Some(CallRecord {
        provider: call.provider,
        model: call.model,
        at: call.at,
        outcome: call.outcome,
        source,
    })
}

/// Keys of calls already returned, with the call's time (ms), as state files before issue 13
/// kept them (every key of the day). Read, pruned, never grown.
#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub(crate) struct LegacySeen {
    #[serde(default)]
    keys: BTreeMap<String, i64>,
}

/// How long before the `since` a legacy key is kept.
const LEGACY_KEEP_BEFORE_SINCE_MS: i64 = 6 * 3600 * 1000;

impl LegacySeen {
    #[cfg(test)]
    pub(crate) fn of(keys: &[(u64, i64)]) -> Self {
        LegacySeen {
            keys: keys
                .iter()
                .map(|(k, at)| (format!("{k:016x}"), *at))
                .collect(),
        }
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        !self.keys.is_empty() && self.keys.contains_key(&format!("{key:016x}"))
    }
    /// Drops keys of calls long before `since` (they can no longer be read again).
    pub(crate) fn prune(&mut self, since: Timestamp) {
        if self.keys.is_empty() {
            return;
        }
        let cutoff = since
            .as_millisecond()
            .saturating_sub(LEGACY_KEEP_BEFORE_SINCE_MS);
        self.keys.retain(|_, at| *at >= cutoff);
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests;
