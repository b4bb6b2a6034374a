//! msclaw's own write path against the real OpenClaw 2026.9.6 gateway: the config editor puts the
//! new `primary` in with an atomic *exchange* (renameat2 RENAME_EXCHANGE) and removes the file it
//! swapped out. The gateway's config watcher must take that as a change and hot-reload it, every
//! time, with the user's comments kept.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, GLM5, QWEN};
use msclaw_tests::openclaw::{self, OPENCLAW_SQLITE, OpenClawEnv, model_ref};
use msclawd::openclaw::{EditOutcome, ModelEdit, apply_model_edit};

const RELOAD_APPLIED: &str = "config hot reload applied (agents.defaults.model.primary)";
const SWITCHES: usize = 4;

#[test]
fn the_gateway_hot_reloads_every_switch_msclaw_writes() -> Result<()> {
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    let fake = FakeModelScope::start(FakeConfig::default());
    let env = OpenClawEnv::builder(&install, &fake.base_url()).build()?;
    let _gw = env.start_gateway()?;
    env.wait_for_log(0, "gateway ready", Duration::from_secs(10))?;
    let mut took = Vec::new();
    for i in 0..SWITCHES {
        let model = if i % 2 == 0 { GLM5 } else { QWEN };
        let mark = env.log_lines().len();
        let t = Instant::now();
        let edit = ModelEdit {
            primary: model_ref(model),
            fallbacks: None,
        };
        let outcome = apply_model_edit(&env.config_path, &edit)?;
        ensure!(
            matches!(outcome, EditOutcome::Written { .. }),
            "{outcome:?}"
        );
        env.wait_for_log(mark, RELOAD_APPLIED, Duration::from_secs(10))?;
        took.push(t.elapsed().as_millis());
        ensure!(env.config_primary()? == model_ref(model));
        ensure!(
            env.read_config()?.contains("// msclaw rewrites this line"),
            "comments kept"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(env.config_path.parent().unwrap())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".msclaw-"))
        .collect();
    ensure!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    println!(
        "real-openclaw: openclaw@{} gateway hot-reloaded {SWITCHES}/{SWITCHES} switches written by the config editor \
         (atomic exchange), after {took:?} ms; comments kept, no temp file left",
        install.version
    );
    Ok(())
}
