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

/// The words of a balance or quota error (ModelScope's account-wide magicube balance, and the
/// same wording other OpenAI-compatible providers use), matched case-insensitively in a 403 body.
pub const BALANCE_MARKS: &[&str] = &[
    "QuotaLimitExceed",
    "magicube balance exhausted",
    "余额不足",
    "配额用尽",
    "insufficient balance",
];

/// Whether an error answer says the account's balance or quota is gone: any 402, or a 403 whose
/// body carries one of [`BALANCE_MARKS`]. Another 403 (real-name verification, a bad key) is not:
/// waiting or rotating does not cure it.
pub fn is_balance_error(status: u16, body: &str) -> bool {
    match status {
        402 => true,
        403 => {
            let body = body.to_lowercase();
            BALANCE_MARKS
                .iter()
                .any(|mark| body.contains(&mark.to_lowercase()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_balance_error;

    #[test]
    fn a_402_or_a_403_with_a_balance_mark_is_a_balance_error() {
        assert!(is_balance_error(402, ""));
        assert!(is_balance_error(
            403,
            r#"{"errors":{"code":"QuotaLimitExceed","message":"magicube balance exhausted"}}"#
        ));
        assert!(is_balance_error(
            403,
            r#"{"error":{"message":"账户余额不足"}}"#
        ));
        assert!(is_balance_error(403, "今日配额用尽"));
        assert!(is_balance_error(403, "Insufficient Balance"));
    }

    #[test]
    fn other_403s_and_other_statuses_are_not() {
        assert!(!is_balance_error(
            403,
            r#"{"error":{"message":"Please complete real-name verification (实名认证) first"}}"#
        ));
        assert!(!is_balance_error(403, "invalid api key"));
        assert!(!is_balance_error(429, "insufficient balance"));
        assert!(!is_balance_error(500, "QuotaLimitExceed"));
    }
}
