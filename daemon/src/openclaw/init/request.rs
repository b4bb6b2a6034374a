//! What to put in the config: the provider, its models (the guide's or `--models`), the key.

use std::fmt;

use crate::modelscope;

use super::report::InitError;

/// The guide's four models in rotation order: id, display name, alias.
pub const GUIDE_MODELS: [(&str, &str, &str); 4] = [
    ("Qwen/Qwen3.5-397B-A17B", "Qwen3.5", "qwen3.5"),
    ("ZhipuAI/GLM-5", "GLM-5", "glm5"),
    ("MiniMax/MiniMax-M2.5", "MiniMax-M2.5", "minimax"),
    ("moonshotai/Kimi-K2.5", "Kimi-K2.5", "kimi"),
];

/// One model to list under the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// ModelScope's id, e.g. `ZhipuAI/GLM-5`.
    pub id: String,
    pub name: String,
    pub alias: Option<String>,
    pub context_window: u64,
    pub max_tokens: u64,
}

impl ModelSpec {
    /// The guide's entry for `id`, else one with a name and alias derived from the id.
    pub fn for_id(id: &str) -> ModelSpec {
        if let Some((id, name, alias)) = GUIDE_MODELS.iter().find(|(g, _, _)| *g == id) {
            return ModelSpec {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                alias: Some((*alias).to_owned()),
                context_window: modelscope::CONTEXT_WINDOW,
                max_tokens: modelscope::MAX_TOKENS,
            };
        }
        ModelSpec {
            id: id.to_owned(),
            name: id.rsplit('/').next().unwrap_or(id).to_owned(),
            alias: derive_alias(id),
            context_window: modelscope::CONTEXT_WINDOW,
            max_tokens: modelscope::MAX_TOKENS,
        }
    }

    pub fn full_ref(&self, provider: &str) -> String {
        format!("{provider}/{}", self.id)
    }
}

/// The guide's four models.
pub fn guide_models() -> Vec<ModelSpec> {
    GUIDE_MODELS
        .iter()
        .map(|(id, _, _)| ModelSpec::for_id(id))
        .collect()
}

/// A short alias for a model id: the name's first word, plus its version when that is a separate
/// word (`ZhipuAI/GLM-5` → `glm5`, `Qwen/Qwen3.5-397B-A17B` → `qwen3.5`,
/// `moonshotai/Kimi-K2.5` → `kimi`). `None` when nothing sensible comes out.
pub fn derive_alias(id: &str) -> Option<String> {
    let name = id.rsplit('/').next()?.to_ascii_lowercase();
    let mut words = name.split(['-', '_', ' ']).filter(|w| !w.is_empty());
    let first = words.next()?;
    let mut alias = first.to_owned();
    if !first.chars().any(|c| c.is_ascii_digit())
        && let Some(second) = words.next()
        && second.starts_with(|c: char| c.is_ascii_digit())
    {
        alias.push_str(second);
    }
    let sensible = alias.len() <= 32
        && alias.starts_with(|c: char| c.is_ascii_alphabetic())
        && alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    sensible.then_some(alias)
}

/// `--models a,b,c`: model ids (or the provider's full refs, or the guide's aliases), in order.
pub fn parse_model_list(list: &str, provider: &str) -> Result<Vec<ModelSpec>, InitError> {
    let prefix = format!("{provider}/");
    let mut out: Vec<ModelSpec> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'' || c == '\\')
        {
            return Err(InitError::BadRequest(format!(
                "{name:?} is not a model id (ids look like ZhipuAI/GLM-5)"
            )));
        }
        let id = match GUIDE_MODELS.iter().find(|(_, _, alias)| *alias == name) {
            Some((id, _, _)) => *id,
            None => match name.strip_prefix(&prefix) {
                Some(rest) if rest.contains('/') => rest,
                _ => name,
            },
        };
        if out.iter().any(|m| m.id == id) {
            return Err(InitError::BadRequest(format!(
                "model {id} is listed twice in --models"
            )));
        }
        out.push(ModelSpec::for_id(id));
    }
    if out.is_empty() {
        return Err(InitError::BadRequest("--models names no model".into()));
    }
    Ok(out)
}

/// An API key given by the user. It has no `Debug` or `Display` that could show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The key with surrounding whitespace (a pasted newline) trimmed; refused when empty or
    /// holding control characters or inner whitespace.
    pub fn new(text: &str) -> Result<Secret, InitError> {
        let key = text.trim();
        if key.is_empty() {
            return Err(InitError::BadRequest("no API key on standard input".into()));
        }
        if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InitError::BadRequest(
                "the API key on standard input holds spaces or control characters".into(),
            ));
        }
        Ok(Secret(key.to_owned()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

/// What `apiKey` a new provider gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKey {
    /// `"${VAR}"`: OpenClaw substitutes the environment variable.
    EnvRef(String),
    /// The key itself, written into the file.
    Literal(Secret),
}

impl ApiKey {
    /// How the key is given, for reports (never the key).
    pub fn describe(&self) -> String {
        match self {
            ApiKey::EnvRef(var) => format!("apiKey ${{{var}}}"),
            ApiKey::Literal(_) => "apiKey written in the file (hidden)".to_owned(),
        }
    }

    pub(crate) fn value(&self) -> String {
        match self {
            ApiKey::EnvRef(var) => format!("${{{var}}}"),
            ApiKey::Literal(key) => key.expose().to_owned(),
        }
    }
}

/// What to put in the config.
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub provider: String,
    pub base_url: String,
    pub api: String,
    pub api_key: ApiKey,
    /// In rotation order; the first becomes the primary.
    pub models: Vec<ModelSpec>,
}

impl InitRequest {
    /// The guide's set-up: ModelScope, its four models, the key from `$MODELSCOPE_API_KEY`.
    pub fn guide() -> InitRequest {
        InitRequest {
            provider: modelscope::PROVIDER.to_owned(),
            base_url: modelscope::BASE_URL.to_owned(),
            api: modelscope::API.to_owned(),
            api_key: ApiKey::EnvRef(modelscope::API_KEY_VAR.to_owned()),
            models: guide_models(),
        }
    }

    pub(crate) fn refs(&self) -> Vec<String> {
        self.models
            .iter()
            .map(|m| m.full_ref(&self.provider))
            .collect()
    }
}

pub(crate) fn check_request(req: &InitRequest) -> Result<(), InitError> {
    if req.models.is_empty() {
        return Err(InitError::BadRequest("no models to add".into()));
    }
    if req.provider.is_empty() || req.provider.contains('/') {
        return Err(InitError::BadRequest(format!(
            "{:?} is not a provider name",
            req.provider
        )));
    }
    if req.base_url.trim().is_empty() {
        return Err(InitError::BadRequest("the base URL is empty".into()));
    }
    Ok(())
}
