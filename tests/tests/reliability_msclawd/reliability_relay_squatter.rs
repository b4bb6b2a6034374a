//! Nobody but the user gets the key through the relay: a process of another uid that holds the
//! relay's port while msclawd is down gets one OpenClaw-shaped request and sees only the relay
//! token; msclawd then refuses to start the relay there, naming the port and that uid; once the
//! port is free the real key reaches upstream through msclawd alone. Needs root (setuid), as
//! `reliability_access` does.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, QWEN};
use msclaw_tests::transcripts;
use msclawd::openclaw::base_url;
use msclawd::relay::real_key::{self, KeySources};
use msclawd::relay::store::{self, RelayStore, StoredUpstream};

const OTHER_UID: u32 = 65534;
const REAL_KEY: &str = "ms-real-key-4f1d-only-for-modelscope";

/// The provider's apiKey as OpenClaw sends it: the value in its config, `${VAR}` resolved from
/// its `.env`.
fn openclaw_bearer(layout: &Layout) -> String {
    let text = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    let at = ["models", "providers", "modelscope", "apiKey"];
    let (_, raw) = base_url::swap_raw_at(&text, &at, "\"\"", &layout.openclaw_config).unwrap();
    let no_env = |_: &str| None;
    let sources = KeySources {
        env: &no_env,
        dotenv: &layout.openclaw_state.join(".env"),
    };
    real_key::resolve(&raw, &sources).unwrap()
}

async fn openclaw_turn(layout: &Layout, relay_url: &str) -> Option<u16> {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{relay_url}/chat/completions"))
        .bearer_auth(openclaw_bearer(layout))
        .json(&serde_json::json!({"model": QWEN, "messages": [{"role": "user", "content": "hi"}]}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn a_port_squatter_of_another_uid_gets_the_token_never_the_key() {
    let me = rustix::process::getuid();
    assert!(
        me.is_root(),
        "this test runs a port squatter as another uid (uid {OTHER_UID}), which needs root (setuid); \
         it runs as uid {}. Run the test suite as root (CI does).",
        me.as_raw()
    );
    let fake = FakeModelScope::start(FakeConfig {
        require_api_key: Some(REAL_KEY.into()),
        ..FakeConfig::all_models_quota(100)
    });
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::write(
        &layout.openclaw_config,
        transcripts::guide_config(&fake.base_url(), ""),
    )
    .unwrap();
    std::fs::write(
        layout.openclaw_state.join(".env"),
        format!("MODELSCOPE_API_KEY={REAL_KEY}\n"),
    )
    .unwrap();
    assert_eq!(
        openclaw_bearer(&layout),
        REAL_KEY,
        "before: OpenClaw sends the real key"
    );

    // `relay on`, as msclawctl does it: the real baseUrl and apiKey into the store, the relay's URL
    // and token into OpenClaw's config.
    let port = msclaw_tests::openclaw::free_port().unwrap();
    let relay_url = format!("http://127.0.0.1:{port}/v1");
    let token = msclawd::relay::new_token().unwrap();
    let kept = base_url::point_at_relay(
        &layout.openclaw_config,
        &layout.openclaw_state,
        "modelscope",
        &relay_url,
        &token,
        &mut |_| Ok(()),
    )
    .unwrap();
    let store_file = store::store_path(&layout.paths());
    let upstream = StoredUpstream {
        relay_url: relay_url.clone(),
        kept,
    };
    let stored = RelayStore {
        token: token.clone(),
        providers: [("modelscope".to_owned(), upstream)].into(),
    };
    store::save(&store_file, &stored).unwrap();
    let settings = format!(
        "[relay]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\n",
        fake.base_url()
    );
    let config_text = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert!(!config_text.contains(REAL_KEY) && !config_text.contains("MODELSCOPE_API_KEY"));

    // Another uid takes the port while msclawd is not running.
    let helper_dir = tempfile::Builder::new()
        .prefix("msclaw-squat-helper-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(helper_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper = helper_dir.path().join("msclaw-reliability-helper");
    std::fs::copy(env!("CARGO_BIN_EXE_msclaw-reliability-helper"), &helper).unwrap();
    let mut squatter = Command::new(&helper)
        .args(["squat", &format!("127.0.0.1:{port}")])
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(squatter.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");

    // msclawd refuses to start the relay on a taken port, naming it and its owner.
    let err = TestDaemon::start(&layout, layout.settings(&settings))
        .await
        .err()
        .expect("msclawd must not start its relay on a taken port");
    let err = format!("{err:#}")
        .lines()
        .find(|l| l.contains("is taken by"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(
        err.contains(&format!("port {port}")) && err.contains(&format!("uid {OTHER_UID}")),
        "{err}"
    );

    // One OpenClaw turn meanwhile: the squatter sees the token only.
    let _ = openclaw_turn(&layout, &relay_url).await;
    line.clear();
    out.read_line(&mut line).unwrap();
    let seen = line
        .trim()
        .strip_prefix("authorization ")
        .unwrap()
        .to_owned();
    assert_eq!(seen, format!("Bearer {token}"));
    assert!(!seen.contains(REAL_KEY));
    squatter.wait().unwrap();

    // The port free again: msclawd starts and the real key reaches upstream through it only.
    let daemon = TestDaemon::start(&layout, layout.settings(&settings))
        .await
        .unwrap();
    assert_eq!(openclaw_turn(&layout, &relay_url).await, Some(200));
    let got: Vec<_> = fake
        .requests()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect();
    assert_eq!(got, [format!("Bearer {REAL_KEY}")]);
    daemon.stop().await.unwrap();
    println!(
        "squatter uid {OTHER_UID} on port {port}: got the relay token, the real key 0 times; msclawd refused: {err}; \
         upstream got the real key 1/1, via msclawd"
    );
}
