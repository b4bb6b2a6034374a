//! Real OpenClaw against the fake ModelScope: proves the harness works end to end, and pins the
//! OpenClaw behaviour msclaw relies on (hot reload of `primary`, log lines, transcript shapes).
//!
//! Run with `--nocapture` to see the timings.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use msclaw_tests::fake_modelscope::{DAILY_LIMIT_MESSAGE, FakeConfig, FakeModelScope, GLM5, QWEN};
use msclaw_tests::openclaw::{
    self, FAKE_API_KEY, OPENCLAW_JSONL, OPENCLAW_SQLITE, OpenClawEnv, model_ref,
};

const RELOAD_APPLIED: &str = "config hot reload applied (agents.defaults.model.primary)";

#[test]
fn gateway_2026_9_6_serves_turns_and_hot_reloads_primary() -> Result<()> {
    let t = Instant::now();
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    println!(
        "install openclaw@{}: {:.1}s (0 = cached)",
        install.version,
        install.install_time.as_secs_f64()
    );
    println!("  (install() call took {:.1}s)", t.elapsed().as_secs_f64());

    let fake = FakeModelScope::start(FakeConfig::default().quota(QWEN, 2));
    let env = OpenClawEnv::builder(&install, &fake.base_url()).build()?;
    let cfg = env.read_config()?;
    ensure!(
        cfg.contains("//") && cfg.contains("/*") && cfg.contains("},\n"),
        "config is JSON5 with comments"
    );
    let t = Instant::now();
    env.validate_config()?;
    println!("config validate: {:.1}s", t.elapsed().as_secs_f64());

    let gw = env.start_gateway()?;
    println!(
        "gateway ready (/readyz) after {:.1}s",
        gw.ready_after.as_secs_f64()
    );
    let ready = env.wait_for_log(0, "gateway ready", Duration::from_secs(10))?;
    ensure!(
        ready.subsystem.as_deref() == Some("gateway"),
        "ready line: {}",
        ready.raw
    );

    // Two turns on Qwen, within its quota.
    for i in 1..=2 {
        let turn = env.agent_turn(&format!("turn {i}"))?;
        println!(
            "turn {i}: {:.1}s served by {:?}",
            turn.wall.as_secs_f64(),
            turn.served_by()
        );
        ensure!(turn.success(), "turn {i} failed: {}", turn.describe());
        ensure!(
            turn.model().as_deref() == Some(QWEN),
            "turn {i}: {}",
            turn.describe()
        );
        ensure!(
            turn.reply_text().as_deref() == Some(&*format!("ok from {QWEN}")),
            "{}",
            turn.describe()
        );
    }
    ensure!(
        fake.count(QWEN, 200) == 2,
        "fake saw {:?}",
        fake.chat_requests()
            .iter()
            .map(|r| (&r.model, r.status))
            .collect::<Vec<_>>()
    );
    ensure!(
        fake.chat_requests()
            .iter()
            .all(|r| r.stream && r.include_usage),
        "OpenClaw streams with include_usage"
    );
    ensure!(
        fake.chat_requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*format!("Bearer {FAKE_API_KEY}"))),
        "the ${{MODELSCOPE_API_KEY}} reference resolved to the fake key"
    );
    // Successful requests are not logged at info level: msclaw cannot count 200s from this log.
    let fetch_200 = env
        .log_lines()
        .into_iter()
        .filter(|l| l.message.contains("[model-fetch]") && l.message.contains("status=200"))
        .count();
    ensure!(
        fetch_200 == 0,
        "{fetch_200} [model-fetch] 200 lines at info"
    );

    // msclaw's move: rewrite primary by an atomic rename; the gateway hot-reloads it.
    let mark = env.log_lines().len();
    let t = Instant::now();
    env.set_primary_atomic(GLM5)?;
    ensure!(env.config_primary()? == model_ref(GLM5));
    let applied = env.wait_for_log(mark, RELOAD_APPLIED, Duration::from_secs(5))?;
    println!(
        "hot reload applied {:.2}s after the rename",
        t.elapsed().as_secs_f64()
    );
    println!("  {}", applied.raw);
    ensure!(applied.subsystem.as_deref() == Some("gateway/reload") && applied.level == "INFO");
    ensure!(
        env.read_config()?.contains("// msclaw rewrites this line"),
        "comments kept"
    );

    let turn = env.agent_turn("turn 3")?;
    println!(
        "turn 3: {:.1}s served by {:?}",
        turn.wall.as_secs_f64(),
        turn.served_by()
    );
    ensure!(
        turn.success() && turn.model().as_deref() == Some(GLM5),
        "turn 3: {}",
        turn.describe()
    );
    ensure!(fake.count(GLM5, 200) == 1);

    // An invalid config is skipped, and the running config stays.
    let good = env.read_config()?;
    let mark = env.log_lines().len();
    env.write_config_atomic(&good.replacen("  update:", "  msclawBogusKey: 1,\n  update:", 1))?;
    let skipped = env.wait_for_log(
        mark,
        "config reload skipped (invalid config)",
        Duration::from_secs(5),
    )?;
    println!("  {}", skipped.raw);
    ensure!(skipped.level == "WARN" && skipped.message.contains("msclawBogusKey"));
    env.write_config_atomic(&good)?;

    // A spent model with a long-window 429 text: one request, no retries, the turn fails fast.
    fake.set_limit_message(Some(DAILY_LIMIT_MESSAGE));
    let mark = env.log_lines().len();
    env.set_primary_atomic(QWEN)?;
    env.wait_for_log(mark, RELOAD_APPLIED, Duration::from_secs(5))?;
    let turn = env.agent_turn("turn 4")?;
    println!(
        "turn 4 (Qwen spent, no fallbacks): {:.1}s exit={} served_by={:?}",
        turn.wall.as_secs_f64(),
        turn.status,
        turn.served_by()
    );
    println!(
        "  turn 4 stdout: {:?}",
        turn.stdout.trim().chars().take(300).collect::<String>()
    );
    println!(
        "  turn 4 stderr tail: {:?}",
        turn.stderr.lines().rev().take(3).collect::<Vec<_>>()
    );
    let line = env.wait_for_log(mark, "status=429", Duration::from_secs(5))?;
    println!("  {}", line.raw);
    ensure!(
        line.message.starts_with(&format!("[model-fetch] response provider=modelscope api=openai-completions model={QWEN} status=429")),
        "{}",
        line.message
    );
    ensure!(line.subsystem.as_deref() == Some("provider-transport-fetch"));
    ensure!(
        fake.count(QWEN, 429) == 1,
        "long-window 429 is not retried: {} requests",
        fake.count(QWEN, 429)
    );
    ensure!(
        !turn.success(),
        "no fallbacks: the turn fails: {}",
        turn.describe()
    );
    ensure!(
        turn.error_message()
            .is_some_and(|m| m.contains("API rate limit reached")),
        "{}",
        turn.describe()
    );

    // What the SQLite transcript says.
    let msgs = env.assistant_messages("main")?;
    for m in &msgs {
        println!(
            "  assistant: {}/{} stop={} code={:?} err={:?}",
            m.provider, m.model, m.stop_reason, m.error_code, m.error_message
        );
    }
    let ok = |model: &str| {
        msgs.iter()
            .filter(|m| m.model == model && m.stop_reason == "stop")
            .count()
    };
    ensure!(ok(QWEN) == 2 && ok(GLM5) == 1, "{msgs:#?}");
    ensure!(
        msgs.iter()
            .all(|m| m.provider == "modelscope" && m.api.as_deref() == Some("openai-completions"))
    );
    let err = msgs
        .iter()
        .find(|m| m.stop_reason == "error")
        .context("no error row for the failed turn")?;
    ensure!(
        err.model == QWEN && err.error_code.as_deref() == Some("429"),
        "{err:#?}"
    );
    ensure!(
        err.error_message
            .as_deref()
            .is_some_and(|e| e.starts_with("429 ") && e.contains(DAILY_LIMIT_MESSAGE)),
        "{err:#?}"
    );
    let events = env.transcript_events("main")?;
    let error_row = events.iter().find(|e| {
        e.json
            .pointer("/message/stopReason")
            .and_then(|v| v.as_str())
            == Some("error")
    });
    if let Some(ev) = error_row {
        println!("  error row {}/{}: {}", ev.session_id, ev.seq, ev.json);
    }
    ensure!(
        events.iter().all(|e| e.created_at_ms.is_some()),
        "SQLite rows have created_at"
    );

    // The gateway's whole process group goes away.
    let pgid = rustix::process::Pid::from_raw(gw.pid() as i32).context("pid")?;
    let t = Instant::now();
    drop(gw);
    println!("gateway stopped in {:.1}s", t.elapsed().as_secs_f64());
    ensure!(
        rustix::process::test_kill_process_group(pgid).is_err(),
        "processes left in the gateway's group"
    );
    Ok(())
}

