//! ModelScope, the provider msclaw rotates on: its name in OpenClaw's config, its endpoint, and
//! the words its errors use. Every use of these points here.

/// The provider's name under `models.providers`.
pub const PROVIDER: &str = "modelscope";
/// ModelScope's OpenAI-compatible endpoint.
pub const BASE_URL: &str = "https://api-inference.modelscope.cn/v1/";
/// The OpenClaw API adapter that speaks to it.
pub const API: &str = "openai-completions";
/// The environment variable the guide keeps the key in (`apiKey: "${MODELSCOPE_API_KEY}"`).
pub const API_KEY_VAR: &str = "MODELSCOPE_API_KEY";
/// What the guide gives each model (ModelScope publishes no per-model caps for API-Inference).
pub const CONTEXT_WINDOW: u64 = 131_072;
pub const MAX_TOKENS: u64 = 8_192;
/// ModelScope's words for "this model is not served here": a 400 says it in the body.
pub const NOT_SERVED_MARK: &str = "has no provider supported";

/// Words of a 403 that says the account's balance or quota is gone (not that the key is refused,
/// or that the account lacks real-name verification).
const BALANCE_MARKERS: [&str; 5] = [
    "quotalimitexceed",
    "magicube balance exhausted",
    "余额不足",
    "配额用尽",
    "insufficient balance",
];

/// Whether an error answer means the account's balance (magicube) is gone: a 402, or a 403 whose
/// body carries a balance/quota marker. A quota error like a 429, not a failure of the key.
pub fn is_balance_error(status: u16, body: &str) -> bool {
    match status {
        402 => true,
        403 => {
            let lower = body.to_lowercase();
            BALANCE_MARKERS.iter().any(|m| lower.contains(m))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_balance_error;

    #[test]
    fn balance_errors_are_a_402_or_a_403_that_says_so() {
        let cases = [
            (402, "", true),
            (402, "Payment Required", true),
            (403, r#"{"code":"QuotaLimitExceed","message":"..."}"#, true),
            (403, "magicube balance exhausted", true),
            (403, "魔粒余额不足", true),
            (403, "今日配额用尽", true),
            (403, "Insufficient Balance", true),
            (
                403,
                "please complete real-name verification (实名认证)",
                false,
            ),
            (403, "Forbidden", false),
            (401, "insufficient balance", false),
            (429, "QuotaLimitExceed", false),
        ];
        for (status, body, want) in cases {
            assert_eq!(is_balance_error(status, body), want, "{status} {body}");
        }
    }
}
