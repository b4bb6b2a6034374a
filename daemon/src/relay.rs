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
//! Credentials pass through and are kept nowhere: the `Authorization` header is never logged,
//! stored or put into a message (an upstream error detail that echoes it is redacted).

mod health;
pub mod inspect;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::policy::QuotaClock;

pub use health::{ModelCounts, QuotaSeen, RelayHealth};
use health::{Stats, Tally};
pub use inspect::QuotaHeaders;
use inspect::{
    error_body, error_detail, is_chat_completion, model_of, redact, spent_body, strip_hop_by_hop,
};

/// How much of a chat completion's body is read to find its `model` (the rest streams on).
pub const CHAT_BODY_SCAN_LIMIT: usize = 8 << 20;
/// How much of an upstream error body is read to classify it.
const ERROR_BODY_LIMIT: usize = 64 << 10;
/// A non-streaming completion sends its headers only when the whole answer is ready: be patient.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a client may take to send a request's headers.
const CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `shutdown` lets responses in flight finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const LOG_TARGET: &str = "msclawd::relay";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type RelayBody = UnsyncBoxBody<Bytes, BoxError>;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// A loopback address; port 0 picks a free one (see [`Relay::local_addr`]).
    pub listen: SocketAddr,
    /// The upstream base that `/v1` stands for, e.g. `https://api-inference.modelscope.cn/v1/`.
    pub upstream: String,
    /// How long upstream may take to send response headers before the client gets a 504.
    pub header_timeout: Duration,
    /// The time stamped on observations and used for quota days (the daemon's clock).
    pub clock: Arc<dyn Clock>,
}

