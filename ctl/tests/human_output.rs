//! What people read: snapshots of msclawctl's human output against an in-process daemon, so every
//! change of wording is a deliberate one (`cargo insta review`). Times are local to a fixed zone
//! (TZ=Asia/Shanghai); dates, times, durations and temporary paths are filtered out.

use std::process::{Output, Stdio};
use std::time::Duration;

use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession};

const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    dir: tempfile::TempDir,
    layout: Layout,
}

impl Setup {
    /// The guide's config with its four models, two calls a day each.
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::in_dir(dir.path());
        std::fs::create_dir_all(&layout.openclaw_state).unwrap();
        std::fs::write(
            &layout.openclaw_config,
            transcripts::guide_config("http://127.0.0.1:9/v1", ""),
        )
        .unwrap();
        Setup { dir, layout }
    }

    async fn daemon(&self) -> TestDaemon {
        let daemon = TestDaemon::start(&self.layout, self.layout.settings("daily_limit = 2\n"))
            .await
            .unwrap();
        daemon
            .wait_for("the config read", WAIT, |s| s.active_model.is_some())
            .await
            .unwrap();
        daemon
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"));
        cmd.args(args)
            .env("MSCLAW_SOCKET", &self.layout.socket)
            .env("NO_COLOR", "1")
            .env("TZ", "Asia/Shanghai")
            .env_remove("COLUMNS");
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    /// Stdout and stderr as one text, with what changes from run to run filtered out.
    fn text(&self, out: &Output) -> String {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.is_empty() {
            text += "--- stderr\n";
            text += &stderr;
        }
        text += &format!("--- exit {:?}\n", out.status.code());
        text.replace(&self.dir.path().display().to_string(), "[dir]")
    }
}

async fn spend(daemon: &TestDaemon, layout: &Layout, model: &str) {
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    for _ in 0..2 {
        session.append(&transcripts::assistant_reply(
            "modelscope",
            model,
            transcripts::now_ms(),
        ));
    }
    let want = format!("modelscope/{model}");
    daemon
        .wait_for("spent", WAIT, |s| {
            s.models.iter().any(|m| m.model == want && m.spent)
        })
        .await
        .unwrap();
}

macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        let text: String = $text;
        insta::with_settings!({
            filters => vec![
                (r"\d{4}-\d{2}-\d{2}", "[date]"),
                (r"\d{2}:\d{2}:\d{2}", "[time]"),
                (r"\d{2}:\d{2}", "[time]"),
                (r"in (\d+h)?\d+m|in \d+s", "in [duration]"),
                (r"applied it in \d+\.\d s", "applied it in [seconds] s"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, text);
        });
    };
}

