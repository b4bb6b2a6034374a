//! A batch of log lines → signals: a cheap check for the markers first, then the line is parsed;
//! a "has no provider supported" line turns the 400 it explains into `Gone`.

use super::line::{Parsed, parse_line};
use crate::usage::event::sanitize_detail;
use crate::usage::{CallOutcome, CallRecord, GatewaySignal};

/// Lines that can matter contain one of these (checked before parsing any JSON).
const MARKERS: &[&str] = &[
    "[model-fetch] response",
    "config hot reload applied",
    "config change applied",
    "config reload skipped",
    crate::modelscope::NOT_SERVED_MARK,
];

/// Call records of this batch that a later "has no provider supported" line may turn into Gone.
#[derive(Default)]
pub(super) struct Pending {
    bad_requests: Vec<usize>,
}

pub(super) fn handle_line(
    line: &[u8],
    garbled: &mut u64,
    out: &mut Vec<GatewaySignal>,
    pending: &mut Pending,
) {
    if !MARKERS.iter().any(|m| contains(line, m.as_bytes())) {
        return;
    }
    let Some(parsed) = parse_line(line) else {
        *garbled += 1;
        return;
    };
    match parsed {
        Parsed::Signal(sig) => {
            if let GatewaySignal::Call(CallRecord {
                outcome:
                    CallOutcome::Failed {
                        status: Some(400), ..
                    },
                ..
            }) = &sig
            {
                pending.bad_requests.push(out.len());
            }
            out.push(sig);
        }
        Parsed::NoProvider { at, text } => {
            // Upgrade the latest 400 of this batch (preferring one whose model the text names)
            // that came at most a minute before.
            let recent = |i: &&usize| match &out[**i] {
                GatewaySignal::Call(r) => r.at <= at && at.duration_since(r.at).as_secs() <= 60,
                _ => false,
            };
            let named =
                pending.bad_requests.iter().rev().filter(recent).find(
                    |i| matches!(&out[**i], GatewaySignal::Call(r) if text.contains(&r.model)),
                );
            let target = named
                .or_else(|| pending.bad_requests.iter().rev().find(recent))
                .copied();
            if let Some(i) = target {
                if let GatewaySignal::Call(r) = &mut out[i] {
                    r.outcome = CallOutcome::Gone {
                        detail: sanitize_detail(&text),
                    };
                }
                pending.bad_requests.retain(|j| *j != i);
            }
        }
        Parsed::Nothing => {}
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
