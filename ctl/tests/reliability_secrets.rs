//! No secret leaks. The OpenClaw config holds three distinctive keys: a literal `apiKey` (on the
//! ModelScope provider msclaw rotates), a `${VAR}` whose variable is set in the daemon's
//! environment, and a SecretRef object. OpenClaw's records quote keys too (error messages with
//! `Authorization: Bearer …`), and for a while the config does not parse right where a key is.
//! Then every request the daemon answers, through every msclawctl command (`--json` and human),
//! two event streams, the daemon's log at every level up to trace, the hook's input and every file
//! msclaw wrote: none may contain any key.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, KIMI, MINIMAX, QWEN};

const LITERAL: &str = "ms-FAKEKEY1-test-only-LiteralKey1";
const ENV_VAR: &str = "MSCLAW_TEST_API_KEY";
const ENV_VALUE: &str = "ms-FAKEKEY2-test-only-EnvValueKey2";
const SECRET_REF_ID: &str = "vault-item-SecretRefId3-6f1d2c";
const KEYS: [&str; 3] = [LITERAL, ENV_VALUE, SECRET_REF_ID];
const WAIT: Duration = Duration::from_secs(10);

fn config_with_keys() -> String {
    let text = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    let text = text.replace(
        "apiKey: \"${MODELSCOPE_API_KEY}\"",
        &format!("apiKey: \"{LITERAL}\""),
    );
    text.replacen(
        "    providers: {\n",
        &format!(
            "    providers: {{\n      \
             other: {{ baseUrl: \"http://127.0.0.1:9/v1\", apiKey: \"${{{ENV_VAR}}}\", api: \"openai-completions\", models: [{{ id: \"o1\" }}] }},\n      \
             vault: {{ baseUrl: \"http://127.0.0.1:9/v1\", apiKey: {{ source: \"exec\", provider: \"vault\", id: \"{SECRET_REF_ID}\" }}, api: \"openai-completions\", models: [{{ id: \"v1\" }}] }},\n"
        ),
        1,
    )
}

struct Collected {
    texts: Vec<(String, String)>,
}

impl Collected {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.texts.push((what.into(), text.into()));
    }
    fn bytes(&self) -> usize {
        self.texts.iter().map(|(_, t)| t.len()).sum()
    }
}

async fn ctl(layout: &Layout, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"))
        .args(args)
        .env("MSCLAW_SOCKET", &layout.socket)
        .env("NO_COLOR", "1")
        .env(ENV_VAR, ENV_VALUE)
        .output()
        .await
        .unwrap()
}

