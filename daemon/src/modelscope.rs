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
