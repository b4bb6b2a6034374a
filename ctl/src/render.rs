//! Rendering replies: a short human view, or the reply's JSON for scripts.

use std::io::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use msclaw_shared::{Event, EventKind, History, Mode, Status, VersionInfo};

use crate::cli::Cli;

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

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// "in 3h12m" from now until an RFC 3339 instant.
pub fn until(rfc3339: &str, now: Timestamp) -> String {
    let Ok(at) = rfc3339.parse::<Timestamp>() else {
        return String::new();
    };
    let secs = at.duration_since(now).as_secs();
    if secs <= 0 {
        return "now".into();
    }
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    match (h, m) {
        (0, 0) => format!("in {secs}s"),
        (0, m) => format!("in {m}m"),
        (h, m) => format!("in {h}h{m:02}m"),
    }
}

fn local(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(at) => at
            .to_zoned_datetime(TimeZone::system())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

fn short(model: &str) -> &str {
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
    out += &format!(
        "reset    {} ({})\n",
        local(&s.next_reset),
        until(&s.next_reset, Timestamp::now())
    );
    if !s.models.is_empty() {
        let width = s.models.iter().map(|m| m.model.len()).max().unwrap_or(0);
        out += "\n";
        for m in &s.models {
            let limit = m.limit.map_or("?".to_owned(), |l| l.to_string());
            let alias = m.alias.as_deref().unwrap_or("");
            let state = if Some(m.model.as_str()) == s.active_model.as_deref() {
                style.green("active")
            } else if m.spent {
                style.red(&format!(
                    "spent: {}",
                    m.spent_reason.as_deref().unwrap_or("")
                ))
            } else {
                String::new()
            };
            let used = format!("{}/{limit}", m.used);
            out += &format!("  {:<8} {:<width$}  {used:>9}  {state}\n", alias, m.model);
        }
    }
    if let Some(sw) = &s.last_switch {
        out += &format!(
            "\nlast switch {} {} -> {}: {} ({})\n",
            local(&sw.at),
            sw.from.as_deref().map(short).unwrap_or("-"),
            short(&sw.to),
            sw.reason,
            sw.outcome
        );
    }
    if let Some(r) = &s.relay {
        out += &format!(
            "relay    http://{}/v1 -> {}: {} relayed, {} answered locally, {} upstream errors\n",
            r.listening, r.upstream, r.relayed, r.answered_locally, r.upstream_errors
        );
    }
    for w in &s.warnings {
        out += &format!("{} {w}\n", style.red("warning:"));
    }
    out += &style.dim(&format!("config {}\n", s.config_path));
    print!("{out}");
    Ok(())
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

pub fn history(cli: &Cli, style: &Style, h: &History) -> anyhow::Result<()> {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(h)?);
        return Ok(());
    }
    for day in &h.days {
        println!("{}", style.bold(&day.day));
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
                .map(|at| format!("  ran out {}", local(at)))
                .unwrap_or_default();
            println!("  {:<40} [{bar}] {:>5}/{limit}{spent}", m.model, m.used);
        }
        for sw in &day.switches {
            println!(
                "  {} {} -> {}: {} ({})",
                local(&sw.at),
                sw.from.as_deref().map(short).unwrap_or("-"),
                short(&sw.to),
                sw.reason,
                sw.outcome
            );
        }
    }
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
                format!("reload {outcome}: {}", short(model))
            }
            EventKind::ReloadFailed { model, error } => {
                format!("{} {}: {error}", style.red("reload failed"), short(model))
            }
            EventKind::Warning { message } => format!("{} {message}", style.red("warning:")),
        };
        writeln!(stdout, "{} {text}", local(&e.at))?;
    }
    stdout.flush()?;
    Ok(())
}
