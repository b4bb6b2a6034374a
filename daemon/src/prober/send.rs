//! The probe's one request: a minimal chat completion (`max_tokens: 1`, a one-word prompt), or a
//! GET of the pool's balance endpoint. Short timeout, bounded answer; the key is sent in the
//! `Authorization` header only and never written anywhere.

use serde_json::{Value, json};

use super::target::Target;
use super::{MAX_ANSWER_BYTES, PROBE_TIMEOUT, ProbeOutcome, pays_for};
use crate::modelscope::is_balance_error;
use crate::pools::Units;
use crate::relay::is_loopback_url;
use crate::usage::event::sanitize_detail;

/// One minimal call of the target's model.
pub(super) async fn minimal_call(target: &Target) -> ProbeOutcome {
    let body = json!({
        "model": target.model_id,
        "messages": [{ "role": "user", "content": "hi" }],
        "max_tokens": 1,
        "stream": false,
    });
    let url = format!("{}/chat/completions", target.base_url);
    let answer = match request(target, reqwest::Method::POST, &url, Some(body)).await {
        Ok(answer) => answer,
        Err(why) => return ProbeOutcome::Failed(why),
    };
    match answer.status {
        200..=299 => ProbeOutcome::Served,
        status => refusal(status, &answer.body),
    }
}

/// The balance at `url`: back when it pays for `at_least`. Also the balance read, if any.
pub(super) async fn balance(
    target: &Target,
    url: &str,
    at_least: Units,
) -> (ProbeOutcome, Option<f64>) {
    let answer = match request(target, reqwest::Method::GET, url, None).await {
        Ok(answer) => answer,
        Err(why) => return (ProbeOutcome::Failed(why), None),
    };
    if !(200..=299).contains(&answer.status) {
        return (refusal(answer.status, &answer.body), None);
    }
    match available_balance(&answer.body) {
        Some(b) if pays_for(b, at_least) => (ProbeOutcome::Served, Some(b)),
        Some(b) => (ProbeOutcome::Spent, Some(b)),
        None => (
            ProbeOutcome::Failed("the balance answer has no data.available_balance".into()),
            None,
        ),
    }
}

/// `data.available_balance` of a balance answer: a number, or a number in a string.
pub(super) fn available_balance(body: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(body).ok()?;
    let b = v.pointer("/data/available_balance")?;
    let n = match b {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// An error answer: a quota error says the pool is still spent; anything else is no evidence.
fn refusal(status: u16, body: &str) -> ProbeOutcome {
    if status == 429 || is_balance_error(status, body) {
        ProbeOutcome::Spent
    } else {
        ProbeOutcome::Failed(format!("HTTP {status}: {}", sanitize_detail(body)))
    }
}

struct Answer {
    status: u16,
    /// At most [`MAX_ANSWER_BYTES`], lossily decoded.
    body: String,
}

async fn request(
    target: &Target,
    method: reqwest::Method,
    url: &str,
    json: Option<Value>,
) -> Result<Answer, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PROBE_TIMEOUT);
    if is_loopback_url(&parsed) {
        // A proxy from the environment must not capture traffic meant for this machine.
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|_| "cannot build an HTTP client".to_owned())?;
    let mut req = client.request(method, parsed);
    if let Some(key) = &target.key {
        req = req.bearer_auth(key);
    }
    if let Some(body) = json {
        req = req.json(&body);
    }
    let mut resp = req.send().await.map_err(without_url)?;
    let status = resp.status().as_u16();
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ANSWER_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(without_url(e)),
        }
    }
    bytes.truncate(MAX_ANSWER_BYTES);
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// What went wrong, in a few words (a timeout, a refused connection).
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    format!("{kind}: {}", sanitize_detail(&e.without_url().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balance_is_read_from_data_available_balance() {
        let cases = [
            (
                r#"{"code":200,"data":{"available_balance":12.5}}"#,
                Some(12.5),
            ),
            (r#"{"data":{"available_balance":"3"}}"#, Some(3.0)),
            (r#"{"data":{"balance":3}}"#, None),
            ("not json", None),
        ];
        for (body, want) in cases {
            assert_eq!(available_balance(body), want, "{body}");
        }
        assert!(pays_for(2.0, Units::whole(2)));
        assert!(!pays_for(1.999, Units::whole(2)));
        assert!(pays_for(0.5, Units::from_milli(500)));
    }

    #[test]
    fn only_quota_errors_say_the_pool_is_still_spent() {
        assert_eq!(refusal(429, ""), ProbeOutcome::Spent);
        assert_eq!(refusal(402, ""), ProbeOutcome::Spent);
        assert_eq!(refusal(403, "余额不足"), ProbeOutcome::Spent);
        assert!(matches!(refusal(403, "real-name"), ProbeOutcome::Failed(_)));
        assert!(matches!(refusal(503, ""), ProbeOutcome::Failed(_)));
        assert!(matches!(refusal(401, "bad key"), ProbeOutcome::Failed(_)));
    }
}
