//! `msclawctl doctor` on a healthy set-up (config from `init`, a running in-process daemon, a
//! fresh gateway log, something on the gateway port, an enabled unit) and on broken ones, each
//! check made to fail or warn.

use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use msclaw_tests::daemon::{Layout, TestDaemon};
use serde_json::Value;

struct Setup {
    _dir: tempfile::TempDir,
    layout: Layout,
    /// A port nothing listens on, unless a test binds it.
    gateway_port: u16,
    extra_env: Vec<(String, String)>,
    path: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::in_dir(dir.path());
        std::fs::create_dir_all(&layout.openclaw_state).unwrap();
        let gateway_port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Setup {
            _dir: dir,
            layout,
            gateway_port,
            extra_env: Vec::new(),
            path: std::env::var("PATH").unwrap_or_default(),
        }
    }

    /// A config from `msclawctl init`, msclaw's settings pointing at this layout's gateway log,
    /// and a gateway log written just now.
    fn initialised() -> Setup {
        let setup = Setup::new();
        let out = setup.run_sync(&["init"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        setup.layout.settings("");
        std::fs::create_dir_all(&setup.layout.gateway_log_dir).unwrap();
        std::fs::write(
            setup.layout.gateway_log_dir.join("openclaw-2026-11-25.log"),
            "{}\n",
        )
        .unwrap();
        setup
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"));
        cmd.args(args)
            .env_clear()
            .env("PATH", &self.path)
            .env("NO_COLOR", "1");
        for (k, v) in self.layout.env_vars() {
            cmd.env(k, v);
        }
        cmd.env("OPENCLAW_GATEWAY_PORT", self.gateway_port.to_string());
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    fn run_sync(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::from(self.command(args))
            .output()
            .await
            .unwrap()
    }

    async fn doctor(&self) -> (Option<i32>, Vec<Value>, String) {
        let out = self.run(&["doctor", "--json"]).await;
        let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let human = self.run(&["doctor"]).await;
        assert_eq!(human.status.code(), out.status.code());
        (
            out.status.code(),
            checks,
            String::from_utf8_lossy(&human.stdout).into_owned(),
        )
    }

    fn write_config(&self, text: &str) {
        std::fs::write(&self.layout.openclaw_config, text).unwrap();
    }

    fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.layout.openclaw_config).unwrap();
        assert!(text.contains(from), "{from:?} not in:\n{text}");
        self.write_config(&text.replacen(from, to, 1));
    }
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
}

fn level<'a>(checks: &'a [Value], name: &str) -> &'a str {
    check(checks, name)["level"].as_str().unwrap()
}

fn message<'a>(checks: &'a [Value], name: &str) -> &'a str {
    check(checks, name)["message"].as_str().unwrap()
}

/// An executable `systemctl` that says the unit is enabled, and the unit file it would have.
fn fake_enabled_service(setup: &mut Setup) {
    use std::os::unix::fs::PermissionsExt;
    let bin = setup.layout.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("systemctl");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1 $2 $3\" = \"--user is-enabled msclawd.service\" ] && echo enabled\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    setup.path = format!("{}:{}", bin.display(), setup.path);
    let unit = setup
        .layout
        .root
        .join(".config/systemd/user/msclawd.service");
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::write(unit, "[Service]\nExecStart=/usr/bin/msclawd\n").unwrap();
}

