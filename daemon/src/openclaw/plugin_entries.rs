//! The OpenClaw plugin's entries in OpenClaw's config (`msclawctl plugin install|uninstall`).
//!
//! Install only adds, through init's planner and the same style-preserving insertions: the
//! plugin's directory to `plugins.load.paths`, `plugins.entries.msclaw.enabled: true`, `msclaw` to
//! `plugins.allow` when the user keeps an allowlist (else the plugin would not load), and with
//! model choice `hooks.allowConversationAccess: true` and `config.chooseModel: true`. Every
//! other byte of the file stays. OpenClaw's own `openclaw plugins install` is not used: it
//! rewrites the whole file (comments lost, `meta` stamped, a `.bak` written).
//!
//! Each install that changed the file returns an [`InstallStep`]: the text it replaced and the
//! text it put there. Uninstall puts the replaced text back, last step first, and only when the
//! inserted text is found exactly once and installing again into the result gives the current
//! file back, so it removes exactly what install added. With nothing else changed in between, the
//! file is byte-identical to before install; a model switch msclawd made meanwhile stays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::include::resolved_value;
use super::init::InitError;
use super::init::planner::{Planner, root_object};
use super::insert::New;
use super::json5::{get, parse_cst, parse_value, read_config_text, split_bom};
use super::retry::{self, Attempt, edit_with_retry};
use super::splice::{Doc, Quote, apply_splices, quote};

/// The plugin's id: its manifest's `id`, the key under `plugins.entries`.
pub const PLUGIN_ID: &str = "msclaw";

/// What to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRequest {
    /// The plugin's directory as OpenClaw should load it (absolute).
    pub load_path: String,
    /// Register `before_model_resolve`: gives the plugin conversation access.
    pub choose_model: bool,
}

/// One install that changed the file: enough to take exactly that change out again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallStep {
    pub request: PluginRequest,
    /// The text install replaced (often empty or whitespace).
    pub replaced: String,
    /// The text install put in its place.
    pub inserted: String,
}

/// What install or uninstall would do (or did) to the config.
#[derive(Debug, Clone)]
pub struct PluginPlan {
    pub config: PathBuf,
    pub old: String,
    pub new: String,
    /// One line per entry: `added …` or `present …` (install only).
    pub items: Vec<String>,
    /// The install's change (`None` when nothing changed, and for uninstall).
    pub step: Option<InstallStep>,
}

impl PluginPlan {
    pub fn is_noop(&self) -> bool {
        self.old == self.new
    }
}

/// Why the plugin's entries could not be added or removed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PluginEntriesError {
    #[error(transparent)]
    Init(#[from] InitError),
    /// An object install would add to comes from a `$include`.
    #[error(
        "{path}: {json_path} comes from a $include; msclawctl plugin install adds only to {path} \
         itself. Add the plugin's entries to the included file by hand (openclaw-plugin/README.md)"
    )]
    Include { path: PathBuf, json_path: String },
    /// A value the user set says otherwise; msclaw does not overwrite it.
    #[error("{path}: {json_path} is {found}; msclawctl only adds, so set it to true or remove it")]
    Conflicting {
        path: PathBuf,
        json_path: String,
        found: String,
    },
    /// Uninstall cannot tell exactly what install added any more.
    #[error(
        "{path}: the text msclawctl plugin install added was changed or moved since; nothing was \
         removed. Remove plugins.entries.msclaw and the plugin's plugins.load.paths entry by hand"
    )]
    Changed { path: PathBuf },
}

fn from_init(e: InitError) -> PluginEntriesError {
    match e {
        InitError::Include { path, json_path } => PluginEntriesError::Include { path, json_path },
        e => PluginEntriesError::Init(e),
    }
}

