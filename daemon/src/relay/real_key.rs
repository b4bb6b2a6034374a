//! The real upstream key, from the provider's `apiKey` as it was written before `relay on` moved it
//! into msclaw's state: a literal, `"${VAR}"`, or an env SecretRef. A variable is looked up in
//! msclawd's environment, then in OpenClaw's `<state dir>/.env` (as the gateway does). The value is
//! handed to the relay only; no error names it.

use std::ffi::OsString;
use std::path::Path;

use serde_json::Value;

use crate::openclaw::config::env_ref_name;
use crate::openclaw::json5::parse_value;

#[derive(Debug, thiserror::Error)]
pub enum RealKeyError {
    #[error("the stored apiKey is not JSON5 text msclaw wrote ({0})")]
    Unreadable(String),
    #[error(
        "the apiKey is ${{{var}}}, but {var} is set neither in msclawd's environment nor in {dotenv}"
    )]
    Unset { var: String, dotenv: String },
    #[error(
        "the apiKey is a SecretRef msclawd cannot resolve (only source \"env\" is supported): {0}"
    )]
    UnsupportedRef(String),
    #[error("the apiKey is neither a string nor a SecretRef")]
    NotAKey,
}

/// Where variables are looked up: msclawd's environment, then OpenClaw's `.env`.
pub struct KeySources<'a> {
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    pub dotenv: &'a Path,
}

/// Whether msclawd can resolve this `apiKey` (written as JSON5 `raw`) without reading a secret
/// (for `relay on`, which refuses to move a key msclawd could not use).
pub fn check_supported(raw: &str) -> Result<(), RealKeyError> {
    match parse(raw)? {
        Value::String(_) => Ok(()),
        Value::Object(map) => env_ref_of(&map).map(|_| ()),
        _ => Err(RealKeyError::NotAKey),
    }
}

/// The real key for the `apiKey` written as `raw`.
pub fn resolve(raw: &str, sources: &KeySources<'_>) -> Result<String, RealKeyError> {
    let var = match parse(raw)? {
        Value::String(s) => match env_ref_name(&s) {
            Some(var) => var.to_owned(),
            None => return Ok(s),
        },
        Value::Object(map) => env_ref_of(&map)?,
        _ => return Err(RealKeyError::NotAKey),
    };
    let from_env = (sources.env)(&var)
        .and_then(|v| v.into_string().ok())
        .filter(|v| !v.is_empty());
    from_env
        .or_else(|| dotenv_value(sources.dotenv, &var))
        .ok_or_else(|| RealKeyError::Unset {
            dotenv: sources.dotenv.display().to_string(),
            var,
        })
}

fn parse(raw: &str) -> Result<Value, RealKeyError> {
    parse_value(raw, Path::new("relay-upstreams.json"))
        .map_err(|_| RealKeyError::Unreadable("apiKey".into()))
}

/// The variable an env SecretRef (`{ source: "env", provider: "default", id: "VAR" }`) names.
fn env_ref_of(map: &serde_json::Map<String, Value>) -> Result<String, RealKeyError> {
    let source = map.get("source").and_then(Value::as_str).unwrap_or("");
    let id = map.get("id").and_then(Value::as_str).unwrap_or("");
    if source != "env" || id.is_empty() {
        return Err(RealKeyError::UnsupportedRef(format!("source {source:?}")));
    }
    Ok(id.to_owned())
}

/// `VAR=value` (or `export VAR=value`, quoted or not) in a dotenv file.
fn dotenv_value(path: &Path, var: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().rev().find_map(|line| {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let value = line
            .strip_prefix(var)?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        let value = match value.as_bytes().first() {
            Some(q @ (b'"' | b'\'')) => value[1..].split(*q as char).next().unwrap_or(""),
            _ => value.split(" #").next().unwrap_or("").trim_end(),
        };
        (!value.is_empty()).then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_of_apikey_resolves() {
        let dir = tempfile::tempdir().unwrap();
        let dotenv = dir.path().join(".env");
        std::fs::write(&dotenv, "# c\nexport FROM_FILE='k-file'\nOTHER=x\n").unwrap();
        let env = |k: &str| (k == "FROM_ENV").then(|| OsString::from("k-env"));
        let sources = KeySources {
            env: &env,
            dotenv: &dotenv,
        };
        assert_eq!(resolve("'k-lit'", &sources).unwrap(), "k-lit");
        assert_eq!(resolve("\"${FROM_ENV}\"", &sources).unwrap(), "k-env");
        assert_eq!(resolve("\"${FROM_FILE}\"", &sources).unwrap(), "k-file");
        let secret_ref = "{ source: 'env', provider: 'default', id: 'FROM_ENV' }";
        assert_eq!(resolve(secret_ref, &sources).unwrap(), "k-env");
        let err = resolve("\"${NOPE}\"", &sources).unwrap_err().to_string();
        assert!(err.contains("NOPE") && err.contains(".env"), "{err}");
        let exec = "{ source: 'exec', provider: 'vault', id: 'x' }";
        assert!(check_supported(exec).is_err());
        assert!(check_supported(secret_ref).is_ok());
        assert!(check_supported("'k-lit'").is_ok());
    }
}
