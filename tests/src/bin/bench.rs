//! Side-by-side benchmark: the same day on real OpenClaw (2026.9.6 gateway, fake ModelScope with a
//! quota of 2 calls per model) run twice — with OpenClaw's own `fallbacks` only, then with the
//! real `msclawd` (release build) managing `primary` — plus msclaw's own figures: how fast a
//! switch follows the record that spent a model, how fast the gateway applies it, the daemon's
//! memory and its CPU time while idle.
//!
//! ```sh
//! cargo run --release -p msclaw-tests --bin bench                 # everything, ~35 min
//! cargo run --release -p msclaw-tests --bin bench -- --turns 4    # shorter native run (~6 min)
//! cargo run --release -p msclaw-tests --bin bench -- --only msclaw,figures
//! ```
//!
//! Expected duration: the native run stalls ~150 s per spent model on every turn that meets one
//! (OpenClaw retries a 429 1+9 times): with 8 turns that is 0+0+150+150+300+300+450+450 s, about
//! 30 minutes. The msclaw run takes about a minute, the synthetic switches about a minute, the
//! idle measurement 60 s.
//!
//! Options: `--turns N` (default 8), `--rounds N` synthetic rounds per source (default 10, 3
//! switches each), `--idle SECS` (default 60), `--only native,msclaw,plugin,race,figures,reactive`.
//!
//! `plugin` (issue 15) runs the day again with msclaw's OpenClaw plugin installed by the real
//! `msclawctl plugin install --choose-model` (built beside msclawd), so msclawd also picks each
//! turn's model at its start; about a minute. The tables' "started right after a model was spent"
//! row counts the turns that follow a model's last call (back to back, no gap) and still sent it a
//! request. `race` runs native, msclaw and msclaw + plugin again with turns that start in
//! milliseconds (see `bench/race.rs`); about three minutes.
//!
//! `scale` (issue 13, not in the default set) measures a heavy user's day on a generated agent DB:
//! `--only scale --sizes 10000,100000,1000000 --idle 10` (`--idle 0` skips the idle figure); see
//! `bench/scale.rs`. `--msclawd PATH` measures that binary instead of building one.
//!
//! `reactive` (issue 7) runs the day again with msclaw's limits unknown, so only 429s tell it a
//! model is spent: once with msclaw following the transcripts and gateway log, once with
//! OpenClaw's provider pointed at msclawd's metering relay; and it measures the relay's added
//! latency per request against direct calls to the fake server. The native run above is the
//! reactive scenario's baseline too (OpenClaw alone knows no limits). The transcripts-only run
//! stalls ~150 s once per spent model (the turn that meets it), so it takes a few minutes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use msclaw_shared::EventKind;
use msclaw_tests::e2e::{self, MsclawdProcess, StatusSource, median_max};
use msclaw_tests::fake_modelscope::{DAILY_LIMIT_MESSAGE, FakeConfig, FakeModelScope, MODELS};
use msclaw_tests::openclaw::{
    self, OPENCLAW_SQLITE, OpenClawEnv, OpenClawInstall, TurnOptions, model_ref,
};

#[path = "bench/figures.rs"]
mod figures;
#[path = "bench/plugin.rs"]
mod plugin;
#[path = "bench/race.rs"]
mod race;
#[path = "bench/scale.rs"]
mod scale;

use figures::{Source, relay_latency, synthetic_layout, synthetic_switches};

const QUOTA: u32 = 2;
/// msclaw rewrites primary and, with OpenClaw's fallbacks set, the fallbacks too: the gateway
/// names both paths in one line.
const RELOAD_ANY: &str = "config hot reload applied (agents.defaults.model.";
const STALL: Duration = Duration::from_secs(10);

