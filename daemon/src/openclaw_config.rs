//! Reads what msclaw needs from OpenClaw's config (`~/.openclaw/openclaw.json`, JSON5).
//!
//! The file is parsed with jsonc-parser with every JSON5 allowance on (comments, trailing commas,
//! unquoted keys, single quotes, hex numbers, `+1`, `.5`, line continuations in strings). What it
//! cannot give as JSON values is refused with a clear [`ConfigError::Parse`]: `Infinity`/`NaN`
//! (JSON has no such numbers) and numbers beyond f64. A UTF-8 byte order mark is skipped.
//!
//! `$include` is followed everywhere in the tree: a string includes one file that replaces the
//! containing object, an array deep-merges its files in order, and sibling keys are deep-merged
//! over the result. Paths are relative to the including file. Cycles and depth beyond
//! [`MAX_INCLUDE_DEPTH`] are errors.
//!
//! Secrets: an `apiKey` is classified ([`ApiKeyKind`]) and dropped; no struct here holds its text,
//! and no error message quotes file contents (parse errors use fixed wording plus line/column).
//!
//! Strictness: what msclaw writes (`agents.defaults.model` and the objects on the way to it) must
//! have the documented shape, else [`ConfigError::Invalid`]. Everything else is read leniently: a
//! value of an unexpected type is ignored (OpenClaw's own schema check is the judge of those).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use jsonc_parser::ParseOptions;
use jsonc_parser::errors::{ParseError, ParseErrorKind};
use serde_json::{Map, Value};

/// How deep `$include`s may nest before msclaw gives up (OpenClaw's configs use one level).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Why the config could not be read. Messages name files and key paths, never values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("OpenClaw config not found: {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `line` and `column` are 1-based (column counts characters).
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A `$include` that cannot be followed (missing file, cycle, bad value).
    #[error("{path}: {message}")]
    Include { path: PathBuf, message: String },
    /// The file parses but does not have the shape msclaw relies on.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

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
        if let Some((full, _)) = self
            .aliases
            .iter()
            .find(|(full, alias)| alias.as_str() == name_or_alias && full.starts_with(&prefix))
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

/// Which object of the config a file's root value stands for: the whole config, or what a
/// single-file `$include` put in place of `agents`, `agents.defaults` or `agents.defaults.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileLevel {
    Root,
    Agents,
    Defaults,
    Model,
}

impl FileLevel {
    /// The keys from this level down to the model value.
    pub fn keys_to_model(self) -> &'static [&'static str] {
        match self {
            FileLevel::Root => &["agents", "defaults", "model"],
            FileLevel::Agents => &["defaults", "model"],
            FileLevel::Defaults => &["model"],
            FileLevel::Model => &[],
        }
    }

    fn child(self) -> FileLevel {
        match self {
            FileLevel::Root => FileLevel::Agents,
            FileLevel::Agents => FileLevel::Defaults,
            FileLevel::Defaults | FileLevel::Model => FileLevel::Model,
        }
    }

    /// Dotted path of this level in the whole config ("" for the root).
    pub fn json_path(self) -> &'static str {
        match self {
            FileLevel::Root => "",
            FileLevel::Agents => "agents",
            FileLevel::Defaults => "agents.defaults",
            FileLevel::Model => "agents.defaults.model",
        }
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
    let root = reader.resolved(path, 0)?;
    let location = locate_model(&mut reader, path)?;
    from_value(&root, path, location.file, reader.files)
}

/// The whole config as one JSON value with every `$include` resolved, the files named in
/// `overrides` taken to hold the given text (how `config_init` checks an edit before writing).
pub(crate) fn resolved_value(
    path: &Path,
    overrides: &HashMap<PathBuf, String>,
) -> Result<Value, ConfigError> {
    Reader::new(overrides).resolved(path, 0)
}

/// Where `agents.defaults.model` lives or would be added: a file and what its root stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelLocation {
    pub file: PathBuf,
    pub level: FileLevel,
}

/// Finds the file that holds (or should get) `agents.defaults.model`, following single-file
/// `$include`s of the objects on the way when the next key is not written beside them.
pub(crate) fn locate_model(
    reader: &mut Reader<'_>,
    config_path: &Path,
) -> Result<ModelLocation, ConfigError> {
    let mut file = config_path.to_path_buf();
    let mut level = FileLevel::Root;
    for _ in 0..=MAX_INCLUDE_DEPTH {
        let value = reader.value(&file)?;
        let next = locate_in_value(&value, &file, level, Some(&mut *reader))?;
        if next.file == file {
            return Ok(next);
        }
        file = next.file;
        level = next.level;
    }
    Err(ConfigError::Include {
        path: config_path.to_path_buf(),
        message: format!("$include nests deeper than {MAX_INCLUDE_DEPTH} levels"),
    })
}

