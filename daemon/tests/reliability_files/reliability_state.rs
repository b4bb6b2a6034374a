//! msclaw's own state under damage: a corrupt, truncated, empty or future-version state file; the
//! state directory deleted while the daemon runs; a full disk (a small tmpfs, or a read-only
//! directory where mounting is not allowed) and a file-size limit. The daemon starts, says what
//! happened, rebuilds its counts from OpenClaw's records, keeps running, and never truncates the
//! OpenClaw config.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msclaw_shared::{Request, Response, Status};
use msclaw_tests::daemon::Reaped;
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, QWEN};

const WAIT: Duration = Duration::from_secs(10);

fn setup(dir: &Path) -> (Layout, String, JsonlSession) {
    let layout = Layout::in_dir(dir);
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    (layout, config, session)
}

fn calls(session: &JsonlSession, model: &str, n: usize) {
    for _ in 0..n {
        session.append(&transcripts::assistant_reply(
            "modelscope",
            model,
            transcripts::now_ms(),
        ));
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn qwen(s: &Status) -> &msclaw_shared::ModelStatus {
    &s.models[0]
}

/// `used` of Qwen in a state file msclaw wrote.
fn used_in_state_file(path: &Path) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    v["today"]["models"][format!("modelscope/{QWEN}")]["used"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn damaged_state_files_are_set_aside_and_the_counts_rebuilt() {
    // A real state file to damage: three calls counted, then stopped.
    let dir = tempfile::tempdir().unwrap();
    let (layout, _, session) = setup(dir.path());
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    calls(&session, QWEN, 3);
    daemon
        .wait_for("3 calls", WAIT, |s| qwen(s).used == 3)
        .await
        .unwrap();
    daemon.stop().await.unwrap();
    let good = std::fs::read(&layout.state_file).unwrap();
    assert_eq!(used_in_state_file(&layout.state_file), 3);
    let mut future: serde_json::Value = serde_json::from_slice(&good).unwrap();
    future["version"] = 99.into();

    let variants: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "corrupt",
            b"{ \"version\": 1, this is not json ]".to_vec(),
            "does not parse",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "does not parse",
        ),
        ("empty", Vec::new(), "does not parse"),
        (
            "future version",
            serde_json::to_vec(&future).unwrap(),
            "version 99",
        ),
    ];
    let mut survived = 0;
    for (name, bytes, why) in &variants {
        let dir = tempfile::tempdir().unwrap();
        let (layout, _, session) = setup(dir.path());
        calls(&session, QWEN, 3);
        let state_dir = layout.state_file.parent().unwrap();
        std::fs::create_dir_all(state_dir).unwrap();
        std::fs::write(&layout.state_file, bytes).unwrap();
        // And what a msclawd killed mid-write leaves: temp files beside the state and the config.
        let stale_state_tmp = state_dir.join(".state.json.msclaw-Dead01.tmp");
        let stale_config_tmp = layout
            .openclaw_state
            .join(".openclaw.json.msclaw-Dead02.tmp");
        std::fs::write(&stale_state_tmp, b"half").unwrap();
        std::fs::write(&stale_config_tmp, b"half").unwrap();

        let daemon = TestDaemon::start(&layout, layout.settings(""))
            .await
            .unwrap();
        let status = daemon
            .wait_for("counts rebuilt", WAIT, |s| qwen(s).used == 3)
            .await
            .unwrap();
        let warning = status
            .warnings
            .iter()
            .find(|w| w.contains("set aside"))
            .unwrap_or_else(|| panic!("{name}: no warning in {:?}", status.warnings));
        assert!(
            warning.contains(why) && warning.contains("rebuilt"),
            "{name}: {warning}"
        );
        let aside: Vec<PathBuf> = std::fs::read_dir(state_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "{name}: {aside:?}");
        assert_eq!(
            &std::fs::read(&aside[0]).unwrap(),
            bytes,
            "{name}: the damaged file is kept as it was"
        );
        assert!(
            !stale_state_tmp.exists() && !stale_config_tmp.exists(),
            "{name}: stale temp files removed at start"
        );
        // Later calls count on top, once.
        calls(&session, QWEN, 1);
        daemon
            .wait_for("4 calls", WAIT, |s| qwen(s).used == 4)
            .await
            .unwrap();
        daemon.stop().await.unwrap();
        assert_eq!(
            used_in_state_file(&layout.state_file),
            4,
            "{name}: a good state file again"
        );
        survived += 1;
    }
    println!(
        "state-damage: {survived}/{} damaged state files (corrupt, truncated, empty, future version): daemon started, \
         warned in status, kept the bad file aside, rebuilt 3/3 calls from the records, 2 stale temp files removed at each start",
        variants.len()
    );
}

#[tokio::test]
async fn the_state_directory_deleted_while_running_is_created_again() {
    let logs = msclaw_tests::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let (layout, _, session) = setup(dir.path());
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    calls(&session, QWEN, 1);
    daemon
        .wait_for("1 call", WAIT, |s| qwen(s).used == 1)
        .await
        .unwrap();
    let state_dir = layout.state_file.parent().unwrap().to_owned();
    assert!(layout.state_file.exists());
    std::fs::remove_dir_all(&state_dir).unwrap();
    calls(&session, QWEN, 2);
    daemon
        .wait_for("3 calls", WAIT, |s| qwen(s).used == 3)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !layout.state_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the state file was not written again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.stop().await.unwrap();
    assert_eq!(used_in_state_file(&layout.state_file), 3);
    let said = logs.lines_with(&[
        "state directory disappeared",
        &state_dir.display().to_string(),
    ]);
    assert!(
        !said.is_empty(),
        "no clear log line; got:\n{}",
        logs.lines_with(&[&dir.path().display().to_string()])
            .join("\n")
    );
    println!(
        "state-dir-deleted: the state directory removed while running: recreated on the next save, 3/3 calls kept; logged: {}",
        said[0].trim()
    );
}

/// A small file system that is full: a 256 KiB tmpfs mounted for the test (root), or, where
/// mounting is not allowed, a directory made read-only (which stops only non-root users).
struct FullDisk {
    dir: PathBuf,
    how: &'static str,
    mounted: bool,
}

impl FullDisk {
    fn new(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let mount = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=256k,mode=0700",
                "msclaw-test",
                dir.to_str().unwrap(),
            ])
            .output();
        match mount {
            Ok(out) if out.status.success() => FullDisk {
                dir,
                how: "a 256 KiB tmpfs filled up",
                mounted: true,
            },
            other => {
                assert!(
                    !rustix::process::getuid().is_root(),
                    "cannot mount a tmpfs as root ({other:?}); the full-disk test needs either that or a non-root user"
                );
                FullDisk {
                    dir,
                    how: "a read-only directory (no tmpfs mount allowed here)",
                    mounted: false,
                }
            }
        }
    }

    /// Takes the last free byte (or write permission).
    fn fill(&self) {
        if self.mounted {
            use std::io::Write;
            let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
            let chunk = vec![0u8; 4096];
            while f.write_all(&chunk).is_ok() {}
            let _ = f.sync_all();
        } else {
            for d in [self.dir.join("state"), self.dir.clone()] {
                std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o500))
                    .unwrap();
            }
        }
    }

    fn free(&self) {
        if self.mounted {
            std::fs::remove_file(self.dir.join("filler")).unwrap();
        } else {
            for d in [self.dir.clone(), self.dir.join("state")] {
                std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .unwrap();
            }
        }
    }

    fn temp_files(&self) -> Vec<String> {
        walk(&self.dir)
            .into_iter()
            .filter(|n| n.contains(".msclaw-"))
            .collect()
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

#[tokio::test]
async fn a_full_disk_is_logged_the_daemon_keeps_counting_and_the_config_is_never_truncated() {
    let logs = msclaw_tests::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let disk = FullDisk::new(dir.path().join("full"));
    // The OpenClaw config and msclaw's state on the full disk; OpenClaw's transcripts elsewhere.
    let mut layout = Layout::in_dir(dir.path());
    layout.openclaw_config = disk.dir.join("openclaw.json");
    layout.state_file = disk.dir.join("state/state.json");
    std::fs::create_dir_all(layout.state_file.parent().unwrap()).unwrap();
    let original = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    std::fs::write(&layout.openclaw_config, &original).unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    disk.fill();

    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = 2\n"))
        .await
        .unwrap();
    calls(&session, QWEN, 2);
    let status = daemon
        .wait_for("Qwen spent", WAIT, |s| qwen(s).spent)
        .await
        .unwrap();
    assert_eq!(qwen(&status).used, 2);
    // The automatic switch could not be written: said so, and the config is as it was.
    let full = disk.dir.display().to_string();
    let deadline = Instant::now() + WAIT;
    while logs
        .lines_with(&["ERROR", "switch failed", &full])
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "no log line about the failed switch:\n{}",
            logs.lines_with(&[&dir.path().display().to_string()])
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = layout.state_file.display().to_string();
    assert!(
        !logs
            .lines_with(&["ERROR", "cannot save state to", &state])
            .is_empty(),
        "no log line about the state"
    );
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original,
        "config untouched"
    );
    // A pin is refused with a clear message, writes nothing, and the daemon goes on counting.
    let reply = daemon
        .request(&Request::Switch {
            model: "glm5".into(),
        })
        .await
        .unwrap();
    let err = reply.reply.expect_err("no switch on a full disk");
    assert!(err.message.contains("could not switch"), "{}", err.message);
    calls(&session, GLM, 1);
    let status = daemon
        .wait_for("GLM counted", WAIT, |s| s.models[1].used == 1)
        .await
        .unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some(format!("modelscope/{QWEN}").as_str())
    );
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original,
        "config untouched"
    );
    assert_eq!(
        disk.temp_files(),
        Vec::<String>::new(),
        "no temp file left on the full disk"
    );
    let failures = logs.lines_with(&["ERROR", &full]).len();
    let example = logs.lines_with(&["ERROR", "switch failed", &full])[0]
        .split("msclawd::engine: ")
        .last()
        .unwrap()
        .to_owned();

    // Space again: the next switch goes through, and the state is saved.
    disk.free();
    let reply = daemon
        .request(&Request::Switch {
            model: "glm5".into(),
        })
        .await
        .unwrap();
    assert!(matches!(reply.reply, Ok(Response::Handled(_))), "{reply:?}");
    let text = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    let want = original.replacen(
        &format!("\"modelscope/{QWEN}\", // msclaw"),
        &format!("\"modelscope/{GLM}\", // msclaw"),
        1,
    );
    assert_eq!(text, want, "only the primary changed");
    daemon.stop().await.unwrap();
    assert_eq!(used_in_state_file(&layout.state_file), 2);
    println!(
        "full-disk: {}: {failures} clear errors logged (state saves, switches), daemon kept running and counting, \
         config byte-identical and no temp file left while full; after space came back the switch landed and the state was saved; \
         logged: {example}",
        disk.how
    );
}

