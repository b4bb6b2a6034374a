//! The typed read view: what msclaw needs from OpenClaw's config (`~/.openclaw/openclaw.json`),
//! after following its `$include`s.
//!
//! Secrets: an `apiKey` is classified ([`ApiKeyKind`]) and dropped; no struct here holds its text.
//!
//! Strictness: what msclaw writes (`agents.defaults.model` and the objects on the way to it) must
//! have the documented shape, else [`ConfigError::Invalid`]. Everything else is read leniently: a
//! value of an unexpected type is ignored (OpenClaw's own schema check is the judge of those).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::include::Reader;
use super::json5::{ConfigError, get, get_str, invalid, parse_value};
use super::locate::{FileLevel, locate_in_value, locate_model, model_at};

/// How a provider's `apiKey` is given. The key itself is never kept.
#[derive(Clone, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// No `apiKey` (or an empty one).
    Missing,
    /// Exactly `"${VAR}"`: the name of the environment variable (not a secret).
    EnvRef(String),
    /// Any other string: the key is written in the file.
    Literal,
    /// A SecretRef object (`{ source, provider, id }`).
    SecretRef,
}

impl fmt::Debug for ApiKeyKind {
    // Spelled out so that no future field can leak through a derive.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiKeyKind::Missing => f.write_str("Missing"),
            ApiKeyKind::EnvRef(var) => write!(f, "EnvRef({var:?})"),
            ApiKeyKind::Literal => f.write_str("Literal"),
            ApiKeyKind::SecretRef => f.write_str("SecretRef"),
        }
    }
}

/// One entry of `models.providers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub base_url: Option<String>,
    pub api: Option<String>,
    /// `models[].id`, in file order (entries without a string `id` are skipped).
    pub model_ids: Vec<String>,
    pub api_key: ApiKeyKind,
}

/// The shape of `agents.defaults.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelForm {
    Missing,
    /// `model: "provider/id"` (primary only).
    String,
    /// `model: { primary, fallbacks }`.
    Object,
}

/// What msclaw knows about an OpenClaw config after following its `$include`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClawConfig {
    /// The config file that was loaded.
    pub path: PathBuf,
    /// The file msclaw edits to change `agents.defaults.model`: `path` itself, or the single-file
    /// `$include` that holds `agents` (or `agents.defaults`, or `agents.defaults.model`).
    pub agents_file: PathBuf,
    /// Every file that was read, `path` first, then included files in reading order (what a
    /// watcher should watch). [`parse`] lists only `path`.
    pub files: Vec<PathBuf>,
    pub providers: BTreeMap<String, ProviderInfo>,
    pub model_form: ModelForm,
    pub primary: Option<String>,
    /// `None` when the key is absent (or the model is in string form).
    pub fallbacks: Option<Vec<String>>,
    /// Full ref -> alias, from `agents.defaults.models.<ref>.alias`.
    pub aliases: BTreeMap<String, String>,
    /// Alias as OpenClaw matches it (trimmed, lowercase) -> full ref; of colliding aliases the
    /// last in file order wins, as in OpenClaw.
    pub alias_refs: BTreeMap<String, String>,
    /// `agents.defaults.modelPolicy.allow` (empty when missing).
    pub allow: Vec<String>,
    /// (agent id, model) from `agents.list[]` and `agents.entries.<id>`; a per-agent `model`
    /// object contributes its `primary`.
    pub per_agent_models: Vec<(String, String)>,
    /// `gateway.reload.mode`.
    pub reload_mode: Option<String>,
    /// `gateway.port`.
    pub gateway_port: Option<u16>,
    /// `logging.file`, as written (no `~` expansion).
    pub log_file: Option<PathBuf>,
}