/// One step of [`locate_model`] inside one file's parsed value. Returns this file when the model
/// is (or would be added) here; otherwise the included file to look in next.
///
/// An `$include` array on the way is looked into (with `reader`; without one it is not): the
/// last of its files that spells out the rest of the path to the model is followed; when none
/// does, the missing key is added beside the `$include` (sibling keys override included ones).
fn locate_in_value(
    root: &Value,
    file: &Path,
    level: FileLevel,
    reader: Option<&mut Reader<'_>>,
) -> Result<ModelLocation, ConfigError> {
    let here = ModelLocation {
        file: file.to_path_buf(),
        level,
    };
    let mut current = root;
    let mut current_level = level;
    let mut keys = level.keys_to_model().iter();
    loop {
        // At the model itself, only `primary` matters: a `model: { $include }` is followed.
        let key = match keys.next() {
            Some(k) => *k,
            None => "primary",
        };
        let obj = match current {
            Value::Object(map) => map,
            _ if key == "primary" => return Ok(here),
            Value::Null if current_level == FileLevel::Root => {
                return Err(invalid(file, "the config is empty; expected an object"));
            }
            _ => {
                return Err(invalid(
                    file,
                    &format!("{} is not an object", describe_level(current_level)),
                ));
            }
        };
        if let Some(v) = obj.get(key) {
            if key == "primary" {
                return Ok(here);
            }
            current = v;
            current_level = current_level.child();
            continue;
        }
        return match obj.get("$include") {
            None => Ok(here),
            Some(Value::String(inc)) => Ok(ModelLocation {
                file: include_path(file, inc),
                level: current_level,
            }),
            Some(Value::Array(items)) => {
                let Some(reader) = reader else {
                    return Ok(here);
                };
                let rest: Vec<&str> = std::iter::once(key).chain(keys.copied()).collect();
                for item in items.iter().rev() {
                    let Value::String(inc) = item else {
                        return Err(bad_include_value(file, current_level.json_path()));
                    };
                    let inc = include_path(file, inc);
                    let included = reader.value(&inc)?;
                    if get(&included, &rest).is_some() {
                        return Ok(ModelLocation {
                            file: inc,
                            level: current_level,
                        });
                    }
                }
                Ok(here)
            }
            Some(_) => Err(bad_include_value(file, current_level.json_path())),
        };
    }
}

fn describe_level(level: FileLevel) -> &'static str {
    match level {
        FileLevel::Root => "the config root",
        other => other.json_path(),
    }
}

fn invalid(path: &Path, message: &str) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        message: message.to_owned(),
    }
}

fn bad_include_value(path: &Path, json_path: &str) -> ConfigError {
    ConfigError::Include {
        path: path.to_path_buf(),
        message: format!(
            "$include{} must be a file name or an array of file names",
            if json_path.is_empty() {
                String::new()
            } else {
                format!(" in {json_path}")
            }
        ),
    }
}

/// Path of an included file, relative to the directory of the including file.
fn include_path(including_file: &Path, target: &str) -> PathBuf {
    let target = Path::new(target);
    match including_file.parent() {
        Some(dir) if target.is_relative() => dir.join(target),
        _ => target.to_path_buf(),
    }
}

/// Reads config files (or their overrides) and resolves `$include`.
pub(crate) struct Reader<'a> {
    overrides: &'a HashMap<PathBuf, String>,
    /// Files read so far, first read first.
    pub files: Vec<PathBuf>,
    /// Canonical paths of the files being included, to catch cycles.
    stack: Vec<PathBuf>,
}

impl<'a> Reader<'a> {
    pub fn new(overrides: &'a HashMap<PathBuf, String>) -> Self {
        Reader {
            overrides,
            files: Vec::new(),
            stack: Vec::new(),
        }
    }

    /// The text of a file: its override, or what is on disk.
    pub fn text(&mut self, path: &Path) -> Result<String, ConfigError> {
        if !self.files.iter().any(|f| f == path) {
            self.files.push(path.to_path_buf());
        }
        if let Some(text) = self.overrides.get(path) {
            return Ok(text.clone());
        }
        read_config_text(path)
    }

    /// The parsed value of one file, `$include`s left as they are.
    pub fn value(&mut self, path: &Path) -> Result<Value, ConfigError> {
        let text = self.text(path)?;
        parse_value(&text, path)
    }

