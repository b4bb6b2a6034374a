//! What init reports and returns: one item per entry (added, present, changed), the new text of
//! each file, and why it stopped.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

use crate::openclaw::atomic_write::WriteError;
use crate::openclaw::json5::ConfigError;
use crate::openclaw::mask::mask_secrets;
use crate::openclaw::model_edit::EditError;
use crate::openclaw::retry::Conflict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// The config file itself (created).
    File,
    Provider,
    /// A field of an existing provider: `baseUrl`, `api`, `apiKey`, `models`.
    ProviderField,
    /// An entry of `models.providers.<provider>.models[]`.
    Model,
    /// An entry of `agents.defaults.models`.
    Alias,
    /// `agents.defaults.model.primary`.
    Primary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Added,
    Present,
    /// Only the primary: it named a model outside the rotation.
    Changed,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitItem {
    pub kind: ItemKind,
    pub name: String,
    pub status: ItemStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl InitItem {
    pub(crate) fn new(kind: ItemKind, name: impl Into<String>, status: ItemStatus) -> Self {
        InitItem {
            kind,
            name: name.into(),
            status,
            detail: None,
        }
    }

    pub(crate) fn with(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for InitItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            ItemStatus::Added => "added",
            ItemStatus::Present => "present",
            ItemStatus::Changed => "changed",
        };
        let kind = match self.kind {
            ItemKind::File => "file",
            ItemKind::Provider => "provider",
            ItemKind::ProviderField => "provider field",
            ItemKind::Model => "model",
            ItemKind::Alias => "alias",
            ItemKind::Primary => "primary",
        };
        write!(f, "{status:<8} {kind} {}", self.name)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// The new text of one file. `Debug` shows no text (it may hold a key).
#[derive(Clone)]
pub struct FileChange {
    pub path: PathBuf,
    /// `None`: the file does not exist yet.
    pub old: Option<String>,
    pub new: String,
}

impl fmt::Debug for FileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileChange")
            .field("path", &self.path)
            .field("old_len", &self.old.as_ref().map(String::len))
            .field("new_len", &self.new.len())
            .finish()
    }
}

impl FileChange {
    /// Old and new text with every key-like value hidden ([`mask_secrets`]), for showing a diff.
    pub fn masked(&self) -> (String, String) {
        (
            self.old.as_deref().map(mask_secrets).unwrap_or_default(),
            mask_secrets(&self.new),
        )
    }
}

/// What init would do (or did) to one config.
#[derive(Debug, Clone)]
pub struct InitPlan {
    pub config: PathBuf,
    /// Files to write, in the order they are written; empty when everything is present.
    pub changes: Vec<FileChange>,
    pub items: Vec<InitItem>,
    pub warnings: Vec<String>,
}

impl InitPlan {
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Why init did not finish. Nothing in a message is taken from the file's values or the key.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0}")]
    BadRequest(String),
    /// Something to add belongs in an object that an included file spells out.
    #[error(
        "{path}: {json_path} comes from a $include; msclawctl init adds only to {path} itself, \
         and an entry added beside the include could hide the included one. Add the ModelScope \
         entries to the included file by hand (README: Setting up)"
    )]
    Include { path: PathBuf, json_path: String },
    /// An object on the way has another type.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// The new text did not check out; a bug or a shape init cannot handle. Nothing was written.
    #[error("{path}: the change did not check out ({message}); nothing was written")]
    Verify { path: PathBuf, message: String },
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} changed during each of {attempts} attempts to edit it; nothing more was written"
    )]
    Conflict { path: PathBuf, attempts: u32 },
}

impl From<Conflict> for InitError {
    fn from(c: Conflict) -> Self {
        InitError::Conflict {
            path: c.path,
            attempts: c.attempts,
        }
    }
}
