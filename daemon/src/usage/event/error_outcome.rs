//! An assistant error row's outcome (`errorCode`, `errorMessage`), and the short, credential-free
//! text of it that is kept as `detail`.

use serde_json::Value;

use crate::usage::CallOutcome;

/// Longest `detail` copied from an error text, in characters.
pub const DETAIL_MAX_CHARS: usize = 200;

/// The outcome of an assistant error row (`stopReason: "error"`), from its `errorCode` and
/// `errorMessage`. A 429 here means OpenClaw's whole retry loop failed; so does a balance error
/// (a 402, or a 403 that says the balance or quota is gone).
pub fn classify_error(error_code: Option<&Value>, error_message: Option<&str>) -> CallOutcome {
    let text = error_message.unwrap_or("");
    let status = error_code
        .and_then(status_from_value)
        .or_else(|| status_from_text(text));
    let lower = text.to_ascii_lowercase();
    let detail = || {
        if text.trim().is_empty() {
            sanitize_detail(&error_code.map(value_text).unwrap_or_default())
        } else {
            sanitize_detail(text)
        }
    };
    match status {
        Some(429) => CallOutcome::RateLimited {
            retry_loop_failed: true,
        },
        // ModelScope's balance (magicube) is gone: a quota error like a 429.
        Some(status @ (402 | 403)) if crate::modelscope::is_balance_error(status, text) => {
            CallOutcome::RateLimited {
                retry_loop_failed: true,
            }
        }
        Some(404) => CallOutcome::Gone { detail: detail() },
        Some(400) | None if lower.contains(crate::modelscope::NOT_SERVED_MARK) => {
            CallOutcome::Gone { detail: detail() }
        }
        None if lower.contains("rate limit")
            || lower.contains("rate_limit")
            || lower.contains("too many requests") =>
        {
            CallOutcome::RateLimited {
                retry_loop_failed: true,
            }
        }
        _ => CallOutcome::Failed {
            status,
            detail: detail(),
        },
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_from_value(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    (100..=599).contains(&n).then_some(n as u16)
}

/// A leading HTTP status (`"429 {…}"`, `"400 Model … has no provider supported"`), or one after
/// `status`/`HTTP` (`"status=404"`, `"HTTP 429"`).
pub(crate) fn status_from_text(text: &str) -> Option<u16> {
    fn three_digits(s: &str) -> Option<u16> {
        let b = s.as_bytes();
        if b.len() >= 3
            && b[..3].iter().all(u8::is_ascii_digit)
            && b.get(3).is_none_or(|c| !c.is_ascii_digit())
        {
            let n: u16 = s[..3].parse().ok()?;
            return (100..=599).contains(&n).then_some(n);
        }
        None
    }
    let t = text.trim_start();
    if let Some(n) = three_digits(t) {
        return Some(n);
    }
    let lower = t.to_ascii_lowercase();
    for marker in ["status code ", "status=", "status: ", "status ", "http "] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(marker) {
            let start = from + i + marker.len();
            if let Some(n) = three_digits(&t[start..]) {
                return Some(n);
            }
            from = start;
        }
    }
    None
}

/// Error text fit for `detail`: one line, no credentials, at most [`DETAIL_MAX_CHARS`] chars.
pub fn sanitize_detail(text: &str) -> String {
    // Never carry anything from a credential-looking word onwards.
    let lower = text.to_ascii_lowercase();
    let cut = [
        "authorization",
        "api-key",
        "api_key",
        "apikey",
        "x-api-key",
        "bearer ",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .min();
    let (kept, redacted) = match cut {
        Some(i) => (&text[..i], true),
        None => (text, false),
    };
    let mut out = String::with_capacity(kept.len().min(DETAIL_MAX_CHARS * 4));
    for word in kept.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
        if looks_like_secret(bare) {
            out.push_str("[redacted]");
        } else {
            out.extend(word.chars().map(|c| if c.is_control() { ' ' } else { c }));
        }
        if out.chars().count() > DETAIL_MAX_CHARS {
            break;
        }
    }
    if redacted {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("[redacted]");
    }
    if out.chars().count() > DETAIL_MAX_CHARS {
        out = out.chars().take(DETAIL_MAX_CHARS - 1).collect();
        out.push('…');
    }
    out
}

/// API keys: `sk-…`, ModelScope's `ms-…`, and long opaque tokens.
fn looks_like_secret(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    if (lower.starts_with("sk-") || lower.starts_with("ms-")) && word.len() >= 20 {
        return true;
    }
    word.len() >= 32
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
        && !word.contains('/')
}

#[cfg(test)]
mod balance_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn balance_errors_are_quota_errors_and_real_name_403s_are_not() {
        let quota = CallOutcome::RateLimited {
            retry_loop_failed: true,
        };
        let cases = [
            (Some(json!(402)), "Payment Required"),
            (None, "402 {\"message\":\"magicube balance exhausted\"}"),
            (Some(json!(403)), "QuotaLimitExceed: 魔粒余额不足"),
            (None, "403 insufficient balance"),
        ];
        for (code, message) in cases {
            assert_eq!(
                classify_error(code.as_ref(), Some(message)),
                quota,
                "{message}"
            );
        }
        let real_name = classify_error(
            Some(&json!(403)),
            Some("please complete real-name verification first"),
        );
        assert!(
            matches!(
                real_name,
                CallOutcome::Failed {
                    status: Some(403),
                    ..
                }
            ),
            "{real_name:?}"
        );
    }
}
