//! One transcript event (a JSONL line, or a SQLite row's `event_json`) → a model call, if it is one.
//!
//! The event shape is pi-agent's session entry (format v3 in JSONL, v4 in SQLite):
//! `{"type":"message","id":"…","timestamp":"<ISO>","message":{"role":"assistant","provider":"…",
//! "model":"…","stopReason":"stop"|"toolUse"|"length"|"aborted"|"error","errorMessage":"…",
//! "errorCode":"429","timestamp":<epoch ms>,"content":[…],…}}`.
//!
//! Parsing picks out only the few fields it needs and skips everything else (message content,
//! tool results) without building it, so a multi-megabyte event costs one pass of the JSON
//! scanner and no allocations for its body.

use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::CallOutcome;

/// Longest `detail` copied from an error text, in characters.
pub const DETAIL_MAX_CHARS: usize = 200;

/// An assistant reply of a real provider, read from a transcript event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptCall {
    /// The entry's `id` (unique within its session), when it has one.
    pub entry_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub at: Timestamp,
    pub outcome: CallOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedEvent {
    /// An assistant message from a real provider.
    Call(TranscriptCall),
    /// Valid, but not a model call: another entry type, another role, `provider: "openclaw"`
    /// (delivery mirrors, gateway-injected notices).
    NotACall,
    /// Not valid JSON, not an object, or an assistant message whose provider, model or time
    /// cannot be read.
    Malformed(&'static str),
}

/// Parses one event. `fallback_at` (a SQLite row's `created_at`) is used when
/// `message.timestamp` is missing, before the entry's outer ISO `timestamp`.
pub fn parse_event(text: &str, fallback_at: Option<Timestamp>) -> ParsedEvent {
    parse_event_bytes(text.as_bytes(), fallback_at)
}

/// [`parse_event`] for raw bytes (a JSONL line); invalid UTF-8 is `Malformed`.
pub fn parse_event_bytes(bytes: &[u8], fallback_at: Option<Timestamp>) -> ParsedEvent {
    let raw: RawEvent = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(_) => return ParsedEvent::Malformed("not valid JSON"),
    };
    if !raw.is_object {
        return ParsedEvent::Malformed("not a JSON object");
    }
    if raw.ty.as_ref().and_then(Value::as_str) != Some("message") {
        return ParsedEvent::NotACall;
    }
    let Some(msg) = raw.message else {
        return ParsedEvent::NotACall;
    };
    if !msg.is_object || msg.role.as_ref().and_then(Value::as_str) != Some("assistant") {
        return ParsedEvent::NotACall;
    }
    let provider = match msg.provider.as_ref().and_then(Value::as_str) {
        Some("openclaw") => return ParsedEvent::NotACall,
        Some(p) if !p.is_empty() => p.to_owned(),
        _ => return ParsedEvent::Malformed("assistant message without provider"),
    };
    let model = match msg.model.as_ref().and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => return ParsedEvent::Malformed("assistant message without model"),
    };
    let at = msg
        .timestamp
        .as_ref()
        .and_then(timestamp_from_value)
        .or(fallback_at)
        .or_else(|| raw.timestamp.as_ref().and_then(timestamp_from_value));
    let Some(at) = at else {
        return ParsedEvent::Malformed("assistant message without a time");
    };
    let outcome = if msg.stop_reason.as_ref().and_then(Value::as_str) == Some("error") {
        classify_error(
            msg.error_code.as_ref(),
            msg.error_message.as_ref().and_then(Value::as_str),
        )
    } else {
        CallOutcome::Success
    };
    let entry_id = raw
        .id
        .as_ref()
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    ParsedEvent::Call(TranscriptCall {
        entry_id,
        provider,
        model,
        at,
        outcome,
    })
}

/// What a SQLite row's `navigation_json` alone says about the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NavigationVerdict {
    /// Plainly not a model call: no need to decompress the event.
    NotACall,
    /// A successful assistant reply: everything needed is in the navigation.
    Call(TranscriptCall),
    /// An assistant error row (its `errorCode`/`errorMessage` are not in the navigation), or a
    /// navigation that cannot be read: decompress the event.
    NeedEvent,
}

