//! A child process for the reliability tests: runs msclaw's real write path (or a plain connect)
//! so a test can SIGKILL it at random points, run it under another uid, or race it.
//!
//! - `switch-loop CONFIG MODEL_A MODEL_B`: switches `primary` between the two models with
//!   `openclaw::apply_model_edit` until killed; prints `w` after each write that landed.
//! - `other-editor CONFIG N SEED`: edits CONFIG N times the ways others do, each edit leaving a
//!   unique mark: a comment appended in place (`// other-edit #i`), a key changed by rewriting
//!   the file in place (`inplace: [i, …]`, as editors save), a key changed by writing a temp file
//!   and renaming it over (`renamed: [i, …]`, as `openclaw config set` does). Prints
//!   `appended A inplace I renamed R` at the end.
//! - `connect SOCKET`: connects to a Unix socket once; prints `ok` or `err <errno>`.
//! - `squat ADDR`: listens on TCP `ADDR` as a port squatter would; prints `listening`, takes one
//!   HTTP request, prints `authorization <value>` (or `authorization -`), answers 502 and exits.

use std::io::Write;
use std::path::Path;

use msclawd::openclaw::{self, EditOutcome, ModelEdit};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["switch-loop", config, a, b] => switch_loop(Path::new(config), a, b),
        ["other-editor", config, n, seed] => {
            other_editor(Path::new(config), n.parse().unwrap(), seed.parse().unwrap())
        }
        ["connect", socket] => connect(Path::new(socket)),
        ["squat", addr] => squat(addr),
        other => {
            eprintln!("msclaw-reliability-helper: unknown arguments {other:?}");
            std::process::exit(2);
        }
    }
}

fn switch_loop(config: &Path, a: &str, b: &str) {
    let mut out = std::io::stdout().lock();
    loop {
        let current = match msclawd::openclaw::load(config) {
            Ok(cfg) => cfg.primary,
            Err(e) => {
                eprintln!("cannot read {}: {e}", config.display());
                std::process::exit(3);
            }
        };
        let next = if current.as_deref() == Some(a) { b } else { a };
        let edit = ModelEdit {
            primary: next.to_owned(),
            fallbacks: None,
        };
        match openclaw::apply_model_edit(config, &edit) {
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

fn other_editor(config: &Path, n: usize, seed: u64) {
    let mut rng = seed.max(1);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut appended, mut inplace, mut renamed) = (0, 0, 0);
    for i in 1..=n {
        match i % 3 {
            0 => {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(config)
                    .unwrap();
                f.write_all(format!("// other-edit #{i}\n").as_bytes())
                    .unwrap();
                appended += 1;
            }
            1 => {
                let text = std::fs::read_to_string(config).unwrap();
                let text = add_mark(&text, "inplace", i);
                std::fs::write(config, text).unwrap();
                inplace += 1;
            }
            _ => {
                let text = std::fs::read_to_string(config).unwrap();
                let text = add_mark(&text, "renamed", i);
                let tmp =
                    config.with_file_name(format!("openclaw.json.{}.tmp", std::process::id()));
                std::fs::write(&tmp, text).unwrap();
                std::fs::rename(&tmp, config).unwrap();
                renamed += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_micros(next() % 6000));
    }
    println!("appended {appended} inplace {inplace} renamed {renamed}");
}

/// `key: [` becomes `key: [i, `.
fn add_mark(text: &str, key: &str, i: usize) -> String {
    let marker = format!("{key}: [");
    assert!(
        text.contains(&marker),
        "{key} is missing from the config:\n{text}"
    );
    text.replacen(&marker, &format!("{marker}{i}, "), 1)
}

fn squat(addr: &str) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind(addr).unwrap_or_else(|e| {
        println!("err {e}");
        std::process::exit(0);
    });
    println!("listening");
    std::io::stdout().flush().unwrap();
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut authorization = "-".to_owned();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = value.trim().to_owned();
        }
        line.clear();
    }
    println!("authorization {authorization}");
    let _ = (&stream)
        .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}
