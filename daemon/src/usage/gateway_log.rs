//! The gateway's file log: tslog JSON lines in `/tmp/openclaw/openclaw-YYYY-MM-DD.log`.
//!
//! Facts (openclaw@2026.9.6, src/logging/log-file-path.ts and logger-file-transport.ts):
//! - the name carries the gateway's LOCAL date: `openclaw-YYYY-MM-DD.log`, or
//!   `openclaw-<profile segment>-YYYY-MM-DD.log` for a named profile; the reader follows the newest
//!   file by date, never computes today's name;
//! - at `logging.maxFileBytes` the file is renamed to `….1.log` (older archives shift up to `.5`)
//!   and a new file is started under the same name; the reader finds the file it was reading by
//!   its inode, finishes it, then reads what came after;
//! - `logging.file` sets one fixed file (rotated the same way); a configured name shaped like
//!   `openclaw-YYYY-MM-DD.log` still rolls daily in its directory;
//! - a line is `{"0":"{\"subsystem\":\"…\"}","1":"<message>",…,"_meta":{…,"date":"…Z"},
//!   "time":"2026-07-08T22:41:50.257-03:00"}`; the message is in "1", or in "2" when "1" is an
//!   object, so every string field is searched.
//!
//! Recognised: `[model-fetch] response provider=P api=A model=M status=NNN …` (logged at info
//! when not OK or slow; fast 200s only at debug), `config hot reload applied (a, b)`,
//! `config change applied (dynamic reads: a, b)`, `config reload skipped …`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{
    FileId, GatewayLogCursor, GatewaySignal, LineStart, SourceError, last_line_boundary,
    read_lines_from,
};

mod access;
mod batch;
mod files;
mod line;
mod location;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_access;

use batch::{Pending, handle_line};
pub(crate) use files::parse_rolling;
use files::{Candidate, head_of};
pub use line::{Parsed, parse_line};
pub use location::{
    LogSource, PREFERRED_DIR, PREFERRED_DIR_ENV, ResolvedLog, resolve_log_location,
};

/// Where the gateway writes its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// OpenClaw's rolling log directory (`/tmp/openclaw`): follows the newest dated file (of the
    /// profile it was following, once it follows one).
    Dir(PathBuf),
    /// The rolling directory, pinned to one profile's files (`openclaw-<profile>-YYYY-MM-DD.log`;
    /// `None` or `"default"`: `openclaw-YYYY-MM-DD.log`).
    ProfileDir {
        dir: PathBuf,
        profile: Option<String>,
    },
    /// `logging.file`: one fixed file and its `.N` archives.
    File(PathBuf),
}

#[derive(Debug, Serialize, Deserialize, Default, Clone, PartialEq)]
pub(crate) struct LogState {
    /// False only for a brand-new cursor (first start).
    #[serde(default)]
    started: bool,
    #[serde(default)]
    file: Option<LogPos>,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
struct LogPos {
    /// Where the file was when last read (it may have been rotated to `….1.log` since).
    path: PathBuf,
    file: FileId,
    /// Just past the last complete line read.
    offset: u64,
    /// Hash of the file's first line: tells a new file that reused the inode number.
    #[serde(default)]
    head: Option<String>,
    /// `offset` is inside a line too long to read, skipped up to its newline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    skipping: bool,
}

/// Follows the gateway log.
pub struct GatewayLogSource {
    loc: LogLocation,
    state: GatewayLogCursor,
    start_at_end: bool,
    garbled_lines: u64,
    long_lines: u64,
    errors: Vec<SourceError>,
}

impl GatewayLogSource {
    /// With a brand-new cursor the first poll starts at the END of the newest file (older lines
    /// are history; the transcripts give today's counts). See [`start_at_end`](Self::start_at_end).
    pub fn new(loc: LogLocation, cursor: GatewayLogCursor) -> Self {
        GatewayLogSource {
            loc,
            state: cursor,
            start_at_end: true,
            garbled_lines: 0,
            long_lines: 0,
            errors: Vec::new(),
        }
    }

    /// Whether a brand-new cursor starts at the end of the newest file (default) or reads the
    /// files present from their start.
    pub fn start_at_end(mut self, at_end: bool) -> Self {
        self.start_at_end = at_end;
        self
    }

    /// Reads what was appended since the last poll. The directory (or file) missing is not an
    /// error: the gateway may not have started yet, and a recreated directory is picked up.
    /// `Err` when a file could not be read and nothing was read (the failure is also in
    /// [`take_errors`](Self::take_errors)); what was read before a failure is returned.
    pub fn poll(&mut self) -> Result<Vec<GatewaySignal>, SourceError> {
        self.errors.clear();
        let mut out = Vec::new();
        if let Err(e) = self.poll_inner(&mut out) {
            self.errors.push(e.clone());
            if out.is_empty() {
                return Err(e);
            }
        }
        Ok(out)
    }

    pub fn cursor(&self) -> &GatewayLogCursor {
        &self.state
    }