    /// The parsed value of one file with every `$include` in it resolved.
    fn resolved(&mut self, path: &Path, depth: usize) -> Result<Value, ConfigError> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(ConfigError::Include {
                path: path.to_path_buf(),
                message: format!("$include nests deeper than {MAX_INCLUDE_DEPTH} levels"),
            });
        }
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) {
            return Err(ConfigError::Include {
                path: path.to_path_buf(),
                message: "$include cycle: this file includes itself".to_owned(),
            });
        }
        let value = self.value(path)?;
        self.stack.push(canonical);
        let result = self.resolve(value, path, "", depth);
        self.stack.pop();
        result
    }

    fn resolve(
        &mut self,
        value: Value,
        file: &Path,
        json_path: &str,
        depth: usize,
    ) -> Result<Value, ConfigError> {
        match value {
            Value::Object(mut map) => {
                let include = map.remove("$include");
                let mut siblings = Map::new();
                for (k, v) in map {
                    let child_path = join_json_path(json_path, &k);
                    let v = self.resolve(v, file, &child_path, depth)?;
                    siblings.insert(k, v);
                }
                let Some(include) = include else {
                    return Ok(Value::Object(siblings));
                };
                let targets: Vec<String> = match include {
                    Value::String(s) => vec![s],
                    Value::Array(items) => items
                        .into_iter()
                        .map(|i| match i {
                            Value::String(s) => Ok(s),
                            _ => Err(bad_include_value(file, json_path)),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(bad_include_value(file, json_path)),
                };
                let mut merged: Option<Value> = None;
                for target in &targets {
                    let inc = include_path(file, target);
                    let v = match self.resolved(&inc, depth + 1) {
                        Err(ConfigError::NotFound(_)) => {
                            return Err(ConfigError::Include {
                                path: file.to_path_buf(),
                                message: format!(
                                    "$include \"{target}\" ({}): file not found",
                                    inc.display()
                                ),
                            });
                        }
                        other => other?,
                    };
                    merged = Some(match merged {
                        None => v,
                        Some(base) => deep_merge(base, v),
                    });
                }
                let merged = merged.unwrap_or_else(|| Value::Object(Map::new()));
                if siblings.is_empty() {
                    return Ok(merged);
                }
                if !merged.is_object() {
                    return Err(ConfigError::Include {
                        path: file.to_path_buf(),
                        message: format!(
                            "$include{} has sibling keys but the included content is not an object",
                            if json_path.is_empty() {
                                String::new()
                            } else {
                                format!(" in {json_path}")
                            }
                        ),
                    });
                }
                Ok(deep_merge(merged, Value::Object(siblings)))
            }
            Value::Array(items) => Ok(Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.resolve(v, file, &format!("{json_path}[{i}]"), depth))
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(other),
        }
    }
}

fn join_json_path(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `over` deep-merged onto `base`: objects merge key by key, anything else replaces.
fn deep_merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (k, v) in over {
                let merged = match base.remove(&k) {
                    Some(old) => deep_merge(old, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Object(base)
        }
        (_, over) => over,
    }
}

/// Reads a config file as UTF-8 text.
pub(crate) fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound(path.to_path_buf()));
        }
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // Safe: the prefix up to `valid_up_to` is valid UTF-8.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        let (line, column) = line_column(prefix, prefix.len());
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: "the file is not valid UTF-8".to_owned(),
        }
    })
}

/// The UTF-8 byte order mark, if the text starts with one, and the rest.
pub(crate) fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    }
}

/// The options msclaw parses with: every JSON5 allowance jsonc-parser has.
pub(crate) fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: true,
        allow_trailing_commas: true,
        allow_missing_commas: true,
        allow_single_quoted_strings: true,
        allow_hexadecimal_numbers: true,
        allow_unary_plus_numbers: true,
        allow_bare_decimal_point_numbers: true,
        allow_non_finite_numbers: true,
        allow_extended_string_escapes: true,
    }
}

/// Parses JSON5 text (BOM skipped) into a JSON value.
pub(crate) fn parse_value(text: &str, path: &Path) -> Result<Value, ConfigError> {
    let (_, body) = split_bom(text);
    jsonc_parser::parse_to_serde_value::<Value>(body, &parse_options())
        .map_err(|e| parse_error(&e, body, path))
}

/// A [`ConfigError::Parse`] for a jsonc-parser error. The message is chosen here from the error
/// kind: jsonc-parser's own text can quote part of the input (an invalid `\u` escape), and the
/// input may be an API key.
pub(crate) fn parse_error(e: &ParseError, text: &str, path: &Path) -> ConfigError {
    let range = e.range();
    let token = text.get(range.start..range.end).unwrap_or("");
    let message = match e.kind() {
        ParseErrorKind::Custom(msg) if msg == "Number is out of range" => {
            let word = token.trim_start_matches(['+', '-']);
            if word == "Infinity" || word == "NaN" {
                "Infinity and NaN are valid JSON5 but not supported by msclaw (JSON has no such \
                 numbers); write a finite number"
                    .to_owned()
            } else {
                "number is out of range".to_owned()
            }
        }
        ParseErrorKind::Custom(_) => "invalid value".to_owned(),
        ParseErrorKind::String(
            jsonc_parser::ParseStringErrorKind::InvalidUnicodeEscapeSequence(_),
        ) => "invalid \\u escape in a string".to_owned(),
        ParseErrorKind::UnexpectedToken if token.starts_with('`') => {
            "unexpected token (template strings are not JSON5; use quotes)".to_owned()
        }
        // Every other kind displays as a fixed phrase.
        other => other.to_string(),
    };
    ConfigError::Parse {
        path: path.to_path_buf(),
        line: e.line_display(),
        column: e.column_display(),
        message,
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub(crate) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.trim_end_matches('\r').chars().count())
        + 1;
    (line, column)
}

