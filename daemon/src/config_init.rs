//! What `msclawctl init` adds to OpenClaw's config: the ModelScope provider with its models, an
//! alias per model under `agents.defaults.models`, and `agents.defaults.model.primary`.
//!
//! It only adds. Whatever is already there (the provider, a model in its list, an alias entry, a
//! provider field) is left alone and reported as present; every existing byte and comment stays.
//! The machinery is the editor's ([`crate::config_editor`]): the CST finds the objects and arrays
//! and tells the file's style (newline kind, indent, trailing commas, key quoting), and the change
//! is a few text splices. `primary` goes through the editor's own model edit.
//!
//! What is present is decided on the whole config, `$include`s resolved; additions go into the
//! config file itself. When something to add belongs in an object that only an included file
//! spells out, init stops with [`InitError::Include`] rather than shadow it. `primary` follows the
//! editor's rule (it may live in an included file).
//!
//! Before anything is written the new text must parse, the whole config must read back with
//! every asked model listed, aliased and the primary in place, and the old config must be
//! contained in the new one (nothing but `agents.defaults.model` changed).
//!
//! Secrets: a literal API key is held in [`Secret`] (no `Debug`), never appears in an error, an
//! item or a warning, and [`mask_secrets`] hides every key-like value when a diff is shown.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstArray, CstNode, CstObject, CstRootNode};
use serde::Serialize;
use serde_json::Value;

use crate::atomic_write::{self, WriteError};
use crate::config_editor::{
    self, Doc, EditError, ModelEdit, New, Quote, Splice, apply_splices, insert_elements,
    insert_props, last_prop, quote, quote_of,
};
use crate::openclaw_config::{
    self, ConfigError, OpenClawConfig, Reader, load_with_overrides, locate_model, parse_error,
    parse_options, parse_value, read_config_text, resolved_value, split_bom,
};

pub const PROVIDER: &str = "modelscope";
/// ModelScope's OpenAI-compatible endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api-inference.modelscope.cn/v1/";
pub const DEFAULT_API: &str = "openai-completions";
pub const DEFAULT_API_KEY_VAR: &str = "MODELSCOPE_API_KEY";
/// What the guide gives each model (ModelScope publishes no per-model caps for API-Inference).
pub const DEFAULT_CONTEXT_WINDOW: u64 = 131_072;
pub const DEFAULT_MAX_TOKENS: u64 = 8_192;
/// How many times [`apply_init`] starts over when the file changed between reading and writing.
pub const MAX_ATTEMPTS: u32 = 5;

/// The guide's four models in rotation order: id, display name, alias.
pub const GUIDE_MODELS: [(&str, &str, &str); 4] = [
    ("Qwen/Qwen3.5-397B-A17B", "Qwen3.5", "qwen3.5"),
    ("ZhipuAI/GLM-5", "GLM-5", "glm5"),
    ("MiniMax/MiniMax-M2.5", "MiniMax-M2.5", "minimax"),
    ("moonshotai/Kimi-K2.5", "Kimi-K2.5", "kimi"),
];

