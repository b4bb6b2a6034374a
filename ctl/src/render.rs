//! Rendering replies: a short human view, or the reply's JSON for scripts.

use std::io::Write;

use jiff::Timestamp;
use msclaw_shared::{Event, EventKind, History, LastSwitch, Mode, Status, VersionInfo};

use crate::cli::Cli;
use crate::human::{Outcome, humanize, precise, time_of_day, when};

pub struct Style {
    color: bool,
}

impl Style {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// `ZhipuAI/GLM-5` for `modelscope/ZhipuAI/GLM-5`.
pub fn short(model: &str) -> &str {
    model.split_once('/').map_or(model, |(_, id)| id)
}

pub fn status(cli: &Cli, style: &Style, s: &Status) -> anyhow::Result<()> {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let mut out = String::new();
    let active = s.active_model.as_deref().unwrap_or("(none)");
    let mode = match s.mode {
        Mode::Auto => "auto".to_owned(),
        Mode::Pinned => format!(
            "pinned until reset ({})",
            s.pinned.as_deref().map(short).unwrap_or("?")
        ),
        Mode::Paused => "paused".to_owned(),
    };
    out += &format!("active   {}   mode {mode}\n", style.bold(active));
    let now = Timestamp::now();
    out += &format!("reset    {}\n", when(&s.next_reset, now));
    out += &pool_lines(style, &s.pools, |at| when(at, now));
    if !s.models.is_empty() {
        let width = s.models.iter().map(|m| m.model.len()).max().unwrap_or(0);
        out += "\n";
        for m in &s.models {
            let limit = m.limit.map_or("?".to_owned(), |l| l.to_string());
            let alias = m.alias.as_deref().unwrap_or("");
            let active = Some(m.model.as_str()) == s.active_model.as_deref();
            let spent = m.spent.then(|| {
                style.red(&format!(
                    "spent: {}",
                    m.spent_reason.as_deref().unwrap_or("")
                ))
            });
            // Not spent itself, but a pool it draws from has no room.
            let spent = spent.or_else(|| {
                (!m.available && !m.pools.is_empty())
                    .then(|| style.red(&format!("unavailable: pool {} spent", m.pools.join(", "))))
            });
            let state = match (active, spent) {
                (true, Some(spent)) => format!("{}, {spent}", style.green("active")),
                (true, None) => style.green("active"),
                (false, Some(spent)) => spent,
                (false, None) => String::new(),
            };
            let used = format!("{}/{limit}", m.used);
            out += &format!("  {:<8} {:<width$}  {used:>9}  {state}\n", alias, m.model);
        }
    }
    if let Some(sw) = &s.last_switch {
        out += &format!("\nlast switch {} {}\n", when(&sw.at, now), switch_line(sw));
    }
    if let Some(r) = &s.relay {
        out += &format!(
            "relay    http://{}/v1 -> {}: {} relayed, {} answered locally, {} upstream errors\n",
            r.listening, r.upstream, r.relayed, r.answered_locally, r.upstream_errors
        );
    }
    if let Some(p) = s
        .plugin
        .as_ref()
        .filter(|p| p.connected || p.last_seen.is_some())
    {
        out += &plugin_line(p, |at| when(at, now));
    }
    for w in &s.warnings {
        out += &format!("{} {}\n", style.red("warning:"), humanize(w, now));
    }
    out += &style.dim(&format!("config {}\n", s.config_path));
    print!("{out}");
    Ok(())
}

/// The quota pools (issue 14), one line each, above the models:
/// `  modelscope   2/250 magicube  refill unknown  spent: quota errors from ...`
fn pool_lines(
    style: &Style,
    pools: &[msclaw_shared::PoolStatus],
    when: impl Fn(&str) -> String,
) -> String {
    if pools.is_empty() {
        return String::new();
    }
    let width = pools.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut out = String::from("\npools\n");
    for p in pools {
        let capacity = p
            .capacity
            .as_ref()
            .map_or("?".to_owned(), ToString::to_string);
        let used = format!("{}/{capacity} {}", p.used, p.unit);
        let refill = match &p.next_refill {
            Some(at) => format!("refill {}", when(at)),
            None => format!("refill {}", p.refill),
        };
        let state = if p.spent {
            style.red(&format!(
                "spent: {}",
                p.spent_reason.as_deref().unwrap_or("")
            ))
        } else {
            String::new()
        };
        out += &format!("  {:<width$}  {used:>14}  {refill}  {state}\n", p.name);
    }
    out
}

/// `plugin   connected, 12 calls today, last 3 min ago, choosing modelscope/ZhipuAI/GLM-5`
fn plugin_line(p: &msclaw_shared::PluginStatus, when: impl Fn(&str) -> String) -> String {
    let calls: u32 = p.calls.iter().map(|c| c.calls).sum();
    let mut line = format!(
        "plugin   {}, {calls} calls today",
        if p.connected {
            "connected"
        } else {
            "not connected"
        }
    );
    if let Some(at) = &p.last_seen {
        line += &format!(", last {}", when(at));
    }
    if let Some(model) = &p.model_choice {
        line += &format!(", choosing {model}");
    }
    line + "\n"
}

pub fn version(cli: &Cli, daemon: Option<&VersionInfo>) {
    if cli.json {
        let json = serde_json::json!({
            "client": { "version": crate::VERSION, "protocol": msclaw_shared::PROTOCOL_VERSION },
            "daemon": daemon,
        });
        println!("{json}");
        return;
    }
    println!(
        "msclawctl {} (protocol {})",
        crate::VERSION,
        msclaw_shared::PROTOCOL_VERSION
    );
    if let Some(d) = daemon {
        println!("msclawd   {} (protocol {})", d.version, d.protocol);
    }
}

/// `GLM-5 -> MiniMax-M2.5: reason (no gateway running)`.
fn switch_line(sw: &LastSwitch) -> String {
    format!(
        "{} -> {}: {} ({})",
        sw.from.as_deref().map(short).unwrap_or("-"),
        short(&sw.to),
        sw.reason,
        Outcome::parse(&sw.outcome.to_string()).short()
    )
}

pub fn history(cli: &Cli, style: &Style, h: &History) -> anyhow::Result<()> {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(h)?);
        return Ok(());
    }
    let width = crate::term::width();
    let mut out = String::new();
    for day in &h.days {
        out += &format!("{}\n", style.bold(&day.day));
        out += "  calls\n";
        let max = day
            .models
            .iter()
            .filter_map(|m| m.limit)
            .chain(day.models.iter().map(|m| m.used))
            .max()
            .unwrap_or(1)
            .max(1);
        for m in &day.models {
            let bar_len = ((m.used as f64 / max as f64) * 20.0).round() as usize;
            let bar = format!("{:<20}", "#".repeat(bar_len));
            let limit = m.limit.map_or("?".to_owned(), |l| l.to_string());
            let spent = m
                .spent_at
                .as_deref()
                .map(|at| format!("  ran out {}", time_of_day(at)))
                .unwrap_or_default();
            out += &format!(
                "    {:<34} [{bar}] {:>5}/{limit}{spent}\n",
                short(&m.model),
                m.used
            );
        }
        if !day.pools.is_empty() {
            out += "  pools\n";
            for p in &day.pools {
                let capacity = p
                    .capacity
                    .as_ref()
                    .map_or("?".to_owned(), ToString::to_string);
                out += &format!("    {:<34} {}/{capacity} {}\n", p.name, p.used, p.unit);
            }
        }
        if day.switches.is_empty() {
            continue;
        }
        out += &format!(
            "  {}\n",
            crate::human::count(day.switches.len(), "switch", "switches")
        );
        for sw in &day.switches {
            let lead = format!("    {}  ", time_of_day(&sw.at));
            let text = crate::term::wrap(&switch_line(sw), lead.len(), lead.len() + 2, width);
            out += &format!("{lead}{text}\n");
        }
    }
    print!("{out}");
    Ok(())
}

