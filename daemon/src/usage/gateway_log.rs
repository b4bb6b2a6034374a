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

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::sanitize_detail;
use super::{
    CallOutcome, CallRecord, FileId, GatewayLogCursor, GatewaySignal, SourceError, SourceKind,
    fnv1a64, last_line_boundary, read_lines_from,
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
}

/// Follows the gateway log.
pub struct GatewayLogSource {
    loc: LogLocation,
    state: GatewayLogCursor,
    start_at_end: bool,
    garbled_lines: u64,
    errors: Vec<SourceError>,
}

struct Candidate {
    path: PathBuf,
    meta: Metadata,
    family: String,
    /// `YYYY-MM-DD`, or empty for a fixed file.
    date: String,
    /// 0 for the live file, N for the `.N` archive.
    archive: u32,
}

/// Lines that can matter contain one of these (checked before parsing any JSON).
const MARKERS: &[&str] = &[
    "[model-fetch] response",
    "config hot reload applied",
    "config change applied",
    "config reload skipped",
    crate::modelscope::NOT_SERVED_MARK,
];

impl GatewayLogSource {
    /// With a brand-new cursor the first poll starts at the END of the newest file (older lines
    /// are history; the transcripts give today's counts). See [`start_at_end`](Self::start_at_end).
    pub fn new(loc: LogLocation, cursor: GatewayLogCursor) -> Self {
        GatewayLogSource {
            loc,
            state: cursor,
            start_at_end: true,
            garbled_lines: 0,
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

    /// The failure of the last poll, if any (also when it returned `Ok`).
    pub fn take_errors(&mut self) -> Vec<SourceError> {
        std::mem::take(&mut self.errors)
    }

    fn poll_inner(&mut self, out: &mut Vec<GatewaySignal>) -> Result<(), SourceError> {
        let cands = self.candidates()?;
        let state = &mut self.state.0;
        if !state.started {
            state.started = true;
            if self.start_at_end {
                if let Some(last) = cands.last() {
                    let mut f =
                        File::open(&last.path).map_err(|e| SourceError::io(&last.path, &e))?;
                    let meta = f.metadata().map_err(|e| SourceError::io(&last.path, &e))?;
                    let offset = last_line_boundary(&mut f, meta.len())
                        .map_err(|e| SourceError::io(&last.path, &e))?;
                    state.file = Some(LogPos {
                        path: last.path.clone(),
                        file: FileId::of(&meta),
                        offset,
                        head: head_of(&mut f),
                    });
                }
                return Ok(());
            }
        }
        if cands.is_empty() {
            return Ok(());
        }
        let (first, mut offset) = match &state.file {
            None => (0, 0),
            Some(pos) => {
                let found = cands.iter().position(|c| {
                    FileId::of(&c.meta) == pos.file
                        && (pos.head.is_none()
                            || File::open(&c.path).ok().and_then(|mut f| head_of(&mut f))
                                == pos.head)
                });
                match found {
                    Some(i) => (
                        i,
                        if cands[i].meta.len() >= pos.offset {
                            pos.offset
                        } else {
                            0
                        },
                    ),
                    None => {
                        // The file we were reading is gone (pruned, directory recreated): read
                        // the files from its day on, from their start.
                        let day = parse_rolling(
                            pos.path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
                        )
                        .map(|r| r.1.to_owned())
                        .unwrap_or_default();
                        (
                            cands
                                .iter()
                                .position(|c| c.date >= day)
                                .unwrap_or(cands.len()),
                            0,
                        )
                    }
                }
            }
        };
        let last = cands.len() - 1;
        let mut pending = Pending::default();
        for (i, c) in cands.iter().enumerate().skip(first) {
            let live = i == last;
            let mut f = match File::open(&c.path) {
                Ok(f) => f,
                // rotated away between listing and opening: it is read under its new name next time
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(SourceError::io(&c.path, &e)),
            };
            let meta = f.metadata().map_err(|e| SourceError::io(&c.path, &e))?;
            if FileId::of(&meta) != FileId::of(&c.meta) {
                // Rotated between listing and opening: the next poll sees the new layout.
                break;
            }
            let garbled = &mut self.garbled_lines;
            let read = read_lines_from(&c.path, &mut f, offset, !live, |line, _| {
                handle_line(line, garbled, out, &mut pending);
            })?;
            state.file = Some(LogPos {
                path: c.path.clone(),
                file: FileId::of(&meta),
                offset: read.end,
                head: head_of(&mut f),
            });
            offset = 0;
        }
        Ok(())
    }

    /// The log files to follow, oldest first; the live file last.
    fn candidates(&self) -> Result<Vec<Candidate>, SourceError> {
        let (dir, pinned, fixed) = match &self.loc {
            LogLocation::Dir(d) => (d.clone(), None, None),
            LogLocation::ProfileDir { dir, profile } => {
                (dir.clone(), Some(profile_family(profile.as_deref())), None)
            }
            LogLocation::File(f) => {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // OpenClaw treats a configured default-shaped rolling name as rolling.
                if name == "openclaw-YYYY-MM-DD.log"
                    || parse_rolling(name).is_some_and(|r| r.0 == "openclaw")
                {
                    (self.watch_dir(), Some("openclaw".to_owned()), None)
                } else {
                    (self.watch_dir(), None, Some(f.clone()))
                }
            }
        };
        if let Some(file) = fixed {
            let mut out = Vec::new();
            for n in (1..=5).rev() {
                let p = rotated_path(&file, n);
                if let Ok(meta) = std::fs::metadata(&p).filter_file() {
                    out.push(Candidate {
                        path: p,
                        meta,
                        family: String::new(),
                        date: String::new(),
                        archive: n,
                    });
                }
            }
            if let Ok(meta) = std::fs::metadata(&file).filter_file() {
                out.push(Candidate {
                    path: file,
                    meta,
                    family: String::new(),
                    date: String::new(),
                    archive: 0,
                });
            }
            return Ok(out);
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SourceError::io(&dir, &e)),
        };
        let mut all = Vec::new();
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some((family, date, archive)) = parse_rolling(&name) else {
                continue;
            };
            let Ok(meta) = entry.metadata().filter_file() else {
                continue;
            };
            all.push(Candidate {
                path: entry.path(),
                meta,
                family: family.to_owned(),
                date: date.to_owned(),
                archive,
            });
        }
        let family = pinned.or_else(|| {
            // Stay with the profile already followed while it has files; else the newest file's.
            let current =
                self.state.0.file.as_ref().and_then(|p| {
                    parse_rolling(p.path.file_name()?.to_str()?).map(|r| r.0.to_owned())
                });
            current
                .filter(|f| all.iter().any(|c| &c.family == f))
                .or_else(|| {
                    all.iter()
                        .max_by(|a, b| {
                            (&a.date, a.meta.modified().ok())
                                .cmp(&(&b.date, b.meta.modified().ok()))
                        })
                        .map(|c| c.family.clone())
                })
        });
        let Some(family) = family else {
            return Ok(Vec::new());
        };
        all.retain(|c| c.family == family);
        all.sort_by(|a, b| {
            (&a.date, a.archive == 0, std::cmp::Reverse(a.archive)).cmp(&(
                &b.date,
                b.archive == 0,
                std::cmp::Reverse(b.archive),
            ))
        });
        Ok(all)
    }
}

