//! Reading OpenClaw's file log (tslog JSON lines), rotated archives first.

use std::fs::{self};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One line of OpenClaw's file log (tslog JSON): `{"0": "{\"subsystem\":…}", "1": "text" or
/// object, "2": …, "_meta": {logLevelName, date, …}, "time": "…", "message": "…"}`.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub raw: String,
    pub json: Value,
    /// Top-level `message` if present, else the string fields `"0"`, `"1"`, … joined by `" | "`.
    pub message: String,
    /// `_meta.logLevelName`: `INFO`, `WARN`, `ERROR`, `DEBUG`.
    pub level: String,
    /// `time` (local, with offset).
    pub time: String,
    /// `subsystem` from the `"0"` field, if any (e.g. `gateway/reload`, `provider-transport-fetch`).
    pub subsystem: Option<String>,
}

impl LogLine {
    pub fn parse(raw: &str) -> Option<LogLine> {
        let json: Value = serde_json::from_str(raw).ok()?;
        let message = match json.get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => (0..6)
                .filter_map(|i| json.get(i.to_string()).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" | "),
        };
        let level = json
            .pointer("/_meta/logLevelName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let time = json
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let subsystem = json
            .get("0")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|v| v.get("subsystem").and_then(Value::as_str).map(String::from));
        Some(LogLine {
            raw: raw.to_string(),
            json,
            message,
            level,
            time,
            subsystem,
        })
    }
}

/// `path`'s size-rotated archives that exist, oldest first (`<stem>.5.log` … `<stem>.1.log`), then
/// `path` itself: the order OpenClaw wrote them in.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = (1..=5)
        .rev()
        .map(|i| path.with_file_name(format!("{stem}.{i}{ext}")))
        .filter(|p| p.is_file())
        .collect();
    files.push(path.to_path_buf());
    files
}

/// Parses every JSON line of a log file and of its rotated archives, in write order, so line
/// counts used as marks stay valid across a rotation (missing file = no lines).
pub fn read_log_lines(path: &Path) -> Vec<LogLine> {
    log_files(path)
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(LogLine::parse)
                .collect::<Vec<_>>()
        })
        .collect()
}