struct Args {
    turns: usize,
    rounds: usize,
    idle: Duration,
    only: Vec<String>,
    /// Events in the generated agent DBs of `scale`.
    sizes: Vec<usize>,
    /// A prebuilt msclawd to measure (no `cargo build` then).
    msclawd: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        turns: 8,
        rounds: 10,
        idle: Duration::from_secs(60),
        only: vec![
            "native".into(),
            "msclaw".into(),
            "plugin".into(),
            "race".into(),
            "figures".into(),
            "reactive".into(),
        ],
        sizes: vec![10_000, 100_000, 1_000_000],
        msclawd: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--turns" => a.turns = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse()?,
            "--idle" => a.idle = Duration::from_secs(value()?.parse()?),
            "--only" => a.only = value()?.split(',').map(str::to_owned).collect(),
            "--msclawd" => a.msclawd = Some(value()?.into()),
            "--sizes" => {
                a.sizes = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            other => bail!("unknown option {other} (see the header of tests/src/bin/bench.rs)"),
        }
    }
    ensure!(a.turns >= 1 && a.rounds >= 1);
    Ok(a)
}

/// One turn as the user saw it.
struct TurnRow {
    served_by: String,
    wall: Duration,
    requests: usize,
    to_spent: usize,
}

struct Run {
    label: &'static str,
    turns: Vec<TurnRow>,
    elapsed: Duration,
}

impl Run {
    fn total(&self) -> Duration {
        self.turns.iter().map(|t| t.wall).sum()
    }
    fn walls(&self) -> Vec<Duration> {
        self.turns.iter().map(|t| t.wall).collect()
    }
    fn stalls(&self) -> usize {
        self.turns.iter().filter(|t| t.wall > STALL).count()
    }
    fn to_spent(&self) -> usize {
        self.turns.iter().map(|t| t.to_spent).sum()
    }
    /// The turn-start race: of the turns fired right after a turn used a model's last call (the
    /// moment msclaw switches), how many still sent that spent model a request; and how many
    /// such turns there were.
    fn race(&self) -> (usize, usize) {
        // 0-based: turns QUOTA, 2·QUOTA, … follow the spending of models 1, 2, … (the last
        // model has no model to switch to).
        let after_spend: Vec<&TurnRow> = (1..MODELS.len())
            .filter_map(|k| self.turns.get(k * QUOTA as usize))
            .collect();
        let met = after_spend.iter().filter(|t| t.to_spent > 0).count();
        (met, after_spend.len())
    }
}

fn say(text: &str) {
    println!("{text}");
    let _ = std::io::stdout().flush();
}

/// The turns of the scenario: back to back, each in a fresh session; a 429 from the fake server
/// is always a request to a model whose quota is spent.
fn drive(
    label: &'static str,
    env: &OpenClawEnv,
    fake: &FakeModelScope,
    turns: usize,
) -> Result<Vec<TurnRow>> {
    let mut rows = Vec::new();
    for i in 1..=turns {
        let started = Instant::now();
        let opts = TurnOptions {
            timeout: Duration::from_secs(1200),
            ..TurnOptions::default()
        };
        let turn = env.turn(&format!("bench turn {i}"), &opts)?;
        let ended = Instant::now();
        let reqs: Vec<_> = fake
            .chat_requests()
            .into_iter()
            .filter(|r| r.instant >= started && r.instant <= ended)
            .collect();
        let row = TurnRow {
            served_by: turn.model().map(|m| short(&m)).unwrap_or_else(|| {
                format!("failed ({})", turn.error_message().unwrap_or_default())
            }),
            wall: turn.wall,
            requests: reqs.len(),
            to_spent: reqs.iter().filter(|r| r.status == 429).count(),
        };
        say(&format!(
            "  [{label}] turn {i}: {:>6}s  {:<8} requests {:>2}, to a spent model {:>2}",
            e2e::secs(row.wall),
            row.served_by,
            row.requests,
            row.to_spent
        ));
        ensure!(
            turn.success(),
            "[{label}] turn {i} failed: {}",
            turn.describe()
        );
        rows.push(row);
    }
    Ok(rows)
}

fn short(model: &str) -> String {
    let id = model.rsplit('/').next().unwrap_or(model);
    id.split(['-', '.']).next().unwrap_or(id).to_owned()
}

