//! Forwarding one request: paths below `/v1` (or `/<provider>/v1`) go to that provider's upstream;
//! a chat completion for a model held spent is answered here; an upstream error is read far enough to classify, reported, and a 429 judged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::auth::HOP_HEADER;
use super::body::{
    BodyBudget, BodyRefused, ReadBody, RelayBody, full, json_response, passthrough, read_start,
    response_with, streaming_body,
};
use super::health::{Stats, Tally};
use super::inspect::{
    QuotaHeaders, error_body, error_detail, is_chat_completion, model_of, redact, spent_body,
    strip_hop_by_hop,
};
use super::judge::{Judge, Judgement, RateLimitSeen, Streaks, outcome_of_error};
use super::routes::{Route, Routed, Routes};
use super::upstream::{error_chain, is_unsafe_path};
use super::{
    LOG_TARGET, MAX_MODEL_ID, MAX_REQUEST_BODY, RelayObservation, RelayOutcome, RelayPolicyView,
    SpentInfo, model_ref,
};
use crate::clock::Clock;
use crate::quota_calendar::QuotaCalendar;

/// How much of an upstream error body is read to classify it.
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// What every connection of the relay shares.
pub(super) struct Shared {
    /// Each provider's upstream, real key and client, by path.
    pub(super) routes: Routes,
    pub(super) header_timeout: Duration,
    pub(super) body_timeout: Duration,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) quota_calendar: QuotaCalendar,
    pub(super) view: RelayPolicyView,
    pub(super) judge: Judge,
    pub(super) observations: mpsc::Sender<RelayObservation>,
    pub(super) stats: Stats,
    pub(super) streaks: Streaks,
    /// What request bodies being read may hold in memory, all connections together.
    pub(super) body_budget: BodyBudget,
}

/// The request being answered, for the answer and its log line.
struct Exchange<'a> {
    method: &'a http::Method,
    path: &'a str,
    started: Instant,
    /// The provider it goes to.
    route: &'a Route,
}

/// Upstream gave no HTTP answer: what the client is told instead.
struct UpstreamFailure {
    status: StatusCode,
    code: &'static str,
    what: String,
}

impl Shared {
    pub(super) async fn handle(&self, req: Request<Incoming>) -> Response<RelayBody> {
        let started = Instant::now();
        let path = req.uri().path().to_owned();
        if let Some(refused) = self.refuse(&req, &path) {
            return refused;
        }
        let (route, rest) = match self.routes.find(&path) {
            Routed::To(route, rest) => (route, rest),
            Routed::UnknownProvider => {
                tracing::debug!(target: LOG_TARGET, method = %req.method(), "a provider the relay does not front: 404");
                let body = error_body(
                    "the msclaw relay fronts no such provider (`msclawctl relay on --provider <id>`, or [relay.upstreams] in msclaw's config)",
                    "invalid_request_error",
                    "unknown_provider",
                );
                return json_response(StatusCode::NOT_FOUND, body);
            }
            Routed::NotV1 => {
                tracing::debug!(target: LOG_TARGET, method = %req.method(), path, "not below /v1: 404");
                let body = error_body(
                    "the msclaw relay forwards /v1/ and /<provider>/v1/ paths only",
                    "invalid_request_error",
                    "not_found",
                );
                return json_response(StatusCode::NOT_FOUND, body);
            }
        };
        let url = route.upstream.target(rest, req.uri().query());
        let chat = is_chat_completion(req.method(), &path);
        let (parts, body) = req.into_parts();
        let exchange = Exchange {
            method: &parts.method,
            path: &path,
            started,
            route,
        };
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        headers.remove(header::HOST);
        headers.remove(header::EXPECT);
        route.auth.authorize_upstream(&mut headers);
        headers.insert(HOP_HEADER, HeaderValue::from_static("1"));

        let (body, model) = if chat {
            match read_chat_body(body, &path, self.body_timeout, &self.body_budget).await {
                Ok(read) => read,
                Err(answer) => return answer,
            }
        } else {
            (streaming_body(body, MAX_REQUEST_BODY), None)
        };

        if let Some(model) = &model
            && let Some(spent) = self.view.is_spent(&route.provider, model)
        {
            return self.answer_locally(model, &spent, &exchange);
        }

        let mut request = reqwest::Request::new(parts.method.clone(), url);
        *request.headers_mut() = headers;
        *request.body_mut() = body;
        match self.send(route, request).await {
            Ok(response) => self.respond(model, response, &exchange).await,
            Err(failure) => self.upstream_failed(model.as_deref(), &exchange, failure),
        }
    }

