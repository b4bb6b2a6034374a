//! Issue 15 with a real OpenClaw 2026.9.6 gateway: msclaw's plugin installed from the repository
//! by the real `msclawctl plugin install --choose-model`, against the fake ModelScope. One gateway
//! serves every part: the plugin's counts equal the fake server's request log (also for the calls
//! of OpenClaw's retry loop, which no transcript records; that part waits out the loop, ~150 s),
//! turns go on normally with msclawd stopped and wait on the plugin at most 50 ms in each hook call
//! (the plugin's own debug lines in the gateway log), and uninstall gives the config back byte for
//! byte. Needs the msclawctl binary built (`cargo test --workspace` builds it; else
//! `cargo build -p msclawctl`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, ensure};
use msclaw_shared::Status;
use msclaw_tests::daemon::TestDaemon;
use msclaw_tests::e2e::{layout_for, secs};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, MODELS};
use msclaw_tests::openclaw::{self, LogLine, OPENCLAW_SQLITE, OpenClawEnv, target_dir};

const WAIT: Duration = Duration::from_secs(20);
/// Calls per model per day, at the fake server and in msclaw.
const LIMIT: u32 = 2;
/// Turns fired back to back: across the first three models' limits.
const TURNS: u32 = 6;
/// A turn that takes longer has hung (a cold start on a loaded machine takes well under this).
const HANG: Duration = Duration::from_secs(180);
/// The plugin's own bound on a hook call: its choice timeout (index.js `timeoutMs`), and a missing
/// or refusing socket fails faster than that.
const PLUGIN_WAIT_MS: f64 = 50.0;
/// How the plugin's debug lines start (openclaw-plugin/src/hook-timer.js `HOOK_TIME_PREFIX`).
const HOOK_TIME_PREFIX: &str = "msclaw: hook ";

/// The real `msclawctl plugin <args>` (the debug build) for this gateway's config.
fn msclawctl(env: &OpenClawEnv, state: &Path, args: &[&str]) -> Result<String> {
    msclaw_tests::msclawctl::plugin(&target_dir().join("debug/msclawctl"), env, state, args)
}