/// Adds the plugin's entries to `text` (a config whose whole value is `resolved`): the new text
/// and one line per entry.
pub fn install_text(
    text: &str,
    resolved: &Value,
    path: &Path,
    req: &PluginRequest,
) -> Result<(String, Vec<String>), PluginEntriesError> {
    let (bom, body) = split_bom(text);
    let root = parse_cst(body, path).map_err(InitError::from)?;
    let root_obj = root_object(&root, path)?;
    let mut planner = Planner::new(Doc::new(body, &root), resolved, path);
    let mut items = Vec::new();
    // Missing objects are created once, whatever number of entries go into them.
    let mut leaves: Vec<(Vec<&str>, New)> = Vec::new();
    let dir = New::Raw(quote(&req.load_path, Quote::Double));
    let paths_keys = ["plugins", "load", "paths"];
    let status = match string_list(resolved, &paths_keys, path)? {
        None => {
            let paths = New::Strings(vec![req.load_path.clone()]);
            leaves.push((paths_keys.to_vec(), paths));
            "added"
        }
        Some(paths) if paths.contains(&req.load_path) => "present",
        Some(_) => {
            planner
                .add_elements(&root_obj, &paths_keys, vec![dir])
                .map_err(from_init)?;
            "added"
        }
    };
    items.push(format!("{status} plugins.load.paths {}", req.load_path));
    if let Some(allow) = string_list(resolved, &["plugins", "allow"], path)?
        && !allow.iter().any(|id| id == PLUGIN_ID)
    {
        let id = New::Raw(quote(PLUGIN_ID, Quote::Double));
        planner
            .add_elements(&root_obj, &["plugins", "allow"], vec![id])
            .map_err(from_init)?;
        items.push(format!("added plugins.allow {PLUGIN_ID}"));
    }
    for keys in wanted_flags(req) {
        let full: Vec<&str> = ["plugins", "entries", PLUGIN_ID]
            .into_iter()
            .chain(keys.iter().copied())
            .collect();
        let status = match get(resolved, &full) {
            Some(Value::Bool(true)) => "present",
            None => {
                leaves.push((full.clone(), New::Raw("true".into())));
                "added"
            }
            Some(other) => {
                return Err(PluginEntriesError::Conflicting {
                    path: path.to_path_buf(),
                    json_path: full.join("."),
                    found: other.to_string(),
                });
            }
        };
        items.push(format!("{status} {}: true", full.join(".")));
    }
    for (existing, props) in group_by_existing(resolved, leaves, path)? {
        planner
            .add_props(&root_obj, &existing, props)
            .map_err(from_init)?;
    }
    let new_body = apply_splices(body, planner.splices());
    Ok((format!("{bom}{new_body}"), items))
}

/// New properties to add under the object at a key path that exists.
type Group<'k> = (Vec<&'k str>, Vec<(String, New)>);

/// Groups the entries to add by the deepest object on their way that exists, each group one
/// tree of new properties (so a missing object is created once).
fn group_by_existing<'k>(
    resolved: &Value,
    leaves: Vec<(Vec<&'k str>, New)>,
    path: &Path,
) -> Result<Vec<Group<'k>>, PluginEntriesError> {
    let mut groups: Vec<Group<'k>> = Vec::new();
    for (keys, value) in leaves {
        let mut depth = 0;
        while depth + 1 < keys.len() {
            match get(resolved, &keys[..=depth]) {
                None => break,
                Some(Value::Object(_)) => depth += 1,
                Some(_) => {
                    return Err(InitError::Invalid {
                        path: path.to_path_buf(),
                        message: format!("{} is not an object", keys[..=depth].join(".")),
                    }
                    .into());
                }
            }
        }
        let existing = keys[..depth].to_vec();
        let index = match groups.iter().position(|(k, _)| *k == existing) {
            Some(i) => i,
            None => {
                groups.push((existing, Vec::new()));
                groups.len() - 1
            }
        };
        insert_leaf(&mut groups[index].1, &keys[depth..], value);
    }
    Ok(groups)
}

