//! The OpenClaw harness's own logic, without running OpenClaw: the install lock, the generated
//! config, the log and output parsers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msclaw_tests::fake_modelscope::{GLM5, KIMI, MINIMAX, MODELS, QWEN};
use msclaw_tests::openclaw::*;

fn fake_install(version: &str) -> OpenClawInstall {
    OpenClawInstall {
        version: version.into(),
        prefix: "/nonexistent/prefix".into(),
        entry: "/nonexistent/prefix/node_modules/openclaw/openclaw.mjs".into(),
        node_bin_dir: "/nonexistent/node/bin".into(),
        install_time: Duration::ZERO,
    }
}

#[test]
fn install_once_runs_once_across_threads_and_retries_after_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    let runs = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (dir, runs) = (dir.clone(), runs.clone());
            std::thread::spawn(move || {
                install_once(&dir, "test pkg", || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    std::fs::write(dir.join("payload"), "x")?;
                    Ok(())
                })
                .unwrap()
            })
        })
        .collect();
    let installed: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "installed exactly once");
    assert_eq!(installed.iter().filter(|b| **b).count(), 1, "{installed:?}");
    assert!(dir.join(".msclaw-install-complete").is_file());
    assert!(!install_once(&dir, "test pkg", || panic!("must not run again")).unwrap());

    // A failed install leaves no marker; the next call cleans up and runs again.
    let dir2 = tmp.path().join("pkg2");
    let err = install_once(&dir2, "failing pkg", || {
        std::fs::write(dir2.join("partial"), "x")?;
        anyhow::bail!("npm said no")
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("npm said no"), "{err:#}");
    assert!(!dir2.join(".msclaw-install-complete").exists());
    assert!(
        install_once(&dir2, "failing pkg", || {
            assert!(
                !dir2.join("partial").exists(),
                "the partial install was removed"
            );
            Ok(())
        })
        .unwrap()
    );
}

#[test]
fn cache_lives_under_the_target_dir() {
    let cache = cache_dir();
    assert!(cache.ends_with("openclaw"));
    assert_eq!(cache.parent().unwrap(), target_dir());
    assert!(workspace_dir().join("Cargo.toml").is_file());
}

#[test]
fn versions_compare_numerically() {
    assert!(version_at_least("2026.9.6", "2026.7.2"));
    assert!(version_at_least("2026.10.1", "2026.9.6"));
    assert!(!version_at_least("2026.3.31", "2026.7.2"));
    assert!(version_at_least("2026.7.2-beta.1", "2026.7.2"));
    assert!(fake_install("2026.9.6").uses_sqlite_transcripts());
    assert!(!fake_install("2026.3.31").uses_sqlite_transcripts());
}

#[test]
fn generated_config_is_json5_with_the_four_models() {
    let env = OpenClawEnv::builder(&fake_install("2026.9.6"), "http://127.0.0.1:1/v1")
        .with_default_fallbacks()
        .reload_mode("hybrid")
        .log_max_file_bytes(4096)
        .extra_config("session: { dmScope: \"main\" },")
        .build()
        .unwrap();
    let text = env.read_config().unwrap();
    assert!(text.starts_with("// "), "line comment");
    assert!(text.contains("/* "), "block comment");
    assert!(text.contains("\n  models: {"), "unquoted keys");
    assert!(text.contains("],\n"), "trailing commas");
    assert!(text.contains("baseUrl: \"http://127.0.0.1:1/v1\""));
    assert!(text.contains("apiKey: \"${MODELSCOPE_API_KEY}\""));
    assert!(
        !text.contains(FAKE_API_KEY),
        "the key itself is only in the env"
    );
    assert!(text.contains("api: \"openai-completions\""));
    for (m, alias) in ALIASES {
        assert!(text.contains(&format!("id: \"{m}\"")), "{m} in models[]");
        assert!(text.contains(&format!("\"modelscope/{m}\": {{ alias: \"{alias}\" }}")));
    }
    assert!(text.contains(&format!(
        "fallbacks: [\"modelscope/{GLM5}\", \"modelscope/{MINIMAX}\", \"modelscope/{KIMI}\"]"
    )));
    assert!(text.contains(&format!("port: {},", env.gateway_port)));
    assert!(text.contains("reload: { mode: \"hybrid\" }"));
    assert!(text.contains("catalogRefresh: { enabled: false }"));
    assert!(text.contains(&format!(
        "file: \"{}\", maxFileBytes: 4096",
        env.log_file.display()
    )));
    assert!(text.contains("session: { dmScope: \"main\" },"));
    assert_eq!(env.config_primary().unwrap(), model_ref(QWEN));
    assert!(env.log_file.starts_with(&env.root) && env.state_dir.starts_with(&env.home));
    assert_eq!(env.config_path, env.state_dir.join("openclaw.json"));

    // Older versions reject keys they do not know: none of the 2026.9-only ones.
    let old = OpenClawEnv::builder(&fake_install("2026.3.31"), "http://127.0.0.1:1/v1")
        .build()
        .unwrap();
    let old_text = old.read_config().unwrap();
    assert!(!old_text.contains("catalogRefresh"));
    assert!(!old_text.contains("fallbacks"), "no fallbacks unless asked");
    assert_ne!(old.gateway_port, env.gateway_port);
}