/// What a created config starts as; the additions are then made the same way as in any file.
const NEW_FILE: &str = "\
// OpenClaw config, created by `msclawctl init`.
// JSON5: comments, unquoted keys and trailing commas are fine.
{
  models: {
    providers: {},
  },
  agents: {
    defaults: {},
  },
}
";

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
                context_window: DEFAULT_CONTEXT_WINDOW,
                max_tokens: DEFAULT_MAX_TOKENS,
            };
        }
        ModelSpec {
            id: id.to_owned(),
            name: id.rsplit('/').next().unwrap_or(id).to_owned(),
            alias: derive_alias(id),
            context_window: DEFAULT_CONTEXT_WINDOW,
            max_tokens: DEFAULT_MAX_TOKENS,
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

    fn expose(&self) -> &str {
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

    fn value(&self) -> String {
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
            provider: PROVIDER.to_owned(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            api: DEFAULT_API.to_owned(),
            api_key: ApiKey::EnvRef(DEFAULT_API_KEY_VAR.to_owned()),
            models: guide_models(),
        }
    }

    fn refs(&self) -> Vec<String> {
        self.models
            .iter()
            .map(|m| m.full_ref(&self.provider))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// The config file itself (created).
    File,
    Provider,
    /// A field of an existing provider: `baseUrl`, `api`, `apiKey`, `models`.
    ProviderField,
    /// An entry of `models.providers.<provider>.models[]`.
    Model,
    /// An entry of `agents.defaults.models`.
    Alias,
    /// `agents.defaults.model.primary`.
    Primary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Added,
    Present,
    /// Only the primary: it named a model outside the rotation.
    Changed,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitItem {
    pub kind: ItemKind,
    pub name: String,
    pub status: ItemStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl InitItem {
    fn new(kind: ItemKind, name: impl Into<String>, status: ItemStatus) -> Self {
        InitItem {
            kind,
            name: name.into(),
            status,
            detail: None,
        }
    }

    fn with(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for InitItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            ItemStatus::Added => "added",
            ItemStatus::Present => "present",
            ItemStatus::Changed => "changed",
        };
        let kind = match self.kind {
            ItemKind::File => "file",
            ItemKind::Provider => "provider",
            ItemKind::ProviderField => "provider field",
            ItemKind::Model => "model",
            ItemKind::Alias => "alias",
            ItemKind::Primary => "primary",
        };
        write!(f, "{status:<8} {kind} {}", self.name)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// The new text of one file. `Debug` shows no text (it may hold a key).
#[derive(Clone)]
pub struct FileChange {
    pub path: PathBuf,
    /// `None`: the file does not exist yet.
    pub old: Option<String>,
    pub new: String,
}

impl fmt::Debug for FileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileChange")
            .field("path", &self.path)
            .field("old_len", &self.old.as_ref().map(String::len))
            .field("new_len", &self.new.len())
            .finish()
    }
}

impl FileChange {
    /// Old and new text with every key-like value hidden ([`mask_secrets`]), for showing a diff.
    pub fn masked(&self) -> (String, String) {
        (
            self.old.as_deref().map(mask_secrets).unwrap_or_default(),
            mask_secrets(&self.new),
        )
    }
}

/// What init would do (or did) to one config.
#[derive(Debug, Clone)]
pub struct InitPlan {
    pub config: PathBuf,
    /// Files to write, in the order they are written; empty when everything is present.
    pub changes: Vec<FileChange>,
    pub items: Vec<InitItem>,
    pub warnings: Vec<String>,
}

impl InitPlan {
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Why init did not finish. Nothing in a message is taken from the file's values or the key.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0}")]
    BadRequest(String),
    /// Something to add belongs in an object that an included file spells out.
    #[error(
        "{path}: {json_path} comes from a $include; msclawctl init adds only to {path} itself, \
         and an entry added beside the include could hide the included one. Add the ModelScope \
         entries to the included file by hand (README: Setting up)"
    )]
    Include { path: PathBuf, json_path: String },
    /// An object on the way has another type.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// The new text did not check out; a bug or a shape init cannot handle. Nothing was written.
    #[error("{path}: the change did not check out ({message}); nothing was written")]
    Verify { path: PathBuf, message: String },
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} changed during each of {attempts} attempts to edit it; nothing more was written"
    )]
    Conflict { path: PathBuf, attempts: u32 },
}

/// Works out what init would do to the config at `config_path` (which may not exist). Reads only.
pub fn plan_init(config_path: &Path, req: &InitRequest) -> Result<InitPlan, InitError> {
    check_request(req)?;
    let (old, text) = match read_config_text(config_path) {
        // An empty file (`touch openclaw.json`) is filled in as a new one would be.
        Ok(text) if split_bom(&text).1.trim().is_empty() => (Some(text), NEW_FILE.to_owned()),
        Ok(text) => (Some(text.clone()), text),
        Err(ConfigError::NotFound(_)) => (None, NEW_FILE.to_owned()),
        Err(e) => return Err(e.into()),
    };
    let blank = old.as_deref().is_some_and(|t| t != text);
    let mut overrides = HashMap::new();
    if old.is_none() || blank {
        overrides.insert(config_path.to_path_buf(), text.clone());
    }
    // The whole config as it is (the template for a new file); also checks that it loads.
    let before_cfg = load_with_overrides(config_path, &overrides)?;
    let before = resolved_value(config_path, &overrides)?;

    let mut items = Vec::new();
    if blank {
        items.push(
            InitItem::new(
                ItemKind::File,
                config_path.display().to_string(),
                ItemStatus::Added,
            )
            .with("the file was empty"),
        );
    } else if old.is_none() {
        items.push(
            InitItem::new(
                ItemKind::File,
                config_path.display().to_string(),
                ItemStatus::Added,
            )
            .with("mode 0600"),
        );
    }
    let mut warnings = Vec::new();
    let mut new_text = add_entries(&text, &before, config_path, req, &mut items, &mut warnings)?;

    // The primary, through the editor; it may live in an included file.
    let mut other_change: Option<FileChange> = None;
    if let Some(edit) = primary_edit(before_cfg.primary.as_ref(), req, &mut items) {
        let with_root = HashMap::from([(config_path.to_path_buf(), new_text.clone())]);
        let location = locate_model(&mut Reader::new(&with_root), config_path)?;
        if location.file == config_path {
            new_text = config_editor::edit_model_text_at(&new_text, location.level, &edit)?;
        } else {
            let old_model_text = read_config_text(&location.file)?;
            let new_model_text =
                config_editor::edit_model_text_at(&old_model_text, location.level, &edit)?;
            other_change = Some(FileChange {
                path: location.file,
                old: Some(old_model_text),
                new: new_model_text,
            });
        }
    }

    let mut changes = Vec::new();
    if old.as_deref() != Some(new_text.as_str()) {
        changes.push(FileChange {
            path: config_path.to_path_buf(),
            old: old.clone(),
            new: new_text,
        });
    }
    // The provider's file first: the primary never names a model that is not listed yet.
    changes.extend(other_change);

    let after_cfg = verify(config_path, &before, &changes, req)?;
    warnings.extend(config_warnings(&after_cfg, req));
    let key_written = items.iter().any(|i| {
        i.status == ItemStatus::Added
            && (i.kind == ItemKind::Provider
                || (i.kind == ItemKind::ProviderField && i.name == "apiKey"))
    });
    if let ApiKey::Literal(_) = req.api_key
        && key_written
        && let Some(mode) = file_mode(config_path)
        && mode & 0o077 != 0
    {
        warnings.push(format!(
            "{} is readable by other users (mode {mode:04o}) and now holds the API key; \
             consider chmod 600",
            config_path.display()
        ));
    }
    Ok(InitPlan {
        config: config_path.to_path_buf(),
        changes,
        items,
        warnings,
    })
}