pub fn event(cli: &Cli, style: &Style, e: &Event) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if cli.json {
        writeln!(stdout, "{}", serde_json::to_string(e)?)?;
    } else {
        let text = match &e.kind {
            EventKind::Switched { from, to, reason } => {
                format!(
                    "switch {} -> {}: {reason}",
                    from.as_deref().map(short).unwrap_or("-"),
                    style.bold(short(to))
                )
            }
            EventKind::ModelSpent { model, reason } => {
                format!("{} {}: {reason}", style.red("spent"), short(model))
            }
            EventKind::Reset { day } => format!("reset: quota day {day} begins"),
            EventKind::ReloadApplied { model, outcome } => {
                format!(
                    "{}: {}",
                    short(model),
                    Outcome::parse(outcome).sentence(None)
                )
            }
            EventKind::ReloadFailed { model, error } => {
                format!("{} {}: {error}", style.red("reload failed"), short(model))
            }
            EventKind::Warning { message } => format!("{} {message}", style.red("warning:")),
            EventKind::PoolSpent { pool, reason } => {
                format!("{} pool {pool}: {reason}", style.red("spent"))
            }
            EventKind::PoolRefilled { pool, cause } => format!("pool {pool} refilled: {cause}"),
        };
        writeln!(
            stdout,
            "{} {}",
            precise(&e.at),
            humanize(&text, Timestamp::now())
        )?;
    }
    stdout.flush()?;
    Ok(())
}
