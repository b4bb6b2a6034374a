//! `msclawctl init` as a user runs it: on a missing, the guide's and a hand-commented config, with
//! `--dry-run`, `--api-key-stdin`, `--models` and `--check-online` against a fake `/v1/models`.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope};
use msclaw_tests::transcripts::guide_config;

const SECRET: &str = "ms-test-SECRET-do-not-print";

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("openclaw/openclaw.json");
        Env { dir, config }
    }

    fn with_config(text: &str) -> Env {
        let env = Env::new();
        std::fs::create_dir_all(env.config.parent().unwrap()).unwrap();
        std::fs::write(&env.config, text).unwrap();
        set_mode(&env.config, 0o600);
        env
    }

    /// msclawctl with nothing from the caller's environment but PATH.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_msclawctl"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("OPENCLAW_CONFIG_PATH", &self.config)
            .env("MSCLAW_SOCKET", self.dir.path().join("msclawd.sock"))
            .env("MSCLAW_CONFIG", self.dir.path().join("msclaw.toml"))
            .env("NO_COLOR", "1");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Sets the mtime an hour back, so that "not written" shows in the mtime.
fn age(path: &Path) -> SystemTime {
    let t = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Whether every character of `old` is in `new`, in order (`new` is `old` plus insertions).
fn is_splice_of(old: &str, new: &str) -> bool {
    let mut rest = new.chars();
    old.chars().all(|c| rest.any(|n| n == c))
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn items_with(report: &serde_json::Value, kind: &str, status: &str) -> Vec<String> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == kind && i["status"] == status)
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_missing_config_is_created_and_a_second_run_changes_nothing() {
    let env = Env::new();
    let out = env.run(&["init"]);
    success(&out);
    let text = stdout(&out);
    assert!(text.contains("added    provider modelscope"), "{text}");
    assert!(
        text.contains("added    primary modelscope/Qwen/Qwen3.5-397B-A17B"),
        "{text}"
    );
    assert!(
        text.contains(&format!("wrote {}", env.config.display())),
        "{text}"
    );
    assert_eq!(mode(&env.config), 0o600);
    let first = env.text();
    assert!(
        first.contains("apiKey: \"${MODELSCOPE_API_KEY}\""),
        "{first}"
    );

    let before = age(&env.config);
    let out = env.run(&["init", "--json"]);
    success(&out);
    let report = json(&out);
    assert_eq!(report["changed"], false);
    assert_eq!(report["written"], serde_json::json!([]));
    assert!(items_with(&report, "model", "added").is_empty());
    assert_eq!(items_with(&report, "model", "present").len(), 4);
    assert_eq!(env.text(), first);
    assert_eq!(
        mtime(&env.config),
        before,
        "a run with nothing to add does not write"
    );
}

#[test]
fn the_guides_config_is_left_alone() {
    let original = guide_config("https://api-inference.modelscope.cn/v1/", "");
    let env = Env::with_config(&original);
    let before = age(&env.config);
    let out = env.run(&["init"]);
    success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("nothing to change: everything is present"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("present  ")).count(),
        13,
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("added")), "{text}");
    assert_eq!(env.text(), original);
    assert_eq!(mtime(&env.config), before);
}