/// Plans and writes. Each file is replaced atomically and only if it still holds what the plan
/// read (else the plan is made again, up to [`MAX_ATTEMPTS`] times); its mode is kept, and a
/// created file gets 0600 (its directory 0700). Returns the plan that was carried out: a no-op
/// plan when everything was present (nothing written, not even the mtime).
pub fn apply_init(config_path: &Path, req: &InitRequest) -> Result<InitPlan, InitError> {
    for _ in 0..MAX_ATTEMPTS {
        let plan = plan_init(config_path, req)?;
        match write_plan(&plan) {
            Ok(()) => return Ok(plan),
            Err(InitError::Write(WriteError::Conflict { path })) => {
                tracing::debug!(file = %path.display(), "config changed while planning init; planning again");
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Err(InitError::Conflict {
        path: config_path.to_path_buf(),
        attempts: MAX_ATTEMPTS,
    })
}

fn write_plan(plan: &InitPlan) -> Result<(), InitError> {
    for change in &plan.changes {
        if change.old.is_none()
            && let Some(dir) = change.path.parent()
            && !dir.as_os_str().is_empty()
        {
            create_private_dir(dir)?;
        }
        atomic_write::replace_if_unchanged(
            &change.path,
            change.new.as_bytes(),
            change.old.as_deref().map(str::as_bytes),
        )?;
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), InitError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| InitError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), InitError> {
    std::fs::create_dir_all(dir).map_err(|source| InitError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_: &Path) -> Option<u32> {
    None
}

/// [`plan_init`] on one text, `$include`s not followed (an include stays a plain key): the new
/// text, the report and the warnings. The primary is set in this text too.
pub fn init_text(
    text: &str,
    req: &InitRequest,
) -> Result<(String, Vec<InitItem>, Vec<String>), InitError> {
    check_request(req)?;
    let path = Path::new("<text>");
    let before = parse_value(text, path)?;
    let before_cfg = openclaw_config::parse(text, path)?;
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    let mut new_text = add_entries(text, &before, path, req, &mut items, &mut warnings)?;
    if let Some(edit) = primary_edit(before_cfg.primary.as_ref(), req, &mut items) {
        new_text = config_editor::edit_model_text(&new_text, &edit)?;
    }
    let after = parse_value(&new_text, path).map_err(|e| InitError::Verify {
        path: path.to_path_buf(),
        message: format!("the new text does not parse: {e}"),
    })?;
    check_after(path, &before, &after, req)?;
    let after_cfg = openclaw_config::parse(&new_text, path)?;
    warnings.extend(config_warnings(&after_cfg, req));
    Ok((new_text, items, warnings))
}

/// Reports the primary and returns the edit to make: none when it already names one of the
/// models (a daemon may have switched it), else the first model.
fn primary_edit(
    current: Option<&String>,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
) -> Option<ModelEdit> {
    let refs = req.refs();
    match current {
        Some(p) if refs.contains(p) => {
            items.push(InitItem::new(
                ItemKind::Primary,
                p.clone(),
                ItemStatus::Present,
            ));
            None
        }
        current => {
            let edit = ModelEdit {
                primary: refs[0].clone(),
                fallbacks: None,
            };
            items.push(match current {
                None => InitItem::new(ItemKind::Primary, edit.primary.clone(), ItemStatus::Added),
                Some(was) => {
                    InitItem::new(ItemKind::Primary, edit.primary.clone(), ItemStatus::Changed)
                        .with(format!("was {was}"))
                }
            });
            Some(edit)
        }
    }
}

fn check_request(req: &InitRequest) -> Result<(), InitError> {
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

/// Adds the provider (or its missing fields and models) and the alias entries to `text`, which
/// is the config file whose resolved value is `resolved`.
fn add_entries(
    text: &str,
    resolved: &Value,
    path: &Path,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
    warnings: &mut Vec<String>,
) -> Result<String, InitError> {
    let (bom, body) = split_bom(text);
    let root =
        CstRootNode::parse(body, &parse_options()).map_err(|e| parse_error(&e, body, path))?;
    let root_obj = root
        .value()
        .and_then(|v| v.as_object())
        .ok_or_else(|| InitError::Invalid {
            path: path.to_path_buf(),
            message: "the config root is not an object".into(),
        })?;
    let mut planner = Planner {
        doc: Doc::new(body, &root),
        resolved,
        path,
        props: BTreeMap::new(),
        elements: BTreeMap::new(),
    };
    let provider = &req.provider;
    let provider_path = ["models", "providers", provider.as_str()];

    match get(resolved, &provider_path) {
        None => {
            planner.add_props(
                &root_obj,
                &provider_path[..2],
                vec![(
                    provider.clone(),
                    New::Object(provider_props(req, true, true, true, true)),
                )],
            )?;
            items.push(
                InitItem::new(ItemKind::Provider, provider.clone(), ItemStatus::Added).with(
                    format!(
                        "baseUrl {}, api {}, {}",
                        req.base_url,
                        req.api,
                        req.api_key.describe()
                    ),
                ),
            );
            for m in &req.models {
                items.push(InitItem::new(
                    ItemKind::Model,
                    m.id.clone(),
                    ItemStatus::Added,
                ));
            }
        }
        Some(Value::Object(existing)) => {
            items.push(InitItem::new(
                ItemKind::Provider,
                provider.clone(),
                ItemStatus::Present,
            ));
            // Only absent fields are added: one that is there, even empty, is the user's (a
            // second key of the same name would silently override it).
            let missing = |key: &str| !existing.contains_key(key);
            let (base, api, key) = (missing("baseUrl"), missing("api"), missing("apiKey"));
            let empty_key = match existing.get("apiKey") {
                Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if empty_key {
                warnings.push(format!(
                    "provider {provider} has an empty apiKey; it was left as it is"
                ));
            }
            let models_missing = existing.get("models").is_none();
            for (name, add) in [("baseUrl", base), ("api", api), ("apiKey", key)] {
                let item = InitItem::new(
                    ItemKind::ProviderField,
                    name,
                    if add {
                        ItemStatus::Added
                    } else {
                        ItemStatus::Present
                    },
                );
                items.push(if add && name == "apiKey" {
                    item.with(req.api_key.describe())
                } else {
                    item
                });
            }
            if !key && let ApiKey::Literal(_) = req.api_key {
                warnings.push(format!(
                    "provider {provider} already has an apiKey; it was kept and the key from \
                     standard input was not written"
                ));
            }
            let fields = provider_props(req, base, api, key, models_missing);
            if !fields.is_empty() {
                planner.add_props(&root_obj, &provider_path, fields)?;
            }
            match existing.get("models") {
                None => {
                    for m in &req.models {
                        items.push(InitItem::new(
                            ItemKind::Model,
                            m.id.clone(),
                            ItemStatus::Added,
                        ));
                    }
                }
                Some(Value::Array(listed)) => {
                    let listed_ids: Vec<&str> = listed
                        .iter()
                        .filter_map(|m| m.get("id")?.as_str())
                        .collect();
                    let mut new_elements = Vec::new();
                    for m in &req.models {
                        if listed_ids.contains(&m.id.as_str()) {
                            items.push(InitItem::new(
                                ItemKind::Model,
                                m.id.clone(),
                                ItemStatus::Present,
                            ));
                        } else {
                            items.push(InitItem::new(
                                ItemKind::Model,
                                m.id.clone(),
                                ItemStatus::Added,
                            ));
                            new_elements.push(model_entry(m));
                        }
                    }
                    if !new_elements.is_empty() {
                        let models_path = ["models", "providers", provider.as_str(), "models"];
                        planner.add_elements(&root_obj, &models_path, new_elements)?;
                    }
                }
                Some(_) => {
                    return Err(InitError::Invalid {
                        path: path.to_path_buf(),
                        message: format!("models.providers.{provider}.models is not an array"),
                    });
                }
            }
        }
        Some(_) => {
            return Err(InitError::Invalid {
                path: path.to_path_buf(),
                message: format!("models.providers.{provider} is not an object"),
            });
        }
    }

    // Aliases: one entry per model under agents.defaults.models (in builds where that map is the
    // allowlist, a model missing from it could not be picked, so a model without an alias gets
    // an empty entry).
    let aliases_path = ["agents", "defaults", "models"];
    let existing = match get(resolved, &aliases_path) {
        None => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(InitError::Invalid {
                path: path.to_path_buf(),
                message: "agents.defaults.models is not an object".into(),
            });
        }
    };
    let mut taken: BTreeMap<String, String> = existing
        .iter()
        .filter_map(|(r, params)| Some((params.get("alias")?.as_str()?.to_owned(), r.clone())))
        .collect();
    let mut new_aliases = Vec::new();
    for m in &req.models {
        let full = m.full_ref(provider);
        if let Some(params) = existing.get(&full) {
            let detail = params
                .get("alias")
                .and_then(Value::as_str)
                .map_or_else(|| "no alias".to_owned(), |a| format!("alias {a}"));
            items.push(InitItem::new(ItemKind::Alias, full, ItemStatus::Present).with(detail));
            continue;
        }
        let alias = match &m.alias {
            Some(a) => match taken.get(a) {
                Some(other) => {
                    warnings.push(format!(
                        "alias {a} already names {other}; {full} was added without an alias"
                    ));
                    None
                }
                None => Some(a.clone()),
            },
            None => None,
        };
        let entry = match &alias {
            Some(a) => {
                taken.insert(a.clone(), full.clone());
                New::Object(vec![(
                    "alias".to_owned(),
                    New::Raw(quote(a, Quote::Double)),
                )])
            }
            None => New::Object(Vec::new()),
        };
        // `"modelscope/ZhipuAI/GLM-5": { alias: "glm5" }`, one entry a line, as in the guide.
        let entry = New::Inline(Box::new(entry));
        items.push(
            InitItem::new(ItemKind::Alias, full.clone(), ItemStatus::Added)
                .with(alias.map_or_else(|| "no alias".to_owned(), |a| format!("alias {a}"))),
        );
        new_aliases.push((full, entry));
    }
    if !new_aliases.is_empty() {
        planner.add_props(&root_obj, &aliases_path, new_aliases)?;
    }

    let splices = planner.splices();
    Ok(format!("{bom}{}", apply_splices(body, splices)))
}

/// The provider's properties that are to be added: all of them for a new provider.
fn provider_props(
    req: &InitRequest,
    base_url: bool,
    api: bool,
    api_key: bool,
    models: bool,
) -> Vec<(String, New)> {
    let mut props = Vec::new();
    if base_url {
        props.push((
            "baseUrl".to_owned(),
            New::Raw(quote(&req.base_url, Quote::Double)),
        ));
    }
    if api {
        props.push(("api".to_owned(), New::Raw(quote(&req.api, Quote::Double))));
    }
    if api_key {
        props.push((
            "apiKey".to_owned(),
            New::Raw(quote(&req.api_key.value(), Quote::Double)),
        ));
    }
    if models {
        props.push((
            "models".to_owned(),
            New::Array(req.models.iter().map(model_entry).collect()),
        ));
    }
    props
}

/// `{ id, name, contextWindow, maxTokens, cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 } }`.
fn model_entry(m: &ModelSpec) -> New {
    let zero = || New::Raw("0".to_owned());
    New::Object(vec![
        ("id".to_owned(), New::Raw(quote(&m.id, Quote::Double))),
        ("name".to_owned(), New::Raw(quote(&m.name, Quote::Double))),
        (
            "contextWindow".to_owned(),
            New::Raw(m.context_window.to_string()),
        ),
        ("maxTokens".to_owned(), New::Raw(m.max_tokens.to_string())),
        (
            "cost".to_owned(),
            New::Inline(Box::new(New::Object(vec![
                ("input".to_owned(), zero()),
                ("output".to_owned(), zero()),
                ("cacheRead".to_owned(), zero()),
                ("cacheWrite".to_owned(), zero()),
            ]))),
        ),
    ])
}

/// Collects the insertions, grouped per object or array so each container gets one insertion
/// (two insertions after the same last property would overlap).
struct Planner<'a> {
    doc: Doc<'a>,
    resolved: &'a Value,
    path: &'a Path,
    /// Keyed by the object's start offset.
    props: BTreeMap<usize, (CstObject, Vec<(String, New)>)>,
    /// Keyed by the array's start offset.
    elements: BTreeMap<usize, (CstArray, Vec<New>)>,
}

impl Planner<'_> {
    /// Walks `keys` from the root object in the file's CST. Returns the object at the end, or
    /// `Err(Ok((object, i)))` when `keys[i]` is missing from `object` in this file.
    fn walk(
        &self,
        root: &CstObject,
        keys: &[&str],
    ) -> Result<Result<CstNode, (CstObject, usize)>, InitError> {
        let mut obj = root.clone();
        for (i, key) in keys.iter().enumerate() {
            let Some(value) = last_prop(&obj, key).and_then(|p| p.value()) else {
                if get(self.resolved, &keys[..=i]).is_some() {
                    // The whole config has it, this file does not: an include provides it.
                    return Err(InitError::Include {
                        path: self.path.to_path_buf(),
                        json_path: keys[..=i].join("."),
                    });
                }
                return Ok(Err((obj, i)));
            };
            if i + 1 == keys.len() {
                return Ok(Ok(value));
            }
            obj = value
                .as_object()
                .ok_or_else(|| self.not_object(&keys[..=i]))?;
        }
        Ok(Ok(CstNode::Container(obj.into())))
    }

    fn not_object(&self, keys: &[&str]) -> InitError {
        InitError::Invalid {
            path: self.path.to_path_buf(),
            message: format!("{} is not an object", keys.join(".")),
        }
    }

    /// Adds `props` to the object at `keys`, creating the objects that are missing on the way.
    fn add_props(
        &mut self,
        root: &CstObject,
        keys: &[&str],
        props: Vec<(String, New)>,
    ) -> Result<(), InitError> {
        match self.walk(root, keys)? {
            Ok(node) => {
                let obj = node.as_object().ok_or_else(|| self.not_object(keys))?;
                self.push_props(obj, props);
            }
            Err((obj, i)) => {
                let mut value = New::Object(props);
                for k in keys[i + 1..].iter().rev() {
                    value = New::Object(vec![((*k).to_owned(), value)]);
                }
                self.push_props(obj, vec![(keys[i].to_owned(), value)]);
            }
        }
        Ok(())
    }

    /// Appends `items` to the array at `keys` (which the caller saw in the resolved config).
    fn add_elements(
        &mut self,
        root: &CstObject,
        keys: &[&str],
        items: Vec<New>,
    ) -> Result<(), InitError> {
        let node = match self.walk(root, keys)? {
            Ok(node) => node,
            Err(_) => {
                return Err(InitError::Include {
                    path: self.path.to_path_buf(),
                    json_path: keys.join("."),
                });
            }
        };
        let array = node.as_array().ok_or_else(|| InitError::Invalid {
            path: self.path.to_path_buf(),
            message: format!("{} is not an array", keys.join(".")),
        })?;
        let start = self.doc.range(&node).0;
        self.elements
            .entry(start)
            .or_insert_with(|| (array, Vec::new()))
            .1
            .extend(items);
        Ok(())
    }

    fn push_props(&mut self, obj: CstObject, props: Vec<(String, New)>) {
        let start = self.doc.range(&CstNode::Container(obj.clone().into())).0;
        self.props
            .entry(start)
            .or_insert_with(|| (obj, Vec::new()))
            .1
            .extend(props);
    }

    fn splices(self) -> Vec<Splice> {
        let mut out = Vec::new();
        for (_, (obj, props)) in self.props {
            insert_props(&self.doc, &obj, props, &mut out);
        }
        for (_, (array, items)) in self.elements {
            insert_elements(&self.doc, &array, items, &mut out);
        }
        out
    }
}

fn get<'v>(v: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().try_fold(v, |cur, k| cur.as_object()?.get(*k))
}

/// Checks the planned files together: they load, the asked models are listed and aliased, the
/// primary is one of them, and the old config is contained in the new one.
fn verify(
    config_path: &Path,
    before: &Value,
    changes: &[FileChange],
    req: &InitRequest,
) -> Result<OpenClawConfig, InitError> {
    let overrides: HashMap<PathBuf, String> = changes
        .iter()
        .map(|c| (c.path.clone(), c.new.clone()))
        .collect();
    let fail = |message: String| InitError::Verify {
        path: config_path.to_path_buf(),
        message,
    };
    let cfg = load_with_overrides(config_path, &overrides)
        .map_err(|e| fail(format!("the new config does not load: {e}")))?;
    let after = resolved_value(config_path, &overrides)
        .map_err(|e| fail(format!("the new config does not load: {e}")))?;
    check_after(config_path, before, &after, req)?;
    let refs = req.refs();
    if !cfg.primary.as_ref().is_some_and(|p| refs.contains(p)) {
        return Err(fail(
            "the primary model is not one of the asked models".into(),
        ));
    }
    Ok(cfg)
}

fn check_after(
    path: &Path,
    before: &Value,
    after: &Value,
    req: &InitRequest,
) -> Result<(), InitError> {
    let fail = |message: String| InitError::Verify {
        path: path.to_path_buf(),
        message,
    };
    let provider = &req.provider;
    let Some(Value::Object(p)) = get(after, &["models", "providers", provider]) else {
        return Err(fail(format!("models.providers.{provider} is not there")));
    };
    let listed: Vec<&str> = match p.get("models") {
        Some(Value::Array(items)) => items.iter().filter_map(|m| m.get("id")?.as_str()).collect(),
        _ => Vec::new(),
    };
    for m in &req.models {
        if !listed.contains(&m.id.as_str()) {
            return Err(fail(format!("model {} is not listed", m.id)));
        }
        let full = m.full_ref(provider);
        if get(after, &["agents", "defaults", "models"])
            .and_then(|a| a.get(&full))
            .is_none()
        {
            return Err(fail(format!(
                "agents.defaults.models has no entry for {full}"
            )));
        }
    }
    let mut at = Vec::new();
    contained(before, after, &mut at).map_err(fail)
}

/// Whether `old` is contained in `new`: every key with a contained value, arrays extended at the
/// end only, scalars equal. `agents.defaults.model` is the one value allowed to change. Messages
/// name paths only.
fn contained<'a>(old: &'a Value, new: &'a Value, at: &mut Vec<&'a str>) -> Result<(), String> {
    if at.as_slice() == ["agents", "defaults", "model"] {
        return Ok(());
    }
    let here = |at: &[&str]| {
        if at.is_empty() {
            "the root".to_owned()
        } else {
            at.join(".")
        }
    };
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                at.push(k);
                let Some(nv) = n.get(k) else {
                    return Err(format!("{} disappeared", here(at)));
                };
                contained(v, nv, at)?;
                at.pop();
            }
            Ok(())
        }
        (Value::Array(o), Value::Array(n)) => {
            if n.len() < o.len() || o.iter().zip(n).any(|(a, b)| a != b) {
                return Err(format!("{} changed other than at its end", here(at)));
            }
            Ok(())
        }
        (o, n) if o == n => Ok(()),
        _ => Err(format!("{} changed", here(at))),
    }
}

