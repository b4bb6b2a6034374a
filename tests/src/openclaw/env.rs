//! [`OpenClawEnv`]: one OpenClaw installation's state (temp HOME, state dir, config, log file,
//! gateway port), the environment its processes get, its config and the files OpenClaw writes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::gateway_log::{LogLine, read_log_lines};
use super::install::OpenClawInstall;
use super::process::{CmdOutput, run_with_timeout};
use super::transcript_readers::{
    AssistantMessage, TranscriptEvent, read_jsonl_transcripts, read_sqlite_transcripts,
};
use super::{FAKE_API_KEY, GATEWAY_TOKEN, model_ref};

/// One OpenClaw "machine": a temp HOME + state dir + config + log file + gateway port.
/// Dropping it removes the temp dir (unless [`OpenClawEnvBuilder::keep_dir`]).
#[derive(Debug)]
pub struct OpenClawEnv {
    pub install: OpenClawInstall,
    pub(super) dir: Option<tempfile::TempDir>,
    pub(super) keep_dir: bool,
    /// The temp dir holding everything below.
    pub root: PathBuf,
    /// `HOME` for OpenClaw: `<root>/home`.
    pub home: PathBuf,
    /// `OPENCLAW_STATE_DIR`: `<home>/.openclaw`.
    pub state_dir: PathBuf,
    /// `<state_dir>/openclaw.json`.
    pub config_path: PathBuf,
    /// `<root>/logs`.
    pub log_dir: PathBuf,
    /// `logging.file`: `<root>/logs/openclaw-gateway.log`. OpenClaw (2026.9.6) uses this exact
    /// name: no date in it and no daily rolling (that happens only when the configured name itself
    /// looks like `openclaw-YYYY-MM-DD.log`); past `logging.maxFileBytes` it is renamed to
    /// `openclaw-gateway.1.log` (up to `.5.log`) and a new file starts. The gateway and every CLI
    /// run of this env (`agent`, `config validate`, …) append to it.
    pub log_file: PathBuf,
    /// `TMPDIR`: `<root>/tmp`.
    pub tmp_dir: PathBuf,
    pub gateway_port: u16,
    /// The fake server's base URL in the config.
    pub base_url: String,
    pub(super) env: BTreeMap<String, String>,
    pub(super) session_counter: AtomicU64,
}

impl Drop for OpenClawEnv {
    fn drop(&mut self) {
        if self.keep_dir
            && let Some(d) = self.dir.take()
        {
            eprintln!("[msclaw-tests] keeping {}", d.keep().display());
        }
    }
}