/// Reads OpenClaw's `navigation_json` (transcript-payload.ts): `{"version":1,"report":{…},
/// "navigation":{…},"reset":{…},"model":{"type","id","timestamp",…,"message":{"role","provider",
/// "model","timestamp","stopReason",…}},"modelBytes":…}`.
pub fn classify_navigation(text: &str, fallback_at: Option<Timestamp>) -> NavigationVerdict {
    let Ok(nav) = serde_json::from_str::<Value>(text) else {
        return NavigationVerdict::NeedEvent;
    };
    let Some(model_nav) = nav.get("model").filter(|m| m.is_object()) else {
        return NavigationVerdict::NeedEvent;
    };
    match model_nav.get("type").and_then(Value::as_str) {
        Some("message") => {}
        Some(_) => return NavigationVerdict::NotACall,
        None => return NavigationVerdict::NeedEvent,
    }
    let Some(msg) = model_nav.get("message").filter(|m| m.is_object()) else {
        return NavigationVerdict::NeedEvent;
    };
    match msg.get("role").and_then(Value::as_str) {
        Some("assistant") => {}
        Some(_) => return NavigationVerdict::NotACall,
        None => return NavigationVerdict::NeedEvent,
    }
    let provider = match msg.get("provider").and_then(Value::as_str) {
        Some("openclaw") => return NavigationVerdict::NotACall,
        Some(p) if !p.is_empty() => p,
        _ => return NavigationVerdict::NeedEvent,
    };
    match msg.get("stopReason").and_then(Value::as_str) {
        Some("error") | None => return NavigationVerdict::NeedEvent,
        Some(_) => {}
    }
    let Some(model) = msg
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    else {
        return NavigationVerdict::NeedEvent;
    };
    let at = msg
        .get("timestamp")
        .and_then(timestamp_from_value)
        .or(fallback_at)
        .or_else(|| model_nav.get("timestamp").and_then(timestamp_from_value));
    let Some(at) = at else {
        return NavigationVerdict::NeedEvent;
    };
    let entry_id = model_nav
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    NavigationVerdict::Call(TranscriptCall {
        entry_id,
        provider: provider.to_owned(),
        model: model.to_owned(),
        at,
        outcome: CallOutcome::Success,
    })
}

/// The outcome of an assistant error row (`stopReason: "error"`), from its `errorCode` and
/// `errorMessage`. A 429 here means OpenClaw's whole retry loop failed.
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

/// Epoch milliseconds (number or digit string) or an ISO 8601 instant with an offset.
pub(crate) fn timestamp_from_value(v: &Value) -> Option<Timestamp> {
    match v {
        Value::Number(n) => {
            let ms = n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?;
            (ms > 0)
                .then(|| Timestamp::from_millisecond(ms).ok())
                .flatten()
        }
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                let ms: i64 = s.parse().ok()?;
                return (ms > 0)
                    .then(|| Timestamp::from_millisecond(ms).ok())
                    .flatten();
            }
            s.parse::<Timestamp>().ok()
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Field-picking deserializers: only these fields are kept, the rest is skipped unbuilt.

const EVENT_FIELDS: &[&str] = &["type", "id", "timestamp", "message"];
const MESSAGE_FIELDS: &[&str] = &[
    "role",
    "provider",
    "model",
    "stopReason",
    "errorMessage",
    "errorCode",
    "timestamp",
];

#[derive(Default)]
struct RawEvent {
    is_object: bool,
    ty: Option<Value>,
    id: Option<Value>,
    timestamp: Option<Value>,
    message: Option<RawMessage>,
}

#[derive(Default)]
struct RawMessage {
    is_object: bool,
    role: Option<Value>,
    provider: Option<Value>,
    model: Option<Value>,
    stop_reason: Option<Value>,
    error_message: Option<Value>,
    error_code: Option<Value>,
    timestamp: Option<Value>,
}

/// Deserializes a map key to its index in a field table (None: a field we skip).
struct KeySeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == v))
    }
}

