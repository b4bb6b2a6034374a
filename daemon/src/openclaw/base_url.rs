//! Repointing a provider's `baseUrl` (the relay's `msclawctl relay on|off`): the same CST-located
//! splice as the model edit, so only that string value changes. OpenClaw ≤ 2026.7 also keeps a
//! copy of the providers in `agents/<id>/agent/models.json` whose `baseUrl` wins over the config;
//! those copies are repointed too when they name the old URL.
//!
//! With the relay, the provider's `apiKey` moves too: [`point_at_relay`] swaps the real `baseUrl`
//! and `apiKey` (in the config and in those copies) for the relay's URL and token and hands back
//! their text exactly as written, which [`restore_from_relay`] splices back byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstNode, CstRootNode};
use serde_json::Value;

use super::json5::{parse_cst, parse_value, read_config_text, split_bom};
use super::model_edit::EditError;
use super::retry::{self, Attempt, edit_with_retry};
use super::splice::{Doc, Splice, apply_splices, last_prop, quote, quote_of};

/// The value node at `path` (object keys from the root; the last of duplicate keys, as JSON5).
fn value_at(root: &CstRootNode, path: &[&str]) -> Option<CstNode> {
    let (last, parents) = path.split_last()?;
    let mut obj = root.object_value()?;
    for key in parents {
        obj = last_prop(&obj, key)?.value()?.as_object()?;
    }
    last_prop(&obj, last)?.value()
}

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
    let node = value_at(&root, path).ok_or_else(missing)?;
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

/// Replaces the value at `path` (a string, object, anything) in JSON5 `text` with the JSON5 text
/// `raw`; returns the new text and the old value's text exactly as it was written. Errors when the
/// key is missing: nothing is added.
pub fn swap_raw_at(
    text: &str,
    path: &[&str],
    raw: &str,
    file: &Path,
) -> Result<(String, String), EditError> {
    let (bom, body) = split_bom(text);
    let old = parse_value(body, file)?;
    let root = parse_cst(body, file)?;
    let doc = Doc::new(body, &root);
    let missing = || EditError::BadEdit(format!("{} has no {}", file.display(), path.join(".")));
    let node = value_at(&root, path).ok_or_else(missing)?;
    let (start, end) = doc.range(&node);
    let old_raw = body[start..end].to_owned();
    let new_body = apply_splices(
        body,
        vec![Splice {
            start,
            end,
            text: raw.to_owned(),
        }],
    );
    // Verify: the new text parses to the old value with only that value changed.
    let mut expected = old;
    let mut cur = &mut expected;
    for key in path {
        cur = cur.get_mut(*key).ok_or_else(missing)?;
    }
    *cur = parse_value(raw, file)?;
    if parse_value(&new_body, file)? != expected {
        return Err(EditError::Verify {
            path: file.to_owned(),
            message: format!("more than {} changed", path.join(".")),
        });
    }
    Ok((format!("{bom}{new_body}"), old_raw))
}

/// The text of a JSON string value (for [`swap_raw_at`]).
pub fn json_string(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

/// One file's real `baseUrl` and `apiKey`, as their text was written (`apiKey` may be absent in
/// an agent's copy). `Debug` leaves the key out: it may be a literal.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptEntry {
    pub base_url_raw: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_raw: Option<String>,
}

impl std::fmt::Debug for KeptEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptEntry")
            .field("base_url_raw", &self.base_url_raw)
            .field(
                "api_key_raw",
                &self.api_key_raw.as_ref().map(|_| "(hidden)"),
            )
            .finish()
    }
}

/// What [`point_at_relay`] took out of OpenClaw's files: the config's entry and each agent copy's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptProvider {
    pub config: KeptEntry,
    #[serde(default)]
    pub copies: BTreeMap<PathBuf, KeptEntry>,
}

/// Called with what is about to be taken out of a file, before the file is written: the caller
/// keeps it somewhere safe first, so no crash can leave the token in OpenClaw's file and the real
/// key nowhere.
pub type KeepFirst<'a> = &'a mut dyn FnMut(&KeptProvider) -> Result<(), EditError>;

/// Swaps the values at `prefix.baseUrl` and `prefix.apiKey` in `file` for `url` and `token`,
/// handing the old text to `keep` before writing.
fn swap_in_file(
    file: &Path,
    prefix: &[&str],
    url: &str,
    token: &str,
    key_required: bool,
    keep: &mut dyn FnMut(&KeptEntry) -> Result<(), EditError>,
) -> Result<KeptEntry, EditError> {
    let at = |leaf: &'static str| [prefix, &[leaf]].concat();
    edit_with_retry(file, || {
        let text = read_config_text(file)?;
        let (with_url, base_url_raw) = swap_raw_at(&text, &at("baseUrl"), &json_string(url), file)?;
        let (new_text, api_key_raw) =
            match swap_raw_at(&with_url, &at("apiKey"), &json_string(token), file) {
                Ok((t, raw)) => (t, Some(raw)),
                Err(EditError::BadEdit(_)) if !key_required => (with_url, None),
                Err(e) => return Err(e),
            };
        let kept = KeptEntry {
            base_url_raw: base_url_raw.clone(),
            api_key_raw: api_key_raw.clone(),
        };
        keep(&kept)?;
        match retry::replace_if_unchanged(file, &[new_text.as_bytes()], Some(text.as_bytes()))? {
            Attempt::Done(()) => Ok(Attempt::Done(kept)),
            Attempt::Changed => Ok(Attempt::Changed),
        }
    })
}