fn run_native(install: &OpenClawInstall, turns: usize) -> Result<Run> {
    let t = Instant::now();
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(QUOTA));
    let env = OpenClawEnv::builder(install, &fake.base_url())
        .with_default_fallbacks()
        .build()?;
    let gw = env.start_gateway()?;
    say(&format!(
        "  [native] gateway ready after {}s",
        e2e::secs(gw.ready_after)
    ));
    let turns = drive("native", &env, &fake, turns)?;
    Ok(Run {
        label: "OpenClaw fallbacks only",
        turns,
        elapsed: t.elapsed(),
    })
}

/// What msclaw did in the run with the gateway.
struct MsclawRun {
    run: Run,
    /// Per switch: (limit row committed → msclaw's new config in place, → the gateway's hot reload line).
    switches: Vec<(Duration, Duration)>,
    rss_kib: (u64, u64),
    idle_cpu: Duration,
    idle: Duration,
}

fn run_msclaw(
    install: &OpenClawInstall,
    turns: usize,
    msclawd: &Path,
    idle: Duration,
) -> Result<MsclawRun> {
    let t = Instant::now();
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(QUOTA));
    let env = OpenClawEnv::builder(install, &fake.base_url())
        .with_default_fallbacks()
        .build()?;
    let gw = env.start_gateway()?;
    say(&format!(
        "  [msclaw] gateway ready after {}s",
        e2e::secs(gw.ready_after)
    ));
    let dir = tempfile::Builder::new().prefix("msclaw-bench-").tempdir()?;
    let layout = e2e::layout_for(&env, dir.path());
    layout.settings(&format!("daily_limit = {QUOTA}\n"));
    let daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    let events = daemon.record_events()?;
    daemon.wait_for("the config read", Duration::from_secs(10), |s| {
        s.active_model.as_deref() == Some(&*model_ref(MODELS[0]))
    })?;
    let log_mark = env.log_lines().len();
    let turns = drive("msclaw", &env, &fake, turns)?;
    let elapsed = t.elapsed();

    // Each switch: the row that reached the limit (OpenClaw's created_at stamp; its commit follows
    // within milliseconds) → the Switched event (sent right after the rename) → the gateway's hot
    // reload line.
    std::thread::sleep(Duration::from_secs(2)); // the last switch's reload line
    let mut rows: Vec<(String, i64)> = env
        .transcript_events("main")?
        .iter()
        .filter_map(|ev| {
            let m = openclaw::AssistantMessage::from_event(ev)?;
            (m.stop_reason == "stop").then(|| (m.model, ev.created_at_ms.unwrap_or_default()))
        })
        .collect();
    rows.sort_by_key(|r| r.1);
    let reloads: Vec<i64> = env
        .log_lines()
        .iter()
        .skip(log_mark)
        .filter(|l| l.message.contains(RELOAD_ANY))
        .filter_map(e2e::log_line_ms)
        .collect();
    let mut switches = Vec::new();
    for (k, ev) in events
        .events()
        .iter()
        .filter(|e| matches!(e.event.kind, EventKind::Switched { .. }))
        .enumerate()
    {
        let Some((_, row_ms)) = rows.get(QUOTA as usize * (k + 1) - 1) else {
            continue;
        };
        let row_at = e2e::instant_of_wall_ms(*row_ms);
        let written = ev.instant.saturating_duration_since(row_at);
        let applied = reloads
            .get(k)
            .map(|ms| e2e::instant_of_wall_ms(*ms).saturating_duration_since(row_at))
            .unwrap_or_default();
        switches.push((written, applied));
    }

    let rss_kib = daemon.rss_kib()?;
    say(&format!(
        "  [msclaw] idle for {}s with the gateway running …",
        idle.as_secs()
    ));
    let before = daemon.cpu_time()?;
    std::thread::sleep(idle);
    let idle_cpu = daemon.cpu_time()? - before;
    drop(gw);
    Ok(MsclawRun {
        run: Run {
            label: "OpenClaw + msclaw",
            turns,
            elapsed,
        },
        switches,
        rss_kib,
        idle_cpu,
        idle,
    })
}