/// Puts `value` at `keys` into the tree `props`, creating the objects on the way once.
fn insert_leaf(props: &mut Vec<(String, New)>, keys: &[&str], value: New) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    if rest.is_empty() {
        props.push(((*first).to_owned(), value));
        return;
    }
    let at = props
        .iter()
        .position(|(k, v)| k == first && matches!(v, New::Object(_)));
    let at = at.unwrap_or_else(|| {
        props.push(((*first).to_owned(), New::Object(Vec::new())));
        props.len() - 1
    });
    if let New::Object(inner) = &mut props[at].1 {
        insert_leaf(inner, rest, value);
    }
}

/// The `true` flags under `plugins.entries.msclaw`.
fn wanted_flags(req: &PluginRequest) -> Vec<&'static [&'static str]> {
    let mut flags: Vec<&'static [&'static str]> = vec![&["enabled"]];
    if req.choose_model {
        flags.push(&["hooks", "allowConversationAccess"]);
        flags.push(&["config", "chooseModel"]);
    }
    flags
}

/// The strings of the array at `keys`; `None` when it is absent.
fn string_list(
    resolved: &Value,
    keys: &[&str],
    path: &Path,
) -> Result<Option<Vec<String>>, PluginEntriesError> {
    match get(resolved, keys) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )),
        Some(_) => Err(InitError::Invalid {
            path: path.to_path_buf(),
            message: format!("{} is not an array", keys.join(".")),
        }
        .into()),
    }
}

/// What install would do to the config at `config_path`. Reads only.
pub fn plan_install(
    config_path: &Path,
    req: &PluginRequest,
) -> Result<PluginPlan, PluginEntriesError> {
    let old = read_config_text(config_path).map_err(InitError::from)?;
    let resolved = resolved_value(config_path, &HashMap::new()).map_err(InitError::from)?;
    let (new, items) = install_text(&old, &resolved, config_path, req)?;
    let check = parse_value(&new, config_path);
    if let Err(e) = check {
        return Err(InitError::Verify {
            path: config_path.to_path_buf(),
            message: format!("the new text does not parse: {e}"),
        }
        .into());
    }
    let step = (old != new).then(|| {
        let (replaced, inserted) = changed_span(&old, &new);
        InstallStep {
            request: req.clone(),
            replaced: replaced.to_owned(),
            inserted: inserted.to_owned(),
        }
    });
    Ok(PluginPlan {
        config: config_path.to_path_buf(),
        old,
        new,
        items,
        step,
    })
}

/// The part of `old` and of `new` between their common prefix and common suffix.
fn changed_span<'a>(old: &'a str, new: &'a str) -> (&'a str, &'a str) {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let mut prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let max_suffix = a.len().min(b.len()) - prefix;
    let mut suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    while !old.is_char_boundary(a.len() - suffix) || !new.is_char_boundary(b.len() - suffix) {
        suffix -= 1;
    }
    (
        &old[prefix..a.len() - suffix],
        &new[prefix..b.len() - suffix],
    )
}

/// Takes `steps` (oldest first) out of `text`, last step first. Each step's inserted text must be
/// there exactly once, and installing its request into the result must give `text` back.
pub fn uninstall_text(
    text: &str,
    steps: &[InstallStep],
    path: &Path,
) -> Result<String, PluginEntriesError> {
    let changed = || PluginEntriesError::Changed {
        path: path.to_path_buf(),
    };
    let mut current = text.to_owned();
    for step in steps.iter().rev() {
        let mut found = current.match_indices(&step.inserted);
        let (Some((at, _)), None) = (found.next(), found.next()) else {
            return Err(changed());
        };
        let mut before = current.clone();
        before.replace_range(at..at + step.inserted.len(), &step.replaced);
        let resolved = parse_value(&before, path).map_err(|_| changed())?;
        let (again, _) = install_text(&before, &resolved, path, &step.request)?;
        if again != current {
            return Err(changed());
        }
        current = before;
    }
    Ok(current)
}

