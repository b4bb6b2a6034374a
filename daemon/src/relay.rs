//! The metering relay: an OpenAI-compatible endpoint on loopback that OpenClaw's provider
//! `baseUrl` points at. It forwards `/v1/*` to ModelScope (the rotation provider), and
//! `/<provider>/v1/*` to that provider's real base URL, unchanged (bodies streamed, SSE chunk by
//! chunk) and, on the way, sees every chat completion:
//!
//! - it reports each one to the daemon as a [`RelayObservation`] (provider from the path, model
//!   id from the body, outcome
//!   from the status, ModelScope's rate-limit headers when present), never waiting on the daemon;
//! - for a model the daemon holds spent ([`RelayPolicyView`]) it answers a 429 itself, without
//!   reaching ModelScope, in words that make OpenClaw fall back at once ("daily quota exceeded",
//!   "requests per day") instead of retrying the same model for ~150 s;
//! - when ModelScope answers 429, it asks the [`Judge`] whether the model is spent or merely
//!   throttled, and rewrites the body into those words only when spent.
//!
//! Only the user's OpenClaw may use it: a request must carry the install's relay token (OpenClaw's
//! provider `apiKey` while the relay is on); without it the answer is 401 and nothing is observed.
//! The token is swapped for the real key on the way upstream ([`RelayAuth`]), so whoever holds
//! the port while msclawd does not gets the token only. Neither is logged, stored by the relay or
//! put into a message (an upstream error detail that echoes one is redacted).

mod auth;
mod body;
mod forward;
mod health;
pub mod inspect;
mod judge;
pub mod port_owner;
pub mod real_key;
mod routes;
mod server;
pub mod store;
#[cfg(test)]
mod tests;
mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::quota_calendar::QuotaCalendar;

pub use auth::{HOP_HEADER, RelayAuth, new_token};
use forward::Shared;
use health::Stats;
pub use health::{ModelCounts, QuotaSeen, RelayHealth};
pub use inspect::QuotaHeaders;
use judge::Streaks;
pub use judge::{Judge, Judgement, RateLimitSeen, consecutive_judge};
use routes::Routes;
pub use routes::is_provider_id;
pub use server::connection_cap;
use upstream::Upstream;
pub use upstream::is_loopback_url;

/// Whether a relay listening at `listen` would forward to itself with `upstream` as its upstream
/// (a loopback host on the same port). An unparsable upstream is not judged here.
pub fn forwards_to_itself(upstream: &str, listen: SocketAddr) -> bool {
    Upstream::parse(upstream).is_ok_and(|u| u.is_relay_at(listen))
}

/// The largest request body the relay takes (413 over it); a chat completion's is read whole
/// to find its `model`.
pub const MAX_REQUEST_BODY: usize = 8 << 20;
/// How long a client may take by default to send a chat completion's body once its headers
/// came (408).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// What the chat completion bodies being read may hold in memory together (503 over it).
pub const BODY_MEMORY_BUDGET: usize = 64 << 20;
/// The longest `model` the relay counts or reports (real ids are well under 100 bytes).
pub const MAX_MODEL_ID: usize = 256;
/// A non-streaming completion sends its headers only when the whole answer is ready: be patient.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const LOG_TARGET: &str = "msclawd::relay";

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// A loopback address; port 0 picks a free one (see [`Relay::local_addr`]).
    pub listen: SocketAddr,
    /// The rotation provider's id: `/v1` stands for it, and so does `/<provider>/v1`.
    pub provider: String,
    /// The upstream base that `/v1` stands for, e.g. `https://api-inference.modelscope.cn/v1/`.
    pub upstream: String,
    /// The other providers the relay fronts, at `/<provider>/v1`, by provider id.
    pub others: BTreeMap<String, ProviderUpstream>,
    /// How long upstream may take to send response headers before the client gets a 504.
    pub header_timeout: Duration,
    /// How long a client may take to send a chat completion's body (408 after it).
    pub body_timeout: Duration,
    /// The time stamped on observations and used for quota days (the daemon's clock).
    pub clock: Arc<dyn Clock>,
    /// The token clients must show, and the rotation provider's key that goes upstream in its
    /// place.
    pub auth: RelayAuth,
}

/// Another provider's real base URL and key (the relay token stays the same).
#[derive(Clone)]
pub struct ProviderUpstream {
    pub upstream: String,
    /// None: nothing goes upstream in `Authorization` (a local model server needs no key).
    pub key: Option<String>,
}

impl ProviderUpstream {
    pub fn new(upstream: impl Into<String>, key: Option<String>) -> Self {
        Self {
            upstream: upstream.into(),
            key,
        }
    }
}

