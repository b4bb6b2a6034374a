//! Checks of init's result before anything is written: the planned files load, the asked models
//! are listed and aliased, the primary is one of them, and the old config is contained in the
//! new one (nothing but `agents.defaults.model` changed). Messages name paths only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::openclaw::config::{OpenClawConfig, load_with_overrides};
use crate::openclaw::include::resolved_value;
use crate::openclaw::json5::get;

use super::report::{FileChange, InitError};
use super::request::InitRequest;

/// Checks the planned files together: they load, the asked models are listed and aliased, the
/// primary is one of them, and the old config is contained in the new one.
pub(crate) fn verify(
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

pub(crate) fn check_after(
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
pub(crate) fn contained<'a>(
    old: &'a Value,
    new: &'a Value,
    at: &mut Vec<&'a str>,
) -> Result<(), String> {
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
