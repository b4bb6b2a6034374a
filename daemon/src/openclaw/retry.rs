//! The one compare-and-replace loop for OpenClaw's files: read, work out the new text, write it
//! only if the file still holds what was read, else start over on the new text.

use std::path::{Path, PathBuf};

use super::atomic_write::{self, WriteError};

/// How many times an edit is worked out again when the file changed between reading and writing.
pub const MAX_ATTEMPTS: u32 = 5;

/// The file changed under each attempt to edit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} changed during each of {attempts} attempts to edit it")]
pub struct Conflict {
    pub path: PathBuf,
    pub attempts: u32,
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempt<T> {
    Done(T),
    /// The file changed since it was read: read it again and redo the edit.
    Changed,
}

/// Runs `attempt` until it is done, at most [`MAX_ATTEMPTS`] times; `path` names the file in the
/// [`Conflict`] when every attempt found it changed.
pub fn edit_with_retry<T, E: From<Conflict>>(
    path: &Path,
    mut attempt: impl FnMut() -> Result<Attempt<T>, E>,
) -> Result<T, E> {
    for _ in 0..MAX_ATTEMPTS {
        match attempt()? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Changed => {
                tracing::debug!(file = %path.display(), "config changed while editing; redoing the edit");
            }
        }
    }
    Err(Conflict {
        path: path.to_path_buf(),
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// [`atomic_write::replace_pieces_if_unchanged`] as one step of an attempt: a conflict means
/// "changed". The new contents are `new`'s pieces one after the other.
pub fn replace_if_unchanged(
    path: &Path,
    new: &[&[u8]],
    expected: Option<&[u8]>,
) -> Result<Attempt<()>, WriteError> {
    match atomic_write::replace_pieces_if_unchanged(path, new, expected) {
        Ok(()) => Ok(Attempt::Done(())),
        Err(WriteError::Conflict { .. }) => Ok(Attempt::Changed),
        Err(e) => Err(e),
    }
}
