//! `msclawd`: the daemon. Runs in the foreground (systemd, launchd or a terminal) until SIGTERM.

use std::path::PathBuf;

use clap::Parser;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "msclawd", version, about = "Keeps OpenClaw's primary model on a ModelScope model with quota left")]
struct Args {
    /// The OpenClaw profile to serve (~/.openclaw-NAME); also OPENCLAW_PROFILE.
    #[arg(long)]
    profile: Option<String>,
    /// msclaw's own config file (default ~/.config/msclaw/config.toml; also MSCLAW_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msclawd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let opts = msclawd::DaemonOptions::from_process_env(args.profile.as_deref(), args.config.as_deref())?;
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            }
            signals.cancel();
        });
        msclawd::run(opts, shutdown).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msclawd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
