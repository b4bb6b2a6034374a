//! The thread that follows OpenClaw's files: notify events (no polling) wake it, it reads what is
//! new from each usage source, and hands the engine one batch with the sources' cursors, so the
//! engine can persist counts and cursors together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use msclaw_shared::SourceStatus;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::engine::EngineMsg;
use crate::quota_calendar::QuotaCalendar;
use crate::state_store::Cursors;
use crate::usage::gateway_log::{GatewayLogSource, LogLocation};
use crate::usage::jsonl::JsonlSource;
use crate::usage::sqlite::SqliteSource;
use crate::usage::{CallRecord, GatewaySignal, SourceError, SourceErrorKind};

/// Events closer together than this are read as one batch.
const COALESCE: Duration = Duration::from_millis(15);
/// A database a writer holds locked is tried again this often: its release writes nothing, so no
/// file event would say when to.
const LOCKED_RETRY: Duration = Duration::from_millis(500);
/// ... but a batch is read after this long at most, however busy the files are (a steady stream of
/// events would otherwise hold off every read).
const MAX_BATCH: Duration = Duration::from_millis(50);

pub struct WatchTargets {
    pub openclaw_state_dir: PathBuf,
    /// The OpenClaw config and any file it includes.
    pub config_files: Vec<PathBuf>,
    pub log: LogLocation,
}

/// What the sources found since the last batch.
#[derive(Debug)]
pub struct UsageBatch {
    pub records: Vec<CallRecord>,
    pub signals: Vec<GatewaySignal>,
    pub cursors: Cursors,
    pub sources: Vec<SourceStatus>,
}

