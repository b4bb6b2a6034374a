//! One `openclaw agent` turn: its options, running it, and what it gave.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use super::env::OpenClawEnv;
use super::install::tail;
use super::process::{RunningCommand, kill_group};

/// Options for one `openclaw agent` run.
#[derive(Clone, Debug)]
pub struct TurnOptions {
    /// `--local` (embedded agent, no gateway) instead of through the gateway.
    pub local: bool,
    /// `--session-id`; `None` makes a fresh one so turns do not share history.
    pub session_id: Option<String>,
    /// `--agent` (default `main`).
    pub agent: String,
    /// `--model` override for this run.
    pub model: Option<String>,
    /// Killed (with its process group) after this long. Default 400 s: a spent model with
    /// OpenClaw's same-model retries takes ~150 s per model.
    pub timeout: Duration,
    /// More CLI arguments.
    pub extra_args: Vec<String>,
}

impl Default for TurnOptions {
    fn default() -> Self {
        TurnOptions {
            local: false,
            session_id: None,
            agent: "main".into(),
            model: None,
            timeout: Duration::from_secs(400),
            extra_args: Vec::new(),
        }
    }
}

/// What one `openclaw agent --json` run gave.
#[derive(Debug)]
pub struct TurnResult {
    pub wall: Duration,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub session_id: String,
    /// The `--json` result. 2026.9.6 prints it on stdout: through the gateway
    /// `{runId, status:"ok", summary, result:{payloads, meta:{agentMeta:{provider, model, …}}}}`,
    /// with `--local` `{payloads, meta}`. 2026.3.31 `--local` prints `{payloads, meta}` on
    /// **stderr** after its plugin warnings. Found in either. (Without `--json` stdout is just the
    /// reply text plus log lines: no model name.)
    pub json: Option<Value>,
}

impl TurnResult {
    /// Exit 0, not timed out.
    pub fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }
    fn agent_meta(&self) -> Option<&Value> {
        let j = self.json.as_ref()?;
        j.pointer("/result/meta/agentMeta")
            .or_else(|| j.pointer("/meta/agentMeta"))
    }
    /// `(provider, model)` that served the turn, from `meta.agentMeta`.
    pub fn served_by(&self) -> Option<(String, String)> {
        let m = self.agent_meta()?;
        Some((
            m.get("provider")?.as_str()?.to_string(),
            m.get("model")?.as_str()?.to_string(),
        ))
    }
    /// The model id (no provider) that served the turn.
    pub fn model(&self) -> Option<String> {
        self.served_by().map(|(_, m)| m)
    }
    /// A failed gateway turn prints `{"ok": false, "runId", "origin": "gateway", "error":
    /// {"type": "cli_error", "message": "⚠️ API rate limit reached. Please try again later."}}`
    /// (exit 1): that message.
    pub fn error_message(&self) -> Option<String> {
        Some(
            self.json
                .as_ref()?
                .pointer("/error/message")?
                .as_str()?
                .to_string(),
        )
    }
    /// The reply texts joined by newlines.
    pub fn reply_text(&self) -> Option<String> {
        let j = self.json.as_ref()?;
        let payloads = j
            .pointer("/result/payloads")
            .or_else(|| j.get("payloads"))?
            .as_array()?;
        Some(
            payloads
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit={} timed_out={} wall={:.1}s served_by={:?} reply={:?}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.status,
            self.timed_out,
            self.wall.as_secs_f64(),
            self.served_by(),
            self.reply_text(),
            tail(&self.stdout, 15),
            tail(&self.stderr, 25)
        )
    }
}