#[tokio::test]
async fn a_healthy_setup_passes_every_check() {
    let mut setup = Setup::initialised();
    fake_enabled_service(&mut setup);
    setup
        .extra_env
        .push(("MODELSCOPE_API_KEY".into(), "ms-doctor-SECRET-value".into()));
    let gateway = TcpListener::bind("127.0.0.1:0").unwrap();
    setup.gateway_port = gateway.local_addr().unwrap().port();
    let daemon = TestDaemon::start(&setup.layout, setup.layout.settings(""))
        .await
        .unwrap();

    let (code, checks, human) = setup.doctor().await;
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "config",
            "config_parse",
            "settings",
            "provider",
            "rotation",
            "agent_model",
            "primary",
            "api_key",
            "reload_mode",
            "gateway_log",
            "gateway",
            "daemon",
            "relay",
            "service",
            "plugin"
        ]
    );
    for c in &checks {
        assert_eq!(c["level"], "ok", "{c}\n{human}");
        assert_eq!(
            c.as_object().unwrap().len(),
            3,
            "{{check, level, message}}: {c}"
        );
    }
    assert_eq!(code, Some(0));
    assert!(
        message(&checks, "config").contains("from OPENCLAW_CONFIG_PATH"),
        "{human}"
    );
    assert!(
        message(&checks, "rotation")
            .starts_with("4 models from the provider's list: modelscope/Qwen/Qwen3.5-397B-A17B, "),
        "{human}"
    );
    assert_eq!(
        message(&checks, "api_key"),
        "apiKey is ${MODELSCOPE_API_KEY}; MODELSCOPE_API_KEY is set in this environment"
    );
    assert!(message(&checks, "daemon").contains("protocol 1"), "{human}");
    assert!(message(&checks, "gateway").contains(&setup.gateway_port.to_string()));
    assert!(
        message(&checks, "gateway_log").contains("openclaw-2026-11-25.log"),
        "{human}"
    );
    // One line per check, level first.
    assert_eq!(human.lines().count(), checks.len(), "{human}");
    assert!(human.lines().all(|l| l.starts_with("ok   ")), "{human}");
    assert!(!human.contains("SECRET"), "{human}");
    drop(gateway);
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn each_broken_piece_is_named() {
    // No config at all.
    let setup = Setup::new();
    let (code, checks, human) = setup.doctor().await;
    assert_eq!(code, Some(1));
    assert_eq!(level(&checks, "config"), "fail");
    assert!(
        message(&checks, "config").contains("does not exist; `msclawctl init` creates it"),
        "{human}"
    );
    assert!(
        human.lines().next().unwrap().starts_with("fail config "),
        "{human}"
    );
    // No daemon either.
    assert_eq!(level(&checks, "daemon"), "fail");
    assert!(
        message(&checks, "daemon").contains("msclawd is not running"),
        "{human}"
    );

    // A parse error: file, line and column.
    let setup = Setup::initialised();
    setup.write_config("{\n  models: {\n    providers: [ }\n}\n");
    let (code, checks, human) = setup.doctor().await;
    assert_eq!(code, Some(1));
    assert_eq!(level(&checks, "config"), "ok");
    assert_eq!(level(&checks, "config_parse"), "fail");
    let m = message(&checks, "config_parse");
    assert!(
        m.starts_with(&format!("{}:3:", setup.layout.openclaw_config.display())),
        "{m}"
    );
    assert!(human.contains("fail config_parse"), "{human}");

    // The provider missing.
    let setup = Setup::initialised();
    setup.edit_config("      modelscope: {", "      elsewhere: {");
    let (code, checks, _) = setup.doctor().await;
    assert_eq!(code, Some(1));
    assert_eq!(level(&checks, "provider"), "fail");
    assert!(message(&checks, "provider").contains("models.providers.modelscope is missing"));

    // A rotation model from msclaw's settings that the provider does not list.
    let setup = Setup::initialised();
    setup
        .layout
        .settings("models = [\"glm5\", \"modelscope/Qwen/Qwen3-Not-Listed\"]\n");
    let (code, checks, _) = setup.doctor().await;
    assert_eq!(code, Some(1));
    assert_eq!(level(&checks, "rotation_model"), "fail");
    assert!(message(&checks, "rotation_model").contains("modelscope/Qwen/Qwen3-Not-Listed"));
    assert_eq!(
        message(&checks, "rotation"),
        "1 model from msclaw's settings: modelscope/ZhipuAI/GLM-5"
    );
    // The primary is then outside the rotation.
    assert_eq!(level(&checks, "primary"), "warn");

    // No apiKey.
    let setup = Setup::initialised();
    setup.edit_config("        apiKey: \"${MODELSCOPE_API_KEY}\",\n", "");
    let (code, checks, _) = setup.doctor().await;
    assert_eq!(code, Some(1));
    assert_eq!(level(&checks, "api_key"), "fail");

    // An apiKey reference to a variable that is not set (here or in the state dir's .env).
    let setup = Setup::initialised();
    let (_, checks, _) = setup.doctor().await;
    assert_eq!(level(&checks, "api_key"), "warn");
    assert!(
        message(&checks, "api_key").contains("MODELSCOPE_API_KEY is not set"),
        "{checks:?}"
    );
    std::fs::write(
        setup.layout.openclaw_state.join(".env"),
        "# keys\nexport MODELSCOPE_API_KEY=\"ms-dotenv-SECRET\"\n",
    )
    .unwrap();
    let (_, checks, human) = setup.doctor().await;
    assert_eq!(level(&checks, "api_key"), "ok");
    assert!(message(&checks, "api_key").contains(".env"), "{human}");
    assert!(!human.contains("SECRET"));

    // Reload off, a per-agent model, a modelPolicy.allow that misses models, no gateway log.
    let setup = Setup::initialised();
    setup.edit_config(
        "  agents: {\n",
        "  gateway: { reload: { mode: \"off\" } },\n  agents: {\n    entries: { coder: { model: \"openai/gpt-5\" } },\n",
    );
    setup.edit_config(
        "    defaults: {\n",
        "    defaults: {\n      modelPolicy: { allow: [\"modelscope/Qwen/Qwen3.5-397B-A17B\"] },\n",
    );
    std::fs::remove_dir_all(&setup.layout.gateway_log_dir).unwrap();
    let (_, checks, human) = setup.doctor().await;
    assert_eq!(level(&checks, "reload_mode"), "warn", "{human}");
    assert!(message(&checks, "reload_mode").contains("off"));
    assert_eq!(level(&checks, "agent_model"), "warn", "{human}");
    assert!(
        message(&checks, "agent_model").contains("agent coder sets its own model openai/gpt-5"),
        "{human}"
    );
    assert_eq!(level(&checks, "model_policy"), "warn", "{human}");
    assert!(
        human
            .contains("modelscope/ZhipuAI/GLM-5 is missing from agents.defaults.modelPolicy.allow"),
        "{human}"
    );
    assert_eq!(level(&checks, "gateway_log"), "warn", "{human}");
    assert!(
        message(&checks, "gateway_log").contains("does not exist"),
        "{human}"
    );
    assert_eq!(level(&checks, "gateway"), "warn", "{human}");
    assert_eq!(level(&checks, "service"), "warn", "{human}");
    // None of these alone fails the run; the daemon is what fails it here.
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| c["level"] == "fail")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["daemon"], "{human}");

    // msclaw's own settings broken.
    let setup = Setup::initialised();
    std::fs::write(&setup.layout.settings_file, "daily_limt = 3\n").unwrap();
    let (code, checks, _) = setup.doctor().await;
    assert_eq!(code, Some(1));
    assert_eq!(level(&checks, "settings"), "fail");
    assert!(message(&checks, "settings").contains("daily_limt"));
}