/// What in the resulting config keeps the rotation from working as init set it up.
fn config_warnings(cfg: &OpenClawConfig, req: &InitRequest) -> Vec<String> {
    let mut warnings = Vec::new();
    if !cfg.allow.is_empty() {
        for full in req.refs() {
            let allowed = cfg.allow.iter().any(|a| {
                a == &full
                    || a.strip_suffix("/*")
                        .is_some_and(|p| full.starts_with(&format!("{p}/")))
            });
            if !allowed {
                warnings.push(format!(
                    "{full} is not in agents.defaults.modelPolicy.allow; add it (or \"{}/*\") so \
                     OpenClaw accepts it",
                    req.provider
                ));
            }
        }
    }
    for (agent, model) in &cfg.per_agent_models {
        warnings.push(format!(
            "agent {agent} sets its own model {model}; it will not follow the rotation"
        ));
    }
    if cfg.reload_mode.as_deref() == Some("off") {
        warnings
            .push("gateway.reload.mode is off: each switch will need a gateway restart".to_owned());
    }
    warnings
}

/// The ids of `/v1/models`' answer (`{ data: [ { id } ] }`) that are missing among `ids`, in
/// order. `Err` when the body is not such a list.
pub fn missing_from_listing<'a>(body: &Value, ids: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let Some(Value::Array(data)) = body.get("data") else {
        return Err("the answer has no `data` list".into());
    };
    let served: Vec<&str> = data.iter().filter_map(|m| m.get("id")?.as_str()).collect();
    Ok(ids
        .iter()
        .copied()
        .filter(|id| !served.contains(id))
        .collect())
}

