//! `msclawd`: the daemon. Runs in the foreground (systemd, launchd or a terminal) until SIGTERM.

use std::path::PathBuf;

use clap::Parser;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "msclawd",
    version,
    about = "Keeps OpenClaw's primary model on a ModelScope model with quota left"
)]
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
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: not in journald or a redirected file.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        // A log that cannot be written (stderr redirected to a file on a full disk) must not stop
        // the daemon: by default tracing-subscriber reports the failure with eprintln!, which
        // panics when stderr fails.
        .log_internal_errors(false)
        .init();
    raise_open_file_limit();
    msclawd::heap::own_pages_for_big_blocks();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msclawd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Under a file-size limit (`ulimit -f`) a too-large write raises SIGXFSZ, whose default
        // action kills the process. With a handler the write fails with EFBIG instead, which the
        // state store and the config editor report like a full disk, and msclawd keeps running.
        let _file_size_limit = tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw()),
        );
        let opts = msclawd::DaemonOptions::from_process_env(
            args.profile.as_deref(),
            args.config.as_deref(),
        )?;
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
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

/// Each client connection is a file descriptor. Many systems start user processes with a soft
/// limit of 1024 open files; at that limit `accept` fails and every client, `msclawctl status`
/// included, waits in the listen queue until idle connections time out. The soft limit is raised to
/// the hard one (at most 65536, which macOS may lower further).
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    const WANTED: u64 = 65536;
    let limit = getrlimit(Resource::Nofile);
    let target = limit.maximum.map_or(WANTED, |hard| hard.min(WANTED));
    if limit.current.is_some_and(|soft| soft >= target) || limit.current.is_none() {
        return;
    }
    // macOS refuses more than OPEN_MAX (10240) whatever the hard limit says.
    for soft in [target, target.min(10240)] {
        if setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(soft),
                maximum: limit.maximum,
            },
        )
        .is_ok()
        {
            tracing::debug!(
                from = limit.current,
                to = soft,
                "raised the soft limit of open files"
            );
            return;
        }
    }
    tracing::warn!(
        limit = limit.current,
        "cannot raise the open-file limit; msclawd serves fewer clients at once"
    );
}