trait FilterFile {
    fn filter_file(self) -> std::io::Result<Metadata>;
}

impl FilterFile for std::io::Result<Metadata> {
    fn filter_file(self) -> std::io::Result<Metadata> {
        self.and_then(|m| {
            if m.is_file() {
                Ok(m)
            } else {
                Err(std::io::ErrorKind::InvalidInput.into())
            }
        })
    }
}

/// `a/b/x.log` → `a/b/x.N.log` (OpenClaw's rotatedLogPath).
fn rotated_path(file: &Path, n: u32) -> PathBuf {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let rotated = match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}.{n}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}.{n}"),
    };
    file.with_file_name(rotated)
}

/// `openclaw[-<profile segment>]-YYYY-MM-DD[.N].log` → (family, date, archive index).
pub(crate) fn parse_rolling(name: &str) -> Option<(&str, &str, u32)> {
    let stem = name.strip_suffix(".log")?;
    let (stem, archive) = match stem.rsplit_once('.') {
        Some((s, n)) if !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) => {
            (s, n.parse().ok()?)
        }
        _ => (stem, 0),
    };
    let split = stem.len().checked_sub(11)?;
    if !stem.is_char_boundary(split) {
        return None;
    }
    let (family, dash_date) = stem.split_at(split);
    let d = dash_date.as_bytes();
    let shape = d[0] == b'-'
        && d[5] == b'-'
        && d[8] == b'-'
        && [1, 2, 3, 4, 6, 7, 9, 10]
            .iter()
            .all(|&i| d[i].is_ascii_digit());
    if !shape {
        return None;
    }
    let ok_family = family == "openclaw"
        || family.strip_prefix("openclaw-").is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    ok_family.then(|| (family, &dash_date[1..], archive))
}

