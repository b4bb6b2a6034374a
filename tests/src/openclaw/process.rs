//! Running OpenClaw's processes: commands with a timeout, killed with their process group, and
//! the loopback helpers (a free port, a plain HTTP GET).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

/// What a finished (or timed-out) command left.
#[derive(Debug)]
pub struct CmdOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    /// It was killed (with its process group) after the timeout.
    pub timed_out: bool,
}

/// Spawns `cmd` in a new process group with piped output, waits up to `timeout`, then kills the
/// whole group.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<CmdOutput> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let running = RunningCommand::from_child(&mut child, started);
    running.finish(child, timeout)
}

pub(super) struct RunningCommand {
    started: Instant,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
}

impl RunningCommand {
    pub(super) fn from_child(child: &mut Child, started: Instant) -> RunningCommand {
        let mut so = child.stdout.take().expect("piped stdout");
        let mut se = child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = so.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        });
        let err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = se.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        });
        RunningCommand { started, out, err }
    }

    pub(super) fn finish(self, mut child: Child, timeout: Duration) -> Result<CmdOutput> {
        let deadline = self.started + timeout;
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                kill_group(child.id(), &mut child);
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let wall = self.started.elapsed();
        // Descendants that outlived the leader would keep the pipes open: end the group.
        kill_group(child.id(), &mut child);
        let stdout = self.out.join().unwrap_or_default();
        let stderr = self.err.join().unwrap_or_default();
        Ok(CmdOutput {
            status,
            stdout,
            stderr,
            wall,
            timed_out,
        })
    }
}

/// SIGTERM to the group `pgid`, up to 5 s for it to go, then SIGKILL; reaps `leader`.
pub(super) fn kill_group(pgid: u32, leader: &mut Child) {
    use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
    let Some(pid) = Pid::from_raw(pgid as i32) else {
        return;
    };
    let gone = |leader: &mut Child| {
        let _ = leader.try_wait();
        test_kill_process_group(pid).is_err()
    };
    if gone(leader) {
        return;
    }
    let _ = kill_process_group(pid, Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if gone(leader) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = kill_process_group(pid, Signal::KILL);
    let _ = leader.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && test_kill_process_group(pid).is_ok() {
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A minimal HTTP/1.0 GET on 127.0.0.1: (status, body).
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "no HTTP status in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