#[test]
fn a_commented_config_keeps_every_byte_and_gains_only_what_is_missing() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../daemon/tests/fixtures/configs/commented.json5");
    let original = std::fs::read_to_string(fixture).unwrap();
    let env = Env::with_config(&original);
    let out = env.run(&["init", "--json"]);
    success(&out);
    let report = json(&out);
    assert_eq!(
        items_with(&report, "model", "added"),
        ["MiniMax/MiniMax-M2.5", "moonshotai/Kimi-K2.5"]
    );
    assert_eq!(
        items_with(&report, "model", "present"),
        ["Qwen/Qwen3.5-397B-A17B", "ZhipuAI/GLM-5"]
    );
    assert_eq!(items_with(&report, "provider", "present"), ["modelscope"]);
    assert_eq!(report["written"], serde_json::json!([env.config]));

    let new = env.text();
    assert!(is_splice_of(&original, &new), "not a splice:\n{new}");
    let comments: Vec<&str> = original
        .lines()
        .filter_map(|l| l.find("//").or_else(|| l.find("/*")).map(|i| &l[i..]))
        .collect();
    assert!(comments.len() >= 7, "{comments:?}");
    for c in comments {
        assert!(new.contains(c), "comment {c:?} lost");
    }
    assert!(new.len() > original.len());

    // Idempotent: byte-identical and not rewritten.
    let before = age(&env.config);
    let out = env.run(&["init"]);
    success(&out);
    assert!(stdout(&out).contains("nothing to change"));
    assert_eq!(env.text(), new);
    assert_eq!(mtime(&env.config), before);
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let original = "// mine\n{\n  gateway: { port: 18789 }, // keep\n}\n";
    let env = Env::with_config(original);
    let before = age(&env.config);
    let out = env.run(&["init", "--dry-run"]);
    success(&out);
    let text = stdout(&out);
    let path = env.config.display().to_string();
    assert!(
        text.contains(&format!("--- a{path}\n+++ b{path}\n@@ ")),
        "{text}"
    );
    assert!(text.contains("\n+      modelscope: {\n"), "{text}");
    assert!(
        text.contains("\n+          { id: \"ZhipuAI/GLM-5\", name: \"GLM-5\", "),
        "{text}"
    );
    assert!(
        text.contains("\n   gateway: { port: 18789 }, // keep\n"),
        "context lines: {text}"
    );
    assert!(text.contains("dry run: nothing was written"), "{text}");
    assert_eq!(env.text(), original);
    assert_eq!(mtime(&env.config), before);

    // On a missing file: a diff from /dev/null, and still nothing on disk.
    let env = Env::new();
    let out = env.run(&["init", "--dry-run", "--json"]);
    success(&out);
    let report = json(&out);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["changed"], true);
    assert!(
        report["diff"]
            .as_str()
            .unwrap()
            .starts_with("--- /dev/null\n"),
        "{report}"
    );
    assert!(!env.config.exists());
    assert!(
        !env.config.parent().unwrap().exists(),
        "not even the directory"
    );
}

#[test]
fn a_key_from_stdin_is_written_and_never_printed() {
    let env = Env::with_config("{\n  // my config\n  gateway: { port: 18789 },\n}\n");
    let mut outputs = Vec::new();
    for args in [
        &["init", "--api-key-stdin", "--dry-run"][..],
        &["init", "--api-key-stdin", "--dry-run", "--json"],
    ] {
        let out = env.run_with_stdin(args, &format!("{SECRET}\n"));
        success(&out);
        outputs.push(out);
    }
    assert!(
        stdout(&outputs[0]).contains("apiKey: \"ms-…(hidden)\""),
        "{}",
        stdout(&outputs[0])
    );
    assert!(!env.text().contains(SECRET), "dry run wrote");

    let out = env.run_with_stdin(&["init", "--api-key-stdin"], &format!("{SECRET}\n"));
    success(&out);
    outputs.push(out);
    let text = env.text();
    assert!(text.contains(&format!("apiKey: \"{SECRET}\",")), "{text}");
    assert_eq!(mode(&env.config), 0o600);

    // Again: the provider has a key now; it is kept and nothing is printed about its value.
    let out = env.run_with_stdin(&["init", "--api-key-stdin", "--json"], "ms-another-key\n");
    success(&out);
    assert!(
        json(&out)["warnings"]
            .to_string()
            .contains("already has an apiKey")
    );
    outputs.push(out);
    assert_eq!(env.text(), text);

    for args in [&["doctor"][..], &["doctor", "--json"]] {
        let out = env.run(args);
        outputs.push(out);
    }
    assert!(
        stdout(&outputs[4]).contains("apiKey is written in the config (not shown)"),
        "{}",
        stdout(&outputs[4])
    );
    for out in &outputs {
        for stream in [stdout(out), stderr(out)] {
            assert!(!stream.contains("SECRET"), "the key leaked:\n{stream}");
        }
    }
}

