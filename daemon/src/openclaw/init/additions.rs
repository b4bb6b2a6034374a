//! The additions to the config file: the provider (or its missing fields and models) and an alias
//! entry per model. Only absent things are added; whatever is there is reported as present.

use std::collections::BTreeMap;
use std::path::Path;

use jsonc_parser::cst::CstObject;
use serde_json::{Map, Value};

use crate::openclaw::config::alias_key;
use crate::openclaw::insert::New;
use crate::openclaw::json5::{get, parse_cst, split_bom};
use crate::openclaw::splice::{Doc, Quote, apply_splices, quote};

use super::planner::{Planner, root_object};
use super::report::{InitError, InitItem, ItemKind, ItemStatus};
use super::request::{ApiKey, InitRequest, ModelSpec};

/// Adds the provider (or its missing fields and models) and the alias entries to `text`, which
/// is the config file whose resolved value is `resolved`.
pub(crate) fn add_entries(
    text: &str,
    resolved: &Value,
    path: &Path,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
    warnings: &mut Vec<String>,
) -> Result<String, InitError> {
    let (bom, body) = split_bom(text);
    let root = parse_cst(body, path)?;
    let root_obj = root_object(&root, path)?;
    let mut planner = Planner::new(Doc::new(body, &root), resolved, path);
    add_provider(
        &mut planner,
        &root_obj,
        resolved,
        path,
        req,
        items,
        warnings,
    )?;
    add_aliases(
        &mut planner,
        &root_obj,
        resolved,
        path,
        req,
        items,
        warnings,
    )?;
    let splices = planner.splices();
    Ok(format!("{bom}{}", apply_splices(body, splices)))
}

/// The provider: added whole when missing, else completed.
fn add_provider(
    planner: &mut Planner<'_>,
    root_obj: &CstObject,
    resolved: &Value,
    path: &Path,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
    warnings: &mut Vec<String>,
) -> Result<(), InitError> {
    let provider = &req.provider;
    let provider_path = ["models", "providers", provider.as_str()];
    match get(resolved, &provider_path) {
        None => {
            planner.add_props(
                root_obj,
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
            Ok(())
        }
        Some(Value::Object(existing)) => {
            items.push(InitItem::new(
                ItemKind::Provider,
                provider.clone(),
                ItemStatus::Present,
            ));
            complete_provider(planner, root_obj, existing, req, items, warnings)?;
            add_models(planner, root_obj, existing, path, req, items)
        }
        Some(_) => Err(InitError::Invalid {
            path: path.to_path_buf(),
            message: format!("models.providers.{provider} is not an object"),
        }),
    }
}

/// The fields an existing provider lacks. Only absent fields are added: one that is there, even
/// empty, is the user's (a second key of the same name would silently override it).
fn complete_provider(
    planner: &mut Planner<'_>,
    root_obj: &CstObject,
    existing: &Map<String, Value>,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
    warnings: &mut Vec<String>,
) -> Result<(), InitError> {
    let provider = &req.provider;
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
    for (name, add) in [("baseUrl", base), ("api", api), ("apiKey", key)] {
        let status = if add {
            ItemStatus::Added
        } else {
            ItemStatus::Present
        };
        let item = InitItem::new(ItemKind::ProviderField, name, status);
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
    let models_missing = existing.get("models").is_none();
    let fields = provider_props(req, base, api, key, models_missing);
    if !fields.is_empty() {
        let provider_path = ["models", "providers", provider.as_str()];
        planner.add_props(root_obj, &provider_path, fields)?;
    }
    Ok(())
}

/// The asked models an existing provider does not list yet (a missing `models` came with the
/// provider's fields).
fn add_models(
    planner: &mut Planner<'_>,
    root_obj: &CstObject,
    existing: &Map<String, Value>,
    path: &Path,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
) -> Result<(), InitError> {
    let provider = &req.provider;
    let listed_ids: Vec<&str> = match existing.get("models") {
        None => Vec::new(),
        Some(Value::Array(listed)) => listed
            .iter()
            .filter_map(|m| m.get("id")?.as_str())
            .collect(),
        Some(_) => {
            return Err(InitError::Invalid {
                path: path.to_path_buf(),
                message: format!("models.providers.{provider}.models is not an array"),
            });
        }
    };
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
    if existing.get("models").is_some() && !new_elements.is_empty() {
        let models_path = ["models", "providers", provider.as_str(), "models"];
        planner.add_elements(root_obj, &models_path, new_elements)?;
    }
    Ok(())
}

/// Aliases: one entry per model under agents.defaults.models (in builds where that map is the
/// allowlist, a model missing from it could not be picked, so a model without an alias gets an
/// empty entry).
fn add_aliases(
    planner: &mut Planner<'_>,
    root_obj: &CstObject,
    resolved: &Value,
    path: &Path,
    req: &InitRequest,
    items: &mut Vec<InitItem>,
    warnings: &mut Vec<String>,
) -> Result<(), InitError> {
    let aliases_path = ["agents", "defaults", "models"];
    let existing = match get(resolved, &aliases_path) {
        None => Map::new(),
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
        .filter_map(|(r, params)| Some((alias_key(params.get("alias")?.as_str()?), r.clone())))
        .collect();
    let mut new_aliases = Vec::new();
    for m in &req.models {
        let full = m.full_ref(&req.provider);
        if let Some(params) = existing.get(&full) {
            let detail = params
                .get("alias")
                .and_then(Value::as_str)
                .map_or_else(|| "no alias".to_owned(), |a| format!("alias {a}"));
            items.push(InitItem::new(ItemKind::Alias, full, ItemStatus::Present).with(detail));
            continue;
        }
        let alias = match &m.alias {
            // OpenClaw matches aliases ignoring case: `GLM` would shadow an existing `glm`.
            Some(a) => match taken.get(&alias_key(a)) {
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
        if let Some(a) = &alias {
            taken.insert(alias_key(a), full.clone());
        }
        items.push(
            InitItem::new(ItemKind::Alias, full.clone(), ItemStatus::Added).with(
                alias
                    .as_ref()
                    .map_or_else(|| "no alias".to_owned(), |a| format!("alias {a}")),
            ),
        );
        new_aliases.push((full, alias_entry(alias.as_deref())));
    }
    if !new_aliases.is_empty() {
        planner.add_props(root_obj, &aliases_path, new_aliases)?;
    }
    Ok(())
}

/// `{ alias: "glm5" }` (or `{}`), on one line, one entry a line, as in the guide.
fn alias_entry(alias: Option<&str>) -> New {
    let entry = match alias {
        Some(a) => New::Object(vec![(
            "alias".to_owned(),
            New::Raw(quote(a, Quote::Double)),
        )]),
        None => New::Object(Vec::new()),
    };
    New::Inline(Box::new(entry))
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