/// What `agents.defaults.model` holds, read from a value whose root is `level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelValue {
    pub form: ModelForm,
    pub primary: Option<String>,
    pub fallbacks: Option<Vec<String>>,
}

/// Reads the model from `root` (a file's value, standing for `level`). Strict: the objects on the
/// way and the model itself must have the documented types.
pub(crate) fn model_at(
    root: &Value,
    level: FileLevel,
    file: &Path,
) -> Result<ModelValue, ConfigError> {
    let missing = ModelValue {
        form: ModelForm::Missing,
        primary: None,
        fallbacks: None,
    };
    let mut current = root;
    let mut current_level = level;
    for key in level.keys_to_model() {
        match current {
            Value::Object(map) => match map.get(*key) {
                Some(v) => {
                    current = v;
                    current_level = current_level.child();
                }
                None => return Ok(missing),
            },
            Value::Null if current_level == FileLevel::Root => {
                return Err(invalid(file, "the config is empty; expected an object"));
            }
            _ => {
                return Err(invalid(
                    file,
                    &format!("{} is not an object", describe_level(current_level)),
                ));
            }
        }
    }
    match current {
        Value::String(s) => Ok(ModelValue {
            form: ModelForm::String,
            primary: Some(s.clone()),
            fallbacks: None,
        }),
        Value::Object(map) => {
            let primary = match map.get("primary") {
                None => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(invalid(
                        file,
                        "agents.defaults.model.primary is not a string",
                    ));
                }
            };
            let fallbacks = match map.get("fallbacks") {
                None => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => Ok(s.clone()),
                            _ => Err(invalid(
                                file,
                                "agents.defaults.model.fallbacks holds something other than strings",
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                Some(_) => {
                    return Err(invalid(file, "agents.defaults.model.fallbacks is not an array"));
                }
            };
            Ok(ModelValue {
                form: ModelForm::Object,
                primary,
                fallbacks,
            })
        }
        _ => Err(invalid(
            file,
            "agents.defaults.model is neither a string nor an object",
        )),
    }
}

fn get<'v>(v: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().try_fold(v, |cur, k| cur.as_object()?.get(*k))
}