#[test]
fn local_2026_3_31_writes_jsonl_transcript() -> Result<()> {
    let install = openclaw::install(OPENCLAW_JSONL)?;
    println!(
        "install openclaw@{}: {:.1}s (0 = cached)",
        install.version,
        install.install_time.as_secs_f64()
    );
    ensure!(!install.uses_sqlite_transcripts());

    let fake = FakeModelScope::start(FakeConfig::default().quota(QWEN, 5));
    let env = OpenClawEnv::builder(&install, &fake.base_url())
        .with_default_fallbacks()
        .build()?;
    env.validate_config()?;

    let turn = env.local_turn("hello from the smoke test")?;
    println!(
        "local turn: {:.1}s served by {:?}",
        turn.wall.as_secs_f64(),
        turn.served_by()
    );
    ensure!(turn.success(), "{}", turn.describe());
    ensure!(
        turn.served_by() == Some(("modelscope".into(), QWEN.into())),
        "{}",
        turn.describe()
    );
    ensure!(fake.count(QWEN, 200) == 1);

    let jsonl = env
        .sessions_dir("main")
        .join(format!("{}.jsonl", turn.session_id));
    ensure!(jsonl.is_file(), "{} missing", jsonl.display());
    ensure!(
        !env.agent_db_path("main").exists(),
        "2026.3.31 has no SQLite transcript DB"
    );
    let msgs = env.assistant_messages("main")?;
    ensure!(msgs.len() == 1, "{msgs:#?}");
    let m = &msgs[0];
    ensure!(m.session_id == turn.session_id);
    ensure!(
        m.provider == "modelscope" && m.model == QWEN && m.stop_reason == "stop",
        "{m:#?}"
    );
    ensure!(m.text == format!("ok from {QWEN}"));
    let line = std::fs::read_to_string(&jsonl)?
        .lines()
        .find(|l| l.contains("\"role\":\"assistant\""))
        .map(String::from)
        .context("no assistant line")?;
    println!("  {line}");
    Ok(())
}

#[test]
fn log_file_is_named_as_configured_and_rotates_by_size_2026_9_6() -> Result<()> {
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    let fake = FakeModelScope::start(FakeConfig::default());
    let env = OpenClawEnv::builder(&install, &fake.base_url())
        .log_max_file_bytes(300)
        .build()?;
    // CLI runs write to logging.file too; each line is > 300 bytes, so each run rotates.
    for _ in 0..3 {
        env.validate_config()?;
    }
    let mut names: Vec<String> = std::fs::read_dir(&env.log_dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort();
    println!("log dir: {names:?}");
    ensure!(
        names
            == [
                "openclaw-gateway.1.log",
                "openclaw-gateway.2.log",
                "openclaw-gateway.log"
            ],
        "exact configured name, no date; size rotation to <stem>.N.log: {names:?}"
    );
    let lines = env.log_lines();
    ensure!(
        lines
            .iter()
            .filter(|l| l.message.starts_with("Config valid"))
            .count()
            == 3,
        "archives are read too"
    );
    ensure!(fake.requests().is_empty(), "config validate calls no model");
    Ok(())
}