/// The reactive scenario: msclaw's limits unknown, OpenClaw's fallbacks set; with `relay`, the
/// provider's baseUrl is msclawd's relay and the relay forwards to the fake server.
fn run_reactive(
    install: &OpenClawInstall,
    turns: usize,
    msclawd: &Path,
    relay: bool,
) -> Result<Run> {
    let t = Instant::now();
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(QUOTA));
    let port = openclaw::free_port()?;
    let base = if relay {
        format!("http://127.0.0.1:{port}/v1")
    } else {
        fake.base_url()
    };
    let env = OpenClawEnv::builder(install, &base)
        .with_default_fallbacks()
        .build()?;
    let gw = env.start_gateway()?;
    let dir = tempfile::Builder::new().prefix("msclaw-bench-").tempdir()?;
    let layout = e2e::layout_for(&env, dir.path());
    let mut settings = "daily_limit = \"unknown\"\n".to_owned();
    if relay {
        // OpenClaw's config keeps its key reference: the fake key serves as the relay token.
        let key = openclaw::FAKE_API_KEY;
        msclaw_tests::daemon::write_relay_store(&layout, key, &base, &fake.base_url(), key);
        settings += &format!(
            "[relay]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\n",
            fake.base_url()
        );
    }
    layout.settings(&settings);
    let daemon = MsclawdProcess::spawn(msclawd, &layout)?;
    daemon.wait_for("the config read", Duration::from_secs(10), |s| {
        s.active_model.is_some()
    })?;
    let (tag, label) = if relay {
        ("relay", "msclaw + relay, limits unknown")
    } else {
        ("reactive", "msclaw (transcripts + log), limits unknown")
    };
    say(&format!(
        "  [{tag}] gateway ready after {}s",
        e2e::secs(gw.ready_after)
    ));
    let turns = drive(tag, &env, &fake, turns)?;
    drop(gw);
    Ok(Run {
        label,
        turns,
        elapsed: t.elapsed(),
    })
}

/// `bin` of `package` next to this binary, (re)built first so it is the one of this source tree.
fn workspace_binary(package: &str, bin: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("exe dir")?.join(bin);
    let release = exe
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-q", "-p", package, "--bin", bin]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .current_dir(openclaw::workspace_dir())
        .status()
        .with_context(|| format!("running cargo build for {bin}"))?;
    ensure!(
        status.success() && path.is_file(),
        "could not build {bin} at {}",
        path.display()
    );
    Ok(path)
}

/// msclawctl for the plugin run: beside a given `--msclawd`, else built like msclawd.
fn msclawctl_binary(msclawd: Option<&Path>) -> Result<PathBuf> {
    match msclawd.map(|d| d.with_file_name("msclawctl")) {
        Some(beside) if beside.is_file() => Ok(beside),
        _ => workspace_binary("msclawctl", "msclawctl"),
    }
}

