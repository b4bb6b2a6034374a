//! The relay's figures: what it forwarded, answered itself and failed to reach, per model and
//! quota day. Kept behind one short-held mutex; read as a copy.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::RelayOutcome;
use super::inspect::QuotaHeaders;

/// Quota days kept in the figures (today and the days before it).
const DAYS_KEPT: usize = 3;
/// Models with their own figures per day (and own quota headers); the others are counted
/// together under [`OTHER_MODELS`].
const MODELS_KEPT: usize = 64;
/// The name the models past [`MODELS_KEPT`] are counted under.
pub const OTHER_MODELS: &str = "(other)";

/// A copy of the relay's figures, for `status` and logs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RelayHealth {
    pub listening: SocketAddr,
    /// Scheme, host and path of the upstream base (never credentials: they are refused).
    pub upstream: String,
    /// Requests sent on to upstream (any `/v1/` path), whatever came back.
    pub relayed: u64,
    /// Chat completions for a spent model, answered with a local 429 without reaching upstream.
    pub answered_locally: u64,
    /// Requests that got no HTTP answer from upstream: unreachable, too slow, not HTTP (502/504).
    pub upstream_errors: u64,
    /// Upstream 429s whose body was replaced by the long-window message because the judge said spent.
    pub rewritten_429: u64,
    /// Observations not delivered because the daemon's channel was full or closed.
    pub observations_dropped: u64,
    /// Chat completions per quota day (`YYYY-MM-DD`, newest last) and model id.
    pub days: BTreeMap<String, BTreeMap<String, ModelCounts>>,
    /// The last rate-limit headers seen per model id.
    pub quota: BTreeMap<String, QuotaSeen>,
}

/// One model's chat completions in one quota day.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ModelCounts {
    /// Calls that reached upstream and got an HTTP answer: `success + rate_limited + gone + failed`.
    pub calls: u32,
    pub success: u32,
    pub rate_limited: u32,
    pub gone: u32,
    /// Other HTTP errors from upstream.
    pub failed: u32,
    /// No HTTP answer from upstream (not in `calls`).
    pub unreachable: u32,
    /// Answered by the relay for a spent model (not in `calls`).
    pub answered_locally: u32,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct QuotaSeen {
    pub at: Timestamp,
    #[serde(flatten)]
    pub headers: QuotaHeaders,
}

pub(crate) struct Stats {
    inner: Mutex<RelayHealth>,
}

/// What happened to one request, for the figures.
pub(crate) enum Tally {
    Relayed,
    UpstreamError,
    AnsweredLocally,
    Rewritten429,
    Dropped,
}

impl Stats {
    pub(crate) fn new(listening: SocketAddr, upstream: String) -> Self {
        Self {
            inner: Mutex::new(RelayHealth {
                listening,
                upstream,
                relayed: 0,
                answered_locally: 0,
                upstream_errors: 0,
                rewritten_429: 0,
                observations_dropped: 0,
                days: BTreeMap::new(),
                quota: BTreeMap::new(),
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut RelayHealth) -> R) -> R {
        // A panic while holding it cannot leave the counters inconsistent in a way that matters.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub(crate) fn snapshot(&self) -> RelayHealth {
        self.with(|h| h.clone())
    }

    pub(crate) fn tally(&self, what: Tally) {
        self.with(|h| {
            let n = match what {
                Tally::Relayed => &mut h.relayed,
                Tally::UpstreamError => &mut h.upstream_errors,
                Tally::AnsweredLocally => &mut h.answered_locally,
                Tally::Rewritten429 => &mut h.rewritten_429,
                Tally::Dropped => &mut h.observations_dropped,
            };
            *n += 1;
        });
    }

    /// Counts one chat completion of `model` in quota day `day`.
    pub(crate) fn count(&self, day: Date, model: &str, outcome: &RelayOutcome) {
        self.with(|h| {
            let key = day.to_string();
            if !h.days.contains_key(&key) {
                h.days.insert(key.clone(), BTreeMap::new());
                while h.days.len() > DAYS_KEPT {
                    h.days.pop_first();
                }
            }
            // A day older than every kept one (a late observation) is not worth a slot.
            let Some(models) = h.days.get_mut(&key) else {
                return;
            };
            let name = match models.contains_key(model) || models.len() < MODELS_KEPT {
                true => model,
                false => OTHER_MODELS,
            };
            let c = models.entry(name.to_owned()).or_default();
            match outcome {
                RelayOutcome::Success => {
                    c.calls += 1;
                    c.success += 1;
                }
                RelayOutcome::RateLimited => {
                    c.calls += 1;
                    c.rate_limited += 1;
                }
                RelayOutcome::Gone { .. } => {
                    c.calls += 1;
                    c.gone += 1;
                }
                RelayOutcome::Failed {
                    status: Some(_), ..
                } => {
                    c.calls += 1;
                    c.failed += 1;
                }
                RelayOutcome::Failed { status: None, .. } => c.unreachable += 1,
                RelayOutcome::AnsweredLocally => c.answered_locally += 1,
            }
        });
    }

    pub(crate) fn quota(&self, model: &str, at: Timestamp, headers: QuotaHeaders) {
        if headers.is_empty() {
            return;
        }
        self.with(|h| {
            if h.quota.contains_key(model) || h.quota.len() < MODELS_KEPT {
                h.quota.insert(model.to_owned(), QuotaSeen { at, headers });
            }
        });
    }
}