impl OpenClawConfig {
    /// The full ref (`provider/id`) meant by `name_or_alias` within `provider`, tried in order:
    /// an alias (from `agents.defaults.models`) whose ref is in `provider`; a bare id listed in
    /// `models.providers.<provider>.models[]`; a full ref `provider/<id>` with `<id>` listed.
    /// An alias may name a model that is not listed: check with [`Self::is_listed`].
    pub fn resolve_model(&self, provider: &str, name_or_alias: &str) -> Option<String> {
        let prefix = format!("{provider}/");
        if let Some(full) = self.alias_refs.get(&alias_key(name_or_alias))
            && full.starts_with(&prefix)
        {
            return Some(full.clone());
        }
        let listed = self.providers.get(provider)?;
        if listed.model_ids.iter().any(|id| id == name_or_alias) {
            return Some(format!("{prefix}{name_or_alias}"));
        }
        let id = name_or_alias.strip_prefix(&prefix)?;
        listed
            .model_ids
            .iter()
            .any(|m| m == id)
            .then(|| name_or_alias.to_owned())
    }

    /// Whether the full ref `provider/id` is listed in `models.providers.<provider>.models[]`
    /// (refs split on the first `/`).
    pub fn is_listed(&self, full_ref: &str) -> bool {
        let Some((provider, id)) = full_ref.split_once('/') else {
            return false;
        };
        self.providers
            .get(provider)
            .is_some_and(|p| p.model_ids.iter().any(|m| m == id))
    }
}

/// Reads `path` and every file it `$include`s.
pub fn load(path: &Path) -> Result<OpenClawConfig, ConfigError> {
    load_with_overrides(path, &HashMap::new())
}

/// Parses one config text without following `$include` (an include stays a `$include` key). For
/// tests and for checking an edit before it is written.
pub fn parse(text: &str, path: &Path) -> Result<OpenClawConfig, ConfigError> {
    let root = parse_value(text, path)?;
    let location = locate_in_value(&root, path, FileLevel::Root, None)?;
    from_value(&root, path, location.file, vec![path.to_path_buf()])
}

/// [`load`], but the files named in `overrides` are taken to hold the given text instead of what
/// is on disk (how the editor checks the whole config before writing one file of it).
pub(crate) fn load_with_overrides(
    path: &Path,
    overrides: &HashMap<PathBuf, String>,
) -> Result<OpenClawConfig, ConfigError> {
    let mut reader = Reader::new(overrides);
    reader.keep_at_root = Some(read_keeps);
    let root = reader.resolved(path, 0)?;
    let location = locate_model(&mut reader, path)?;
    from_value(&root, path, location.file, reader.files)
}

/// The top-level properties the typed read parses: those [`from_value`] reads, and any other
/// that may hold an `$include` (OpenClaw follows them everywhere; a bad one is an error). The
/// rest (a catalogue of megabytes) is syntax-checked only.
fn read_keeps(key: &str, value: &str) -> bool {
    matches!(
        key,
        "models" | "agents" | "gateway" | "logging" | "$include"
    ) || value.contains("include")
}

fn api_key_kind(v: Option<&Value>) -> ApiKeyKind {
    match v {
        None | Some(Value::Null) => ApiKeyKind::Missing,
        Some(Value::String(s)) if s.is_empty() => ApiKeyKind::Missing,
        Some(Value::String(s)) => match env_ref_name(s) {
            Some(var) => ApiKeyKind::EnvRef(var.to_owned()),
            None => ApiKeyKind::Literal,
        },
        Some(Value::Object(_)) => ApiKeyKind::SecretRef,
        Some(_) => ApiKeyKind::Literal,
    }
}

