//! The metering relay over real sockets on 127.0.0.1: a small fake upstream per test (hyper), a
//! reqwest client, and the relay between them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use jiff::Timestamp;
use msclawd::quota_calendar::QuotaCalendar;
use msclawd::relay::{
    Judge, Judgement, ProviderUpstream, QuotaHeaders, RateLimitSeen, Relay, RelayAuth, RelayConfig,
    RelayError, RelayHealth, RelayObservation, RelayOutcome, RelayPolicyView, SpentInfo,
    consecutive_judge,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The real upstream key: only the upstream may see it.
const SECRET: &str = "ms-8d1f3c7a-relay-test-secret-4b2e";
/// The relay token OpenClaw holds while the relay is on: what clients send.
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const Q: &str = "Qwen/Qwen3.5-397B-A17B";
const G: &str = "ZhipuAI/GLM-5";
const K: &str = "moonshotai/Kimi-K2.5";
const MODELSCOPE_429: &str =
    r#"{"errors":{"message":"Request limit exceeded.","request_id":"r-429"}}"#;

// ---------------------------------------------------------------------------------------------
// Log capture: every test's log lines, at trace level for the relay, go into one buffer.

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "msclawd=trace,reqwest=trace,hyper=trace,hyper_util=trace,info",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("the only subscriber of this test binary");
        buf
    })
    .clone()
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The fake upstream.

type FakeBody = UnsyncBoxBody<Bytes, Infallible>;

/// A request as the fake upstream received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn model(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("model")?
            .as_str()
            .map(str::to_owned)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

enum Reply {
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    },
    /// `text/event-stream`, one chunk every `gap`.
    Sse { chunks: Vec<Bytes>, gap: Duration },
    /// Headers only after `delay`.
    Late { delay: Duration, then: Box<Reply> },
}

fn ok_json(body: &str) -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("content-type", "application/json".into())],
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

fn status_json(status: u16, body: &str) -> Reply {
    Reply::Full {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

type Route = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Default)]
struct FakeState {
    seen: Mutex<Vec<Seen>>,
    /// When the last chunk of the latest SSE reply was handed to the socket.
    last_chunk_sent: Mutex<Option<Instant>>,
    /// SSE replies whose reader went away before the end.
    abandoned_streams: AtomicUsize,
}

struct Fake {
    addr: SocketAddr,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    async fn start(route: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Fake {
        Fake::on(TcpListener::bind("127.0.0.1:0").await.unwrap(), route, 0)
    }

    /// Serves on `listener`; the first `junk` connections get bytes that are not HTTP.
    fn on(
        listener: TcpListener,
        route: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
        junk: usize,
    ) -> Fake {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState::default());
        let route: Route = Arc::new(route);
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                n += 1;
                if n <= junk {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream
                        .write_all(b"SSH-2.0-nonsense\r\n\x00\x01\x02\xff not http at all\r\n\r\n")
                        .await;
                    continue;
                }
                let (route, st) = (route.clone(), st.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        fake_handle(req, route.clone(), st.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Fake { addr, state, task }
    }

    fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn hits(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}

async fn fake_handle(
    req: Request<Incoming>,
    route: Route,
    state: Arc<FakeState>,
) -> Result<Response<FakeBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    let reply = route(&seen);
    state.seen.lock().unwrap().push(seen);
    Ok(render(reply, state).await)
}

async fn render(mut reply: Reply, state: Arc<FakeState>) -> Response<FakeBody> {
    while let Reply::Late { delay, then } = reply {
        tokio::time::sleep(delay).await;
        reply = *then;
    }
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut resp = Response::new(Full::new(body).boxed_unsync());
            *resp.status_mut() = status.try_into().unwrap();
            for (k, v) in headers {
                resp.headers_mut().append(k, v.parse().unwrap());
            }
            resp
        }
        Reply::Sse { chunks, gap } => {
            let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(16);
            tokio::spawn(async move {
                use futures::SinkExt;
                let last = chunks.len().saturating_sub(1);
                for (i, chunk) in chunks.into_iter().enumerate() {
                    if i > 0 && !gap.is_zero() {
                        tokio::time::sleep(gap).await;
                    }
                    if tx.send(chunk).await.is_err() {
                        state.abandoned_streams.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    if i == last {
                        *state.last_chunk_sent.lock().unwrap() = Some(Instant::now());
                    }
                }
            });
            let body = StreamBody::new(rx.map(|b| Ok::<_, Infallible>(Frame::data(b))));
            let mut resp = Response::new(body.boxed_unsync());
            resp.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            resp.headers_mut()
                .insert("cache-control", "no-cache".parse().unwrap());
            resp.headers_mut().insert(
                "modelscope-ratelimit-model-requests-remaining",
                "12".parse().unwrap(),
            );
            resp
        }
        Reply::Late { .. } => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------------
// The relay under test.

struct Harness {
    relay: Relay,
    view: RelayPolicyView,
    observations: mpsc::Receiver<RelayObservation>,
    /// (model, consecutive 429s, observations already queued for the daemon) per judge call.
    judged: Arc<Mutex<Vec<(String, u32, usize)>>>,
}

impl Harness {
    async fn start(upstream: &str) -> Harness {
        Harness::with(
            upstream,
            Duration::from_secs(10),
            consecutive_judge(3, QuotaCalendar::shanghai_midnight()),
            1024,
        )
        .await
    }

    async fn with(
        upstream: &str,
        header_timeout: Duration,
        judge: Judge,
        capacity: usize,
    ) -> Harness {
        let mut cfg = RelayConfig::new("127.0.0.1:0".parse().unwrap(), upstream, auth());
        cfg.header_timeout = header_timeout;
        Harness::with_config(cfg, judge, capacity).await
    }

    async fn with_config(cfg: RelayConfig, judge: Judge, capacity: usize) -> Harness {
        logs();
        let view = RelayPolicyView::new();
        let judged = Arc::new(Mutex::new(Vec::new()));
        let seen = judged.clone();
        let (tx, observations) = mpsc::channel(capacity);
        let queue = tx.clone();
        let recording: Judge = Arc::new(move |s: &RateLimitSeen<'_>| {
            let queued = queue.max_capacity() - queue.capacity();
            seen.lock()
                .unwrap()
                .push((s.model.to_owned(), s.consecutive, queued));
            judge(s)
        });
        let relay = Relay::start(
            cfg,
            view.clone(),
            recording,
            tx,
            QuotaCalendar::shanghai_midnight(),
        )
        .await
        .unwrap();
        Harness {
            relay,
            view,
            observations,
            judged,
        }
    }

    fn base(&self) -> String {
        format!("http://{}/v1", self.relay.local_addr())
    }

    fn health(&self) -> RelayHealth {
        self.relay.health()
    }

    /// Everything observed so far (each is sent before its response starts).
    fn drain(&mut self) -> Vec<RelayObservation> {
        let mut out = Vec::new();
        while let Ok(o) = self.observations.try_recv() {
            out.push(o);
        }
        out
    }
}

/// The relay's auth in these tests: clients show [`TOKEN`], upstream gets [`SECRET`].
fn auth() -> RelayAuth {
    RelayAuth::new(TOKEN, Some(SECRET.to_owned()))
}

/// A client that shows the relay token, as OpenClaw does with the relay on.
fn client() -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .build()
        .unwrap()
}

fn chat_body(model: &str, stream: bool) -> String {
    serde_json::json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] }).to_string()
}

