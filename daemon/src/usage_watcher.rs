//! The thread that follows OpenClaw's files: notify events (no polling) wake it, it reads what is
//! new from each usage source, and puts one batch with the sources' cursors in the engine's inbox,
//! so the engine can persist counts and cursors together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use msclaw_shared::SourceStatus;
use notify::{RecursiveMode, Watcher};

use crate::clock::Clock;
use crate::inbox::{InboxMsg, InboxSender, UsageBatch};
use crate::quota_calendar::QuotaCalendar;
use crate::state_store::Cursors;
use crate::usage::gateway_log::{GatewayLogSource, LogLocation};
use crate::usage::jsonl::JsonlSource;
use crate::usage::sqlite::SqliteSource;
use crate::usage::{SourceError, SourceErrorKind};

/// Events closer together than this are read as one batch.
const COALESCE: Duration = Duration::from_millis(15);
/// A database a writer holds locked is tried again this often: its release writes nothing, so no
/// file event would say when to.
const LOCKED_RETRY: Duration = Duration::from_millis(500);
/// ... but a batch is read after this long at most, however busy the files are (a steady stream of
/// events would otherwise hold off every read).
const MAX_BATCH: Duration = Duration::from_millis(50);

/// The sources' names in status (`SourceStatus::kind`) and the log.
const SQLITE: &str = "sqlite";
const JSONL: &str = "jsonl";
const GATEWAY_LOG: &str = "gateway_log";

pub struct WatchTargets {
    pub openclaw_state_dir: PathBuf,
    /// The OpenClaw config and any file it includes.
    pub config_files: Vec<PathBuf>,
    pub log: LogLocation,
}

pub enum WatcherCmd {
    /// Read every source now (the engine's once-a-minute safety net, and after a reset).
    Rescan,
    /// Follow these files; the first one starts the watcher.
    SetTargets(WatchTargets),
    Stop,
}

enum Input {
    Fs(notify::Result<notify::Event>),
    Cmd(WatcherCmd),
}

#[derive(Clone)]
pub struct WatcherHandle {
    tx: std_mpsc::Sender<Input>,
}

impl WatcherHandle {
    pub fn send(&self, cmd: WatcherCmd) {
        let _ = self.tx.send(Input::Cmd(cmd));
    }
}

/// One usage source and what went wrong at its last read.
struct Slot<S> {
    reader: S,
    error: Option<String>,
}

impl<S> Slot<S> {
    fn new(reader: S) -> Self {
        Self {
            reader,
            error: None,
        }
    }

    /// Keeps the read's errors (a read can find records and still fail for some file).
    fn note_errors(&mut self, kind: &str, errors: Vec<String>) {
        let mut errors = errors;
        errors.dedup();
        self.error = (!errors.is_empty()).then(|| errors.join("; "));
        if let Some(err) = &self.error {
            tracing::warn!(source = kind, "reading usage failed: {err}");
        }
    }

    fn status(&self, kind: &str, path: String, records_seen: u64) -> SourceStatus {
        SourceStatus {
            kind: kind.into(),
            path,
            records_seen,
            last_error: self.error.clone(),
        }
    }
}

/// A catch-up under way (polls back to back), so its end can say how long it took.
#[derive(Default)]
struct CatchUp {
    started: Option<Instant>,
    records: usize,
}

impl CatchUp {
    fn note(&mut self, polled_at: Instant, batch: &UsageBatch) {
        let started = *self.started.get_or_insert(polled_at);
        self.records += batch.records.len();
        if batch.catching_up {
            return;
        }
        if self.records > 0 && polled_at > started {
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(records = self.records, ms, "caught up on the transcripts");
        }
        *self = CatchUp::default();
    }
}

struct Sources {
    sqlite: Slot<SqliteSource>,
    jsonl: Slot<JsonlSource>,
    log: Slot<GatewayLogSource>,
    /// A transcript database was locked at the last poll.
    locked: bool,
}

impl Sources {
    /// A transcript reader stopped at its per-poll bound: read on at once.
    fn catching_up(&self) -> bool {
        self.sqlite.reader.has_more() || self.jsonl.reader.has_more()
    }
}

/// Which kinds of files changed, so which sources to read.
#[derive(Debug, Clone, Copy, Default)]
struct Dirty {
    transcripts: bool,
    log: bool,
    config: bool,
}