impl OpenClawEnv {
    /// The environment every OpenClaw process of this env gets (the parent's is cleared first):
    /// - `PATH` = node 26's bin dir, then `/usr/local/bin:/usr/bin:/bin`;
    /// - `HOME`, `OPENCLAW_STATE_DIR`, `TMPDIR` in the temp dir; `TZ` passed through if set;
    /// - `MODELSCOPE_API_KEY` = [`FAKE_API_KEY`], `OPENCLAW_GATEWAY_TOKEN` = [`GATEWAY_TOKEN`];
    /// - off the network and quiet: `OPENCLAW_NO_AUTO_UPDATE`, `OPENCLAW_TELEMETRY=0`,
    ///   `OPENCLAW_OFFLINE` (no tool downloads), `OPENCLAW_DISABLE_BONJOUR` (no mDNS),
    ///   `OPENCLAW_SKIP_CHANNELS`, `OPENCLAW_SKIP_GMAIL_WATCHER`, `OPENCLAW_SKIP_CANVAS_HOST`,
    ///   `OPENCLAW_SKIP_BROWSER_CONTROL_SERVER`, `OPENCLAW_SKIP_STARTUP_MODEL_PREWARM` (no model
    ///   call at gateway start), `OPENCLAW_SKIP_CRON` (no heartbeat turns that would spend quota),
    ///   `OPENCLAW_CLAWHUB_URL=http://127.0.0.1:9`; `NO_COLOR=1`.
    ///
    /// These are what OpenClaw's own update rehearsal sets for a sandboxed gateway, plus the
    /// telemetry/offline/bonjour switches. Override any with [`OpenClawEnvBuilder::env`].
    pub fn base_env(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            self.install.node_bin_dir.display()
        );
        m.insert("PATH".into(), path);
        m.insert("HOME".into(), self.home.display().to_string());
        m.insert(
            "OPENCLAW_STATE_DIR".into(),
            self.state_dir.display().to_string(),
        );
        m.insert("TMPDIR".into(), self.tmp_dir.display().to_string());
        m.insert("LANG".into(), "C.UTF-8".into());
        if let Ok(tz) = std::env::var("TZ") {
            m.insert("TZ".into(), tz);
        }
        m.insert("MODELSCOPE_API_KEY".into(), FAKE_API_KEY.into());
        m.insert("OPENCLAW_GATEWAY_TOKEN".into(), GATEWAY_TOKEN.into());
        for k in [
            "OPENCLAW_NO_AUTO_UPDATE",
            "OPENCLAW_OFFLINE",
            "OPENCLAW_DISABLE_BONJOUR",
            "OPENCLAW_SKIP_CHANNELS",
            "OPENCLAW_SKIP_GMAIL_WATCHER",
            "OPENCLAW_SKIP_CANVAS_HOST",
            "OPENCLAW_SKIP_BROWSER_CONTROL_SERVER",
            "OPENCLAW_SKIP_STARTUP_MODEL_PREWARM",
            "OPENCLAW_SKIP_CRON",
            "NO_COLOR",
        ] {
            m.insert(k.into(), "1".into());
        }
        m.insert("OPENCLAW_TELEMETRY".into(), "0".into());
        m.insert("OPENCLAW_CLAWHUB_URL".into(), "http://127.0.0.1:9".into());
        m
    }

    /// The environment OpenClaw processes of this env get.
    pub fn env_vars(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// `node openclaw.mjs <args>` with this env's environment (cleared first) and cwd = HOME.
    /// Also what a daemon under test can use to find/run OpenClaw the same way.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = self.install.raw_command();
        c.args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.home)
            .stdin(Stdio::null());
        c
    }

    /// Runs an OpenClaw CLI command to completion (killed after `timeout`).
    pub fn run<I, S>(&self, args: I, timeout: Duration) -> Result<CmdOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run_with_timeout(&mut self.command(args), timeout)
    }

    /// `openclaw config validate`: Ok when OpenClaw accepts the config file as it is now.
    pub fn validate_config(&self) -> Result<()> {
        let out = self.run(["config", "validate"], Duration::from_secs(60))?;
        if !out.status.success() {
            bail!(
                "openclaw config validate failed ({}):\n{}\n{}",
                out.status,
                out.stdout,
                out.stderr
            );
        }
        Ok(())
    }

    // --- config -------------------------------------------------------------------------------

    pub fn read_config(&self) -> Result<String> {
        fs::read_to_string(&self.config_path)
            .with_context(|| format!("reading {}", self.config_path.display()))
    }

    /// Replaces `openclaw.json` the way msclaw does: temp file in the same dir, fsync, rename.
    pub fn write_config_atomic(&self, text: &str) -> Result<()> {
        let tmp = self.config_path.with_extension("json.msclaw-test-tmp");
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.config_path).with_context(|| {
            format!(
                "renaming {} over {}",
                tmp.display(),
                self.config_path.display()
            )
        })?;
        Ok(())
    }

    /// The `agents.defaults.model.primary` ref in the config text (`modelscope/…`).
    pub fn config_primary(&self) -> Result<String> {
        let text = self.read_config()?;
        let (start, end) = primary_span(&text)?;
        Ok(text[start..end].to_string())
    }

    /// Rewrites only the `primary: "…"` value (to `modelscope/<model>`) and renames the result
    /// over the config; comments and everything else stay byte-for-byte.
    pub fn set_primary_atomic(&self, model: &str) -> Result<()> {
        let text = self.read_config()?;
        let (start, end) = primary_span(&text)?;
        let new = format!("{}{}{}", &text[..start], model_ref(model), &text[end..]);
        self.write_config_atomic(&new)
    }

    // --- what OpenClaw wrote --------------------------------------------------------------------

    /// The gateway log file (`logging.file`).
    pub fn gateway_log_path(&self) -> &Path {
        &self.log_file
    }

    /// Every JSON line of the log file so far, rotated archives first (non-JSON lines skipped).
    pub fn log_lines(&self) -> Vec<LogLine> {
        read_log_lines(&self.log_file)
    }

    /// Polls the log (every 50 ms) for a line after the first `skip` lines whose message contains
    /// `needle`; returns it with the time it took to show up.
    pub fn wait_for_log(&self, skip: usize, needle: &str, timeout: Duration) -> Result<LogLine> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.log_lines();
            if let Some(l) = lines
                .into_iter()
                .skip(skip)
                .find(|l| l.message.contains(needle))
            {
                return Ok(l);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no log line containing {needle:?} within {timeout:?} in {} (last lines:\n{})",
                    self.log_file.display(),
                    self.log_lines()
                        .iter()
                        .rev()
                        .take(8)
                        .rev()
                        .map(|l| l.message.clone())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `<state>/agents/<agent>/agent/openclaw-agent.sqlite` (2026.7.2+).
    pub fn agent_db_path(&self, agent: &str) -> PathBuf {
        self.state_dir
            .join("agents")
            .join(agent)
            .join("agent/openclaw-agent.sqlite")
    }

    /// `<state>/agents/<agent>/sessions` (JSONL era: `<sessionId>.jsonl` + `sessions.json`).
    pub fn sessions_dir(&self, agent: &str) -> PathBuf {
        self.state_dir.join("agents").join(agent).join("sessions")
    }

    /// `<state>/agents/<agent>/agent/models.json` (older versions copy the providers block there,
    /// apiKey included).
    pub fn agent_models_json_path(&self, agent: &str) -> PathBuf {
        self.state_dir
            .join("agents")
            .join(agent)
            .join("agent/models.json")
    }

    /// Every transcript event of `agent`, from SQLite (2026.7.2+) or JSONL files, in
    /// (session, seq/line) order.
    pub fn transcript_events(&self, agent: &str) -> Result<Vec<TranscriptEvent>> {
        let db = self.agent_db_path(agent);
        if db.is_file() {
            read_sqlite_transcripts(&db)
        } else {
            read_jsonl_transcripts(&self.sessions_dir(agent))
        }
    }

    /// The assistant messages among [`Self::transcript_events`].
    pub fn assistant_messages(&self, agent: &str) -> Result<Vec<AssistantMessage>> {
        Ok(self
            .transcript_events(agent)?
            .iter()
            .filter_map(AssistantMessage::from_event)
            .collect())
    }
}

/// The byte span of the value of the first `primary: "…"` (or `"primary": "…"`) in `text`.
fn primary_span(text: &str) -> Result<(usize, usize)> {
    for key in ["primary:", "\"primary\":"] {
        if let Some(k) = text.find(key) {
            let after = k + key.len();
            let q1 = text[after..]
                .find('"')
                .map(|i| after + i + 1)
                .ok_or_else(|| anyhow!("no quote after primary"))?;
            let q2 = text[q1..]
                .find('"')
                .map(|i| q1 + i)
                .ok_or_else(|| anyhow!("unterminated primary"))?;
            return Ok((q1, q2));
        }
    }
    bail!("no `primary:` in the config")
}