#[tokio::test]
async fn a_gateway_log_not_written_for_a_day_is_a_warning() {
    let setup = Setup::initialised();
    let log = setup.layout.gateway_log_dir.join("openclaw-2026-11-25.log");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86400);
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (_, checks, _) = setup.doctor().await;
    assert_eq!(level(&checks, "gateway_log"), "warn");
    assert!(
        message(&checks, "gateway_log").contains("last written 3d ago"),
        "{checks:?}"
    );
    assert!(Path::new(&setup.layout.gateway_log_dir).is_dir());
}

#[tokio::test]
async fn logging_file_is_checked_where_msclawd_reads_it() {
    let setup = Setup::initialised();
    // Without msclaw's own gateway_log, `logging.file` decides.
    std::fs::write(&setup.layout.settings_file, "").unwrap();
    let log = setup.layout.root.join("logs/gateway.log");
    setup.edit_config(
        "  agents: {\n",
        &format!(
            "  logging: {{ file: {:?} }},\n  agents: {{\n",
            log.display().to_string()
        ),
    );
    let (_, checks, human) = setup.doctor().await;
    assert_eq!(level(&checks, "gateway_log"), "warn", "{human}");
    assert!(
        message(&checks, "gateway_log").contains("(logging.file) does not exist yet"),
        "{human}"
    );
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "{}\n").unwrap();
    let (_, checks, human) = setup.doctor().await;
    assert_eq!(level(&checks, "gateway_log"), "ok", "{human}");
    assert!(
        message(&checks, "gateway_log")
            .starts_with(&format!("{} (logging.file) last written", log.display())),
        "{human}"
    );

    setup.edit_config(
        &format!("{:?}", log.display().to_string()),
        "\"~/logs/gateway.log\"",
    );
    // `~` is the home directory, as OpenClaw expands it.
    let (_, checks, human) = setup.doctor().await;
    assert_eq!(level(&checks, "gateway_log"), "ok", "{human}");
    assert!(
        message(&checks, "gateway_log")
            .starts_with(&format!("{} (logging.file) last written", log.display())),
        "{human}"
    );
}