    /// The directory to watch (non-recursively) for new lines and new files.
    pub fn watch_dir(&self) -> PathBuf {
        match &self.loc {
            LogLocation::Dir(d) | LogLocation::ProfileDir { dir: d, .. } => d.clone(),
            LogLocation::File(f) => match f.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
        }
    }

    /// Lines that looked relevant but were not a JSON log record: skipped.
    pub fn garbled_lines(&self) -> u64 {
        self.garbled_lines
    }

    /// Lines longer than [`MAX_LINE_BYTES`](super::MAX_LINE_BYTES): skipped without being read.
    pub fn long_lines(&self) -> u64 {
        self.long_lines
    }

    /// The failure of the last poll, if any (also when it returned `Ok`).
    pub fn take_errors(&mut self) -> Vec<SourceError> {
        std::mem::take(&mut self.errors)
    }

    fn poll_inner(&mut self, out: &mut Vec<GatewaySignal>) -> Result<(), SourceError> {
        let cands = self.candidates()?;
        if !self.state.0.started {
            self.state.0.started = true;
            if self.start_at_end {
                if let Some(newest) = cands.last() {
                    self.state.0.file = Some(end_of(newest)?);
                }
                return Ok(());
            }
        }
        if cands.is_empty() {
            return Ok(());
        }
        let (first, start) = self.resume_point(&cands);
        self.read_on(&cands, first, start, out)
    }

    /// Which candidate to read on from, and at what offset.
    fn resume_point(&self, cands: &[Candidate]) -> (usize, LineStart) {
        let Some(pos) = &self.state.0.file else {
            return (0, LineStart::default());
        };
        let found = cands.iter().position(|c| {
            FileId::of(&c.meta) == pos.file
                && (pos.head.is_none()
                    || access::open_owned(&c.path)
                        .ok()
                        .and_then(|(mut f, _)| head_of(&mut f))
                        == pos.head)
        });
        match found {
            Some(i) => (
                i,
                if cands[i].meta.len() >= pos.offset {
                    LineStart {
                        offset: pos.offset,
                        skipping: pos.skipping,
                    }
                } else {
                    LineStart::default()
                },
            ),
            None => {
                // The file we were reading is gone (pruned, directory recreated): read the files
                // from its day on, from their start.
                let day =
                    parse_rolling(pos.path.file_name().and_then(|n| n.to_str()).unwrap_or(""))
                        .map(|r| r.1.to_owned())
                        .unwrap_or_default();
                (
                    cands
                        .iter()
                        .position(|c| c.date >= day)
                        .unwrap_or(cands.len()),
                    LineStart::default(),
                )
            }
        }
    }

    /// Reads `cands[first..]`, the first from `offset`, the others whole; the live (last) file up
    /// to its last complete line, an archive to its end.
    fn read_on(
        &mut self,
        cands: &[Candidate],
        first: usize,
        mut start: LineStart,
        out: &mut Vec<GatewaySignal>,
    ) -> Result<(), SourceError> {
        let last = cands.len() - 1;
        let mut pending = Pending::default();
        for (i, c) in cands.iter().enumerate().skip(first) {
            let live = i == last;
            let (mut f, meta) = match access::open_owned(&c.path) {
                Ok(opened) => opened,
                // rotated away between listing and opening: it is read under its new name next time
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(SourceError::io(&c.path, &e)),
            };
            if FileId::of(&meta) != FileId::of(&c.meta) {
                // Rotated between listing and opening: the next poll sees the new layout.
                break;
            }
            let garbled = &mut self.garbled_lines;
            let read = read_lines_from(&c.path, &mut f, start, !live, |line, _| {
                handle_line(line, garbled, out, &mut pending);
            })?;
            self.note_long_lines(&c.path, read.long_lines);
            self.state.0.file = Some(LogPos {
                path: c.path.clone(),
                file: FileId::of(&meta),
                offset: read.end,
                head: head_of(&mut f),
                skipping: read.skipping,
            });
            start = LineStart::default();
        }
        Ok(())
    }

    /// Counts over-long lines; the first one is warned about (once per source, not per line).
    fn note_long_lines(&mut self, path: &std::path::Path, n: u64) {
        if n > 0 && self.long_lines == 0 {
            tracing::warn!(path = %path.display(), "the gateway log has a line over {} bytes: skipped (and any more such lines)", super::MAX_LINE_BYTES);
        }
        self.long_lines += n;
    }
}

/// The position just past the last complete line of `newest`: where following starts when the
/// lines already there are history.
fn end_of(newest: &Candidate) -> Result<LogPos, SourceError> {
    let (mut f, meta) =
        access::open_owned(&newest.path).map_err(|e| SourceError::io(&newest.path, &e))?;
    let offset =
        last_line_boundary(&mut f, meta.len()).map_err(|e| SourceError::io(&newest.path, &e))?;
    Ok(LogPos {
        path: newest.path.clone(),
        file: FileId::of(&meta),
        offset,
        head: head_of(&mut f),
        skipping: false,
    })
}
