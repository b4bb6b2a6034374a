//! STUB (replaced by the config branch).
use std::path::{Path, PathBuf};
pub struct ModelEdit { pub primary: String, pub fallbacks: Option<Vec<String>> }
pub enum EditOutcome { Unchanged, Written { file: PathBuf } }
#[derive(Debug, thiserror::Error)] #[error("edit")] pub struct EditError;
pub fn apply_model_edit(_p: &Path, _e: &ModelEdit) -> Result<EditOutcome, EditError> { todo!() }
