//! STUB (replaced by the config branch).
use std::path::Path;
#[derive(Debug, thiserror::Error)] #[error("write")] pub struct WriteError;
pub fn write_new_or_replace(_path: &Path, _contents: &[u8], _mode_if_new: u32) -> Result<(), WriteError> { todo!() }
