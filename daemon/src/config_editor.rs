//! Changes `agents.defaults.model` in OpenClaw's config and nothing else.
//!
//! The file is parsed into jsonc-parser's CST, which keeps every byte. The CST is used to find the
//! nodes and their exact byte ranges and to learn the file's style (newline kind, indent unit,
//! trailing commas, key quoting); the edit itself is a handful of splices into the original text.
//! Splicing, rather than the CST's own insert methods, is what keeps *every* other byte: those
//! methods also drop blank lines at the start and end of the object they insert into and turn a
//! single-line object into a multi-line one.
//!
//! What changes:
//! - the `primary` string (or the string form `model: "…"`) is replaced in place. **Its quote
//!   style is kept**: a single-quoted value stays single-quoted (JSON5 allows it and the user chose
//!   it); new strings are double-quoted. Escaping follows the quote used.
//! - `fallbacks`, when asked, is replaced as a whole; comments inside the old array go with it. A
//!   multi-line array stays multi-line (same element indent, same trailing-comma choice), a
//!   single-line one stays single-line; quoting follows the old elements. An array already equal
//!   to the one asked is left byte-identical.
//! - a missing `fallbacks`, `primary`, `model`, `defaults` or `agents` is appended as the last
//!   property of its object, in the file's style: its newline kind (CRLF stays CRLF), its indent
//!   unit, its trailing-comma habit, and the key quoting of the neighbouring keys (unquoted,
//!   single- or double-quoted). A single-line object gets the new property on the same line.
//! - `model: "x"` becomes `model: { primary, fallbacks }` only when fallbacks are asked.
//!
//! Every result is checked before it is returned: the new text must parse, read back the asked
//! primary/fallbacks, and be equal as data to the old text with only the model changed. Anything
//! else is [`EditError::Verify`] and nothing is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstArray, CstNode, CstObject, CstObjectProp, CstRootNode, ObjectPropName};
use serde_json::{Map, Value};

use crate::atomic_write::{self, WriteError};
use crate::openclaw_config::{
    self, ConfigError, FileLevel, ModelValue, Reader, load_with_overrides, locate_model, model_at,
    parse_error, parse_options, parse_value, read_config_text, split_bom,
};

/// The model settings to put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEdit {
    /// Full ref, e.g. `modelscope/Qwen/Qwen3.5-397B-A17B`.
    pub primary: String,
    /// `None`: leave `fallbacks` as it is (absent stays absent).
    pub fallbacks: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOutcome {
    /// The config already says this; nothing was written (the file's bytes and mtime are as they
    /// were).
    Unchanged,
    /// `file` (the config, or the `$include`d file holding the model) was replaced.
    Written { file: PathBuf },
}

/// Why the edit was not made. In every case nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The config cannot be read: not found, unparsable (with line/column), bad `$include`, or
    /// the model is not a string/object.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The edit request itself is unusable (an empty model ref).
    #[error("bad model edit: {0}")]
    BadEdit(String),
    /// The edited text did not read back as asked; a bug or a config shape msclaw cannot handle.
    #[error("{path}: the edit did not check out ({message}); nothing was written")]
    Verify { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The file kept changing under msclaw.
    #[error("{path} changed during each of {attempts} attempts to edit it; nothing was written")]
    Conflict { path: PathBuf, attempts: u32 },
}

/// How many times [`apply_model_edit`] redoes the edit when the file changed meanwhile.
pub const MAX_ATTEMPTS: u32 = 5;

/// Name shown in errors of the text-only functions.
const TEXT_PATH: &str = "<text>";

/// Edits `agents.defaults.model` in one config text (no `$include` following: a `$include` on the
/// way to the model is an error). Returns the text unchanged when it already says this.
pub fn edit_model_text(text: &str, edit: &ModelEdit) -> Result<String, EditError> {
    edit_model_text_at(text, FileLevel::Root, edit)
}

/// [`edit_model_text`] for a file whose root stands for `level` (a file `$include`d as `agents`,
/// `agents.defaults` or `agents.defaults.model`).
pub fn edit_model_text_at(
    text: &str,
    level: FileLevel,
    edit: &ModelEdit,
) -> Result<String, EditError> {
    edit_text(text, level, edit, Path::new(TEXT_PATH))
}

/// Puts `edit` into the config at `config_path`, in the file that holds `agents.defaults.model`
/// (following single-file `$include`s). Written atomically; redone on the new text when the file
/// changed between reading and writing (up to [`MAX_ATTEMPTS`]).
pub fn apply_model_edit(config_path: &Path, edit: &ModelEdit) -> Result<EditOutcome, EditError> {
    apply_with_hook(config_path, edit, &mut |_| {})
}