/// Runs every command that talks to the daemon, in both output modes.
async fn every_command(layout: &Layout, out: &mut Collected, when: &str) -> usize {
    let commands: &[&[&str]] = &[
        &["status"],
        &["version"],
        &["history", "--days", "7"],
        &["switch", "kimi"],
        &["switch", "no-such-model"],
        &["pause"],
        &["resume"],
        &["auto"],
    ];
    let mut runs = 0;
    for args in commands {
        for json in [false, true] {
            let mut argv = args.to_vec();
            if json {
                argv.push("--json");
            }
            let o = ctl(layout, &argv).await;
            out.add(
                format!("msclawctl {} ({when}) stdout", argv.join(" ")),
                String::from_utf8_lossy(&o.stdout),
            );
            out.add(
                format!("msclawctl {} ({when}) stderr", argv.join(" ")),
                String::from_utf8_lossy(&o.stderr),
            );
            runs += 1;
        }
    }
    runs
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_appears_in_any_reply_output_log_or_file() {
    let logs = msclaw_tests::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = config_with_keys();
    for held in [LITERAL, SECRET_REF_ID, &format!("${{{ENV_VAR}}}")] {
        assert!(config.contains(held), "the test's config holds {held}");
    }
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    let hook_out = dir.path().join("hook.out");
    let settings = layout.settings(&format!(
        "daily_limit = 2\n[hook]\ncommand = [\"sh\", \"-c\", \"cat >> {}\"]\ntimeout_secs = 5\n",
        hook_out.display()
    ));
    let env: msclawd::EnvMap = Arc::new(|name: &str| (name == ENV_VAR).then(|| ENV_VALUE.into()));
    let daemon = TestDaemon::start_with_env(&layout, settings, env)
        .await
        .unwrap();
    daemon
        .wait_for("config read", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let mut out = Collected { texts: Vec::new() };

    // Two event streams for the whole run.
    let watch = |json: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"));
        cmd.arg("watch")
            .env("MSCLAW_SOCKET", &layout.socket)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if json {
            cmd.arg("--json");
        }
        cmd.kill_on_drop(true).spawn().unwrap()
    };
    let (watch_json, watch_human) = (watch(true), watch(false));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // OpenClaw's records, some quoting the keys the way provider errors do.
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    let now = transcripts::now_ms;
    session.append(&transcripts::failed_turn(
        "modelscope",
        QWEN,
        "401",
        &format!("Incorrect API key provided: {LITERAL}"),
        now(),
    ));
    for _ in 0..2 {
        session.append(&transcripts::assistant_reply("modelscope", QWEN, now()));
    }
    daemon
        .wait_for("switch to GLM", WAIT, |s| {
            s.active_model.as_deref() == Some(&format!("modelscope/{GLM}"))
        })
        .await
        .unwrap();
    session.append(&transcripts::failed_turn(
        "modelscope",
        MINIMAX,
        "404",
        &format!("404 model not found (key {ENV_VALUE}) Authorization: Bearer {LITERAL}"),
        now(),
    ));
    daemon
        .wait_for("MiniMax gone", WAIT, |s| s.models[2].spent)
        .await
        .unwrap();
    let log = layout.gateway_log_dir.join(format!(
        "openclaw-{}.log",
        jiff::ZonedDateTime::now().date()
    ));
    transcripts::append_line(&log, "{\"1\":\"gateway starting\"}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    transcripts::append_line(
        &log,
        &transcripts::gateway_log_line(
            "provider-transport-fetch",
            &format!(
                "[model-fetch] response provider=modelscope api=openai-completions model={KIMI} status=400 elapsedMs=9"
            ),
        ),
    );
    transcripts::append_line(
        &log,
        &transcripts::gateway_log_line(
            "agents/embedded",
            &format!(
                "error=400 Model {KIMI} has no provider supported apiKey={LITERAL} x-api-key: {ENV_VALUE}"
            ),
        ),
    );
    daemon
        .wait_for("Kimi gone", WAIT, |s| s.models[3].spent)
        .await
        .unwrap();

    let mut runs = every_command(&layout, &mut out, "config ok").await;

    // The config broken right at a key (a duplicate string), then fixed again.
    let broken = config.replacen(
        &format!("apiKey: \"{LITERAL}\""),
        &format!("apiKey: \"{LITERAL}\" \"{LITERAL}\""),
        1,
    );
    let tmp = layout.openclaw_state.join("openclaw.json.tmp");
    std::fs::write(&tmp, &broken).unwrap();
    std::fs::rename(&tmp, &layout.openclaw_config).unwrap();
    daemon
        .wait_for("config invalid", WAIT, |s| {
            s.openclaw_config == msclaw_shared::ConfigState::Invalid
        })
        .await
        .unwrap();
    runs += every_command(&layout, &mut out, "config broken at a key").await;
    std::fs::write(&tmp, &config).unwrap();
    std::fs::rename(&tmp, &layout.openclaw_config).unwrap();
    daemon
        .wait_for("config ok", WAIT, |s| {
            s.openclaw_config == msclaw_shared::ConfigState::Ok
        })
        .await
        .unwrap();
    runs += every_command(&layout, &mut out, "config fixed").await;

    daemon.stop().await.unwrap();
    let mut streams = 0;
    for (name, mut child) in [("watch --json", watch_json), ("watch", watch_human)] {
        let _ = child.start_kill();
        let o = child.wait_with_output().await.unwrap();
        assert!(
            !o.stdout.is_empty() || !o.stderr.is_empty(),
            "{name} said nothing"
        );
        out.add(
            format!("msclawctl {name} stdout"),
            String::from_utf8_lossy(&o.stdout),
        );
        out.add(
            format!("msclawctl {name} stderr"),
            String::from_utf8_lossy(&o.stderr),
        );
        streams += 1;
    }
    let trace = logs.text();
    assert!(
        trace.contains("TRACE") || trace.contains("DEBUG"),
        "the log capture works at every level"
    );
    assert!(
        trace.contains("switched primary"),
        "the log covers the switches"
    );
    out.add("msclawd log (trace)", trace.clone());
    out.add(
        "hook input",
        std::fs::read_to_string(&hook_out).unwrap_or_default(),
    );
    let mut files = 0;
    for root in [
        layout.state_file.parent().unwrap(),
        layout.socket.parent().unwrap(),
    ] {
        for f in files_under(root) {
            out.add(
                format!("file {}", f.display()),
                String::from_utf8_lossy(&std::fs::read(&f).unwrap()),
            );
            files += 1;
        }
    }
    assert!(files >= 2, "state and lock files were written");
    // The one file that does hold the keys: the user's config, as the user wrote them.
    let config_now = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert!(config_now.contains(LITERAL) && config_now.contains(SECRET_REF_ID));

    // The key-quoting records did reach the outputs, redacted.
    let redacted = out
        .texts
        .iter()
        .filter(|(what, t)| what.starts_with("msclawctl") && t.contains("[redacted]"))
        .count();
    assert!(
        redacted > 0,
        "no output shows a redacted detail: the key-quoting records were not exercised"
    );
    assert!(
        out.texts
            .iter()
            .any(|(what, t)| what == "msclawctl watch --json stdout" && t.contains("switched"))
    );
    let mut found = Vec::new();
    for (what, text) in &out.texts {
        for key in KEYS {
            if text.contains(key) {
                found.push(format!("{key} in {what}"));
            }
        }
    }
    println!(
        "secrets: 3 keys (literal, ${{VAR}} value, SecretRef id; also quoted in OpenClaw's error records and log, and \
         the config broken at a key) searched in {} texts, {} KiB: {runs} msclawctl runs (json and human, 8 commands, 3 \
         config states), {streams} event streams, the daemon log at trace ({} lines), the hook's input, {files} files \
         msclaw wrote ({redacted} outputs show a redacted detail): found {} times",
        out.texts.len(),
        out.bytes() / 1024,
        trace.lines().count(),
        found.len()
    );
    assert!(found.is_empty(), "keys leaked:\n{}", found.join("\n"));
}
