//! The OpenClaw plugin's own tests (`node --test openclaw-plugin/test/`), run with the node the
//! support crate installs under target/, so `cargo test --workspace` (and `.ci/run`) covers the
//! plugin's JavaScript too.

use std::process::Command;
use std::time::Duration;

use msclaw_tests::openclaw::{install_node, run_with_timeout, workspace_dir};

#[test]
fn the_plugins_node_tests_pass() {
    let node_bin = install_node().expect("node installs from npm");
    let plugin = workspace_dir().join("openclaw-plugin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![node_bin.clone()];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new(node_bin.join("node"));
    cmd.args(["--test", "test/"])
        .current_dir(&plugin)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env_remove("MSCLAW_SOCKET")
        .env_remove("NODE_OPTIONS");
    let out = run_with_timeout(&mut cmd, Duration::from_secs(300)).unwrap();
    println!("{}", out.stdout);
    assert!(
        out.status.success() && !out.timed_out,
        "node --test failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    // A run that found no test file would pass too.
    assert!(
        out.stdout.contains("# pass") || out.stdout.contains("ℹ pass"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("ℹ pass 0") && !out.stdout.contains("# pass 0"));
}