impl std::fmt::Debug for ProviderUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderUpstream")
            .field("upstream", &self.upstream)
            .field("key", &self.key.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

impl RelayConfig {
    pub fn new(listen: SocketAddr, upstream: impl Into<String>, auth: RelayAuth) -> Self {
        Self {
            listen,
            provider: crate::modelscope::PROVIDER.to_owned(),
            upstream: upstream.into(),
            others: BTreeMap::new(),
            auth,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: BODY_READ_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }

    /// Fronts `provider` too, at `/<provider>/v1`.
    pub fn with_provider(
        mut self,
        provider: impl Into<String>,
        upstream: ProviderUpstream,
    ) -> Self {
        self.others.insert(provider.into(), upstream);
        self
    }
}

/// Why a model is held spent, as the daemon tells the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpentInfo {
    pub reason: String,
    /// When the model has quota again, RFC 3339 (as [`QuotaCalendar::format`] writes it).
    pub resets_at: String,
}

/// The models the daemon holds spent, keyed by `provider/model` ([`model_ref`]: the provider the
/// request went to, the model id its body names). Cheap to clone and read.
#[derive(Debug, Clone, Default)]
pub struct RelayPolicyView {
    spent: Arc<RwLock<HashMap<String, SpentInfo>>>,
}

impl RelayPolicyView {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the whole set of spent models.
    pub fn set_spent(&self, spent: HashMap<String, SpentInfo>) {
        *self.spent.write().unwrap_or_else(|e| e.into_inner()) = spent;
    }

    /// Whether `model` (as the body names it) of `provider` is held spent.
    pub fn is_spent(&self, provider: &str, model: &str) -> Option<SpentInfo> {
        self.spent
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&model_ref(provider, model))
            .cloned()
    }

    pub fn spent(&self) -> HashMap<String, SpentInfo> {
        self.spent.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `provider/model`: how msclaw names a model of a provider (`modelscope/Qwen/Qwen3.5-397B-A17B`).
pub fn model_ref(provider: &str, model: &str) -> String {
    format!("{provider}/{model}")
}

/// One chat completion, as the relay saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayObservation {
    /// The provider the request went to (from its path: `/v1` is the rotation provider).
    pub provider: String,
    /// The body's `model`, e.g. `Qwen/Qwen3.5-397B-A17B`.
    pub model: String,
    pub at: Timestamp,
    pub outcome: RelayOutcome,
    /// ModelScope's rate-limit headers on the response, when present.
    pub quota: QuotaHeaders,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RelayOutcome {
    /// 2xx: a call ModelScope served.
    Success,
    /// 429 from upstream, or a balance error (402, or a 403 saying the balance is gone),
    /// whatever the judge then said.
    RateLimited,
    /// 404, or 400 saying "has no provider supported": the model is not served.
    Gone { detail: String },
    /// Any other error; `status` is None when upstream gave no HTTP answer (unreachable, too
    /// slow, not HTTP).
    Failed { status: Option<u16>, detail: String },
    /// Answered by the relay for a model held spent: never reached ModelScope, not a call.
    AnsweredLocally,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the relay listens on loopback only, not {0}")]
    NotLoopback(SocketAddr),
    #[error("upstream {0}")]
    BadUpstream(String),
    #[error(
        "the upstream {upstream} is the relay itself (it listens on {listen}): it would forward to itself"
    )]
    ForwardsToItself {
        upstream: String,
        listen: SocketAddr,
    },
    #[error("port {} on {} is taken by {}: the relay does not start there (OpenClaw would hand that process its relay token). Stop it, or move the relay with `msclawctl relay on --listen 127.0.0.1:<free port>`", addr.port(), addr.ip(), owner.map_or("another process (owner not visible)".to_owned(), |uid| format!("a process of uid {uid}")))]
    PortTaken {
        addr: SocketAddr,
        owner: Option<u32>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the upstream client: {0}")]
    Client(String),
}

/// The running relay. Dropping it stops it; [`Relay::shutdown`] also waits for it.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    pub async fn start(
        cfg: RelayConfig,
        view: RelayPolicyView,
        judge: Judge,
        observations: mpsc::Sender<RelayObservation>,
        quota_calendar: QuotaCalendar,
    ) -> Result<Relay, RelayError> {
        if !cfg.listen.ip().is_loopback() {
            return Err(RelayError::NotLoopback(cfg.listen));
        }
        let routes = Routes::build(&cfg)?;
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| match source.kind() {
                    std::io::ErrorKind::AddrInUse => RelayError::PortTaken {
                        addr: cfg.listen,
                        owner: port_owner::listening_uid(cfg.listen),
                    },
                    _ => RelayError::Bind {
                        addr: cfg.listen,
                        source,
                    },
                })?;
        let addr = listener.local_addr().map_err(|source| RelayError::Bind {
            addr: cfg.listen,
            source,
        })?;
        // Port 0 may have picked an upstream's own port.
        routes.check_listen(addr)?;
        let shared = Arc::new(Shared {
            stats: Stats::new(addr, routes.rotation.upstream.display.clone()),
            routes,
            header_timeout: cfg.header_timeout,
            body_timeout: cfg.body_timeout,
            clock: cfg.clock,
            quota_calendar,
            view,
            judge,
            observations,
            streaks: Streaks::default(),
            body_budget: Arc::new(tokio::sync::Semaphore::new(BODY_MEMORY_BUDGET / 1024)),
        });
        let cancel = CancellationToken::new();
        let task = tokio::spawn(server::serve(listener, shared.clone(), cancel.clone()));
        for route in shared.routes.all() {
            tracing::info!(target: LOG_TARGET, listen = %addr, provider = route.provider, upstream = %route.upstream.display, "relay listening");
        }
        Ok(Relay {
            addr,
            shared,
            cancel,
            task: Some(task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give OpenClaw as the rotation provider's `baseUrl`:
    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL to give OpenClaw as another provider's `baseUrl`:
    /// `http://127.0.0.1:PORT/<provider>/v1`.
    pub fn provider_base_url(&self, provider: &str) -> String {
        format!("http://{}/{provider}/v1", self.addr)
    }

    pub fn health(&self) -> RelayHealth {
        self.shared.stats.snapshot()
    }

    /// Stops accepting, lets responses in flight finish (a few seconds at most), and returns.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
