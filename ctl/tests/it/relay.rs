//! `msclawctl relay on|off`: OpenClaw's provider goes through msclawd's relay and back, with
//! nothing else in either config file changed. With the relay on OpenClaw holds only the relay
//! token; the real key is in msclaw's 0600 store and reaches upstream through msclawd alone.

use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, QWEN};
use msclaw_tests::transcripts;

async fn msclawctl(layout: &Layout, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_msclawctl"))
        .args(args)
        .env("HOME", &layout.root)
        .env("MSCLAW_SOCKET", &layout.socket)
        .env("MSCLAW_CONFIG", &layout.settings_file)
        .env("MSCLAW_STATE_DIR", layout.state_file.parent().unwrap())
        .env("OPENCLAW_CONFIG_PATH", &layout.openclaw_config)
        .env("OPENCLAW_STATE_DIR", &layout.openclaw_state)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn relay_on_routes_openclaw_through_msclawd_and_off_puts_the_real_url_back() {
    let fake = FakeModelScope::start(FakeConfig {
        require_api_key: Some(REAL_KEY.into()),
        ..FakeConfig::all_models_quota(10)
    });
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(layout.openclaw_state.join("agents/main/agent")).unwrap();
    let original = transcripts::guide_config(&fake.base_url(), "");
    std::fs::write(&layout.openclaw_config, &original).unwrap();
    // The key as the gateway gets it: from OpenClaw's .env (msclawd reads it there too).
    std::fs::write(
        layout.openclaw_state.join(".env"),
        format!("MODELSCOPE_API_KEY={REAL_KEY}\n"),
    )
    .unwrap();
    // OpenClaw <= 2026.7 keeps a copy of the providers whose baseUrl wins over the config.
    let models_json = layout.openclaw_state.join("agents/main/agent/models.json");
    let copy = format!(
        "{{\n  \"providers\": {{\n    \"modelscope\": {{\n      \"baseUrl\": \"{}\",\n      \"apiKey\": \"ms-test-copy\"\n    }}\n  }}\n}}\n",
        fake.base_url()
    );
    std::fs::write(&models_json, &copy).unwrap();
    std::fs::write(
        &layout.settings_file,
        "# my msclaw settings\ndaily_limit = 500\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let relay_url = format!("http://127.0.0.1:{port}/v1");

    let out = msclawctl(
        &layout,
        &["relay", "on", "--listen", &format!("127.0.0.1:{port}")],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = stored_token(&layout);
    let config = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert_eq!(
        config,
        original
            .replace(&fake.base_url(), &relay_url)
            .replace("${MODELSCOPE_API_KEY}", &token),
        "only baseUrl and apiKey changed"
    );
    assert_eq!(
        std::fs::read_to_string(&models_json).unwrap(),
        copy.replace(&fake.base_url(), &relay_url)
            .replace("ms-test-copy", &token)
    );
    let settings_text = std::fs::read_to_string(&layout.settings_file).unwrap();
    assert!(
        settings_text.starts_with("# my msclaw settings\ndaily_limit = 500\n"),
        "{settings_text}"
    );
    assert!(
        settings_text.contains(&format!("upstream = \"{}\"", fake.base_url())),
        "{settings_text}"
    );

    // The daemon started on those settings relays and counts.
    let settings = msclawd::settings::Settings::load(&layout.settings_file).unwrap();
    let daemon = TestDaemon::start(&layout, settings).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{relay_url}/chat/completions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"model": QWEN, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let status = daemon
        .wait_for("a relayed call", std::time::Duration::from_secs(10), |s| {
            s.models.first().and_then(|m| m.relay_calls) == Some(1)
        })
        .await
        .unwrap();
    assert_eq!(status.relay.unwrap().relayed, 1);
    assert_eq!(fake.count_model(QWEN), 1);
    daemon.stop().await.unwrap();

    let out = msclawctl(&layout, &["relay", "off"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original
    );
    assert_eq!(std::fs::read_to_string(&models_json).unwrap(), copy);
    assert!(
        std::fs::read_to_string(&layout.settings_file)
            .unwrap()
            .contains("enabled = false")
    );
    let status = msclawctl(&layout, &["relay", "status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["openclaw_uses_relay"], false);
}

const REAL_KEY: &str = "ms-real-key-only-upstream-sees";

/// The relay token `relay on` stored (and wrote into OpenClaw's apiKey).
fn stored_token(layout: &Layout) -> String {
    let path = layout.state_file.with_file_name("relay-upstreams.json");
    assert_eq!(
        msclawd::openclaw::atomic_write::file_mode(&path),
        Some(0o600),
        "the store is private"
    );
    let store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let token = store["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    token
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn relay_on_twice_or_on_another_address_keeps_the_real_url_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let real = "https://my-proxy.example/modelscope/v1/";
    let original = transcripts::guide_config(real, "");
    std::fs::write(&layout.openclaw_config, &original).unwrap();
    let (a, b) = (
        msclaw_tests::openclaw::free_port().unwrap(),
        msclaw_tests::openclaw::free_port().unwrap(),
    );
    let listen_a = format!("127.0.0.1:{a}");
    let listen_b = format!("127.0.0.1:{b}");
    ok(&msclawctl(&layout, &["relay", "on", "--listen", &listen_a]).await);
    let token = stored_token(&layout);
    ok(&msclawctl(&layout, &["relay", "on", "--listen", &listen_a]).await);
    ok(&msclawctl(&layout, &["relay", "on", "--listen", &listen_b]).await);
    assert_eq!(stored_token(&layout), token, "one token per install");
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original
            .replace(real, &format!("http://{listen_b}/v1"))
            .replace("${MODELSCOPE_API_KEY}", &token)
    );
    let settings = std::fs::read_to_string(&layout.settings_file).unwrap();
    assert!(
        settings.contains(&format!("upstream = \"{real}\"")),
        "{settings}"
    );
    // Status names the real upstream, never the key or the token.
    let out = ok(&msclawctl(&layout, &["relay", "status"]).await);
    assert!(out.contains(&format!("upstream {real}")), "{out}");
    assert!(!out.contains(&token), "{out}");
    let out = msclawctl(&layout, &["relay", "status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["upstream"], real);
    assert_eq!(json["openclaw_uses_relay"], true);
    // Off after all that: the file as it was, byte for byte.
    ok(&msclawctl(&layout, &["relay", "off"]).await);
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original
    );
    let out = ok(&msclawctl(&layout, &["relay", "status"]).await);
    assert!(out.contains(&format!("upstream {real}")), "{out}");
    println!("relay on A, on A, on B, off: real URL kept 3/3, config byte-identical after off");
}

#[tokio::test]
async fn relay_on_never_takes_a_relay_for_the_real_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let port = msclaw_tests::openclaw::free_port().unwrap();
    // msclaw's own [relay] upstream naming its own listen address: refused when loaded.
    std::fs::write(
        &layout.settings_file,
        format!(
            "[relay]\nlisten = \"127.0.0.1:{port}\"\nupstream = \"http://localhost:{port}/v1\"\n"
        ),
    )
    .unwrap();
    let original = transcripts::guide_config(&format!("http://127.0.0.1:{port}/v1"), "");
    std::fs::write(&layout.openclaw_config, &original).unwrap();
    let out = msclawctl(&layout, &["relay", "on"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forward to itself"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original
    );
    // An apiKey msclawd could not resolve (an exec SecretRef) is not moved.
    std::fs::remove_file(&layout.settings_file).unwrap();
    let exec_ref = transcripts::guide_config("https://api-inference.modelscope.cn/v1/", "")
        .replace(
            "\"${MODELSCOPE_API_KEY}\"",
            "{ source: \"exec\", provider: \"vault\", id: \"k\" }",
        );
    std::fs::write(&layout.openclaw_config, &exec_ref).unwrap();
    let out = msclawctl(&layout, &["relay", "on"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SecretRef"));
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        exec_ref
    );
}

#[tokio::test]
async fn doctor_fails_plainly_when_openclaw_goes_through_a_relay_nobody_runs() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::write(
        &layout.openclaw_config,
        transcripts::guide_config("https://api-inference.modelscope.cn/v1/", ""),
    )
    .unwrap();
    let out = msclawctl(&layout, &["relay", "on"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = msclawctl(&layout, &["doctor", "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let relay = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "relay")
        .unwrap();
    assert_eq!(relay["level"], "fail");
    assert!(
        relay["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach ModelScope"),
        "{relay}"
    );
    // Someone else on the relay's port while msclawd is down: named, with its uid.
    let squatter = std::net::TcpListener::bind("127.0.0.1:18790");
    if squatter.is_ok() {
        let out = msclawctl(&layout, &["doctor", "--json"]).await;
        assert_eq!(out.status.code(), Some(1));
        let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let relay = checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "relay")
            .unwrap();
        let message = relay["message"].as_str().unwrap();
        let uid = rustix::process::getuid().as_raw();
        assert!(
            message.contains(&format!("port 18790 is taken by a process of uid {uid}")),
            "{message}"
        );
    }
}

const OPENROUTER_KEY: &str = "sk-or-real-key-only-its-upstream-sees";

/// The guide's config plus an `openrouter` provider at `openrouter_url`, its key an env SecretRef.
fn two_provider_config(modelscope_url: &str, openrouter_url: &str) -> String {
    let config = transcripts::guide_config(modelscope_url, "");
    let openrouter = format!(
        "      openrouter: {{\n        baseUrl: '{openrouter_url}', // the real one\n        apiKey: {{ source: \"env\", provider: \"default\", id: \"OPENROUTER_API_KEY\" }},\n        api: \"openai-completions\",\n        models: [{{ id: \"{QWEN}\", name: \"a free model\" }}],\n      }},\n"
    );
    let end_of_providers = "    },\n  },\n  agents:";
    assert!(config.contains(end_of_providers));
    config.replacen(
        end_of_providers,
        &format!("{openrouter}{end_of_providers}"),
        1,
    )
}

#[tokio::test]
async fn relay_on_with_a_second_provider_fronts_each_with_its_own_key_and_off_restores_both() {
    let modelscope = FakeModelScope::start(FakeConfig {
        require_api_key: Some(REAL_KEY.into()),
        ..FakeConfig::all_models_quota(10)
    });
    let openrouter = FakeModelScope::start(FakeConfig {
        require_api_key: Some(OPENROUTER_KEY.into()),
        ..FakeConfig::all_models_quota(10)
    });
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let original = two_provider_config(&modelscope.base_url(), &openrouter.base_url());
    std::fs::write(&layout.openclaw_config, &original).unwrap();
    std::fs::write(
        layout.openclaw_state.join(".env"),
        format!("MODELSCOPE_API_KEY={REAL_KEY}\nOPENROUTER_API_KEY={OPENROUTER_KEY}\n"),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", msclaw_tests::openclaw::free_port().unwrap());
    let on = [
        "relay",
        "on",
        "--listen",
        &listen,
        "--provider",
        "openrouter",
    ];
    ok(&msclawctl(&layout, &on).await);
    let token = stored_token(&layout);
    let relayed = original
        .replace(&modelscope.base_url(), &format!("http://{listen}/v1"))
        .replace("${MODELSCOPE_API_KEY}", &token)
        .replace(
            &format!("'{}'", openrouter.base_url()),
            &format!("\"http://{listen}/openrouter/v1\""),
        )
        .replace(
            "{ source: \"env\", provider: \"default\", id: \"OPENROUTER_API_KEY\" }",
            &format!("\"{token}\""),
        );
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        relayed,
        "only each provider's baseUrl and apiKey changed"
    );
    // Again: nothing moves (the real URLs and keys stay in the store).
    ok(&msclawctl(&layout, &on).await);
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        relayed
    );
    let store: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(layout.state_file.with_file_name("relay-upstreams.json")).unwrap(),
    )
    .unwrap();
    let kept: Vec<&String> = store["providers"].as_object().unwrap().keys().collect();
    assert_eq!(kept, ["modelscope", "openrouter"]);

    // Status lists each provider with its real upstream, never a key or the token.
    let out = ok(&msclawctl(&layout, &["relay", "status"]).await);
    assert!(
        out.contains(&format!(
            "provider openrouter (upstream {}): OpenClaw's baseUrl http://{listen}/openrouter/v1 goes through the relay",
            openrouter.base_url()
        )),
        "{out}"
    );
    assert!(
        !out.contains(&token) && !out.contains(OPENROUTER_KEY) && !out.contains(REAL_KEY),
        "{out}"
    );
    let out = msclawctl(&layout, &["relay", "status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["upstream"], modelscope.base_url());
    assert_eq!(json["providers"][1]["provider"], "openrouter");
    assert_eq!(json["providers"][1]["upstream"], openrouter.base_url());
    assert_eq!(json["providers"][1]["openclaw_uses_relay"], true);

    // The daemon on those settings: each provider's path reaches its own upstream with its key.
    let settings = msclawd::settings::Settings::load(&layout.settings_file).unwrap();
    let daemon = TestDaemon::start(&layout, settings).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for base in [
        format!("http://{listen}/v1"),
        format!("http://{listen}/openrouter/v1"),
    ] {
        let response = client
            .post(format!("{base}/chat/completions"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"model": QWEN, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{base}");
    }
    let response = client
        .post(format!("http://{listen}/ollama/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"model": QWEN, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404, "a provider not fronted");
    assert_eq!(modelscope.count_model(QWEN), 1);
    assert_eq!(openrouter.count_model(QWEN), 1);
    daemon.stop().await.unwrap();

    ok(&msclawctl(&layout, &["relay", "off"]).await);
    assert_eq!(
        std::fs::read_to_string(&layout.openclaw_config).unwrap(),
        original,
        "both providers back, byte for byte"
    );
    let store: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(layout.state_file.with_file_name("relay-upstreams.json")).unwrap(),
    )
    .unwrap();
    assert!(store["providers"].as_object().unwrap().is_empty());
    println!("relay on --provider openrouter twice, a call through each, off: both byte-identical");
}
