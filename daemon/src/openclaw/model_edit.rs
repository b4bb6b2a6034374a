//! Changes `agents.defaults.model` in OpenClaw's config and nothing else, as a few
//! style-preserving [splices](super::splice).
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

use serde_json::{Map, Value};

use super::atomic_write::WriteError;
use super::config::{self, load_with_overrides};
use super::include::Reader;
use super::json5::{
    ConfigError, check_syntax, parse_cst, parse_outline_value, parse_value, read_config_text,
    split_bom,
};
use super::locate::{FileLevel, locate_model, model_at};
use super::model_splices::plan;
use super::outline::{Outline, cut_top_level};
use super::retry::{self, Attempt, Conflict, edit_with_retry};
use super::splice::{Doc, Spliced, apply_splices};
use super::syntax_memo;

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
    /// What an edit takes out of a file could not be kept first (see `base_url::KeepFirst`).
    #[error("{0}; nothing was written")]
    NotKept(String),
    /// The file kept changing under msclaw.
    #[error("{path} changed during each of {attempts} attempts to edit it; nothing was written")]
    Conflict { path: PathBuf, attempts: u32 },
}

impl From<Conflict> for EditError {
    fn from(c: Conflict) -> Self {
        EditError::Conflict {
            path: c.path,
            attempts: c.attempts,
        }
    }
}

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
    Ok(edit_text(text, level, edit, Path::new(TEXT_PATH))?
        .map_or_else(|| text.to_owned(), |edited| edited.to_text()))
}

/// Puts `edit` into the config at `config_path`, in the file that holds `agents.defaults.model`
/// (following single-file `$include`s). Written atomically; redone on the new text when the file
/// changed between reading and writing (up to [`retry::MAX_ATTEMPTS`]).
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
    edit_with_retry(config_path, || {
        let original = read_config_text(config_path)?;
        if original.contains("include") {
            return attempt_with_includes(config_path, edit, before_write);
        }
        // No `$include` (not even one spelled with escapes: `include` is not in the text): the
        // file is the whole config and holds the model. One read, one syntax check, one splice.
        let Some(edited) = edit_text(&original, FileLevel::Root, edit, config_path)? else {
            return Ok(Attempt::Done(EditOutcome::Unchanged));
        };
        before_write(config_path);
        write_if_unchanged(config_path, &edited, &original)
    })
}

/// One attempt at the edit of a config that may `$include` files: the whole config is read to
/// find the file holding the model, and read again with the edit in place before it is written.
fn attempt_with_includes(
    config_path: &Path,
    edit: &ModelEdit,
    before_write: &mut dyn FnMut(&Path),
) -> Result<Attempt<EditOutcome>, EditError> {
    let current = config::load(config_path)?;
    if satisfies(&current.primary, &current.fallbacks, edit) {
        return Ok(Attempt::Done(EditOutcome::Unchanged));
    }
    let no_overrides = HashMap::new();
    let location = locate_model(&mut Reader::new(&no_overrides), config_path)?;
    let original = read_config_text(&location.file)?;
    let edited = edit_text(&original, location.level, edit, &location.file)?;
    let new_text = edited
        .as_ref()
        .map_or_else(|| original.clone(), Edited::to_text);
    verify_whole_config(config_path, &location.file, &new_text, edit)?;
    before_write(&location.file);
    match &edited {
        Some(edited) => write_if_unchanged(&location.file, edited, &original),
        None => write_if_unchanged(&location.file, &Edited::unchanged(&original), &original),
    }
}

/// Writes the edited text to `file` if it still holds `original`.
fn write_if_unchanged(
    file: &Path,
    edited: &Edited<'_>,
    original: &str,
) -> Result<Attempt<EditOutcome>, EditError> {
    let pieces = edited.pieces();
    let written = retry::replace_if_unchanged(file, &pieces, Some(original.as_bytes()))?;
    if let Attempt::Done(()) = written {
        // It passes the check (see `edit_text`): the read that follows the switch skips it.
        syntax_memo::remember(&pieces);
    }
    Ok(match written {
        Attempt::Done(()) => Attempt::Done(EditOutcome::Written {
            file: file.to_path_buf(),
        }),
        Attempt::Changed => Attempt::Changed,
    })
}

