//! An in-process msclawd on temporary directories, the way pueue's tests start pueued.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use msclaw_shared::client::Client;
use msclaw_shared::paths::{ConfigRule, MsclawPaths, OpenClawPaths};
use msclaw_shared::{ReplyLine, Request, Response, Status};
use msclawd::clock::ShiftedClock;
use msclawd::settings::Settings;
use tokio_util::sync::CancellationToken;

/// Where one test's daemon and OpenClaw files live.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub socket: PathBuf,
    pub state_file: PathBuf,
    pub settings_file: PathBuf,
    pub openclaw_state: PathBuf,
    pub openclaw_config: PathBuf,
    pub gateway_log_dir: PathBuf,
}

impl Layout {
    pub fn in_dir(root: &Path) -> Self {
        let openclaw_state = root.join("openclaw");
        Self {
            root: root.to_owned(),
            socket: root.join("run/msclaw/msclawd.sock"),
            state_file: root.join("state/state.json"),
            settings_file: root.join("msclaw.toml"),
            openclaw_config: openclaw_state.join("openclaw.json"),
            openclaw_state,
            gateway_log_dir: root.join("gateway-log"),
        }
    }

    pub fn paths(&self) -> MsclawPaths {
        MsclawPaths {
            socket: self.socket.clone(),
            lock: msclaw_shared::paths::lock_path_for(&self.socket),
            state_file: self.state_file.clone(),
            settings: self.settings_file.clone(),
        }
    }

    pub fn openclaw_paths(&self) -> OpenClawPaths {
        OpenClawPaths {
            config: self.openclaw_config.clone(),
            state_dir: self.openclaw_state.clone(),
            rule: ConfigRule::Env,
        }
    }

    /// The environment a real `msclawd` process needs to use this layout.
    /// (`MSCLAW_CONFIG` only once [`Layout::settings`] wrote the file: a named file must exist.)
    pub fn env_vars(&self) -> Vec<(String, OsString)> {
        let mut vars = vec![
            ("MSCLAW_SOCKET".into(), self.socket.clone().into()),
            (
                "MSCLAW_STATE_DIR".into(),
                self.state_file.parent().unwrap().to_owned().into(),
            ),
            (
                "OPENCLAW_CONFIG_PATH".into(),
                self.openclaw_config.clone().into(),
            ),
            (
                "OPENCLAW_STATE_DIR".into(),
                self.openclaw_state.clone().into(),
            ),
            ("HOME".into(), self.root.clone().into()),
        ];
        if self.settings_file.exists() {
            vars.push(("MSCLAW_CONFIG".into(), self.settings_file.clone().into()));
        }
        vars
    }

    /// msclaw settings for tests: the gateway log in this layout, plus `extra` TOML.
    pub fn settings(&self, extra: &str) -> Settings {
        let text = format!(
            "gateway_log = {:?}\n{extra}",
            self.gateway_log_dir.display().to_string()
        );
        std::fs::write(&self.settings_file, &text).expect("write msclaw settings");
        Settings::parse(&text, &self.settings_file).expect("test settings parse")
    }
}

