//! A fake ModelScope API-Inference server on 127.0.0.1: OpenAI-compatible chat completions (plain
//! and SSE), `GET /v1/models`, a daily quota per model, and ModelScope's error bodies.
//!
//! What it imitates (see `shared/research/modelscope.md` §2-3):
//! - a spent model answers **429** `{"errors":{"message":"Request limit exceeded.","request_id":"…"}}`
//!   (or the singular `{"error":{…}}` variant, [`ErrorShape::Error`]); the message can be overridden,
//!   e.g. with `daily quota exceeded`, which OpenClaw classifies as a long-window limit;
//! - a model it does not serve answers **400** with `… has no provider supported`;
//! - optionally the four `modelscope-ratelimit-*` headers on every chat reply (200 and 429);
//! - a wrong API key (only when [`FakeConfig::require_api_key`] is set) answers **401**;
//! - balance mode ([`FakeConfig::balance`], ModelScope's magicube metering since about 2026-08):
//!   one account balance, each served call costs its model's price (default 1), and once the
//!   balance cannot pay for a call **every** model answers 429; `POST /test/balance`
//!   `{"balance": N}` (or [`FakeModelScope::set_balance`]) refills it; `GET
//!   /openapi/v1/magicubes/balance` answers `{"data":{"available_balance": N}}` to the key (as
//!   ModelScope's balance endpoint is reported to; [`BALANCE_PATH`]).
//!
//! Serving another model list on another port, the same server stands in for a second
//! OpenAI-compatible provider (OpenRouter's free tier in the provider-chain tests).
//!
//! Every request is recorded ([`RequestRecord`]). The server runs on its own thread and tokio
//! runtime, so [`FakeModelScope::start`] works from plain `#[test]`s, from `#[tokio::test]`s and
//! from a benchmark binary alike; dropping the handle stops it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

/// The four models msclaw rotates through, as ModelScope names them.
pub const QWEN: &str = "Qwen/Qwen3.5-397B-A17B";
pub const GLM5: &str = "ZhipuAI/GLM-5";
pub const MINIMAX: &str = "MiniMax/MiniMax-M2.5";
pub const KIMI: &str = "moonshotai/Kimi-K2.5";
/// [`QWEN`], [`GLM5`], [`MINIMAX`], [`KIMI`], in rotation order.
pub const MODELS: [&str; 4] = [QWEN, GLM5, MINIMAX, KIMI];

/// ModelScope's own text for a spent quota (ambiguous: OpenClaw retries it as a short throttle).
pub const LIMIT_MESSAGE: &str = "Request limit exceeded.";
/// A 429 text OpenClaw classifies as a long-window (daily) limit, so it skips the same-model retries.
pub const DAILY_LIMIT_MESSAGE: &str = "daily quota exceeded";
/// ModelScope's 401 text.
pub const AUTH_FAILED_MESSAGE: &str =
    "Authentication failed, please make sure that a valid ModelScope token is supplied.";
/// The marker in the 400 body for a model ModelScope does not serve.
pub const NO_PROVIDER_MARKER: &str = "has no provider supported";

/// Where balance mode tells the balance (ModelScope's `https://modelscope.cn` + this path).
pub const BALANCE_PATH: &str = "/openapi/v1/magicubes/balance";

/// Header names, lower-case as ModelScope sends them.
pub const H_MODEL_LIMIT: &str = "modelscope-ratelimit-model-requests-limit";
pub const H_MODEL_REMAINING: &str = "modelscope-ratelimit-model-requests-remaining";
pub const H_ACCOUNT_LIMIT: &str = "modelscope-ratelimit-requests-limit";
pub const H_ACCOUNT_REMAINING: &str = "modelscope-ratelimit-requests-remaining";

/// Which top-level key the error bodies use: ModelScope has sent both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"errors":{"message":…,"request_id":…}}` (the common one).
    #[default]
    Errors,
    /// `{"error":{"message":…}}`.
    Error,
}

