//! msclaw's own figures without a gateway: the relay's added latency per request, and switches
//! driven by synthetic records (a transcript row, a JSONL line, a gateway-log 429), each timed
//! from the record on disk to the new `openclaw.json` in place.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use msclaw_tests::daemon::Layout;
use msclaw_tests::e2e::{MsclawdProcess, StatusSource};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, MODELS};
use msclaw_tests::openclaw::{self, model_ref};
use msclaw_tests::transcripts::{self, AgentDb, JsonlSession};

/// p50 and p99 of `n` plain chat completions sent straight to the fake server and through a real
/// msclawd's relay, alternated so both see the same machine load.
pub(super) fn relay_latency(msclawd: &Path, n: usize) -> Result<[Duration; 4]> {
    let fake = FakeModelScope::start(FakeConfig::default());
    let dir = tempfile::Builder::new().prefix("msclaw-bench-").tempdir()?;
    let layout = synthetic_layout(dir.path())?;
    let port = openclaw::free_port()?;
    layout.settings(&format!(
        "[relay]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\n",
        fake.base_url()
    ));
    let relay = format!("http://127.0.0.1:{port}/v1");
    msclaw_tests::daemon::write_relay_store(
        &layout,
        msclaw_tests::daemon::RELAY_TOKEN,
        &relay,
        &fake.base_url(),
        msclaw_tests::daemon::RELAY_REAL_KEY,
    );
    let _daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let direct = fake.base_url();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let body = serde_json::json!({"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}]});
        let mut times = [Vec::new(), Vec::new()];
        for i in 0..n * 2 + 20 {
            let base = if i % 2 == 0 { &direct } else { &relay };
            let t = Instant::now();
            let resp = client.post(format!("{base}/chat/completions")).bearer_auth(msclaw_tests::daemon::RELAY_TOKEN).json(&body).send().await?;
            ensure!(resp.status().is_success(), "{}", resp.status());
            resp.bytes().await?;
            if i >= 20 {
                times[i % 2].push(t.elapsed());
            }
        }
        let pct = |v: &mut Vec<Duration>, p: f64| {
            v.sort();
            v[((v.len() - 1) as f64 * p).round() as usize]
        };
        let [mut d, mut r] = times;
        Ok([pct(&mut d, 0.5), pct(&mut d, 0.99), pct(&mut r, 0.5), pct(&mut r, 0.99)])
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Source {
    Sqlite,
    Jsonl,
    GatewayLog429,
}

/// A layout with the guide's config (commented JSON5) and a gateway port nobody listens on, so
/// no reload is awaited (and no gateway of someone else's is touched).
pub(super) fn synthetic_layout(root: &Path) -> Result<Layout> {
    let mut layout = Layout::in_dir(root);
    layout.gateway_log_dir = root.join("gateway/openclaw-gateway.log");
    std::fs::create_dir_all(&layout.openclaw_state)?;
    std::fs::create_dir_all(layout.gateway_log_dir.parent().unwrap())?;
    std::fs::write(&layout.gateway_log_dir, "")?;
    let port = openclaw::free_port()?;
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    let config = format!(
        "{}  gateway: {{ port: {port} }},\n}}\n",
        config
            .trim_end()
            .strip_suffix('}')
            .context("config ends with }")?
    );
    std::fs::write(&layout.openclaw_config, config)?;
    Ok(layout)
}

fn append_raw(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Many switches on synthetic records, each timed from the moment the record that spends the
/// active model is on disk (committed, or its write returned) to the mtime of the new
/// openclaw.json msclaw renamed into place.
pub(super) fn synthetic_switches(
    source: Source,
    rounds: usize,
    msclawd: &Path,
) -> Result<Vec<Duration>> {
    let mut out = Vec::new();
    for _ in 0..rounds {
        let dir = tempfile::Builder::new()
            .prefix("msclaw-bench-syn-")
            .tempdir()?;
        let layout = synthetic_layout(dir.path())?;
        let settings = match source {
            Source::GatewayLog429 => "daily_limit = \"unknown\"\n",
            _ => "daily_limit = 1\n",
        };
        layout.settings(settings);
        let db = match source {
            Source::Sqlite => {
                let db = AgentDb::create(&layout.openclaw_state, "main")?;
                db.add_session("s1")?;
                Some(db)
            }
            _ => None,
        };
        let jsonl = JsonlSession::create(&layout.openclaw_state, "main", "s1");
        let daemon = MsclawdProcess::spawn(msclawd, &layout)?;
        daemon.wait_for("the config read", Duration::from_secs(10), |s| {
            s.active_model.is_some()
        })?;
        for k in 0..3 {
            let (model, next) = (MODELS[k], model_ref(MODELS[k + 1]));
            let reply = transcripts::assistant_reply("modelscope", model, transcripts::now_ms());
            let written = match source {
                Source::Sqlite => {
                    db.as_ref().unwrap().append("s1", &reply)?;
                    SystemTime::now()
                }
                Source::Jsonl => {
                    append_raw(&jsonl.path, &format!("{reply}\n"))?;
                    SystemTime::now()
                }
                Source::GatewayLog429 => {
                    if k > 0 {
                        // A success first, so the model just switched to is not taken for an
                        // account-wide limit (a model 429ing at once after a 429 switch is).
                        jsonl.append(&reply);
                        daemon.wait_for("the success counted", Duration::from_secs(10), |s| {
                            s.models[k].used == 1
                        })?;
                    }
                    let line = |_| {
                        transcripts::gateway_log_line(
                            "provider-transport-fetch",
                            &format!(
                                "[model-fetch] response provider=modelscope api=openai-completions model={model} status=429 elapsedMs=9"
                            ),
                        )
                    };
                    let lines: Vec<String> = (0..3).map(line).collect();
                    append_raw(&layout.gateway_log_dir, &format!("{}\n", lines.join("\n")))?;
                    SystemTime::now()
                }
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let text = std::fs::read_to_string(&layout.openclaw_config)?;
                if text.contains(&format!("primary: \"{next}\"")) {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "[{source:?}] no switch to {next} within 10 s:\n{}\n{:#?}",
                    daemon.stderr(),
                    daemon.status().map(|s| (s.models, s.sources))
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            let mtime = std::fs::metadata(&layout.openclaw_config)?.modified()?;
            out.push(mtime.duration_since(written).unwrap_or_default());
            daemon.wait_for("the switch finished", Duration::from_secs(10), |s| {
                s.last_switch
                    .as_ref()
                    .is_some_and(|l| l.outcome != "pending")
            })?;
        }
        drop(daemon);
    }
    Ok(out)
}