async fn post_chat(
    client: &reqwest::Client,
    base: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .post(format!("{base}/chat/completions"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn today(at: Timestamp) -> String {
    QuotaCalendar::shanghai_midnight().day_of(at).to_string()
}

fn error_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.message in {v}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_plain_completion_passes_through_byte_for_byte() {
    let fake = Fake::start(|seen| {
        if seen.target.ends_with("/models") {
            return ok_json(r#"{"object":"list","data":[{"id":"Qwen/Qwen3.5-397B-A17B","object":"model"}]}"#);
        }
        Reply::Full {
            status: 200,
            headers: vec![
                ("content-type", "application/json".into()),
                ("x-request-id", "req-1".into()),
                ("modelscope-ratelimit-model-requests-remaining", "41".into()),
                ("modelscope-ratelimit-model-requests-limit", "50".into()),
                ("modelscope-ratelimit-requests-remaining", "1999".into()),
                ("modelscope-ratelimit-requests-limit", "2000".into()),
                ("connection", "x-up-hop".into()),
                ("x-up-hop", "only for the relay".into()),
            ],
            body: Bytes::from_static(br#"{"id":"c1","choices":[{"message":{"role":"assistant","content":"h\u00e9llo"}}]}"#),
        }
    })
    .await;
    // The upstream base need not end in /v1: the part below /v1 is kept.
    let mut h = Harness::start(&format!("http://{}/api/v1/", fake.addr)).await;
    let client = client();
    // Odd spacing and key order: what reaches upstream must be these very bytes.
    let body = "{ \"stream\" : false ,\n  \"messages\":[{\"role\":\"user\",\"content\":\"h\u{e9}llo\"}],\"model\" : \"Qwen/Qwen3.5-397B-A17B\" }\n";
    let resp = client
        .post(format!("{}/chat/completions?api-version=2", h.base()))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .header("x-client-trace", "7")
        .header("connection", "x-client-hop")
        .header("x-client-hop", "only for the relay")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["x-request-id"], "req-1");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        headers["modelscope-ratelimit-model-requests-remaining"],
        "41"
    );
    assert_eq!(headers["modelscope-ratelimit-requests-limit"], "2000");
    assert!(
        headers.get("x-up-hop").is_none(),
        "a header named in Connection is the connection's own"
    );
    assert_eq!(
        resp.bytes().await.unwrap(),
        Bytes::from_static(
            br#"{"id":"c1","choices":[{"message":{"role":"assistant","content":"h\u00e9llo"}}]}"#
        )
    );

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.target, "/api/v1/chat/completions?api-version=2");
    assert_eq!(
        s.body,
        Bytes::from(body),
        "the body is forwarded byte for byte"
    );
    assert_eq!(
        s.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(s.header("x-client-trace"), Some("7"));
    assert_eq!(
        s.header("host"),
        Some(fake.addr.to_string().as_str()),
        "Host names the upstream"
    );
    assert!(
        s.header("x-client-hop").is_none()
            && s.header("connection")
                .is_none_or(|c| !c.contains("x-client-hop"))
    );

    let obs = h.drain();
    assert_eq!(obs.len(), 1, "{obs:?}");
    assert_eq!(obs[0].model, Q);
    assert_eq!(obs[0].outcome, RelayOutcome::Success);
    assert_eq!(
        obs[0].quota,
        QuotaHeaders {
            model_remaining: Some(41),
            model_limit: Some(50),
            requests_remaining: Some(1999),
            requests_limit: Some(2000)
        }
    );

    // Other /v1 paths pass through and are no chat completion.
    let resp = client
        .get(format!("{}/models", h.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Qwen3.5"));
    assert_eq!(fake.seen()[1].target, "/api/v1/models");
    assert_eq!(fake.seen()[1].method, "GET");
    assert!(h.drain().is_empty());
    // Outside /v1 the relay answers itself.
    let resp = client
        .get(format!("http://{}/health", h.relay.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(fake.hits(), 2);

    let health = h.health();
    assert_eq!(health.listening, h.relay.local_addr());
    assert_eq!(health.upstream, format!("http://{}/api/v1", fake.addr));
    assert_eq!(
        (
            health.relayed,
            health.answered_locally,
            health.upstream_errors
        ),
        (2, 0, 0)
    );
    let counts = health.days[&today(obs[0].at)][Q];
    assert_eq!((counts.calls, counts.success), (1, 1));
    assert_eq!(health.quota[Q].headers.model_remaining, Some(41));
}

#[tokio::test]
async fn bodies_that_are_not_json_are_forwarded_as_they_are_and_too_long_ones_refused() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    let mut h = Harness::start(&fake.base()).await;
    let client = client();

    let resp = post_chat(&client, &h.base(), "this is {not json").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        fake.seen()[0].body,
        Bytes::from_static(b"this is {not json")
    );
    assert!(
        h.drain().is_empty(),
        "a body that is not JSON is not counted"
    );

    // 7 MiB, under the relay's cap: read whole, so a model even at the end is known.
    let filler = "x".repeat(7 << 20);
    let late = format!(r#"{{"messages":[{{"role":"user","content":"{filler}"}}],"model":"{G}"}}"#);
    let resp = post_chat(&client, &h.base(), late.clone()).await;
    assert_eq!(resp.status(), 200);
    assert!(
        fake.seen()[1].body == late.as_bytes(),
        "a long body arrives whole and unchanged"
    );
    let obs = h.drain();
    assert_eq!(obs.len(), 1);
    assert_eq!(
        (obs[0].model.as_str(), &obs[0].outcome),
        (G, &RelayOutcome::Success)
    );

    // 9 MiB: over the cap, refused with a 413 and never sent on.
    let big = format!(r#"{{"model":"{G}","content":"{}"}}"#, "x".repeat(9 << 20));
    let resp = post_chat(&client, &h.base(), big).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(fake.seen().len(), 2);
    assert!(h.drain().is_empty());
    assert_eq!(h.health().relayed, 2);
}

#[tokio::test]
async fn a_long_sse_stream_arrives_whole_and_in_order() {
    let n = 5000;
    let chunks: Vec<Bytes> = (0..n)
        .map(|i| {
            Bytes::from(format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"tok{i} \"}}}}]}}\n\n"
            ))
        })
        .chain(std::iter::once(Bytes::from_static(b"data: [DONE]\n\n")))
        .collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let fake = Fake::start(move |_| Reply::Sse {
        chunks: chunks.clone(),
        gap: Duration::ZERO,
    })
    .await;
    let mut h = Harness::start(&fake.base()).await;
    let mut resp = post_chat(&client(), &h.base(), chat_body(Q, true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let mut got = Vec::new();
    let mut pieces = 0;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
        pieces += 1;
    }
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "every event, in order");
    assert!(pieces > 1, "streamed in pieces, not one buffered body");
    let obs = h.drain();
    assert_eq!(obs.len(), 1);
    assert_eq!(obs[0].outcome, RelayOutcome::Success);
    assert_eq!(obs[0].quota.model_remaining, Some(12));
}

#[tokio::test]
async fn the_first_sse_chunk_arrives_before_upstream_sends_its_last() {
    let chunks: Vec<Bytes> = (0..20)
        .map(|i| Bytes::from(format!("data: {{\"n\":{i}}}\n\n")))
        .collect();
    let gap = Duration::from_millis(40);
    let fake = Fake::start(move |_| Reply::Sse {
        chunks: chunks.clone(),
        gap,
    })
    .await;
    let h = Harness::start(&fake.base()).await;
    let client = client();

    async fn first_byte(client: &reqwest::Client, base: &str) -> (Duration, Instant, Vec<u8>) {
        let started = Instant::now();
        let mut resp = post_chat(client, base, chat_body(Q, true)).await;
        let first = resp.chunk().await.unwrap().expect("a first chunk");
        let first_at = Instant::now();
        let mut all = first.to_vec();
        while let Some(c) = resp.chunk().await.unwrap() {
            all.extend_from_slice(&c);
        }
        (first_at - started, first_at, all)
    }

    let (direct_ttfb, _, direct_body) = first_byte(&client, &fake.base()).await;
    let (relay_ttfb, relay_first_at, relay_body) = first_byte(&client, &h.base()).await;
    let last_sent = fake
        .state
        .last_chunk_sent
        .lock()
        .unwrap()
        .expect("upstream sent its last chunk");
    eprintln!(
        "SSE time to first byte: direct {:.2} ms, through the relay {:.2} ms (upstream streams for ~{} ms)",
        direct_ttfb.as_secs_f64() * 1e3,
        relay_ttfb.as_secs_f64() * 1e3,
        gap.as_millis() * 19
    );
    assert!(
        relay_first_at < last_sent,
        "the relay's first chunk came before upstream sent its last one"
    );
    assert_eq!(relay_body, direct_body);
    assert!(
        String::from_utf8(relay_body)
            .unwrap()
            .ends_with("data: {\"n\":19}\n\n")
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_ends_the_upstream_stream_too() {
    let chunks: Vec<Bytes> = (0..100)
        .map(|i| Bytes::from(format!("data: {{\"n\":{i}}}\n\n")))
        .collect();
    let fake = Fake::start(move |_| Reply::Sse {
        chunks: chunks.clone(),
        gap: Duration::from_millis(20),
    })
    .await;
    let mut h = Harness::start(&fake.base()).await;
    let client = client();
    let mut resp = post_chat(&client, &h.base(), chat_body(Q, true)).await;
    assert!(resp.chunk().await.unwrap().is_some());
    drop(resp);
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.state.abandoned_streams.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "upstream kept streaming to nobody"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fake.state.last_chunk_sent.lock().unwrap().is_none());
    // The relay serves on.
    let resp = post_chat(&client, &h.base(), chat_body(G, true)).await;
    assert_eq!(resp.status(), 200);
    drop(resp);
    assert_eq!(h.drain().len(), 2);
}

#[tokio::test]
async fn an_https_upstream_that_does_not_speak_tls_gives_502() {
    // The TLS path runs (crypto provider, certificate roots) against a plain-HTTP port.
    let fake = Fake::start(|_| ok_json("{}")).await;
    let mut h = Harness::start(&format!("https://{}/v1", fake.addr)).await;
    let resp = post_chat(&client(), &h.base(), chat_body(Q, false)).await;
    assert_eq!(resp.status(), 502);
    let msg = error_message(&resp.bytes().await.unwrap());
    assert!(msg.contains(&format!("https://{}/v1", fake.addr)), "{msg}");
    eprintln!("TLS to a plain port: {msg}");
    assert!(matches!(
        h.drain()[0].outcome,
        RelayOutcome::Failed { status: None, .. }
    ));
}

#[tokio::test]
async fn a_spent_model_is_answered_locally_without_reaching_upstream() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    let mut h = Harness::start(&fake.base()).await;
    let client = client();
    let resets_at = "2026-11-26T00:00:00+08:00";
    h.view.set_spent(HashMap::from([(
        format!("modelscope/{Q}"),
        SpentInfo {
            reason: "daily limit reached (50/50 calls)".into(),
            resets_at: resets_at.into(),
        },
    )]));

    for stream in [false, true] {
        let resp = post_chat(&client, &h.base(), chat_body(Q, stream)).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = resp.bytes().await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("daily quota exceeded") && msg.contains("requests per day"),
            "{msg}"
        );
        assert!(msg.contains(Q) && msg.contains(resets_at), "{msg}");
        assert_eq!(v["error"]["type"], "rate_limit_exceeded");
        assert_eq!(v["error"]["code"], "daily_limit_reached");
    }
    assert_eq!(
        fake.hits(),
        0,
        "upstream saw no request for the spent model"
    );

    // Another model still goes through.
    assert_eq!(
        post_chat(&client, &h.base(), chat_body(G, false))
            .await
            .status(),
        200
    );
    assert_eq!(fake.hits(), 1);

    let obs = h.drain();
    let outcomes: Vec<_> = obs
        .iter()
        .map(|o| (o.model.as_str(), o.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Q, RelayOutcome::AnsweredLocally),
            (Q, RelayOutcome::AnsweredLocally),
            (G, RelayOutcome::Success)
        ]
    );
    let health = h.health();
    assert_eq!((health.answered_locally, health.relayed), (2, 1));
    let day = &health.days[&today(obs[0].at)];
    assert_eq!(
        (day[Q].calls, day[Q].answered_locally),
        (0, 2),
        "local answers are not calls"
    );
    assert_eq!(day[G].calls, 1);

    // When the daemon lifts the mark, requests reach upstream again.
    h.view.set_spent(HashMap::new());
    assert_eq!(
        post_chat(&client, &h.base(), chat_body(Q, false))
            .await
            .status(),
        200
    );
    assert_eq!(fake.hits(), 2);
    assert_eq!(h.drain()[0].outcome, RelayOutcome::Success);
}

fn modelscope_429(remaining: u32) -> Reply {
    Reply::Full {
        status: 429,
        headers: vec![
            ("content-type", "application/json".into()),
            ("x-request-id", "r-429".into()),
            (
                "modelscope-ratelimit-model-requests-remaining",
                remaining.to_string(),
            ),
        ],
        body: Bytes::from_static(MODELSCOPE_429.as_bytes()),
    }
}

#[tokio::test]
async fn upstream_429s_pass_unchanged_until_the_judge_says_spent() {
    // 429 while `limited` is set; 200 otherwise. Kimi says it has 0 requests left.
    let limited = Arc::new(AtomicUsize::new(1));
    let l = limited.clone();
    let fake = Fake::start(move |seen| {
        if seen.model().as_deref() == Some(K) {
            return modelscope_429(0);
        }
        if l.load(Ordering::SeqCst) == 1 {
            modelscope_429(7)
        } else {
            ok_json(r#"{"ok":true}"#)
        }
    })
    .await;
    let mut h = Harness::start(&fake.base()).await;
    let client = client();

    for i in 1..=2 {
        let resp = post_chat(&client, &h.base(), chat_body(Q, true)).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["x-request-id"], "r-429");
        assert_eq!(
            resp.bytes().await.unwrap(),
            MODELSCOPE_429.as_bytes(),
            "429 number {i} passes unchanged"
        );
    }
    let resp = post_chat(&client, &h.base(), chat_body(Q, true)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.headers()["x-request-id"],
        "r-429",
        "upstream's other headers stay"
    );
    assert_eq!(
        resp.headers()["modelscope-ratelimit-model-requests-remaining"],
        "7"
    );
    let msg = error_message(&resp.bytes().await.unwrap());
    assert!(
        msg.contains("daily quota exceeded") && msg.contains("requests per day") && msg.contains(Q),
        "{msg}"
    );
    assert!(
        msg.contains("+08:00"),
        "the reset is given in Shanghai time: {msg}"
    );
    assert_eq!(fake.hits(), 3, "each of them reached upstream");
    // Each 429 was already reported when the judge was asked about it.
    assert_eq!(
        *h.judged.lock().unwrap(),
        [
            (Q.to_owned(), 1, 1),
            (Q.to_owned(), 2, 2),
            (Q.to_owned(), 3, 3)
        ]
    );

    // A success ends the run of 429s: the next one is a first again.
    limited.store(0, Ordering::SeqCst);
    assert_eq!(
        post_chat(&client, &h.base(), chat_body(Q, true))
            .await
            .status(),
        200
    );
    limited.store(1, Ordering::SeqCst);
    let resp = post_chat(&client, &h.base(), chat_body(Q, true)).await;
    assert_eq!(resp.bytes().await.unwrap(), MODELSCOPE_429.as_bytes());
    assert_eq!(
        h.judged.lock().unwrap().last().unwrap(),
        &(Q.to_owned(), 1, 5)
    );

    // A 429 saying no requests are left is spent at once.
    let resp = post_chat(&client, &h.base(), chat_body(K, true)).await;
    assert!(error_message(&resp.bytes().await.unwrap()).contains("daily quota exceeded"));

    let obs = h.drain();
    let outcomes: Vec<_> = obs
        .iter()
        .map(|o| (o.model.as_str(), o.outcome.clone()))
        .collect();
    use RelayOutcome::{RateLimited, Success};
    assert_eq!(
        outcomes,
        [
            (Q, RateLimited),
            (Q, RateLimited),
            (Q, RateLimited),
            (Q, Success),
            (Q, RateLimited),
            (K, RateLimited)
        ]
    );
    let health = h.health();
    assert_eq!(health.rewritten_429, 2);
    let day = &health.days[&today(obs[0].at)];
    assert_eq!(
        (day[Q].calls, day[Q].rate_limited, day[Q].success),
        (5, 4, 1)
    );
}

#[tokio::test]
async fn a_judge_that_says_throttle_leaves_every_429_alone() {
    let fake = Fake::start(|_| modelscope_429(3)).await;
    let h = Harness::with(
        &fake.base(),
        Duration::from_secs(10),
        Arc::new(|_: &RateLimitSeen<'_>| Judgement::Throttle),
        64,
    )
    .await;
    let client = client();
    for _ in 0..5 {
        let resp = post_chat(&client, &h.base(), chat_body(Q, false)).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.bytes().await.unwrap(), MODELSCOPE_429.as_bytes());
    }
    assert_eq!(
        h.judged
            .lock()
            .unwrap()
            .iter()
            .map(|j| j.1)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(h.health().rewritten_429, 0);
}

#[tokio::test]
async fn gone_models_and_other_errors_are_told_apart_and_passed_on() {
    let fake = Fake::start(|seen| match seen.model().as_deref() {
        Some("gone/by-400") => status_json(
            400,
            r#"{"errors":{"message":"Model gone/by-400 has no provider supported"}}"#,
        ),
        Some("gone/by-404") => status_json(404, r#"{"error":{"message":"model not found"}}"#),
        Some("bad/request") => {
            status_json(400, r#"{"error":{"message":"messages must not be empty"}}"#)
        }
        Some("server/error") => Reply::Full {
            status: 500,
            headers: vec![],
            body: Bytes::from_static(b"internal error"),
        },
        _ => status_json(
            401,
            &format!(r#"{{"error":{{"message":"Authentication failed for Bearer {SECRET}"}}}}"#),
        ),
    })
    .await;
    let mut h = Harness::start(&fake.base()).await;
    let client = client();
    let cases: [(&str, u16); 5] = [
        ("gone/by-400", 400),
        ("gone/by-404", 404),
        ("bad/request", 400),
        ("server/error", 500),
        ("auth/fails", 401),
    ];
    for (model, status) in cases {
        let resp = post_chat(&client, &h.base(), chat_body(model, false)).await;
        assert_eq!(resp.status(), status, "{model}");
        let body = resp.bytes().await.unwrap();
        let upstream_body = match model {
            "server/error" => "internal error".to_owned(),
            _ => String::from_utf8(body.to_vec()).unwrap(),
        };
        assert_eq!(
            body,
            upstream_body.as_bytes(),
            "{model}: the body passes unchanged"
        );
    }
    let obs = h.drain();
    let outcomes: Vec<_> = obs
        .iter()
        .map(|o| (o.model.as_str(), o.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (
                "gone/by-400",
                RelayOutcome::Gone {
                    detail: "Model gone/by-400 has no provider supported".into()
                }
            ),
            (
                "gone/by-404",
                RelayOutcome::Gone {
                    detail: "model not found".into()
                }
            ),
            (
                "bad/request",
                RelayOutcome::Failed {
                    status: Some(400),
                    detail: "messages must not be empty".into()
                }
            ),
            (
                "server/error",
                RelayOutcome::Failed {
                    status: Some(500),
                    detail: "internal error".into()
                }
            ),
            (
                "auth/fails",
                RelayOutcome::Failed {
                    status: Some(401),
                    detail: "Authentication failed for [redacted]".into()
                }
            ),
        ]
    );
    let day = &h.health().days[&today(obs[0].at)];
    assert_eq!(
        (
            day["gone/by-400"].gone,
            day["bad/request"].failed,
            day["server/error"].calls
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn an_unreachable_upstream_gives_502_and_the_relay_serves_on_when_it_is_back() {
    // A socket bound but not listening: connections to its port are refused, and the port stays ours.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let mut h = Harness::start(&format!("http://{addr}/v1")).await;
    let client = client();
    let started = Instant::now();
    let resp = post_chat(&client, &h.base(), chat_body(Q, false)).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let msg = error_message(&resp.bytes().await.unwrap());
    assert!(
        msg.contains("unreachable") && msg.contains(&addr.to_string()),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let obs = h.drain();
    assert_eq!(obs.len(), 1);
    assert!(
        matches!(&obs[0].outcome, RelayOutcome::Failed { status: None, detail } if detail.contains("unreachable")),
        "{obs:?}"
    );

    // Upstream comes up on that port: the same relay reaches it.
    let fake = Fake::on(socket.listen(64).unwrap(), |_| ok_json(r#"{"ok":true}"#), 0);
    let resp = post_chat(&client, &h.base(), chat_body(Q, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.hits(), 1);
    let health = h.health();
    assert_eq!((health.upstream_errors, health.relayed), (1, 2));
    let day = &health.days[&today(obs[0].at)][Q];
    assert_eq!((day.unreachable, day.calls, day.success), (1, 1, 1));
}

#[tokio::test]
async fn a_slow_upstream_gives_504_and_the_next_request_is_served() {
    let fake = Fake::start(|seen| {
        if seen.model().as_deref() == Some("slow/model") {
            Reply::Late {
                delay: Duration::from_secs(5),
                then: Box::new(ok_json("{}")),
            }
        } else {
            ok_json(r#"{"ok":true}"#)
        }
    })
    .await;
    let mut h = Harness::with(
        &fake.base(),
        Duration::from_millis(300),
        consecutive_judge(3, QuotaCalendar::shanghai_midnight()),
        64,
    )
    .await;
    let client = client();
    let started = Instant::now();
    let resp = post_chat(&client, &h.base(), chat_body("slow/model", true)).await;
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let msg = error_message(&resp.bytes().await.unwrap());
    assert!(msg.contains("no response headers within 0.3 s"), "{msg}");
    assert_eq!(
        post_chat(&client, &h.base(), chat_body(Q, false))
            .await
            .status(),
        200
    );
    let obs = h.drain();
    assert!(
        matches!(&obs[0].outcome, RelayOutcome::Failed { status: None, .. }),
        "{obs:?}"
    );
    assert_eq!(obs[1].outcome, RelayOutcome::Success);
    assert_eq!(h.health().upstream_errors, 1);
}

#[tokio::test]
async fn an_upstream_answering_garbage_gives_502_and_the_next_request_is_served() {
    let fake = Fake::on(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        |_| ok_json(r#"{"ok":true}"#),
        1,
    );
    let mut h = Harness::start(&fake.base()).await;
    let client = client();
    let resp = post_chat(&client, &h.base(), chat_body(Q, false)).await;
    assert_eq!(resp.status(), 502);
    let msg = error_message(&resp.bytes().await.unwrap());
    assert!(msg.contains("no valid HTTP response"), "{msg}");
    let resp = post_chat(&client, &h.base(), chat_body(Q, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true}"#);
    let obs = h.drain();
    assert_eq!(obs.len(), 2);
    assert!(matches!(
        &obs[0].outcome,
        RelayOutcome::Failed { status: None, .. }
    ));
    assert_eq!(h.health().upstream_errors, 1);
}

#[tokio::test]
async fn every_chat_completion_is_observed_and_counted_exactly_once() {
    let fake = Fake::start(|seen| match seen.model().as_deref() {
        Some(m) if m == Q => ok_json(r#"{"ok":true}"#),
        Some(m) if m == G => modelscope_429(5),
        _ => status_json(500, r#"{"error":{"message":"boom"}}"#),
    })
    .await;
    // A judge that never rewrites, so every 429 is the same.
    let mut h = Harness::with(
        &fake.base(),
        Duration::from_secs(10),
        Arc::new(|_: &RateLimitSeen<'_>| Judgement::Throttle),
        1024,
    )
    .await;
    h.view.set_spent(HashMap::from([(
        "modelscope/spent/model".to_owned(),
        SpentInfo {
            reason: "r".into(),
            resets_at: "later".into(),
        },
    )]));
    let client = client();
    let per_model = 25;
    let models = [Q, G, K, "spent/model"];
    let requests = (0..per_model).flat_map(|i| models.iter().map(move |m| (i, *m)));
    let statuses: Vec<(String, u16)> = futures::stream::iter(requests)
        .map(|(i, m)| {
            let (client, base) = (client.clone(), h.base());
            async move {
                let resp = post_chat(&client, &base, chat_body(m, i % 2 == 0)).await;
                let status = resp.status().as_u16();
                let _ = resp.bytes().await.unwrap();
                (m.to_owned(), status)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(statuses.len(), per_model * models.len());
    assert_eq!(
        fake.hits(),
        per_model * 3,
        "the spent model never reached upstream"
    );

    let obs = h.drain();
    assert_eq!(obs.len(), per_model * models.len());
    let mut by_model: HashMap<&str, Vec<&RelayOutcome>> = HashMap::new();
    for o in &obs {
        by_model
            .entry(o.model.as_str())
            .or_default()
            .push(&o.outcome);
    }
    for m in models {
        assert_eq!(by_model[m].len(), per_model, "{m}");
    }
    assert!(by_model[Q].iter().all(|o| **o == RelayOutcome::Success));
    assert!(by_model[G].iter().all(|o| **o == RelayOutcome::RateLimited));
    assert!(by_model[K].iter().all(|o| matches!(
        o,
        RelayOutcome::Failed {
            status: Some(500),
            ..
        }
    )));
    assert!(
        by_model["spent/model"]
            .iter()
            .all(|o| **o == RelayOutcome::AnsweredLocally)
    );

    let health = h.health();
    let day = &health.days[&today(obs[0].at)];
    let n = per_model as u32;
    assert_eq!((day[Q].calls, day[Q].success), (n, n));
    assert_eq!((day[G].calls, day[G].rate_limited), (n, n));
    assert_eq!((day[K].calls, day[K].failed), (n, n));
    assert_eq!(
        (
            day["spent/model"].calls,
            day["spent/model"].answered_locally
        ),
        (0, n)
    );
    assert_eq!(health.relayed, 3 * per_model as u64);
    assert_eq!(health.answered_locally, per_model as u64);
    assert_eq!(health.observations_dropped, 0);
}

#[tokio::test]
async fn a_daemon_that_falls_behind_never_holds_up_a_response() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    // Room for one observation, and nobody reads them.
    let h = Harness::with(
        &fake.base(),
        Duration::from_secs(10),
        consecutive_judge(3, QuotaCalendar::shanghai_midnight()),
        1,
    )
    .await;
    let client = client();
    for _ in 0..4 {
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            post_chat(&client, &h.base(), chat_body(Q, false)),
        )
        .await;
        assert_eq!(
            resp.expect("answered without waiting for the daemon")
                .status(),
            200
        );
    }
    let health = h.health();
    assert_eq!(health.observations_dropped, 3);
    let day = health.days.values().next().unwrap();
    assert_eq!(day[Q].calls, 4, "the relay's own counts miss nothing");
}

#[tokio::test]
async fn the_credential_is_forwarded_but_never_logged_observed_or_shown() {
    let fake = Fake::start(|seen| match seen.model().as_deref() {
        Some("echo/401") => status_json(
            401,
            &format!(r#"{{"error":{{"message":"bad key Bearer {SECRET}"}}}}"#),
        ),
        Some("limit/429") => modelscope_429(0),
        Some("gone/404") => status_json(404, r#"{"error":{"message":"no such model"}}"#),
        Some("slow/model") => Reply::Late {
            delay: Duration::from_secs(5),
            then: Box::new(ok_json("{}")),
        },
        _ => Reply::Sse {
            chunks: vec![Bytes::from_static(b"data: {}\n\n")],
            gap: Duration::ZERO,
        },
    })
    .await;
    let mut h = Harness::with(
        &fake.base(),
        Duration::from_millis(300),
        consecutive_judge(3, QuotaCalendar::shanghai_midnight()),
        64,
    )
    .await;
    h.view.set_spent(HashMap::from([(
        format!("modelscope/{K}"),
        SpentInfo {
            reason: "spent".into(),
            resets_at: "tomorrow".into(),
        },
    )]));
    let client = client();
    let mut bodies = Vec::new();
    for model in [Q, "echo/401", "limit/429", "gone/404", "slow/model", K] {
        let resp = post_chat(&client, &h.base(), chat_body(model, true)).await;
        bodies.push((model, resp.status().as_u16(), resp.text().await.unwrap()));
    }
    // Unreachable and garbage upstreams too.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = socket.local_addr().unwrap();
    let down = Harness::start(&format!("http://{closed}/v1")).await;
    let junk = Fake::on(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        |_| ok_json("{}"),
        10,
    );
    let garbage = Harness::start(&junk.base()).await;
    for base in [down.base(), garbage.base()] {
        let resp = post_chat(&client, &base, chat_body(Q, false)).await;
        bodies.push(("-", resp.status().as_u16(), resp.text().await.unwrap()));
    }

    let statuses: Vec<u16> = bodies.iter().map(|b| b.1).collect();
    assert_eq!(
        statuses,
        [200, 401, 429, 404, 504, 429, 502, 502],
        "{bodies:?}"
    );
    // Upstream got it unchanged every time.
    for seen in fake.seen() {
        assert_eq!(
            seen.header("authorization"),
            Some(format!("Bearer {SECRET}").as_str())
        );
    }
    // The relay's own answers do not repeat it (the 401 body is upstream's own, passed on).
    for (model, _, body) in bodies.iter().filter(|b| b.0 != "echo/401") {
        assert!(!body.contains(SECRET), "{model}: {body}");
    }
    let obs = h.drain();
    assert_eq!(obs.len(), 6);
    assert!(!format!("{obs:?}").contains(SECRET), "{obs:?}");
    assert!(!serde_json::to_string(&obs).unwrap().contains(SECRET));
    for health in [h.health(), down.health(), garbage.health()] {
        assert!(!serde_json::to_string(&health).unwrap().contains(SECRET));
    }

    let text = log_text();
    // The capture works: the relay's lines for these very requests are there.
    for needle in [
        "relay listening",
        "spent: answered locally",
        "upstream 429 judged spent",
        "upstream error passed on",
        "is unreachable",
        "gave no valid HTTP response",
        "no response headers within",
    ] {
        assert!(text.contains(needle), "no log line with {needle:?}");
    }
    assert!(
        text.contains("[redacted]"),
        "the echoed key was redacted in the log"
    );
    assert!(
        !text.contains(SECRET),
        "the credential appears in a log line"
    );
    assert!(!text.contains(&SECRET[3..15]));
}

#[tokio::test]
async fn start_refuses_a_non_loopback_address_and_shutdown_stops_listening() {
    let (tx, _rx) = mpsc::channel(1);
    let judge = consecutive_judge(3, QuotaCalendar::shanghai_midnight());
    let cfg = RelayConfig::new(
        "0.0.0.0:0".parse().unwrap(),
        "http://127.0.0.1:9/v1",
        auth(),
    );
    let err = Relay::start(
        cfg,
        RelayPolicyView::new(),
        judge.clone(),
        tx.clone(),
        QuotaCalendar::shanghai_midnight(),
    )
    .await;
    assert!(matches!(err, Err(RelayError::NotLoopback(_))));
    let cfg = RelayConfig::new("127.0.0.1:0".parse().unwrap(), "ftp://127.0.0.1/v1", auth());
    let err = Relay::start(
        cfg,
        RelayPolicyView::new(),
        judge.clone(),
        tx.clone(),
        QuotaCalendar::shanghai_midnight(),
    )
    .await;
    assert!(matches!(err, Err(RelayError::BadUpstream(_))));

    let fake = Fake::start(|_| ok_json("{}")).await;
    let h = Harness::start(&fake.base()).await;
    let addr = h.relay.local_addr();
    assert_eq!(h.base(), h.relay.base_url());
    assert_eq!(
        post_chat(&client(), &h.base(), chat_body(Q, false))
            .await
            .status(),
        200
    );
    let started = Instant::now();
    h.relay.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn relay_added_latency() {
    let fake = Fake::start(|_| {
        ok_json(r#"{"id":"c","choices":[{"message":{"role":"assistant","content":"ok"}}]}"#)
    })
    .await;
    let mut h = Harness::start(&fake.base()).await;
    let client = client();
    let rounds = 200;
    async fn time(client: &reqwest::Client, base: &str) -> Duration {
        let started = Instant::now();
        let resp = post_chat(client, base, chat_body(Q, false)).await;
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await.unwrap();
        started.elapsed()
    }
    // Warm both paths' connections first.
    time(&client, &fake.base()).await;
    time(&client, &h.base()).await;
    let (mut direct, mut relayed) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        direct.push(time(&client, &fake.base()).await);
        relayed.push(time(&client, &h.base()).await);
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
    };
    let (d50, d99) = (pct(&mut direct, 0.5), pct(&mut direct, 0.99));
    let (r50, r99) = (pct(&mut relayed, 0.5), pct(&mut relayed, 0.99));
    eprintln!(
        "relay latency over {rounds} requests (debug build): direct p50 {d50:.3} ms p99 {d99:.3} ms; \
         relayed p50 {r50:.3} ms p99 {r99:.3} ms; added p50 {:.3} ms p99 {:.3} ms",
        r50 - d50,
        r99 - d99
    );
    assert_eq!(h.drain().len(), rounds + 1);
    assert_eq!(fake.hits(), 2 * rounds + 2);
}

// ---------------------------------------------------------------------------------------------
// Bounded inputs: body size and deadline, connections, model names.

/// Sends `head` (and whatever body bytes it holds) on a raw connection and reads the answer
/// until the relay closes it (or `wait` passes).
async fn raw_exchange(addr: SocketAddr, head: &[u8], wait: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut got)).await;
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_and_one_over_the_cap_413_without_reaching_upstream() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    let mut cfg = RelayConfig::new("127.0.0.1:0".parse().unwrap(), fake.base(), auth());
    cfg.body_timeout = Duration::from_millis(500);
    let (tx, _rx) = mpsc::channel(16);
    let relay = Relay::start(
        cfg,
        RelayPolicyView::new(),
        consecutive_judge(3, QuotaCalendar::shanghai_midnight()),
        tx,
        QuotaCalendar::shanghai_midnight(),
    )
    .await
    .unwrap();
    let addr = relay.local_addr();

    // Headers promise 7 MiB; 20 bytes come, then nothing.
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{\"model\":\"{G}\",\"m",
        7 << 20
    );
    let (answer, took) = raw_exchange(addr, head.as_bytes(), Duration::from_secs(10)).await;
    println!("stalled body answered in {took:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took < Duration::from_secs(5),
        "answered at the deadline: {took:?}"
    );

    // A length over the cap is refused from the headers alone.
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: {}\r\n\r\n",
        (8 << 20) + 1
    );
    let (answer, took) = raw_exchange(addr, head.as_bytes(), Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(fake.seen().is_empty(), "nothing reached upstream");
    assert_eq!(relay.health().relayed, 0);
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once_and_the_relay_serves_on() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    let h = Harness::start(&fake.base()).await;
    let addr = h.relay.local_addr();
    let cap = msclawd::relay::connection_cap();
    // Idle connections that never send a header, 20 past the cap.
    let mut idle = Vec::new();
    for _ in 0..cap + 20 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let started = Instant::now();
    let mut closed = 0;
    for s in &mut idle {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(20), s.read(&mut b)).await
        {
            closed += 1;
        }
    }
    println!(
        "cap {cap}: {closed} connections refused, checked in {:?}",
        started.elapsed()
    );
    assert!(
        closed >= 20,
        "the connections past the cap are closed: {closed}"
    );
    assert!(closed <= 20 + 1, "those under it are kept: {closed}");
    drop(idle);
    // Once they are gone the relay answers again.
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout(
            Duration::from_secs(2),
            client
                .post(format!("{}/chat/completions", h.base()))
                .body(chat_body(Q, false))
                .send(),
        )
        .await
        {
            Ok(Ok(r)) if r.status() == 200 => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("the relay does not serve again: {other:?}"),
        }
    }
}

#[tokio::test]
async fn model_names_are_bounded_in_the_relay_figures_and_observations() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    let mut h = Harness::start(&fake.base()).await;
    let client = client();
    for i in 0..80 {
        let resp = post_chat(
            &client,
            &h.base(),
            chat_body(&format!("made-up/model-{i}"), false),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    let long = "L".repeat(4096);
    let resp = post_chat(&client, &h.base(), chat_body(&long, false)).await;
    assert_eq!(resp.status(), 200, "forwarded all the same");
    let health = h.health();
    let day = health.days.values().next().unwrap();
    assert!(day.len() <= 65, "a bounded number of names: {}", day.len());
    assert!(day.keys().all(|m| m.len() < 100));
    assert_eq!(day.values().map(|c| c.calls).sum::<u32>(), 80);
    let obs = h.drain();
    assert_eq!(obs.len(), 80, "a 4 KiB name is not reported");
}

// ---------------------------------------------------------------------------------------------
// Who may use the relay, and where it may forward.

#[tokio::test]
async fn a_request_without_the_relay_token_gets_401_reaches_nothing_and_is_not_observed() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    let mut h = Harness::start(&fake.base()).await;
    let bare = reqwest::Client::builder().no_proxy().build().unwrap();
    // Another local user's client: its own key, the real key, a near miss, or nothing.
    for authorization in [
        Some(format!("Bearer {SECRET}")),
        Some("Bearer sk-another-users-own-key".to_owned()),
        Some(format!("Bearer {}", &TOKEN[..63])),
        Some(TOKEN.to_owned()),
        None,
    ] {
        let mut req = bare
            .post(format!("{}/chat/completions", h.base()))
            .body(chat_body(Q, false));
        if let Some(a) = &authorization {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{authorization:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let message = error_message(&resp.bytes().await.unwrap());
        assert!(message.contains("relay token"), "{message}");
    }
    // A spent model is not answered locally either: nothing is said without the token.
    h.view.set_spent(HashMap::from([(
        format!("modelscope/{Q}"),
        SpentInfo {
            reason: "test".into(),
            resets_at: "2026-12-04T00:00:00+08:00".into(),
        },
    )]));
    let resp = bare
        .post(format!("{}/chat/completions", h.base()))
        .body(chat_body(Q, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(fake.hits(), 0, "nothing reached upstream");
    assert!(
        h.drain().is_empty(),
        "no observation from a refused request"
    );
    let health = h.health();
    assert_eq!((health.relayed, health.answered_locally), (0, 0));
    println!(
        "5 requests without the token and 1 for a spent model: 401 each, 0 forwarded, 0 observed"
    );
}

#[tokio::test]
async fn a_path_with_dot_segments_gets_400_before_any_forward() {
    let fake = Fake::start(|_| ok_json(r#"{"ok":true}"#)).await;
    let mut h = Harness::start(&format!("http://{}/api/v1", fake.addr)).await;
    let addr = h.relay.local_addr();
    for path in [
        "/v1/../x",
        "/v1/%2e%2e/x",
        "/v1/%2E%2E/%2e%2e/x",
        "/v1/./chat/completions",
        "/v1//x",
        "/v1/a%2f..%2fx",
    ] {
        // Raw, so that no client library normalizes the path first.
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        let (answer, _) = raw_exchange(addr, head.as_bytes(), Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
    }
    assert_eq!(fake.hits(), 0, "nothing reached upstream");
    assert!(h.drain().is_empty());
}

#[tokio::test]
async fn a_relay_never_forwards_to_itself() {
    let (tx, _rx) = mpsc::channel(16);
    let judge = consecutive_judge(3, QuotaCalendar::shanghai_midnight());
    // At start: an upstream on the relay's own loopback port.
    let port = msclaw_tests::openclaw::free_port().unwrap();
    for upstream in [
        format!("http://127.0.0.1:{port}/v1"),
        format!("http://localhost:{port}/v1"),
    ] {
        let cfg = RelayConfig::new(
            format!("127.0.0.1:{port}").parse().unwrap(),
            upstream.clone(),
            auth(),
        );
        let err = Relay::start(
            cfg,
            RelayPolicyView::new(),
            judge.clone(),
            tx.clone(),
            QuotaCalendar::shanghai_midnight(),
        )
        .await;
        assert!(
            matches!(err, Err(RelayError::ForwardsToItself { .. })),
            "{upstream}: {:?}",
            err.err()
        );
    }
    // Per request: two relays pointed at each other (no shared port to catch at start). The
    // token is the same, as when one install's relay is named twice.
    let a_port = msclaw_tests::openclaw::free_port().unwrap();
    let b = Harness::start(&format!("http://127.0.0.1:{a_port}/v1")).await;
    let (tx_a, mut rx_a) = mpsc::channel(16);
    let a = Relay::start(
        RelayConfig::new(
            format!("127.0.0.1:{a_port}").parse().unwrap(),
            b.base(),
            RelayAuth::new(TOKEN, Some(TOKEN.to_owned())),
        ),
        RelayPolicyView::new(),
        judge,
        tx_a,
        QuotaCalendar::shanghai_midnight(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let resp = post_chat(&client(), &a.base_url(), chat_body(Q, false)).await;
    let status = resp.status();
    let body = resp.bytes().await.unwrap();
    assert_eq!(status, 508, "{}", String::from_utf8_lossy(&body));
    assert!(started.elapsed() < Duration::from_secs(5));
    // b refused a's forward at once; a passed b's 508 on (one hop each, no loop).
    assert_eq!(b.health().relayed, 0);
    assert_eq!(a.health().relayed, 1);
    let observed = rx_a.try_recv().unwrap();
    assert!(matches!(
        observed.outcome,
        RelayOutcome::Failed {
            status: Some(508),
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------------
// Several providers: `/v1` is the rotation provider's, `/<provider>/v1` another's.

/// OpenRouter's real key in these tests: only the OpenRouter fake may see it.
const OR_SECRET: &str = "sk-or-v1-relay-test-secret-77aa";
const OR_FREE: &str = "qwen/qwen3-coder:free";

/// A relay fronting `ms` as the rotation provider and `or` as `openrouter` (base `/api/v1`).
async fn two_provider_harness(ms: &Fake, or: &Fake) -> Harness {
    let cfg = RelayConfig::new("127.0.0.1:0".parse().unwrap(), ms.base(), auth()).with_provider(
        "openrouter",
        ProviderUpstream::new(
            format!("http://{}/api/v1", or.addr),
            Some(OR_SECRET.to_owned()),
        ),
    );
    let judge = consecutive_judge(3, QuotaCalendar::shanghai_midnight());
    Harness::with_config(cfg, judge, 1024).await
}

#[tokio::test]
async fn each_provider_gets_its_own_requests_with_its_own_key_and_never_the_token() {
    let ms = Fake::start(|_| ok_json(r#"{"from":"modelscope"}"#)).await;
    let or = Fake::start(|_| ok_json(r#"{"from":"openrouter"}"#)).await;
    let mut h = two_provider_harness(&ms, &or).await;
    let relay = format!("http://{}", h.relay.local_addr());
    let client = client();

    let resp = post_chat(&client, &h.base(), chat_body(Q, false)).await;
    assert_eq!(resp.text().await.unwrap(), r#"{"from":"modelscope"}"#);
    let resp = post_chat(
        &client,
        &h.relay.provider_base_url("openrouter"),
        chat_body(OR_FREE, true),
    )
    .await;
    assert_eq!(resp.text().await.unwrap(), r#"{"from":"openrouter"}"#);
    // The rotation provider answers under its own id too; other paths below /v1 pass.
    let resp = client
        .get(format!("{relay}/modelscope/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client
        .get(format!("{relay}/openrouter/v1/models?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let targets = |f: &Fake| {
        f.seen()
            .iter()
            .map(|s| s.target.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(targets(&ms), ["/v1/chat/completions", "/v1/models"]);
    assert_eq!(
        targets(&or),
        ["/api/v1/chat/completions", "/api/v1/models?x=1"]
    );
    for (fake, key) in [(&ms, SECRET), (&or, OR_SECRET)] {
        for seen in fake.seen() {
            assert_eq!(
                seen.header("authorization"),
                Some(format!("Bearer {key}").as_str()),
                "{}",
                seen.target
            );
            let all = format!("{:?}{}", seen.headers, String::from_utf8_lossy(&seen.body));
            assert!(!all.contains(TOKEN), "the relay token went upstream");
        }
    }
    let obs: Vec<(String, String, RelayOutcome)> = h
        .drain()
        .into_iter()
        .map(|o| (o.provider, o.model, o.outcome))
        .collect();
    assert_eq!(
        obs,
        [
            ("modelscope".into(), Q.into(), RelayOutcome::Success),
            ("openrouter".into(), OR_FREE.into(), RelayOutcome::Success),
        ]
    );
    // The figures keep the rotation provider's ids as they were, and name the others'.
    let today = today(Timestamp::now());
    let day = &h.health().days[&today];
    assert_eq!(day[Q].success, 1);
    assert_eq!(day[&format!("openrouter/{OR_FREE}")].success, 1);
    let logs = log_text();
    assert!(!logs.contains(OR_SECRET) && !logs.contains(SECRET));
}

#[tokio::test]
async fn an_unknown_provider_gets_404_and_nothing_is_forwarded() {
    let ms = Fake::start(|_| ok_json("{}")).await;
    let or = Fake::start(|_| ok_json("{}")).await;
    let mut h = two_provider_harness(&ms, &or).await;
    let relay = format!("http://{}", h.relay.local_addr());
    for base in ["ollama/v1", "OpenRouter/v1", "openrouterx/v1", "v2"] {
        let resp = post_chat(&client(), &format!("{relay}/{base}"), chat_body(Q, false)).await;
        assert_eq!(resp.status(), 404, "{base}");
    }
    let resp = client()
        .get(format!("{relay}/openrouter/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        404,
        "a known provider, but not below its /v1"
    );
    // Every other rule holds below a provider too: the token, the path, the hop.
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{relay}/openrouter/v1/chat/completions"))
        .header("authorization", format!("Bearer {OR_SECRET}"))
        .body(chat_body(OR_FREE, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let addr = h.relay.local_addr();
    for path in [
        "/openrouter/v1/../x",
        "/openrouter/v1/%2e%2e/x",
        "/openrouter//v1/x",
        "/openrouter/../v1/x",
        "/%2e%2e/v1/x",
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        let (answer, _) = raw_exchange(addr, head.as_bytes(), Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
    }
    let resp = client()
        .post(format!("{relay}/openrouter/v1/chat/completions"))
        .header("x-msclaw-relay-hop", "1")
        .body(chat_body(OR_FREE, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 508);
    assert_eq!((ms.hits(), or.hits()), (0, 0), "nothing was forwarded");
    assert!(h.drain().is_empty(), "nothing was observed");
}

#[tokio::test]
async fn a_spent_model_of_another_provider_is_answered_locally_and_only_there() {
    let ms = Fake::start(|_| ok_json(r#"{"from":"modelscope"}"#)).await;
    let or = Fake::start(|_| ok_json(r#"{"from":"openrouter"}"#)).await;
    let mut h = two_provider_harness(&ms, &or).await;
    h.view.set_spent(HashMap::from([(
        format!("openrouter/{OR_FREE}"),
        SpentInfo {
            reason: "pool openrouter-free spent".into(),
            resets_at: "2026-12-04T00:00:00+00:00".into(),
        },
    )]));
    let resp = post_chat(
        &client(),
        &h.relay.provider_base_url("openrouter"),
        chat_body(OR_FREE, false),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-msclaw-relay"], "answered-locally");
    let message = error_message(&resp.bytes().await.unwrap());
    assert!(message.contains("daily quota"), "{message}");
    assert_eq!(or.hits(), 0, "the spent model never reached OpenRouter");
    // The same id at another provider is another model: forwarded.
    let resp = post_chat(&client(), &h.base(), chat_body(OR_FREE, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(ms.hits(), 1);
    let obs: Vec<(String, RelayOutcome)> = h
        .drain()
        .into_iter()
        .map(|o| (o.provider, o.outcome))
        .collect();
    assert_eq!(
        obs,
        [
            ("openrouter".into(), RelayOutcome::AnsweredLocally),
            ("modelscope".into(), RelayOutcome::Success),
        ]
    );
}

#[tokio::test]
async fn balance_errors_are_observed_as_quota_errors_and_a_real_name_403_is_not() {
    const BALANCE: &str =
        r#"{"errors":{"code":"QuotaLimitExceed","message":"magicube balance exhausted"}}"#;
    const REAL_NAME: &str =
        r#"{"errors":{"message":"please complete real-name verification (实名认证) first"}}"#;
    let ms = Fake::start(|seen| match seen.model().as_deref() {
        Some(Q) => status_json(403, BALANCE),
        Some(G) => status_json(402, r#"{"error":{"message":"Payment Required"}}"#),
        _ => status_json(403, REAL_NAME),
    })
    .await;
    let mut h = Harness::start(&ms.base()).await;
    for model in [Q, G, K] {
        let resp = post_chat(&client(), &h.base(), chat_body(model, false)).await;
        assert!(matches!(resp.status().as_u16(), 402 | 403));
    }
    let obs: Vec<(String, RelayOutcome)> = h
        .drain()
        .into_iter()
        .map(|o| (o.model, o.outcome))
        .collect();
    assert_eq!(obs[0], (Q.to_owned(), RelayOutcome::RateLimited));
    assert_eq!(obs[1], (G.to_owned(), RelayOutcome::RateLimited));
    assert!(
        matches!(
            &obs[2],
            (m, RelayOutcome::Failed { status: Some(403), .. }) if m == K
        ),
        "{obs:?}"
    );
    let judged: Vec<String> = h
        .judged
        .lock()
        .unwrap()
        .iter()
        .map(|j| j.0.clone())
        .collect();
    assert_eq!(
        judged,
        [Q, G],
        "each balance error went to the judge as a quota error"
    );
}
