//! The usage watcher at rest and under a stream of file events: an idle msclawd must not spin on
//! its own reads (or anyone's reads) of the files it watches, and a steady stream of writes must
//! not keep it from reading what changed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::e2e::proc_cpu_time;
use msclaw_tests::transcripts::{self, AgentDb, GLM, JsonlSession, QWEN};

/// The guide's config (comments, four models) with a gateway port nobody listens on.
fn setup(root: &Path) -> Layout {
    let mut layout = Layout::in_dir(root);
    layout.gateway_log_dir = root.join("logs/openclaw-gateway.log");
    std::fs::create_dir_all(layout.gateway_log_dir.parent().unwrap()).unwrap();
    transcripts::append_line(
        &layout.gateway_log_dir,
        &transcripts::gateway_log_line("gateway", "gateway ready"),
    );
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    let config = format!(
        "{}  gateway: {{ port: {port} }},\n}}\n",
        config.trim_end().strip_suffix('}').unwrap()
    );
    std::fs::write(&layout.openclaw_config, config).unwrap();
    layout
}

#[test]
fn an_idle_daemon_uses_no_cpu_even_while_others_read_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let layout = setup(dir.path());
    layout.settings("");
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    let db = AgentDb::create(&layout.openclaw_state, "main").unwrap();
    db.add_session("s1").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_msclawd"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(layout.env_vars())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !layout.socket.exists() {
        assert!(Instant::now() < deadline, "msclawd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    // One commit to OpenClaw 2026.9.6's SQLite store, then rest: one scan, then nothing to do.
    // (Waking on every open of a watched file made it poll ~60 times a second while idle, each
    // poll's own reads waking it again; and SQLite's read-write opens of -wal/-shm by msclaw's
    // read-only scans did the same for 2 s after each commit, for ever on a busy gateway.)
    let before = proc_cpu_time(child.id()).unwrap();
    db.append(
        "s1",
        &transcripts::assistant_reply("modelscope", QWEN, transcripts::now_ms()),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let idle = proc_cpu_time(child.id()).unwrap() - before;
    // What OpenClaw's CLI and a `tail -f` do all day: read the config, the log and transcripts.
    let before = proc_cpu_time(child.id()).unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        std::fs::read_to_string(&layout.openclaw_config).unwrap();
        std::fs::read_to_string(&layout.gateway_log_dir).unwrap();
        std::fs::read_to_string(&session.path).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    let reading = proc_cpu_time(child.id()).unwrap() - before;
    child.kill().unwrap();
    child.wait().unwrap();
    println!(
        "msclawd CPU: {idle:?} in 3 s at rest, {reading:?} in 3 s of others reading its files"
    );
    assert!(
        idle <= Duration::from_millis(30),
        "msclawd used {idle:?} of CPU in 3 s at rest"
    );
    // notify's own thread still wakes for each open (its inotify mask has IN_OPEN): a little.
    assert!(
        reading <= Duration::from_millis(100),
        "msclawd used {reading:?} of CPU in 3 s while others read its files"
    );
}

#[tokio::test]
async fn a_steady_stream_of_log_writes_does_not_hold_back_a_switch() {
    let dir = tempfile::tempdir().unwrap();
    let layout = setup(dir.path());
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = 1\n"))
        .await
        .unwrap();
    daemon
        .wait_for("the config read", Duration::from_secs(10), |s| {
            s.active_model.is_some()
        })
        .await
        .unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    // A busy gateway: a log line every 5 ms, for longer than the switch may take.
    let log = layout.gateway_log_dir.clone();
    let writer = std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            writeln!(
                file,
                "{}",
                transcripts::gateway_log_line("gateway/ws", "noise")
            )
            .unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = Instant::now();
    session.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    let want = format!("modelscope/{GLM}");
    daemon
        .wait_for("the switch to GLM", Duration::from_secs(3), |s| {
            s.active_model.as_deref() == Some(&*want)
        })
        .await
        .unwrap();
    println!(
        "switched {} ms after the record, under a log write every 5 ms",
        written.elapsed().as_millis()
    );
    writer.join().unwrap();
    daemon.stop().await.unwrap();
}