impl Dirty {
    const ALL: Dirty = Dirty {
        transcripts: true,
        log: true,
        config: true,
    };
    const USAGE: Dirty = Dirty {
        transcripts: true,
        log: true,
        config: false,
    };

    fn add(&mut self, other: Dirty) {
        self.transcripts |= other.transcripts;
        self.log |= other.log;
        self.config |= other.config;
    }
}

/// Starts the watcher thread. It reads nothing until the engine sends its first
/// [`WatcherCmd::SetTargets`] (the targets come from the config the engine reads).
pub fn spawn(
    cursors: Cursors,
    clock: Arc<dyn Clock>,
    calendar: QuotaCalendar,
    inbox: InboxSender,
) -> std::io::Result<WatcherHandle> {
    let (tx, rx) = std_mpsc::channel();
    let fs_tx = tx.clone();
    let watcher = notify::recommended_watcher(move |event| {
        let _ = fs_tx.send(Input::Fs(event));
    })
    .map_err(std::io::Error::other)?;
    let reading = Reading {
        clock,
        calendar,
        inbox,
    };
    std::thread::Builder::new()
        .name("usage-watcher".into())
        .spawn(move || {
            if let Some(targets) = first_targets(&rx) {
                run(targets, cursors, reading, watcher, rx);
            }
        })?;
    Ok(WatcherHandle { tx })
}

/// What a poll needs besides the sources: the day it reads, and where the batch goes.
struct Reading {
    clock: Arc<dyn Clock>,
    calendar: QuotaCalendar,
    inbox: InboxSender,
}

/// Waits for the engine's first targets; None when it stops first.
fn first_targets(rx: &std_mpsc::Receiver<Input>) -> Option<WatchTargets> {
    loop {
        match rx.recv().ok()? {
            Input::Cmd(WatcherCmd::SetTargets(targets)) => return Some(targets),
            Input::Cmd(WatcherCmd::Stop) => return None,
            // Nothing is watched or read yet: the first targets read everything anyway.
            Input::Cmd(WatcherCmd::Rescan) | Input::Fs(_) => {}
        }
    }
}

fn run(
    mut targets: WatchTargets,
    cursors: Cursors,
    reading: Reading,
    mut watcher: notify::RecommendedWatcher,
    rx: std_mpsc::Receiver<Input>,
) {
    let mut sources = Sources {
        sqlite: Slot::new(SqliteSource::new(
            &targets.openclaw_state_dir,
            cursors.sqlite,
        )),
        jsonl: Slot::new(JsonlSource::new(&targets.openclaw_state_dir, cursors.jsonl)),
        log: Slot::new(GatewayLogSource::new(
            targets.log.clone(),
            cursors.gateway_log,
        )),
        locked: false,
    };
    let mut watched = BTreeMap::new();
    refresh_watches(&mut watcher, &targets, &mut watched);
    // Catch up on today's records before following new ones.
    let mut dirty = Dirty::USAGE;
    let mut catch_up = CatchUp::default();
    loop {
        if dirty.transcripts || dirty.log {
            let polled_at = Instant::now();
            let batch = poll(&mut sources, &targets, dirty, &reading);
            catch_up.note(polled_at, &batch);
            if reading.inbox.blocking_send(InboxMsg::Usage(batch)).is_err() {
                return;
            }
        }
        if dirty.config
            && reading
                .inbox
                .blocking_send(InboxMsg::ConfigChanged)
                .is_err()
        {
            return;
        }
        // A directory that appeared (a new agent, its sessions, a recreated log directory, the
        // config's directory on a first run) is watched only from now on: what was written in it
        // before is read at once, and the config re-read when it may be inside.
        let appeared = refresh_watches(&mut watcher, &targets, &mut watched);
        if sources.catching_up() {
            // A catch-up in bounded polls: read on at once.
            dirty = Dirty::USAGE;
            continue;
        }
        if !appeared.is_empty() {
            dirty = Dirty::USAGE;
            dirty.config = targets
                .config_files
                .iter()
                .any(|file| appeared.iter().any(|dir| file.starts_with(dir)));
            continue;
        }
        match wait_for_change(&rx, &mut targets, &mut sources) {
            Some(changed) => dirty = changed,
            None => return,
        }
    }
}