    /// A request the relay answers itself, before reading its body or forwarding anything: one
    /// that came back round (508), one without the relay token (401), one whose path would
    /// climb out of `/v1` upstream (400). None of them is observed.
    fn refuse(&self, req: &Request<Incoming>, path: &str) -> Option<Response<RelayBody>> {
        let (status, message, code) = if req.headers().contains_key(HOP_HEADER) {
            (
                StatusCode::LOOP_DETECTED,
                "the msclaw relay's upstream is the relay itself: refused",
                "relay_loop",
            )
        } else if !self.routes.admits(req.headers()) {
            (
                StatusCode::UNAUTHORIZED,
                "the msclaw relay serves only its own OpenClaw: the provider's apiKey must be the relay token `msclawctl relay on` wrote",
                "invalid_api_key",
            )
        } else if is_unsafe_path(path) {
            (
                StatusCode::BAD_REQUEST,
                "the msclaw relay refuses paths with dot segments, empty segments or encoded separators",
                "bad_path",
            )
        } else {
            return None;
        };
        tracing::debug!(target: LOG_TARGET, method = %req.method(), status = status.as_u16(), "refused: {code}");
        let kind = match status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            _ => "invalid_request_error",
        };
        let mut resp = json_response(status, error_body(message, kind, code));
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Some(resp)
    }

    /// `text` with the relay token and the real keys taken out (an upstream message may echo
    /// them).
    fn redact(&self, text: String) -> String {
        self.routes.secrets().fold(text, |text, secret| {
            redact(text, Some(&format!("Bearer {secret}")))
        })
    }

    /// Sends a request on and waits for its response headers (at most `header_timeout`).
    async fn send(
        &self,
        route: &Route,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let sent = tokio::time::timeout(self.header_timeout, route.client.execute(request)).await;
        self.stats.tally(Tally::Relayed);
        match sent {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                let (code, message) = if e.is_connect() {
                    ("upstream_unreachable", "is unreachable")
                } else {
                    ("bad_upstream_response", "gave no valid HTTP response")
                };
                let reason = self.redact(error_chain(&e.without_url()));
                Err(UpstreamFailure {
                    status: StatusCode::BAD_GATEWAY,
                    code,
                    what: format!("{message}: {reason}"),
                })
            }
            Err(_) => Err(UpstreamFailure {
                status: StatusCode::GATEWAY_TIMEOUT,
                code: "upstream_timeout",
                what: format!(
                    "sent no response headers within {:.1} s",
                    self.header_timeout.as_secs_f64()
                ),
            }),
        }
    }

    async fn respond(
        &self,
        model: Option<String>,
        response: reqwest::Response,
        exchange: &Exchange<'_>,
    ) -> Response<RelayBody> {
        let status = response.status();
        let mut headers = response.headers().clone();
        strip_hop_by_hop(&mut headers);
        let path = exchange.path;
        let Some(model) = model else {
            tracing::debug!(target: LOG_TARGET, method = %exchange.method, path, status = status.as_u16(), ms = exchange.started.elapsed().as_millis() as u64, "relayed");
            return response_with(status, headers, passthrough(None, Some(response)));
        };
        let at = self.clock.now();
        let quota = QuotaHeaders::from_headers(&headers);
        let provider = exchange.route.provider.as_str();
        self.stats
            .quota(&self.stats_name(provider, &model), at, quota);
        if status.is_success() {
            self.streaks.end(&model_ref(provider, &model));
            self.observe(provider, &model, at, RelayOutcome::Success, quota);
            tracing::debug!(target: LOG_TARGET, path, model, status = status.as_u16(), ms = exchange.started.elapsed().as_millis() as u64, "relayed");
            return response_with(status, headers, passthrough(None, Some(response)));
        }
        self.respond_error(&model, at, quota, response, headers, exchange)
            .await
    }

    /// An upstream error for a chat completion: its start is read to tell what it is, it is
    /// reported, and a 429 the judge holds spent is rewritten into the long-window message.
    async fn respond_error(
        &self,
        model: &str,
        at: Timestamp,
        quota: QuotaHeaders,
        response: reqwest::Response,
        mut headers: HeaderMap,
        exchange: &Exchange<'_>,
    ) -> Response<RelayBody> {
        let status = response.status();
        let path = exchange.path;
        let provider = exchange.route.provider.as_str();
        let (start, rest) = read_start(response, ERROR_BODY_LIMIT, self.header_timeout).await;
        let detail = self.redact(error_detail(&start));
        let outcome = outcome_of_error(status.as_u16(), &start, &detail);
        let rate_limited = outcome == RelayOutcome::RateLimited;
        let consecutive = if rate_limited {
            let day = self.quota_calendar.day_of(at);
            self.streaks.extend(&model_ref(provider, model), day)
        } else {
            0
        };
        // Reported before judging, so the daemon's policy can already count this 429.
        self.observe(provider, model, at, outcome, quota);
        if !rate_limited {
            tracing::info!(target: LOG_TARGET, path, provider, model, status = status.as_u16(), detail, "upstream error passed on");
            return response_with(status, headers, passthrough(Some(start), rest));
        }
        let seen = RateLimitSeen {
            provider,
            model,
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
            return response_with(status, headers, full(spent_body(model, &resets_at)));
        }
        tracing::info!(target: LOG_TARGET, path, model, consecutive, detail, "upstream 429 judged a throttle: passed on");
        response_with(status, headers, passthrough(Some(start), rest))
    }

    fn answer_locally(
        &self,
        model: &str,
        spent: &SpentInfo,
        exchange: &Exchange<'_>,
    ) -> Response<RelayBody> {
        let at = self.clock.now();
        self.stats.tally(Tally::AnsweredLocally);
        self.observe(
            &exchange.route.provider,
            model,
            at,
            RelayOutcome::AnsweredLocally,
            QuotaHeaders::default(),
        );
        tracing::debug!(target: LOG_TARGET, path = exchange.path, model, reason = spent.reason, ms = exchange.started.elapsed().as_millis() as u64, "spent: answered locally");
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
        exchange: &Exchange<'_>,
        failure: UpstreamFailure,
    ) -> Response<RelayBody> {
        let UpstreamFailure { status, code, what } = failure;
        self.stats.tally(Tally::UpstreamError);
        let message = format!(
            "msclaw relay: the upstream {} {what}",
            exchange.route.upstream.display
        );
        tracing::warn!(target: LOG_TARGET, path = exchange.path, model, status = status.as_u16(), ms = exchange.started.elapsed().as_millis() as u64, "{message}");
        if let Some(model) = model {
            let outcome = RelayOutcome::Failed {
                status: None,
                detail: message.clone(),
            };
            let provider = &exchange.route.provider;
            let at = self.clock.now();
            self.observe(provider, model, at, outcome, QuotaHeaders::default());
        }
        json_response(status, error_body(&message, "upstream_error", code))
    }

    /// How the figures name a model: by its id for the rotation provider (as always), as
    /// `provider/model` for the others.
    fn stats_name(&self, provider: &str, model: &str) -> String {
        match provider == self.routes.rotation.provider {
            true => model.to_owned(),
            false => model_ref(provider, model),
        }
    }

    /// Counts one chat completion and hands it to the daemon without waiting.
    fn observe(
        &self,
        provider: &str,
        model: &str,
        at: Timestamp,
        outcome: RelayOutcome,
        quota: QuotaHeaders,
    ) {
        let day = self.quota_calendar.day_of(at);
        self.stats
            .count(day, &self.stats_name(provider, model), &outcome);
        let observation = RelayObservation {
            provider: provider.to_owned(),
            model: model.to_owned(),
            at,
            outcome,
            quota,
        };
        if let Err(e) = self.observations.try_send(observation) {
            self.stats.tally(Tally::Dropped);
            match e {
                mpsc::error::TrySendError::Full(_) => crate::log_limit::warn_limited(
                    true,
                    "relay-observation-dropped",
                    "the daemon is behind: an observation was dropped",
                ),
                mpsc::error::TrySendError::Closed(_) => {
                    tracing::debug!(target: LOG_TARGET, "no one takes observations any more")
                }
            }
        }
    }
}

