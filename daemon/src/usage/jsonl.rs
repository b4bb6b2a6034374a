//! Transcripts as JSON lines (OpenClaw ≤ 2026.7.1):
//! `<state>/agents/<agentId>/sessions/<sessionId>.jsonl` (Telegram topics:
//! `<sessionId>-topic-<threadId>.jsonl`). `*.trajectory.jsonl` (trace events, not transcripts),
//! `sessions.json` and sub-directories (the SQLite import archive) are not read.
//!
//! Per file the cursor is (device, inode, offset, hash of the bytes just before the offset); only
//! complete lines are consumed, so a line being written waits for its newline. A file that shrank
//! (truncated), has another inode (replaced by an atomic rewrite) or holds other bytes before the
//! offset (rewritten in place, or a new file that got the old one's inode number back) is read
//! again from the start; the file's last calls (see `recent.rs`) keep what was counted from being
//! counted twice.
//!
//! A poll reads at most [`MAX_BYTES_PER_POLL`] (over all files, stopping at a line boundary), so
//! a huge transcript is caught up in several bounded polls ([`has_more`](JsonlSource::has_more)).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::event::{self, ParsedEvent};
use super::lines::read_lines_within;
use super::recent::{self, LegacySeen, RecentCalls};
use super::{CallRecord, FileId, JsonlCursors, LineStart, SourceError, SourceKind, fnv1a64};

#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub(crate) struct JsonlState {
    /// Per `<agentId>/<file name>`.
    #[serde(default)]
    files: BTreeMap<String, FileCursor>,
    /// The last calls counted, per `<agentId>/<file name>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    recent: BTreeMap<String, RecentCalls>,
    /// The key set of a state file before issue 13 (see `recent.rs`).
    #[serde(default, skip_serializing_if = "LegacySeen::is_empty")]
    seen: LegacySeen,
}

#[derive(Debug, Serialize, Deserialize, Default, Clone, Copy, PartialEq)]
struct FileCursor {
    #[serde(default)]
    file: FileId,
    /// Just past the last complete line read.
    #[serde(default)]
    offset: u64,
    /// Hash of the (up to) [`TAIL_BYTES`] bytes before `offset`: the file still starts the way it
    /// did when it was read, so reading on from `offset` is right. (An inode number says little:
    /// a file replaced twice while msclaw looked away can get the first one's number back.)
    #[serde(default)]
    tail: Option<u64>,
    /// `offset` is inside a line too long to read, skipped up to its newline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    skipping: bool,
}

/// Bytes one poll reads at most (then it stops at the next line boundary): a catch-up on a huge
/// transcript is done in bounded steps, as SQLite's is.
pub const MAX_BYTES_PER_POLL: u64 = 16 << 20;

/// How many bytes before the offset identify what was read.
const TAIL_BYTES: u64 = 64;

/// The hash of the bytes of `file` before `offset` (at most [`TAIL_BYTES`]).
fn tail_hash(file: &File, offset: u64) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let start = offset.saturating_sub(TAIL_BYTES);
    let mut buf = vec![0u8; (offset - start) as usize];
    file.read_exact_at(&mut buf, start).ok()?;
    Some(fnv1a64(&[&buf]))
}

/// Reads model calls from every agent's JSONL session transcripts.
pub struct JsonlSource {
    agents_dir: PathBuf,
    state: JsonlCursors,
    records_seen: u64,
    garbled_lines: u64,
    long_lines: u64,
    /// The last poll stopped at [`MAX_BYTES_PER_POLL`]: there is more to read at once.
    more: bool,
    errors: Vec<SourceError>,
}

struct SessionFile {
    agent: String,
    /// File name without `.jsonl`: the session id (plus `-topic-<n>`).
    session: String,
    path: PathBuf,
}

impl JsonlSource {
    pub fn new(openclaw_state_dir: &Path, cursors: JsonlCursors) -> Self {
        JsonlSource {
            agents_dir: openclaw_state_dir.join("agents"),
            state: cursors,
            records_seen: 0,
            garbled_lines: 0,
            long_lines: 0,
            more: false,
            errors: Vec::new(),
        }
    }