impl RelayConfig {
    pub fn new(listen: SocketAddr, upstream: impl Into<String>) -> Self {
        Self {
            listen,
            upstream: upstream.into(),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why a model is held spent, as the daemon tells the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpentInfo {
    pub reason: String,
    /// When the model has quota again, RFC 3339 (as [`QuotaClock::format`] writes it).
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

/// What the judge is told about an upstream 429.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSeen<'a> {
    pub model: &'a str,
    /// 429s the relay has seen for this model in a row (this one included) with no success
    /// between, within the current quota day.
    pub consecutive: u32,
    pub quota: &'a QuotaHeaders,
    /// The 429's own message, e.g. "Request limit exceeded.".
    pub detail: &'a str,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The model's day is over: the 429 is rewritten to the long-window message.
    Spent { resets_at: String },
    /// A short-term limit: the 429 passes unchanged (OpenClaw's own retries are right for it).
    Throttle,
}

/// Decides, for an upstream 429, whether the model is spent. Called on the response path after
/// the observation is sent: it must be quick and must not block.
pub type Judge = Arc<dyn Fn(&RateLimitSeen<'_>) -> Judgement + Send + Sync>;

/// Spent when `threshold` 429s came in a row, or ModelScope says the model has 0 requests left;
/// the reset is the next one of `clock`.
pub fn consecutive_judge(threshold: u32, clock: QuotaClock) -> Judge {
    Arc::new(move |seen: &RateLimitSeen<'_>| {
        if seen.consecutive >= threshold || seen.quota.model_remaining == Some(0) {
            Judgement::Spent {
                resets_at: clock.format(clock.next_reset(seen.at)),
            }
        } else {
            Judgement::Throttle
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the relay listens on loopback only, not {0}")]
    NotLoopback(SocketAddr),
    #[error("upstream {0}")]
    BadUpstream(String),
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
        quota_clock: QuotaClock,
    ) -> Result<Relay, RelayError> {
        if !cfg.listen.ip().is_loopback() {
            return Err(RelayError::NotLoopback(cfg.listen));
        }
        let upstream = Upstream::parse(&cfg.upstream)?;
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
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| RelayError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| RelayError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            stats: Stats::new(addr, upstream.display.clone()),
            upstream,
            client,
            header_timeout: cfg.header_timeout,
            clock: cfg.clock,
            quota_clock,
            view,
            judge,
            observations,
            streaks: Mutex::new(HashMap::new()),
        });
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve(listener, shared.clone(), cancel.clone()));
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

/// The upstream base, split for joining paths.
struct Upstream {
    base: reqwest::Url,
    /// The base's path without its trailing `/` (`/v1`, or empty).
    path: String,
    display: String,
}

impl Upstream {
    fn parse(text: &str) -> Result<Upstream, RelayError> {
        let bad =
            |why: &str| RelayError::BadUpstream(format!("{why}: {}", Self::safe_display(text)));
        let base =
            reqwest::Url::parse(text.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("must be http or https"));
        }
        if base.host_str().is_none() {
            return Err(bad("has no host"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(RelayError::BadUpstream(
                "must not carry credentials (they go in the Authorization header)".into(),
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        let display = format!("{}{}", base.origin().ascii_serialization(), path);
        Ok(Upstream {
            base,
            path,
            display,
        })
    }

    /// For error messages about a URL that may be malformed: scheme and host only.
    fn safe_display(text: &str) -> String {
        match reqwest::Url::parse(text.trim()) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => "(unparsable)".into(),
        }
    }

    fn is_loopback(&self) -> bool {
        let host = self.base.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The upstream URL for a path below `/v1` (`rest` is `""` or starts with `/`).
    fn target(&self, rest: &str, query: Option<&str>) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{}", self.path, rest));
        url.set_query(query);
        url
    }
}

struct Shared {
    upstream: Upstream,
    client: reqwest::Client,
    header_timeout: Duration,
    clock: Arc<dyn Clock>,
    quota_clock: QuotaClock,
    view: RelayPolicyView,
    judge: Judge,
    observations: mpsc::Sender<RelayObservation>,
    stats: Stats,
    /// 429s in a row per model id, within a quota day.
    streaks: Mutex<HashMap<String, (Date, u32)>>,
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, shared.clone(), cancel.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: pause rather than spin.
                    tracing::warn!(target: LOG_TARGET, "relay cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(target: LOG_TARGET, open = conns.len(), "relay closing connections still busy after {SHUTDOWN_GRACE:?}");
    }
    conns.shutdown().await;
    tracing::info!(target: LOG_TARGET, "relay stopped");
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, cancel: CancellationToken) {
    // SSE chunks are small: send each at once.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(shared.handle(req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(CLIENT_HEADER_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: LOG_TARGET, "relay connection ended: {e}");
    }
}

/// A request body read up to a limit; `rest` is what was not read.
struct Prefix {
    bytes: Bytes,
    rest: Option<Incoming>,
}

impl Prefix {
    async fn read(mut body: Incoming, limit: usize) -> Result<Prefix, hyper::Error> {
        use http_body::Body as _;
        let hint = body.size_hint().lower().min(limit as u64) as usize;
        let mut buf = BytesMut::with_capacity(hint);
        loop {
            if buf.len() >= limit {
                return Ok(Prefix {
                    bytes: buf.freeze(),
                    rest: Some(body),
                });
            }
            match body.frame().await {
                None => {
                    return Ok(Prefix {
                        bytes: buf.freeze(),
                        rest: None,
                    });
                }
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    fn into_body(self) -> reqwest::Body {
        match self.rest {
            None => reqwest::Body::from(self.bytes),
            Some(rest) => reqwest::Body::wrap_stream(
                stream::once(async { Ok(self.bytes) }).chain(data_of(rest)),
            ),
        }
    }
}

/// The data frames of a request body, as a stream.
fn data_of(body: Incoming) -> impl futures::Stream<Item = Result<Bytes, hyper::Error>> + Send {
    BodyStream::new(body).try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
}

fn streaming_body(body: Incoming) -> Option<reqwest::Body> {
    use http_body::Body as _;
    if body.is_end_stream() {
        None
    } else {
        Some(reqwest::Body::wrap_stream(data_of(body)))
    }
}

fn full(bytes: impl Into<Bytes>) -> RelayBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// The rest of an upstream response, chunk by chunk as it comes.
fn passthrough(prefix: Option<Bytes>, resp: Option<reqwest::Response>) -> RelayBody {
    let head = stream::iter(prefix.filter(|b| !b.is_empty()).map(Ok::<_, BoxError>));
    let tail = match resp {
        Some(resp) => resp
            .bytes_stream()
            .map_err(|e| Box::new(e) as BoxError)
            .left_stream(),
        None => stream::empty().right_stream(),
    };
    StreamBody::new(head.chain(tail).map_ok(Frame::data)).boxed_unsync()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<RelayBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `/v1` or `/v1/...` → the part after `/v1`.
fn below_v1(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1")?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// An error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Reads the start of an upstream body (an error's, to classify it). Gives up waiting after
/// `patience`; what was read and what was not are both returned.
async fn read_start(
    mut resp: reqwest::Response,
    limit: usize,
    patience: Duration,
) -> (Bytes, Option<reqwest::Response>) {
    let mut buf = BytesMut::new();
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if buf.len() >= limit {
            return (buf.freeze(), Some(resp));
        }
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.extend_from_slice(&chunk),
            Ok(Ok(None)) => return (buf.freeze(), None),
            // A body that breaks off: pass on what came (the client sees it end).
            Ok(Err(_)) => return (buf.freeze(), None),
            Err(_) => return (buf.freeze(), Some(resp)),
        }
    }
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Response<RelayBody> {
        let started = Instant::now();
        let path = req.uri().path().to_owned();
        let Some(rest) = below_v1(&path) else {
            tracing::debug!(target: LOG_TARGET, method = %req.method(), path, "not below /v1: 404");
            let body = error_body(
                "the msclaw relay forwards /v1/ paths only",
                "invalid_request_error",
                "not_found",
            );
            return json_response(StatusCode::NOT_FOUND, body);
        };
        let url = self.upstream.target(rest, req.uri().query());
        let chat = is_chat_completion(req.method(), &path);
        let (parts, body) = req.into_parts();
        // Kept only for the length of this request, to redact an upstream message that echoes it.
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        headers.remove(header::EXPECT);

        let (body, model) = if chat {
            match Prefix::read(body, CHAT_BODY_SCAN_LIMIT).await {
                Ok(prefix) => {
                    let model = model_of(&prefix.bytes, prefix.rest.is_none());
                    (Some(prefix.into_body()), model)
                }
                Err(e) => {
                    tracing::debug!(target: LOG_TARGET, path, "cannot read a request body: {e}");
                    let body = error_body(
                        "the msclaw relay could not read the request body",
                        "invalid_request_error",
                        "bad_request",
                    );
                    return json_response(StatusCode::BAD_REQUEST, body);
                }
            }
        } else {
            (streaming_body(body), None)
        };

        if let Some(model) = &model
            && let Some(spent) = self.view.is_spent(model)
        {
            return self.answer_locally(model, &spent, &path, started);
        }

        let mut request = reqwest::Request::new(parts.method.clone(), url);
        *request.headers_mut() = headers;
        *request.body_mut() = body;
        let sent = tokio::time::timeout(self.header_timeout, self.client.execute(request)).await;
        self.stats.tally(Tally::Relayed);
        let response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let (status, code, message) = if e.is_connect() {
                    (
                        StatusCode::BAD_GATEWAY,
                        "upstream_unreachable",
                        "is unreachable",
                    )
                } else {
                    (
                        StatusCode::BAD_GATEWAY,
                        "bad_upstream_response",
                        "gave no valid HTTP response",
                    )
                };
                let reason = redact(error_chain(&e.without_url()), authorization.as_deref());
                return self.upstream_failed(
                    model.as_deref(),
                    &path,
                    started,
                    status,
                    code,
                    &format!("{message}: {reason}"),
                );
            }
            Err(_) => {
                let message = format!(
                    "sent no response headers within {:.1} s",
                    self.header_timeout.as_secs_f64()
                );
                return self.upstream_failed(
                    model.as_deref(),
                    &path,
                    started,
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    &message,
                );
            }
        };
        self.respond(
            model,
            response,
            authorization.as_deref(),
            &parts.method,
            &path,
            started,
        )
        .await
    }

    async fn respond(
        &self,
        model: Option<String>,
        response: reqwest::Response,
        authorization: Option<&str>,
        method: &http::Method,
        path: &str,
        started: Instant,
    ) -> Response<RelayBody> {
        let status = response.status();
        let mut headers = response.headers().clone();
        strip_hop_by_hop(&mut headers);
        let build = |status: StatusCode, headers: HeaderMap, body: RelayBody| {
            let mut resp = Response::new(body);
            *resp.status_mut() = status;
            *resp.headers_mut() = headers;
            resp
        };
        let Some(model) = model else {
            tracing::debug!(target: LOG_TARGET, %method, path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "relayed");
            return build(status, headers, passthrough(None, Some(response)));
        };
        let at = self.clock.now();
        let quota = QuotaHeaders::from_headers(&headers);
        self.stats.quota(&model, at, quota);
        if status.is_success() {
            self.end_streak(&model);
            self.observe(&model, at, RelayOutcome::Success, quota);
            tracing::debug!(target: LOG_TARGET, path, model, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "relayed");
            return build(status, headers, passthrough(None, Some(response)));
        }

        // An error: read its start to tell what it is.
        let (start, rest) = read_start(response, ERROR_BODY_LIMIT, self.header_timeout).await;
        let detail = redact(error_detail(&start), authorization);
        let outcome = match status.as_u16() {
            429 => RelayOutcome::RateLimited,
            404 => RelayOutcome::Gone {
                detail: detail.clone(),
            },
            400 if String::from_utf8_lossy(&start).contains(crate::modelscope::NOT_SERVED_MARK) => {
                RelayOutcome::Gone {
                    detail: detail.clone(),
                }
            }
            s => RelayOutcome::Failed {
                status: Some(s),
                detail: detail.clone(),
            },
        };
        let rate_limited = outcome == RelayOutcome::RateLimited;
        let consecutive = if rate_limited {
            self.extend_streak(&model, at)
        } else {
            0
        };
        // Reported before judging, so the daemon's policy can already count this 429.
        self.observe(&model, at, outcome, quota);
        if rate_limited {
            let seen = RateLimitSeen {
                model: &model,
                consecutive,
                quota: &quota,
                detail: &detail,
                at,
            };
            if let Judgement::Spent { resets_at } = (self.judge)(&seen) {
                self.stats.tally(Tally::Rewritten429);
                tracing::info!(target: LOG_TARGET, path, model, consecutive, resets_at, "upstream 429 judged spent: answered as a daily limit");
                for name in [
                    header::CONTENT_LENGTH,
                    header::CONTENT_ENCODING,
                    header::CONTENT_TYPE,
                ] {
                    headers.remove(name);
                }
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return build(status, headers, full(spent_body(&model, &resets_at)));
            }
            tracing::info!(target: LOG_TARGET, path, model, consecutive, detail, "upstream 429 judged a throttle: passed on");
        } else {
            tracing::info!(target: LOG_TARGET, path, model, status = status.as_u16(), detail, "upstream error passed on");
        }
        build(status, headers, passthrough(Some(start), rest))
    }

    fn answer_locally(
        &self,
        model: &str,
        spent: &SpentInfo,
        path: &str,
        started: Instant,
    ) -> Response<RelayBody> {
        let at = self.clock.now();
        self.stats.tally(Tally::AnsweredLocally);
        self.observe(
            model,
            at,
            RelayOutcome::AnsweredLocally,
            QuotaHeaders::default(),
        );
        tracing::debug!(target: LOG_TARGET, path, model, reason = spent.reason, ms = started.elapsed().as_millis() as u64, "spent: answered locally");
        let mut resp = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            spent_body(model, &spent.resets_at),
        );
        resp.headers_mut().insert(
            "x-msclaw-relay",
            HeaderValue::from_static("answered-locally"),
        );
        resp
    }

    fn upstream_failed(
        &self,
        model: Option<&str>,
        path: &str,
        started: Instant,
        status: StatusCode,
        code: &str,
        what: &str,
    ) -> Response<RelayBody> {
        self.stats.tally(Tally::UpstreamError);
        let message = format!(
            "msclaw relay: the upstream {} {what}",
            self.upstream.display
        );
        tracing::warn!(target: LOG_TARGET, path, model, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "{message}");
        if let Some(model) = model {
            let outcome = RelayOutcome::Failed {
                status: None,
                detail: message.clone(),
            };
            self.observe(model, self.clock.now(), outcome, QuotaHeaders::default());
        }
        json_response(status, error_body(&message, "upstream_error", code))
    }

    /// Counts one chat completion and hands it to the daemon without waiting.
    fn observe(&self, model: &str, at: Timestamp, outcome: RelayOutcome, quota: QuotaHeaders) {
        self.stats
            .count(self.quota_clock.day_of(at), model, &outcome);
        let observation = RelayObservation {
            model: model.to_owned(),
            at,
            outcome,
            quota,
        };
        if let Err(e) = self.observations.try_send(observation) {
            self.stats.tally(Tally::Dropped);
            match e {
                mpsc::error::TrySendError::Full(o) => {
                    tracing::warn!(target: LOG_TARGET, model = o.model, "the daemon is behind: an observation was dropped")
                }
                mpsc::error::TrySendError::Closed(_) => {
                    tracing::debug!(target: LOG_TARGET, "no one takes observations any more")
                }
            }
        }
    }

    /// One more 429 in a row for `model`; returns how many now.
    fn extend_streak(&self, model: &str, at: Timestamp) -> u32 {
        let day = self.quota_clock.day_of(at);
        let mut streaks = self.streaks.lock().unwrap_or_else(|e| e.into_inner());
        let entry = streaks.entry(model.to_owned()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        entry.1 += 1;
        entry.1
    }

    fn end_streak(&self, model: &str) {
        self.streaks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_below_v1_map_onto_the_upstream_base() {
        let up = Upstream::parse("https://api-inference.modelscope.cn/v1/").unwrap();
        assert_eq!(up.display, "https://api-inference.modelscope.cn/v1");
        assert_eq!(
            up.target("/chat/completions", Some("a=1&b=%20")).as_str(),
            "https://api-inference.modelscope.cn/v1/chat/completions?a=1&b=%20"
        );
        assert_eq!(
            up.target("", None).as_str(),
            "https://api-inference.modelscope.cn/v1"
        );
        let up = Upstream::parse("http://127.0.0.1:9/api").unwrap();
        assert!(up.is_loopback());
        assert_eq!(
            up.target("/models", None).as_str(),
            "http://127.0.0.1:9/api/models"
        );
        assert_eq!(below_v1("/v1/models"), Some("/models"));
        assert_eq!(below_v1("/v1"), Some(""));
        assert_eq!(below_v1("/v10/models"), None);
        assert_eq!(below_v1("/health"), None);
    }

    #[test]
    fn a_bad_upstream_is_refused_without_echoing_credentials() {
        for bad in ["ftp://x/v1", "not a url", "https://x/v1?key=1"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
        let err = Upstream::parse("https://user:sekrit@x/v1")
            .err()
            .unwrap()
            .to_string();
        assert!(
            !err.contains("sekrit") && err.contains("credentials"),
            "{err}"
        );
    }
}