/// Reads a chat completion's body whole (within the relay's bounds) to find its `model`; a body
/// refused gets its 4xx/503 and the connection is closed (what was read is freed).
async fn read_chat_body(
    body: Incoming,
    path: &str,
    deadline: Duration,
    budget: &BodyBudget,
) -> Result<(Option<reqwest::Body>, Option<String>), Response<RelayBody>> {
    let refused = match ReadBody::read(body, MAX_REQUEST_BODY, deadline, budget).await {
        Ok(read) => {
            // A name longer than any model's is forwarded but neither counted nor remembered.
            let model = model_of(read.bytes(), true).filter(|m| m.len() <= MAX_MODEL_ID);
            return Ok((Some(read.into_body()), model));
        }
        Err(refused) => refused,
    };
    let (status, message, code) = match refused {
        BodyRefused::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the msclaw relay's cap of {MAX_REQUEST_BODY} bytes"),
            "request_too_large",
        ),
        BodyRefused::TooSlow => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {:.1} s",
                deadline.as_secs_f64()
            ),
            "request_timeout",
        ),
        BodyRefused::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the msclaw relay holds too many request bodies at once; try again".to_owned(),
            "relay_busy",
        ),
        BodyRefused::Broken(e) => {
            tracing::debug!(target: LOG_TARGET, path, "cannot read a request body: {e}");
            (
                StatusCode::BAD_REQUEST,
                "the msclaw relay could not read the request body".to_owned(),
                "bad_request",
            )
        }
    };
    tracing::debug!(target: LOG_TARGET, path, status = status.as_u16(), "request body refused: {message}");
    let mut resp = json_response(status, error_body(&message, "invalid_request_error", code));
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Err(resp)
}