#[test]
fn set_primary_rewrites_only_the_value_by_rename() {
    let env = OpenClawEnv::builder(&fake_install("2026.9.6"), "http://127.0.0.1:1/v1")
        .build()
        .unwrap();
    let before = env.read_config().unwrap();
    let inode =
        |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let ino = inode(&env.config_path);
    env.set_primary_atomic(MODELS[3]).unwrap();
    let after = env.read_config().unwrap();
    assert_eq!(env.config_primary().unwrap(), format!("modelscope/{KIMI}"));
    assert_eq!(
        after,
        before.replace(
            &format!("primary: \"modelscope/{QWEN}\""),
            &format!("primary: \"modelscope/{KIMI}\"")
        )
    );
    assert_ne!(
        inode(&env.config_path),
        ino,
        "replaced by rename, not written in place"
    );
    assert!(
        std::fs::read_dir(&env.state_dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tmp"))
    );
}

#[test]
fn env_is_isolated_and_offline() {
    let env = OpenClawEnv::builder(&fake_install("2026.9.6"), "http://127.0.0.1:1/v1")
        .env("OPENCLAW_SKIP_CRON", "0")
        .remove_env("OPENCLAW_OFFLINE")
        .build()
        .unwrap();
    let vars = env.env_vars();
    assert_eq!(vars["HOME"], env.home.display().to_string());
    assert_eq!(
        vars["OPENCLAW_STATE_DIR"],
        env.state_dir.display().to_string()
    );
    assert_eq!(vars["MODELSCOPE_API_KEY"], FAKE_API_KEY);
    assert_eq!(vars["OPENCLAW_GATEWAY_TOKEN"], GATEWAY_TOKEN);
    assert!(vars["PATH"].starts_with("/nonexistent/node/bin:"));
    assert_eq!(vars["OPENCLAW_SKIP_CRON"], "0");
    assert!(!vars.contains_key("OPENCLAW_OFFLINE"));
    assert_eq!(vars["OPENCLAW_NO_AUTO_UPDATE"], "1");
    let cmd = env.command(["--version"]);
    let envs: Vec<_> = cmd.get_envs().collect();
    assert!(
        envs.iter()
            .all(|(k, _)| vars.contains_key(k.to_str().unwrap())),
        "only our variables"
    );
    assert_eq!(cmd.get_program(), "/nonexistent/node/bin/node");
    let a = env.new_session_id();
    assert_ne!(a, env.new_session_id());
}

#[test]
fn log_lines_parse() {
    let raw = r#"{"0":"{\"subsystem\":\"gateway/reload\"}","1":"config hot reload applied (agents.defaults.model.primary)","_meta":{"runtime":"node","logLevelId":3,"logLevelName":"INFO"},"time":"2026-11-25T10:45:04.635+00:00","message":"config hot reload applied (agents.defaults.model.primary)"}"#;
    let l = LogLine::parse(raw).unwrap();
    assert_eq!(l.subsystem.as_deref(), Some("gateway/reload"));
    assert_eq!(l.level, "INFO");
    assert_eq!(
        l.message,
        "config hot reload applied (agents.defaults.model.primary)"
    );
    assert_eq!(l.time, "2026-11-25T10:45:04.635+00:00");
    // Without a top-level message (older lines): the string fields joined.
    let l = LogLine::parse(r#"{"0":"{\"subsystem\":\"gateway\"}","1":"gateway ready","_meta":{"logLevelName":"INFO"}}"#).unwrap();
    assert_eq!(l.message, "{\"subsystem\":\"gateway\"} | gateway ready");
    assert!(LogLine::parse("not json").is_none());
}

#[test]
fn turn_json_is_found_on_stdout_or_after_warnings_on_stderr() {
    let gw = "{\n  \"runId\": \"r\",\n  \"status\": \"ok\",\n  \"result\": {\"payloads\": [{\"text\": \"hi\"}], \"meta\": {\"agentMeta\": {\"provider\": \"modelscope\", \"model\": \"Q\"}}}\n}\n";
    let v = find_result_json(gw, "").unwrap();
    assert_eq!(v["status"], "ok");
    let stderr = "[plugins] x failed to load\n{ not json\n{\n  \"payloads\": [{\"text\": \"yo\"}],\n  \"meta\": {\"agentMeta\": {\"provider\": \"modelscope\", \"model\": \"G\"}}\n}\n";
    let v = find_result_json("", stderr).unwrap();
    assert_eq!(v["payloads"][0]["text"], "yo");
    assert!(find_result_json("nothing", "here").is_none());
}
