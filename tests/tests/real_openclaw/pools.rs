//! Issue 14 end to end: real OpenClaw 2026.9.6 through its gateway, the fake ModelScope in balance
//! mode (one account balance, Qwen costs 2, the others 1, every model 429s once it cannot pay) and
//! a second fake provider standing in for OpenRouter's free tier, msclaw on the
//! `modelscope-magicube` preset with the free model last in the rotation, no relay.
//!
//! Every turn is answered; once the balance is gone msclaw moves `primary` to the second provider
//! (two members' 429s spend the whole account pool at once) and no request reaches a ModelScope
//! model until the refill but msclaw's own probes (one minimal call of GLM, the cheapest member,
//! per `probe_minutes = 1`); after the refill msclaw returns to the first model within one probe
//! interval, by itself.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use msclaw_tests::e2e::{self, Msclaw, StatusSource};
use msclaw_tests::fake_modelscope::{DAILY_LIMIT_MESSAGE, FakeConfig, FakeModelScope, GLM5, QWEN};
use msclaw_tests::openclaw::{self, FAKE_API_KEY, OPENCLAW_SQLITE, OpenClawEnv, model_ref};
use msclaw_tests::provider_chain::{OR, OR_ID, magicube_chain_settings};

const WAIT: Duration = Duration::from_secs(20);
/// The pool's `probe_minutes`, and how long msclaw may take past it (the probe and the switch).
const PROBE_INTERVAL: Duration = Duration::from_secs(60);
const PROBE_SLACK: Duration = Duration::from_secs(20);

/// msclaw's probe: the only ModelScope chat request with `max_tokens: 1` (OpenClaw asks for more).
fn is_probe(r: &msclaw_tests::fake_modelscope::RequestRecord) -> bool {
    r.body.as_ref().is_some_and(|b| {
        b["max_tokens"] == 1 && b["messages"].as_array().is_some_and(|m| m.len() == 1)
    })
}

/// The env's config with the second provider (and an alias for its model) added.
fn add_openrouter(env: &OpenClawEnv, url: &str) -> Result<()> {
    let text = env.read_config()?;
    let provider = format!(
        "      }},\n      openrouter: {{\n        baseUrl: \"{url}\",\n        apiKey: \"${{OPENROUTER_API_KEY}}\",\n        api: \"openai-completions\",\n        models: [\n          {{ id: \"{OR_ID}\", name: \"Qwen3 Coder free\", contextWindow: 262144, maxTokens: 8192,\n            cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},\n        ],\n      }},\n    }},\n  }},\n"
    );
    let with_provider = text.replacen("      },\n    },\n  },\n", &provider, 1);
    let with_alias = with_provider.replacen(
        "      models: {\n",
        &format!("      models: {{\n        \"{OR}\": {{ alias: \"qcoder\" }},\n"),
        1,
    );
    ensure!(
        with_alias.contains(&format!("\"{OR}\": {{ alias")) && with_alias.contains("openrouter: {"),
        "the test config changed shape:\n{text}"
    );
    env.write_config_atomic(&with_alias)
}

/// Waits until `primary` is `model` and the gateway applied it (or none was needed).
fn wait_applied(msclaw: &Msclaw, model: &str) -> Result<()> {
    msclaw.wait_for(&format!("{model} applied"), WAIT, |s| {
        s.active_model.as_deref() == Some(model)
            && s.last_switch
                .as_ref()
                .is_none_or(|l| l.to != model || l.outcome != "pending")
    })?;
    Ok(())
}

