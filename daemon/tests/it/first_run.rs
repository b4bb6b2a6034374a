//! A first run as a user makes it: msclawd started before OpenClaw's directory exists, then
//! `msclawctl init` writes the config. The real binaries, in a HOME without `.openclaw`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The daemon notices a config this soon after it appears (the issue asks for a second).
const PICKUP: Duration = Duration::from_secs(1);

struct FirstRun {
    _dir: tempfile::TempDir,
    home: PathBuf,
    socket: PathBuf,
}

impl FirstRun {
    fn new() -> FirstRun {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let socket = dir.path().join("run/msclawd.sock");
        FirstRun {
            _dir: dir,
            home,
            socket,
        }
    }

    /// Nothing from the caller's environment but PATH: OpenClaw's paths come from HOME alone.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("MSCLAW_SOCKET", &self.socket)
            .env("MSCLAW_STATE_DIR", self.home.join("msclaw-state"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    fn msclawd(&self) -> Child {
        self.daemon_command().spawn().unwrap()
    }

    /// msclawd with OPENCLAW_CONFIG_PATH naming `config`.
    fn msclawd_with_config(&self, config: &Path) -> Child {
        self.daemon_command()
            .env("OPENCLAW_CONFIG_PATH", config)
            .spawn()
            .unwrap()
    }

    fn daemon_command(&self) -> Command {
        let mut cmd = self.command(Path::new(env!("CARGO_BIN_EXE_msclawd")));
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    fn msclawctl(&self, args: &[&str]) -> Output {
        self.command(&msclawctl_binary())
            .args(args)
            .output()
            .unwrap()
    }

    fn config_state(&self) -> String {
        let out = self.msclawctl(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        status["openclaw_config"].as_str().unwrap().to_owned()
    }
}

/// msclawctl is another package's binary: cargo builds it beside msclawd, but only for a build of
/// that package too (`cargo build -p msclawctl`, or any whole-workspace build).
fn msclawctl_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_msclawd")).with_file_name("msclawctl");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p msclawctl` first",
        bin.display()
    );
    bin
}

fn wait_until(what: &str, timeout: Duration, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_config_init_writes_after_msclawd_started_without_openclaw_is_picked_up() {
    let run = FirstRun::new();
    assert!(!run.home.join(".openclaw").exists());
    let mut daemon = run.msclawd();
    wait_until("the socket", Duration::from_secs(10), || {
        run.socket.exists()
    });
    assert_eq!(run.config_state(), "missing");
    let doctor = run.msclawctl(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("warn") && l.contains("msclawd has no OpenClaw config")),
        "{text}"
    );

    let init = run.msclawctl(&["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(run.home.join(".openclaw/openclaw.json").is_file());
    let written = Instant::now();
    wait_until("msclawd to read the new config", PICKUP, || {
        run.config_state() == "ok"
    });
    eprintln!("picked up after {:?}", written.elapsed());
    let doctor = run.msclawctl(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!text.contains("msclawd has no OpenClaw config"), "{text}");

    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[test]
fn a_config_deep_under_missing_directories_is_picked_up() {
    let run = FirstRun::new();
    let config = run.home.join("a/b/c/d/e/openclaw.json");
    let mut daemon = run.msclawd_with_config(&config);
    wait_until("the socket", Duration::from_secs(10), || {
        run.socket.exists()
    });
    assert_eq!(run.config_state(), "missing");
    // One directory at a time, slowly enough that each watch move happens in between.
    let mut dir = run.home.clone();
    for part in ["a", "b", "c", "d", "e"] {
        dir.push(part);
        std::fs::create_dir(&dir).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    std::fs::write(&config, "{}\n").unwrap();
    wait_until("msclawd to read the new config", PICKUP, || {
        run.config_state() == "ok"
    });
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
