//! OpenClaw-shaped usage records for tests: the same event JSON OpenClaw writes, in JSONL session
//! files (up to 2026.7.1) and gateway log lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub use crate::fake_modelscope::{GLM5 as GLM, KIMI, MINIMAX, QWEN};

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A reply from `model` as OpenClaw records it (`stopReason` "stop"). Every event gets its own
/// entry id, as OpenClaw's do (the readers tell records apart by it).
pub fn assistant_reply(provider: &str, model: &str, at_ms: i64) -> Value {
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "type": "message",
        "id": format!("{id:08x}"),
        "parentId": null,
        "timestamp": jiff::Timestamp::from_millisecond(at_ms).unwrap().to_string(),
        "message": {
            "role": "assistant",
            "content": [{"type": "text", "text": "ok"}],
            "api": "openai-completions",
            "provider": provider,
            "model": model,
            "usage": {"input": 10, "output": 2, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 12,
                      "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}},
            "stopReason": "stop",
            "timestamp": at_ms
        }
    })
}

/// A turn that failed after OpenClaw's whole retry loop, as 2026.9.6 records it.
pub fn failed_turn(provider: &str, model: &str, code: &str, message: &str, at_ms: i64) -> Value {
    let mut event = assistant_reply(provider, model, at_ms);
    let m = &mut event["message"];
    m["content"] = json!([]);
    m["stopReason"] = json!("error");
    m["errorCode"] = json!(code);
    m["errorMessage"] = json!(format!("{code} {message}"));
    event
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// One JSONL session file under `<state>/agents/<agent>/sessions/`.
pub struct JsonlSession {
    pub path: PathBuf,
}

impl JsonlSession {
    pub fn create(state_dir: &Path, agent: &str, session_id: &str) -> Self {
        let dir = state_dir.join("agents").join(agent).join("sessions");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{session_id}.jsonl"));
        let header = json!({"type": "session", "version": 3, "id": session_id, "timestamp": jiff::Timestamp::now().to_string(), "cwd": "/"});
        std::fs::write(&path, format!("{header}\n")).unwrap();
        Self { path }
    }

    pub fn append(&self, event: &Value) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap();
        writeln!(file, "{event}").unwrap();
        file.sync_data().unwrap();
    }
}

/// A gateway log line in OpenClaw's tslog JSON shape.
pub fn gateway_log_line(subsystem: &str, message: &str) -> String {
    let now = jiff::Timestamp::now();
    json!({
        "0": json!({"subsystem": subsystem}).to_string(),
        "1": message,
        "_meta": {"runtime": "node", "name": json!({"subsystem": subsystem}).to_string(), "date": now.to_string(), "logLevelId": 3, "logLevelName": "INFO"},
        "time": now.to_string(),
    })
    .to_string()
}

/// The gateway's `[model-fetch] response` line for a ModelScope call of `model` with `status`.
pub fn model_fetch_line(model: &str, status: u16) -> String {
    gateway_log_line(
        "provider-transport-fetch",
        &format!(
            "[model-fetch] response provider=modelscope api=openai-completions model={model} status={status} elapsedMs=12"
        ),
    )
}

pub fn append_line(path: &Path, line: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(file, "{line}").unwrap();
}