/// How a [`FakeModelScope`] starts. `FakeConfig::default()` serves the four [`MODELS`] without
/// limits; [`FakeConfig::empty`] serves none.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Served models in `/v1/models` order, with their daily quota (`None` = unlimited).
    pub models: Vec<(String, Option<u32>)>,
    /// Send the four `modelscope-ratelimit-*` headers on chat replies (200 and 429).
    pub quota_headers: bool,
    /// `errors` (plural) or `error` key in error bodies.
    pub error_shape: ErrorShape,
    /// Overrides the 429 message text (default [`LIMIT_MESSAGE`]).
    pub limit_message: Option<String>,
    /// The account-wide daily limit shown in `modelscope-ratelimit-requests-limit`.
    pub account_limit: u32,
    /// Delay before each chat reply (before the first SSE chunk when streaming).
    pub latency: Duration,
    /// When set, chat requests whose `Authorization` is not `Bearer <key>` get a 401.
    pub require_api_key: Option<String>,
    /// Balance mode: the account balance in thousandths of a unit (`None`: per-model quotas only).
    pub balance_milli: Option<u64>,
    /// Balance mode: each model's price per call in thousandths (default 1000).
    pub cost_milli: BTreeMap<String, u64>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            models: MODELS.iter().map(|m| (m.to_string(), None)).collect(),
            quota_headers: false,
            error_shape: ErrorShape::Errors,
            limit_message: None,
            account_limit: 2000,
            latency: Duration::ZERO,
            require_api_key: None,
            balance_milli: None,
            cost_milli: BTreeMap::new(),
        }
    }
}

impl FakeConfig {
    /// Serves no model at all; add them with [`FakeConfig::model`].
    pub fn empty() -> Self {
        FakeConfig {
            models: Vec::new(),
            ..FakeConfig::default()
        }
    }
    /// The four [`MODELS`], each with the same daily quota.
    pub fn all_models_quota(quota: u32) -> Self {
        FakeConfig {
            models: MODELS
                .iter()
                .map(|m| (m.to_string(), Some(quota)))
                .collect(),
            ..FakeConfig::default()
        }
    }
    /// Serves `model` with `quota` (adds it, or changes the quota of a model already listed).
    pub fn model(mut self, model: &str, quota: Option<u32>) -> Self {
        match self.models.iter_mut().find(|(m, _)| m == model) {
            Some(entry) => entry.1 = quota,
            None => self.models.push((model.to_string(), quota)),
        }
        self
    }
    /// Shorthand for `.model(model, Some(n))`.
    pub fn quota(self, model: &str, n: u32) -> Self {
        self.model(model, Some(n))
    }
    pub fn quota_headers(mut self, on: bool) -> Self {
        self.quota_headers = on;
        self
    }
    pub fn error_shape(mut self, shape: ErrorShape) -> Self {
        self.error_shape = shape;
        self
    }
    pub fn limit_message(mut self, message: impl Into<String>) -> Self {
        self.limit_message = Some(message.into());
        self
    }
    pub fn account_limit(mut self, n: u32) -> Self {
        self.account_limit = n;
        self
    }
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    pub fn require_api_key(mut self, key: impl Into<String>) -> Self {
        self.require_api_key = Some(key.into());
        self
    }
    /// Balance mode with `units` in the account (see the module doc).
    pub fn balance(mut self, units: u64) -> Self {
        self.balance_milli = Some(units * 1000);
        self
    }
    /// `model`'s price per call in balance mode, in thousandths (`500` = 0.5).
    pub fn cost_milli(mut self, model: &str, milli: u64) -> Self {
        self.cost_milli.insert(model.to_string(), milli);
        self
    }
}

