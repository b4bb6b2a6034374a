//! The metering relay: an OpenAI-compatible endpoint on loopback that OpenClaw's provider
//! `baseUrl` points at. It forwards `/v1/*` to ModelScope unchanged (bodies streamed, SSE chunk by
//! chunk) and, on the way, sees every chat completion:
//!
//! - it reports each one to the daemon as a [`RelayObservation`] (model id from the body, outcome
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
mod server;
pub mod store;
#[cfg(test)]
mod tests;
mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::header::HeaderMap;
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
pub use server::connection_cap;
use upstream::{Upstream, error_chain};

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
    /// The upstream base that `/v1` stands for, e.g. `https://api-inference.modelscope.cn/v1/`.
    pub upstream: String,
    /// How long upstream may take to send response headers before the client gets a 504.
    pub header_timeout: Duration,
    /// How long a client may take to send a chat completion's body (408 after it).
    pub body_timeout: Duration,
    /// The time stamped on observations and used for quota days (the daemon's clock).
    pub clock: Arc<dyn Clock>,
    /// The token clients must show, and the key that goes upstream in its place.
    pub auth: RelayAuth,
}

impl RelayConfig {
    pub fn new(listen: SocketAddr, upstream: impl Into<String>, auth: RelayAuth) -> Self {
        Self {
            listen,
            upstream: upstream.into(),
            auth,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: BODY_READ_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why a model is held spent, as the daemon tells the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpentInfo {
    pub reason: String,
    /// When the model has quota again, RFC 3339 (as [`QuotaCalendar::format`] writes it).
    pub resets_at: String,
}

/// The models the daemon holds spent, keyed by model id as request bodies name them
/// (`Qwen/Qwen3.5-397B-A17B`, without the `modelscope/` provider prefix). Cheap to clone and read.
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

    pub fn is_spent(&self, model: &str) -> Option<SpentInfo> {
        self.spent
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(model)
            .cloned()
    }

    pub fn spent(&self) -> HashMap<String, SpentInfo> {
        self.spent.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One chat completion, as the relay saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayObservation {
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
    /// 429 from upstream (whatever the judge then said).
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
        let upstream = Upstream::parse(&cfg.upstream)?;
        let to_itself = |listen| RelayError::ForwardsToItself {
            upstream: upstream.display.clone(),
            listen,
        };
        if upstream.is_relay_at(cfg.listen) {
            return Err(to_itself(cfg.listen));
        }
        let mut builder = reqwest::Client::builder()
            // Nothing added to what the client sent (reqwest would add `accept: */*`).
            .default_headers(HeaderMap::new())
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90));
        if upstream.is_loopback() {
            // A proxy from the environment must not capture traffic meant for this machine.
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| RelayError::Client(error_chain(&e)))?;
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
        if upstream.is_relay_at(addr) {
            // Port 0 picked the upstream's own port.
            return Err(to_itself(addr));
        }
        let shared = Arc::new(Shared {
            stats: Stats::new(addr, upstream.display.clone()),
            upstream,
            auth: cfg.auth,
            client,
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
        tracing::info!(target: LOG_TARGET, listen = %addr, upstream = %shared.upstream.display, "relay listening");
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

    /// The base URL to give OpenClaw as the provider's `baseUrl`: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
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
