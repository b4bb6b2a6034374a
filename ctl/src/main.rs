//! `msclawctl`: connects to msclawd, sends one request, renders the reply. It holds no state.

mod cli;
mod doctor;
mod init;
mod relay;
mod render;
mod service;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use msclaw_shared::client::{Client, ClientError};
use msclaw_shared::{PROTOCOL_VERSION, ReplyLine, Request, Response};

use crate::cli::{Cli, ColorChoice, Command};
use crate::render::Style;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msclawctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("msclawctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn socket_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(socket) = &cli.socket {
        return Ok(socket.clone());
    }
    let env = msclaw_shared::paths::process_env;
    let profile = msclaw_shared::paths::effective_profile(cli.profile.as_deref(), &env)?;
    Ok(msclaw_shared::paths::MsclawPaths::resolve(profile.as_deref(), &env)?.socket)
}

fn not_running_hint(cli: &Cli) -> String {
    let profile = cli
        .profile
        .as_ref()
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    format!(
        "msclawd is not running; start it with `msclawd{profile}` (or `systemctl --user start msclawd`)"
    )
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let style = Style::new(match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    });
    // Commands that need no daemon.
    match &cli.command {
        Command::Service { action } => {
            let env = msclaw_shared::paths::process_env;
            let profile = msclaw_shared::paths::effective_profile(cli.profile.as_deref(), &env)?;
            return service::service(*action, profile.as_deref(), cli.json);
        }
        Command::Init(args) => return init::run(&cli, args).await,
        Command::Doctor => return doctor::run(&cli).await,
        Command::Relay { action } => return relay::run(&cli, action),
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "msclawctl",
                &mut std::io::stdout(),
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let socket = socket_path(&cli)?;
    let mut client = match Client::connect(&socket).await {
        Ok(client) => client,
        Err(ClientError::NotRunning(_)) => {
            if matches!(cli.command, Command::Version) {
                // The client's own version is worth printing even with no daemon.
                render::version(&cli, None);
            }
            eprintln!("{}", not_running_hint(&cli));
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let request = match &cli.command {
        Command::Status => Request::Status,
        Command::Version => Request::Version,
        Command::Switch { model } => Request::Switch {
            model: model.clone(),
        },
        Command::Auto => Request::Auto,
        Command::Pause => Request::Pause,
        Command::Resume => Request::Resume,
        Command::History { days } => Request::History { days: *days },
        Command::Watch => Request::EventStream,
        Command::Stop => Request::Shutdown,
        Command::Service { .. }
        | Command::Init(_)
        | Command::Doctor
        | Command::Relay { .. }
        | Command::Completions { .. }
        | Command::Man => {
            unreachable!("handled above")
        }
    };
    let reply = match client.request(&request).await {
        Ok(reply) => reply,
        Err(ClientError::Frame(e)) => {
            anyhow::bail!(
                "msclawd sent a reply this msclawctl ({VERSION}, protocol {PROTOCOL_VERSION}) cannot read ({e}); restart msclawd after an update"
            )
        }
        Err(e) => return Err(e.into()),
    };
    if reply.protocol != PROTOCOL_VERSION {
        eprintln!(
            "msclawctl: warning: msclawd speaks protocol {}, this msclawctl {PROTOCOL_VERSION}; restart msclawd after an update",
            reply.protocol
        );
    }
    let ReplyLine { reply, .. } = reply;
    let response = match reply {
        Ok(response) => response,
        Err(e) => {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                eprintln!("msclawctl: {}", e.message);
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    match response {
        Response::Status(status) => render::status(&cli, &style, &status)?,
        Response::Version(v) => render::version(&cli, Some(&v)),
        Response::History(h) => render::history(&cli, &style, &h)?,
        // Only the OpenClaw plugin asks `ChooseModel`; msclawctl never gets this answer.
        Response::ModelChoice(choice) => println!("{}", serde_json::to_string(&choice)?),
        Response::Handled(text) if matches!(cli.command, Command::Watch) => {
            if !cli.json {
                eprintln!("msclawctl: {text}; Ctrl-C to stop");
            }
            while let Some(event) = client.next_event().await? {
                render::event(&cli, &style, &event)?;
            }
        }
        Response::Handled(text) => {
            // A switch is done when the gateway has applied it: wait for that (a spinner on a tty).
            let outcome = match &cli.command {
                Command::Switch { .. } | Command::Auto | Command::Resume => {
                    wait_for_outcome(&socket).await
                }
                _ => None,
            };
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "message": text, "outcome": outcome })
                );
            } else {
                println!("{text}");
                if let Some(outcome) = outcome {
                    println!("gateway: {outcome}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Polls status until the last switch is no longer `pending` (at most a minute).
async fn wait_for_outcome(socket: &std::path::Path) -> Option<String> {
    let spinner = std::io::stderr().is_terminal();
    let frames = ['|', '/', '-', '\\'];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut outcome = None;
    for frame in frames.iter().cycle() {
        let status = match Client::connect(socket).await {
            Ok(mut client) => match client.request(&Request::Status).await.map(|r| r.reply) {
                Ok(Ok(Response::Status(status))) => status,
                _ => break,
            },
            Err(_) => break,
        };
        outcome = status.last_switch.map(|s| s.outcome);
        if outcome.as_deref() != Some("pending") || tokio::time::Instant::now() >= deadline {
            break;
        }
        if spinner {
            eprint!("\r{frame} waiting for the gateway to apply the switch");
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    if spinner {
        eprint!("\r\x1b[2K");
    }
    outcome
}