/// The file family of a profile, as OpenClaw's encodeLogProfileSegment names it.
fn profile_family(profile: Option<&str>) -> String {
    let Some(p) = profile
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("default"))
    else {
        return "openclaw".to_owned();
    };
    let mut seg = String::new();
    for ch in p.chars() {
        match ch {
            'a'..='z' | '0'..='9' => seg.push(ch),
            '-' => seg.push_str("--"),
            '_' => seg.push_str("-0"),
            'A'..='Z' => {
                seg.push_str("-1");
                seg.push(ch.to_ascii_lowercase());
            }
            other => seg.push_str(&format!("-2{:x}-", other as u32)),
        }
    }
    // (Segments over 220 chars are a sha256 in OpenClaw; such profiles are not supported here.)
    format!("openclaw-{seg}")
}

/// Hash of a file's first complete line (at most 4 KiB are looked at).
fn head_of(f: &mut File) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(0)).ok()?;
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let first = match buf[..n].iter().position(|b| *b == b'\n') {
        Some(i) => &buf[..i],
        None if n == buf.len() => &buf[..n],
        None => return None,
    };
    Some(format!("{:016x}", fnv1a64(&[first])))
}

/// Call records of this batch that a later "has no provider supported" line may turn into Gone.
#[derive(Default)]
struct Pending {
    bad_requests: Vec<usize>,
}