/// Adds the plugin's entries, written only if the file still holds what was read (else planned
/// again). Returns the plan carried out; a no-op plan writes nothing.
pub fn apply_install(
    config_path: &Path,
    req: &PluginRequest,
) -> Result<PluginPlan, PluginEntriesError> {
    edit_with_retry(config_path, || {
        let plan = plan_install(config_path, req)?;
        write_if_unchanged(plan)
    })
}

/// What uninstall would do: the config with `steps` taken out. Reads only.
pub fn plan_uninstall(
    config_path: &Path,
    steps: &[InstallStep],
) -> Result<PluginPlan, PluginEntriesError> {
    let old = read_config_text(config_path).map_err(InitError::from)?;
    let new = uninstall_text(&old, steps, config_path)?;
    let items = Vec::new();
    Ok(PluginPlan {
        config: config_path.to_path_buf(),
        old,
        new,
        items,
        step: None,
    })
}

/// Takes `steps` out of the config, written only if the file still holds what was read.
pub fn apply_uninstall(
    config_path: &Path,
    steps: &[InstallStep],
) -> Result<PluginPlan, PluginEntriesError> {
    edit_with_retry(config_path, || {
        let plan = plan_uninstall(config_path, steps)?;
        write_if_unchanged(plan)
    })
}

fn write_if_unchanged(plan: PluginPlan) -> Result<Attempt<PluginPlan>, PluginEntriesError> {
    if plan.is_noop() {
        return Ok(Attempt::Done(plan));
    }
    let written = retry::replace_if_unchanged(
        &plan.config,
        &[plan.new.as_bytes()],
        Some(plan.old.as_bytes()),
    )
    .map_err(InitError::from)?;
    Ok(match written {
        Attempt::Done(()) => Attempt::Done(plan),
        Attempt::Changed => Attempt::Changed,
    })
}

/// The plugin's settings as the whole config (includes resolved) has them, for `doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginSettings {
    /// `plugins.enabled` (OpenClaw's default: true).
    pub plugins_enabled: Option<bool>,
    /// `plugins.allow`, when the user keeps an allowlist.
    pub allow: Option<Vec<String>>,
    pub deny: Vec<String>,
    pub load_paths: Vec<String>,
    /// Whether `plugins.entries.msclaw` exists at all.
    pub has_entry: bool,
    /// `plugins.entries.msclaw.enabled`.
    pub enabled: Option<bool>,
    pub allow_conversation_access: bool,
    pub choose_model: bool,
}

/// Reads the plugin's settings from the config at `config_path`.
pub fn plugin_settings(config_path: &Path) -> Result<PluginSettings, super::ConfigError> {
    let resolved = resolved_value(config_path, &HashMap::new())?;
    let strings = |keys: &[&str]| -> Option<Vec<String>> {
        Some(
            get(&resolved, keys)?
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    };
    let entry = |keys: &[&str]| {
        let full: Vec<&str> = ["plugins", "entries", PLUGIN_ID]
            .into_iter()
            .chain(keys.iter().copied())
            .collect();
        get(&resolved, &full).and_then(Value::as_bool)
    };
    Ok(PluginSettings {
        plugins_enabled: get(&resolved, &["plugins", "enabled"]).and_then(Value::as_bool),
        allow: strings(&["plugins", "allow"]),
        deny: strings(&["plugins", "deny"]).unwrap_or_default(),
        load_paths: strings(&["plugins", "load", "paths"]).unwrap_or_default(),
        has_entry: get(&resolved, &["plugins", "entries", PLUGIN_ID]).is_some(),
        enabled: entry(&["enabled"]),
        allow_conversation_access: entry(&["hooks", "allowConversationAccess"]) == Some(true),
        choose_model: entry(&["config", "chooseModel"]) == Some(true),
    })
}

impl From<retry::Conflict> for PluginEntriesError {
    fn from(c: retry::Conflict) -> Self {
        PluginEntriesError::Init(c.into())
    }
}

#[cfg(test)]
mod tests;