/// [`apply_model_edit`] with a hook run right before each write (tests use it to edit the file
/// "concurrently").
fn apply_with_hook(
    config_path: &Path,
    edit: &ModelEdit,
    before_write: &mut dyn FnMut(&Path),
) -> Result<EditOutcome, EditError> {
    check_edit(edit)?;
    for _ in 0..MAX_ATTEMPTS {
        let current = openclaw_config::load(config_path)?;
        if satisfies(&current.primary, &current.fallbacks, edit) {
            return Ok(EditOutcome::Unchanged);
        }
        let no_overrides = HashMap::new();
        let location = locate_model(&mut Reader::new(&no_overrides), config_path)?;
        let original = read_config_text(&location.file)?;
        let new_text = edit_text(&original, location.level, edit, &location.file)?;

        // The whole config, with the edited file in place, must say what was asked (a key beside
        // a `$include`, or a later file of an include array, could still override it).
        let overrides = HashMap::from([(location.file.clone(), new_text.clone())]);
        let after =
            load_with_overrides(config_path, &overrides).map_err(|e| EditError::Verify {
                path: location.file.clone(),
                message: format!("the edited config does not load: {e}"),
            })?;
        if !satisfies(&after.primary, &after.fallbacks, edit) {
            return Err(EditError::Verify {
                path: location.file.clone(),
                message: format!(
                    "after the edit the config reads primary {:?}, fallbacks {:?}; something else \
                     in the config overrides agents.defaults.model",
                    after.primary, after.fallbacks
                ),
            });
        }

        before_write(&location.file);
        match atomic_write::replace_if_unchanged(
            &location.file,
            new_text.as_bytes(),
            Some(original.as_bytes()),
        ) {
            Ok(()) => {
                return Ok(EditOutcome::Written {
                    file: location.file,
                });
            }
            Err(WriteError::Conflict { .. }) => {
                tracing::debug!(file = %location.file.display(), "config changed while editing; redoing the edit");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(EditError::Conflict {
        path: config_path.to_path_buf(),
        attempts: MAX_ATTEMPTS,
    })
}

fn check_edit(edit: &ModelEdit) -> Result<(), EditError> {
    if edit.primary.trim().is_empty() {
        return Err(EditError::BadEdit("the primary model is empty".into()));
    }
    if let Some(f) = &edit.fallbacks
        && f.iter().any(|m| m.trim().is_empty())
    {
        return Err(EditError::BadEdit("a fallback model is empty".into()));
    }
    Ok(())
}

fn satisfies(primary: &Option<String>, fallbacks: &Option<Vec<String>>, edit: &ModelEdit) -> bool {
    primary.as_deref() == Some(edit.primary.as_str())
        && edit
            .fallbacks
            .as_ref()
            .is_none_or(|f| fallbacks.as_ref() == Some(f))
}

/// The edit of one file's text; `path` is only for messages.
fn edit_text(
    text: &str,
    level: FileLevel,
    edit: &ModelEdit,
    path: &Path,
) -> Result<String, EditError> {
    check_edit(edit)?;
    let (bom, body) = split_bom(text);
    let old_value = parse_value(body, path)?;
    let current = model_at(&old_value, level, path)?;
    if satisfies(&current.primary, &current.fallbacks, edit) {
        return Ok(text.to_owned());
    }
    let root =
        CstRootNode::parse(body, &parse_options()).map_err(|e| parse_error(&e, body, path))?;
    let doc = Doc::new(body, &root);
    let mut splices = Vec::new();
    plan(&doc, &root, level, edit, &current, path, &mut splices)?;
    let new_body = apply_splices(body, splices);
    let new_text = format!("{bom}{new_body}");
    verify(&old_value, &new_text, level, edit, path)?;
    Ok(new_text)
}

/// Checks the new text: it parses, reads back as asked, and differs from the old one only in the
/// model.
fn verify(
    old: &Value,
    new_text: &str,
    level: FileLevel,
    edit: &ModelEdit,
    path: &Path,
) -> Result<(), EditError> {
    let fail = |message: String| EditError::Verify {
        path: path.to_path_buf(),
        message,
    };
    let new_value = parse_value(new_text, path)
        .map_err(|e| fail(format!("the edited text does not parse: {e}")))?;
    let model = model_at(&new_value, level, path).map_err(|e| fail(e.to_string()))?;
    if !satisfies(&model.primary, &model.fallbacks, edit) {
        return Err(fail(format!(
            "reads back primary {:?}, fallbacks {:?}",
            model.primary, model.fallbacks
        )));
    }
    if level == FileLevel::Root {
        let cfg = openclaw_config::parse(new_text, path).map_err(|e| fail(e.to_string()))?;
        if !satisfies(&cfg.primary, &cfg.fallbacks, edit) {
            return Err(fail("the config reader disagrees with the edit".into()));
        }
    }
    if new_value != expected_value(old, level, edit) {
        return Err(fail(
            "values other than agents.defaults.model changed".into(),
        ));
    }
    Ok(())
}

/// `old` with only the model changed as the edit says (what the new text must parse to).
fn expected_value(old: &Value, level: FileLevel, edit: &ModelEdit) -> Value {
    fn new_model(old: Option<&Value>, edit: &ModelEdit) -> Value {
        match old {
            Some(Value::String(_)) if edit.fallbacks.is_none() => {
                Value::String(edit.primary.clone())
            }
            _ => {
                let mut m = match old {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                m.insert("primary".into(), Value::String(edit.primary.clone()));
                if let Some(f) = &edit.fallbacks {
                    m.insert(
                        "fallbacks".into(),
                        Value::Array(f.iter().cloned().map(Value::String).collect()),
                    );
                }
                Value::Object(m)
            }
        }
    }
    let mut value = old.clone();
    let keys = level.keys_to_model();
    let Some((last, parents)) = keys.split_last() else {
        return new_model(Some(old), edit);
    };
    let mut cur = &mut value;
    for key in parents {
        let Value::Object(map) = cur else {
            return value;
        };
        cur = map.entry(*key).or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(map) = cur {
        let model = new_model(map.get(*last), edit);
        map.insert((*last).to_owned(), model);
    }
    value
}

/// One replacement of `text[start..end]`.
#[derive(Debug)]
pub(crate) struct Splice {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Applies the splices (which must not overlap) from the end of the text backwards. Insertions
/// at the same position end up in the order they were planned.
pub(crate) fn apply_splices(text: &str, splices: Vec<Splice>) -> String {
    let mut ordered: Vec<(usize, Splice)> = splices.into_iter().enumerate().collect();
    ordered.sort_by_key(|(i, s)| std::cmp::Reverse((s.start, *i)));
    let mut out = text.to_owned();
    for (_, s) in ordered {
        out.replace_range(s.start..s.end, &s.text);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    Double,
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyStyle {
    Bare,
    Quoted(Quote),
}

/// A value to write that is not in the file yet.
#[derive(Debug, Clone)]
pub(crate) enum New {
    /// Already rendered (a quoted string, a number).
    Raw(String),
    /// A list of strings, always rendered on one line.
    Strings(Vec<String>),
    Object(Vec<(String, New)>),
    /// A list of values, one per line when the surrounding object is multi-line (each element
    /// then on one line of its own).
    Array(Vec<New>),
    /// A value always written on one line (`{ alias: "glm5" }`).
    Inline(Box<New>),
}

/// The text being edited and the style it is written in.
pub(crate) struct Doc<'t> {
    pub text: &'t str,
    pub newline: &'static str,
    pub indent_unit: String,
    pub trailing_commas: bool,
    /// Key quoting of the root object's keys (used when an object has no keys to copy).
    pub root_key_style: KeyStyle,
}

impl<'t> Doc<'t> {
    pub(crate) fn new(text: &'t str, root: &CstRootNode) -> Self {
        let newline = match text.find('\n') {
            Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        let indent_unit = root
            .single_indent_text()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "  ".to_owned());
        let root_obj = root.object_value();
        let trailing_commas = root_obj.as_ref().is_some_and(|o| o.uses_trailing_commas());
        let root_key_style = root_obj
            .as_ref()
            .and_then(key_style_of)
            .unwrap_or(KeyStyle::Quoted(Quote::Double));
        Doc {
            text,
            newline,
            indent_unit,
            trailing_commas,
            root_key_style,
        }
    }

    /// Byte range of a node in the text.
    pub(crate) fn range(&self, node: &CstNode) -> (usize, usize) {
        let mut start = 0;
        let mut cur = node.clone();
        loop {
            for sibling in cur.previous_siblings() {
                start += sibling.to_string().len();
            }
            match cur.parent() {
                Some(parent) => cur = CstNode::Container(parent),
                None => break,
            }
        }
        (start, start + node.to_string().len())
    }

    pub(crate) fn line_start(&self, pos: usize) -> usize {
        self.text[..pos].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The leading whitespace of the line holding `pos`.
    pub(crate) fn line_indent(&self, pos: usize) -> &'t str {
        let start = self.line_start(pos);
        let line = &self.text[start..];
        let len = line.len() - line.trim_start_matches([' ', '\t']).len();
        &line[..len]
    }

    /// Whether only spaces and tabs precede `pos` on its line.
    pub(crate) fn starts_line(&self, pos: usize) -> bool {
        self.text[self.line_start(pos)..pos]
            .chars()
            .all(|c| c == ' ' || c == '\t')
    }

    /// Skips whitespace and comments from `i`. With `same_line`, stops at a line break (and
    /// before a block comment that spans lines).
    pub(crate) fn skip_trivia(&self, mut i: usize, same_line: bool) -> usize {
        let t = self.text;
        while i < t.len() {
            let rest = &t[i..];
            let c = rest.as_bytes()[0];
            if c == b' ' || c == b'\t' {
                i += 1;
            } else if c == b'\n' || c == b'\r' {
                if same_line {
                    break;
                }
                i += 1;
            } else if rest.starts_with("//") {
                i += rest.find(['\n', '\r']).unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                let end = body.find("*/").map_or(rest.len(), |e| e + 4);
                if same_line && rest[..end].contains('\n') {
                    break;
                }
                i += end;
            } else {
                break;
            }
        }
        i
    }

    /// The position of the comma after a value ending at `end`, if any.
    pub(crate) fn comma_after(&self, end: usize) -> Option<usize> {
        let i = self.skip_trivia(end, false);
        (self.text.as_bytes().get(i) == Some(&b',')).then_some(i)
    }

    pub(crate) fn key_text(&self, key: &str, style: KeyStyle) -> String {
        match style {
            // A key that is not an identifier (`modelscope/Qwen/…`) cannot go bare.
            KeyStyle::Bare if is_identifier(key) => key.to_owned(),
            KeyStyle::Bare => quote(key, Quote::Double),
            KeyStyle::Quoted(q) => quote(key, q),
        }
    }

    /// Renders `value`; `indent` is the indent of the line the value starts on.
    pub(crate) fn render(
        &self,
        value: &New,
        indent: &str,
        multiline: bool,
        keys: KeyStyle,
        sep: &str,
    ) -> String {
        match value {
            New::Raw(s) => s.clone(),
            New::Strings(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|s| quote(s, Quote::Double))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            New::Inline(value) => self.render(value, indent, false, keys, sep),
            New::Object(props) if props.is_empty() => "{}".to_owned(),
            New::Object(props) if multiline => {
                let inner = format!("{indent}{}", self.indent_unit);
                let mut out = String::from("{");
                for (i, (k, v)) in props.iter().enumerate() {
                    out.push_str(self.newline);
                    out.push_str(&inner);
                    out.push_str(&self.key_text(k, keys));
                    out.push_str(sep);
                    out.push_str(&self.render(v, &inner, true, keys, sep));
                    if i + 1 < props.len() || self.trailing_commas {
                        out.push(',');
                    }
                }
                out.push_str(self.newline);
                out.push_str(indent);
                out.push('}');
                out
            }
            New::Object(props) => format!(
                "{{ {} }}",
                props
                    .iter()
                    .map(|(k, v)| format!(
                        "{}{sep}{}",
                        self.key_text(k, keys),
                        self.render(v, indent, false, keys, sep)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            New::Array(items) if items.is_empty() => "[]".to_owned(),
            New::Array(items) if multiline => {
                let inner = format!("{indent}{}", self.indent_unit);
                let mut out = String::from("[");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(self.newline);
                    out.push_str(&inner);
                    out.push_str(&self.render(item, &inner, false, keys, sep));
                    if i + 1 < items.len() || self.trailing_commas {
                        out.push(',');
                    }
                }
                out.push_str(self.newline);
                out.push_str(indent);
                out.push(']');
                out
            }
            New::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|v| self.render(v, indent, false, keys, sep))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Whether `key` can be written without quotes in JSON5 (an ASCII identifier).
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// JSON5 string literal for `s` with the given quote.
pub(crate) fn quote(s: &str, q: Quote) -> String {
    let qc = match q {
        Quote::Double => '"',
        Quote::Single => '\'',
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(qc);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c == qc => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(qc);
    out
}

/// The quote a string literal node uses.
pub(crate) fn quote_of(raw: &str) -> Quote {
    if raw.starts_with('\'') {
        Quote::Single
    } else {
        Quote::Double
    }
}

/// How the keys of `obj` are written (from its last property whose name could go unquoted: a
/// key like `"modelscope/Qwen/…"` is quoted of necessity and tells nothing), `None` when it has
/// none.
pub(crate) fn key_style_of(obj: &CstObject) -> Option<KeyStyle> {
    let prop = obj
        .properties()
        .into_iter()
        .rev()
        .find(|p| p.decoded_name().is_some_and(|n| is_identifier(&n)))?;
    Some(match prop.name()? {
        ObjectPropName::Word(_) => KeyStyle::Bare,
        ObjectPropName::String(s) => KeyStyle::Quoted(quote_of(&s.raw_value())),
    })
}

/// The last property named `key` (JSON5 lets the last duplicate win, and so does the reader).
pub(crate) fn last_prop(obj: &CstObject, key: &str) -> Option<CstObjectProp> {
    obj.properties()
        .into_iter()
        .filter(|p| p.decoded_name().as_deref() == Some(key))
        .last()
}

/// Whether the object's own braces span lines (a line break among its direct children).
pub(crate) fn is_multiline(node: &CstNode) -> bool {
    match node {
        CstNode::Container(c) => c.children().iter().any(|n| n.is_newline()),
        CstNode::Leaf(_) => false,
    }
}

/// Works out the splices that put `edit` into the CST's text.
fn plan(
    doc: &Doc<'_>,
    root: &CstRootNode,
    level: FileLevel,
    edit: &ModelEdit,
    current: &ModelValue,
    path: &Path,
    out: &mut Vec<Splice>,
) -> Result<(), EditError> {
    let Some(root_value) = root.value() else {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: "the file is empty".into(),
        }
        .into());
    };
    if level == FileLevel::Model {
        edit_model_value(doc, &root_value, None, edit, current, out);
        return Ok(());
    }
    // `model_at` already checked that the objects on the way are objects.
    let mut obj = root_value
        .as_object()
        .ok_or_else(|| not_object(path, level))?;
    let keys = level.keys_to_model();
    for (i, key) in keys.iter().enumerate() {
        match last_prop(&obj, key) {
            Some(prop) => {
                let value = prop.value().ok_or_else(|| not_object(path, level))?;
                if *key == "model" {
                    edit_model_value(doc, &value, Some(&obj), edit, current, out);
                    return Ok(());
                }
                obj = value.as_object().ok_or_else(|| not_object(path, level))?;
            }
            None => {
                // A single-file include is followed by `apply_model_edit`; beside an include
                // array the missing key is added here (siblings override what is included).
                if last_prop(&obj, "$include")
                    .and_then(|p| p.value())
                    .is_some_and(|v| v.as_string_lit().is_some())
                {
                    return Err(ConfigError::Include {
                        path: path.to_path_buf(),
                        message: format!(
                            "`{key}` comes from a $include; the model is edited in the included file"
                        ),
                    }
                    .into());
                }
                // Build the missing chain from here down: { key: { ...: { model: {...} } } }.
                let mut value = New::Object(new_model_props(None, edit));
                for k in keys[i + 1..].iter().rev() {
                    value = New::Object(vec![((*k).to_owned(), value)]);
                }
                insert_props(doc, &obj, vec![((*key).to_owned(), value)], out);
                return Ok(());
            }
        }
    }
    unreachable!("keys_to_model ends with `model` for every level but Model");
}

fn not_object(path: &Path, level: FileLevel) -> EditError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        message: format!(
            "an object on the way to agents.defaults.model (from {level:?}) is not an object"
        ),
    }
    .into()
}

/// The properties of a new model object: `primary` (in `quote`), then `fallbacks` if asked.
fn new_model_props(primary_quote: Option<Quote>, edit: &ModelEdit) -> Vec<(String, New)> {
    let mut props = vec![(
        "primary".to_owned(),
        New::Raw(quote(&edit.primary, primary_quote.unwrap_or(Quote::Double))),
    )];
    if let Some(f) = &edit.fallbacks {
        props.push(("fallbacks".to_owned(), New::Strings(f.clone())));
    }
    props
}

/// Edits the model value node `value`. `container` is the object holding the `model` property
/// (`None` when the value is the file's root).
fn edit_model_value(
    doc: &Doc<'_>,
    value: &CstNode,
    container: Option<&CstObject>,
    edit: &ModelEdit,
    current: &ModelValue,
    out: &mut Vec<Splice>,
) {
    let (start, end) = doc.range(value);
    if let Some(lit) = value.as_string_lit() {
        let q = quote_of(&lit.raw_value());
        if edit.fallbacks.is_none() {
            out.push(Splice {
                start,
                end,
                text: quote(&edit.primary, q),
            });
            return;
        }
        // String form, fallbacks asked: becomes `{ primary, fallbacks }`.
        let multiline = match container {
            Some(c) => is_multiline(&CstNode::Container(c.clone().into())),
            None => true,
        };
        let keys = container
            .and_then(key_style_of)
            .unwrap_or(doc.root_key_style);
        let sep = container.map_or_else(|| ": ".to_owned(), |c| separator_of(doc, c));
        let text = doc.render(
            &New::Object(new_model_props(Some(q), edit)),
            doc.line_indent(start),
            multiline,
            keys,
            &sep,
        );
        out.push(Splice { start, end, text });
        return;
    }
    let Some(obj) = value.as_object() else {
        // `model_at` only lets strings and objects through.
        return;
    };
    let mut missing: Vec<(String, New)> = Vec::new();
    match last_prop(&obj, "primary") {
        Some(prop) if current.primary.as_deref() != Some(edit.primary.as_str()) => {
            if let Some(v) = prop.value() {
                let (s, e) = doc.range(&v);
                let q = v
                    .as_string_lit()
                    .map_or(Quote::Double, |l| quote_of(&l.raw_value()));
                out.push(Splice {
                    start: s,
                    end: e,
                    text: quote(&edit.primary, q),
                });
            }
        }
        Some(_) => {}
        None => missing.push((
            "primary".to_owned(),
            New::Raw(quote(&edit.primary, Quote::Double)),
        )),
    }
    if let Some(fallbacks) = &edit.fallbacks
        && current.fallbacks.as_ref() != Some(fallbacks)
    {
        match last_prop(&obj, "fallbacks").and_then(|p| p.value()) {
            Some(array) => out.push(replace_array(doc, &array, fallbacks)),
            None => missing.push(("fallbacks".to_owned(), New::Strings(fallbacks.clone()))),
        }
    }
    if !missing.is_empty() {
        insert_props(doc, &obj, missing, out);
    }
}

/// The splice that replaces the array node `array` with `items`, in the old array's layout.
fn replace_array(doc: &Doc<'_>, array: &CstNode, items: &[String]) -> Splice {
    let (start, end) = doc.range(array);
    let elements = array.as_array().map(|a| a.elements()).unwrap_or_default();
    let string_quotes: Vec<Quote> = elements
        .iter()
        .filter_map(|e| e.as_string_lit().map(|l| quote_of(&l.raw_value())))
        .collect();
    let q = if !string_quotes.is_empty() && string_quotes.iter().all(|q| *q == Quote::Single) {
        Quote::Single
    } else {
        Quote::Double
    };
    let quoted: Vec<String> = items.iter().map(|s| quote(s, q)).collect();
    let text = if items.is_empty() {
        "[]".to_owned()
    } else if is_multiline(array) {
        let elem_indent = match elements.first() {
            Some(first) => {
                let (fs, _) = doc.range(first);
                if doc.starts_line(fs) {
                    doc.line_indent(fs).to_owned()
                } else {
                    format!("{}{}", doc.line_indent(start), doc.indent_unit)
                }
            }
            None => format!("{}{}", doc.line_indent(start), doc.indent_unit),
        };
        let close = end - 1;
        let close_indent = if doc.starts_line(close) {
            doc.line_indent(close)
        } else {
            doc.line_indent(start)
        };
        let trailing = match elements.last() {
            Some(last) => doc
                .comma_after(doc.range(last).1)
                .is_some_and(|c| c < close),
            None => doc.trailing_commas,
        };
        let mut out = String::from("[");
        for (i, item) in quoted.iter().enumerate() {
            out.push_str(doc.newline);
            out.push_str(&elem_indent);
            out.push_str(item);
            if i + 1 < quoted.len() || trailing {
                out.push(',');
            }
        }
        out.push_str(doc.newline);
        out.push_str(close_indent);
        out.push(']');
        out
    } else {
        let inner = &doc.text[start + 1..end - 1];
        let pad = if inner.starts_with([' ', '\t']) && !inner.trim().is_empty() {
            " "
        } else {
            ""
        };
        format!("[{pad}{}{pad}]", quoted.join(", "))
    };
    Splice { start, end, text }
}

/// The text between key and value used by the object's last property (`: ` when unusual).
pub(crate) fn separator_of(doc: &Doc<'_>, obj: &CstObject) -> String {
    let found = obj.properties().into_iter().last().and_then(|p| {
        let name: CstNode = p.name()?.into();
        let value = p.value()?;
        let sep = &doc.text[doc.range(&name).1..doc.range(&value).0];
        (sep.trim_matches([' ', '\t']) == ":").then(|| sep.to_owned())
    });
    found.unwrap_or_else(|| ": ".to_owned())
}

/// Appends `props` as the last properties of `obj`, in the file's style, without touching any
/// other byte.
pub(crate) fn insert_props(
    doc: &Doc<'_>,
    obj: &CstObject,
    props: Vec<(String, New)>,
    out: &mut Vec<Splice>,
) {
    let node = CstNode::Container(obj.clone().into());
    let keys = key_style_of(obj).unwrap_or(doc.root_key_style);
    let sep = separator_of(doc, obj);
    let last = obj
        .properties()
        .last()
        .map(|p| CstNode::Container(p.clone().into()));
    let render_item = |i: usize, indent: &str, multiline: bool| -> String {
        let (k, v) = &props[i];
        format!(
            "{}{sep}{}",
            doc.key_text(k, keys),
            doc.render(v, indent, multiline, keys, &sep)
        )
    };
    insert_items(doc, &node, last, props.len(), &render_item, out);
}

/// Appends `items` as the last elements of `array`, in the file's style, without touching any
/// other byte. An object element is written on one line unless the array's last element is a
/// multi-line object; its keys are quoted like those of the last element that is an object.
pub(crate) fn insert_elements(
    doc: &Doc<'_>,
    array: &CstArray,
    items: Vec<New>,
    out: &mut Vec<Splice>,
) {
    let node = CstNode::Container(array.clone().into());
    let elements = array.elements();
    let last_object = elements.iter().rev().find_map(|e| e.as_object());
    let keys = last_object
        .as_ref()
        .and_then(key_style_of)
        .unwrap_or(doc.root_key_style);
    let sep = last_object
        .as_ref()
        .map_or_else(|| ": ".to_owned(), |o| separator_of(doc, o));
    let last = elements.last().cloned();
    let element_multiline = last
        .as_ref()
        .is_some_and(|l| l.as_object().is_some() && is_multiline(l));
    let render_item = |i: usize, indent: &str, multiline: bool| -> String {
        doc.render(
            &items[i],
            indent,
            multiline && element_multiline,
            keys,
            &sep,
        )
    };
    insert_items(doc, &node, last, items.len(), &render_item, out);
}

/// Appends `count` items (properties or elements, rendered by `render_item(index, indent of
/// their line, whether the container is multi-line)`) after `last`, the container's last item,
/// in the file's style: its newline kind, the indent of the existing items, its trailing-comma
/// habit. A single-line container stays on one line.
fn insert_items(
    doc: &Doc<'_>,
    node: &CstNode,
    last: Option<CstNode>,
    count: usize,
    render_item: &dyn Fn(usize, &str, bool) -> String,
    out: &mut Vec<Splice>,
) {
    let (os, oe) = doc.range(node);
    let close = oe - 1; // the `}` or `]`

    let render_props = |indent: &str, multiline: bool, trailing: bool| -> String {
        let nl_indent = format!("{}{indent}", doc.newline);
        let joiner = if multiline {
            format!(",{nl_indent}")
        } else {
            ", ".to_owned()
        };
        let mut s = (0..count)
            .map(|i| render_item(i, indent, multiline))
            .collect::<Vec<_>>()
            .join(&joiner);
        if trailing {
            s.push(',');
        }
        s
    };

    if let Some(last) = last {
        let (ls, le) = doc.range(&last);
        let comma = doc.comma_after(le).filter(|c| *c < close);
        if is_multiline(node) {
            let indent = if doc.starts_line(ls) {
                doc.line_indent(ls).to_owned()
            } else {
                format!("{}{}", doc.line_indent(os), doc.indent_unit)
            };
            let after = comma.map_or(le, |c| c + 1);
            let at = doc.skip_trivia(after, true);
            if comma.is_none() {
                out.push(Splice {
                    start: le,
                    end: le,
                    text: ",".into(),
                });
            }
            let body = render_props(&indent, true, comma.is_some());
            let at_line_end =
                at >= doc.text.len() || matches!(doc.text.as_bytes()[at], b'\n' | b'\r');
            // `"a": 1 }`: the spaces before the brace would end up trailing the line; they go.
            let start = if at == close && doc.text[after..at].chars().all(|c| c == ' ' || c == '\t')
            {
                after
            } else {
                at
            };
            let text = if at_line_end {
                format!("{}{indent}{body}", doc.newline)
            } else {
                // Something follows on the same line (the `}`, or a comment spanning lines): it
                // goes to the next line, the brace at the object's indent.
                let rest_indent = if at == close {
                    doc.line_indent(os)
                } else {
                    indent.as_str()
                };
                format!("{nl}{indent}{body}{nl}{rest_indent}", nl = doc.newline)
            };
            out.push(Splice {
                start,
                end: at,
                text,
            });
        } else {
            let body = render_props("", false, false);
            match comma {
                Some(c) => out.push(Splice {
                    start: c + 1,
                    end: c + 1,
                    text: format!(" {body},"),
                }),
                None => out.push(Splice {
                    start: le,
                    end: le,
                    text: format!(", {body}"),
                }),
            }
        }
        return;
    }

    // An empty object (maybe holding comments).
    let inner = &doc.text[os + 1..close];
    let inner_has_newline = inner.contains('\n');
    let rest_of_line_after = {
        let i = doc.skip_trivia(oe, true);
        let i = if doc.text.as_bytes().get(i) == Some(&b',') {
            doc.skip_trivia(i + 1, true)
        } else {
            i
        };
        i >= doc.text.len() || matches!(doc.text.as_bytes()[i], b'\n' | b'\r')
    };
    let multiline = inner_has_newline || rest_of_line_after;
    let base = doc.line_indent(os);
    if multiline {
        let indent = format!("{base}{}", doc.indent_unit);
        let body = render_props(&indent, true, doc.trailing_commas);
        if inner.trim().is_empty() {
            out.push(Splice {
                start: os + 1,
                end: close,
                text: format!("{nl}{indent}{body}{nl}{base}", nl = doc.newline),
            });
        } else if doc.starts_line(close) {
            // Comments inside: the new properties go on their own lines before the `}` line.
            let at = doc.line_start(close);
            out.push(Splice {
                start: at,
                end: at,
                text: format!("{indent}{body}{}", doc.newline),
            });
        } else {
            out.push(Splice {
                start: close,
                end: close,
                text: format!("{nl}{indent}{body}{nl}{base}", nl = doc.newline),
            });
        }
    } else {
        let body = render_props("", false, false);
        if inner.trim().is_empty() {
            out.push(Splice {
                start: os + 1,
                end: close,
                text: format!(" {body} "),
            });
        } else {
            out.push(Splice {
                start: close,
                end: close,
                text: format!(" {body} "),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn edit(primary: &str) -> ModelEdit {
        ModelEdit {
            primary: primary.to_owned(),
            fallbacks: None,
        }
    }

    #[test]
    fn conflict_is_retried_on_the_new_text_and_keeps_the_other_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openclaw.json");
        let original = "{\n  agents: { defaults: { model: { primary: 'x/0' } } },\n  gateway: { port: 1 },\n}\n";
        fs::write(&path, original).unwrap();
        // Someone else's edit lands after msclaw read the file, before it writes.
        let theirs = "{\n  // added by the user meanwhile\n  agents: { defaults: { model: { primary: 'x/0' } } },\n  gateway: { port: 2 },\n}\n";
        let mut calls = 0;
        let out = apply_with_hook(&path, &edit("x/new"), &mut |file| {
            calls += 1;
            assert_eq!(file, path.as_path());
            if calls == 1 {
                fs::write(file, theirs).unwrap();
            }
        })
        .unwrap();
        assert_eq!(out, EditOutcome::Written { file: path.clone() });
        assert_eq!(calls, 2, "one conflict, one retry");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            theirs.replace("'x/0'", "'x/new'")
        );
    }

    #[test]
    fn conflict_that_resolves_the_edit_ends_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openclaw.json");
        fs::write(&path, "{ agents: { defaults: { model: 'x/0' } } }").unwrap();
        let theirs = "{ agents: { defaults: { model: 'x/new' } } } // done by hand";
        let out = apply_with_hook(&path, &edit("x/new"), &mut |file| {
            if fs::read_to_string(file).unwrap() != theirs {
                fs::write(file, theirs).unwrap();
            }
        })
        .unwrap();
        assert_eq!(out, EditOutcome::Unchanged);
        assert_eq!(fs::read_to_string(&path).unwrap(), theirs);
    }

    #[test]
    fn endless_conflicts_give_up_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openclaw.json");
        fs::write(&path, "{ agents: { defaults: { model: 'x/0' } } }").unwrap();
        let mut n = 0;
        let err = apply_with_hook(&path, &edit("x/new"), &mut |file| {
            n += 1;
            fs::write(
                file,
                format!("{{ agents: {{ defaults: {{ model: 'x/0' }} }} }} // edit {n}"),
            )
            .unwrap();
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                EditError::Conflict {
                    attempts: MAX_ATTEMPTS,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(n, MAX_ATTEMPTS);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{{ agents: {{ defaults: {{ model: 'x/0' }} }} }} // edit {MAX_ATTEMPTS}")
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp files: {names:?}");
    }

    #[test]
    fn splices_at_one_position_keep_their_planned_order() {
        let s = apply_splices(
            "ab",
            vec![
                Splice {
                    start: 1,
                    end: 1,
                    text: "1".into(),
                },
                Splice {
                    start: 1,
                    end: 1,
                    text: "2".into(),
                },
                Splice {
                    start: 0,
                    end: 1,
                    text: "A".into(),
                },
            ],
        );
        assert_eq!(s, "A12b");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b'c\\", Quote::Double), r#""a\"b'c\\""#);
        assert_eq!(quote("a\"b'c\\", Quote::Single), r#"'a"b\'c\\'"#);
        assert_eq!(
            quote("\u{1}\t\u{2029}é", Quote::Double),
            "\"\\u0001\\t\\u2029é\""
        );
    }

    #[test]
    fn verify_catches_a_bad_plan() {
        // If a splice ever broke other data, `verify` refuses the text.
        let old = parse_value(
            "{ a: 1, agents: { defaults: { model: 'x' } } }",
            Path::new("t"),
        )
        .unwrap();
        let err = verify(
            &old,
            "{ a: 2, agents: { defaults: { model: 'y' } } }",
            FileLevel::Root,
            &edit("y"),
            Path::new("t"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("values other than"), "{err}");
        let err = verify(
            &old,
            "{ a: 1, agents: { defaults: { model: 'x' } } }",
            FileLevel::Root,
            &edit("y"),
            Path::new("t"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("reads back"), "{err}");
        verify(
            &old,
            "{ a: 1, agents: { defaults: { model: 'y' } } }",
            FileLevel::Root,
            &edit("y"),
            Path::new("t"),
        )
        .unwrap();
    }

    #[test]
    fn edit_in_files_standing_for_lower_levels() {
        let e = ModelEdit {
            primary: "p/n".into(),
            fallbacks: Some(vec!["p/f".into()]),
        };
        assert_eq!(
            edit_model_text_at("{\n  model: 'p/o',\n}\n", FileLevel::Defaults, &e).unwrap(),
            "{\n  model: {\n    primary: 'p/n',\n    fallbacks: [\"p/f\"],\n  },\n}\n"
        );
        assert_eq!(
            edit_model_text_at("// just the model\n'p/o'\n", FileLevel::Model, &edit("p/n"))
                .unwrap(),
            "// just the model\n'p/n'\n"
        );
        assert_eq!(
            edit_model_text_at("{ primary: \"p/o\" }", FileLevel::Model, &e).unwrap(),
            "{ primary: \"p/n\", fallbacks: [\"p/f\"] }"
        );
        assert_eq!(
            edit_model_text_at("{}\n", FileLevel::Agents, &edit("p/n")).unwrap(),
            "{\n  \"defaults\": {\n    \"model\": {\n      \"primary\": \"p/n\"\n    }\n  }\n}\n"
        );
    }
}
