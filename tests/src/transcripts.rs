//! OpenClaw-shaped usage records for tests: the same event JSON OpenClaw writes, in JSONL session
//! files (up to 2026.7.1) and gateway log lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub const QWEN: &str = "Qwen/Qwen3.5-397B-A17B";
pub const GLM: &str = "ZhipuAI/GLM-5";
pub const MINIMAX: &str = "MiniMax/MiniMax-M2.5";
pub const KIMI: &str = "moonshotai/Kimi-K2.5";
pub const GUIDE_MODELS: [&str; 4] = [QWEN, GLM, MINIMAX, KIMI];

/// A reply from `model` as OpenClaw records it (`stopReason` "stop"). Each gets its own entry id,
/// as OpenClaw's do (two replies in the same millisecond are still two calls).
pub fn assistant_reply(provider: &str, model: &str, at_ms: i64) -> Value {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "type": "message",
        "id": format!("m{at_ms}-{n}"),
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
        let mut file = std::fs::OpenOptions::new().append(true).open(&self.path).unwrap();
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

pub fn append_line(path: &Path, line: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
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