/// Waits for something that matters and returns what it touched; None when the watcher should
/// stop. A wake-up by an open or a read alone goes back to waiting (looking at the directories
/// again would open them: another wake-up).
fn wait_for_change(
    rx: &std_mpsc::Receiver<Input>,
    targets: &mut WatchTargets,
    sources: &mut Sources,
) -> Option<Dirty> {
    let mut dirty = Dirty::default();
    let mut relevant = false;
    while !relevant {
        let first = if sources.locked {
            match rx.recv_timeout(LOCKED_RETRY) {
                Ok(input) => input,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    dirty.transcripts = true;
                    break;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        } else {
            rx.recv().ok()?
        };
        // Events closer together than COALESCE are one batch, up to MAX_BATCH.
        let batch_started = std::time::Instant::now();
        let mut next = Some(first);
        while let Some(input) = next {
            relevant |= !matches!(&input, Input::Fs(Ok(event)) if !changes_something(&event.kind));
            dirty.add(take_input(input, targets, sources)?);
            next = if batch_started.elapsed() < MAX_BATCH {
                rx.recv_timeout(COALESCE).ok()
            } else {
                None
            };
        }
    }
    Some(dirty)
}

/// What one event or command touched; None for Stop.
fn take_input(input: Input, targets: &mut WatchTargets, sources: &mut Sources) -> Option<Dirty> {
    let mut dirty = Dirty::default();
    match input {
        Input::Fs(Ok(event)) if !changes_something(&event.kind) => {}
        // The kernel's event queue overflowed: anything may have changed.
        Input::Fs(Ok(event)) if event.need_rescan() => dirty = Dirty::ALL,
        Input::Fs(Ok(event)) => {
            for path in &event.paths {
                dirty.add(classify(path, targets, sources));
            }
        }
        Input::Fs(Err(e)) => {
            tracing::warn!("file watch error: {e}; rescanning");
            dirty = Dirty::ALL;
        }
        Input::Cmd(WatcherCmd::Rescan) => dirty = Dirty::USAGE,
        Input::Cmd(WatcherCmd::Stop) => return None,
        Input::Cmd(WatcherCmd::SetTargets(new)) => {
            if new.log != targets.log {
                sources.log = Slot::new(GatewayLogSource::new(new.log.clone(), Default::default()));
            }
            *targets = new;
            dirty = Dirty::USAGE;
        }
    }
    Some(dirty)
}

/// Everything but an open, a read, or a close without writing.
fn changes_something(kind: &notify::EventKind) -> bool {
    // Opens, reads, closes and attribute changes carry no new data (a write also comes as a
    // modify event); msclaw's own read-only SQLite scans cause them, and must not wake it.
    !matches!(
        kind,
        notify::EventKind::Access(_)
            | notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_))
    )
}

fn classify(path: &Path, targets: &WatchTargets, sources: &Sources) -> Dirty {
    let agents = targets.openclaw_state_dir.join("agents");
    let transcripts = path.starts_with(&agents) || path == agents;
    let log = match &targets.log {
        LogLocation::File(file) => {
            path == file || path.parent() == file.parent() && is_rotation_of(path, file)
        }
        LogLocation::Dir(_) | LogLocation::ProfileDir { .. } => {
            path.starts_with(sources.log.reader.watch_dir())
        }
    };
    let config = targets.config_files.iter().any(|f| path == f);
    Dirty {
        transcripts,
        log,
        config,
    }
}

/// `openclaw.1.log` beside `openclaw.log`: OpenClaw's size rotation of a fixed log file.
fn is_rotation_of(path: &Path, file: &Path) -> bool {
    let (Some(name), Some(stem)) = (path.file_name(), file.file_stem()) else {
        return false;
    };
    name.to_string_lossy().starts_with(&*stem.to_string_lossy())
}

