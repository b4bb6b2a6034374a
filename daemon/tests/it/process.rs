//! The real `msclawd` binary: signals, exit codes, and the service files that start it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msclaw_tests::daemon::Layout;

fn msclawd(layout: &Layout) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msclawd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(layout.env_vars());
    cmd
}

fn wait_until(what: &str, timeout: Duration, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_removes_the_socket_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let mut child = msclawd(&layout).stderr(Stdio::piped()).spawn().unwrap();
    wait_until("the socket", Duration::from_secs(10), || {
        layout.socket.exists()
    });
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(!layout.socket.exists(), "socket removed");
}

#[test]
fn a_second_process_exits_non_zero_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let mut first = msclawd(&layout).stderr(Stdio::null()).spawn().unwrap();
    wait_until("the socket", Duration::from_secs(10), || {
        layout.socket.exists()
    });
    let second = msclawd(&layout).output().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("already running (pid {}", first.id())),
        "{stderr}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn a_broken_msclaw_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::write(&layout.settings_file, "daily_limit = 500\nmodles = []\n").unwrap();
    let out = msclawd(&layout).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("modles") && stderr.contains("msclaw.toml") && stderr.contains("line 2"),
        "{stderr}"
    );
}

fn unit_file() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../systemd/msclawd.service"
    ))
    .unwrap();
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {line}"));
            entries.push((section.clone(), key.to_owned(), value.to_owned()));
        }
    }
    entries
}

#[test]
fn the_systemd_unit_is_a_notify_user_service_that_runs_msclawd() {
    let entries = unit_file();
    let get = |s: &str, k: &str| {
        entries
            .iter()
            .find(|(es, ek, _)| es == s && ek == k)
            .map(|e| e.2.clone())
    };
    assert_eq!(get("Service", "Type").as_deref(), Some("notify"));
    assert_eq!(get("Service", "Restart").as_deref(), Some("on-failure"));
    assert_eq!(
        get("Install", "WantedBy").as_deref(),
        Some("default.target")
    );
    let exec = get("Service", "ExecStart").unwrap();
    assert!(
        exec.starts_with('/') || exec.starts_with("%h/"),
        "ExecStart must be absolute: {exec}"
    );
    assert!(exec.ends_with("/msclawd"), "{exec}");
}

#[test]
fn the_launchd_plist_runs_msclawd_at_load_and_keeps_it_alive() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../systemd/dev.msclaw.msclawd.plist"
    );
    let plist: plist::Dictionary = plist::from_file(path).unwrap();
    assert_eq!(
        plist.get("Label").and_then(|v| v.as_string()),
        Some("dev.msclaw.msclawd")
    );
    assert_eq!(
        plist.get("RunAtLoad").and_then(|v| v.as_boolean()),
        Some(true)
    );
    assert!(plist.get("KeepAlive").is_some());
    let args = plist
        .get("ProgramArguments")
        .and_then(|v| v.as_array())
        .unwrap();
    let program = args[0].as_string().unwrap();
    assert!(
        program.starts_with('/') && program.ends_with("/msclawd"),
        "{program}"
    );
}

/// What msclawd writes to stderr (its log) before SIGTERM ends it, with stderr on `stderr`.
fn log_output(layout: &Layout, stderr: Stdio, no_color: bool) -> std::process::Child {
    let mut cmd = msclawd(layout);
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let child = cmd.stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
    wait_until("the socket", Duration::from_secs(10), || {
        layout.socket.exists()
    });
    child
}

fn stop(mut child: std::process::Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    child.wait().unwrap();
}

/// The log as a terminal shows it: stderr on a real pseudo-terminal.
fn log_on_a_terminal(layout: &Layout, no_color: bool) -> String {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use std::io::Read;
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let child = log_output(layout, Stdio::from(slave), no_color);
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut out = Vec::new();
        // Ends with EIO once the child (the slave's last holder) has exited.
        let _ = master.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    std::thread::sleep(Duration::from_millis(300));
    stop(child);
    reader.join().unwrap()
}

/// Issue 12 point 5: colour only on a terminal, never with NO_COLOR, never in a file or journald.
#[test]
fn the_log_is_coloured_only_on_a_terminal_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());

    let coloured = log_on_a_terminal(&layout, false);
    assert!(coloured.contains("INFO"), "{coloured:?}");
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");

    let plain = log_on_a_terminal(&layout, true);
    assert!(plain.contains("INFO"), "{plain:?}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");

    let file = dir.path().join("msclawd.log");
    let child = log_output(
        &layout,
        Stdio::from(std::fs::File::create(&file).unwrap()),
        false,
    );
    stop(child);
    let logged = std::fs::read_to_string(&file).unwrap();
    assert!(logged.contains("INFO"), "{logged:?}");
    assert!(!logged.contains('\u{1b}'), "{logged:?}");
}
