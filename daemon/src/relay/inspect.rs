//! The pure parts of the relay: what a request names, what a response means, which headers are
//! the connection's own, and the error bodies the relay writes. No I/O here.

use http::HeaderMap;
use http::header::{self, HeaderName};
use serde::{Deserialize, Serialize};

/// ModelScope's rate-limit headers, when a response carries them (they may be gone for good:
/// absent means unknown, never unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaHeaders {
    /// `modelscope-ratelimit-model-requests-remaining`
    pub model_remaining: Option<u32>,
    /// `modelscope-ratelimit-model-requests-limit`
    pub model_limit: Option<u32>,
    /// `modelscope-ratelimit-requests-remaining` (the whole account)
    pub requests_remaining: Option<u32>,
    /// `modelscope-ratelimit-requests-limit`
    pub requests_limit: Option<u32>,
}

impl QuotaHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        Self {
            model_remaining: num("modelscope-ratelimit-model-requests-remaining"),
            model_limit: num("modelscope-ratelimit-model-requests-limit"),
            requests_remaining: num("modelscope-ratelimit-requests-remaining"),
            requests_limit: num("modelscope-ratelimit-requests-limit"),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether a request is a chat completion: `POST` to a path ending in `/chat/completions`.
pub fn is_chat_completion(method: &http::Method, path: &str) -> bool {
    method == http::Method::POST && path.trim_end_matches('/').ends_with("/chat/completions")
}

/// The top-level `"model"` string of a JSON object.
///
/// `complete` says whether `body` is the whole request body. A whole body must be valid JSON
/// (an object) or nothing is named. A body cut at the relay's read cap is scanned only up to the
/// key: the model is taken when it comes before the cut, as clients put it first.
pub fn model_of(body: &[u8], complete: bool) -> Option<String> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};

    struct Scan<'a> {
        found: &'a mut Option<String>,
        stop_at_model: bool,
    }
    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "model" {
                    // A non-string model is no model; a repeated key counts as parsers read it (the last).
                    match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::String(s) => *self.found = Some(s),
                        _ => return Err(serde::de::Error::custom("model is not a string")),
                    }
                    if self.stop_at_model {
                        return Err(serde::de::Error::custom("stop: model found"));
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = (&mut de).deserialize_map(Scan {
        found: &mut found,
        stop_at_model: !complete,
    });
    if complete {
        result.ok()?;
        de.end().ok()?;
    }
    found.filter(|m| !m.is_empty())
}

/// The message an error body carries: `error.message` or `errors.message` (ModelScope uses both),
/// else the text itself; trimmed to a short line.
pub fn error_detail(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let inner = v.get("error").or_else(|| v.get("errors"))?;
            match inner {
                serde_json::Value::String(s) => Some(s.clone()),
                other => other
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned),
            }
        });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    short(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn short(mut s: String) -> String {
    const MAX: usize = 300;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Removes the credential from text the relay keeps or shows (an upstream could echo it).
pub fn redact(text: String, authorization: Option<&str>) -> String {
    let Some(auth) = authorization.map(str::trim).filter(|a| !a.is_empty()) else {
        return text;
    };
    let mut out = text.replace(auth, "[redacted]");
    // The bare token, when the header is `<scheme> <token>`.
    if let Some((_, token)) = auth.split_once(' ') {
        let token = token.trim();
        if token.len() >= 6 {
            out = out.replace(token, "[redacted]");
        }
    }
    out
}

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1), plus the
/// ones named in `Connection`. `Host` and `Expect` are the relay's own business too.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// The text OpenClaw reads as a long-window limit (it then skips its ~150 s same-model retry loop
/// and falls back at once): it must say "daily quota exceeded" and "requests per day".
pub fn spent_message(model: &str, resets_at: &str) -> String {
    format!(
        "daily quota exceeded for {model}: requests per day limit reached; resets at {resets_at}"
    )
}

/// The OpenAI-style body of a 429 for a spent model. Its type and code say rate limit, never
/// `insufficient_quota`: OpenClaw 2026.9.6 reads that as a billing failure and disables the
/// provider's API key for ~10 minutes, so every fallback of the same provider failed too.
pub fn spent_body(model: &str, resets_at: &str) -> Vec<u8> {
    error_body(
        &spent_message(model, resets_at),
        "rate_limit_exceeded",
        "daily_limit_reached",
    )
}

/// An OpenAI-style error body.
pub fn error_body(message: &str, kind: &str, code: &str) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({ "error": { "message": message, "type": kind, "code": code } }),
    )
    .expect("a JSON value serializes")
}

#[cfg(test)]
mod tests;
