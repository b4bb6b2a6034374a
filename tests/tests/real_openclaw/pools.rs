//! Issue 14 end to end: real OpenClaw 2026.9.6 through its gateway, the fake ModelScope in balance
//! mode (one account balance, Qwen costs 2, the others 1, every model 429s once it cannot pay) and
//! a second fake provider standing in for OpenRouter's free tier, msclaw on the
//! `modelscope-magicube` preset with the free model last in the rotation, no relay.
//!
//! Every turn is answered; once the balance is gone msclaw moves `primary` to the second provider
//! (two members' 429s spend the whole account pool at once) and no request reaches a ModelScope
//! model until the refill; the refill is seen as a success (the user pins Qwen for one turn after
//! the grant arrives) and msclaw stays on the first model after `auto`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use msclaw_shared::client::Client;
use msclaw_shared::{Request, Response};
use msclaw_tests::e2e::{self, Msclaw, StatusSource};
use msclaw_tests::fake_modelscope::{DAILY_LIMIT_MESSAGE, FakeConfig, FakeModelScope, GLM5, QWEN};
use msclaw_tests::openclaw::{self, OPENCLAW_SQLITE, OpenClawEnv, model_ref};
use msclaw_tests::provider_chain::{OR, OR_ID, magicube_chain_settings};

const WAIT: Duration = Duration::from_secs(20);

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

fn request(msclaw: &Msclaw, request: Request) -> Result<()> {
    let socket = msclaw.socket().to_owned();
    msclaw.rt().block_on(async move {
        let mut client = Client::connect(&socket).await?;
        match client.request(&request).await?.reply {
            Ok(Response::Handled(_)) => Ok(()),
            other => bail!("unexpected reply: {other:?}"),
        }
    })
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
fn e2e_pools_magicube_balance_runs_out_openrouter_serves_and_qwen_returns_after_the_refill()
-> Result<()> {
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
    let _gw = env.start_gateway()?;
    let msclaw = Msclaw::start(&env, &magicube_chain_settings())?;
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
        let ms_reqs: Vec<_> = ms.chat_requests().into_iter().filter(within).collect();
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
    // The grant arrives. Nothing tells msclaw (refill "unknown", no probe) until a member is
    // served: the user pins Qwen for a turn.
    ms.set_balance(250);
    let refill_at = Instant::now();
    let quiet = ms
        .chat_requests()
        .iter()
        .filter(|r| r.instant > spent_after)
        .count();
    ensure!(
        quiet == 0,
        "{quiet} ModelScope requests while the pool was spent"
    );
    request(
        &msclaw,
        Request::ForceSwitch {
            model: "qwen3.5".into(),
        },
    )?;
    wait_applied(&msclaw, &q)?;
    let (served, _, _) = run_turn("pinned after refill")?;
    ensure!(served == q, "served by {served}");
    msclaw.wait_for("the pool refilled", WAIT, |s| !s.pools[0].spent)?;
    request(&msclaw, Request::Auto)?;
    // 9-10: back on the first model, automatically.
    for _ in 0..2 {
        let (served, _, or_n) = run_turn("after the refill")?;
        ensure!(served == q && or_n == 0, "served by {served}");
    }
    let status = msclaw.status()?;
    ensure!(status.active_model.as_deref() == Some(&*q));
    println!(
        "[pools] refill seen {:.1} s after the grant; pool now {}/{} {}",
        refill_at.elapsed().as_secs_f64(),
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
