//! `msclawctl` as scripts use it: exit codes, the hint, and the JSON field names.

use std::process::Output;

use msclaw_tests::daemon::{Layout, TestDaemon};

async fn msclawctl(layout: &Layout, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"))
        .args(args)
        .env("MSCLAW_SOCKET", &layout.socket)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_daemon_gives_exit_1_and_a_one_line_hint() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let out = msclawctl(&layout, &["status"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("msclawd is not running; start it with `msclawd`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_usage_error_gives_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let out = msclawctl(&layout, &["statsu"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn status_json_keeps_the_contract_field_names() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let out = msclawctl(&layout, &["status", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "protocol",
        "version",
        "active_model",
        "mode",
        "next_reset",
        "models",
        "last_switch",
        "config_path",
        "warnings",
    ] {
        assert!(
            json.get(field).is_some(),
            "status --json lacks {field}: {json}"
        );
    }
    assert_eq!(json["mode"], "auto");

    let human = msclawctl(&layout, &["status"]).await;
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("reset") && text.contains(" (in "), "{text}");

    let version = msclawctl(&layout, &["version", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
    assert_eq!(json["daemon"]["protocol"], json["client"]["protocol"]);
    daemon.stop().await.unwrap();
}

fn fake_tool(dir: &std::path::Path, name: &str, log: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"{name} $*\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn service_install_print_is_a_unit_with_this_machines_msclawd() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let out = msclawctl(&layout, &["service", "install", "--print"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let msclawd = std::path::Path::new(env!("CARGO_BIN_EXE_msclawctl")).with_file_name("msclawd");
    assert_eq!(exec, msclawd.display().to_string());
    assert!(
        text.contains("Type=notify") && text.contains("WantedBy=default.target"),
        "{text}"
    );
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(
            line.starts_with('[') || line.contains('='),
            "not a unit-file line: {line}"
        );
    }
}

#[tokio::test]
async fn service_install_and_uninstall_drive_systemctl() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("calls.log");
    fake_tool(&bin, "systemctl", &log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"));
        cmd.args(args)
            .env("HOME", dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("PATH", &path)
            .env("MSCLAW_SOCKET", &layout.socket);
        cmd
    };
    let out = run(&["service", "install"]).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = dir.path().join(".config/systemd/user/msclawd.service");
    assert!(
        std::fs::read_to_string(&unit)
            .unwrap()
            .contains("Type=notify")
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("systemctl --user daemon-reload")
            && calls.contains("systemctl --user enable --now msclawd.service"),
        "{calls}"
    );
    let out = run(&["service", "uninstall"]).output().await.unwrap();
    assert!(out.status.success());
    assert!(!unit.exists());
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("systemctl --user disable --now msclawd.service")
    );
}

#[tokio::test]
async fn completions_and_man_page_come_from_the_clap_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let bash = msclawctl(&layout, &["completions", "bash"]).await;
    let text = String::from_utf8_lossy(&bash.stdout);
    assert!(
        text.contains("msclawctl") && text.contains("switch") && text.contains("history"),
        "{text}"
    );
    let man = msclawctl(&layout, &["man"]).await;
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH msclawctl"),
        "{}",
        &text[..text.len().min(200)]
    );
}

#[tokio::test]
async fn switch_waits_for_the_outcome_and_shows_no_spinner_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::write(
        &layout.openclaw_config,
        msclaw_tests::transcripts::guide_config("http://127.0.0.1:9/v1", ""),
    )
    .unwrap();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let out = msclawctl(&layout, &["switch", "glm5", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcome"], "not_needed", "no gateway runs: {json}");
    assert!(
        out.stderr.is_empty(),
        "no spinner when piped: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = daemon.status().await.unwrap();
    assert_eq!(
        status.active_model.as_deref(),
        Some("modelscope/ZhipuAI/GLM-5")
    );
    daemon.stop().await.unwrap();
}

/// A model id with a terminal escape in OpenClaw's config is shown, not sent to the terminal
/// (issue 11, "also seen"); `--json` keeps the value exact.
#[tokio::test]
async fn terminal_escapes_in_model_names_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = msclaw_tests::transcripts::guide_config("http://127.0.0.1:9/v1", "")
        .replace("Kimi-K2.5", "Kimi\\u001b[2J\\u001b]0;pwned\\u0007");
    std::fs::write(&layout.openclaw_config, config).unwrap();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    daemon
        .wait_for("the config read", std::time::Duration::from_secs(10), |s| {
            s.models.len() == 4
        })
        .await
        .unwrap();
    for args in [["status"], ["history"]] {
        let out = msclawctl(&layout, &args).await;
        assert!(out.status.success(), "{out:?}");
        let shown = String::from_utf8(out.stdout).unwrap();
        assert!(!shown.contains(['\u{1b}', '\u{7}']), "{args:?}: {shown:?}");
        assert!(
            shown.contains("Kimi\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"),
            "{args:?}: {shown}"
        );
    }
    let out = msclawctl(&layout, &["status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["models"][3]["model"]
            .as_str()
            .unwrap()
            .contains('\u{1b}')
    );
    daemon.stop().await.unwrap();
}