/// Whether `name` is an environment variable name OpenClaw substitutes in `${NAME}`:
/// `[A-Z_][A-Z0-9_]*`. The one place this rule is written.
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `VAR` when `s` is exactly `${VAR}` with VAR an [`is_env_var_name`] (OpenClaw's rule).
pub fn env_ref_name(s: &str) -> Option<&str> {
    let var = s.strip_prefix("${")?.strip_suffix('}')?;
    is_env_var_name(var).then_some(var)
}

fn agent_model(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("primary")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn from_value(
    root: &Value,
    path: &Path,
    agents_file: PathBuf,
    files: Vec<PathBuf>,
) -> Result<OpenClawConfig, ConfigError> {
    if !root.is_object() {
        return Err(invalid(
            path,
            if root.is_null() {
                "the config is empty; expected an object"
            } else {
                "the config root is not an object"
            },
        ));
    }
    let model = model_at(root, FileLevel::Root, path)?;
    let aliases = aliases(root);
    Ok(OpenClawConfig {
        path: path.to_path_buf(),
        agents_file,
        files,
        providers: providers(root),
        model_form: model.form,
        primary: model.primary,
        fallbacks: model.fallbacks,
        aliases: aliases.iter().cloned().collect(),
        alias_refs: aliases
            .iter()
            .map(|(full, alias)| (alias_key(alias), full.clone()))
            .collect(),
        allow: match get(root, &["agents", "defaults", "modelPolicy", "allow"]) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        },
        per_agent_models: per_agent_models(root),
        reload_mode: get_str(root, &["gateway", "reload", "mode"]),
        gateway_port: get(root, &["gateway", "port"])
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0),
        log_file: get_str(root, &["logging", "file"]).map(PathBuf::from),
    })
}

/// `models.providers`: entries that are not objects are skipped.
fn providers(root: &Value) -> BTreeMap<String, ProviderInfo> {
    let mut providers = BTreeMap::new();
    let Some(Value::Object(map)) = get(root, &["models", "providers"]) else {
        return providers;
    };
    for (name, p) in map {
        let Value::Object(p) = p else { continue };
        providers.insert(name.clone(), provider_info(p));
    }
    providers
}

fn provider_info(p: &Map<String, Value>) -> ProviderInfo {
    let model_ids = match p.get("models") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|m| m.get("id")?.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    ProviderInfo {
        base_url: p.get("baseUrl").and_then(Value::as_str).map(str::to_owned),
        api: p.get("api").and_then(Value::as_str).map(str::to_owned),
        model_ids,
        api_key: api_key_kind(p.get("apiKey")),
    }
}

/// Full ref -> alias, from `agents.defaults.models` in file order (`provider/*` entries and
/// blank aliases have none).
fn aliases(root: &Value) -> Vec<(String, String)> {
    let Some(Value::Object(map)) = get(root, &["agents", "defaults", "models"]) else {
        return Vec::new();
    };
    map.iter()
        .filter(|(full, _)| !full.ends_with("/*"))
        .filter_map(|(full, params)| {
            let alias = params.get("alias").and_then(Value::as_str)?;
            (!alias.trim().is_empty()).then(|| (full.clone(), alias.to_owned()))
        })
        .collect()
}

/// How OpenClaw compares aliases: trimmed and lowercased (JS `toLowerCase`, full Unicode).
pub fn alias_key(alias: &str) -> String {
    alias.trim().to_lowercase()
}

/// (agent id, model) from `agents.list[]`, then `agents.entries.<id>`.
fn per_agent_models(root: &Value) -> Vec<(String, String)> {
    let mut per_agent_models = Vec::new();
    if let Some(Value::Array(list)) = get(root, &["agents", "list"]) {
        for agent in list {
            if let (Some(id), Some(model)) = (
                agent.get("id").and_then(Value::as_str),
                agent.get("model").and_then(agent_model),
            ) {
                per_agent_models.push((id.to_owned(), model));
            }
        }
    }
    if let Some(Value::Object(entries)) = get(root, &["agents", "entries"]) {
        for (id, agent) in entries {
            if let Some(model) = agent.get("model").and_then(agent_model) {
                per_agent_models.push((id.clone(), model));
            }
        }
    }
    per_agent_models
}

#[cfg(test)]
mod tests;