#[test]
fn real_openclaw_plugin_counts_every_call_survives_msclawd_away_and_uninstalls_cleanly()
-> Result<()> {
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    // Two calls per model at the fake server and in msclaw: a turn that reaches a spent model
    // gets a 429 there.
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(LIMIT));
    let dir = tempfile::Builder::new()
        .prefix("msclaw-plugin-")
        .tempdir()?;
    // The plugin finds msclawd by msclaw's rule in the gateway's environment:
    // $XDG_RUNTIME_DIR/msclaw/msclawd.sock, which is where layout_for puts the socket.
    let env = OpenClawEnv::builder(&install, &fake.base_url())
        .env(
            "XDG_RUNTIME_DIR",
            &dir.path().join("run").display().to_string(),
        )
        .remove_env("MSCLAW_SOCKET")
        // The plugin writes its own time in each hook call at debug level.
        .env("OPENCLAW_LOG_LEVEL", "debug")
        .build()?;
    let state = dir.path().join("state");
    let before_install = std::fs::read(&env.config_path)?;
    let said = msclawctl(&env, &state, &["install", "--choose-model"])?;
    println!("[plugin] {said}");
    env.validate_config()?;

    let layout = layout_for(&env, dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let daemon = rt.block_on(TestDaemon::start(
        &layout,
        layout.settings(&format!("daily_limit = {LIMIT}\n")),
    ))?;
    let gateway = env.start_gateway()?;
    // The plugin connects when it first has something to say; its load line names the socket.
    let loaded = env.wait_for_log(0, "msclaw: reporting model calls to", WAIT * 3)?;
    println!("[plugin] gateway: {}", loaded.message);

    // (2) Turns back to back (no gap) across three limits: with model choice on, the plugin
    // overrides the model at turn start, so no turn meets a spent model whatever the reload
    // timing of the rewritten `primary`.
    println!("[plugin] turn | served by | requests (429s) to each model so far");
    for i in 1..=TURNS {
        let turn = env.agent_turn(&format!("plugin turn {i}"))?;
        let requests = fake.chat_requests();
        let so_far: Vec<String> = requests
            .iter()
            .filter_map(|r| r.model.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|m| {
                let of = |r: &&msclaw_tests::fake_modelscope::RequestRecord| {
                    r.model.as_deref() == Some(m.as_str())
                };
                let n = requests.iter().filter(of).count();
                let limited = requests
                    .iter()
                    .filter(of)
                    .filter(|r| r.status == 429)
                    .count();
                format!("{m} {n} ({limited})")
            })
            .collect();
        println!(
            "[plugin] {i} | {:?} | {} | {}s",
            turn.model(),
            so_far.join(", "),
            secs(turn.wall)
        );
        ensure!(turn.success(), "turn {i}: {}", turn.describe());
    }
    let requests = fake.chat_requests();
    let refused = requests.iter().filter(|r| r.status == 429).count();
    ensure!(
        refused == 0,
        "{refused} requests reached a spent model with model choice on"
    );

    // (1) Every call the fake server saw, counted by the plugin exactly once per model.
    let status = rt.block_on(daemon.wait_for("the plugin's counts", WAIT, |s| {
        let counted: u32 = s.models.iter().map(|m| m.plugin_calls).sum();
        counted as usize >= requests.len()
    }))?;
    counts_match_fake_server(&status, &fake)?;

    // (1, continued) Calls no transcript records: the model msclawd chooses next is spent at the
    // fake server behind msclaw's back, so OpenClaw's retry loop meets it again and again.
    let untranscribed = provoke_retry_loop(&env, &fake)?;
    let status = rt.block_on(daemon.wait_for("the retry loop's calls", WAIT, |s| {
        plugin_calls(s, untranscribed) as usize >= fake.count_model(untranscribed)
    }))?;
    counts_match_fake_server(&status, &fake)?;

    // (3) msclawd away: turns are answered as if the plugin were not there, and no hook call of
    // the plugin takes longer than its own timeout. A new day at the fake server: quota again.
    fake.set_quota(untranscribed, Some(LIMIT));
    fake.reset_quotas();
    rt.block_on(daemon.stop())?;
    let away_from = env.log_lines().len();
    for i in 1..=2 {
        let turn = env.agent_turn(&format!("plugin turn without msclawd {i}"))?;
        println!(
            "[plugin] msclawd stopped, turn {i}: {}s served by {:?}",
            secs(turn.wall),
            turn.model()
        );
        ensure!(turn.success(), "turn {i}: {}", turn.describe());
        ensure!(turn.wall < HANG, "turn {i} hung: {}s", secs(turn.wall));
    }
    plugin_waits_within_bound(&env.log_lines()[away_from..])?;
    drop(gateway);

    // (4) Uninstall: the config is byte-identical to before install but for the `primary` msclawd
    // moved meanwhile (a switch between install and uninstall survives uninstall); the copy is gone.
    let moved_to = env.config_primary()?;
    msclawctl(&env, &state, &["uninstall"])?;
    ensure!(
        env.config_primary()? == moved_to,
        "uninstall undid a switch"
    );
    env.set_primary_atomic(msclaw_tests::transcripts::QWEN)?;
    ensure!(
        std::fs::read(&env.config_path)? == before_install,
        "the config differs from before install (primary aside):\n{}",
        std::fs::read_to_string(&env.config_path)?
    );
    ensure!(!state.join("openclaw-plugin").exists());
    Ok(())
}

/// A model's calls as the plugin reported them (0 when status does not list it).
fn plugin_calls(status: &Status, model: &str) -> u32 {
    status
        .models
        .iter()
        .find(|m| m.model.strip_prefix("modelscope/") == Some(model))
        .map_or(0, |m| m.plugin_calls)
}

/// For every model: the plugin's count and msclawd's `used` (the largest of its sources, never
/// their sum) both equal the requests the fake server got, so each call counts exactly once.
fn counts_match_fake_server(status: &Status, fake: &FakeModelScope) -> Result<()> {
    for m in &status.models {
        let id = m.model.strip_prefix("modelscope/").unwrap_or(&m.model);
        let got = fake.count_model(id) as u32;
        println!(
            "[plugin] {}: plugin counted {}, msclawd used {}, the fake server got {got}",
            m.model, m.plugin_calls, m.used
        );
        ensure!(
            m.plugin_calls == got && m.used == got,
            "{}: plugin {} / used {} vs fake server {got}",
            m.model,
            m.plugin_calls,
            m.used
        );
    }
    Ok(())
}

