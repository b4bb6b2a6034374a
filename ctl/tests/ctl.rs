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
    assert!(stderr.starts_with("msclawd is not running; start it with `msclawd`"), "{stderr}");
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
    let daemon = TestDaemon::start(&layout, layout.settings("")).await.unwrap();
    let out = msclawctl(&layout, &["status", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in ["protocol", "version", "active_model", "mode", "next_reset", "models", "last_switch", "config_path", "warnings"] {
        assert!(json.get(field).is_some(), "status --json lacks {field}: {json}");
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