    /// Reads the lines appended since the last poll to every session transcript.
    ///
    /// A file whose last change is before `since` is not read and keeps no cursor; calls whose
    /// time is before `since` are not returned. A file
    /// that cannot be read keeps its cursor; the others are still read and the failures are in
    /// [`take_errors`](Self::take_errors). `Err` (the first failure) when something failed and
    /// no record was read.
    pub fn poll(&mut self, since: Timestamp) -> Result<Vec<CallRecord>, SourceError> {
        self.errors.clear();
        self.more = false;
        self.state.0.seen.prune(since);
        let files = match self.discover() {
            Ok(f) => f,
            Err(e) => {
                self.errors.push(e.clone());
                return Err(e);
            }
        };
        self.state.0.files.retain(|k, _| files.contains_key(k));
        // A file that is gone keeps its last calls while they are of today: if it comes back it
        // is read from its start, and those calls are not counted again.
        let kept = &self.state.0.files;
        self.state
            .0
            .recent
            .retain(|k, r| kept.contains_key(k) || r.has_calls_since(since));
        let mut out = Vec::new();
        let mut budget = MAX_BYTES_PER_POLL;
        for (key, file) in &files {
            if budget == 0 {
                // The rest waits for the next poll, at once.
                self.more = true;
                break;
            }
            match self.poll_file(key, file, since, budget, &mut out) {
                Ok(read) => budget = budget.saturating_sub(read),
                Err(e) => self.errors.push(e),
            }
        }
        self.records_seen += out.len() as u64;
        if out.is_empty() && !self.errors.is_empty() {
            return Err(self.errors[0].clone());
        }
        Ok(out)
    }

    /// The last poll stopped at [`MAX_BYTES_PER_POLL`]: poll again at once.
    pub fn has_more(&self) -> bool {
        self.more
    }

    pub fn cursors(&self) -> &JsonlCursors {
        &self.state
    }

    /// Records returned by this source since it was created.
    pub fn records_seen(&self) -> u64 {
        self.records_seen
    }

    /// Complete lines that were not a JSON object (or an unreadable assistant entry): skipped.
    pub fn garbled_lines(&self) -> u64 {
        self.garbled_lines
    }

    /// Lines longer than [`MAX_LINE_BYTES`](super::MAX_LINE_BYTES): skipped without being read.
    pub fn long_lines(&self) -> u64 {
        self.long_lines
    }

    /// The per-file failures of the last poll (also when it returned `Ok`).
    pub fn take_errors(&mut self) -> Vec<SourceError> {
        std::mem::take(&mut self.errors)
    }

    /// What the daemon should watch, recursively: the agents directory.
    pub fn watch_paths(&self) -> Vec<PathBuf> {
        vec![self.agents_dir.clone()]
    }

    fn discover(&self) -> Result<BTreeMap<String, SessionFile>, SourceError> {
        let mut files = BTreeMap::new();
        let agents = match std::fs::read_dir(&self.agents_dir) {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(SourceError::io(&self.agents_dir, &e)),
        };
        for agent in agents.flatten() {
            let Some(agent_id) = agent.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(entries) = std::fs::read_dir(agent.path().join("sessions")) else {
                continue;
            };
            for entry in entries.flatten() {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let Some(session) = name.strip_suffix(".jsonl") else {
                    continue;
                };
                if session.is_empty() || session.ends_with(".trajectory") {
                    continue;
                }
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                files.insert(
                    format!("{agent_id}/{name}"),
                    SessionFile {
                        agent: agent_id.clone(),
                        session: session.to_owned(),
                        path: entry.path(),
                    },
                );
            }
        }
        Ok(files)
    }

    /// Reads on in one file, at most about `budget` bytes; returns how many it read.
    fn poll_file(
        &mut self,
        key: &str,
        sf: &SessionFile,
        since: Timestamp,
        budget: u64,
        out: &mut Vec<CallRecord>,
    ) -> Result<u64, SourceError> {
        let path = &sf.path;
        let Some(mut f) = self.open_if_changed(key, path, since)? else {
            return Ok(0);
        };
        // Identity and length of the very file we read (not of whatever the path names later).
        let meta = f.metadata().map_err(|e| SourceError::io(path, &e))?;
        let file = FileId::of(&meta);
        let start = resume_point(self.state.0.files.get(key).copied(), &f, file, meta.len());
        let end = if start.offset == meta.len() {
            start
        } else {
            let state = &mut self.state.0;
            if !state.recent.contains_key(key) {
                state.recent.insert(key.to_owned(), RecentCalls::default());
            }
            let recent = state.recent.get_mut(key).expect("just inserted");
            let legacy = &state.seen;
            let garbled = &mut self.garbled_lines;
            let read = read_lines_within(path, &mut f, start, budget, |line, _| {
                let counted = Counted {
                    legacy,
                    recent: &mut *recent,
                };
                take_line(line, sf, since, counted, garbled, out);
            })?;
            self.note_long_lines(path, read.long_lines);
            if read.end < meta.len() {
                self.more = true;
            }
            read.resume()
        };
        self.state.0.files.insert(
            key.to_owned(),
            FileCursor {
                file,
                offset: end.offset,
                tail: tail_hash(&f, end.offset),
                skipping: end.skipping,
            },
        );
        Ok(end.offset.saturating_sub(start.offset))
    }