/// Puts the kept `baseUrl` and `apiKey` text back at `prefix` in `file`.
fn restore_in_file(file: &Path, prefix: &[&str], kept: &KeptEntry) -> Result<(), EditError> {
    let at = |leaf: &'static str| [prefix, &[leaf]].concat();
    edit_with_retry(file, || {
        let text = read_config_text(file)?;
        let (mut new_text, _) = swap_raw_at(&text, &at("baseUrl"), &kept.base_url_raw, file)?;
        if let Some(raw) = &kept.api_key_raw {
            new_text = swap_raw_at(&new_text, &at("apiKey"), raw, file)?.0;
        }
        match retry::replace_if_unchanged(file, &[new_text.as_bytes()], Some(text.as_bytes()))? {
            Attempt::Done(()) => Ok(Attempt::Done(())),
            Attempt::Changed => Ok(Attempt::Changed),
        }
    })
}

/// The agents' `models.json` copies whose provider entry names `url` as its `baseUrl`.
fn copies_naming(state_dir: &Path, provider: &str, url: &str) -> Vec<PathBuf> {
    let Ok(agents) = std::fs::read_dir(state_dir.join("agents")) else {
        return Vec::new();
    };
    let pointer = format!(
        "/providers/{}/baseUrl",
        provider.replace('~', "~0").replace('/', "~1")
    );
    let mut out: Vec<PathBuf> = agents
        .flatten()
        .map(|agent| agent.path().join("agent/models.json"))
        .filter(|copy| {
            std::fs::read_to_string(copy)
                .ok()
                .and_then(|text| parse_value(&text, copy).ok())
                .is_some_and(|v| v.pointer(&pointer).and_then(Value::as_str) == Some(url))
        })
        .collect();
    out.sort();
    out
}

/// Points `provider` at the relay: its `baseUrl` becomes `relay_url` and its `apiKey` the relay's
/// `token`, in the config and in the agents' copies that named the same URL. Returns the real
/// values' text, which the caller keeps privately before anything else happens.
pub fn point_at_relay(
    config: &Path,
    state_dir: &Path,
    provider: &str,
    relay_url: &str,
    token: &str,
    keep: KeepFirst,
) -> Result<KeptProvider, EditError> {
    let cfg = super::config::load(config)?;
    let previous = cfg
        .providers
        .get(provider)
        .and_then(|p| p.base_url.clone())
        .ok_or_else(|| {
            EditError::BadEdit(format!(
                "{} has no models.providers.{provider}.baseUrl",
                config.display()
            ))
        })?;
    let copies = copies_naming(state_dir, provider, &previous);
    let entry = swap_in_file(
        config,
        &["models", "providers", provider],
        relay_url,
        token,
        true,
        &mut |entry| {
            keep(&KeptProvider {
                config: entry.clone(),
                copies: BTreeMap::new(),
            })
        },
    )?;
    let mut kept = KeptProvider {
        config: entry,
        copies: BTreeMap::new(),
    };
    for copy in copies {
        let entry = swap_in_file(
            &copy,
            &["providers", provider],
            relay_url,
            token,
            false,
            &mut |entry| {
                let mut so_far = kept.clone();
                so_far.copies.insert(copy.clone(), entry.clone());
                keep(&so_far)
            },
        )?;
        kept.copies.insert(copy, entry);
    }
    Ok(kept)
}

/// Puts back what [`point_at_relay`] took, byte for byte; the files written.
pub fn restore_from_relay(
    config: &Path,
    provider: &str,
    kept: &KeptProvider,
) -> Result<Vec<PathBuf>, EditError> {
    restore_in_file(config, &["models", "providers", provider], &kept.config)?;
    let mut written = vec![config.to_owned()];
    for (copy, entry) in &kept.copies {
        if copy.exists() {
            restore_in_file(copy, &["providers", provider], entry)?;
            written.push(copy.clone());
        }
    }
    Ok(written)
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
            retry::replace_if_unchanged(file, &[new_text.as_bytes()], Some(text.as_bytes()))?;
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

    #[test]
    fn a_swapped_value_comes_back_byte_exact() {
        let text = "{ models: { providers: { modelscope: { baseUrl: 'https://a/v1/', apiKey: { source: 'env', // x\n provider: 'default', id: 'K' } } } } }\n";
        let path = ["models", "providers", "modelscope", "apiKey"];
        let (swapped, old) = swap_raw_at(text, &path, &json_string("tok"), Path::new("x")).unwrap();
        assert!(swapped.contains("apiKey: \"tok\""), "{swapped}");
        let (back, _) = swap_raw_at(&swapped, &path, &old, Path::new("x")).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn the_real_key_is_kept_before_any_file_holds_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("openclaw.json");
        let original = "{ models: { providers: { modelscope: {\n  baseUrl: 'https://real/v1', // mine\n  apiKey: 'ms-REAL' } } } }\n";
        std::fs::write(&config, original).unwrap();

        // A keeper that fails: nothing is written, the error says so.
        let err = point_at_relay(
            &config,
            dir.path(),
            "modelscope",
            "http://127.0.0.1:1/v1",
            "tok",
            &mut |_| Err(EditError::NotKept("the store is full".into())),
        )
        .unwrap_err();
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), original);

        // A keeper that works is called while the file still holds the real key.
        let mut seen = Vec::new();
        let kept = point_at_relay(
            &config,
            dir.path(),
            "modelscope",
            "http://127.0.0.1:1/v1",
            "tok",
            &mut |k| {
                seen.push((
                    k.config.api_key_raw.clone(),
                    std::fs::read_to_string(&config).unwrap(),
                ));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, [(Some("'ms-REAL'".to_owned()), original.to_owned())]);
        assert_eq!(kept.config.api_key_raw.as_deref(), Some("'ms-REAL'"));
        let now = std::fs::read_to_string(&config).unwrap();
        assert!(now.contains("\"tok\"") && !now.contains("ms-REAL"), "{now}");
    }
}
