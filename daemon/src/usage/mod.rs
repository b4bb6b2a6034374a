//! STUB (replaced by the usage branch): the API the engine builds on.
use std::path::{Path, PathBuf};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord { pub provider: String, pub model: String, pub at: Timestamp, pub outcome: CallOutcome, pub source: SourceKind }
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome { Success, RateLimited { retry_loop_failed: bool }, Gone { detail: String }, Failed { status: Option<u16>, detail: String } }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind { Sqlite, Jsonl, GatewayLog }
#[derive(Debug, Clone, PartialEq)]
pub enum GatewaySignal { ReloadApplied { at: Timestamp, paths: Vec<String> }, ReloadSkipped { at: Timestamp, reason: String }, Call(CallRecord) }
#[derive(Debug, Serialize, Deserialize, Default, Clone)] pub struct SqliteCursors {}
#[derive(Debug, Serialize, Deserialize, Default, Clone)] pub struct JsonlCursors {}
#[derive(Debug, Serialize, Deserialize, Default, Clone)] pub struct GatewayLogCursor {}
#[derive(Debug)] pub struct SourceError(pub String);
impl std::fmt::Display for SourceError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) } }
pub mod sqlite {
    use super::*;
    pub struct SqliteSource;
    impl SqliteSource {
        pub fn new(_state: &Path, _c: SqliteCursors) -> Self { SqliteSource }
        pub fn poll(&mut self, _since: Timestamp) -> Result<Vec<CallRecord>, SourceError> { Ok(vec![]) }
        pub fn cursors(&self) -> &SqliteCursors { &SqliteCursors {} }
        pub fn records_seen(&self) -> u64 { 0 }
    }
}
pub mod jsonl {
    use super::*;
    pub struct JsonlSource;
    impl JsonlSource {
        pub fn new(_state: &Path, _c: JsonlCursors) -> Self { JsonlSource }
        pub fn poll(&mut self, _since: Timestamp) -> Result<Vec<CallRecord>, SourceError> { Ok(vec![]) }
        pub fn cursors(&self) -> &JsonlCursors { &JsonlCursors {} }
        pub fn records_seen(&self) -> u64 { 0 }
    }
}
pub mod gateway_log {
    use super::*;
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum LogLocation { Dir(PathBuf), File(PathBuf) }
    pub struct GatewayLogSource;
    impl GatewayLogSource {
        pub fn new(_l: LogLocation, _c: GatewayLogCursor) -> Self { GatewayLogSource }
        pub fn poll(&mut self) -> Result<Vec<GatewaySignal>, SourceError> { Ok(vec![]) }
        pub fn cursor(&self) -> &GatewayLogCursor { &GatewayLogCursor {} }
        pub fn watch_dir(&self) -> PathBuf { PathBuf::from("/tmp/openclaw") }
    }
}
