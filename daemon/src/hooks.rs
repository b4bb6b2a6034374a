//! The user's switch hook: run on each switch with the event in `MSCLAW_*` variables and as JSON on
//! stdin (the same `switched` event the event stream carries), under a timeout. A failing or
//! hanging hook is logged and never stops the daemon.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use msclaw_shared::{Event, EventKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

use crate::settings::{Command, HookSettings};

/// Runs the hook for a `switched` event; other events run nothing.
pub fn run_switch_hook(hook: HookSettings, event: Event) {
    let EventKind::Switched { from, to, reason } = &event.kind else {
        return;
    };
    let (from, to, reason, at) = (from.clone(), to.clone(), reason.clone(), event.at.clone());
    tokio::spawn(async move {
        let argv = hook.command.to_argv();
        let Some((program, args)) = argv.split_first() else {
            return;
        };
        let payload = serde_json::to_string(&event).unwrap_or_default();
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            // The variables are as they always were (scripts read them); only stdin is the event.
            .env("MSCLAW_EVENT", "switch")
            .env("MSCLAW_FROM", from.unwrap_or_default())
            .env("MSCLAW_TO", &to)
            .env("MSCLAW_REASON", &reason)
            .env("MSCLAW_AT", &at)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout ends whatever the hook started too.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(hook = program.as_str(), "switch hook could not start: {e}");
                return;
            }
        };
        let stdin = format!("{payload}\n").into_bytes();
        let limit = Duration::from_secs(hook.timeout_secs);
        let name = hook_name(&hook.command);
        match tokio::time::timeout(limit, feed_and_wait(&mut child, stdin)).await {
            Ok(Ok((status, _))) if status.success() => tracing::debug!("switch hook ran"),
            Ok(Ok((status, stderr))) => tracing::warn!(
                hook = name,
                "switch hook failed with {status}: {}",
                String::from_utf8_lossy(&stderr).trim()
            ),
            Ok(Err(e)) => tracing::warn!(hook = name, "switch hook: {e}"),
            Err(_) => {
                kill_process_group(&mut child).await;
                tracing::warn!(
                    hook = name,
                    "switch hook {name:?} took longer than its timeout of {}s and was killed",
                    hook.timeout_secs
                );
            }
        }
    });
}

/// How the log names a hook: its program, or the whole line run by `sh -c`.
fn hook_name(command: &Command) -> &str {
    match command {
        Command::Argv(argv) => argv.first().map(String::as_str).unwrap_or_default(),
        Command::Shell(line) => line,
    }
}

/// Writes the payload, reads stderr and waits for the exit, all at once: a hook that never reads
/// its stdin must not hold the daemon before the timeout even starts (a pipe holds only 64 KiB).
async fn feed_and_wait(
    child: &mut Child,
    payload: Vec<u8>,
) -> std::io::Result<(ExitStatus, Vec<u8>)> {
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A hook that exits without reading is not an error; dropping closes its stdin.
            let _ = stdin.write_all(&payload).await;
        }
    };
    let drain = async move {
        let mut text = Vec::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_end(&mut text).await;
        }
        text
    };
    let ((), text, status) = tokio::join!(feed, drain, child.wait());
    Ok((status?, text))
}

/// Ends the hook's whole process group (the hook leads it), then reaps the hook itself. The hook
/// is not reaped yet (its wait was still pending), so its pid, the group's id, cannot be reused.
async fn kill_process_group(child: &mut Child) {
    let group = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32));
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.kill().await;
}
