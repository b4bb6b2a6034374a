//! `$include`, followed everywhere in the tree: a string includes one file that replaces the
//! containing object, an array deep-merges its files in order, and sibling keys are deep-merged
//! over the result. Paths are relative to the including file. Cycles and depth beyond
//! [`MAX_INCLUDE_DEPTH`] are errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::json5::{ConfigError, parse_value, read_config_text};

/// How deep `$include`s may nest before msclaw gives up (OpenClaw's configs use one level).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// The whole config as one JSON value with every `$include` resolved, the files named in
/// `overrides` taken to hold the given text (how `config_init` checks an edit before writing).
pub(crate) fn resolved_value(
    path: &Path,
    overrides: &HashMap<PathBuf, String>,
) -> Result<Value, ConfigError> {
    Reader::new(overrides).resolved(path, 0)
}

pub(crate) fn bad_include_value(path: &Path, json_path: &str) -> ConfigError {
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
pub(crate) fn include_path(including_file: &Path, target: &str) -> PathBuf {
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
    pub(crate) fn resolved(&mut self, path: &Path, depth: usize) -> Result<Value, ConfigError> {
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
