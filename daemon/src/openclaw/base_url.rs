//! Repointing a provider's `baseUrl` (the relay's `msclawctl relay on|off`): the same CST-located
//! splice as the model edit, so only that string value changes. OpenClaw ≤ 2026.7 also keeps a
//! copy of the providers in `agents/<id>/agent/models.json` whose `baseUrl` wins over the config;
//! those copies are repointed too when they name the old URL.

use std::path::{Path, PathBuf};

use jsonc_parser::cst::CstNode;
use serde_json::Value;

use super::json5::{parse_cst, parse_value, read_config_text, split_bom};
use super::model_edit::EditError;
use super::retry::{self, Attempt, edit_with_retry};
use super::splice::{Doc, Splice, apply_splices, last_prop, quote, quote_of};

/// Replaces the string at `path` (object keys from the root) in JSON5 `text` with `value`.
/// Errors when the key is missing or not a string: nothing is added.
pub fn set_string_at(
    text: &str,
    path: &[&str],
    value: &str,
    file: &Path,
) -> Result<String, EditError> {
    let (bom, body) = split_bom(text);
    let old = parse_value(body, file)?;
    let root = parse_cst(body, file)?;
    let doc = Doc::new(body, &root);
    let missing = || {
        EditError::BadEdit(format!(
            "{} has no string at {}",
            file.display(),
            path.join(".")
        ))
    };
    let mut obj = root.object_value().ok_or_else(missing)?;
    let (last, parents) = path.split_last().ok_or_else(missing)?;
    for key in parents {
        obj = last_prop(&obj, key)
            .and_then(|p| p.value())
            .and_then(|v| v.as_object())
            .ok_or_else(missing)?;
    }
    let node = last_prop(&obj, last)
        .and_then(|p| p.value())
        .ok_or_else(missing)?;
    let CstNode::Leaf(_) = &node else {
        return Err(missing());
    };
    let lit = node.as_string_lit().ok_or_else(missing)?;
    let (start, end) = doc.range(&node);
    let new_body = apply_splices(
        body,
        vec![Splice {
            start,
            end,
            text: quote(value, quote_of(&lit.raw_value())),
        }],
    );
    // Verify: the new text parses to the old value with only that string changed.
    let mut expected = old;
    let mut cur = &mut expected;
    for key in path {
        cur = cur.get_mut(*key).ok_or_else(missing)?;
    }
    *cur = Value::String(value.to_owned());
    let new_value = parse_value(&new_body, file)?;
    if new_value != expected {
        return Err(EditError::Verify {
            path: file.to_owned(),
            message: format!("more than {} changed", path.join(".")),
        });
    }
    Ok(format!("{bom}{new_body}"))
}

/// Sets the string at `path` in `file`; whether the file was written.
fn rewrite(file: &Path, path: &[&str], value: &str) -> Result<bool, EditError> {
    edit_with_retry(file, || {
        let text = read_config_text(file)?;
        let new_text = set_string_at(&text, path, value, file)?;
        if new_text == text {
            return Ok(Attempt::Done(false));
        }
        let written =
            retry::replace_if_unchanged(file, new_text.as_bytes(), Some(text.as_bytes()))?;
        Ok(match written {
            Attempt::Done(()) => Attempt::Done(true),
            Attempt::Changed => Attempt::Changed,
        })
    })
}

/// What a repoint changed.
#[derive(Debug, Default)]
pub struct Repointed {
    /// The URL the config named before.
    pub previous: Option<String>,
    pub written: Vec<PathBuf>,
}

/// Sets `models.providers.<provider>.baseUrl` in the config (and in OpenClaw's per-agent
/// `models.json` copies that named the previous URL).
pub fn set_base_url(
    config: &Path,
    state_dir: &Path,
    provider: &str,
    url: &str,
) -> Result<Repointed, EditError> {
    let cfg = super::config::load(config)?;
    let previous = cfg.providers.get(provider).and_then(|p| p.base_url.clone());
    let mut out = Repointed {
        previous: previous.clone(),
        written: Vec::new(),
    };
    if rewrite(config, &["models", "providers", provider, "baseUrl"], url)? {
        out.written.push(config.to_owned());
    }
    let Ok(agents) = std::fs::read_dir(state_dir.join("agents")) else {
        return Ok(out);
    };
    for agent in agents.flatten() {
        let copy = agent.path().join("agent/models.json");
        let Ok(text) = std::fs::read_to_string(&copy) else {
            continue;
        };
        let Ok(value) = parse_value(&text, &copy) else {
            continue;
        };
        let copied = value.pointer(&format!(
            "/providers/{}/baseUrl",
            provider.replace('~', "~0").replace('/', "~1")
        ));
        if copied
            .and_then(Value::as_str)
            .is_some_and(|u| Some(u) == previous.as_deref() && u != url)
            && rewrite(&copy, &["providers", provider, "baseUrl"], url)?
        {
            out.written.push(copy);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_url_changes() {
        let text = "// c\n{ models: { providers: { modelscope: { baseUrl: 'https://a/v1/', // keep\n apiKey: \"${K}\" } } } }\n";
        let out = set_string_at(
            text,
            &["models", "providers", "modelscope", "baseUrl"],
            "http://127.0.0.1:1/v1",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(
            out,
            text.replace("'https://a/v1/'", "'http://127.0.0.1:1/v1'")
        );
        let err = set_string_at(
            text,
            &["models", "providers", "other", "baseUrl"],
            "u",
            Path::new("x"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("models.providers.other.baseUrl"),
            "{err}"
        );
    }
}
