//! One gateway log line (a tslog JSON record) → what it says.

use jiff::Timestamp;
use serde_json::Value;

use crate::usage::event::sanitize_detail;
use crate::usage::{CallOutcome, CallRecord, GatewaySignal, SourceKind};

/// What one log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Signal(GatewaySignal),
    /// A "has no provider supported" error text (may turn a preceding 400 into Gone).
    NoProvider {
        at: Timestamp,
        text: String,
    },
    /// A valid record that says nothing of interest.
    Nothing,
}

/// Parses one log line. `None`: not a JSON object, or no readable time.
pub fn parse_line(line: &[u8]) -> Option<Parsed> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let obj = v.as_object()?;
    let at = obj
        .get("time")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .or_else(|| {
            obj.get("_meta")?
                .get("date")?
                .as_str()?
                .parse::<Timestamp>()
                .ok()
        })?;
    let mut texts = Vec::new();
    for (k, v) in obj {
        if k != "_meta" && k != "time" {
            collect_strings(v, 0, &mut texts);
        }
    }
    for text in &texts {
        if let Some(sig) = recognize(text, at) {
            return Some(Parsed::Signal(sig));
        }
    }
    if let Some(text) = texts.iter().find(|t| {
        t.to_ascii_lowercase()
            .contains(crate::modelscope::NOT_SERVED_MARK)
    }) {
        return Some(Parsed::NoProvider {
            at,
            text: (*text).to_owned(),
        });
    }
    Some(Parsed::Nothing)
}

fn collect_strings<'a>(v: &'a Value, depth: usize, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) if depth < 4 => a.iter().for_each(|x| collect_strings(x, depth + 1, out)),
        Value::Object(o) if depth < 4 => {
            o.values().for_each(|x| collect_strings(x, depth + 1, out))
        }
        _ => {}
    }
}

fn recognize(text: &str, at: Timestamp) -> Option<GatewaySignal> {
    if let Some(i) = text.find("[model-fetch] response ") {
        return model_fetch(&text[i + "[model-fetch] response ".len()..], at)
            .map(GatewaySignal::Call);
    }
    if let Some(paths) = paren_list(text, "config hot reload applied (") {
        return Some(GatewaySignal::ReloadApplied { at, paths });
    }
    if let Some(paths) = paren_list(text, "config change applied (dynamic reads: ") {
        return Some(GatewaySignal::ReloadApplied { at, paths });
    }
    if let Some(i) = text.find("config reload skipped") {
        let rest = text[i + "config reload skipped".len()..].trim();
        let reason = match rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((inner, after)) => {
                let after = after.trim_start_matches(':').trim();
                if after.is_empty() {
                    inner.to_owned()
                } else {
                    format!("{inner}: {after}")
                }
            }
            None => rest.to_owned(),
        };
        return Some(GatewaySignal::ReloadSkipped {
            at,
            reason: sanitize_detail(&reason),
        });
    }
    None
}

/// `provider=P api=A model=M status=NNN elapsedMs=…` → a call record.
fn model_fetch(fields: &str, at: Timestamp) -> Option<CallRecord> {
    let (mut provider, mut model, mut status) = (None, None, None);
    for tok in fields.split_whitespace() {
        let Some((k, v)) = tok.split_once('=') else {
            continue;
        };
        match k {
            "provider" if provider.is_none() => provider = Some(v),
            "model" if model.is_none() => model = Some(v),
            "status" if status.is_none() => status = v.parse::<u16>().ok(),
            _ => {}
        }
    }
    let (provider, model, status) = (
        provider.filter(|p| !p.is_empty())?,
        model.filter(|m| !m.is_empty())?,
        status?,
    );
    let outcome = match status {
        200..=299 => CallOutcome::Success,
        // A 402 is ModelScope's balance gone: a quota error like a 429. (The line has no body, so
        // a 403 cannot say whether it is one: left a failure.)
        429 | 402 => CallOutcome::RateLimited {
            retry_loop_failed: false,
        },
        404 => CallOutcome::Gone {
            detail: "HTTP 404".to_owned(),
        },
        s => CallOutcome::Failed {
            status: Some(s),
            detail: format!("HTTP {s}"),
        },
    };
    Some(CallRecord {
        provider: provider.to_owned(),
        model: model.to_owned(),
        at,
        outcome,
        source: SourceKind::GatewayLog,
    })
}

fn paren_list(text: &str, marker: &str) -> Option<Vec<String>> {
    let i = text.find(marker)?;
    let rest = &text[i + marker.len()..];
    let inner = &rest[..rest.rfind(')')?];
    Some(
        inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod balance_tests {
    use super::*;

    fn outcome(status: &str) -> CallOutcome {
        let line = format!(
            r#"{{"1":"[model-fetch] response provider=modelscope api=openai-completions model=ZhipuAI/GLM-5 status={status} elapsedMs=9","time":"2026-07-09T01:41:50.257Z"}}"#
        );
        match parse_line(line.as_bytes()) {
            Some(Parsed::Signal(GatewaySignal::Call(r))) => r.outcome,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_402_is_a_quota_error_and_a_bare_403_is_not() {
        assert_eq!(
            outcome("402"),
            CallOutcome::RateLimited {
                retry_loop_failed: false
            }
        );
        assert_eq!(
            outcome("403"),
            CallOutcome::Failed {
                status: Some(403),
                detail: "HTTP 403".into()
            }
        );
    }
}
