//! The real `msclawctl` run against a test's OpenClaw (its HOME, config and state dir) with
//! msclaw's own files under a given state dir: shared by the real-OpenClaw plugin tests and the
//! benchmark's "msclaw + plugin" run.

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};

use crate::openclaw::OpenClawEnv;

/// `<binary> <args>` as it ended, successful or not. `MSCLAW_PLUGIN_DIR` and `OPENCLAW_PROFILE`
/// are removed, so the plugin source is `--path` or the repository msclawctl was built from, and
/// the profile the default one.
pub fn output(binary: &Path, env: &OpenClawEnv, state: &Path, args: &[&str]) -> Result<Output> {
    ensure!(
        binary.is_file(),
        "{} is missing: cargo build -p msclawctl",
        binary.display()
    );
    Command::new(binary)
        .args(args)
        .env("HOME", &env.home)
        .env("OPENCLAW_CONFIG_PATH", &env.config_path)
        .env("OPENCLAW_STATE_DIR", &env.state_dir)
        .env("MSCLAW_STATE_DIR", state)
        .env_remove("MSCLAW_PLUGIN_DIR")
        .env_remove("OPENCLAW_PROFILE")
        .output()
        .context("running msclawctl")
}

/// `<binary> plugin <args>`; its stdout, or an error with everything it said.
pub fn plugin(binary: &Path, env: &OpenClawEnv, state: &Path, args: &[&str]) -> Result<String> {
    let full: Vec<&str> = std::iter::once("plugin")
        .chain(args.iter().copied())
        .collect();
    let out = output(binary, env, state, &full)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(
        out.status.success(),
        "msclawctl plugin {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}
