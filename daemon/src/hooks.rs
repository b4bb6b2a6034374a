//! The user's switch hook: run on each switch with the event in `MSCLAW_*` variables and as JSON on
//! stdin (the same `switched` event the event stream carries), under a timeout. A failing or
//! hanging hook is logged and never stops the daemon.

use std::process::Stdio;
use std::time::Duration;

use msclaw_shared::{Event, EventKind};
use tokio::io::AsyncWriteExt;

use crate::settings::HookSettings;

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
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(hook = program.as_str(), "switch hook could not start: {e}");
                return;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("{payload}\n").as_bytes()).await;
        }
        match tokio::time::timeout(
            Duration::from_secs(hook.timeout_secs),
            child.wait_with_output(),
        )
        .await
        {
            Ok(Ok(out)) if out.status.success() => tracing::debug!("switch hook ran"),
            Ok(Ok(out)) => tracing::warn!(
                hook = program.as_str(),
                "switch hook failed with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Ok(Err(e)) => tracing::warn!(hook = program.as_str(), "switch hook: {e}"),
            // Dropping the future drops the child, which kill_on_drop ends.
            Err(_) => tracing::warn!(
                hook = program.as_str(),
                "switch hook took longer than {}s and was killed",
                hook.timeout_secs
            ),
        }
    });
}