/// One side-by-side table: a column per run, the same rows for each.
fn print_runs(runs: &[&Run]) {
    println!(
        "| | {} |",
        runs.iter().map(|r| r.label).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}", "---|".repeat(runs.len()));
    let row = |name: &str, f: &dyn Fn(&Run) -> String| {
        println!(
            "| {name} | {} |",
            runs.iter().map(|r| f(r)).collect::<Vec<_>>().join(" | ")
        )
    };
    row("served by", &|r| {
        r.turns
            .iter()
            .map(|t| t.served_by.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    row("total wall time of the turns (s)", &|r| {
        e2e::secs(r.total())
    });
    row("per-turn wall time, median (s)", &|r| {
        e2e::secs(median_max(&r.walls()).0)
    });
    row("per-turn wall time, max (s)", &|r| {
        e2e::secs(median_max(&r.walls()).1)
    });
    row("turns over 10 s", &|r| r.stalls().to_string());
    row("requests sent to a spent model (429s)", &|r| {
        r.to_spent().to_string()
    });
    row(
        "turns started right after a model was spent that still sent it a request",
        &|r| {
            let (met, of) = r.race();
            format!("{met} of {of}")
        },
    );
    row("whole run incl. gateway start (s)", &|r| {
        e2e::secs(r.elapsed)
    });
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    let args = args()?;
    let want = |part: &str| args.only.iter().any(|p| p == part);
    let stalls_native: u64 = (1..=args.turns as u64)
        .map(|i| ((i - 1) / QUOTA as u64).min(3) * 150)
        .sum();
    say(&format!(
        "msclaw benchmark: openclaw@{OPENCLAW_SQLITE} gateway, fake ModelScope quota {QUOTA}/model, {} turns back to back",
        args.turns
    ));
    if want("native") {
        say(&format!(
            "expected: native run ~{} min (OpenClaw's retries), msclaw run ~1 min, figures ~{} min",
            stalls_native / 60 + 1,
            1 + args.idle.as_secs() / 60
        ));
    }
    let msclawd = match &args.msclawd {
        Some(path) => path.clone(),
        None => workspace_binary("msclaw-daemon", "msclawd")?,
    };
    let started = Instant::now();
    if want("scale") {
        scale::run(&msclawd, &args.sizes, args.idle)?;
    }
    if !["native", "msclaw", "plugin", "race", "reactive", "figures"]
        .iter()
        .any(|p| want(p))
    {
        return Ok(());
    }
    let install = openclaw::install(OPENCLAW_SQLITE)?;

    let native = if want("native") {
        say("native run (OpenClaw's own fallbacks, no msclaw):");
        Some(run_native(&install, args.turns)?)
    } else {
        None
    };
    let with = if want("msclaw") {
        say("msclaw run (msclawd, release build, daily_limit = 2):");
        Some(run_msclaw(&install, args.turns, &msclawd, args.idle)?)
    } else {
        None
    };
    let with_plugin = if want("plugin") {
        say("msclaw + plugin run (model choice on, daily_limit = 2):");
        let msclawctl = msclawctl_binary(args.msclawd.as_deref())?;
        Some(plugin::run_plugin(
            &install, args.turns, &msclawd, &msclawctl,
        )?)
    } else {
        None
    };
    let mut races = Vec::new();
    if want("race") {
        let msclawctl = msclawctl_binary(args.msclawd.as_deref())?;
        for manager in race::Manager::ALL {
            say("turn-start race run (HTTP turns back to back):");
            races.push(race::run_race(&install, manager, &msclawd, &msclawctl)?);
        }
    }
    let mut reactive = Vec::new();
    let mut latency = None;
    if want("reactive") {
        say("reactive run, msclaw following transcripts and the gateway log (limits unknown):");
        reactive.push(run_reactive(&install, args.turns, &msclawd, false)?);
        say("reactive run, OpenClaw through msclawd's relay (limits unknown):");
        reactive.push(run_reactive(&install, args.turns, &msclawd, true)?);
        say("relay latency: 200 requests direct vs 200 through the relay …");
        latency = Some(relay_latency(&msclawd, 200)?);
    }
    let mut synthetic = Vec::new();
    if want("figures") {
        for source in [Source::Sqlite, Source::Jsonl, Source::GatewayLog429] {
            say(&format!(
                "synthetic switches from {source:?} records ({} rounds × 3) …",
                args.rounds
            ));
            synthetic.push((source, synthetic_switches(source, args.rounds, &msclawd)?));
        }
    }

    println!();
    println!(
        "== same scenario, same machine ({} turns, quota {QUOTA} per model) ==",
        args.turns
    );
    let runs: Vec<&Run> = native
        .iter()
        .chain(with.as_ref().map(|w| &w.run))
        .chain(with_plugin.as_ref().map(|p| &p.run))
        .chain(reactive.iter())
        .collect();
    print_runs(&runs);
    if let Some(p) = &with_plugin {
        println!(
            "msclaw + plugin: msclawd chose the model of {} of {} turns at their start (OpenClaw's \"{}\" lines)",
            p.chosen,
            p.run.turns.len(),
            plugin::MODEL_OVERRIDDEN
        );
    }
    if !races.is_empty() {
        println!();
        println!(
            "== the turn-start race: HTTP turns (the gateway's /v1/chat/completions), each sent the moment the previous reply arrived, 429 text \"{DAILY_LIMIT_MESSAGE}\" =="
        );
        print_runs(&races.iter().map(|(r, _)| r).collect::<Vec<_>>());
        for (run, chosen) in races.iter().filter(|(_, chosen)| *chosen > 0) {
            println!(
                "{}: msclawd chose the model of {chosen} of {} turns at their start",
                run.label,
                run.turns.len()
            );
        }
    }
    if let (Some(n), Some(w)) = (&native, &with) {
        println!(
            "ratio native / msclaw: total wall time {:.1}x, max turn {:.1}x, requests to spent models {} vs {}",
            n.total().as_secs_f64() / w.run.total().as_secs_f64(),
            median_max(&n.walls()).1.as_secs_f64() / median_max(&w.run.walls()).1.as_secs_f64(),
            n.to_spent(),
            w.run.to_spent()
        );
    }
    if let Some([dp50, dp99, rp50, rp99]) = latency {
        println!();
        println!("== the relay's added latency (200 plain chat completions each, alternated) ==");
        println!("| | p50 (ms) | p99 (ms) |");
        println!("|---|---|---|");
        println!(
            "| direct to the fake server | {:.2} | {:.2} |",
            dp50.as_secs_f64() * 1e3,
            dp99.as_secs_f64() * 1e3
        );
        println!(
            "| through msclawd's relay | {:.2} | {:.2} |",
            rp50.as_secs_f64() * 1e3,
            rp99.as_secs_f64() * 1e3
        );
        println!(
            "| added by the relay | {:.2} | {:.2} |",
            (rp50.as_secs_f64() - dp50.as_secs_f64()) * 1e3,
            (rp99.as_secs_f64() - dp99.as_secs_f64()) * 1e3
        );
    }
    if with.is_some() || !synthetic.is_empty() {
        println!();
        println!("== msclaw's own figures ==");
        println!("| figure | median | max | n |");
        println!("|---|---|---|---|");
    }
    if let Some(w) = &with {
        let written: Vec<Duration> = w.switches.iter().map(|s| s.0).collect();
        let applied: Vec<Duration> = w.switches.iter().map(|s| s.1).collect();
        let (m, x) = median_max(&written);
        println!(
            "| real run: limit row's created_at (SQLite) → msclaw's Switched event, sent after the rename (ms) | {} | {} | {} |",
            ms(m),
            ms(x),
            written.len()
        );
        let (m, x) = median_max(&applied);
        println!(
            "| real run: limit row's created_at → gateway's \"hot reload applied\" line (ms) | {} | {} | {} |",
            ms(m),
            ms(x),
            applied.len()
        );
    }
    for (source, values) in &synthetic {
        let (m, x) = median_max(values);
        let what = match source {
            Source::Sqlite => "synthetic: SQLite row committed → openclaw.json renamed (ms)",
            Source::Jsonl => "synthetic: JSONL line written → openclaw.json renamed (ms)",
            Source::GatewayLog429 => {
                "synthetic: third 429 line in the gateway log → openclaw.json renamed (ms)"
            }
        };
        println!("| {what} | {} | {} | {} |", ms(m), ms(x), values.len());
    }
    if let Some(w) = &with {
        println!(
            "| msclawd RSS after the run (VmRSS / VmHWM peak, KiB) | {} / {} | | |",
            w.rss_kib.0, w.rss_kib.1
        );
        println!(
            "| msclawd CPU time while idle for {} s, gateway running (ms) | {} | | |",
            w.idle.as_secs(),
            ms(w.idle_cpu)
        );
    }
    println!();
    println!(
        "benchmark took {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}
