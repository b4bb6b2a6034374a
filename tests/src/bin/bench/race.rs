//! The turn-start race (issue 15): a turn that starts right after a model was spent, before the
//! gateway has applied msclaw's rewritten `primary` (~1.1 s after the record, see the figures).
//! A CLI turn (`openclaw agent`) needs about 2 s to reach the gateway, so back-to-back CLI turns
//! never start inside that window; a client of the gateway's own OpenAI-compatible endpoint
//! (`POST /v1/chat/completions`, the same agent run) starts in milliseconds. So here every turn is
//! such a request, each sent the moment the previous reply arrived, and the fake server's 429
//! text is ModelScope's long-window one (OpenClaw falls back at once instead of ~150 s of
//! retries): the count that matters is how many turns still sent the spent model a request.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use msclaw_tests::e2e;
use msclaw_tests::fake_modelscope::{DAILY_LIMIT_MESSAGE, FakeConfig, FakeModelScope, MODELS};
use msclaw_tests::openclaw::{GATEWAY_TOKEN, OpenClawEnv, OpenClawInstall};

use super::plugin::{
    install_plugin, overrides_since, scenario_env, spawn_msclawd, wait_for_plugin,
};
use super::{QUOTA, Run, TurnRow, say, short};

/// Who keeps the model right: nobody (OpenClaw's fallbacks), msclaw by its files, or msclaw with
/// its plugin choosing each turn's model.
#[derive(Clone, Copy, PartialEq)]
pub enum Manager {
    Native,
    Files,
    Plugin,
}

impl Manager {
    pub const ALL: [Manager; 3] = [Manager::Native, Manager::Files, Manager::Plugin];

    fn label(self) -> &'static str {
        match self {
            Manager::Native => "OpenClaw fallbacks only",
            Manager::Files => "OpenClaw + msclaw",
            Manager::Plugin => "OpenClaw + msclaw + plugin",
        }
    }
}

/// Turns the gateway's `/v1/chat/completions` on (off by default) in the test config.
fn enable_http_turns(env: &OpenClawEnv) -> Result<()> {
    let text = env.read_config()?;
    let gateway = "  gateway: {\n";
    ensure!(text.contains(gateway), "no gateway section:\n{text}");
    let on = "    http: { endpoints: { chatCompletions: { enabled: true } } },\n";
    env.write_config_atomic(&text.replacen(gateway, &format!("{gateway}{on}"), 1))
}

/// One turn through the gateway's endpoint; the fake server's requests in its time window.
async fn http_turn(
    client: &reqwest::Client,
    env: &OpenClawEnv,
    fake: &FakeModelScope,
    i: usize,
) -> Result<TurnRow> {
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", env.gateway_port);
    let body = serde_json::json!({
        "model": "openclaw",
        "messages": [{"role": "user", "content": format!("race turn {i}")}],
    });
    let started = Instant::now();
    let resp = client
        .post(url)
        .bearer_auth(GATEWAY_TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    let ended = Instant::now();
    ensure!(status.is_success(), "race turn {i}: {status} {text}");
    let reqs: Vec<_> = fake
        .chat_requests()
        .into_iter()
        .filter(|r| r.instant >= started && r.instant <= ended)
        .collect();
    let served = reqs.iter().rev().find(|r| r.status == 200);
    Ok(TurnRow {
        served_by: served
            .and_then(|r| r.model.as_deref())
            .map_or_else(|| "none".to_owned(), short),
        wall: ended - started,
        requests: reqs.len(),
        to_spent: reqs.iter().filter(|r| r.status == 429).count(),
    })
}

/// The day as HTTP turns back to back under `manager`; also how many turns' model msclawd chose.
pub fn run_race(
    install: &OpenClawInstall,
    manager: Manager,
    msclawd: &Path,
    msclawctl: &Path,
) -> Result<(Run, usize)> {
    let t = Instant::now();
    let fake = FakeModelScope::start(
        FakeConfig::all_models_quota(QUOTA).limit_message(DAILY_LIMIT_MESSAGE),
    );
    let dir = tempfile::Builder::new()
        .prefix("msclaw-bench-race-")
        .tempdir()?;
    let env = scenario_env(install, &fake, dir.path())?;
    enable_http_turns(&env)?;
    if manager == Manager::Plugin {
        install_plugin(&env, dir.path(), msclawctl)?;
    }
    let daemon = match manager {
        Manager::Native => None,
        _ => Some(spawn_msclawd(&env, dir.path(), msclawd)?),
    };
    let gw = env.start_gateway()?;
    if manager == Manager::Plugin {
        wait_for_plugin(&env)?;
    }
    say(&format!(
        "  [race] {}: gateway ready after {}s",
        manager.label(),
        e2e::secs(gw.ready_after)
    ));
    let log_mark = env.log_lines().len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .context("http client")?;
    let mut turns = Vec::new();
    for i in 1..=QUOTA as usize * MODELS.len() {
        let row = rt.block_on(http_turn(&client, &env, &fake, i))?;
        say(&format!(
            "  [race] turn {i}: {:>6}s  {:<8} requests {:>2}, to a spent model {:>2}",
            e2e::secs(row.wall),
            row.served_by,
            row.requests,
            row.to_spent
        ));
        turns.push(row);
    }
    let chosen = overrides_since(&env, log_mark);
    drop(gw);
    drop(daemon);
    let run = Run {
        label: manager.label(),
        turns,
        elapsed: t.elapsed(),
    };
    Ok((run, chosen))
}
