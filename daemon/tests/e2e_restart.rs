//! Restart safety with the real `msclawd` process and a real OpenClaw gateway: msclawd killed with
//! SIGKILL in the middle of the day (no chance to save or clean up) and started again keeps the
//! day's counts, counts nothing twice, catches up on what OpenClaw did while it was down, and so
//! never lets a model be used past its limit.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use msclaw_tests::e2e::{self, MsclawdProcess, StatusSource};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, GLM5, QWEN};
use msclaw_tests::openclaw::{self, OPENCLAW_SQLITE, OpenClawEnv, model_ref};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn sigkill_mid_day_and_restart_keeps_the_counts() -> Result<()> {
    let msclawd = Path::new(env!("CARGO_BIN_EXE_msclawd"));
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(3));
    let env = OpenClawEnv::builder(&install, &fake.base_url()).build()?;
    let _gw = env.start_gateway()?;
    let dir = tempfile::Builder::new()
        .prefix("msclaw-restart-")
        .tempdir()?;
    let layout = e2e::layout_for(&env, dir.path());
    layout.settings("daily_limit = 3\n");

    let mut daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    daemon.wait_for("the config read", WAIT, |s| {
        s.active_model.as_deref() == Some(&*model_ref(QWEN))
    })?;
    for i in 1..=2 {
        let turn = env.agent_turn(&format!("restart turn {i}"))?;
        println!(
            "[restart] turn {i}: {}s served by {:?}",
            e2e::secs(turn.wall),
            turn.model()
        );
        ensure!(
            turn.success() && turn.model().as_deref() == Some(QWEN),
            "{}",
            turn.describe()
        );
    }
    daemon.wait_for("2 calls counted", WAIT, |s| s.models[0].used == 2)?;
    let first_pid = daemon.pid();
    daemon.kill9()?;
    ensure!(
        layout.socket.exists(),
        "SIGKILL leaves the socket behind (what a crash leaves)"
    );

    // OpenClaw goes on while msclawd is down: Qwen's third call, its last one today.
    let turn = env.agent_turn("restart turn 3 (msclawd down)")?;
    println!(
        "[restart] turn 3 (msclawd down): {}s served by {:?}",
        e2e::secs(turn.wall),
        turn.model()
    );
    ensure!(
        turn.success() && turn.model().as_deref() == Some(QWEN),
        "{}",
        turn.describe()
    );

    let daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    ensure!(daemon.pid() != first_pid);
    let status = daemon.wait_for("the catch-up switch to GLM", WAIT, |s| {
        s.active_model.as_deref() == Some(&*model_ref(GLM5))
            && s.last_switch
                .as_ref()
                .is_some_and(|l| l.outcome == "applied")
    })?;
    ensure!(
        status.models[0].used == 3 && status.models[0].spent,
        "Qwen counted {:?}",
        status.models[0]
    );
    ensure!(status.models[1].used == 0, "{:?}", status.models[1]);
    for i in 4..=5 {
        let turn = env.agent_turn(&format!("restart turn {i}"))?;
        println!(
            "[restart] turn {i}: {}s served by {:?}",
            e2e::secs(turn.wall),
            turn.model()
        );
        ensure!(
            turn.success() && turn.model().as_deref() == Some(GLM5),
            "turn {i}: {}",
            turn.describe()
        );
    }
    let status = daemon.wait_for("GLM's calls counted", WAIT, |s| s.models[1].used == 2)?;
    ensure!(
        status.models[0].used == 3,
        "nothing counted twice: {:?}",
        status.models[0]
    );
    ensure!(
        fake.count(QWEN, 200) == 3 && fake.count_model(QWEN) == 3,
        "Qwen served {} calls",
        fake.count_model(QWEN)
    );
    ensure!(
        fake.count_status(429) == 0,
        "{} 429s",
        fake.count_status(429)
    );
    let history = daemon.history(1)?;
    let switches = &history.days.last().context("today")?.switches;
    ensure!(
        switches.len() == 1 && switches[0].to == model_ref(GLM5),
        "one switch today: {switches:?}"
    );
    Ok(())
}
