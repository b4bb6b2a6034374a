//! What msclawctl says after a request was carried out or refused: for `switch`, `auto` and
//! `resume` it waits until the gateway has applied the switch, and says why a switch was refused.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use jiff::Timestamp;
use msclaw_shared::client::Client;
use msclaw_shared::{Error, ErrorCode, Mode, Request, Response, Status};
use tokio::time::Instant;

use crate::cli::{Cli, Command};
use crate::human::{Outcome, humanize};
use crate::render::short;

/// Prints what the daemon did (and, after a switch, what became of it at the gateway).
pub async fn handled(cli: &Cli, socket: &Path, text: &str, started: Instant) -> anyhow::Result<()> {
    // A switch is done when the gateway has applied it: wait for that (a spinner on a tty).
    let settled = match &cli.command {
        Command::Switch { .. } | Command::Auto | Command::Resume => {
            Some(wait_for_outcome(socket).await)
        }
        _ => None,
    };
    let status = settled.as_ref().and_then(|s| s.status.as_ref());
    let outcome = status
        .and_then(|s| s.last_switch.as_ref())
        .map(|s| s.outcome.to_string());
    if cli.json {
        println!(
            "{}",
            serde_json::json!({ "ok": true, "message": text, "outcome": outcome })
        );
        return Ok(());
    }
    println!("{}", humanize(text, Timestamp::now()));
    if let (Command::Auto, Some(status)) = (&cli.command, status)
        && let Some(why) = why_this_model(status)
    {
        println!("{why}");
    }
    if let (Some(outcome), Some(settled)) = (outcome, &settled) {
        let took = settled.waited.then(|| settled.at.duration_since(started));
        println!("{}", Outcome::parse(&outcome).sentence(took));
    }
    Ok(())
}

/// After `auto`: why rotation lands on the model it does (it starts at the first with calls left).
fn why_this_model(status: &Status) -> Option<String> {
    if status.mode != Mode::Auto {
        return None;
    }
    let active = status.active_model.as_deref()?;
    let before: Vec<&str> = status
        .models
        .iter()
        .take_while(|m| m.model != active)
        .filter(|m| m.spent)
        .map(|m| short(&m.model))
        .collect();
    Some(if before.is_empty() {
        format!(
            "rotation starts again at the first model, {}",
            short(active)
        )
    } else {
        format!(
            "rotation starts at {}, the first model with calls left ({} spent)",
            short(active),
            before.join(", ")
        )
    })
}

struct Settled {
    status: Option<Status>,
    /// When the outcome was no longer pending.
    at: Instant,
    /// Whether msclawctl saw it pending (only then does `at` measure the gateway).
    waited: bool,
}

/// Polls status until the last switch is no longer `pending` (at most a minute).
async fn wait_for_outcome(socket: &Path) -> Settled {
    let spinner = std::io::stderr().is_terminal();
    let frames = ['|', '/', '-', '\\'];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settled = Settled {
        status: None,
        at: Instant::now(),
        waited: false,
    };
    for frame in frames.iter().cycle() {
        let Some(status) = status(socket).await else {
            break;
        };
        let pending = status
            .last_switch
            .as_ref()
            .is_some_and(|s| s.outcome == msclaw_shared::SwitchOutcome::Pending);
        settled.status = Some(status);
        settled.at = Instant::now();
        if !pending || Instant::now() >= deadline {
            break;
        }
        settled.waited = true;
        if spinner {
            eprint!("\r{frame} waiting for the gateway to apply the switch");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    if spinner {
        eprint!("\r\x1b[2K");
    }
    settled
}

async fn status(socket: &Path) -> Option<Status> {
    let mut client = Client::connect(socket).await.ok()?;
    match client.request(&Request::Status).await.ok()?.reply {
        Ok(Response::Status(status)) => Some(*status),
        _ => None,
    }
}

/// Prints a refusal (JSON, or a sentence with what to do instead); exit 1.
pub async fn refused(cli: &Cli, socket: &Path, e: &Error) -> anyhow::Result<ExitCode> {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(e)?);
        return Ok(ExitCode::FAILURE);
    }
    eprintln!("msclawctl: {}", humanize(&e.message, Timestamp::now()));
    match (&cli.command, e.code) {
        (Command::Switch { model, .. }, ErrorCode::ModelSpent) => {
            eprintln!("`msclawctl switch {model} --force` pins it anyway");
        }
        (Command::Switch { .. }, ErrorCode::Refused) => {
            if let Some(names) = status(socket).await.and_then(|s| valid_names(&s)) {
                eprintln!("{names}");
            }
        }
        _ => {}
    }
    Ok(ExitCode::FAILURE)
}

/// The names `switch` takes: each model's alias (if any) and full ref, in rotation order.
fn valid_names(status: &Status) -> Option<String> {
    if status.models.is_empty() {
        return None;
    }
    let width = status
        .models
        .iter()
        .map(|m| m.alias.as_deref().map_or(0, str::len))
        .max()
        .unwrap_or(0);
    let mut text = "models to switch to (alias or full ref):".to_owned();
    for m in &status.models {
        let alias = m.alias.as_deref().unwrap_or("");
        text += &format!("\n  {alias:<width$}  {}", m.model);
    }
    Some(text)
}