fn handle_line(
    line: &[u8],
    garbled: &mut u64,
    out: &mut Vec<GatewaySignal>,
    pending: &mut Pending,
) {
    if !MARKERS.iter().any(|m| contains(line, m.as_bytes())) {
        return;
    }
    let Some(parsed) = parse_line(line) else {
        *garbled += 1;
        return;
    };
    match parsed {
        Parsed::Signal(sig) => {
            if let GatewaySignal::Call(CallRecord {
                outcome:
                    CallOutcome::Failed {
                        status: Some(400), ..
                    },
                ..
            }) = &sig
            {
                pending.bad_requests.push(out.len());
            }
            out.push(sig);
        }
        Parsed::NoProvider { at, text } => {
            // Upgrade the latest 400 of this batch (preferring one whose model the text names)
            // that came at most a minute before.
            let recent = |i: &&usize| match &out[**i] {
                GatewaySignal::Call(r) => r.at <= at && at.duration_since(r.at).as_secs() <= 60,
                _ => false,
            };
            let named =
                pending.bad_requests.iter().rev().filter(recent).find(
                    |i| matches!(&out[**i], GatewaySignal::Call(r) if text.contains(&r.model)),
                );
            let target = named
                .or_else(|| pending.bad_requests.iter().rev().find(recent))
                .copied();
            if let Some(i) = target {
                if let GatewaySignal::Call(r) = &mut out[i] {
                    r.outcome = CallOutcome::Gone {
                        detail: sanitize_detail(&text),
                    };
                }
                pending.bad_requests.retain(|j| *j != i);
            }
        }
        Parsed::Nothing => {}
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What one log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Signal(GatewaySignal),
    /// A "has no provider supported" error text (may turn a preceding 400 into Gone).
    NoProvider {
        at: Timestamp,
        text: String,
    },
    /// A valid record that says nothing of interest.
    Nothing,
}

/// Parses one log line. `None`: not a JSON object, or no readable time.
pub fn parse_line(line: &[u8]) -> Option<Parsed> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let obj = v.as_object()?;
    let at = obj
        .get("time")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .or_else(|| {
            obj.get("_meta")?
                .get("date")?
                .as_str()?
                .parse::<Timestamp>()
                .ok()
        })?;
    let mut texts = Vec::new();
    for (k, v) in obj {
        if k != "_meta" && k != "time" {
            collect_strings(v, 0, &mut texts);
        }
    }
    for text in &texts {
        if let Some(sig) = recognize(text, at) {
            return Some(Parsed::Signal(sig));
        }
    }
    if let Some(text) = texts.iter().find(|t| {
        t.to_ascii_lowercase()
            .contains(crate::modelscope::NOT_SERVED_MARK)
    }) {
        return Some(Parsed::NoProvider {
            at,
            text: (*text).to_owned(),
        });
    }
    Some(Parsed::Nothing)
}

fn collect_strings<'a>(v: &'a Value, depth: usize, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) if depth < 4 => a.iter().for_each(|x| collect_strings(x, depth + 1, out)),
        Value::Object(o) if depth < 4 => {
            o.values().for_each(|x| collect_strings(x, depth + 1, out))
        }
        _ => {}
    }
}

fn recognize(text: &str, at: Timestamp) -> Option<GatewaySignal> {
    if let Some(i) = text.find("[model-fetch] response ") {
        return model_fetch(&text[i + "[model-fetch] response ".len()..], at)
            .map(GatewaySignal::Call);
    }
    if let Some(paths) = paren_list(text, "config hot reload applied (") {
        return Some(GatewaySignal::ReloadApplied { at, paths });
    }
    if let Some(paths) = paren_list(text, "config change applied (dynamic reads: ") {
        return Some(GatewaySignal::ReloadApplied { at, paths });
    }
    if let Some(i) = text.find("config reload skipped") {
        let rest = text[i + "config reload skipped".len()..].trim();
        let reason = match rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((inner, after)) => {
                let after = after.trim_start_matches(':').trim();
                if after.is_empty() {
                    inner.to_owned()
                } else {
                    format!("{inner}: {after}")
                }
            }
            None => rest.to_owned(),
        };
        return Some(GatewaySignal::ReloadSkipped {
            at,
            reason: sanitize_detail(&reason),
        });
    }
    None
}

/// `provider=P api=A model=M status=NNN elapsedMs=…` → a call record.
fn model_fetch(fields: &str, at: Timestamp) -> Option<CallRecord> {
    let (mut provider, mut model, mut status) = (None, None, None);
    for tok in fields.split_whitespace() {
        let Some((k, v)) = tok.split_once('=') else {
            continue;
        };
        match k {
            "provider" if provider.is_none() => provider = Some(v),
            "model" if model.is_none() => model = Some(v),
            "status" if status.is_none() => status = v.parse::<u16>().ok(),
            _ => {}
        }
    }
    let (provider, model, status) = (
        provider.filter(|p| !p.is_empty())?,
        model.filter(|m| !m.is_empty())?,
        status?,
    );
    let outcome = match status {
        200..=299 => CallOutcome::Success,
        429 => CallOutcome::RateLimited {
            retry_loop_failed: false,
        },
        404 => CallOutcome::Gone {
            detail: "HTTP 404".to_owned(),
        },
        s => CallOutcome::Failed {
            status: Some(s),
            detail: format!("HTTP {s}"),
        },
    };
    Some(CallRecord {
        provider: provider.to_owned(),
        model: model.to_owned(),
        at,
        outcome,
        source: SourceKind::GatewayLog,
    })
}

