//! What `msclawctl init` adds to OpenClaw's config: the ModelScope provider with its models, an
//! alias per model under `agents.defaults.models`, and `agents.defaults.model.primary`.
//!
//! It only adds. Whatever is already there (the provider, a model in its list, an alias entry, a
//! provider field) is left alone and reported as present; every existing byte and comment stays.
//! The machinery is the splice toolkit's ([`crate::openclaw::splice`]): the CST finds the objects
//! and arrays and tells the file's style (newline kind, indent, trailing commas, key quoting), and
//! the change is a few text splices. `primary` goes through the model edit
//! ([`crate::openclaw::model_edit`]).
//!
//! What is present is decided on the whole config, `$include`s resolved; additions go into the
//! config file itself. When something to add belongs in an object that only an included file
//! spells out, init stops with [`InitError::Include`] rather than shadow it. `primary` follows the
//! model edit's rule (it may live in an included file).
//!
//! Before anything is written the new text must parse, the whole config must read back with
//! every asked model listed, aliased and the primary in place, and the old config must be
//! contained in the new one (nothing but `agents.defaults.model` changed).
//!
//! Secrets: a literal API key is held in [`Secret`] (no `Debug`), never appears in an error, an
//! item or a warning, and [`mask_secrets`] hides every key-like value when a diff is shown.

mod additions;
mod online;
pub(crate) mod planner;
mod report;
mod request;
mod verify;

use std::collections::HashMap;
use std::path::Path;

pub use self::online::missing_from_listing;
pub use self::report::{FileChange, InitError, InitItem, InitPlan, ItemKind, ItemStatus};
pub use self::request::{
    ApiKey, GUIDE_MODELS, InitRequest, ModelSpec, Secret, derive_alias, guide_models,
    parse_model_list,
};
pub use crate::openclaw::mask::mask_secrets;

use self::additions::add_entries;
use self::request::check_request;
use self::verify::{check_after, verify};
use super::atomic_write::create_private_dir;
use super::config::{self, OpenClawConfig, load_with_overrides};
use super::include::{Reader, resolved_value};
use super::json5::{ConfigError, parse_value, read_config_text, split_bom};
use super::locate::locate_model;
use super::model_edit::{self, ModelEdit};
use super::retry::{self, Attempt, edit_with_retry};
use super::warnings::config_warnings;

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
    let created = match &old {
        None => Some("mode 0600"),
        Some(_) if blank => Some("the file was empty"),
        Some(_) => None,
    };
    if let Some(detail) = created {
        items.push(
            InitItem::new(
                ItemKind::File,
                config_path.display().to_string(),
                ItemStatus::Added,
            )
            .with(detail),
        );
    }
    let mut warnings = Vec::new();
    let new_text = add_entries(&text, &before, config_path, req, &mut items, &mut warnings)?;
    let changes = primary_changes(
        config_path,
        old,
        new_text,
        before_cfg.primary.as_ref(),
        req,
        &mut items,
    )?;

    let after_cfg = verify(config_path, &before, &changes, req)?;
    warnings.extend(init_warnings(&after_cfg, req));
    if let Some(warning) = key_exposure_warning(config_path, req, &items) {
        warnings.push(warning);
    }
    Ok(InitPlan {
        config: config_path.to_path_buf(),
        changes,
        items,
        warnings,
    })
}

/// The files to write: the config (`old` → `new_text`) with the primary set, through the model
/// edit; the primary may live in an included file, which then is a second change.
fn primary_changes(
    config_path: &Path,
    old: Option<String>,
    mut new_text: String,
    current: Option<&String>,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
) -> Result<Vec<FileChange>, InitError> {
    let mut other_change: Option<FileChange> = None;
    if let Some(edit) = primary_edit(current, req, items) {
        let with_root = HashMap::from([(config_path.to_path_buf(), new_text.clone())]);
        let location = locate_model(&mut Reader::new(&with_root), config_path)?;
        if location.file == config_path {
            new_text = model_edit::edit_model_text_at(&new_text, location.level, &edit)?;
        } else {
            let old_model_text = read_config_text(&location.file)?;
            let new_model_text =
                model_edit::edit_model_text_at(&old_model_text, location.level, &edit)?;
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
            old,
            new: new_text,
        });
    }
    // The provider's file first: the primary never names a model that is not listed yet.
    changes.extend(other_change);
    Ok(changes)
}

/// A literal key written into a config other users can read.
fn key_exposure_warning(
    config_path: &Path,
    req: &InitRequest,
    items: &[InitItem],
) -> Option<String> {
    let key_written = items.iter().any(|i| {
        i.status == ItemStatus::Added
            && (i.kind == ItemKind::Provider
                || (i.kind == ItemKind::ProviderField && i.name == "apiKey"))
    });
    let ApiKey::Literal(_) = req.api_key else {
        return None;
    };
    let mode = crate::openclaw::atomic_write::file_mode(config_path)?;
    (key_written && mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by other users (mode {mode:04o}) and now holds the API key; \
             consider chmod 600",
            config_path.display()
        )
    })
}

/// Plans and writes. Each file is replaced atomically and only if it still holds what the plan
/// read (else the plan is made again, up to [`retry::MAX_ATTEMPTS`] times); its mode is kept, and
/// a created file gets 0600 (its directory 0700). Returns the plan that was carried out: a no-op
/// plan when everything was present (nothing written, not even the mtime).
pub fn apply_init(config_path: &Path, req: &InitRequest) -> Result<InitPlan, InitError> {
    edit_with_retry(config_path, || {
        let plan = plan_init(config_path, req)?;
        Ok(match write_plan(&plan)? {
            Attempt::Done(()) => Attempt::Done(plan),
            Attempt::Changed => Attempt::Changed,
        })
    })
}

fn write_plan(plan: &InitPlan) -> Result<Attempt<()>, InitError> {
    for change in &plan.changes {
        if change.old.is_none()
            && let Some(dir) = change.path.parent()
            && !dir.as_os_str().is_empty()
        {
            create_private_dir(dir).map_err(|source| InitError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let written = retry::replace_if_unchanged(
            &change.path,
            &[change.new.as_bytes()],
            change.old.as_deref().map(str::as_bytes),
        )?;
        if let Attempt::Changed = written {
            return Ok(Attempt::Changed);
        }
    }
    Ok(Attempt::Done(()))
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
    let before_cfg = config::parse(text, path)?;
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    let mut new_text = add_entries(text, &before, path, req, &mut items, &mut warnings)?;
    if let Some(edit) = primary_edit(before_cfg.primary.as_ref(), req, &mut items) {
        new_text = model_edit::edit_model_text(&new_text, &edit)?;
    }
    let after = parse_value(&new_text, path).map_err(|e| InitError::Verify {
        path: path.to_path_buf(),
        message: format!("the new text does not parse: {e}"),
    })?;
    check_after(path, &before, &after, req)?;
    let after_cfg = config::parse(&new_text, path)?;
    warnings.extend(init_warnings(&after_cfg, req));
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

/// What in the resulting config keeps the rotation from working as init set it up, in init's
/// wording.
fn init_warnings(cfg: &OpenClawConfig, req: &InitRequest) -> Vec<String> {
    config_warnings(cfg, &req.refs())
        .iter()
        .map(|w| w.advice(&req.provider))
        .collect()
}

#[cfg(test)]
mod tests;