/// The text with the value of every key-like property hidden: `apiKey`, `token`, `secret`,
/// `password`, `authorization`, `…Key`, `…_KEY`. A `${VAR}` reference is shown (it is only a
/// name). A text that does not parse is not shown at all.
pub fn mask_secrets(text: &str) -> String {
    let (bom, body) = split_bom(text);
    let Ok(root) = CstRootNode::parse(body, &parse_options()) else {
        return "(the config does not parse; its text is not shown)\n".to_owned();
    };
    let doc = Doc::new(body, &root);
    let mut splices = Vec::new();
    if let Some(value) = root.value() {
        mask_in(&doc, &value, &mut splices);
    }
    format!("{bom}{}", apply_splices(body, splices))
}

fn mask_in(doc: &Doc<'_>, node: &CstNode, out: &mut Vec<Splice>) {
    for child in node.children() {
        if let Some(prop) = child.as_object_prop() {
            let Some(value) = prop.value() else { continue };
            let secret_name = prop.decoded_name().is_some_and(|n| is_secret_name(&n));
            if secret_name && let Some(lit) = value.as_string_lit() {
                let shown = lit.decoded_value().ok().filter(|v| is_env_ref(v));
                if shown.is_none() {
                    let raw = lit.raw_value();
                    let decoded = lit.decoded_value().unwrap_or_default();
                    let (start, end) = doc.range(&value);
                    out.push(Splice {
                        start,
                        end,
                        text: quote(&hidden(&decoded), quote_of(&raw)),
                    });
                }
                continue;
            }
            mask_in(doc, &value, out);
        } else if matches!(child, CstNode::Container(_)) {
            mask_in(doc, &child, out);
        }
    }
}