/// Spends, at the fake server only, the one model no turn has used yet (the one msclawd chooses
/// next), and runs a turn: OpenClaw meets its 429 and retries the same model (1 + 9 calls). The
/// transcript keeps at most one error row of that loop, so most of its calls are in no transcript.
/// Returns the model.
fn provoke_retry_loop(env: &OpenClawEnv, fake: &FakeModelScope) -> Result<&'static str> {
    let unused: Vec<&'static str> = MODELS
        .into_iter()
        .filter(|m| fake.count_model(m) == 0)
        .collect();
    let [model] = unused[..] else {
        anyhow::bail!("expected one model no turn used yet, got {unused:?}");
    };
    fake.set_quota(model, Some(0));
    let turn = env.agent_turn("plugin turn into a retry loop")?;
    let calls = fake.count_model(model);
    let recorded = env
        .assistant_messages("main")?
        .iter()
        .filter(|m| m.model == model)
        .count();
    println!(
        "[plugin] retry loop on {model}: {}s, {calls} requests (all 429), {recorded} transcript rows",
        secs(turn.wall)
    );
    ensure!(
        calls > recorded && fake.count(model, 429) == calls,
        "no call without a transcript row: {calls} requests, {recorded} rows"
    );
    Ok(model)
}

/// The plugin's own time in each hook call (its debug lines), printed; each within its bound.
fn plugin_waits_within_bound(lines: &[LogLine]) -> Result<()> {
    let waits: Vec<(&str, f64)> = lines.iter().filter_map(hook_time).collect();
    for (hook, ms) in &waits {
        println!("[plugin] msclawd stopped: {hook} took {ms:.3} ms in the plugin");
    }
    let choices = waits
        .iter()
        .filter(|(hook, _)| *hook == "before_model_resolve")
        .count();
    ensure!(
        choices >= 2,
        "expected a before_model_resolve time per turn, got {waits:?}"
    );
    let slow: Vec<_> = waits
        .iter()
        .filter(|(_, ms)| *ms > PLUGIN_WAIT_MS)
        .collect();
    ensure!(
        slow.is_empty(),
        "a turn waited on the plugin more than {PLUGIN_WAIT_MS} ms: {slow:?}"
    );
    Ok(())
}

/// `(hook, ms)` from `msclaw: hook <hook> took <ms> ms`.
fn hook_time(line: &LogLine) -> Option<(&str, f64)> {
    let rest = &line.message[line.message.find(HOOK_TIME_PREFIX)? + HOOK_TIME_PREFIX.len()..];
    let (hook, rest) = rest.split_once(" took ")?;
    let ms = rest.split_whitespace().next()?.parse().ok()?;
    Some((hook, ms))
}

/// (Issue 15, uninstall) The plugin installed by OpenClaw's own `openclaw plugins install <path>`
/// (copied to `<state>/extensions/msclaw`, its record in OpenClaw's SQLite): `msclawctl plugin
/// uninstall` removes nothing and says what to run instead; doctor names the installer.
#[test]
fn real_openclaw_plugin_installed_by_openclaws_installer_is_left_to_openclaw() -> Result<()> {
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    let fake = FakeModelScope::start(FakeConfig::default());
    let env = OpenClawEnv::builder(&install, &fake.base_url()).build()?;
    let source = openclaw::workspace_dir().join("openclaw-plugin");
    let out = env.run(
        [
            "plugins",
            "install",
            &source.display().to_string(),
            "--force",
            "--accept-capabilities",
        ],
        Duration::from_secs(120),
    )?;
    ensure!(
        out.status.success(),
        "openclaw plugins install: {}{}",
        out.stdout,
        out.stderr
    );
    let installed = env.state_dir.join("extensions/msclaw");
    ensure!(installed.join("openclaw.plugin.json").is_file());
    let config = std::fs::read(&env.config_path)?;

    let dir = tempfile::Builder::new()
        .prefix("msclaw-plugin-")
        .tempdir()?;
    let state = dir.path().join("state");
    let ctl = target_dir().join("debug/msclawctl");
    let out = msclaw_tests::msclawctl::output(&ctl, &env, &state, &["plugin", "uninstall"])?;
    let said = String::from_utf8_lossy(&out.stderr);
    println!("[plugin] msclawctl plugin uninstall: {said}");
    ensure!(!out.status.success(), "uninstall claimed success: {said}");
    ensure!(
        said.contains("OpenClaw's own installer")
            && said.contains("openclaw plugins uninstall msclaw"),
        "{said}"
    );
    ensure!(
        std::fs::read(&env.config_path)? == config,
        "the config changed"
    );
    ensure!(installed.is_dir(), "OpenClaw's copy was removed");

    let out = msclaw_tests::msclawctl::output(&ctl, &env, &state, &["doctor"])?;
    let doctor = String::from_utf8_lossy(&out.stdout);
    let line = doctor
        .lines()
        .find(|l| l.contains("installed:"))
        .unwrap_or_default();
    println!("[plugin] doctor: {line}");
    ensure!(
        line.contains("OpenClaw's own installer")
            && line.contains(&installed.display().to_string()),
        "{doctor}"
    );
    Ok(())
}
