//! Judging an upstream error: what outcome it is, and for a 429 whether the model is spent (the
//! [`Judge`]) or merely throttled, with the run of 429s in a row it is judged on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use jiff::civil::Date;

use super::RelayOutcome;
use super::inspect::QuotaHeaders;
use crate::quota_calendar::QuotaCalendar;

/// What the judge is told about an upstream 429.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSeen<'a> {
    /// The provider the request went to.
    pub provider: &'a str,
    /// The model id as the body names it.
    pub model: &'a str,
    /// Quota errors (429s, balance errors) the relay has seen for this model in a row (this one included) with no success
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
pub fn consecutive_judge(threshold: u32, clock: QuotaCalendar) -> Judge {
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

/// The outcome of an upstream error answer, from its status and the start of its body. A
/// balance error (402, or a 403 saying the balance or quota is gone) is a quota error like a 429.
pub(super) fn outcome_of_error(status: u16, body_start: &[u8], detail: &str) -> RelayOutcome {
    let balance =
        || crate::modelscope::is_balance_error(status, &String::from_utf8_lossy(body_start));
    match status {
        429 => RelayOutcome::RateLimited,
        402 | 403 if balance() => RelayOutcome::RateLimited,
        404 => RelayOutcome::Gone {
            detail: detail.to_owned(),
        },
        400 if String::from_utf8_lossy(body_start).contains(crate::modelscope::NOT_SERVED_MARK) => {
            RelayOutcome::Gone {
                detail: detail.to_owned(),
            }
        }
        s => RelayOutcome::Failed {
            status: Some(s),
            detail: detail.to_owned(),
        },
    }
}

/// Models whose 429 streaks are remembered at once.
const STREAKS_KEPT: usize = 256;

/// 429s in a row per `provider/model`, within a quota day.
#[derive(Default)]
pub(super) struct Streaks(Mutex<HashMap<String, (Date, u32)>>);

impl Streaks {
    /// One more 429 in a row for `model` in quota day `day`; returns how many now.
    pub(super) fn extend(&self, model: &str, day: Date) -> u32 {
        let mut streaks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !streaks.contains_key(model) && streaks.len() >= STREAKS_KEPT {
            streaks.retain(|_, (d, _)| *d == day);
            if streaks.len() >= STREAKS_KEPT {
                // So many models in 429 streaks is no real client: this one is not remembered.
                return 1;
            }
        }
        let entry = streaks.entry(model.to_owned()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        entry.1 += 1;
        entry.1
    }

    /// A success: the run of 429s is over.
    pub(super) fn end(&self, model: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_errors_are_quota_errors_and_real_name_403s_are_not() {
        let outcome = |status, body: &str| outcome_of_error(status, body.as_bytes(), "d");
        assert_eq!(outcome(429, ""), RelayOutcome::RateLimited);
        assert_eq!(
            outcome(402, r#"{"error":{"message":"Payment Required"}}"#),
            RelayOutcome::RateLimited
        );
        assert_eq!(
            outcome(
                403,
                r#"{"errors":{"code":"QuotaLimitExceed","message":"magicube balance exhausted"}}"#
            ),
            RelayOutcome::RateLimited
        );
        assert_eq!(outcome(403, "魔粒余额不足"), RelayOutcome::RateLimited);
        let real_name = r#"{"errors":{"message":"please finish real-name verification (实名认证) before using API-Inference"}}"#;
        assert_eq!(
            outcome(403, real_name),
            RelayOutcome::Failed {
                status: Some(403),
                detail: "d".into()
            }
        );
    }
}