fn get_str(v: &Value, keys: &[&str]) -> Option<String> {
    get(v, keys)?.as_str().map(str::to_owned)
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

/// `VAR` when `s` is exactly `${VAR}` with VAR matching `[A-Z_][A-Z0-9_]*` (OpenClaw's rule).
fn env_ref_name(s: &str) -> Option<&str> {
    let var = s.strip_prefix("${")?.strip_suffix('}')?;
    let mut chars = var.chars();
    let first = chars.next()?;
    ((first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    .then_some(var)
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

    let mut providers = BTreeMap::new();
    if let Some(Value::Object(map)) = get(root, &["models", "providers"]) {
        for (name, p) in map {
            let Value::Object(p) = p else { continue };
            let model_ids = match p.get("models") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|m| m.get("id")?.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            providers.insert(
                name.clone(),
                ProviderInfo {
                    base_url: p.get("baseUrl").and_then(Value::as_str).map(str::to_owned),
                    api: p.get("api").and_then(Value::as_str).map(str::to_owned),
                    model_ids,
                    api_key: api_key_kind(p.get("apiKey")),
                },
            );
        }
    }

    let mut aliases = BTreeMap::new();
    if let Some(Value::Object(map)) = get(root, &["agents", "defaults", "models"]) {
        for (full, params) in map {
            if let Some(alias) = params.get("alias").and_then(Value::as_str) {
                aliases.insert(full.clone(), alias.to_owned());
            }
        }
    }

    let allow = match get(root, &["agents", "defaults", "modelPolicy", "allow"]) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };

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

    Ok(OpenClawConfig {
        path: path.to_path_buf(),
        agents_file,
        files,
        providers,
        model_form: model.form,
        primary: model.primary,
        fallbacks: model.fallbacks,
        aliases,
        allow,
        per_agent_models,
        reload_mode: get_str(root, &["gateway", "reload", "mode"]),
        gateway_port: get(root, &["gateway", "port"])
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0),
        log_file: get_str(root, &["logging", "file"]).map(PathBuf::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const SECRET: &str = "sk-msclaw-SECRET-7f3a9c51e2";

    fn p() -> &'static Path {
        Path::new("/cfg/openclaw.json")
    }

    const FULL: &str = r#"// OpenClaw config
{
  $schema: "https://openclaw.ai/schema.json",
  models: {
    mode: 'merge',
    providers: {
      modelscope: {
        baseUrl: "https://api-inference.modelscope.cn/v1",
        apiKey: "${MODELSCOPE_API_KEY}",
        api: "openai-completions",
        models: [
          { id: "Qwen/Qwen3.5-397B-A17B", name: "Qwen3.5", contextWindow: 131072 },
          { id: "ZhipuAI/GLM-5" },
          { name: "no id" },
          { id: "deepseek-ai/DeepSeek-V3.2", cost: { input: 0, output: 0 } },
        ],
      },
      other: { apiKey: "sk-msclaw-SECRET-7f3a9c51e2", models: [{ id: "m1" }] },
      vault: { apiKey: { source: "env", provider: "default", id: "sk-msclaw-SECRET-7f3a9c51e2" } },
      nokey: { baseUrl: 'http://localhost:1234/v1', apiKey: "" },
      mixed: { apiKey: "prefix-${MODELSCOPE_API_KEY}" },
      escaped: { apiKey: "$${MODELSCOPE_API_KEY}" },
    },
  },
  agents: {
    defaults: {
      model: {
        primary: "modelscope/Qwen/Qwen3.5-397B-A17B",
        fallbacks: ["modelscope/ZhipuAI/GLM-5", 'modelscope/deepseek-ai/DeepSeek-V3.2'],
      },
      models: {
        "modelscope/Qwen/Qwen3.5-397B-A17B": { alias: "qwen" },
        "modelscope/ZhipuAI/GLM-5": { alias: "glm", params: {} },
        "openai/gpt-5": { alias: "gpt" },
        "modelscope/no-alias": {},
      },
      modelPolicy: { allow: ["modelscope/*", 3] },
    },
    list: [
      { id: "main" },
      { id: "coder", model: "modelscope/ZhipuAI/GLM-5" },
    ],
    entries: {
      helper: { model: { primary: "modelscope/deepseek-ai/DeepSeek-V3.2" } },
      plain: {},
    },
  },
  gateway: { port: 18789, reload: { mode: "hybrid" } },
  logging: { file: "/var/log/openclaw.log" },
}
"#;

    #[test]
    fn reads_everything_msclaw_needs() {
        let c = parse(FULL, p()).unwrap();
        assert_eq!(c.path, p());
        assert_eq!(c.agents_file, p());
        assert_eq!(c.files, vec![p().to_path_buf()]);
        let ms = &c.providers["modelscope"];
        assert_eq!(
            ms.base_url.as_deref(),
            Some("https://api-inference.modelscope.cn/v1")
        );
        assert_eq!(ms.api.as_deref(), Some("openai-completions"));
        assert_eq!(
            ms.model_ids,
            vec![
                "Qwen/Qwen3.5-397B-A17B",
                "ZhipuAI/GLM-5",
                "deepseek-ai/DeepSeek-V3.2"
            ]
        );
        assert_eq!(ms.api_key, ApiKeyKind::EnvRef("MODELSCOPE_API_KEY".into()));
        assert_eq!(c.providers["other"].api_key, ApiKeyKind::Literal);
        assert_eq!(c.providers["vault"].api_key, ApiKeyKind::SecretRef);
        assert_eq!(c.providers["nokey"].api_key, ApiKeyKind::Missing);
        assert_eq!(c.providers["mixed"].api_key, ApiKeyKind::Literal);
        assert_eq!(c.providers["escaped"].api_key, ApiKeyKind::Literal);
        assert_eq!(c.model_form, ModelForm::Object);
        assert_eq!(
            c.primary.as_deref(),
            Some("modelscope/Qwen/Qwen3.5-397B-A17B")
        );
        assert_eq!(
            c.fallbacks,
            Some(vec![
                "modelscope/ZhipuAI/GLM-5".to_owned(),
                "modelscope/deepseek-ai/DeepSeek-V3.2".to_owned()
            ])
        );
        assert_eq!(c.aliases.len(), 3);
        assert_eq!(c.aliases["modelscope/ZhipuAI/GLM-5"], "glm");
        assert_eq!(c.allow, vec!["modelscope/*"]);
        assert_eq!(
            c.per_agent_models,
            vec![
                ("coder".to_owned(), "modelscope/ZhipuAI/GLM-5".to_owned()),
                (
                    "helper".to_owned(),
                    "modelscope/deepseek-ai/DeepSeek-V3.2".to_owned()
                ),
            ]
        );
        assert_eq!(c.reload_mode.as_deref(), Some("hybrid"));
        assert_eq!(c.gateway_port, Some(18789));
        assert_eq!(
            c.log_file.as_deref(),
            Some(Path::new("/var/log/openclaw.log"))
        );
    }

    #[test]
    fn resolve_model_by_alias_bare_id_and_full_ref() {
        let c = parse(FULL, p()).unwrap();
        let glm = Some("modelscope/ZhipuAI/GLM-5".to_owned());
        assert_eq!(c.resolve_model("modelscope", "glm"), glm);
        assert_eq!(c.resolve_model("modelscope", "ZhipuAI/GLM-5"), glm);
        assert_eq!(
            c.resolve_model("modelscope", "modelscope/ZhipuAI/GLM-5"),
            glm
        );
        // An alias of another provider, an unlisted id, an unknown provider: nothing.
        assert_eq!(c.resolve_model("modelscope", "gpt"), None);
        assert_eq!(c.resolve_model("modelscope", "ZhipuAI/GLM-4"), None);
        assert_eq!(
            c.resolve_model("modelscope", "modelscope/ZhipuAI/GLM-4"),
            None
        );
        assert_eq!(c.resolve_model("nope", "m1"), None);
        assert_eq!(c.resolve_model("other", "m1"), Some("other/m1".into()));
        assert_eq!(c.resolve_model("modelscope", ""), None);
        assert!(c.is_listed("modelscope/Qwen/Qwen3.5-397B-A17B"));
        assert!(!c.is_listed("modelscope/Qwen"));
        assert!(!c.is_listed("qwen"));
    }

    #[test]
    fn model_forms() {
        let c = parse(
            r#"{ agents: { defaults: { model: "modelscope/a" } } }"#,
            p(),
        )
        .unwrap();
        assert_eq!(
            (c.model_form, c.primary.as_deref(), c.fallbacks),
            (ModelForm::String, Some("modelscope/a"), None)
        );
        let c = parse("{ agents: { defaults: {} } }", p()).unwrap();
        assert_eq!(
            (c.model_form, c.primary, c.fallbacks),
            (ModelForm::Missing, None, None)
        );
        let c = parse("{}", p()).unwrap();
        assert_eq!(c.model_form, ModelForm::Missing);
        let c = parse(
            "{ agents: { defaults: { model: { fallbacks: [] } } } }",
            p(),
        )
        .unwrap();
        assert_eq!(
            (c.model_form, c.primary, c.fallbacks),
            (ModelForm::Object, None, Some(vec![]))
        );
        // Duplicate keys: the last one wins, as in JSON5.
        let c = parse(
            "{ agents: { defaults: { model: 'a/x', model: 'a/y' } } }",
            p(),
        )
        .unwrap();
        assert_eq!(c.primary.as_deref(), Some("a/y"));
    }

    #[test]
    fn wrong_shapes_on_the_model_path_are_invalid() {
        for (text, needle) in [
            ("[]", "root is not an object"),
            ("", "empty"),
            ("  // nothing\n", "empty"),
            ("{ agents: 3 }", "agents is not an object"),
            (
                "{ agents: { defaults: [] } }",
                "agents.defaults is not an object",
            ),
            (
                "{ agents: { defaults: { model: 3 } } }",
                "neither a string nor an object",
            ),
            (
                "{ agents: { defaults: { model: { primary: null } } } }",
                "primary is not a string",
            ),
            (
                "{ agents: { defaults: { model: { fallbacks: 'x' } } } }",
                "fallbacks is not an array",
            ),
            (
                "{ agents: { defaults: { model: { fallbacks: [1] } } } }",
                "other than strings",
            ),
        ] {
            let err = parse(text, p()).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { .. }),
                "{text}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{text}: {err}");
            assert!(err.to_string().starts_with("/cfg/openclaw.json: "), "{err}");
        }
    }

    #[test]
    fn lenient_elsewhere() {
        let c = parse(
            "{ gateway: { port: 'x', reload: 3 }, logging: [], models: { providers: { a: 1, b: { models: 'x', baseUrl: 2 } } } }",
            p(),
        )
        .unwrap();
        assert_eq!(c.gateway_port, None);
        assert_eq!(c.reload_mode, None);
        assert_eq!(c.log_file, None);
        assert!(!c.providers.contains_key("a"));
        assert_eq!(c.providers["b"].model_ids, Vec::<String>::new());
        assert_eq!(c.providers["b"].base_url, None);
        assert_eq!(
            parse("{ gateway: { port: 70000 } }", p())
                .unwrap()
                .gateway_port,
            None
        );
    }

    #[test]
    fn json5_syntax_is_accepted() {
        let text = "\u{feff}{\n  // line\n  /* block */ agents: { defaults: { model: { primary: 'a/\\\n b', fallbacks: [ \"x\", ], }, }, },\n  n: 0x1F, m: +1, o: .5, p: 5.,\n}\n";
        let c = parse(text, p()).unwrap();
        assert_eq!(c.primary.as_deref(), Some("a/ b"));
        assert_eq!(c.fallbacks, Some(vec!["x".to_owned()]));
    }

    fn parse_err(text: &str) -> (usize, usize, String) {
        match parse(text, p()).unwrap_err() {
            ConfigError::Parse {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn what_jsonc_parser_refuses_gets_a_clear_error() {
        let (l, c, m) = parse_err("{\n  a: 1,\n  b: Infinity,\n}");
        assert_eq!((l, c), (3, 6));
        assert!(m.contains("Infinity and NaN"), "{m}");
        let (l, c, m) = parse_err("{ a: -NaN }");
        assert_eq!((l, c), (1, 6));
        assert!(m.contains("Infinity and NaN"), "{m}");
        let (_, _, m) = parse_err("{ a: 1e400 }");
        assert_eq!(m, "number is out of range");
        let (l, c, m) = parse_err("{\r\n  a: `x`\r\n}");
        assert_eq!((l, c), (2, 6));
        assert!(m.contains("template strings"), "{m}");
        let (l, _, m) = parse_err("{\n  a: 'x\n");
        assert_eq!(l, 2);
        assert!(m.contains("Unterminated"), "{m}");
        let (l, c, _) = parse_err("{ a: 1 }\n{ b: 2 }");
        assert_eq!((l, c), (2, 1));
        let (_, _, m) = parse_err("{ a: undefined }");
        assert_eq!(m, "Unexpected word");
    }

    #[test]
    fn secrets_never_reach_debug_or_errors() {
        let c = parse(FULL, p()).unwrap();
        let debug = format!("{c:?} {:#?}", c.providers);
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains("7f3a9c"), "{debug}");

        // Broken files with the key at or near the error.
        let broken = [
            format!("{{ models: {{ providers: {{ x: {{ apiKey: \"{SECRET}"),
            format!("{{ models: {{ providers: {{ x: {{ apiKey: \"{SECRET}\\u12G4\" }} }} }} }}"),
            format!("{{ models: {{ providers: {{ x: {{ apiKey: \"{SECRET}\\u12"),
            format!("{{ apiKey: {SECRET} }}"),
            format!("{{ apiKey: \"{SECRET}\" \"{SECRET}\" }}"),
            format!("{{ apiKey: '{SECRET}', x: Infinity }}"),
            format!("{{ apiKey: {{ source: 'env', id: \"{SECRET}\" }}, }} garbage {SECRET}"),
            format!("{{ models: {{ providers: {{ x: {{ apiKey: \"${{{SECRET}\" }} }} }}"),
            format!("{{ apiKey: \"\\x{SECRET}\" }}"),
        ];
        for text in &broken {
            let err = parse(text, p()).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("7f3a9c"), "leaked in {shown}");
            assert!(!shown.contains("SECRET"), "leaked in {shown}");
        }
        // jsonc-parser's own message for a bad \u escape quotes the escape's hex digits, which
        // are part of the key here.
        let text = "{ apiKey: \"sk-\\udead\\ubeef\" }";
        let err = parse(text, p()).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("dead") && !shown.contains("beef"),
            "leaked in {shown}"
        );
        assert!(shown.contains("invalid \\u escape"), "{shown}");
    }

    #[test]
    fn invalid_utf8_is_a_parse_error_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("openclaw.json");
        fs::write(&f, b"{\n  a: \"\xff\"\n}").unwrap();
        match load(&f).unwrap_err() {
            ConfigError::Parse {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!((line, column), (2, 7));
                assert!(message.contains("UTF-8"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_found() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("missing.json");
        assert!(matches!(load(&f), Err(ConfigError::NotFound(ref x)) if x == &f));
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let f = dir.join(name);
        if let Some(parent) = f.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&f, text).unwrap();
        f
    }

    #[test]
    fn include_single_file_for_agents_and_models() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "openclaw.json",
            "{ agents: { $include: './conf/agents.json5' }, models: { $include: 'conf/models.json5' } }",
        );
        let agents = write(
            dir.path(),
            "conf/agents.json5",
            "// agents\n{ defaults: { model: { primary: 'modelscope/a' } } }",
        );
        let models = write(
            dir.path(),
            "conf/models.json5",
            "{ providers: { modelscope: { $include: 'ms.json5' } } }",
        );
        let ms = write(dir.path(), "conf/ms.json5", "{ models: [{ id: 'a' }] }");
        let c = load(&main).unwrap();
        assert_eq!(c.primary.as_deref(), Some("modelscope/a"));
        assert_eq!(c.providers["modelscope"].model_ids, vec!["a"]);
        assert_eq!(c.agents_file, agents);
        assert_eq!(c.files, vec![main.clone(), agents.clone(), models, ms]);
        // `parse` does not follow, but still names the file the agents come from.
        let c = parse(&fs::read_to_string(&main).unwrap(), &main).unwrap();
        assert_eq!(c.primary, None);
        assert_eq!(c.agents_file, dir.path().join("./conf/agents.json5"));
    }

    #[test]
    fn include_array_merges_in_order_and_siblings_override() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.json5",
            "{ agents: { defaults: { model: { primary: 'p/a', fallbacks: ['p/f'] } } }, gateway: { port: 1 } }",
        );
        write(
            dir.path(),
            "b.json5",
            "{ agents: { defaults: { model: { primary: 'p/b' } } }, gateway: { reload: { mode: 'off' } } }",
        );
        let main = write(
            dir.path(),
            "openclaw.json",
            "{ $include: ['a.json5', 'b.json5'], gateway: { port: 2 } }",
        );
        let c = load(&main).unwrap();
        assert_eq!(c.primary.as_deref(), Some("p/b"));
        assert_eq!(c.fallbacks, Some(vec!["p/f".to_owned()]));
        assert_eq!(c.agents_file, dir.path().join("b.json5"));
        assert_eq!(c.gateway_port, Some(2));
        assert_eq!(c.reload_mode.as_deref(), Some("off"));
    }

    #[test]
    fn include_errors() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "openclaw.json",
            "{ agents: { $include: 'nope.json5' } }",
        );
        let err = load(&main).unwrap_err();
        assert!(
            matches!(err, ConfigError::Include { ref path, .. } if path == &main),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("nope.json5") && err.to_string().contains("not found"),
            "{err}"
        );

        let main = write(
            dir.path(),
            "cycle.json",
            "{ agents: { $include: 'cycle2.json5' } }",
        );
        write(
            dir.path(),
            "cycle2.json5",
            "{ defaults: { $include: 'cycle.json' } }",
        );
        let err = load(&main).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");

        let main = write(dir.path(), "bad.json", "{ agents: { $include: 3 } }");
        assert!(
            load(&main)
                .unwrap_err()
                .to_string()
                .contains("$include in agents must be a file name")
        );

        let main = write(
            dir.path(),
            "sib.json",
            "{ agents: { $include: 'str.json5', x: 1 } }",
        );
        write(dir.path(), "str.json5", "'a string'");
        assert!(
            load(&main)
                .unwrap_err()
                .to_string()
                .contains("not an object")
        );

        let main = write(
            dir.path(),
            "broken.json",
            "{ agents: { $include: 'broken.json5' } }",
        );
        let broken = write(dir.path(), "broken.json5", "{\n  defaults: {\n");
        match load(&main).unwrap_err() {
            ConfigError::Parse { path, line, .. } => {
                assert_eq!(path, broken);
                assert_eq!(line, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn agents_file_follows_single_includes_down_to_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "openclaw.json", "{ $include: 'base.json5' }");
        write(
            dir.path(),
            "base.json5",
            "{ agents: { defaults: { $include: 'd/defaults.json5' } } }",
        );
        let defaults = write(
            dir.path(),
            "d/defaults.json5",
            "{ model: { $include: 'model.json5' } }",
        );
        let model = write(dir.path(), "d/model.json5", "{ primary: 'p/m' }");
        let c = load(&main).unwrap();
        assert_eq!(c.primary.as_deref(), Some("p/m"));
        assert_eq!(c.agents_file, model);
        assert!(c.files.contains(&defaults));

        // A sibling `model` beside the include wins and is edited where it is.
        let main = write(
            dir.path(),
            "sib.json",
            "{ agents: { $include: 'd/agents.json5', defaults: { model: 'p/x' } } }",
        );
        write(
            dir.path(),
            "d/agents.json5",
            "{ defaults: { model: 'p/y', workspace: '~' } }",
        );
        let c = load(&main).unwrap();
        assert_eq!(c.primary.as_deref(), Some("p/x"));
        assert_eq!(c.agents_file, main);

        // An include array on the way: the last file that holds the model.
        let main = write(
            dir.path(),
            "arr.json",
            "{ agents: { $include: ['d/agents.json5', 'd/other.json5', 'd/none.json5'] } }",
        );
        let other = write(
            dir.path(),
            "d/other.json5",
            "{ defaults: { model: 'p/o' } }",
        );
        write(
            dir.path(),
            "d/none.json5",
            "{ defaults: { workspace: '/w' } }",
        );
        let c = load(&main).unwrap();
        assert_eq!(
            (c.primary.as_deref(), &c.agents_file),
            (Some("p/o"), &other)
        );
        // None of them does: the model goes beside the $include.
        let main = write(
            dir.path(),
            "arr2.json",
            "{ agents: { $include: ['d/none.json5'] } }",
        );
        let c = load(&main).unwrap();
        assert_eq!((c.primary.as_deref(), &c.agents_file), (None, &main));
    }
}