/// The whole config, with the edited `file` holding `new_text`, must say what was asked (a key
/// beside a `$include`, or a later file of an include array, could still override it).
fn verify_whole_config(
    config_path: &Path,
    file: &Path,
    new_text: &str,
    edit: &ModelEdit,
) -> Result<(), EditError> {
    let overrides = HashMap::from([(file.to_path_buf(), new_text.to_owned())]);
    let after = load_with_overrides(config_path, &overrides).map_err(|e| EditError::Verify {
        path: file.to_path_buf(),
        message: format!("the edited config does not load: {e}"),
    })?;
    if !satisfies(&after.primary, &after.fallbacks, edit) {
        return Err(EditError::Verify {
            path: file.to_path_buf(),
            message: format!(
                "after the edit the config reads primary {:?}, fallbacks {:?}; something else \
                 in the config overrides agents.defaults.model",
                after.primary, after.fallbacks
            ),
        });
    }
    Ok(())
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

/// One file's text with the edit in place: its byte-order mark and its body with the splices.
struct Edited<'t> {
    bom: &'t str,
    body: Spliced<'t>,
}

impl<'t> Edited<'t> {
    /// `text` as it is (a file whose edit is elsewhere, written back to the same bytes).
    fn unchanged(text: &'t str) -> Self {
        let (bom, body) = split_bom(text);
        Edited {
            bom,
            body: Spliced::new(body, Vec::new()),
        }
    }

    fn pieces(&self) -> Vec<&[u8]> {
        let body = self.body.pieces().into_iter().map(str::as_bytes);
        std::iter::once(self.bom.as_bytes()).chain(body).collect()
    }

    fn to_text(&self) -> String {
        format!("{}{}", self.bom, self.body.to_text())
    }
}

/// The edit of one file's text; `path` is only for messages. `None`: the text already says this.
///
/// In a whole config the top-level values other than `agents` (and `$include`) are cut first
/// (see [`outline`](super::outline)): the edit is planned and checked on that small copy, and its
/// splices, which stay out of the cut values, are moved to the original text. So a
/// megabyte-sized provider catalogue costs one syntax check and one copy, not a CST and parses.
/// The new text needs no second syntax check: the original passed it, the edited copy passes it
/// (in [`verify`]), and each cut value sits where a value stood in both.
fn edit_text<'t>(
    text: &'t str,
    level: FileLevel,
    edit: &ModelEdit,
    path: &Path,
) -> Result<Option<Edited<'t>>, EditError> {
    check_edit(edit)?;
    let (bom, body) = split_bom(text);
    let outline = match level {
        FileLevel::Root => {
            check_syntax(body, path)?;
            cut_top_level(body, &|key, _| key == "agents" || key == "$include")
        }
        _ => None,
    };
    let work = outline.as_ref().map_or(body, |o| o.text.as_str());
    let old_value = match &outline {
        Some(o) => parse_outline_value(o, body, path)?,
        None => parse_value(work, path)?,
    };
    let current = model_at(&old_value, level, path)?;
    if satisfies(&current.primary, &current.fallbacks, edit) {
        return Ok(None);
    }
    let root = parse_cst(work, path)?;
    let doc = Doc::new(work, &root);
    let mut splices = Vec::new();
    plan(&doc, &root, level, edit, &current, path, &mut splices)?;
    drop(root);
    let new_work = apply_splices(work, splices.clone());
    verify(&old_value, &new_work, level, edit, path)?;
    drop(new_work);
    // The splices go into the original body: through the outline's cuts when values were cut
    // (where the splices must stay out of them), as they are otherwise (the outline is the body).
    if let Some(o) = outline.filter(Outline::is_cut) {
        if splices.iter().any(|s| o.touches_cut(s.start, s.end)) {
            return Err(EditError::Verify {
                path: path.to_path_buf(),
                message: "the edit reaches outside agents".into(),
            });
        }
        for s in &mut splices {
            s.start = o.original_offset(s.start);
            s.end = o.original_offset(s.end);
        }
    }
    Ok(Some(Edited {
        bom,
        body: Spliced::new(body, splices),
    }))
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
        let cfg = config::parse(new_text, path).map_err(|e| fail(e.to_string()))?;
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

#[cfg(test)]
mod tests;