    /// Counts over-long lines; the first one is warned about (once per source, not per line).
    fn note_long_lines(&mut self, path: &Path, n: u64) {
        if n > 0 && self.long_lines == 0 {
            tracing::warn!(path = %path.display(), "a transcript has a line over {} bytes: skipped (and any more such lines)", super::MAX_LINE_BYTES);
        }
        self.long_lines += n;
    }

    /// Opens a session file that may hold something new; `None` (and no cursor kept where none
    /// is needed) when it is gone, read up to its end, or untouched since before `since`.
    fn open_if_changed(
        &mut self,
        key: &str,
        path: &Path,
        since: Timestamp,
    ) -> Result<Option<File>, SourceError> {
        // A stat first: most files did not change, and most old ones need nothing at all.
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.state.0.files.remove(key);
                return Ok(None);
            }
            Err(e) => return Err(SourceError::io(path, &e)),
        };
        let cursor = self.state.0.files.get(key).copied();
        if cursor.is_some_and(|c| c.file == FileId::of(&meta) && c.offset == meta.len()) {
            return Ok(None);
        }
        if meta
            .modified()
            .ok()
            .and_then(|m| Timestamp::try_from(m).ok())
            .is_some_and(|m| m < since)
        {
            // Untouched since before `since`: nothing in it counts. It keeps no cursor (so there
            // are only as many cursors as files written today); if it is written to again it is
            // read from its start, calls before `since` dropped and the rest deduplicated.
            self.state.0.files.remove(key);
            return Ok(None);
        }
        match File::open(path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.state.0.files.remove(key);
                Ok(None)
            }
            Err(e) => Err(SourceError::io(path, &e)),
        }
    }
}

/// Where to read on from in a file of identity `file` and length `len`: the cursor's position
/// when it is still the same file holding the same bytes before it, else its start.
fn resume_point(cursor: Option<FileCursor>, f: &File, file: FileId, len: u64) -> LineStart {
    match cursor {
        Some(c)
            if c.file == file
                && c.offset <= len
                && (c.tail.is_none() || c.tail == tail_hash(f, c.offset)) =>
        {
            LineStart {
                offset: c.offset,
                skipping: c.skipping,
            }
        }
        // New, replaced (other inode), truncated or rewritten: read from the start.
        _ => LineStart::default(),
    }
}

/// What tells a call read again from a new one: an older state file's keys, the file's last calls.
struct Counted<'a> {
    legacy: &'a LegacySeen,
    recent: &'a mut RecentCalls,
}

/// One complete line of a session file: a call from `since` on not returned before goes to
/// `out`; an unreadable line is counted in `garbled`.
fn take_line(
    line: &[u8],
    sf: &SessionFile,
    since: Timestamp,
    counted: Counted<'_>,
    garbled: &mut u64,
    out: &mut Vec<CallRecord>,
) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let call = match event::parse_event_bytes(line, None) {
        ParsedEvent::Call(call) => call,
        ParsedEvent::NotACall => return,
        ParsedEvent::Malformed(_) => {
            *garbled += 1;
            return;
        }
    };
    if call.at < since {
        return;
    }
    let fallback_id = || format!("line:{:016x}", fnv1a64(&[line]));
    let record = recent::admit(
        counted.legacy,
        counted.recent,
        &sf.agent,
        &sf.session,
        call,
        fallback_id,
        SourceKind::Jsonl,
    );
    out.extend(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_state_round_trips_through_json() {
        let mut st = JsonlState::default();
        st.files.insert(
            "main/s.jsonl".into(),
            FileCursor {
                file: FileId { dev: 3, ino: 4 },
                offset: 99,
                tail: Some(0xab),
                skipping: true,
            },
        );
        st.seen = LegacySeen::of(&[(1, 2)]);
        st.recent
            .insert("main/s.jsonl".into(), RecentCalls::default());
        let c = JsonlCursors(st);
        let back: JsonlCursors = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            serde_json::from_str::<JsonlCursors>("{}").unwrap(),
            JsonlCursors::default()
        );
    }
}
