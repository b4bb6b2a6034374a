//! One model's day: its counts per source, its 429s, and the mark that says it is spent.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Notice, PolicyConfig};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpentReason {
    LimitReached {
        used: u32,
        limit: u32,
    },
    RateLimited {
        errors: u32,
    },
    RetryLoopFailed,
    NoneRemaining,
    Gone {
        detail: String,
    },
    /// Marked while the whole account was judged rate-limited.
    AccountLimited,
}

impl std::fmt::Display for SpentReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpentReason::LimitReached { used, limit } => {
                write!(f, "daily limit reached ({used}/{limit} calls)")
            }
            SpentReason::RateLimited { errors } => {
                write!(
                    f,
                    "quota exhausted ({errors} rate-limit errors with no success between)"
                )
            }
            SpentReason::RetryLoopFailed => {
                write!(f, "quota exhausted (OpenClaw's retry loop failed with 429)")
            }
            SpentReason::NoneRemaining => write!(
                f,
                "quota exhausted (ModelScope reports 0 requests remaining)"
            ),
            SpentReason::Gone { detail } => write!(f, "not served by the provider ({detail})"),
            SpentReason::AccountLimited => write!(f, "account rate-limited"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentMark {
    pub at: Timestamp,
    pub reason: SpentReason,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDay {
    /// Calls counted from transcripts.
    pub used: u32,
    /// Calls counted by the relay (0 without it).
    #[serde(default)]
    pub relay_used: u32,
    /// Calls the OpenClaw plugin reported, served or failed (0 without it).
    #[serde(default)]
    pub plugin_used: u32,
    pub rate_limited: u32,
    /// 429s since the last success, within the window (pruned as new ones come).
    pub recent_429: Vec<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub spent: Option<SpentMark>,
}

/// Which source counted a call: each keeps its own count, the day's count is the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counter {
    Transcript,
    Relay,
    Plugin,
}

impl ModelDay {
    /// Marks the model spent unless it already is; the notice when it was not.
    pub(super) fn mark_spent(
        &mut self,
        model: &str,
        at: Timestamp,
        reason: SpentReason,
    ) -> Option<Notice> {
        if self.spent.is_some() {
            return None;
        }
        self.spent = Some(SpentMark {
            at,
            reason: reason.clone(),
        });
        Some(Notice::Spent {
            model: model.to_owned(),
            reason,
        })
    }

    /// One call counted by `counter`; the mark when today's count reaches the limit.
    pub(super) fn count(
        &mut self,
        cfg: &PolicyConfig,
        model: &str,
        limit: Option<u32>,
        at: Timestamp,
        counter: Counter,
    ) -> Option<Notice> {
        match counter {
            Counter::Transcript => self.used += 1,
            Counter::Relay => self.relay_used += 1,
            Counter::Plugin => self.plugin_used += 1,
        }
        let limit = limit?;
        let threshold = limit.saturating_sub(cfg.reserve);
        if self.spent.is_some() || self.calls() < threshold {
            return None;
        }
        let reason = SpentReason::LimitReached {
            used: self.calls(),
            limit,
        };
        self.mark_spent(model, at, reason)
    }

    /// A successful call: clears a 429-based mark, then is counted and may reach the limit.
    pub(super) fn on_success(
        &mut self,
        cfg: &PolicyConfig,
        model: &str,
        limit: Option<u32>,
        at: Timestamp,
        counter: Counter,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        self.recent_429.retain(|t| *t > at);
        self.last_success = Some(self.last_success.map_or(at, |t| t.max(at)));
        // A success after a 429-based mark means it was a throttle (half-open recovery).
        if let Some(mark) = &self.spent {
            let evidence_based = matches!(
                mark.reason,
                SpentReason::RateLimited { .. } | SpentReason::RetryLoopFailed
            );
            if evidence_based && at > mark.at {
                self.spent = None;
                notices.push(Notice::Recovered {
                    model: model.to_owned(),
                });
            }
        }
        notices.extend(self.count(cfg, model, limit, at, counter));
        notices
    }

    /// A 429: the Spent notice when it is quota evidence and the model was not spent yet.
    pub(super) fn on_rate_limited(
        &mut self,
        cfg: &PolicyConfig,
        model: &str,
        at: Timestamp,
        retry_loop_failed: bool,
    ) -> Option<Notice> {
        self.rate_limited += 1;
        let since = at - cfg.rate_limit_window;
        let last_success = self.last_success;
        self.recent_429.push(at);
        self.recent_429
            .retain(|t| *t >= since && last_success.is_none_or(|s| *t > s));
        let reason = if retry_loop_failed {
            SpentReason::RetryLoopFailed
        } else if self.recent_429.len() as u32 >= cfg.rate_limit_errors {
            SpentReason::RateLimited {
                errors: self.recent_429.len() as u32,
            }
        } else {
            return None;
        };
        // A late transcript record of a loop that failed before the last success proves nothing.
        let stale = last_success.is_some_and(|s| s >= at);
        if stale {
            return None;
        }
        self.mark_spent(model, at, reason)
    }

    /// Today's calls: the largest of the sources' counts, never their sum (each source sees the
    /// same calls, some sources more of them).
    pub fn calls(&self) -> u32 {
        self.used.max(self.relay_used).max(self.plugin_used)
    }
}
