//! `--only scale` (issue 13): what a heavy user's day costs msclawd. An OpenClaw 2026.9.6-shaped
//! `openclaw-agent.sqlite` (OpenClaw's schema, its compression rule: about a tenth of the rows
//! zstd-compressed with their navigation) of 10k, 100k and 1M events is caught up by the real
//! release `msclawd`; then restart, append lag, saves and idle cost on it, and one switch on a
//! 13.7 MB `openclaw.json`. Everything is printed as one table, ratios within this run.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use jiff::Timestamp;
use msclaw_shared::client::Client;
use msclaw_shared::{Request, Status};
use msclaw_tests::agent_db::FakeAgentDb;
use msclaw_tests::e2e::{MsclawdProcess, StatusSource, median_max};
use msclaw_tests::fake_modelscope::MODELS;
use msclaw_tests::openclaw::model_ref;
use msclaw_tests::transcripts;
use serde_json::{Value, json};

use super::{ms, say, synthetic_layout};

/// Events per cycle of a generated turn; two of them are model calls, one is ≥ 1 KiB.
const CYCLE: usize = 10;
const SESSIONS: usize = 40;

/// What one size's run measured.
struct SizeRow {
    events: usize,
    calls: usize,
    db_mib: f64,
    catch_up: Duration,
    catch_up_hwm_kib: u64,
    state_bytes: u64,
    save: Duration,
    restart: Duration,
    append_lag: Duration,
    idle: Option<(u64, u64)>,
}

pub fn run(msclawd: &Path, sizes: &[usize], idle: Duration) -> Result<()> {
    let mut rows = Vec::new();
    for &n in sizes {
        say(&format!("scale: {n} events …"));
        rows.push(one_size(msclawd, n, idle)?);
    }
    say("scale: one switch on a 13.7 MB openclaw.json …");
    let switch = big_config_switch(msclawd, 13.7)?;
    print_table(&rows, &switch);
    Ok(())
}

/// The day of `n` events: sessions taking turns, each turn a user message, a tool call, six tool
/// results, one large event (a reply or a tool result, compressed by OpenClaw's rule) and a reply.
/// Returns the calls per rotation model.
fn generate(db: &FakeAgentDb, n: usize, start: Timestamp) -> Result<[usize; 4]> {
    let mut per_model = [0usize; 4];
    let at = |i: usize| start + Duration::from_millis(i as u64 * 600_000 / n as u64 + 1);
    db.conn.execute_batch("BEGIN")?;
    for s in 0..SESSIONS {
        db.add_session(&format!("bench-session-{s:03}"), start);
    }
    let mut seqs = vec![1i64; SESSIONS];
    let long_text = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    for i in 0..n {
        let cycle = i / CYCLE;
        let session = cycle % SESSIONS;
        let model_ix = cycle % MODELS.len();
        let model = MODELS[model_ix];
        let t = at(i);
        let id = format!("{i:010x}");
        let event = match i % CYCLE {
            0 => message(
                &id,
                t,
                json!({"role": "user", "content": "please look at the logs again"}),
            ),
            1 => {
                per_model[model_ix] += 1;
                assistant(
                    &id,
                    t,
                    model,
                    "toolUse",
                    json!([{"type": "toolCall", "id": format!("c{i}"), "name": "read", "arguments": {"path": "/var/log/syslog"}}]),
                )
            }
            8 if cycle.is_multiple_of(2) => {
                per_model[model_ix] += 1;
                assistant(
                    &id,
                    t,
                    model,
                    "stop",
                    json!([{"type": "text", "text": long_text}]),
                )
            }
            8 => tool_result(&id, t, &long_text),
            9 if cycle.is_multiple_of(2) => {
                json!({"type": "custom", "customType": "bench", "id": id, "timestamp": t.to_string(), "data": {"n": i}})
            }
            9 => {
                per_model[model_ix] += 1;
                assistant(
                    &id,
                    t,
                    model,
                    "stop",
                    json!([{"type": "text", "text": "done"}]),
                )
            }
            _ => tool_result(&id, t, "Dec  3 10:00:01 host kernel: all is well\n"),
        };
        db.insert_row(
            &format!("bench-session-{session:03}"),
            seqs[session],
            &event,
            t,
        );
        seqs[session] += 1;
        if i % 50_000 == 49_999 {
            db.conn.execute_batch("COMMIT; BEGIN")?;
        }
    }
    db.conn
        .execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(per_model)
}

fn message(id: &str, t: Timestamp, message: Value) -> Value {
    let mut message = message;
    message["timestamp"] = json!(t.as_millisecond());
    json!({"type": "message", "id": id, "parentId": "p", "timestamp": t.to_string(), "message": message})
}