#[tokio::test]
async fn switching_to_a_spent_model_asks_for_force() {
    let setup = Setup::new();
    let daemon = setup.daemon().await;
    spend(&daemon, &setup.layout, GLM).await;

    let refused = setup.run(&["switch", "glm5"]).await;
    assert_eq!(refused.status.code(), Some(1));
    snapshot!("switch_spent_refused", setup.text(&refused));
    let status = daemon.status().await.unwrap();
    assert_eq!(status.mode, msclaw_shared::Mode::Auto, "nothing was pinned");

    let json = setup.run(&["switch", "glm5", "--json"]).await;
    assert_eq!(json.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(err["code"], "model_spent");

    let forced = setup.run(&["switch", "glm5", "--force"]).await;
    snapshot!("switch_spent_forced", setup.text(&forced));
    // A spent model that is active says both.
    snapshot!(
        "status_active_and_spent",
        setup.text(&setup.run(&["status"]).await)
    );
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn switch_auto_history_and_watch_speak_in_words_and_local_times() {
    let setup = Setup::new();
    let daemon = setup.daemon().await;
    let watch = setup
        .command(&["watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    snapshot!("switch", setup.text(&setup.run(&["switch", "kimi"]).await));
    spend(&daemon, &setup.layout, transcripts::QWEN).await;
    snapshot!("auto_after_a_pin", setup.text(&setup.run(&["auto"]).await));
    snapshot!("status", setup.text(&setup.run(&["status"]).await));
    snapshot!("history", setup.text(&setup.run(&["history"]).await));

    let json = setup.run(&["switch", "kimi", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["outcome"], "not_needed", "JSON keeps the wire values");

    // The daemon stops: watch says so and exits 1.
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.stop().await.unwrap();
    let watched = tokio::time::timeout(WAIT, watch.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    snapshot!("watch", setup.text(&watched));
}

#[tokio::test]
async fn history_lines_fit_the_terminal() {
    let setup = Setup::new();
    let daemon = setup.daemon().await;
    setup.run(&["switch", "kimi"]).await;
    let out = setup
        .command(&["history"])
        .env("COLUMNS", "40")
        .output()
        .await
        .unwrap();
    snapshot!("history_at_40_columns", setup.text(&out));
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_model_lists_the_valid_names() {
    let setup = Setup::new();
    let daemon = setup.daemon().await;
    let out = setup.run(&["switch", "nonsense"]).await;
    assert_eq!(out.status.code(), Some(1));
    snapshot!("switch_unknown_model", setup.text(&out));
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn no_daemon_names_the_socket_and_a_stale_one_says_so() {
    let setup = Setup::new();
    let out = setup
        .run(&["--socket", "/nonexistent/msclawd.sock", "status"])
        .await;
    snapshot!("not_running_no_socket", setup.text(&out));

    // A daemon killed with SIGKILL leaves its socket file behind.
    std::fs::create_dir_all(setup.layout.socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&setup.layout.socket).unwrap());
    let out = setup.run(&["status"]).await;
    snapshot!("not_running_stale_socket", setup.text(&out));
}

#[tokio::test]
async fn a_closed_pipe_ends_msclawctl_quietly() {
    let setup = Setup::new();
    let daemon = setup.daemon().await;
    for _ in 0..3 {
        let mut child = setup
            .command(&["history", "--days", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.is_empty(), "{stderr}");
    }
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn switch_and_history_explain_their_arguments() {
    let setup = Setup::new();
    snapshot!(
        "switch_help",
        setup.text(&setup.run(&["switch", "--help"]).await)
    );
    snapshot!(
        "history_help",
        setup.text(&setup.run(&["history", "--help"]).await)
    );
}

#[tokio::test]
async fn doctor_colours_when_asked_and_never_with_no_color() {
    let setup = Setup::new();
    let run = |color: &'static str| {
        setup
            .command(&["doctor", "--color", color])
            .env("OPENCLAW_CONFIG_PATH", &setup.layout.openclaw_config)
            .env("MSCLAW_CONFIG", &setup.layout.settings_file)
            .env("HOME", setup.dir.path())
            .output()
    };
    let always = String::from_utf8(run("always").await.unwrap().stdout).unwrap();
    assert!(always.contains("\x1b[32mok"), "{always:?}");
    let auto = String::from_utf8(run("auto").await.unwrap().stdout).unwrap();
    assert!(!auto.contains('\x1b'), "{auto:?}");
}

#[tokio::test]
async fn init_says_what_it_would_add_and_what_comes_next() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        layout: Layout::in_dir(dir.path()),
        dir,
    };
    let init = |args: &'static [&'static str]| {
        setup
            .command(args)
            .env("HOME", setup.dir.path())
            .env("OPENCLAW_STATE_DIR", &setup.layout.openclaw_state)
            .env_remove("OPENCLAW_CONFIG_PATH")
            .env_remove("MODELSCOPE_API_KEY")
            .output()
    };
    let dry = init(&["init", "--dry-run"]).await.unwrap();
    let dry = setup.text(&dry);
    // The diff is init's own test's business; here only the words around it.
    let words: String = dry
        .lines()
        .filter(|l| !l.starts_with(['+', '-', '@', ' ']) || l.starts_with("---"))
        .map(|l| format!("{l}\n"))
        .collect();
    snapshot!("init_dry_run", words);
    snapshot!(
        "init_without_a_key",
        setup.text(&init(&["init"]).await.unwrap())
    );
}

#[tokio::test]
async fn a_named_msclaw_config_must_exist_and_be_a_file() {
    let setup = Setup::new();
    let dir = setup.dir.path().join("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = String::new();
    for named in [setup.dir.path().join("missing.toml"), dir] {
        let out = setup
            .command(&["doctor", "--json"])
            .env("MSCLAW_CONFIG", &named)
            .env("HOME", setup.dir.path())
            .output()
            .await
            .unwrap();
        let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let settings = checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "settings")
            .unwrap();
        lines += &format!("{} {}\n", settings["level"], settings["message"]);
    }
    snapshot!(
        "named_msclaw_config",
        lines.replace(&setup.dir.path().display().to_string(), "[dir]")
    );
}

#[tokio::test]
async fn service_status_says_when_systemctl_gives_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let bin = setup.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let systemctl = bin.join("systemctl");
    std::fs::write(&systemctl, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = setup
        .command(&["service", "status"])
        .env("HOME", setup.dir.path())
        .env_remove("XDG_CONFIG_HOME")
        .env("PATH", path)
        .output()
        .await
        .unwrap();
    snapshot!("service_status_no_answer", setup.text(&out));
}

#[tokio::test]
async fn the_man_page_names_no_pages_that_do_not_exist() {
    let setup = Setup::new();
    let man = String::from_utf8(setup.run(&["man"]).await.stdout).unwrap();
    assert!(
        man.contains(".SH COMMANDS") && man.contains("switch"),
        "{man}"
    );
    assert!(
        !man.contains("msclawctl\\-status(1)") && !man.contains("(1)"),
        "{man}"
    );
    let unit = include_str!("../../systemd/msclawd.service");
    assert!(
        !unit.contains("man:"),
        "no page is installed for the unit to name"
    );
}

#[tokio::test]
async fn status_shows_the_pools_above_the_models() {
    use msclaw_tests::provider_chain::{OR, config_with_openrouter};
    let setup = Setup::new();
    std::fs::write(
        &setup.layout.openclaw_config,
        config_with_openrouter("http://127.0.0.1:9/v1", "http://127.0.0.1:9/api/v1", ""),
    )
    .unwrap();
    let settings = format!(
        "models = [\"qwen3.5\", \"glm5\", \"{OR}\"]\npreset = [\"modelscope-magicube\", \"openrouter-free\"]\n"
    );
    let daemon = TestDaemon::start(&setup.layout, setup.layout.settings(&settings))
        .await
        .unwrap();
    daemon
        .wait_for("the config read", WAIT, |s| s.models.len() == 3)
        .await
        .unwrap();
    // Qwen served once (2 magicube), then Qwen and GLM fail with 429: the account pool is spent.
    let session = JsonlSession::create(&setup.layout.openclaw_state, "main", "s1");
    session.append(&transcripts::assistant_reply(
        "modelscope",
        transcripts::QWEN,
        transcripts::now_ms(),
    ));
    for model in [transcripts::QWEN, GLM] {
        session.append(&transcripts::failed_turn(
            "modelscope",
            model,
            "429",
            "Request limit exceeded.",
            transcripts::now_ms(),
        ));
    }
    daemon
        .wait_for("on OpenRouter", WAIT, |s| {
            s.active_model.as_deref() == Some(OR)
        })
        .await
        .unwrap();
    snapshot!("status_pools", setup.text(&setup.run(&["status"]).await));
    snapshot!("history_pools", setup.text(&setup.run(&["history"]).await));
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn doctor_says_whether_the_plugin_is_installed_enabled_and_choosing() {
    let setup = Setup::new();
    let _daemon = setup.daemon().await;
    let state_dir = setup.dir.path().join("plugin-state");
    let run = |args: &'static [&'static str]| {
        setup
            .command(args)
            .env("OPENCLAW_CONFIG_PATH", &setup.layout.openclaw_config)
            .env("OPENCLAW_STATE_DIR", &setup.layout.openclaw_state)
            .env("MSCLAW_CONFIG", &setup.layout.settings_file)
            .env("MSCLAW_STATE_DIR", &state_dir)
            .env("HOME", setup.dir.path())
            .env_remove("MSCLAW_PLUGIN_DIR")
            .output()
    };
    // Only the plugin's lines: the others depend on the machine (gateway, service).
    let plugin_lines = |out: &Output| -> String {
        setup
            .text(out)
            .lines()
            .filter(|l| l.get(5..).is_some_and(|rest| rest.starts_with("plugin")))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let before = plugin_lines(&run(&["doctor"]).await.unwrap());
    assert!(
        run(&["plugin", "install", "--choose-model"])
            .await
            .unwrap()
            .status
            .success()
    );
    let after = plugin_lines(&run(&["doctor"]).await.unwrap());
    snapshot!("doctor_plugin", format!("{before}--- installed\n{after}"));
}
