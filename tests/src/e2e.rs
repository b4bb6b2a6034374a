//! Glue for the end-to-end tests and the benchmark: an msclawd pointed at a real
//! [`OpenClawEnv`](crate::openclaw::OpenClawEnv) (in-process, or the real `msclawd` binary), a
//! recorder of its event stream, and small helpers to time what happened.
//!
//! Everything here is synchronous (OpenClaw turns block the calling thread); the in-process daemon
//! runs on its own multi-threaded tokio runtime, so it keeps working while a turn blocks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use msclaw_shared::client::Client;
use msclaw_shared::{Event, Request, Response, Status};

use crate::daemon::{Layout, TestDaemon};
use crate::openclaw::{LogLine, OpenClawEnv};

/// The gateway's word that it applied a new `primary` without a restart.
pub const RELOAD_APPLIED: &str = "config hot reload applied (agents.defaults.model.primary)";

/// msclaw's files (socket, state, settings) in their own temp dir, OpenClaw's from `env`: its
/// config, its state dir (transcripts) and its log file (`logging.file`, given to msclaw as
/// `gateway_log`). The gateway port is in the config (`gateway.port`), where msclaw reads it.
pub fn layout_for(env: &OpenClawEnv, root: &Path) -> Layout {
    Layout {
        root: root.to_owned(),
        socket: root.join("run/msclaw/msclawd.sock"),
        state_file: root.join("state/state.json"),
        settings_file: root.join("msclaw.toml"),
        openclaw_state: env.state_dir.clone(),
        openclaw_config: env.config_path.clone(),
        gateway_log_dir: env.log_file.clone(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// What every msclawd handle answers (in-process or a process).
pub trait StatusSource {
    fn socket(&self) -> &Path;
    fn rt(&self) -> &tokio::runtime::Runtime;

    fn status(&self) -> Result<Status> {
        let socket = self.socket().to_owned();
        self.rt().block_on(async move {
            let mut client = Client::connect(&socket).await?;
            match client.request(&Request::Status).await?.reply {
                Ok(Response::Status(status)) => Ok(*status),
                other => bail!("unexpected status reply: {other:?}"),
            }
        })
    }

    fn history(&self, days: u32) -> Result<msclaw_shared::History> {
        let socket = self.socket().to_owned();
        self.rt().block_on(async move {
            let mut client = Client::connect(&socket).await?;
            match client.request(&Request::History { days }).await?.reply {
                Ok(Response::History(history)) => Ok(history),
                other => bail!("unexpected history reply: {other:?}"),
            }
        })
    }

    /// Polls status every 10 ms until `pred` holds.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Status) -> bool,
    ) -> Result<Status> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status()?;
            if pred(&status) {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {what}; last status:\n{}",
                    serde_json::to_string_pretty(&status)?
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Subscribes to the daemon's event stream; returns once the subscription is in place.
    fn record_events(&self) -> Result<EventRecorder> {
        let socket = self.socket().to_owned();
        let events: Arc<Mutex<Vec<TimedEvent>>> = Arc::default();
        let sink = events.clone();
        let mut client = self.rt().block_on(async {
            let mut client = Client::connect(&socket).await?;
            match client.request(&Request::EventStream).await?.reply {
                Ok(Response::Handled(_)) => Ok::<_, anyhow::Error>(client),
                other => bail!("unexpected EventStream reply: {other:?}"),
            }
        })?;
        let task = self.rt().spawn(async move {
            while let Ok(Some(event)) = client.next_event().await {
                let mut v = sink.lock().unwrap();
                v.push(TimedEvent {
                    instant: Instant::now(),
                    wall: SystemTime::now(),
                    event,
                });
            }
        });
        Ok(EventRecorder { events, task })
    }

    fn active(&self) -> Result<Option<String>> {
        Ok(self.status()?.active_model)
    }
}

/// An in-process msclawd on its own runtime, serving one OpenClaw env.
pub struct Msclaw {
    pub layout: Layout,
    daemon: Option<TestDaemon>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Msclaw {
    /// Starts msclawd in this process for `env` with `settings_toml` (added after `gateway_log`).
    pub fn start(env: &OpenClawEnv, settings_toml: &str) -> Result<Msclaw> {
        let dir = tempfile::Builder::new().prefix("msclaw-e2e-").tempdir()?;
        let layout = layout_for(env, dir.path());
        let rt = runtime()?;
        let settings = layout.settings(settings_toml);
        let daemon = rt.block_on(TestDaemon::start(&layout, settings))?;
        Ok(Msclaw {
            layout,
            daemon: Some(daemon),
            rt,
            _dir: dir,
        })
    }

    /// As [`Msclaw::start`], with the relay's store written first: OpenClaw's config keeps its
    /// `${MODELSCOPE_API_KEY}` (the fake key), which serves as the relay token here, and the relay
    /// forwards to `real_url` with that key.
    pub fn start_relayed(
        env: &OpenClawEnv,
        settings_toml: &str,
        relay_url: &str,
        real_url: &str,
    ) -> Result<Msclaw> {
        let dir = tempfile::Builder::new().prefix("msclaw-e2e-").tempdir()?;
        let layout = layout_for(env, dir.path());
        let key = crate::openclaw::FAKE_API_KEY;
        crate::daemon::write_relay_store(&layout, key, relay_url, real_url, key);
        let rt = runtime()?;
        let settings = layout.settings(settings_toml);
        let daemon = rt.block_on(TestDaemon::start(&layout, settings))?;
        Ok(Msclaw {
            layout,
            daemon: Some(daemon),
            rt,
            _dir: dir,
        })
    }

    /// Stops it the way SIGTERM does.
    pub fn stop(mut self) -> Result<()> {
        match self.daemon.take() {
            Some(d) => self.rt.block_on(d.stop()),
            None => Ok(()),
        }
    }
}

impl StatusSource for Msclaw {
    fn socket(&self) -> &Path {
        &self.layout.socket
    }
    fn rt(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

impl Drop for Msclaw {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            let _ = self.rt.block_on(d.stop());
        }
    }
}

/// The real `msclawd` binary, run with a [`Layout`]'s environment (`MSCLAW_*`, `OPENCLAW_*`).
pub struct MsclawdProcess {
    pub child: Child,
    pub layout: Layout,
    pub stderr_path: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl MsclawdProcess {
    /// Spawns `binary` and waits until its socket answers (up to 15 s). The settings file must be
    /// written already ([`Layout::settings`]). stderr goes to `<root>/msclawd.<n>.stderr`.
    pub fn spawn(binary: &Path, layout: &Layout) -> Result<MsclawdProcess> {
        anyhow::ensure!(
            binary.is_file(),
            "no msclawd binary at {} (build it: cargo build -p msclaw-daemon)",
            binary.display()
        );
        let n = std::fs::read_dir(&layout.root)
            .map(|d| d.count())
            .unwrap_or(0);
        let stderr_path = layout.root.join(format!("msclawd.{n}.stderr"));
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var_os("RUST_LOG").unwrap_or_else(|| "info".into()),
            )
            .envs(layout.env_vars())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path)?)
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let mut p = MsclawdProcess {
            child,
            layout: layout.clone(),
            stderr_path,
            rt: runtime()?,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if p.status().is_ok() {
                return Ok(p);
            }
            if let Some(st) = p.child.try_wait()? {
                bail!("msclawd exited with {st} at start:\n{}", p.stderr());
            }
            if Instant::now() >= deadline {
                bail!("msclawd did not answer within 15 s:\n{}", p.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL: no chance to save anything or remove its socket.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).context("pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        Ok(self.child.wait()?)
    }

    /// `VmRSS` and `VmHWM` (peak) of the process, in KiB.
    pub fn rss_kib(&self) -> Result<(u64, u64)> {
        proc_rss_kib(self.child.id())
    }

    /// User + system CPU time the process used so far (from `/proc/<pid>/stat`).
    pub fn cpu_time(&self) -> Result<Duration> {
        proc_cpu_time(self.child.id())
    }
}

impl StatusSource for MsclawdProcess {
    fn socket(&self) -> &Path {
        &self.layout.socket
    }
    fn rt(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

impl Drop for MsclawdProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.terminate();
        }
    }
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
pub fn proc_rss_kib(pid: u32) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line.split_whitespace().nth(1).context("value")?.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// utime + stime of `pid` (clock ticks of 1/100 s on Linux).
pub fn proc_cpu_time(pid: u32) -> Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &text[text.rfind(')').context("stat format")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // /proc reports USER_HZ ticks, 100 a second on Linux whatever the kernel's own HZ.
    Ok(Duration::from_millis(ticks * 10))
}

/// One event of the daemon's stream, stamped when it was received.
#[derive(Clone, Debug)]
pub struct TimedEvent {
    pub instant: Instant,
    pub wall: SystemTime,
    pub event: Event,
}

/// Collects the event stream in the background.
pub struct EventRecorder {
    events: Arc<Mutex<Vec<TimedEvent>>>,
    task: tokio::task::JoinHandle<()>,
}

impl EventRecorder {
    pub fn events(&self) -> Vec<TimedEvent> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for EventRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wall-clock milliseconds → the `Instant` they correspond to in this process (for comparing
/// times other processes wrote, such as SQLite `created_at` or a log line's `time`).
pub fn instant_of_wall_ms(ms: i64) -> Instant {
    let now_i = Instant::now();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let delta = now_ms - ms;
    if delta >= 0 {
        now_i - Duration::from_millis(delta as u64)
    } else {
        now_i + Duration::from_millis((-delta) as u64)
    }
}

/// A log line's `time` (RFC 3339 with offset) in wall-clock ms.
pub fn log_line_ms(line: &LogLine) -> Option<i64> {
    line.time
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// `text` with the value of its first `primary` replaced by `model_ref` (what msclaw's edit must
/// amount to, byte for byte).
pub fn with_primary(text: &str, model_ref: &str) -> Result<String> {
    let key = text.find("primary:").context("no primary: in the config")?;
    let q1 = key + text[key..].find('"').context("no quote")? + 1;
    let q2 = q1 + text[q1..].find('"').context("unterminated")?;
    Ok(format!("{}{}{}", &text[..q1], model_ref, &text[q2..]))
}

/// Seconds with one decimal, for tables.
pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// Median and maximum.
pub fn median_max(values: &[Duration]) -> (Duration, Duration) {
    if values.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let mut v = values.to_vec();
    v.sort();
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2
    } else {
        v[mid]
    };
    (median, *v.last().unwrap())
}
