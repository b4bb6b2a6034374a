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

use jiff::Timestamp;
use serde_json::Value;

use super::CallOutcome;

mod error_outcome;
mod raw;
#[cfg(test)]
mod tests;

pub use error_outcome::{DETAIL_MAX_CHARS, classify_error, sanitize_detail};
use raw::RawEvent;

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