/// The guide's OpenClaw config, with comments, pointing the provider at `base_url`.
pub fn guide_config(base_url: &str, model_block_extra: &str) -> String {
    format!(
        r#"// OpenClaw config written by a test: comments must survive msclaw's edits.
{{
  /* the ModelScope provider from the guide */
  models: {{
    mode: "merge",
    providers: {{
      modelscope: {{
        baseUrl: "{base_url}",
        apiKey: "${{MODELSCOPE_API_KEY}}", // never logged
        api: "openai-completions",
        models: [
          {{ id: "Qwen/Qwen3.5-397B-A17B", name: "Qwen3.5", contextWindow: 131072, maxTokens: 8192, cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},
          {{ id: "ZhipuAI/GLM-5", name: "GLM-5", contextWindow: 131072, maxTokens: 8192, cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},
          {{ id: "MiniMax/MiniMax-M2.5", name: "MiniMax-M2.5", contextWindow: 131072, maxTokens: 8192, cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},
          {{ id: "moonshotai/Kimi-K2.5", name: "Kimi-K2.5", contextWindow: 131072, maxTokens: 8192, cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},
        ],
      }},
    }},
  }},
  agents: {{
    defaults: {{
      model: {{
        primary: "modelscope/Qwen/Qwen3.5-397B-A17B", // msclaw rewrites only this value
{model_block_extra}      }},
      models: {{
        "modelscope/Qwen/Qwen3.5-397B-A17B": {{ alias: "qwen3.5" }},
        "modelscope/ZhipuAI/GLM-5": {{ alias: "glm5" }},
        "modelscope/MiniMax/MiniMax-M2.5": {{ alias: "minimax" }},
        "modelscope/moonshotai/Kimi-K2.5": {{ alias: "kimi" }},
      }},
    }},
  }},
}}
"#
    )
}

/// OpenClaw's agent schema v23 (2026.9.6), the file msclaw's reader tests use.
const AGENT_SCHEMA: &str =
    include_str!("../../daemon/tests/fixtures/openclaw-agent-schema-v23.sql");

/// An OpenClaw 2026.9.6-shaped agent database, `<state>/agents/<agent>/agent/openclaw-agent.sqlite`,
/// built from OpenClaw's own schema, in WAL mode like OpenClaw opens it. Rows are plain
/// `event_json` (OpenClaw compresses only events of 1 KiB and more).
pub struct AgentDb {
    pub path: PathBuf,
    conn: rusqlite::Connection,
}

impl AgentDb {
    pub fn create(state_dir: &Path, agent: &str) -> rusqlite::Result<AgentDb> {
        let path = state_dir
            .join("agents")
            .join(agent)
            .join("agent/openclaw-agent.sqlite");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create agent dir");
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )?;
        conn.execute_batch(AGENT_SCHEMA)?;
        conn.execute_batch("PRAGMA user_version = 23;")?;
        conn.execute(
            "INSERT INTO schema_meta (meta_key, role, schema_version, agent_id, app_version, created_at, updated_at)
             VALUES ('primary', 'agent', 23, ?1, '2026.9.6', ?2, ?2)",
            rusqlite::params![agent, now_ms()],
        )?;
        Ok(AgentDb { path, conn })
    }

    /// A session as OpenClaw starts one: its node, its window, the session header as seq 0.
    pub fn add_session(&self, session_id: &str) -> rusqlite::Result<()> {
        let ms = now_ms();
        let key = format!("agent:main:{session_id}");
        let entry = json!({"sessionId": session_id, "updatedAt": ms}).to_string();
        self.conn.execute(
            "INSERT INTO session_nodes (session_key, current_session_id, entry_json, entry_valid, updated_at, created_at, created_via)
             VALUES (?1, ?2, ?3, 1, ?4, ?4, 'operator')",
            rusqlite::params![key, session_id, entry, ms],
        )?;
        self.conn.execute(
            "INSERT INTO session_windows (session_id, session_key, reason, created_at, updated_at) VALUES (?1, ?2, 'initial', ?3, ?3)",
            rusqlite::params![session_id, key, ms],
        )?;
        let header = json!({"type": "session", "version": 4, "id": session_id, "timestamp": jiff::Timestamp::now().to_string(), "cwd": "/"});
        self.append(session_id, &header)
    }

    /// Commits one event as the session's next row (`created_at` = now).
    pub fn append(&self, session_id: &str, event: &Value) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json)
             VALUES (?1, (SELECT coalesce(max(seq) + 1, 0) FROM transcript_events WHERE session_id = ?1), ?2, ?3, NULL, ?4, NULL)",
            rusqlite::params![session_id, event.to_string(), now_ms(), event.to_string().len() as i64],
        )?;
        Ok(())
    }
}