fn paren_list(text: &str, marker: &str) -> Option<Vec<String>> {
    let i = text.find(marker)?;
    let rest = &text[i + marker.len()..];
    let inner = &rest[..rest.rfind(')')?];
    Some(
        inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn rolling_names_are_recognised() {
        assert_eq!(
            parse_rolling("openclaw-2026-07-08.log"),
            Some(("openclaw", "2026-07-08", 0))
        );
        assert_eq!(
            parse_rolling("openclaw-2026-07-08.3.log"),
            Some(("openclaw", "2026-07-08", 3))
        );
        assert_eq!(
            parse_rolling("openclaw-work-2026-07-08.log"),
            Some(("openclaw-work", "2026-07-08", 0))
        );
        assert_eq!(
            parse_rolling("openclaw-w--x-1a-2026-07-08.1.log"),
            Some(("openclaw-w--x-1a", "2026-07-08", 1))
        );
        for bad in [
            "openclaw.log",
            "openclaw-2026-07-8.log",
            "other-2026-07-08.log",
            "openclaw-Work-2026-07-08.log",
            "openclaw-2026-07-08.log.gz",
            "openclaw--2026-07-08.log",
            "é-2026-07-08.log",
            ".log",
        ] {
            assert_eq!(parse_rolling(bad), None, "{bad}");
        }
        assert_eq!(profile_family(None), "openclaw");
        assert_eq!(profile_family(Some("Default")), "openclaw");
        assert_eq!(profile_family(Some("work")), "openclaw-work");
        assert_eq!(profile_family(Some("My_bot-2")), "openclaw--1my-0bot--2");
        assert_eq!(
            rotated_path(Path::new("/l/gw.log"), 2),
            PathBuf::from("/l/gw.2.log")
        );
        assert_eq!(
            rotated_path(Path::new("/l/gw"), 1),
            PathBuf::from("/l/gw.1")
        );
    }

    #[test]
    fn model_fetch_lines_become_calls() {
        let line = r#"{"0":"{\"subsystem\":\"provider-transport-fetch\"}","1":"[model-fetch] response provider=modelscope api=openai-completions model=Qwen/Qwen3.5-397B-A17B status=429 elapsedMs=812 dispatcher=reused contentType=application/json","_meta":{"date":"2026-07-09T01:41:50.257Z","logLevelName":"INFO"},"time":"2026-07-08T22:41:50.257-03:00"}"#;
        let Some(Parsed::Signal(GatewaySignal::Call(r))) = parse_line(line.as_bytes()) else {
            panic!()
        };
        assert_eq!(
            (r.provider.as_str(), r.model.as_str()),
            ("modelscope", "Qwen/Qwen3.5-397B-A17B")
        );
        assert_eq!(
            r.outcome,
            CallOutcome::RateLimited {
                retry_loop_failed: false
            }
        );
        assert_eq!(r.at, ts("2026-07-09T01:41:50.257Z"));
        assert_eq!(r.source, SourceKind::GatewayLog);
        for (status, outcome) in [
            ("200", CallOutcome::Success),
            (
                "404",
                CallOutcome::Gone {
                    detail: "HTTP 404".into(),
                },
            ),
            (
                "400",
                CallOutcome::Failed {
                    status: Some(400),
                    detail: "HTTP 400".into(),
                },
            ),
            (
                "503",
                CallOutcome::Failed {
                    status: Some(503),
                    detail: "HTTP 503".into(),
                },
            ),
        ] {
            let l = line.replace("status=429", &format!("status={status}"));
            let Some(Parsed::Signal(GatewaySignal::Call(r))) = parse_line(l.as_bytes()) else {
                panic!()
            };
            assert_eq!(r.outcome, outcome);
        }
        // no time → not usable; _meta.date is the fallback
        let no_time = line.replace(r#","time":"2026-07-08T22:41:50.257-03:00""#, "");
        assert!(matches!(
            parse_line(no_time.as_bytes()),
            Some(Parsed::Signal(_))
        ));
        let no_time_at_all = no_time.replace(r#""date":"2026-07-09T01:41:50.257Z","#, "");
        assert_eq!(parse_line(no_time_at_all.as_bytes()), None);
        // a start line or a response without status is nothing
        let start = line.replace("[model-fetch] response", "[model-fetch] start");
        assert_eq!(parse_line(start.as_bytes()), Some(Parsed::Nothing));
    }

    #[test]
    fn message_in_field_2_when_1_is_an_object() {
        let line = r#"{"0":"{\"subsystem\":\"gateway/reload\"}","1":{"event":"x"},"2":"config hot reload applied (agents.defaults.model.primary, agents.defaults.model.fallbacks)","time":"2026-07-08T22:41:50.257-03:00"}"#;
        assert_eq!(
            parse_line(line.as_bytes()),
            Some(Parsed::Signal(GatewaySignal::ReloadApplied {
                at: ts("2026-07-09T01:41:50.257Z"),
                paths: vec![
                    "agents.defaults.model.primary".into(),
                    "agents.defaults.model.fallbacks".into()
                ]
            }))
        );
    }

    #[test]
    fn reload_skipped_reasons() {
        let mk = |m: &str| format!(r#"{{"1":"{m}","time":"2026-07-08T22:41:50Z"}}"#);
        let reason = |m: &str| match parse_line(mk(m).as_bytes()) {
            Some(Parsed::Signal(GatewaySignal::ReloadSkipped { reason, .. })) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(
                "config reload skipped (invalid config): agents.defaults.model.primary: Invalid input"
            ),
            "invalid config: agents.defaults.model.primary: Invalid input"
        );
        assert_eq!(
            reason("config reload skipped (config file not found)"),
            "config file not found"
        );
        assert_eq!(
            reason("config reload skipped by writer intent (noop)"),
            "by writer intent (noop)"
        );
        let applied = parse_line(
            mk("config change applied (dynamic reads: agents.defaults.model.primary)").as_bytes(),
        );
        assert!(
            matches!(applied, Some(Parsed::Signal(GatewaySignal::ReloadApplied { ref paths, .. })) if paths == &vec!["agents.defaults.model.primary".to_string()])
        );
    }

    #[test]
    fn a_400_followed_by_no_provider_supported_is_gone() {
        let mut out = Vec::new();
        let mut g = 0;
        let mut p = Pending::default();
        let resp = |model: &str, t: &str| {
            format!(
                r#"{{"1":"[model-fetch] response provider=modelscope api=openai-completions model={model} status=400 elapsedMs=5","time":"{t}"}}"#
            )
        };
        handle_line(
            resp("A/a", "2026-07-08T10:00:00Z").as_bytes(),
            &mut g,
            &mut out,
            &mut p,
        );
        handle_line(
            resp("B/b", "2026-07-08T10:00:01Z").as_bytes(),
            &mut g,
            &mut out,
            &mut p,
        );
        let err = r#"{"1":"embedded run agent end: isError=true model=A/a provider=modelscope error=400 Model A/a has no provider supported","time":"2026-07-08T10:00:02Z"}"#;
        handle_line(err.as_bytes(), &mut g, &mut out, &mut p);
        let outcomes: Vec<_> = out
            .iter()
            .map(|s| match s {
                GatewaySignal::Call(r) => r.outcome.clone(),
                _ => panic!(),
            })
            .collect();
        assert!(
            matches!(outcomes[0], CallOutcome::Gone { .. }),
            "{outcomes:?}"
        );
        assert_eq!(
            outcomes[1],
            CallOutcome::Failed {
                status: Some(400),
                detail: "HTTP 400".into()
            }
        );
        assert_eq!(g, 0);
        assert_eq!(out.len(), 2, "the error line itself is not another call");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use serde_json::json;

        fn message() -> impl Strategy<Value = String> {
            prop_oneof![
                ".{0,120}",
                ("[a-z]{1,10}", "\\PC{1,30}", any::<u16>(), ".{0,20}").prop_map(|(p, m, s, rest)| format!(
                    "[model-fetch] response provider={p} api=openai-completions model={m} status={s} elapsedMs=3 {rest}"
                )),
                prop::collection::vec("[a-z.]{1,20}", 0..4).prop_map(|v| format!("config hot reload applied ({})", v.join(", "))),
                ".{0,60}".prop_map(|r| format!("config reload skipped (invalid config): {r}")),
                ".{0,60}".prop_map(|r| format!("error=400 {r} has no provider supported")),
            ]
        }

        fn log_line() -> impl Strategy<Value = String> {
            (message(), any::<bool>(), 0i64..4_000_000_000_000).prop_map(|(msg, second_field, ms)| {
                let time = jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
                let v = if second_field {
                    json!({"0": "{\"subsystem\":\"x\"}", "1": {"event": "e"}, "2": msg, "_meta": {"date": time}})
                } else {
                    json!({"0": "{\"subsystem\":\"x\"}", "1": msg, "time": time})
                };
                v.to_string()
            })
        }

        proptest! {
            #[test]
            fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                let _ = parse_line(&bytes);
                let _ = parse_rolling(&String::from_utf8_lossy(&bytes));
                let (mut g, mut out, mut p) = (0, Vec::new(), Pending::default());
                handle_line(&bytes, &mut g, &mut out, &mut p);
            }

            #[test]
            fn log_lines_parse_and_every_truncation_is_rejected(line in log_line()) {
                let parsed = parse_line(line.as_bytes());
                prop_assert!(parsed.is_some(), "{}", line);
                if let Some(Parsed::Signal(GatewaySignal::Call(r))) = &parsed {
                    prop_assert!(!r.model.is_empty() && !r.provider.is_empty());
                }
                for cut in (0..line.len()).filter(|i| line.is_char_boundary(*i)).step_by(5) {
                    prop_assert_eq!(parse_line(&line.as_bytes()[..cut]), None);
                }
            }

            #[test]
            fn a_batch_of_mixed_lines_never_panics(lines in prop::collection::vec(prop_oneof![
                log_line(),
                log_line().prop_map(|l| { let cut = (0..=l.len() / 2).rev().find(|i| l.is_char_boundary(*i)).unwrap_or(0); l[..cut].to_owned() }),
                ".{0,80}",
            ], 0..20)) {
                let (mut g, mut out, mut p) = (0, Vec::new(), Pending::default());
                for l in &lines {
                    handle_line(l.as_bytes(), &mut g, &mut out, &mut p);
                }
                prop_assert!(g as usize + out.len() <= lines.len());
            }

            #[test]
            fn rolling_names_round_trip(profile in "[a-z0-9][a-z0-9-]{0,10}", y in 1000u32..9999, m in 1u32..13, d in 1u32..32, n in 0u32..6) {
                let date = format!("{y:04}-{m:02}-{d:02}");
                let family = format!("openclaw-{profile}");
                let name = if n == 0 { format!("{family}-{date}.log") } else { format!("{family}-{date}.{n}.log") };
                prop_assert_eq!(parse_rolling(&name), Some((family.as_str(), date.as_str(), n)));
            }
        }
    }
}
