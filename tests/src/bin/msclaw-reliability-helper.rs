//! A child process for the reliability tests: runs msclaw's real write path (or a plain connect)
//! so a test can SIGKILL it at random points, run it under another uid, or race it.
//!
//! - `switch-loop CONFIG MODEL_A MODEL_B`: switches `primary` between the two models with
//!   `config_editor::apply_model_edit` until killed; prints `w` after each write that landed.
//! - `connect SOCKET`: connects to a Unix socket once; prints `ok` or `err <errno>`.

use std::io::Write;
use std::path::Path;

use msclawd::config_editor::{self, EditOutcome, ModelEdit};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["switch-loop", config, a, b] => switch_loop(Path::new(config), a, b),
        ["connect", socket] => connect(Path::new(socket)),
        other => {
            eprintln!("msclaw-reliability-helper: unknown arguments {other:?}");
            std::process::exit(2);
        }
    }
}

fn switch_loop(config: &Path, a: &str, b: &str) {
    let mut out = std::io::stdout().lock();
    loop {
        let current = match msclawd::openclaw_config::load(config) {
            Ok(cfg) => cfg.primary,
            Err(e) => {
                eprintln!("cannot read {}: {e}", config.display());
                std::process::exit(3);
            }
        };
        let next = if current.as_deref() == Some(a) { b } else { a };
        let edit = ModelEdit { primary: next.to_owned(), fallbacks: None };
        match config_editor::apply_model_edit(config, &edit) {
            Ok(EditOutcome::Written { .. }) => {
                let _ = out.write_all(b"w\n");
                let _ = out.flush();
            }
            Ok(EditOutcome::Unchanged) => {}
            Err(e) => {
                eprintln!("edit failed: {e}");
                std::process::exit(4);
            }
        }
    }
}

fn connect(socket: &Path) {
    match std::os::unix::net::UnixStream::connect(socket) {
        Ok(_) => println!("ok"),
        Err(e) => println!("err {} {}", e.raw_os_error().unwrap_or(0), e.kind()),
    }
}
