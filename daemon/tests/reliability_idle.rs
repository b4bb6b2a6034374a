//! Thousands of idle clients: the real `msclawd`, started with the common default of 1024 open
//! files, holds 2000 connections that never say anything and still answers `status` at once.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msclaw_shared::{Request, Response};
use msclaw_tests::daemon::Layout;
use msclaw_tests::daemon::Reaped;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

const IDLE: usize = 2000;
/// The soft limit many systems start a user's processes with.
const DEFAULT_SOFT_NOFILE: u64 = 1024;

fn soft_nofile_of(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_do_not_keep_status_waiting() {
    // This test process holds the client ends: it needs the room itself.
    let mine = getrlimit(Resource::Nofile);
    let hard = mine.maximum.unwrap_or(1 << 20);
    assert!(
        hard >= 2 * IDLE as u64 + 100,
        "the hard open-file limit here ({hard}) is too low for this test"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard.min(1 << 16)),
            maximum: mine.maximum,
        },
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msclawd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(layout.env_vars())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let hard_for_child = mine.maximum;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(DEFAULT_SOFT_NOFILE),
                    maximum: hard_for_child,
                },
            )
            .map_err(std::io::Error::from)
        });
    }
    let mut daemon = Reaped(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !layout.socket.exists() {
        assert!(Instant::now() < deadline, "msclawd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let daemon_limit = soft_nofile_of(daemon.id());

    let started = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::UnixStream::connect(&layout.socket),
        )
        .await
        {
            Ok(Ok(stream)) => idle.push(stream),
            other => panic!("connection {i} of {IDLE} was not taken: {other:?}"),
        }
    }
    let opened = started.elapsed();
    // Give the daemon the time to accept them all (a connect returns once it is queued).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let asked = Instant::now();
        let reply = tokio::time::timeout(Duration::from_secs(10), async {
            let mut client = msclaw_shared::client::Client::connect(&layout.socket)
                .await
                .unwrap();
            client.request(&Request::Status).await.unwrap()
        })
        .await
        .expect("status answered (not hung) while 2000 clients sit idle");
        assert!(matches!(reply.reply, Ok(Response::Status(_))), "{reply:?}");
        slowest = slowest.max(asked.elapsed());
    }
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "msclawd is still running"
    );
    println!(
        "idle-connections: {IDLE} idle connections opened in {} ms (msclawd started with a soft open-file limit of \
         {DEFAULT_SOFT_NOFILE}, raised itself to {daemon_limit}); status answered 5 times, slowest {} ms",
        opened.as_millis(),
        slowest.as_millis()
    );
    assert!(
        daemon_limit > IDLE as u64,
        "msclawd kept an open-file limit of {daemon_limit}"
    );
    drop(idle);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(daemon.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert!(daemon.wait().unwrap().success());
}

/// CPU time (user + system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat; `after_name` starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_daemon_uses_no_cpu() {
    // An agent with a transcript, a config, a gateway log directory: everything watched.
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::create_dir_all(&layout.gateway_log_dir).unwrap();
    std::fs::write(
        &layout.openclaw_config,
        msclaw_tests::transcripts::guide_config("http://127.0.0.1:9/v1", ""),
    )
    .unwrap();
    let session =
        msclaw_tests::transcripts::JsonlSession::create(&layout.openclaw_state, "main", "s1");
    session.append(&msclaw_tests::transcripts::assistant_reply(
        "modelscope",
        msclaw_tests::transcripts::QWEN,
        msclaw_tests::transcripts::now_ms(),
    ));
    layout.settings("");
    let mut daemon = Reaped(
        Command::new(env!("CARGO_BIN_EXE_msclawd"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(layout.env_vars())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !layout.state_file.exists() {
        assert!(Instant::now() < deadline, "msclawd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(daemon.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(daemon.id()) - before;
    let hz = 100; // USER_HZ on Linux
    println!(
        "idle-cpu: msclawd idle for 2 s with a transcript, a config and a log dir watched: {} ms of CPU",
        used * 1000 / hz
    );
    assert!(daemon.try_wait().unwrap().is_none());
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert!(
        used * 1000 / hz <= 50,
        "an idle msclawd used {} ms of CPU in 2 s",
        used * 1000 / hz
    );
}
