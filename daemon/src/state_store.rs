//! What msclawd remembers across restarts: today's counts and marks together with the usage
//! sources' cursors (saved in one atomic write, so a restart never counts a call twice or drops
//! one), the last switch, pause, the fallbacks it manages, and a short per-day history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;
use msclaw_shared::SwitchOutcome;
use serde::{Deserialize, Serialize};

use crate::openclaw::atomic_write::{self, create_private_dir};
use crate::policy::DayState;
use crate::pools::PoolState;
use crate::usage::{GatewayLogCursor, JsonlCursors, SqliteCursors};

/// Bumped when the file changes shape; a newer file is set aside rather than misread.
pub const STATE_VERSION: u32 = 1;
/// Days of history kept.
pub const HISTORY_DAYS: usize = 62;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchRecord {
    pub from: Option<String>,
    pub to: String,
    pub at: Timestamp,
    pub reason: String,
    /// Stored as the wire string: `pending`, `applied`, ..., `failed: ...`.
    pub outcome: SwitchOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayModelRecord {
    pub model: String,
    pub used: u32,
    pub limit: Option<u32>,
    pub rate_limited: u32,
    pub spent_at: Option<Timestamp>,
    pub spent_reason: Option<String>,
}

/// One finished (or the current) quota day, for `msclawctl history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayRecord {
    pub day: Date,
    pub models: Vec<DayModelRecord>,
    pub switches: Vec<SwitchRecord>,
    /// Each pool's use when the day closed (issue 14); absent in older files.
    #[serde(default)]
    pub pools: Vec<DayPoolRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayPoolRecord {
    pub name: String,
    pub unit: String,
    pub used: crate::pools::Units,
    pub capacity: Option<crate::pools::Units>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FallbackMemory {
    /// The user's own `fallbacks`, restored at the reset.
    pub original: Option<Vec<String>>,
    /// What msclaw last wrote, to tell its own edits from the user's.
    pub written: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cursors {
    #[serde(default)]
    pub sqlite: SqliteCursors,
    #[serde(default)]
    pub jsonl: JsonlCursors,
    #[serde(default)]
    pub gateway_log: GatewayLogCursor,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersistedState {
    pub version: u32,
    pub today: Option<DayState>,
    #[serde(default)]
    pub switches_today: Vec<SwitchRecord>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub last_switch: Option<SwitchRecord>,
    #[serde(default)]
    pub fallbacks: FallbackMemory,
    #[serde(default)]
    pub history: Vec<DayRecord>,
    #[serde(default)]
    pub cursors: Cursors,
    /// The quota pools' ledgers by pool name (issue 14); absent in older files.
    #[serde(default)]
    pub pools: BTreeMap<String, PoolState>,
}

impl Default for PersistedState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            today: None,
            switches_today: Vec::new(),
            paused: false,
            last_switch: None,
            fallbacks: FallbackMemory::default(),
            history: Vec::new(),
            cursors: Cursors::default(),
            pools: BTreeMap::new(),
        }
    }
}

impl PersistedState {
    /// Files a finished day into the history, keeping the newest [`HISTORY_DAYS`].
    pub fn archive_day(&mut self, record: DayRecord) {
        self.history.retain(|d| d.day != record.day);
        self.history.push(record);
        self.history.sort_by_key(|d| d.day);
        let excess = self.history.len().saturating_sub(HISTORY_DAYS);
        self.history.drain(..excess);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot save state to {path}: {message}")]
pub struct SaveError {
    pub path: PathBuf,
    pub message: String,
}

pub struct StateStore {
    path: PathBuf,
    /// Whether a save has succeeded (so a missing directory is news, not a first start).
    saved: std::sync::atomic::AtomicBool,
}

/// What loading found besides the state: a reason it started afresh, if it did.
pub struct Loaded {
    pub state: PersistedState,
    pub warning: Option<String>,
}

impl StateStore {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            saved: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A missing file is a fresh start; a corrupt, empty or newer-version file is set aside
    /// (renamed beside it) with a warning, and the state is rebuilt from OpenClaw's records.
    pub fn load(&self) -> Loaded {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Loaded {
                    state: PersistedState::default(),
                    warning: None,
                };
            }
            Err(e) => {
                return Loaded {
                    state: PersistedState::default(),
                    warning: Some(format!(
                        "cannot read state {}: {e}; starting from OpenClaw's records",
                        self.path.display()
                    )),
                };
            }
        };
        let problem = match serde_json::from_slice::<PersistedState>(&bytes) {
            Ok(state) if state.version == STATE_VERSION => {
                return Loaded {
                    state,
                    warning: None,
                };
            }
            Ok(state) => format!(
                "it is version {} and this msclawd reads version {STATE_VERSION}",
                state.version
            ),
            Err(e) => format!("it does not parse ({e})"),
        };
        let aside = self.set_aside();
        Loaded {
            state: PersistedState::default(),
            warning: Some(format!(
                "state file {} was set aside{}: {problem}; counts are rebuilt from OpenClaw's records",
                self.path.display(),
                aside
                    .map(|p| format!(" as {}", p.display()))
                    .unwrap_or_default()
            )),
        }
    }

    fn set_aside(&self) -> Option<PathBuf> {
        let mut name = self.path.file_name()?.to_os_string();
        name.push(format!(".corrupt-{}", Timestamp::now().as_second()));
        let aside = self.path.with_file_name(name);
        std::fs::rename(&self.path, &aside).ok().map(|_| aside)
    }

    pub fn save(&self, state: &PersistedState) -> Result<(), SaveError> {
        let err = |message: String| SaveError {
            path: self.path.clone(),
            message,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                if self.saved.load(std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(dir = %dir.display(), "the state directory disappeared while msclawd ran; creating it again");
                } else {
                    tracing::info!(dir = %dir.display(), "creating the state directory");
                }
            }
            create_private_dir(dir)
                .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        }
        // Compact: the file is for msclawd, `msclawctl status` is for people.
        let bytes = serde_json::to_vec(state).map_err(|e| err(e.to_string()))?;
        atomic_write::write_new_or_replace(&self.path, &bytes, 0o600)
            .map_err(|e| err(e.to_string()))?;
        self.saved.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
