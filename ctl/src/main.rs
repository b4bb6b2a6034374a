//! `msclawctl`: connects to msclawd, sends one request, renders the reply. It holds no state.

mod cli;
mod doctor;
mod doctor_plugin;
mod doctor_view;
mod human;
mod init;
mod plugin;
mod plugin_files;
mod relay;
mod render;
mod service;
mod switch;
mod term;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use msclaw_shared::client::{Client, ClientError};
use msclaw_shared::{PROTOCOL_VERSION, ReplyLine, Request, Response};

use crate::cli::{Cli, Command};
use crate::render::Style;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
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

/// Rust ignores SIGPIPE, so printing into a closed pipe (`msclawctl history | head`) panics.
/// With the default action the process ends silently, like any other command-line tool.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: called first thing, before any other thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let style = Style::new(term::use_color(cli.color));
    if let Some(code) = run_without_daemon(&cli).await? {
        return Ok(code);
    }
    let socket = socket_path(&cli)?;
    let Some(mut client) = connect(&cli, &socket).await? else {
        return Ok(ExitCode::from(1));
    };
    let request = request_for(&cli.command);
    let started = tokio::time::Instant::now();
    let mut reply = ask(&mut client, &request).await?;
    if !cli.json {
        reply = term::printable(reply);
    }
    let response = match reply {
        Ok(response) => response,
        Err(e) => return switch::refused(&cli, &socket, &e).await,
    };
    match response {
        Response::Status(status) => render::status(&cli, &style, &status)?,
        Response::Version(v) => render::version(&cli, Some(&v)),
        Response::History(h) => render::history(&cli, &style, &h)?,
        // Only the OpenClaw plugin asks `ChooseModel`; msclawctl never gets this answer.
        Response::ModelChoice(choice) => println!("{}", serde_json::to_string(&choice)?),
        Response::Handled(text) if matches!(cli.command, Command::Watch) => {
            return watch(&cli, &style, client, &text).await;
        }
        Response::Handled(text) => switch::handled(&cli, &socket, &text, started).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The commands that work on files or print what clap knows; `None` for the others.
async fn run_without_daemon(cli: &Cli) -> anyhow::Result<Option<ExitCode>> {
    let code = match &cli.command {
        Command::Service { action } => {
            let env = msclaw_shared::paths::process_env;
            let profile = msclaw_shared::paths::effective_profile(cli.profile.as_deref(), &env)?;
            service::service(*action, profile.as_deref(), cli.json)?
        }
        Command::Init(args) => init::run(cli, args).await?,
        Command::Doctor => doctor::run(cli).await?,
        Command::Relay { action } => relay::run(cli, action)?,
        Command::Plugin { action } => plugin::run(cli, action)?,
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "msclawctl",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man => {
            man_page(&mut std::io::stdout())?;
            ExitCode::SUCCESS
        }
        _ => return Ok(None),
    };
    Ok(Some(code))
}

/// msclawctl(1), its commands described in the page itself: clap_mangen's own commands
/// section points at `msclawctl-status(1)` and the like, pages nothing installs.
fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in command.get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            sub.get_name(),
            about.replace('-', "\\-")
        )?;
    }
    man.render_version_section(out)
}

fn socket_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(socket) = &cli.socket {
        return Ok(socket.clone());
    }
    let env = msclaw_shared::paths::process_env;
    let profile = msclaw_shared::paths::effective_profile(cli.profile.as_deref(), &env)?;
    Ok(msclaw_shared::paths::MsclawPaths::resolve(profile.as_deref(), &env)?.socket)
}

/// The connection, or `None` after saying that no daemon answers (and where msclawctl looked).
async fn connect(cli: &Cli, socket: &Path) -> anyhow::Result<Option<Client>> {
    match Client::connect(socket).await {
        Ok(client) => Ok(Some(client)),
        Err(ClientError::NotRunning(_)) => {
            if matches!(cli.command, Command::Version) {
                // The client's own version is worth printing even with no daemon.
                render::version(cli, None);
            }
            eprintln!("{}", not_running_hint(cli, socket));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn not_running_hint(cli: &Cli, socket: &Path) -> String {
    let profile = cli
        .profile
        .as_ref()
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    format!(
        "msclawd is not running; start it with `msclawd{profile}` (or `systemctl --user start msclawd`); {}",
        msclaw_shared::client::absence(socket)
    )
}

fn request_for(command: &Command) -> Request {
    match command {
        Command::Status => Request::Status,
        Command::Version => Request::Version,
        Command::Switch { model, force } if *force => Request::ForceSwitch {
            model: model.clone(),
        },
        Command::Switch { model, .. } => Request::Switch {
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
        | Command::Plugin { .. }
        | Command::Completions { .. }
        | Command::Man => {
            unreachable!("run_without_daemon handles it")
        }
    }
}

/// Sends the request; the daemon's answer, with a warning when it speaks another protocol.
async fn ask(client: &mut Client, request: &Request) -> anyhow::Result<msclaw_shared::Reply> {
    let reply = match client.request(request).await {
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
    Ok(reply)
}

/// Prints events until the daemon hangs up, which is news: exit 1.
async fn watch(
    cli: &Cli,
    style: &Style,
    mut client: Client,
    text: &str,
) -> anyhow::Result<ExitCode> {
    if !cli.json {
        eprintln!("msclawctl: {text}; Ctrl-C to stop");
    }
    while let Some(event) = client.next_event().await? {
        let event = if cli.json {
            event
        } else {
            term::printable(event)
        };
        render::event(cli, style, &event)?;
    }
    eprintln!("msclawctl: msclawd stopped; no more events");
    Ok(ExitCode::from(1))
}
