//! STUB (replaced by the config branch).
use std::path::Path;
#[derive(Debug, thiserror::Error)] #[error("write: {0}")] pub struct WriteError(std::io::Error);
pub fn write_new_or_replace(path: &Path, contents: &[u8], _mode_if_new: u32) -> Result<(), WriteError> { std::fs::write(path, contents).map_err(WriteError) }