/// Generates the "anything that is not a map" arms: such a value is consumed and marked as not
/// an object.
macro_rules! not_an_object {
    ($t:ty) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<$t, E> {
            Ok(<$t>::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$t, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(<$t>::default())
        }
    };
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = RawEvent;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transcript event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent, A::Error> {
        let mut ev = RawEvent {
            is_object: true,
            ..RawEvent::default()
        };
        while let Some(k) = map.next_key_seed(KeySeed(EVENT_FIELDS))? {
            // Duplicate keys: the last one wins, as in JavaScript's JSON.parse.
            match k {
                Some(0) => ev.ty = Some(map.next_value()?),
                Some(1) => ev.id = Some(map.next_value()?),
                Some(2) => ev.timestamp = Some(map.next_value()?),
                Some(3) => ev.message = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ev)
    }
    not_an_object!(RawEvent);
}

impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = RawMessage;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transcript message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMessage, A::Error> {
        let mut m = RawMessage {
            is_object: true,
            ..RawMessage::default()
        };
        while let Some(k) = map.next_key_seed(KeySeed(MESSAGE_FIELDS))? {
            let slot = match k {
                Some(0) => &mut m.role,
                Some(1) => &mut m.provider,
                Some(2) => &mut m.model,
                Some(3) => &mut m.stop_reason,
                Some(4) => &mut m.error_message,
                Some(5) => &mut m.error_code,
                Some(6) => &mut m.timestamp,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(m)
    }
    not_an_object!(RawMessage);
}

impl<'de> Deserialize<'de> for RawMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MessageVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const OK_ROW: &str = r#"{"type":"message","id":"792b9914","parentId":"df2bdeb3","timestamp":"2026-02-25T05:19:47.535Z","message":{"role":"assistant","content":[{"type":"text","text":"hi"}],"api":"openai-completions","provider":"modelscope","model":"Qwen/Qwen3.5-397B-A17B","usage":{"input":2651,"output":232,"cacheRead":0,"cacheWrite":0,"totalTokens":2883,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"stopReason":"stop","timestamp":1771996780527}}"#;

    #[test]
    fn successful_reply_is_a_call_at_message_timestamp() {
        let ParsedEvent::Call(c) = parse_event(OK_ROW, None) else {
            panic!()
        };
        assert_eq!(c.provider, "modelscope");
        assert_eq!(c.model, "Qwen/Qwen3.5-397B-A17B");
        assert_eq!(c.at, Timestamp::from_millisecond(1771996780527).unwrap());
        assert_eq!(c.outcome, CallOutcome::Success);
        assert_eq!(c.entry_id.as_deref(), Some("792b9914"));
    }

    #[test]
    fn every_non_error_stop_reason_is_success() {
        for reason in ["stop", "toolUse", "length", "aborted"] {
            let row = OK_ROW.replace(
                r#""stopReason":"stop""#,
                &format!(r#""stopReason":"{reason}""#),
            );
            let ParsedEvent::Call(c) = parse_event(&row, None) else {
                panic!("{reason}")
            };
            assert_eq!(c.outcome, CallOutcome::Success, "{reason}");
        }
    }

    #[test]
    fn time_falls_back_to_row_time_then_outer_iso() {
        let row = OK_ROW.replace(r#","timestamp":1771996780527"#, "");
        let created = ts("2026-02-25T05:20:00Z");
        let ParsedEvent::Call(c) = parse_event(&row, Some(created)) else {
            panic!()
        };
        assert_eq!(c.at, created);
        let ParsedEvent::Call(c) = parse_event(&row, None) else {
            panic!()
        };
        assert_eq!(c.at, ts("2026-02-25T05:19:47.535Z"));
        let row = row.replace(r#""timestamp":"2026-02-25T05:19:47.535Z","#, "");
        assert_eq!(
            parse_event(&row, None),
            ParsedEvent::Malformed("assistant message without a time")
        );
    }

    #[test]
    fn rate_limited_error_row_means_the_retry_loop_failed() {
        let row = r#"{"type":"message","id":"a1","message":{"role":"assistant","content":[],"api":"openai-completions","provider":"modelscope","model":"Qwen/Qwen3.5-397B-A17B","stopReason":"error","errorMessage":"429 {\"errors\":{\"message\":\"Request limit exceeded.\"}}","errorCode":"429","timestamp":1764000000000}}"#;
        let ParsedEvent::Call(c) = parse_event(row, None) else {
            panic!()
        };
        assert_eq!(
            c.outcome,
            CallOutcome::RateLimited {
                retry_loop_failed: true
            }
        );
    }

    #[test]
    fn withdrawn_model_is_gone() {
        let row = r#"{"type":"message","id":"a2","message":{"role":"assistant","provider":"modelscope","model":"Old/Model","stopReason":"error","errorMessage":"400 Model Old/Model has no provider supported","timestamp":1764000000000}}"#;
        let ParsedEvent::Call(c) = parse_event(row, None) else {
            panic!()
        };
        assert!(
            matches!(c.outcome, CallOutcome::Gone { ref detail } if detail.contains("has no provider supported"))
        );
        let row404 = row.replace(
            "400 Model Old/Model has no provider supported",
            "404 page not found",
        );
        let ParsedEvent::Call(c) = parse_event(&row404, None) else {
            panic!()
        };
        assert!(matches!(c.outcome, CallOutcome::Gone { .. }));
    }

    #[test]
    fn other_errors_fail_with_their_status() {
        assert_eq!(
            classify_error(
                Some(&Value::String("500".into())),
                Some("500 internal error")
            ),
            CallOutcome::Failed {
                status: Some(500),
                detail: "500 internal error".into()
            }
        );
        assert_eq!(
            classify_error(
                Some(&Value::String("incomplete_tool_call".into())),
                Some("")
            ),
            CallOutcome::Failed {
                status: None,
                detail: "incomplete_tool_call".into()
            }
        );
        assert_eq!(
            classify_error(None, Some("400 bad request")),
            CallOutcome::Failed {
                status: Some(400),
                detail: "400 bad request".into()
            }
        );
        assert_eq!(
            classify_error(None, Some("API rate limit reached")),
            CallOutcome::RateLimited {
                retry_loop_failed: true
            }
        );
        assert_eq!(
            classify_error(Some(&serde_json::json!(429)), None),
            CallOutcome::RateLimited {
                retry_loop_failed: true
            }
        );
        assert_eq!(
            status_from_text("Request failed with status code 503"),
            Some(503)
        );
        assert_eq!(status_from_text("4290 things"), None);
    }

    #[test]
    fn synthetic_and_non_assistant_entries_are_not_calls() {
        let mirror = OK_ROW.replace(
            r#""provider":"modelscope","model":"Qwen/Qwen3.5-397B-A17B""#,
            r#""provider":"openclaw","model":"delivery-mirror""#,
        );
        assert_eq!(parse_event(&mirror, None), ParsedEvent::NotACall);
        assert_eq!(
            parse_event(
                &OK_ROW.replace(r#""role":"assistant""#, r#""role":"user""#),
                None
            ),
            ParsedEvent::NotACall
        );
        assert_eq!(
            parse_event(
                r#"{"type":"session","version":4,"id":"s","timestamp":"2026-01-01T00:00:00Z"}"#,
                None
            ),
            ParsedEvent::NotACall
        );
        assert_eq!(
            parse_event(
                r#"{"type":"model_change","provider":"modelscope","modelId":"x"}"#,
                None
            ),
            ParsedEvent::NotACall
        );
        assert_eq!(
            parse_event(r#"{"type":"message","message":"hello"}"#, None),
            ParsedEvent::NotACall
        );
        assert_eq!(
            parse_event(r#"{"type":"message","message":[1,2]}"#, None),
            ParsedEvent::NotACall
        );
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            parse_event("", None),
            ParsedEvent::Malformed("not valid JSON")
        );
        assert_eq!(
            parse_event(&OK_ROW[..OK_ROW.len() - 3], None),
            ParsedEvent::Malformed("not valid JSON")
        );
        assert_eq!(
            parse_event("[1,2]", None),
            ParsedEvent::Malformed("not a JSON object")
        );
        assert_eq!(
            parse_event("42", None),
            ParsedEvent::Malformed("not a JSON object")
        );
        assert_eq!(
            parse_event_bytes(b"{\"type\":\"\xff\"}", None),
            ParsedEvent::Malformed("not valid JSON")
        );
        let no_provider = OK_ROW.replace(r#""provider":"modelscope","#, "");
        assert_eq!(
            parse_event(&no_provider, None),
            ParsedEvent::Malformed("assistant message without provider")
        );
    }

    #[test]
    fn duplicate_keys_last_one_wins_like_javascript() {
        let row = r#"{"type":"message","message":{"role":"user","role":"assistant","provider":"p","model":"m","timestamp":5}}"#;
        assert!(matches!(parse_event(row, None), ParsedEvent::Call(_)));
    }

    #[test]
    fn detail_is_short_one_line_and_has_no_credentials() {
        let long = "x".repeat(1000);
        assert_eq!(sanitize_detail(&long).chars().count(), DETAIL_MAX_CHARS);
        assert_eq!(sanitize_detail("a\nb\tc"), "a b c");
        let leaky =
            "401 invalid token ms-0123456789abcdef0123 sent with Authorization: Bearer abc.def";
        let d = sanitize_detail(leaky);
        assert!(!d.contains("ms-0123456789abcdef0123"), "{d}");
        assert!(!d.contains("abc.def"), "{d}");
        assert!(d.starts_with("401 invalid token [redacted]"), "{d}");
        assert!(!sanitize_detail("apiKey=sk-live-123").contains("sk-live"));
        // model ids stay readable
        assert_eq!(
            sanitize_detail("400 Model Qwen/Qwen3.5-397B-A17B has no provider supported"),
            "400 Model Qwen/Qwen3.5-397B-A17B has no provider supported"
        );
    }

    #[test]
    fn navigation_classifies_without_the_event() {
        let ok = r#"{"version":1,"report":{"kind":"canonical"},"navigation":{},"reset":{},"model":{"type":"message","id":"e1","timestamp":"2026-07-08T10:00:00Z","message":{"role":"assistant","provider":"modelscope","model":"Q/M","timestamp":1783504800000,"stopReason":"toolUse","content":[]}},"modelBytes":1,"modelWithoutCheckpointBytes":1,"withoutCustomDataBytes":1}"#;
        let NavigationVerdict::Call(c) = classify_navigation(ok, None) else {
            panic!()
        };
        assert_eq!(
            (c.provider.as_str(), c.model.as_str(), c.entry_id.as_deref()),
            ("modelscope", "Q/M", Some("e1"))
        );
        assert_eq!(c.at.as_millisecond(), 1783504800000);
        assert_eq!(
            classify_navigation(&ok.replace("toolUse", "error"), None),
            NavigationVerdict::NeedEvent
        );
        assert_eq!(
            classify_navigation(
                &ok.replace(r#""role":"assistant""#, r#""role":"toolResult""#),
                None
            ),
            NavigationVerdict::NotACall
        );
        assert_eq!(
            classify_navigation(
                &ok.replace(r#""type":"message""#, r#""type":"compaction""#),
                None
            ),
            NavigationVerdict::NotACall
        );
        assert_eq!(
            classify_navigation(&ok.replace("modelscope", "openclaw"), None),
            NavigationVerdict::NotACall
        );
        assert_eq!(classify_navigation("{", None), NavigationVerdict::NeedEvent);
        assert_eq!(
            classify_navigation(r#"{"version":1}"#, None),
            NavigationVerdict::NeedEvent
        );
    }

    #[test]
    fn timestamps_accept_ms_and_iso() {
        assert_eq!(
            timestamp_from_value(&serde_json::json!(1000)),
            Some(Timestamp::from_millisecond(1000).unwrap())
        );
        assert_eq!(
            timestamp_from_value(&serde_json::json!(1000.7)),
            Some(Timestamp::from_millisecond(1000).unwrap())
        );
        assert_eq!(
            timestamp_from_value(&serde_json::json!("1000")),
            Some(Timestamp::from_millisecond(1000).unwrap())
        );
        assert_eq!(
            timestamp_from_value(&serde_json::json!("2026-07-08T22:41:50.257-03:00")),
            Some(ts("2026-07-09T01:41:50.257Z"))
        );
        assert_eq!(timestamp_from_value(&serde_json::json!(-5)), None);
        assert_eq!(timestamp_from_value(&serde_json::json!(1e300)), None);
        assert_eq!(timestamp_from_value(&serde_json::json!("yesterday")), None);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use serde_json::json;

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "type",
                    "message",
                    "role",
                    "provider",
                    "model",
                    "stopReason",
                    "errorCode",
                    "errorMessage",
                    "timestamp",
                    "id",
                    "content"
                ])
                .prop_map(str::to_owned),
                "[a-zA-Z_]{1,8}",
            ]
        }

        /// Arbitrary JSON, biased towards the field names and values the parser looks at.
        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| json!(f)),
                ".{0,24}".prop_map(Value::from),
                prop::sample::select(vec![
                    "message",
                    "assistant",
                    "error",
                    "openclaw",
                    "modelscope",
                    "429",
                    "404",
                    "400 x has no provider supported",
                    "2026-07-08T10:00:00Z"
                ])
                .prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::vec((key(), inner), 0..7)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        fn check_call(c: &TranscriptCall) {
            assert!(!c.provider.is_empty() && c.provider != "openclaw");
            assert!(!c.model.is_empty());
            match &c.outcome {
                CallOutcome::Gone { detail } | CallOutcome::Failed { detail, .. } => {
                    assert!(detail.chars().count() <= DETAIL_MAX_CHARS);
                    assert!(!detail.contains('\n'));
                }
                _ => {}
            }
        }

        proptest! {
            #[test]
            fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
                let _ = parse_event_bytes(&bytes, None);
                let _ = classify_navigation(&String::from_utf8_lossy(&bytes), None);
            }

            #[test]
            fn random_json_never_panics_and_calls_are_sane(v in arb_json(), wrap in any::<bool>()) {
                // Half the time force the outer shape of an assistant message around it.
                let v = if wrap { json!({"type": "message", "id": "x", "message": v}) } else { v };
                let text = v.to_string();
                if let ParsedEvent::Call(c) = parse_event(&text, None) { check_call(&c) }
                let nav = json!({"model": v});
                if let NavigationVerdict::Call(c) = classify_navigation(&nav.to_string(), None) { check_call(&c) }
            }

            #[test]
            fn assistant_rows_round_trip_and_every_truncation_is_malformed(
                provider in "[a-z]{1,12}",
                model in "\\PC{1,40}",
                ms in 1i64..4_000_000_000_000,
                stop in prop::sample::select(vec!["stop", "toolUse", "length", "aborted", "error"]),
                code in prop::option::of(prop::sample::select(vec!["429", "404", "500", "incomplete_tool_call"])),
                message in ".{0,300}",
            ) {
                prop_assume!(provider != "openclaw");
                let mut ev = json!({"type": "message", "id": "e1", "timestamp": "2026-07-08T10:00:00Z",
                    "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}], "provider": provider,
                                "model": model, "stopReason": stop, "timestamp": ms}});
                if stop == "error" {
                    ev["message"]["errorMessage"] = json!(message);
                    if let Some(c) = code { ev["message"]["errorCode"] = json!(c); }
                }
                let text = ev.to_string();
                let ParsedEvent::Call(c) = parse_event(&text, None) else { panic!("{text}") };
                prop_assert_eq!(&c.model, &model);
                prop_assert_eq!(c.at.as_millisecond(), ms);
                prop_assert_eq!(stop != "error", c.outcome == CallOutcome::Success);
                if stop == "error" && code == Some("429") { prop_assert_eq!(&c.outcome, &CallOutcome::RateLimited { retry_loop_failed: true }); }
                check_call(&c);
                for cut in (0..text.len()).filter(|i| text.is_char_boundary(*i)).step_by(7) {
                    prop_assert_eq!(parse_event(&text[..cut], None), ParsedEvent::Malformed("not valid JSON"));
                }
            }

            #[test]
            fn details_are_bounded_single_line_and_never_carry_keys(
                before in ".{0,300}", after in ".{0,300}", key in "[A-Za-z0-9]{20,40}", prefix in prop::sample::select(vec!["ms-", "sk-"]),
            ) {
                let secret = format!("{prefix}{key}");
                let d = sanitize_detail(&format!("{before} {secret} {after}"));
                prop_assert!(d.chars().count() <= DETAIL_MAX_CHARS);
                prop_assert!(!d.chars().any(char::is_control));
                prop_assert!(!d.contains(&secret));
                let d = sanitize_detail(&format!("{before} Authorization: Bearer {key} {after}"));
                prop_assert!(!d.contains(&key) || before.contains(&key));
            }
        }
    }
}