fn assistant(id: &str, t: Timestamp, model: &str, stop: &str, content: Value) -> Value {
    message(
        id,
        t,
        json!({"role": "assistant", "content": content, "api": "openai-completions",
            "provider": "modelscope", "model": model,
            "usage": {"input": 900, "output": 120, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 1020,
                      "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}},
            "stopReason": stop}),
    )
}

fn tool_result(id: &str, t: Timestamp, text: &str) -> Value {
    message(
        id,
        t,
        json!({"role": "toolResult", "toolCallId": "c1", "toolName": "read", "isError": false,
            "content": [{"type": "text", "text": text}]}),
    )
}

fn counts_are(want: [usize; 4]) -> impl Fn(&Status) -> bool {
    move |s: &Status| s.models.len() >= 4 && (0..4).all(|k| s.models[k].used as usize == want[k])
}

fn one_size(msclawd: &Path, n: usize, idle: Duration) -> Result<SizeRow> {
    let dir = tempfile::Builder::new()
        .prefix("msclaw-bench-scale-")
        .tempdir()?;
    let layout = synthetic_layout(dir.path())?;
    layout.settings("daily_limit = 100000000\n");
    let db = FakeAgentDb::create(&layout.openclaw_state, "main");
    let t = Instant::now();
    let mut want = generate(&db, n, Timestamp::now() - Duration::from_secs(700))?;
    let db_mib = std::fs::metadata(&db.path)?.len() as f64 / 1048576.0;
    say(&format!(
        "  generated {n} events ({} calls, {db_mib:.0} MiB) in {:.1} s",
        want.iter().sum::<usize>(),
        t.elapsed().as_secs_f64()
    ));

    // Cold start: the socket answers, then the counts reach the generated ones.
    let t = Instant::now();
    let mut daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    daemon.wait_for("the catch-up", Duration::from_secs(600), counts_are(want))?;
    let catch_up = t.elapsed();
    let catch_up_hwm_kib = daemon.rss_kib()?.1;

    // 20 pause/resume: each one is saved at once.
    let t = Instant::now();
    for _ in 0..10 {
        request(&daemon, Request::Pause)?;
        request(&daemon, Request::Resume)?;
    }
    let save = t.elapsed() / 20;

    // Append lag: a reply committed → the status counts it.
    let mut lags = Vec::new();
    for k in 0..5 {
        let model_ix = k % 4;
        let event =
            transcripts::assistant_reply("modelscope", MODELS[model_ix], transcripts::now_ms());
        let session = "bench-session-000";
        let seq = db.next_seq(session);
        want[model_ix] += 1;
        let t = Instant::now();
        db.insert_row(session, seq, &event, Timestamp::now());
        daemon.wait_for(
            "the appended reply",
            Duration::from_secs(10),
            counts_are(want),
        )?;
        lags.push(t.elapsed());
    }
    let append_lag = median_max(&lags).0;

    let idle = if idle.is_zero() {
        None
    } else {
        std::thread::sleep(Duration::from_secs(2));
        let before = daemon.cpu_time()?;
        std::thread::sleep(idle);
        let ticks = (daemon.cpu_time()? - before).as_millis() as u64 / 10;
        Some((ticks, daemon.rss_kib()?.0))
    };

    daemon.terminate()?;
    drop(daemon);
    let state_bytes = std::fs::metadata(&layout.state_file)?.len();

    // Restart on the saved state: the same counts, nothing counted twice.
    let t = Instant::now();
    let daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    daemon.wait_for("the restart", Duration::from_secs(600), counts_are(want))?;
    let restart = t.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    ensure!(
        counts_are(want)(&daemon.status()?),
        "counted twice after the restart"
    );
    drop(daemon);
    Ok(SizeRow {
        events: n,
        calls: want.iter().sum(),
        db_mib,
        catch_up,
        catch_up_hwm_kib,
        state_bytes,
        save,
        restart,
        append_lag,
        idle,
    })
}

fn request(daemon: &MsclawdProcess, req: Request) -> Result<()> {
    let socket = daemon.layout.socket.clone();
    daemon.rt().block_on(async move {
        let mut client = Client::connect(&socket).await?;
        client
            .request(&req)
            .await?
            .reply
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(())
    })
}

/// One switch on an `openclaw.json` of `mb` MB: the guide's config plus a large provider
/// catalogue (other providers' models), as a user with many providers has.
struct SwitchRow {
    file_bytes: u64,
    switch: Duration,
    hwm_before_kib: u64,
    hwm_after_kib: u64,
}

fn big_config_switch(msclawd: &Path, mb: f64) -> Result<SwitchRow> {
    let dir = tempfile::Builder::new()
        .prefix("msclaw-bench-bigcfg-")
        .tempdir()?;
    let layout = synthetic_layout(dir.path())?;
    layout.settings("daily_limit = 1\n");
    let text = std::fs::read_to_string(&layout.openclaw_config)?;
    let target = (mb * 1e6) as usize;
    let mut catalogue =
        String::from("  // a big catalogue of other providers' models\n  \"x-catalogue\": {\n");
    let mut i = 0;
    while catalogue.len() + text.len() < target {
        catalogue.push_str(&format!(
            "    \"vendor-{i}/model-{i}\": {{ id: \"model-{i}\", name: \"Model number {i}\", contextWindow: 131072, maxTokens: 8192, tags: [\"chat\", \"tools\", \"long-context\"], cost: {{ input: 0.1, output: 0.2 }} }},\n"
        ));
        i += 1;
    }
    catalogue.push_str("  },\n");
    let at = text
        .find("  agents:")
        .context("agents in the guide config")?;
    let text = format!("{}{catalogue}{}", &text[..at], &text[at..]);
    std::fs::write(&layout.openclaw_config, &text)?;
    let file_bytes = text.len() as u64;

    let db = FakeAgentDb::create(&layout.openclaw_state, "main");
    db.add_session("s1", Timestamp::now());
    let daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    daemon.wait_for("the config read", Duration::from_secs(60), |s| {
        s.active_model.is_some()
    })?;
    let hwm_before_kib = daemon.rss_kib()?.1;
    let next = model_ref(MODELS[1]);
    let reply = transcripts::assistant_reply("modelscope", MODELS[0], transcripts::now_ms());
    let seq = db.next_seq("s1");
    db.insert_row("s1", seq, &reply, Timestamp::now());
    let written = SystemTime::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let head = std::fs::read(&layout.openclaw_config)?;
        if String::from_utf8_lossy(&head).contains(&format!("primary: \"{next}\"")) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no switch within 120 s:\n{}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mtime = std::fs::metadata(&layout.openclaw_config)?.modified()?;
    let switch = mtime.duration_since(written).unwrap_or_default();
    std::thread::sleep(Duration::from_millis(300));
    let hwm_after_kib = daemon.rss_kib()?.1;
    Ok(SwitchRow {
        file_bytes,
        switch,
        hwm_before_kib,
        hwm_after_kib,
    })
}

fn print_table(rows: &[SizeRow], switch: &SwitchRow) {
    let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
    println!();
    println!("== a heavy user's day (issue 13), one run ==");
    print!("| figure |");
    for r in rows {
        print!(" {} events |", r.events);
    }
    println!();
    println!("|---|{}", "---|".repeat(rows.len()));
    let row = |name: &str, f: &dyn Fn(&SizeRow) -> String| {
        println!(
            "| {name} | {} |",
            rows.iter().map(f).collect::<Vec<_>>().join(" | ")
        );
    };
    row("calls in it / DB size (MiB)", &|r| {
        format!("{} / {:.0}", r.calls, r.db_mib)
    });
    row("catch-up, cold start to correct counts (ms)", &|r| {
        ms(r.catch_up)
    });
    row("catch-up per event (µs)", &|r| {
        format!("{:.2}", r.catch_up.as_secs_f64() * 1e6 / r.events as f64)
    });
    row("msclawd peak RSS after the catch-up (MiB)", &|r| {
        mib(r.catch_up_hwm_kib)
    });
    row("state.json after it (bytes)", &|r| {
        r.state_bytes.to_string()
    });
    row("one save (pause or resume, ms)", &|r| {
        format!("{:.2}", r.save.as_secs_f64() * 1e3)
    });
    row("restart to correct counts, no double count (ms)", &|r| {
        ms(r.restart)
    });
    row(
        "append lag, row committed → status (median of 5, ms)",
        &|r| ms(r.append_lag),
    );
    if rows.iter().any(|r| r.idle.is_some()) {
        row(
            "idle: CPU ticks in the idle time / RSS (MiB)",
            &|r| match r.idle {
                Some((ticks, rss)) => format!("{ticks} / {}", mib(rss)),
                None => "-".into(),
            },
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let per = |r: &SizeRow| r.catch_up.as_secs_f64() / r.events as f64;
        println!(
            "ratio {} / {} events: catch-up {:.1}x for {:.0}x the events (per event {:.2}x), state.json {:.2}x, peak RSS {:.2}x",
            last.events,
            first.events,
            last.catch_up.as_secs_f64() / first.catch_up.as_secs_f64(),
            last.events as f64 / first.events as f64,
            per(last) / per(first),
            last.state_bytes as f64 / first.state_bytes as f64,
            last.catch_up_hwm_kib as f64 / first.catch_up_hwm_kib as f64,
        );
    }
    println!(
        "| one switch on a {:.1} MB openclaw.json: row committed → file renamed (ms) / peak RSS before → after (MiB) / after ÷ file size | {} / {} → {} / {:.1}x |",
        switch.file_bytes as f64 / 1e6,
        ms(switch.switch),
        mib(switch.hwm_before_kib),
        mib(switch.hwm_after_kib),
        switch.hwm_after_kib as f64 * 1024.0 / switch.file_bytes as f64
    );
}
