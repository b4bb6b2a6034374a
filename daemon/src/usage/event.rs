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

use super::CallOutcome;

mod error_outcome;
mod raw;
#[cfg(test)]
mod tests;

pub use error_outcome::{DETAIL_MAX_CHARS, classify_error, sanitize_detail};
use raw::{RawEvent, RawNavigation, Scalar};

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
    let raw: RawEvent<'_> = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(_) => return ParsedEvent::Malformed("not valid JSON"),
    };
    if !raw.is_object {
        return ParsedEvent::Malformed("not a JSON object");
    }
    if str_of(&raw.ty) != Some("message") {
        return ParsedEvent::NotACall;
    }
    let Some(msg) = raw.message else {
        return ParsedEvent::NotACall;
    };
    if !msg.is_object || str_of(&msg.role) != Some("assistant") {
        return ParsedEvent::NotACall;
    }
    let provider = match str_of(&msg.provider) {
        Some("openclaw") => return ParsedEvent::NotACall,
        Some(p) if !p.is_empty() => p,
        _ => return ParsedEvent::Malformed("assistant message without provider"),
    };
    let model = match str_of(&msg.model) {
        Some(m) if !m.is_empty() => m,
        _ => return ParsedEvent::Malformed("assistant message without model"),
    };
    let at = time_of(&msg.timestamp)
        .or(fallback_at)
        .or_else(|| time_of(&raw.timestamp));
    let Some(at) = at else {
        return ParsedEvent::Malformed("assistant message without a time");
    };
    let outcome = if str_of(&msg.stop_reason) == Some("error") {
        classify_error(
            msg.error_code.as_ref().map(Scalar::to_value).as_ref(),
            str_of(&msg.error_message),
        )
    } else {
        CallOutcome::Success
    };
    ParsedEvent::Call(TranscriptCall {
        entry_id: entry_id_of(&raw.id),
        provider: provider.to_owned(),
        model: model.to_owned(),
        at,
        outcome,
    })
}

/// A kept field as a string; `None` when it is missing or not a string.
fn str_of<'s>(field: &'s Option<Scalar<'_>>) -> Option<&'s str> {
    field.as_ref().and_then(Scalar::as_str)
}

/// Epoch milliseconds (number or digit string) or an ISO 8601 instant with an offset.
fn time_of(field: &Option<Scalar<'_>>) -> Option<Timestamp> {
    match field.as_ref()? {
        Scalar::Str(s) => timestamp_from_str(s),
        Scalar::Number(n) => timestamp_from_number(n),
        Scalar::Other(_) => None,
    }
}

fn entry_id_of(field: &Option<Scalar<'_>>) -> Option<String> {
    str_of(field).filter(|s| !s.is_empty()).map(str::to_owned)
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
    let Ok(nav) = serde_json::from_str::<RawNavigation<'_>>(text) else {
        return NavigationVerdict::NeedEvent;
    };
    let Some(model_nav) = nav.model.filter(|m| m.is_object) else {
        return NavigationVerdict::NeedEvent;
    };
    match str_of(&model_nav.ty) {
        Some("message") => {}
        Some(_) => return NavigationVerdict::NotACall,
        None => return NavigationVerdict::NeedEvent,
    }
    let Some(msg) = model_nav.message.as_ref().filter(|m| m.is_object) else {
        return NavigationVerdict::NeedEvent;
    };
    match str_of(&msg.role) {
        Some("assistant") => {}
        Some(_) => return NavigationVerdict::NotACall,
        None => return NavigationVerdict::NeedEvent,
    }
    let provider = match str_of(&msg.provider) {
        Some("openclaw") => return NavigationVerdict::NotACall,
        Some(p) if !p.is_empty() => p,
        _ => return NavigationVerdict::NeedEvent,
    };
    match str_of(&msg.stop_reason) {
        Some("error") | None => return NavigationVerdict::NeedEvent,
        Some(_) => {}
    }
    let Some(model) = str_of(&msg.model).filter(|m| !m.is_empty()) else {
        return NavigationVerdict::NeedEvent;
    };
    let at = time_of(&msg.timestamp)
        .or(fallback_at)
        .or_else(|| time_of(&model_nav.timestamp));
    let Some(at) = at else {
        return NavigationVerdict::NeedEvent;
    };
    NavigationVerdict::Call(TranscriptCall {
        entry_id: entry_id_of(&model_nav.id),
        provider: provider.to_owned(),
        model: model.to_owned(),
        at,
        outcome: CallOutcome::Success,
    })
}

fn timestamp_from_number(n: &serde_json::Number) -> Option<Timestamp> {
    let ms = n
        .as_i64()
        .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?;
    (ms > 0)
        .then(|| Timestamp::from_millisecond(ms).ok())
        .flatten()
}

/// Epoch milliseconds in digits, or an ISO instant.
fn timestamp_from_str(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = s.parse().ok()?;
        return (ms > 0)
            .then(|| Timestamp::from_millisecond(ms).ok())
            .flatten();
    }
    s.parse::<Timestamp>().ok()
}
