//! Warnings that can repeat fast (one per request in a flood) go through [`warn_limited`]: the
//! same warning at most once per [`WARN_INTERVAL`], the next one telling how many were suppressed.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The least time between two log lines of the same warning.
pub const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// When each warning was last logged, and how many were suppressed since.
#[derive(Default)]
pub struct WarnLimiter {
    seen: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl WarnLimiter {
    /// `Some(suppressed)` when the warning `key` may be logged now (with the count of those held
    /// back since the last one), `None` when it is to be suppressed.
    pub fn admit(&self, key: &'static str, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(key) {
            Some((last, suppressed)) if now.duration_since(*last) < WARN_INTERVAL => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                *last = now;
                Some(std::mem::take(suppressed))
            }
            None => {
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

fn limiter() -> &'static WarnLimiter {
    static LIMITER: OnceLock<WarnLimiter> = OnceLock::new();
    LIMITER.get_or_init(WarnLimiter::default)
}

/// Logs `message` at WARN (with `target`) unless the warning `key` was logged less than
/// [`WARN_INTERVAL`] ago; then it is only counted.
pub fn warn_limited(target_relay: bool, key: &'static str, message: impl std::fmt::Display) {
    let Some(suppressed) = limiter().admit(key, Instant::now()) else {
        return;
    };
    match (target_relay, suppressed) {
        (true, 0) => tracing::warn!(target: crate::relay::LOG_TARGET, "{message}"),
        (true, n) => {
            tracing::warn!(target: crate::relay::LOG_TARGET, suppressed = n, "{message} (suppressed {n} like it)")
        }
        (false, 0) => tracing::warn!("{message}"),
        (false, n) => tracing::warn!(suppressed = n, "{message} (suppressed {n} like it)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_warning_is_logged_once_a_minute_with_the_count_held_back() {
        let l = WarnLimiter::default();
        let t0 = Instant::now();
        assert_eq!(l.admit("a", t0), Some(0));
        for i in 1..=5 {
            assert_eq!(l.admit("a", t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(
            l.admit("b", t0),
            Some(0),
            "another warning has its own count"
        );
        assert_eq!(l.admit("a", t0 + WARN_INTERVAL), Some(5));
        assert_eq!(l.admit("a", t0 + WARN_INTERVAL), None);
    }
}
