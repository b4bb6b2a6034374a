//! Reading OpenClaw's transcripts: the 2026.7+ SQLite DB and the JSONL sessions of older versions.

use std::fs::{self};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

/// One transcript event (same JSON in a JSONL line and in SQLite's `event_json`).
#[derive(Clone, Debug)]
pub struct TranscriptEvent {
    pub session_id: String,
    /// SQLite `seq`, or the 0-based line number in the JSONL file.
    pub seq: i64,
    /// SQLite `created_at` (ms); for JSONL, `None`.
    pub created_at_ms: Option<i64>,
    /// The row was zstd-compressed (`event_zstd`).
    pub compressed: bool,
    pub json: Value,
}

/// An assistant message: one successful model reply, or the error a turn ended with.
#[derive(Clone, Debug)]
pub struct AssistantMessage {
    pub session_id: String,
    pub provider: String,
    pub model: String,
    pub api: Option<String>,
    /// `stop`, `toolUse`, `length`, `error`, `aborted`.
    pub stop_reason: String,
    pub error_message: Option<String>,
    pub error_code: Option<String>,
    /// `message.timestamp` (ms).
    pub timestamp_ms: Option<i64>,
    pub text: String,
}

impl AssistantMessage {
    pub fn from_event(ev: &TranscriptEvent) -> Option<AssistantMessage> {
        let m = ev.json.get("message")?;
        if ev.json.get("type")?.as_str()? != "message" || m.get("role")?.as_str()? != "assistant" {
            return None;
        }
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(String::from);
        let text = m
            .get("content")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("")
            })
            .unwrap_or_default();
        Some(AssistantMessage {
            session_id: ev.session_id.clone(),
            provider: s("provider").unwrap_or_default(),
            model: s("model").unwrap_or_default(),
            api: s("api"),
            stop_reason: s("stopReason").unwrap_or_default(),
            error_message: s("errorMessage"),
            error_code: m.get("errorCode").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            timestamp_ms: m.get("timestamp").and_then(Value::as_i64),
            text,
        })
    }
}

/// Reads `transcript_events` read-only (WAL rows included), decoding zstd rows.
pub fn read_sqlite_transcripts(db: &Path) -> Result<Vec<TranscriptEvent>> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mut stmt = conn.prepare(
        "SELECT session_id, seq, created_at, event_json, event_zstd FROM transcript_events \
         ORDER BY session_id, seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<Vec<u8>>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (session_id, seq, created_at, json, zstd) = row?;
        let (text, compressed) = match (json, zstd) {
            (Some(j), _) => (j, false),
            (None, Some(z)) => (
                String::from_utf8(zstd::decode_all(&z[..]).context("zstd-decoding event_zstd")?)
                    .context("event_zstd is not UTF-8")?,
                true,
            ),
            (None, None) => continue,
        };
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("event {session_id}/{seq} is not JSON"))?;
        out.push(TranscriptEvent {
            session_id,
            seq,
            created_at_ms: Some(created_at),
            compressed,
            json,
        });
    }
    Ok(out)
}

/// Reads every `*.jsonl` transcript directly in `sessions_dir` (not `*.trajectory.jsonl`).
pub fn read_jsonl_transcripts(sessions_dir: &Path) -> Result<Vec<TranscriptEvent>> {
    let mut files: Vec<PathBuf> = match fs::read_dir(sessions_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.ends_with(".jsonl") && !n.ends_with(".trajectory.jsonl")
            })
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let session_id = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let text = fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // A line being written may be incomplete: skip what does not parse.
            if let Ok(json) = serde_json::from_str::<Value>(line) {
                out.push(TranscriptEvent {
                    session_id: session_id.clone(),
                    seq: i as i64,
                    created_at_ms: None,
                    compressed: false,
                    json,
                });
            }
        }
    }
    Ok(out)
}