/// The real msclawd under `RLIMIT_FSIZE` = 256 bytes (smaller than the config and the compact state),
/// its stderr going to `stderr`. Waits until Qwen is spent and a pin was refused, checks that it
/// still runs and the config is as it was, stops it with SIGTERM. Returns the pin's refusal.
/// Below the config's size and the state's (compact JSON, a few hundred bytes).
const FILE_SIZE_LIMIT: u64 = 256;

fn run_under_file_size_limit(stderr: Stdio) -> (String, std::process::ExitStatus, String) {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let dir = tempfile::tempdir().unwrap();
    let (layout, original, session) = setup(dir.path());
    assert!(original.len() > FILE_SIZE_LIMIT as usize);
    layout.settings("daily_limit = 2\n");
    calls(&session, QWEN, 2);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msclawd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .envs(layout.env_vars())
        .stdout(Stdio::null())
        .stderr(stderr);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            setrlimit(
                Resource::Fsize,
                Rlimit {
                    current: Some(FILE_SIZE_LIMIT),
                    maximum: Some(FILE_SIZE_LIMIT),
                },
            )
            .map_err(std::io::Error::from)
        });
    }
    let mut daemon = Reaped(cmd.spawn().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refusal = rt.block_on(async {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(mut c) = msclaw_shared::client::Client::connect(&layout.socket).await
                && let Ok(reply) = c.request(&Request::Status).await
                && let Ok(Response::Status(s)) = reply.reply
                && qwen(&s).spent
            {
                assert_eq!(
                    s.active_model.as_deref(),
                    Some(format!("modelscope/{QWEN}").as_str())
                );
                break;
            }
            if let Ok(Some(exit)) = daemon.try_wait() {
                panic!("msclawd exited ({exit})");
            }
            assert!(Instant::now() < deadline, "msclawd never saw Qwen spent");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut c = msclaw_shared::client::Client::connect(&layout.socket)
            .await
            .unwrap();
        let reply = c
            .request(&Request::Switch {
                model: "glm5".into(),
            })
            .await
            .unwrap();
        reply.reply.expect_err("no switch can be written").message
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "msclawd died: {:?}",
        daemon.try_wait()
    );
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original,
        "config untouched"
    );
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(daemon.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let exit = daemon.wait().unwrap();
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original,
        "config untouched"
    );
    let leftovers: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|n| n.contains(".msclaw-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    (refusal, exit, dir.path().display().to_string())
}

#[test]
fn under_a_file_size_limit_the_real_msclawd_logs_and_keeps_running() {
    // 1. Its log readable (a pipe): the failures are logged clearly.
    let (pipe_read, pipe_write) = std::io::pipe().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(pipe_read), &mut text).unwrap();
        text
    });
    let (refusal, exit, _) = run_under_file_size_limit(Stdio::from(pipe_write));
    let log = reader.join().unwrap();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(refusal.contains("could not switch"), "{refusal}");
    let line = log
        .lines()
        .find(|l| l.contains("switch failed"))
        .unwrap_or_else(|| panic!("no switch failure logged:\n{log}"))
        .to_owned();
    assert!(line.contains("File too large"), "{line}");
    assert!(
        log.lines()
            .any(|l| l.contains("cannot save state to") && l.contains("File too large")),
        "{log}"
    );

    // 2. Its log a file under the same limit, already full: every log write fails too.
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("msclawd.log");
    std::fs::write(&log_file, vec![b'.'; 1024]).unwrap();
    let stderr = std::fs::OpenOptions::new()
        .append(true)
        .open(&log_file)
        .unwrap();
    let (refusal2, exit2, _) = run_under_file_size_limit(Stdio::from(stderr));
    assert!(exit2.success(), "{exit2}");
    assert!(refusal2.contains("could not switch"), "{refusal2}");
    let plain = String::from_utf8(strip_ansi(line.as_bytes())).unwrap();
    println!(
        "file-size-limit: msclawd under RLIMIT_FSIZE=256 bytes, log to a pipe and to a full file: switches refused \
         (EFBIG), state saves failed, process kept running and exited cleanly on SIGTERM both times, config \
         byte-identical, no temp files; logged: {}",
        plain.split("msclawd::engine: ").last().unwrap_or(&plain)
    );
}

fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b {
            while i < bytes.len() && bytes[i] != b'm' {
                i += 1;
            }
        } else {
            out.push(bytes[i]);
        }
        i += 1;
    }
    out
}