pub enum WatcherCmd {
    /// Read every source now (the engine's once-a-minute safety net, and after a reset).
    Rescan,
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

struct Sources {
    sqlite: SqliteSource,
    jsonl: JsonlSource,
    log: GatewayLogSource,
    errors: [Option<String>; 3],
    /// A transcript database was locked at the last poll.
    locked: bool,
}

pub fn spawn(
    targets: WatchTargets,
    cursors: Cursors,
    clock: Arc<dyn Clock>,
    calendar: QuotaCalendar,
    engine: mpsc::Sender<EngineMsg>,
) -> std::io::Result<WatcherHandle> {
    let (tx, rx) = std_mpsc::channel();
    let fs_tx = tx.clone();
    let watcher = notify::recommended_watcher(move |event| {
        let _ = fs_tx.send(Input::Fs(event));
    })
    .map_err(std::io::Error::other)?;
    std::thread::Builder::new()
        .name("usage-watcher".into())
        .spawn(move || run(targets, cursors, clock, calendar, engine, watcher, rx))?;
    Ok(WatcherHandle { tx })
}

fn run(
    mut targets: WatchTargets,
    cursors: Cursors,
    clock: Arc<dyn Clock>,
    calendar: QuotaCalendar,
    engine: mpsc::Sender<EngineMsg>,
    mut watcher: notify::RecommendedWatcher,
    rx: std_mpsc::Receiver<Input>,
) {
    let mut sources = Sources {
        sqlite: SqliteSource::new(&targets.openclaw_state_dir, cursors.sqlite),
        jsonl: JsonlSource::new(&targets.openclaw_state_dir, cursors.jsonl),
        log: GatewayLogSource::new(targets.log.clone(), cursors.gateway_log),
        errors: Default::default(),
        locked: false,
    };
    let mut watched = BTreeMap::new();
    refresh_watches(&mut watcher, &targets, &mut watched);
    // Catch up on today's records before following new ones.
    let (mut transcripts, mut log, mut config) = (true, true, false);
    loop {
        if transcripts || log {
            let batch = poll(
                &mut sources,
                &targets,
                transcripts,
                log,
                clock.as_ref(),
                &calendar,
            );
            if engine.blocking_send(EngineMsg::Usage(batch)).is_err() {
                return;
            }
        }
        if config && engine.blocking_send(EngineMsg::ConfigChanged).is_err() {
            return;
        }
        (transcripts, log, config) = (false, false, false);
        // A directory that appeared (a new agent, its sessions, a recreated log directory) is
        // watched only from now on: what was written in it before is read at once.
        if refresh_watches(&mut watcher, &targets, &mut watched) {
            (transcripts, log) = (true, true);
            continue;
        }
        // Wait for something that matters; a wake-up by an open or a read alone goes back to
        // waiting (looking at the directories again would open them: another wake-up).
        let mut relevant = false;
        while !relevant {
            let first = if sources.locked {
                match rx.recv_timeout(LOCKED_RETRY) {
                    Ok(input) => input,
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {
                        transcripts = true;
                        break;
                    }
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                let Ok(input) = rx.recv() else { return };
                input
            };
            let batch_started = std::time::Instant::now();
            let mut next = Some(first);
            while let Some(input) = next {
                relevant |=
                    !matches!(&input, Input::Fs(Ok(event)) if !changes_something(&event.kind));
                match input {
                    Input::Fs(Ok(event)) if !changes_something(&event.kind) => {}
                    // The kernel's event queue overflowed: anything may have changed.
                    Input::Fs(Ok(event)) if event.need_rescan() => {
                        (transcripts, log, config) = (true, true, true)
                    }
                    Input::Fs(Ok(event)) => {
                        for path in &event.paths {
                            let (t, l, c) = classify(path, &targets, &sources);
                            transcripts |= t;
                            log |= l;
                            config |= c;
                        }
                    }
                    Input::Fs(Err(e)) => {
                        tracing::warn!("file watch error: {e}; rescanning");
                        (transcripts, log, config) = (true, true, true);
                    }
                    Input::Cmd(WatcherCmd::Rescan) => (transcripts, log) = (true, true),
                    Input::Cmd(WatcherCmd::Stop) => return,
                    Input::Cmd(WatcherCmd::SetTargets(new)) => {
                        if new.log != targets.log {
                            sources.log =
                                GatewayLogSource::new(new.log.clone(), Default::default());
                        }
                        targets = new;
                        (transcripts, log) = (true, true);
                    }
                }
                next = if batch_started.elapsed() < MAX_BATCH {
                    rx.recv_timeout(COALESCE).ok()
                } else {
                    None
                };
            }
        }
    }
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

fn classify(path: &Path, targets: &WatchTargets, sources: &Sources) -> (bool, bool, bool) {
    let agents = targets.openclaw_state_dir.join("agents");
    let transcripts = path.starts_with(&agents) || path == agents;
    let log = match &targets.log {
        LogLocation::File(file) => {
            path == file || path.parent() == file.parent() && is_rotation_of(path, file)
        }
        LogLocation::Dir(_) | LogLocation::ProfileDir { .. } => {
            path.starts_with(sources.log.watch_dir())
        }
    };
    let config = targets.config_files.iter().any(|f| path == f);
    (transcripts, log, config)
}

/// `openclaw.1.log` beside `openclaw.log`: OpenClaw's size rotation of a fixed log file.
fn is_rotation_of(path: &Path, file: &Path) -> bool {
    let (Some(name), Some(stem)) = (path.file_name(), file.file_stem()) else {
        return false;
    };
    name.to_string_lossy().starts_with(&*stem.to_string_lossy())
}

fn poll(
    sources: &mut Sources,
    targets: &WatchTargets,
    transcripts: bool,
    log: bool,
    clock: &dyn Clock,
    calendar: &QuotaCalendar,
) -> UsageBatch {
    let since = calendar.start_of(calendar.day_of(clock.now()));
    let mut records = Vec::new();
    let mut signals = Vec::new();
    // A poll can return records and still have failed for some file: both are kept.
    fn outcome<T>(
        result: Result<Vec<T>, SourceError>,
        more: Vec<SourceError>,
        into: &mut Vec<T>,
    ) -> Option<String> {
        let mut errors: Vec<String> = more.iter().map(ToString::to_string).collect();
        match result {
            Ok(found) => into.extend(found),
            Err(e) => errors.insert(0, e.to_string()),
        }
        errors.dedup();
        (!errors.is_empty()).then(|| errors.join("; "))
    }
    if transcripts {
        let found = sources.sqlite.poll(since);
        let errors = sources.sqlite.take_errors();
        sources.locked = errors
            .iter()
            .chain(found.as_ref().err())
            .any(|e| e.kind == SourceErrorKind::Locked);
        sources.errors[0] = outcome(found, errors, &mut records);
        let found = sources.jsonl.poll(since);
        sources.errors[1] = outcome(found, sources.jsonl.take_errors(), &mut records);
    }
    if log {
        let found = sources.log.poll();
        sources.errors[2] = outcome(found, sources.log.take_errors(), &mut signals);
    }
    for (i, err) in sources.errors.iter().enumerate() {
        if let Some(err) = err {
            tracing::warn!(
                source = ["sqlite", "jsonl", "gateway_log"][i],
                "reading usage failed: {err}"
            );
        }
    }
    let agents = targets
        .openclaw_state_dir
        .join("agents")
        .display()
        .to_string();
    let status = |kind: &str, path: String, seen: u64, err: &Option<String>| SourceStatus {
        kind: kind.into(),
        path,
        records_seen: seen,
        last_error: err.clone(),
    };
    UsageBatch {
        records,
        signals,
        cursors: Cursors {
            sqlite: sources.sqlite.cursors().clone(),
            jsonl: sources.jsonl.cursors().clone(),
            gateway_log: sources.log.cursor().clone(),
        },
        sources: vec![
            status(
                "sqlite",
                agents.clone(),
                sources.sqlite.records_seen(),
                &sources.errors[0],
            ),
            status(
                "jsonl",
                agents,
                sources.jsonl.records_seen(),
                &sources.errors[1],
            ),
            status(
                "gateway_log",
                sources.log.watch_dir().display().to_string(),
                0,
                &sources.errors[2],
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

fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .take(4)
        .find(|d| d.is_dir())
        .map(Path::to_owned)
}

/// Returns true when a directory is watched that was not before (new, or deleted and recreated:
/// another inode), so that its contents are read once now.
fn refresh_watches(
    watcher: &mut notify::RecommendedWatcher,
    targets: &WatchTargets,
    watched: &mut BTreeMap<PathBuf, (u64, u64)>,
) -> bool {
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
    let mut appeared = false;
    for dir in desired {
        use std::os::unix::fs::MetadataExt;
        let id = std::fs::metadata(&dir)
            .map(|m| (m.dev(), m.ino()))
            .unwrap_or_default();
        match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                appeared |= before.get(&dir) != Some(&id);
                watched.insert(dir, id);
            }
            Err(e) => tracing::debug!(dir = %dir.display(), "cannot watch: {e}"),
        }
    }
    appeared
}