pub struct TestDaemon {
    pub layout: Layout,
    pub clock: Arc<ShiftedClock>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestDaemon {
    /// Starts msclawd in this process and waits until its socket answers.
    pub async fn start(layout: &Layout, settings: Settings) -> anyhow::Result<Self> {
        Self::start_with_clock(layout, settings, ShiftedClock::new()).await
    }

    pub async fn start_with_clock(
        layout: &Layout,
        settings: Settings,
        clock: Arc<ShiftedClock>,
    ) -> anyhow::Result<Self> {
        Self::start_with(layout, settings, clock, Arc::new(|_: &str| None)).await
    }

    /// With the environment the daemon sees (e.g. an API key variable the config names).
    pub async fn start_with_env(
        layout: &Layout,
        settings: Settings,
        env: msclawd::EnvMap,
    ) -> anyhow::Result<Self> {
        Self::start_with(layout, settings, ShiftedClock::new(), env).await
    }

    pub async fn start_with(
        layout: &Layout,
        settings: Settings,
        clock: Arc<ShiftedClock>,
        env: msclawd::EnvMap,
    ) -> anyhow::Result<Self> {
        let opts = msclawd::DaemonOptions {
            paths: layout.paths(),
            openclaw: layout.openclaw_paths(),
            profile: None,
            settings,
            clock: clock.clone(),
            env,
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(msclawd::run(opts, shutdown.clone()));
        let daemon = Self {
            layout: layout.clone(),
            clock,
            shutdown,
            task: Some(task),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut client) = Client::connect(&layout.socket).await
                && client.request(&Request::Version).await.is_ok()
            {
                return Ok(daemon);
            }
            if daemon.task.as_ref().is_some_and(|t| t.is_finished()) {
                let mut daemon = daemon;
                let result = daemon.task.take().unwrap().await?;
                anyhow::bail!("msclawd stopped at start: {:?}", result.err());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "msclawd did not answer within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs msclawd to completion (for start-up failures); `run`'s result.
    pub async fn run_to_end(layout: &Layout, settings: Settings) -> anyhow::Result<()> {
        let opts = msclawd::DaemonOptions {
            paths: layout.paths(),
            openclaw: layout.openclaw_paths(),
            profile: None,
            settings,
            clock: ShiftedClock::new(),
            env: Arc::new(|_: &str| None),
        };
        let shutdown = CancellationToken::new();
        tokio::time::timeout(Duration::from_secs(10), msclawd::run(opts, shutdown)).await?
    }

    pub async fn request(&self, request: &Request) -> anyhow::Result<ReplyLine> {
        let mut client = Client::connect(&self.layout.socket).await?;
        Ok(client.request(request).await?)
    }

    pub async fn status(&self) -> anyhow::Result<Status> {
        match self.request(&Request::Status).await?.reply {
            Ok(Response::Status(status)) => Ok(*status),
            other => anyhow::bail!("unexpected status reply: {other:?}"),
        }
    }

    /// Polls status until `pred` holds (the daemon acts on file events asynchronously).
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Status) -> bool,
    ) -> anyhow::Result<Status> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            if pred(&status) {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "timed out after {timeout:?} waiting for {what}; last status:\n{}",
                    serde_json::to_string_pretty(&status)?
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops it the way SIGTERM does and returns what `run` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The daemon process, killed if the test ends early (a failed assertion) so none is left running.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The relay token [`start_with_relay`] stores (what OpenClaw would send with the relay on).
pub const RELAY_TOKEN: &str = "7e57000000000000000000000000000000000000000000000000000000007e57";
/// The real key [`start_with_relay`] stores: what the relay sends upstream instead of the token.
pub const RELAY_REAL_KEY: &str = "ms-test-relay-SECRET";

/// Writes msclaw's relay store as `msclawctl relay on` would: the relay `token`, and `real_url`
/// and `real_key` (a literal) as the provider's real `baseUrl` and `apiKey`. (A test that leaves
/// OpenClaw's config as it is passes the key OpenClaw sends as the token.)
pub fn write_relay_store(
    layout: &Layout,
    token: &str,
    relay_url: &str,
    real_url: &str,
    real_key: &str,
) {
    use msclawd::openclaw::base_url::{KeptEntry, KeptProvider, json_string};
    use msclawd::relay::store::{RelayStore, StoredUpstream, save, store_path};
    let kept = KeptProvider {
        config: KeptEntry {
            base_url_raw: json_string(real_url),
            api_key_raw: Some(json_string(real_key)),
        },
        copies: Default::default(),
    };
    let store = RelayStore {
        token: token.to_owned(),
        providers: [(
            "modelscope".to_owned(),
            StoredUpstream {
                relay_url: relay_url.to_owned(),
                kept,
            },
        )]
        .into(),
    };
    save(&store_path(&layout.paths()), &store).unwrap();
}

/// A daemon with its relay on in front of `fake` (OpenClaw's `baseUrl` already points at it) and
/// `daily_limit = limit`; returns the dir to keep, the layout, the daemon and the relay's `/v1` URL.
pub async fn start_with_relay(
    fake: &crate::fake_modelscope::FakeModelScope,
    limit: &str,
) -> (tempfile::TempDir, Layout, TestDaemon, String) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let port = crate::openclaw::free_port().unwrap();
    let relay_url = format!("http://127.0.0.1:{port}/v1");
    std::fs::write(
        &layout.openclaw_config,
        crate::transcripts::guide_config(&relay_url, ""),
    )
    .unwrap();
    let settings = format!(
        "daily_limit = {limit}\n[relay]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\n",
        fake.base_url()
    );
    write_relay_store(
        &layout,
        RELAY_TOKEN,
        &relay_url,
        &fake.base_url(),
        RELAY_REAL_KEY,
    );
    let daemon = TestDaemon::start(&layout, layout.settings(&settings))
        .await
        .unwrap();
    daemon
        .wait_for("config read", Duration::from_secs(10), |s| {
            s.active_model.is_some()
        })
        .await
        .unwrap();
    (dir, layout, daemon, relay_url)
}