/// Finds the `--json` result object in CLI output: the last top-level `{` … `}` that parses.
pub fn find_result_json(stdout: &str, stderr: &str) -> Option<Value> {
    for text in [stdout, stderr] {
        if let Ok(v) = serde_json::from_str::<Value>(text.trim())
            && v.is_object()
        {
            return Some(v);
        }
        let mut starts: Vec<usize> = text.match_indices("\n{").map(|(i, _)| i + 1).collect();
        if text.starts_with('{') {
            starts.insert(0, 0);
        }
        for &i in starts.iter().rev() {
            let mut de = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
            if let Some(Ok(v)) = de.next()
                && (v.get("payloads").is_some()
                    || v.get("result").is_some()
                    || v.get("meta").is_some())
            {
                return Some(v);
            }
        }
    }
    None
}

impl OpenClawEnv {
    /// A fresh session id, unique within the process.
    pub fn new_session_id(&self) -> String {
        let n = self.session_counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "msclaw-test-{}-{n}",
            jiff::Timestamp::now().as_millisecond()
        )
    }

    fn turn_command(&self, message: &str, opts: &TurnOptions, session_id: &str) -> Command {
        let mut args: Vec<String> = vec!["agent".into()];
        if opts.local {
            args.push("--local".into());
        }
        args.extend(["--agent".into(), opts.agent.clone()]);
        args.extend(["--session-id".into(), session_id.to_string()]);
        if let Some(m) = &opts.model {
            args.extend(["--model".into(), m.clone()]);
        }
        args.extend(["--json".into(), "-m".into(), message.to_string()]);
        args.extend(opts.extra_args.iter().cloned());
        self.command(args)
    }

    /// One turn with `opts`, to completion.
    pub fn turn(&self, message: &str, opts: &TurnOptions) -> Result<TurnResult> {
        self.spawn_turn(message, opts)?.wait()
    }

    /// Starts a turn and returns at once (e.g. to edit the config while OpenClaw retries).
    pub fn spawn_turn(&self, message: &str, opts: &TurnOptions) -> Result<RunningTurn> {
        let session_id = opts
            .session_id
            .clone()
            .unwrap_or_else(|| self.new_session_id());
        let mut cmd = self.turn_command(message, opts, &session_id);
        let started = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("spawning openclaw agent")?;
        let io = RunningCommand::from_child(&mut child, started);
        Ok(RunningTurn {
            child: Some(child),
            io: Some(io),
            timeout: opts.timeout,
            session_id,
        })
    }

    /// `openclaw agent --agent main --session-id <fresh> --json -m <message>` through the gateway
    /// (which must be running: [`OpenClawEnv::start_gateway`]).
    pub fn agent_turn(&self, message: &str) -> Result<TurnResult> {
        self.turn(message, &TurnOptions::default())
    }

    /// `openclaw agent --local --agent main --session-id <fresh> --json -m <message>` (embedded
    /// agent in the CLI process; no gateway needed).
    pub fn local_turn(&self, message: &str) -> Result<TurnResult> {
        self.turn(
            message,
            &TurnOptions {
                local: true,
                ..TurnOptions::default()
            },
        )
    }
}

/// A running `openclaw agent` turn.
pub struct RunningTurn {
    child: Option<Child>,
    io: Option<RunningCommand>,
    timeout: Duration,
    pub session_id: String,
}

impl RunningTurn {
    /// Waits for it to end (or kills it after the turn's timeout).
    pub fn wait(mut self) -> Result<TurnResult> {
        let child = self.child.take().expect("not waited yet");
        let io = self.io.take().expect("not waited yet");
        let out = io.finish(child, self.timeout)?;
        let json = find_result_json(&out.stdout, &out.stderr);
        Ok(TurnResult {
            wall: out.wall,
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            timed_out: out.timed_out,
            session_id: self.session_id.clone(),
            json,
        })
    }
    /// Ends it now (SIGTERM to its group, SIGKILL after 5 s) and returns what it printed.
    pub fn kill(mut self) -> Result<TurnResult> {
        self.timeout = Duration::ZERO;
        self.wait()
    }
}

impl Drop for RunningTurn {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(c.id(), &mut c);
        }
    }
}