/// Reads the sources `dirty` names, from the start of the current quota day.
fn poll(
    sources: &mut Sources,
    targets: &WatchTargets,
    dirty: Dirty,
    reading: &Reading,
) -> UsageBatch {
    let since = reading
        .calendar
        .start_of(reading.calendar.day_of(reading.clock.now()));
    let mut records = Vec::new();
    let mut signals = Vec::new();
    // A poll can return records and still have failed for some file: both are kept.
    fn outcome<T>(
        result: Result<Vec<T>, SourceError>,
        more: Vec<SourceError>,
        into: &mut Vec<T>,
    ) -> Vec<String> {
        let mut errors: Vec<String> = more.iter().map(ToString::to_string).collect();
        match result {
            Ok(found) => into.extend(found),
            Err(e) => errors.insert(0, e.to_string()),
        }
        errors
    }
    if dirty.transcripts {
        let found = sources.sqlite.reader.poll(since);
        let errors = sources.sqlite.reader.take_errors();
        sources.locked = errors
            .iter()
            .chain(found.as_ref().err())
            .any(|e| e.kind == SourceErrorKind::Locked);
        let errors = outcome(found, errors, &mut records);
        sources.sqlite.note_errors(SQLITE, errors);
        let found = sources.jsonl.reader.poll(since);
        let errors = outcome(found, sources.jsonl.reader.take_errors(), &mut records);
        sources.jsonl.note_errors(JSONL, errors);
    }
    if dirty.log {
        let found = sources.log.reader.poll();
        let errors = outcome(found, sources.log.reader.take_errors(), &mut signals);
        sources.log.note_errors(GATEWAY_LOG, errors);
    }
    let agents = targets
        .openclaw_state_dir
        .join("agents")
        .display()
        .to_string();
    UsageBatch {
        catching_up: sources.catching_up(),
        records,
        signals,
        cursors: Cursors {
            sqlite: sources.sqlite.reader.cursors().clone(),
            jsonl: sources.jsonl.reader.cursors().clone(),
            gateway_log: sources.log.reader.cursor().clone(),
        },
        sources: vec![
            sources
                .sqlite
                .status(SQLITE, agents.clone(), sources.sqlite.reader.records_seen()),
            sources
                .jsonl
                .status(JSONL, agents, sources.jsonl.reader.records_seen()),
            sources.log.status(
                GATEWAY_LOG,
                sources.log.reader.watch_dir().display().to_string(),
                0,
            ),
        ],
    }
}

/// Watches directories, never single files (files are replaced by rename and logs roll by date),
/// and for a directory that does not exist yet its nearest existing parent, so its creation is seen.
fn desired_watches(targets: &WatchTargets, log_dir: &Path) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    let state = &targets.openclaw_state_dir;
    let agents = state.join("agents");
    dirs.insert(state.clone());
    dirs.insert(agents.clone());
    if let Ok(entries) = std::fs::read_dir(&agents) {
        for entry in entries.flatten() {
            dirs.insert(entry.path());
            dirs.insert(entry.path().join("agent"));
            dirs.insert(entry.path().join("sessions"));
        }
    }
    for file in &targets.config_files {
        if let Some(dir) = file.parent() {
            dirs.insert(dir.to_owned());
        }
    }
    dirs.insert(log_dir.to_owned());
    dirs.into_iter()
        .filter_map(|d| nearest_existing(&d))
        .collect()
}

/// However deep the missing part: each directory's creation is seen in its parent, and the watch
/// moves down one level at a time until it reaches the directory itself.
fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.is_dir()).map(Path::to_owned)
}

/// Returns the directories watched that were not before (new, or deleted and recreated: another
/// inode), so that their contents are read once now.
fn refresh_watches(
    watcher: &mut notify::RecommendedWatcher,
    targets: &WatchTargets,
    watched: &mut BTreeMap<PathBuf, (u64, u64)>,
) -> Vec<PathBuf> {
    let log_dir = match &targets.log {
        LogLocation::Dir(dir) | LogLocation::ProfileDir { dir, .. } => dir.clone(),
        LogLocation::File(file) => file.parent().map(Path::to_owned).unwrap_or_default(),
    };
    let desired = desired_watches(targets, &log_dir);
    for gone in watched.keys().filter(|d| !desired.contains(*d)) {
        let _ = watcher.unwatch(gone);
    }
    // Re-add everything each time: a directory deleted and recreated needs a new watch.
    let before = std::mem::take(watched);
    let mut appeared = Vec::new();
    for dir in desired {
        use std::os::unix::fs::MetadataExt;
        let id = std::fs::metadata(&dir)
            .map(|m| (m.dev(), m.ino()))
            .unwrap_or_default();
        match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                if before.get(&dir) != Some(&id) {
                    appeared.push(dir.clone());
                }
                watched.insert(dir, id);
            }
            Err(e) => tracing::debug!(dir = %dir.display(), "cannot watch: {e}"),
        }
    }
    appeared
}
