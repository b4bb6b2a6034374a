//! Bounds another local user (or a hostile hook) must not get past: a hook's timeout holds however
//! it treats its stdin; the socket directory fallback in a shared `$TMPDIR` cannot be squatted or
//! pointed elsewhere; one daemon per OpenClaw config and state, whatever its socket.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msclaw_tests::daemon::{Layout, Reaped, TestDaemon};
use msclawd::settings::{Command as HookCommand, HookSettings};

/// nobody/nogroup on most systems; any uid but ours would do.
const OTHER_UID: u32 = 65534;

async fn wait_for_file(path: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text.trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Gone, or a zombie no one reaps (a container's pid 1 may not): either way it runs no more.
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.contains(") Z "),
        Err(_) => true,
    }
}

#[tokio::test]
async fn a_hook_that_never_reads_a_large_payload_is_killed_with_its_children_at_the_timeout() {
    let logs = msclaw_tests::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let (sh_pid, sleep_pid) = (dir.path().join("sh.pid"), dir.path().join("sleep.pid"));
    // Never reads stdin; leaves a child of its own behind, in its process group.
    let line = format!(
        "echo $$ > {}; sleep 3600 & echo $! > {}; wait",
        sh_pid.display(),
        sleep_pid.display()
    );
    let hook = HookSettings {
        command: HookCommand::Shell(line.clone()),
        timeout_secs: 1,
    };
    let started = Instant::now();
    // Over 64 KiB, more than a pipe holds: the write alone would block until the hook reads.
    let reason = "x".repeat(100 * 1024);
    let event = msclaw_shared::Event {
        at: "now".into(),
        kind: msclaw_shared::EventKind::Switched {
            from: Some("a".into()),
            to: "b".into(),
            reason,
        },
    };
    msclawd::hooks::run_switch_hook(hook, event);
    let pids = [
        wait_for_file(&sh_pid, Duration::from_secs(5)).await,
        wait_for_file(&sleep_pid, Duration::from_secs(5)).await,
    ];
    let deadline = started + Duration::from_millis(2500);
    while !pids.iter().all(|p| ended(p)) {
        assert!(
            Instant::now() < deadline,
            "the hook (pid {}) and its child (pid {}) still run {:?} after a 1 s timeout",
            pids[0],
            pids[1],
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while logs
        .lines_with(&["WARN", &line, "timeout of 1s", "killed"])
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "no warning naming the hook and its timeout:\n{}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real msclawd with no `XDG_RUNTIME_DIR` and no `MSCLAW_SOCKET`: its socket goes to the
/// `$TMPDIR/msclaw-$UID` fallback. Returns that fallback and the layout for everything else.
fn fallback_setup(root: &Path) -> (PathBuf, Layout) {
    let layout = Layout::in_dir(root);
    layout.settings("");
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let uid = rustix::process::geteuid().as_raw();
    (tmp.join(format!("msclaw-{uid}")), layout)
}

/// Runs msclawd on the fallback and returns its stderr once it has exited (failing if it started).
fn msclawd_on_fallback(layout: &Layout) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msclawd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(
            layout
                .env_vars()
                .into_iter()
                .filter(|(k, _)| k != "MSCLAW_SOCKET"),
        )
        .env("TMPDIR", layout.root.join("tmp"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = Reaped(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "msclawd started on a socket directory that is not its own"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    stderr
}

fn assert_clear_refusal(stderr: &str, fallback: &Path, problem: &str) {
    let path = fallback.display().to_string();
    for needle in [
        &*path,
        "is taken",
        problem,
        "XDG_RUNTIME_DIR",
        "MSCLAW_SOCKET",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in:\n{stderr}");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_symlink_at_the_socket_dir_fallback_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (fallback, layout) = fallback_setup(dir.path());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &fallback).unwrap();

    let stderr = msclawd_on_fallback(&layout);
    assert_clear_refusal(&stderr, &fallback, "symbolic link");
    assert_eq!(mode(&elsewhere), 0o755, "the link's target was chmod-ed");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "msclawd put files in the link's target"
    );
    assert!(fallback.is_symlink());
}

#[test]
fn another_users_dir_at_the_socket_dir_fallback_is_refused_and_left_as_it_is() {
    let me = rustix::process::geteuid();
    assert!(
        me.is_root(),
        "this test gives a directory to uid {OTHER_UID}, which needs root; it runs as uid {}. \
         Run the test suite as root (CI does) to check it.",
        me.as_raw()
    );
    let dir = tempfile::tempdir().unwrap();
    let (fallback, layout) = fallback_setup(dir.path());
    std::fs::create_dir(&fallback).unwrap();
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&fallback, Some(OTHER_UID), Some(OTHER_UID)).unwrap();

    let stderr = msclawd_on_fallback(&layout);
    assert_clear_refusal(&stderr, &fallback, &format!("owned by uid {OTHER_UID}"));
    let meta = std::fs::symlink_metadata(&fallback).unwrap();
    assert_eq!((meta.uid(), mode(&fallback)), (OTHER_UID, 0o755));
    assert_eq!(std::fs::read_dir(&fallback).unwrap().count(), 0);
}

#[tokio::test]
async fn a_second_daemon_on_the_same_openclaw_config_or_state_is_refused_whatever_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let first_layout = Layout::in_dir(dir.path());
    let first = TestDaemon::start(&first_layout, first_layout.settings(""))
        .await
        .unwrap();
    let first_socket = first_layout.socket.display().to_string();
    let pid = format!("pid {}", std::process::id());

    // Same config and state, another socket.
    let mut same_config = first_layout.clone();
    same_config.socket = dir.path().join("run2/msclawd.sock");
    // Same state, another config and socket.
    let mut same_state = first_layout.clone();
    same_state.socket = dir.path().join("run3/msclawd.sock");
    same_state.openclaw_state = dir.path().join("openclaw-other");
    same_state.openclaw_config = same_state.openclaw_state.join("openclaw.json");
    for (layout, shared) in [
        (&same_config, "for the OpenClaw config"),
        (&same_state, "with the state file"),
    ] {
        let err = TestDaemon::run_to_end(layout, layout.settings(""))
            .await
            .expect_err("a second daemon must be refused");
        let text = format!("{err:#}");
        for needle in ["already running", shared, &*pid, &*first_socket] {
            assert!(text.contains(needle), "no {needle:?} in: {text}");
        }
        assert!(!layout.socket.exists());
    }
    // The first one is untouched, and once it stops the place is free again.
    assert!(first.status().await.is_ok());
    first.stop().await.unwrap();
    let second = TestDaemon::start(&same_config, same_config.settings(""))
        .await
        .unwrap();
    assert!(second.status().await.is_ok());
    second.stop().await.unwrap();
}