#[test]
fn e2e_pools_magicube_balance_runs_out_openrouter_serves_and_a_probe_brings_qwen_back() -> Result<()>
{
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    // 4 units: Qwen twice (2 each), then nothing left for any model.
    let ms = FakeModelScope::start(
        FakeConfig::default()
            .balance(4)
            .cost_milli(QWEN, 2000)
            .limit_message(DAILY_LIMIT_MESSAGE),
    );
    let or = FakeModelScope::start(FakeConfig::empty().model(OR_ID, None));
    let or_url = format!("http://{}/api/v1", or.addr());
    let env = OpenClawEnv::builder(&install, &ms.base_url())
        .fallbacks(&[GLM5])
        .env("OPENROUTER_API_KEY", "or-test-FAKEKEY")
        .build()?;
    add_openrouter(&env, &or_url)?;
    // The user's fallbacks: GLM, then the free model.
    let text = env.read_config()?.replacen(
        &format!("fallbacks: [\"{}\"]", model_ref(GLM5)),
        &format!("fallbacks: [\"{}\", \"{OR}\"]", model_ref(GLM5)),
        1,
    );
    env.write_config_atomic(&text)?;
    env.validate_config()?;
    // The key where msclawd's probe finds it (msclawd runs with a clean environment).
    std::fs::write(
        env.state_dir.join(".env"),
        format!("MODELSCOPE_API_KEY={FAKE_API_KEY}\n"),
    )?;
    let _gw = env.start_gateway()?;
    let settings = format!(
        "{}[[pools]]\nname = \"modelscope\"\nprobe_minutes = 1\n",
        magicube_chain_settings()
    );
    let msclaw = Msclaw::start(&env, &settings)?;
    msclaw.wait_for("the config read", WAIT, |s| {
        s.active_model.as_deref() == Some(&*model_ref(QWEN)) && s.pools.len() == 1
    })?;

    println!(
        "[pools] turn | wall s | served by | ModelScope requests (429) | OpenRouter requests | primary after"
    );
    let mut rows = Vec::new();
    let mut turn_no = 0;
    let mut run_turn = |label: &str| -> Result<(String, usize, usize)> {
        turn_no += 1;
        let started = Instant::now();
        let turn = env.agent_turn(&format!("pools turn {turn_no}"))?;
        let ended = Instant::now();
        let within = |r: &msclaw_tests::fake_modelscope::RequestRecord| {
            r.instant >= started && r.instant <= ended
        };
        let ms_reqs: Vec<_> = ms
            .chat_requests()
            .into_iter()
            .filter(|r| within(r) && !is_probe(r))
            .collect();
        let ms_429 = ms_reqs.iter().filter(|r| r.status == 429).count();
        let or_reqs = or.chat_requests().into_iter().filter(within).count();
        ensure!(turn.success(), "turn {turn_no} failed: {}", turn.describe());
        let served = turn
            .served_by()
            .map(|(p, m)| format!("{p}/{m}"))
            .unwrap_or_default();
        // Give msclaw a moment to read the turn's records and switch.
        std::thread::sleep(Duration::from_millis(1500));
        let primary = msclaw.status()?.active_model.unwrap_or_default();
        let row = format!(
            "[pools] {turn_no:>2} {label:<22} | {:>6} | {served:<36} | {:>2} ({ms_429}) | {or_reqs} | {primary}",
            e2e::secs(turn.wall),
            ms_reqs.len(),
        );
        println!("{row}");
        rows.push(row);
        Ok((served, ms_reqs.len(), or_reqs))
    };

    let q = model_ref(QWEN);
    // 1-2: Qwen serves, 2 units each.
    for _ in 0..2 {
        let (served, _, or_n) = run_turn("balance left")?;
        ensure!(served == q && or_n == 0, "served by {served}");
    }
    // 3: nothing left: Qwen and GLM 429, the free model answers; two members' 429s spend the pool.
    let (served, ms_n, _) = run_turn("balance gone")?;
    ensure!(
        served == OR && ms_n == 2,
        "turn 3 served by {served} after {ms_n} ModelScope requests"
    );
    msclaw.wait_for("the pool spent", WAIT, |s| s.pools[0].spent)?;
    wait_applied(&msclaw, OR)?;
    let spent_after = Instant::now();
    // 4-6: the free model directly, no request to a ModelScope model.
    for _ in 0..3 {
        let (served, ms_n, _) = run_turn("on OpenRouter")?;
        ensure!(
            served == OR && ms_n == 0,
            "served by {served}, {ms_n} ModelScope requests"
        );
    }
    // The grant arrives. Only a probe can tell msclaw (refill "unknown", OpenClaw is on the free
    // model): within one probe interval msclaw is back on Qwen by itself.
    let quiet = ms
        .chat_requests()
        .iter()
        .filter(|r| r.instant > spent_after && !is_probe(r))
        .count();
    ensure!(
        quiet == 0,
        "{quiet} ModelScope requests (not probes) while the pool was spent"
    );
    ms.set_balance(250);
    let refill_at = Instant::now();
    msclaw.wait_for("back on Qwen", PROBE_INTERVAL + PROBE_SLACK, |s| {
        s.active_model.as_deref() == Some(&*q)
    })?;
    let back_after = refill_at.elapsed();
    wait_applied(&msclaw, &q)?;
    let probes: Vec<_> = ms.chat_requests().into_iter().filter(is_probe).collect();
    ensure!(
        probes.iter().all(|p| p.model.as_deref() == Some(GLM5)),
        "a probe of another model than the cheapest"
    );
    println!(
        "[pools] back on Qwen {:.1} s after the grant; {} probes in all ({} served)",
        back_after.as_secs_f64(),
        probes.len(),
        probes.iter().filter(|p| p.status == 200).count()
    );
    // 7-8: back on the first model.
    for _ in 0..2 {
        let (served, _, or_n) = run_turn("after the refill")?;
        ensure!(served == q && or_n == 0, "served by {served}");
    }
    let status = msclaw.status()?;
    ensure!(status.active_model.as_deref() == Some(&*q));
    println!(
        "[pools] pool now {}/{} {}",
        status.pools[0].used,
        status.pools[0]
            .capacity
            .as_ref()
            .map_or("?".into(), ToString::to_string),
        status.pools[0].unit
    );
    msclaw.stop()?;
    Ok(())
}
