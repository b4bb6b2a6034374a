//! `msclawctl plugin install|uninstall` as the real binary: the plugin copied into msclaw's
//! state dir, only additions to OpenClaw's config, and uninstall giving back the same bytes.

use std::path::Path;

use msclaw_tests::daemon::Layout;

const CONFIG: &str = "// my OpenClaw config\n{\n  // the gateway, as I like it\n  gateway: { mode: 'local', port: 18789 },\n  plugins: {\n    allow: ['other'],\n    entries: { other: { enabled: true } },\n  },\n}\n";

fn msclawctl(layout: &Layout, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"))
        .args(args)
        .env("HOME", &layout.root)
        .env("MSCLAW_SOCKET", &layout.socket)
        .env("MSCLAW_STATE_DIR", layout.state_file.parent().unwrap())
        .env("OPENCLAW_CONFIG_PATH", &layout.openclaw_config)
        .env("OPENCLAW_STATE_DIR", &layout.openclaw_state)
        .env_remove("MSCLAW_PLUGIN_DIR")
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn setup(dir: &Path) -> Layout {
    let layout = Layout::in_dir(dir);
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::write(&layout.openclaw_config, CONFIG).unwrap();
    layout
}

#[test]
fn install_then_uninstall_leaves_the_config_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let layout = setup(dir.path());
    let copy = layout.state_file.parent().unwrap().join("openclaw-plugin");

    ok(&msclawctl(&layout, &["plugin", "install"]));
    let stdout = ok(&msclawctl(
        &layout,
        &["plugin", "install", "--choose-model"],
    ));
    assert!(stdout.contains("conversation access"), "{stdout}");
    assert!(copy.join("openclaw.plugin.json").is_file());
    assert!(copy.join("src/wire.js").is_file());
    assert!(!copy.join("test").exists(), "tests are not copied");
    let installed = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert!(installed.starts_with(&CONFIG[..60]), "{installed}");
    for wanted in [
        "allow: ['other', \"msclaw\"],",
        "chooseModel: true",
        "allowConversationAccess: true",
    ] {
        assert!(installed.contains(wanted), "{wanted} in {installed}");
    }
    assert!(installed.contains(&format!("paths: [\"{}\"]", copy.display())));

    ok(&msclawctl(&layout, &["plugin", "uninstall"]));
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        CONFIG
    );
    assert!(!copy.exists());
    let again = msclawctl(&layout, &["plugin", "uninstall"]);
    assert!(!again.status.success(), "nothing is left to uninstall");
}

#[test]
fn dry_runs_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = setup(dir.path());
    let stdout = ok(&msclawctl(&layout, &["plugin", "install", "--dry-run"]));
    assert!(
        stdout.contains("+    entries: { other: { enabled: true }, msclaw: { enabled: true } },"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        CONFIG
    );
    assert!(!layout.state_file.parent().unwrap().exists());
}

#[test]
fn a_directory_that_is_not_the_plugin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = setup(dir.path());
    let out = msclawctl(
        &layout,
        &["plugin", "install", "--path", dir.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        CONFIG
    );
}