/// One request the fake server received, whatever its path and outcome.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// 0, 1, 2, … in arrival order.
    pub seq: u64,
    /// Wall-clock arrival time.
    pub at: jiff::Timestamp,
    /// Monotonic arrival time (compare with `Instant`s taken in the test).
    pub instant: Instant,
    pub method: String,
    /// Path as received, e.g. `/v1/chat/completions`.
    pub path: String,
    /// `model` from the chat request body.
    pub model: Option<String>,
    /// The status the server answered with.
    pub status: u16,
    /// The request asked for `stream: true`.
    pub stream: bool,
    /// The request asked for `stream_options.include_usage: true`.
    pub include_usage: bool,
    /// The `Authorization` header as received (the fake key only; never a real one).
    pub authorization: Option<String>,
    /// The JSON body of a chat request (`None` for other requests or unparsable bodies).
    pub body: Option<Value>,
}

impl RequestRecord {
    /// A `POST …/chat/completions`.
    pub fn is_chat(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/chat/completions")
    }
}

#[derive(Debug, Default)]
struct ModelState {
    quota: Option<u32>,
    /// Successful (200) chat calls since start or the last [`FakeModelScope::reset_quotas`].
    used: u32,
}

#[derive(Debug)]
struct State {
    order: Vec<String>,
    models: BTreeMap<String, ModelState>,
    quota_headers: bool,
    error_shape: ErrorShape,
    limit_message: Option<String>,
    account_limit: u32,
    account_used: u32,
    latency: Duration,
    require_api_key: Option<String>,
    balance_milli: Option<u64>,
    cost_milli: BTreeMap<String, u64>,
    records: Vec<RequestRecord>,
    next_seq: u64,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not poison the server for the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake server. Stops when dropped.
pub struct FakeModelScope {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeModelScope {
    /// Binds 127.0.0.1 on a free port and serves on a thread of its own.
    ///
    /// Panics if it cannot bind or spawn (a test environment problem, not a test outcome).
    pub fn start(config: FakeConfig) -> FakeModelScope {
        let mut models = BTreeMap::new();
        let mut order = Vec::new();
        for (m, q) in &config.models {
            if models
                .insert(m.clone(), ModelState { quota: *q, used: 0 })
                .is_none()
            {
                order.push(m.clone());
            }
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                order,
                models,
                quota_headers: config.quota_headers,
                error_shape: config.error_shape,
                limit_message: config.limit_message,
                account_limit: config.account_limit,
                account_used: 0,
                latency: config.latency,
                require_api_key: config.require_api_key,
                balance_milli: config.balance_milli,
                cost_milli: config.cost_milli,
                records: Vec::new(),
                next_seq: 0,
            }),
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .expect("fake ModelScope: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("fake ModelScope: set_nonblocking");
        let addr = listener.local_addr().expect("fake ModelScope: local_addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-modelscope-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake ModelScope: tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("fake ModelScope: tokio listener");
                    let app = axum::Router::new().fallback(move |method, uri, headers, body| {
                        handle(app_shared.clone(), method, uri, headers, body)
                    });
                    tokio::select! {
                        r = axum::serve(listener, app) => {
                            if let Err(e) = r { eprintln!("fake ModelScope: server error: {e}"); }
                        }
                        _ = rx => {}
                    }
                });
                // Drops open connections and in-flight replies.
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .expect("fake ModelScope: spawn thread");
        FakeModelScope {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/v1`, what goes into OpenClaw's `baseUrl`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().records.clone()
    }
    /// The chat-completion requests so far, in arrival order.
    pub fn chat_requests(&self) -> Vec<RequestRecord> {
        self.shared
            .lock()
            .records
            .iter()
            .filter(|r| r.is_chat())
            .cloned()
            .collect()
    }
    /// How many chat requests for `model` were answered with `status`.
    pub fn count(&self, model: &str, status: u16) -> usize {
        self.shared
            .lock()
            .records
            .iter()
            .filter(|r| r.is_chat() && r.status == status && r.model.as_deref() == Some(model))
            .count()
    }
    /// How many chat requests for `model` arrived, whatever the answer.
    pub fn count_model(&self, model: &str) -> usize {
        self.shared
            .lock()
            .records
            .iter()
            .filter(|r| r.is_chat() && r.model.as_deref() == Some(model))
            .count()
    }
    /// How many chat requests were answered with `status`, whatever the model.
    pub fn count_status(&self, status: u16) -> usize {
        self.shared
            .lock()
            .records
            .iter()
            .filter(|r| r.is_chat() && r.status == status)
            .count()
    }
    /// Successful calls to `model` counted against its quota (reset by [`Self::reset_quotas`]).
    pub fn used(&self, model: &str) -> u32 {
        self.shared.lock().models.get(model).map_or(0, |m| m.used)
    }
    /// Forgets the recorded requests (quotas are untouched).
    pub fn clear_requests(&self) {
        self.shared.lock().records.clear();
    }
    /// A new day: every model's (and the account's) used count goes back to 0.
    pub fn reset_quotas(&self) {
        let mut st = self.shared.lock();
        st.account_used = 0;
        for m in st.models.values_mut() {
            m.used = 0;
        }
    }
    /// Sets `model`'s daily quota (`None` = unlimited), adding it to the served models if needed.
    /// Its used count is kept.
    pub fn set_quota(&self, model: &str, quota: Option<u32>) {
        let mut st = self.shared.lock();
        if !st.models.contains_key(model) {
            st.order.push(model.to_string());
        }
        st.models.entry(model.to_string()).or_default().quota = quota;
    }
    /// Stops serving `model`: it then answers 400 `… has no provider supported`.
    pub fn remove_model(&self, model: &str) {
        let mut st = self.shared.lock();
        st.models.remove(model);
        st.order.retain(|m| m != model);
    }
    pub fn set_quota_headers(&self, on: bool) {
        self.shared.lock().quota_headers = on;
    }
    pub fn set_error_shape(&self, shape: ErrorShape) {
        self.shared.lock().error_shape = shape;
    }
    /// `None` goes back to [`LIMIT_MESSAGE`].
    pub fn set_limit_message(&self, message: Option<&str>) {
        self.shared.lock().limit_message = message.map(str::to_string);
    }
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }
    /// Balance mode: the account balance now, in thousandths (`None` outside balance mode).
    pub fn balance_milli(&self) -> Option<u64> {
        self.shared.lock().balance_milli
    }
    /// Balance mode: a grant arrives; the balance becomes `units`.
    pub fn set_balance(&self, units: u64) {
        self.shared.lock().balance_milli = Some(units * 1000);
    }

    /// Polls the records every 20 ms until `pred` holds or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[RequestRecord]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.shared.lock().records) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeModelScope {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for FakeModelScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeModelScope")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Something shaped like ModelScope's request ids (a UUID), unique within the process.
fn request_id(seq: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos()) as u64;
    let mix = nanos ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (mix >> 32) as u32,
        (mix >> 16) as u16,
        (seq & 0xfff) as u16,
        (nanos & 0xfff) as u16,
        (nanos ^ seq) & 0xffff_ffff_ffff
    )
}

fn error_body(shape: ErrorShape, message: &str, request_id: &str) -> Value {
    match shape {
        ErrorShape::Errors => json!({"errors": {"message": message, "request_id": request_id}}),
        ErrorShape::Error => json!({"error": {"message": message}}),
    }
}

fn json_response(status: StatusCode, body: &Value, extra: &[(&'static str, String)]) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(*k, v);
        }
    }
    resp
}

/// What the handler decided under the lock; the reply itself is built outside it.
enum Decision {
    Models(Vec<String>),
    Ok {
        model: String,
        stream: bool,
        prompt_tokens: u64,
    },
    Error {
        status: StatusCode,
        body: Value,
    },
    NotFound,
    /// `POST /test/balance` took the new balance.
    Refilled(u64),
    /// `GET` [`BALANCE_PATH`]: the balance now, in thousandths.
    Balance(u64),
}

async fn handle(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let is_chat = method == Method::POST && path.ends_with("/chat/completions");
    let is_models = method == Method::GET && (path == "/v1/models" || path == "/models");
    let parsed: Option<Value> = if is_chat {
        serde_json::from_slice(&body).ok()
    } else {
        None
    };
    let model = parsed
        .as_ref()
        .and_then(|b| b.get("model"))
        .and_then(Value::as_str)
        .map(String::from);
    let stream = parsed
        .as_ref()
        .and_then(|b| b.get("stream"))
        .and_then(Value::as_bool)
        == Some(true);
    let include_usage = parsed
        .as_ref()
        .and_then(|b| b.pointer("/stream_options/include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);

    let (decision, rate_headers, latency) = {
        let mut guard = shared.lock();
        let st = &mut *guard;
        let seq = st.next_seq;
        st.next_seq += 1;
        let rid = request_id(seq);
        let mut rate_headers: Vec<(&'static str, String)> = Vec::new();
        let key_refused = st
            .require_api_key
            .as_ref()
            .is_some_and(|k| authorization.as_deref() != Some(format!("Bearer {k}").as_str()));
        let decision = if method == Method::POST && path == "/test/balance" {
            // The test endpoint that refills the balance: `{"balance": N}`.
            match serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b.get("balance").and_then(Value::as_u64))
            {
                Some(units) => {
                    st.balance_milli = Some(units * 1000);
                    Decision::Refilled(units)
                }
                None => Decision::Error {
                    status: StatusCode::BAD_REQUEST,
                    body: error_body(st.error_shape, "expected {\"balance\": N}", &rid),
                },
            }
        } else if method == Method::GET && path == BALANCE_PATH && st.balance_milli.is_some() {
            if key_refused {
                Decision::Error {
                    status: StatusCode::UNAUTHORIZED,
                    body: error_body(st.error_shape, AUTH_FAILED_MESSAGE, &rid),
                }
            } else {
                Decision::Balance(st.balance_milli.unwrap_or(0))
            }
        } else if is_models {
            Decision::Models(st.order.clone())
        } else if !is_chat {
            Decision::NotFound
        } else if key_refused {
            Decision::Error {
                status: StatusCode::UNAUTHORIZED,
                body: error_body(st.error_shape, AUTH_FAILED_MESSAGE, &rid),
            }
        } else if parsed.is_none() || model.is_none() {
            Decision::Error {
                status: StatusCode::BAD_REQUEST,
                body: error_body(
                    st.error_shape,
                    "Invalid request body: a JSON object with \"model\" is required.",
                    &rid,
                ),
            }
        } else {
            let m = model.clone().unwrap_or_default();
            let account_limit = st.account_limit;
            let cost = st.cost_milli.get(&m).copied().unwrap_or(1000);
            // Balance mode: a call the balance cannot pay for is refused, whatever the model.
            let unpaid = st.balance_milli.is_some_and(|b| b < cost);
            match st.models.get_mut(&m) {
                None => Decision::Error {
                    status: StatusCode::BAD_REQUEST,
                    body: error_body(
                        st.error_shape,
                        &format!("Model id: {m} {NO_PROVIDER_MARKER}"),
                        &rid,
                    ),
                },
                Some(ms) => {
                    let spent = unpaid || ms.quota.is_some_and(|q| ms.used >= q);
                    if !spent {
                        ms.used += 1;
                        if let Some(b) = st.balance_milli.as_mut() {
                            *b -= cost;
                        }
                    }
                    let model_limit = ms.quota.unwrap_or(account_limit);
                    let model_remaining = model_limit.saturating_sub(ms.used);
                    if !spent {
                        st.account_used += 1;
                    }
                    if st.quota_headers {
                        rate_headers.push((H_MODEL_LIMIT, model_limit.to_string()));
                        rate_headers.push((H_MODEL_REMAINING, model_remaining.to_string()));
                        rate_headers.push((H_ACCOUNT_LIMIT, st.account_limit.to_string()));
                        rate_headers.push((
                            H_ACCOUNT_REMAINING,
                            st.account_limit.saturating_sub(st.account_used).to_string(),
                        ));
                    }
                    if spent {
                        let msg = st.limit_message.as_deref().unwrap_or(LIMIT_MESSAGE);
                        Decision::Error {
                            status: StatusCode::TOO_MANY_REQUESTS,
                            body: error_body(st.error_shape, msg, &rid),
                        }
                    } else {
                        Decision::Ok {
                            model: m,
                            stream,
                            prompt_tokens: (body.len() as u64 / 4).max(1),
                        }
                    }
                }
            }
        };
        let status = match &decision {
            Decision::Models(_)
            | Decision::Ok { .. }
            | Decision::Refilled(_)
            | Decision::Balance(_) => 200,
            Decision::Error { status, .. } => status.as_u16(),
            Decision::NotFound => 404,
        };
        st.records.push(RequestRecord {
            seq,
            at: jiff::Timestamp::now(),
            instant: Instant::now(),
            method: method.to_string(),
            path: path.clone(),
            model: model.clone(),
            status,
            stream,
            include_usage,
            authorization: authorization.clone(),
            body: parsed.clone(),
        });
        (
            decision,
            rate_headers,
            if is_chat { st.latency } else { Duration::ZERO },
        )
    };

    match decision {
        Decision::Models(models) => {
            let data: Vec<Value> = models
                .iter()
                .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "system"}))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({"object": "list", "data": data}),
                &[],
            )
        }
        Decision::Refilled(units) => {
            json_response(StatusCode::OK, &json!({ "balance": units }), &[])
        }
        Decision::Balance(milli) => json_response(
            StatusCode::OK,
            &json!({
                "code": 200,
                "success": true,
                "data": { "available_balance": milli as f64 / 1000.0 },
            }),
            &[],
        ),
        Decision::NotFound => json_response(
            StatusCode::NOT_FOUND,
            &json!({"errors": {"message": format!("Not found: {method} {path}")}}),
            &[],
        ),
        Decision::Error { status, body } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            json_response(status, &body, &rate_headers)
        }
        Decision::Ok {
            model,
            stream,
            prompt_tokens,
            ..
        } => {
            let text = format!("ok from {model}");
            let completion_tokens = 3u64;
            let usage = json!({
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            });
            let id = format!("chatcmpl-{}", request_id(prompt_tokens).replace('-', ""));
            let created = jiff::Timestamp::now().as_second();
            if !stream {
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                let body = json!({
                    "id": id, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": usage,
                });
                json_response(StatusCode::OK, &body, &rate_headers)
            } else {
                let chunk = |choices: Value, usage: Option<&Value>| {
                    let mut c = json!({"id": id, "object": "chat.completion.chunk",
                                       "created": created, "model": model, "choices": choices});
                    if let Some(u) = usage {
                        c["usage"] = u.clone();
                    }
                    format!("data: {c}\n\n")
                };
                let events: Vec<String> = vec![
                    chunk(
                        json!([{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "finish_reason": null}]),
                        None,
                    ),
                    chunk(
                        json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]),
                        None,
                    ),
                    chunk(
                        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
                        None,
                    ),
                    // The usage chunk, as OpenAI sends it with stream_options.include_usage (and
                    // ModelScope sends it regardless).
                    chunk(json!([]), Some(&usage)),
                    "data: [DONE]\n\n".to_string(),
                ];
                let first_delay = latency;
                let stream = futures::stream::unfold(
                    (events.into_iter(), true),
                    move |(mut it, first)| async move {
                        if first && !first_delay.is_zero() {
                            tokio::time::sleep(first_delay).await;
                        }
                        it.next()
                            .map(|e| (Ok::<Bytes, Infallible>(Bytes::from(e)), (it, false)))
                    },
                );
                let mut resp = Response::new(Body::from_stream(stream));
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                );
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                for (k, v) in &rate_headers {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        h.insert(*k, v);
                    }
                }
                resp
            }
        }
    }
}