#[tokio::test]
async fn doctor_says_which_log_dir_it_follows_and_why() {
    use std::os::unix::fs::PermissionsExt;
    let mut setup = Setup::initialised();
    // No gateway_log and no logging.file: OpenClaw's default decides.
    std::fs::write(&setup.layout.settings_file, "").unwrap();
    let preferred = setup.layout.root.join("tmp-openclaw");
    let tmp = setup.layout.root.join("tmpdir");
    std::fs::create_dir_all(&preferred).unwrap();
    std::fs::write(preferred.join("openclaw-2026-12-03.log"), "{}\n").unwrap();
    setup.extra_env.push((
        "MSCLAW_OPENCLAW_PREFERRED_LOG_DIR".into(),
        preferred.display().to_string(),
    ));
    setup
        .extra_env
        .push(("TMPDIR".into(), tmp.display().to_string()));

    // The user's own private directory: followed.
    std::fs::set_permissions(&preferred, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (_, checks, human) = setup.doctor().await;
    assert_eq!(level(&checks, "gateway_log"), "ok", "{human}");
    assert!(
        message(&checks, "gateway_log").starts_with(&format!(
            "{} (OpenClaw's default) last written",
            preferred.join("openclaw-2026-12-03.log").display()
        )),
        "{human}"
    );

    // Another user's directory (as root in CI: chown needs it) is never read; OpenClaw logs to
    // $TMPDIR/openclaw-<uid> then, and doctor says so.
    std::os::unix::fs::chown(&preferred, Some(65534), Some(65534)).unwrap();
    let fallback = tmp.join(format!("openclaw-{}", rustix::process::getuid().as_raw()));
    let (_, checks, human) = setup.doctor().await;
    let said = message(&checks, "gateway_log");
    assert_eq!(level(&checks, "gateway_log"), "warn", "{human}");
    assert!(said.contains("is owned by uid 65534"), "{human}");
    assert!(
        said.starts_with(&format!("{} (OpenClaw's default: ", fallback.display())),
        "{human}"
    );
    std::fs::create_dir_all(&fallback).unwrap();
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(fallback.join("openclaw-2026-12-03.log"), "{}\n").unwrap();
    let (_, checks, human) = setup.doctor().await;
    assert_eq!(level(&checks, "gateway_log"), "ok", "{human}");
    assert!(
        message(&checks, "gateway_log").starts_with(
            &fallback
                .join("openclaw-2026-12-03.log")
                .display()
                .to_string()
        ),
        "{human}"
    );
}