#[test]
fn an_empty_key_on_stdin_is_refused() {
    let env = Env::new();
    let out = env.run_with_stdin(&["init", "--api-key-stdin"], "\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no API key on standard input"),
        "{}",
        stderr(&out)
    );
    assert!(!env.config.exists());
}

#[test]
fn models_choose_the_list_and_its_order() {
    let env = Env::new();
    let out = env.run(&[
        "init",
        "--models",
        "glm5,deepseek-ai/DeepSeek-V3.2",
        "--json",
    ]);
    success(&out);
    let report = json(&out);
    assert_eq!(
        items_with(&report, "model", "added"),
        ["ZhipuAI/GLM-5", "deepseek-ai/DeepSeek-V3.2"]
    );
    let text = env.text();
    assert!(
        text.contains("primary: \"modelscope/ZhipuAI/GLM-5\""),
        "{text}"
    );
    assert!(
        text.contains("\"modelscope/deepseek-ai/DeepSeek-V3.2\": { alias: \"deepseek\" }"),
        "{text}"
    );
    assert!(!text.contains("Kimi"), "{text}");

    let out = env.run(&["init", "--models", " , "]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--models names no model"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_broken_config_is_reported_with_its_position() {
    let original = "{\n  gateway: { port: 18789 },\n  agents: { defaults: { model: 'x' ] },\n}\n";
    let env = Env::with_config(original);
    let out = env.run(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:3:", env.config.display())),
        "{err}"
    );
    assert_eq!(env.text(), original);
}

#[test]
fn check_online_warns_about_a_model_that_is_no_longer_served() {
    // The project's fake ModelScope, serving three of the guide's four models (and another).
    let fake = FakeModelScope::start(
        FakeConfig::empty()
            .model("Qwen/Qwen3.5-397B-A17B", None)
            .model("ZhipuAI/GLM-5", None)
            .model("MiniMax/MiniMax-M2.5", None)
            .model("deepseek-ai/DeepSeek-V3.2", None),
    );
    let base = format!("{}/", fake.base_url());
    let env = Env::new();
    let out = env.run(&["init", "--check-online", "--base-url", &base, "--json"]);
    success(&out);
    let report = json(&out);
    assert_eq!(report["online"]["checked"], true);
    assert_eq!(report["online"]["url"], format!("{base}models"));
    assert_eq!(
        report["online"]["missing"],
        serde_json::json!(["moonshotai/Kimi-K2.5"])
    );
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("model moonshotai/Kimi-K2.5 is not in the list"),
        "{warnings}"
    );
    assert!(!warnings.contains("GLM-5"), "{warnings}");
    // The model is still added (the warning is for the user to decide), with the given baseUrl.
    assert!(env.text().contains(&format!("baseUrl: \"{base}\"")));

    // Human output, asking the provider's baseUrl from the config this time.
    let out = env.run(&["init", "--check-online"]);
    success(&out);
    assert!(
        stdout(&out).contains("warning: model moonshotai/Kimi-K2.5 is not in the list at"),
        "{}",
        stdout(&out)
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.status),
            ("GET", "/v1/models", 200)
        );
        assert_eq!(r.authorization, None, "no key is sent");
    }
}

#[test]
fn check_online_failing_is_a_warning_not_an_error() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::new();
    let out = env.run(&[
        "init",
        "--check-online",
        "--base-url",
        &format!("http://127.0.0.1:{port}/v1"),
        "--json",
    ]);
    success(&out);
    let report = json(&out);
    assert_eq!(report["online"]["checked"], false);
    assert!(
        report["warnings"]
            .to_string()
            .contains("could not check the models online"),
        "{report}"
    );
    assert!(env.config.exists());
}
