//! `openclaw gateway run`: started in its own process group, ready when `/readyz` says so, and
//! ended with its whole group on drop.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::env::OpenClawEnv;
use super::install::tail;
use super::process::{http_get, kill_group};

impl OpenClawEnv {
    /// `openclaw gateway run --auth token --bind loopback --port <port>`, in its own process
    /// group; returns when `/readyz` says ready (up to 180 s).
    pub fn start_gateway(&self) -> Result<Gateway> {
        let stdout_path = self.root.join("gateway.stdout.log");
        let stderr_path = self.root.join("gateway.stderr.log");
        let port = self.gateway_port.to_string();
        let mut cmd = self.command([
            "gateway", "run", "--auth", "token", "--bind", "loopback", "--port", &port,
        ]);
        let started = Instant::now();
        let child = cmd
            .stdout(File::create(&stdout_path)?)
            .stderr(File::create(&stderr_path)?)
            .process_group(0)
            .spawn()
            .context("spawning openclaw gateway run")?;
        let mut gw = Gateway {
            child,
            port: self.gateway_port,
            started,
            ready_after: Duration::ZERO,
            stdout_path,
            stderr_path,
        };
        let deadline = started + Duration::from_secs(180);
        loop {
            if let Some(st) = gw.child.try_wait()? {
                bail!(
                    "openclaw gateway exited with {st} before it was ready\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    tail(&fs::read_to_string(&gw.stdout_path).unwrap_or_default(), 30),
                    tail(&fs::read_to_string(&gw.stderr_path).unwrap_or_default(), 30)
                );
            }
            if let Ok((200, body)) = http_get(gw.port, "/readyz", Duration::from_secs(2))
                && serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("ready").and_then(Value::as_bool))
                    == Some(true)
            {
                gw.ready_after = started.elapsed();
                return Ok(gw);
            }
            if Instant::now() >= deadline {
                bail!(
                    "openclaw gateway not ready after 180 s\n--- stdout ---\n{}",
                    tail(&fs::read_to_string(&gw.stdout_path).unwrap_or_default(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A running `openclaw gateway run`. Dropping it ends its whole process group (SIGTERM, then
/// SIGKILL after 5 s) and waits until no process of the group is left.
pub struct Gateway {
    child: Child,
    pub port: u16,
    pub started: Instant,
    /// Spawn to `/readyz` = ready.
    pub ready_after: Duration,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Gateway {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Still running?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// `GET /readyz` → `"ready": true`.
    pub fn is_ready(&self) -> bool {
        matches!(http_get(self.port, "/readyz", Duration::from_secs(2)),
                 Ok((200, body)) if body.contains("\"ready\":true"))
    }
    /// The gateway's console output so far (stdout; a copy of the info log, coloured off).
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
    /// Stops it now (what drop does).
    pub fn stop(&mut self) {
        kill_group(self.child.id(), &mut self.child);
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}
