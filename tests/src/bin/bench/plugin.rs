//! The benchmark's "msclaw + plugin" run (issue 15): the same day as the native and msclaw runs,
//! with msclaw's OpenClaw plugin installed by the real `msclawctl plugin install --choose-model`
//! (release build), so msclawd picks each turn's model at its start (`before_model_resolve`) on
//! top of rewriting `primary`. A part of bench.rs: it reuses its turns and table.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use msclaw_tests::e2e::{self, MsclawdProcess, StatusSource};
use msclaw_tests::fake_modelscope::{FakeModelScope, MODELS};
use msclaw_tests::openclaw::{self, OpenClawEnv, OpenClawInstall, model_ref};

use super::{QUOTA, Run, drive, say};

/// The plugin's load line in the gateway log (openclaw-plugin/index.js).
const PLUGIN_LOADED: &str = "msclaw: reporting model calls to";
/// OpenClaw's line when a `before_model_resolve` hook set the turn's model.
pub const MODEL_OVERRIDDEN: &str = "[hooks] model overridden to";

pub struct PluginRun {
    pub run: Run,
    /// Turns whose model msclawd chose through the plugin (OpenClaw logged the override).
    pub chosen: usize,
}

/// The scenario's OpenClaw (OpenClaw's fallbacks set), where a plugin finds the msclawd of
/// `e2e::layout_for(env, dir)`: $XDG_RUNTIME_DIR/msclaw/msclawd.sock.
pub fn scenario_env(
    install: &OpenClawInstall,
    fake: &FakeModelScope,
    dir: &Path,
) -> Result<OpenClawEnv> {
    OpenClawEnv::builder(install, &fake.base_url())
        .with_default_fallbacks()
        .env("XDG_RUNTIME_DIR", &dir.join("run").display().to_string())
        .remove_env("MSCLAW_SOCKET")
        .build()
}

/// The real `msclawctl plugin install --choose-model` from this repository's openclaw-plugin/.
pub fn install_plugin(env: &OpenClawEnv, dir: &Path, msclawctl: &Path) -> Result<()> {
    let source = openclaw::workspace_dir().join("openclaw-plugin");
    let source = source.display().to_string();
    let args = ["install", "--choose-model", "--path", &source];
    msclaw_tests::msclawctl::plugin(msclawctl, env, &dir.join("state"), &args)?;
    Ok(())
}

/// msclawd (daily limit QUOTA) for `env`, running once it has read the config.
pub fn spawn_msclawd(env: &OpenClawEnv, dir: &Path, msclawd: &Path) -> Result<MsclawdProcess> {
    let layout = e2e::layout_for(env, dir);
    layout.settings(&format!("daily_limit = {QUOTA}\n"));
    let daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    daemon.wait_for("the config read", Duration::from_secs(10), |s| {
        s.active_model.as_deref() == Some(&*model_ref(MODELS[0]))
    })?;
    Ok(daemon)
}

/// Waits for the plugin's load line in a gateway just started.
pub fn wait_for_plugin(env: &OpenClawEnv) -> Result<()> {
    env.wait_for_log(0, PLUGIN_LOADED, Duration::from_secs(60))?;
    Ok(())
}

/// OpenClaw's override lines in the gateway log from line `from` on.
pub fn overrides_since(env: &OpenClawEnv, from: usize) -> usize {
    env.log_lines()
        .iter()
        .skip(from)
        .filter(|l| l.message.contains(MODEL_OVERRIDDEN))
        .count()
}

pub fn run_plugin(
    install: &OpenClawInstall,
    turns: usize,
    msclawd: &Path,
    msclawctl: &Path,
) -> Result<PluginRun> {
    let t = Instant::now();
    let fake = FakeModelScope::start(msclaw_tests::fake_modelscope::FakeConfig::all_models_quota(
        QUOTA,
    ));
    let dir = tempfile::Builder::new().prefix("msclaw-bench-").tempdir()?;
    let env = scenario_env(install, &fake, dir.path())?;
    install_plugin(&env, dir.path(), msclawctl)?;
    let daemon = spawn_msclawd(&env, dir.path(), msclawd)?;
    let gw = env.start_gateway()?;
    wait_for_plugin(&env)?;
    say(&format!(
        "  [plugin] gateway ready after {}s, plugin loaded",
        e2e::secs(gw.ready_after)
    ));
    let log_mark = env.log_lines().len();
    let turns = drive("plugin", &env, &fake, turns)?;
    let chosen = overrides_since(&env, log_mark);
    drop(gw);
    drop(daemon);
    Ok(PluginRun {
        run: Run {
            label: "OpenClaw + msclaw + plugin",
            turns,
            elapsed: t.elapsed(),
        },
        chosen,
    })
}