fn is_secret_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    n.ends_with("key")
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "authorization",
            "credential",
            "cookie",
        ]
        .iter()
        .any(|w| n.contains(w))
}

fn is_env_ref(s: &str) -> bool {
    s.strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .is_some_and(|v| {
            !v.is_empty()
                && v.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
}

/// `ms-…(hidden)`: at most a short scheme prefix such as `ms-` or `sk-` is kept.
fn hidden(value: &str) -> String {
    let prefix = value
        .find('-')
        .filter(|i| (1..=3).contains(i) && value[..*i].chars().all(|c| c.is_ascii_alphabetic()))
        .map_or("", |i| &value[..=i]);
    format!("{prefix}…(hidden)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_derived_from_the_model_name() {
        for (id, alias) in [
            ("Qwen/Qwen3.5-397B-A17B", Some("qwen3.5")),
            ("ZhipuAI/GLM-5", Some("glm5")),
            ("MiniMax/MiniMax-M2.5", Some("minimax")),
            ("moonshotai/Kimi-K2.5", Some("kimi")),
            ("deepseek-ai/DeepSeek-V3.2", Some("deepseek")),
            ("ZhipuAI/GLM-4.7-Flash", Some("glm4.7")),
            ("Qwen/Qwen3-Coder-480B-A35B-Instruct", Some("qwen3")),
            ("org/7b-model", None),
            ("org/", None),
        ] {
            assert_eq!(derive_alias(id).as_deref(), alias, "{id}");
        }
        // The guide's table agrees with the rule.
        for (id, _, alias) in GUIDE_MODELS {
            assert_eq!(derive_alias(id).as_deref(), Some(alias));
        }
    }

    #[test]
    fn model_lists_take_ids_refs_and_guide_aliases() {
        let models = parse_model_list(
            " glm5, modelscope/deepseek-ai/DeepSeek-V3.2,Qwen/Qwen3-8B,",
            "modelscope",
        )
        .unwrap();
        let ids: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ZhipuAI/GLM-5",
                "deepseek-ai/DeepSeek-V3.2",
                "Qwen/Qwen3-8B"
            ]
        );
        assert_eq!(models[0].name, "GLM-5");
        assert_eq!(models[1].name, "DeepSeek-V3.2");
        assert_eq!(models[2].alias.as_deref(), Some("qwen3"));
        assert!(parse_model_list(" , ", "modelscope").is_err());
        assert!(
            parse_model_list("a/b,a/b", "modelscope")
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(parse_model_list("a b", "modelscope").is_err());
    }

    #[test]
    fn secrets_are_masked_by_key_name() {
        let text = "{ apiKey: 'ms-abcdef', env: { vars: { MODELSCOPE_API_KEY: \"sk-12345\", HOME_DIR: '/h' } },\n  headers: { Authorization: 'Bearer xyz' }, other: { apiKey: '${MODELSCOPE_API_KEY}', token: 'plain' } }";
        let masked = mask_secrets(text);
        for leaked in ["abcdef", "12345", "xyz", "plain"] {
            assert!(!masked.contains(leaked), "{masked}");
        }
        assert!(masked.contains("apiKey: 'ms-…(hidden)'"), "{masked}");
        assert!(masked.contains("'${MODELSCOPE_API_KEY}'"), "{masked}");
        assert!(masked.contains("HOME_DIR: '/h'"), "{masked}");
        assert!(masked.contains("Authorization: '…(hidden)'"), "{masked}");
        assert_eq!(
            mask_secrets("{ apiKey: 'x"),
            "(the config does not parse; its text is not shown)\n"
        );
        assert_eq!(
            format!("{:?}", Secret::new(" k-1\n").unwrap()),
            "Secret(hidden)"
        );
    }

    #[test]
    fn containment_names_paths_only() {
        let a: Value = serde_json::json!({ "x": { "k": "secret-1" }, "l": [1, 2], "agents": { "defaults": { "model": "a" } } });
        let ok: Value = serde_json::json!({ "x": { "k": "secret-1", "n": 1 }, "l": [1, 2, 3], "agents": { "defaults": { "model": { "primary": "b" } } } });
        contained(&a, &ok, &mut Vec::new()).unwrap();
        let changed: Value = serde_json::json!({ "x": { "k": "secret-2" }, "l": [1, 2], "agents": { "defaults": { "model": "b" } } });
        let err = contained(&a, &changed, &mut Vec::new()).unwrap_err();
        assert_eq!(err, "x.k changed");
        let reordered: Value = serde_json::json!({ "x": { "k": "secret-1" }, "l": [0, 1, 2], "agents": { "defaults": { "model": "c" } } });
        assert_eq!(
            contained(&a, &reordered, &mut Vec::new()).unwrap_err(),
            "l changed other than at its end"
        );
    }

    #[test]
    fn listing_check() {
        let body =
            serde_json::json!({ "object": "list", "data": [ { "id": "a/1" }, { "id": "b/2" } ] });
        assert_eq!(
            missing_from_listing(&body, &["a/1", "c/3", "b/2"]).unwrap(),
            ["c/3"]
        );
        assert!(missing_from_listing(&serde_json::json!({ "error": "x" }), &["a/1"]).is_err());
    }
}
