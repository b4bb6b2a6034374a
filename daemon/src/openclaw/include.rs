//! `$include`, followed everywhere in the tree: a string includes one file that replaces the
//! containing object, an array deep-merges its files in order, and sibling keys are deep-merged
//! over the result. Paths are relative to the including file. Cycles and depth beyond
//! [`MAX_INCLUDE_DEPTH`] are errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::bounded_read::{ReadRefusal, read_regular_file};
use super::json5::{ConfigError, decode_utf8, parse_root_keeping, parse_value, read_config_text};

/// How deep `$include`s may nest: OpenClaw's own limit (`Maximum include depth (10) exceeded`).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// OpenClaw's bound on one included file (2 MiB is accepted, one byte more is not).
pub const MAX_INCLUDE_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// msclaw's bound on the whole include tree (every load counted, repeats too), so a fan-out of
/// includes cannot keep a config read busy: bytes read, and files loaded.
pub const MAX_INCLUDE_TREE_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_INCLUDE_LOADS: usize = 1000;
/// OpenClaw's bound on an include path, before and after resolving (UTF-16 units).
const MAX_INCLUDE_PATH_LENGTH: usize = 4096;

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
    /// Lexical paths of the files being included, to catch cycles (as OpenClaw: ancestors only).
    stack: Vec<PathBuf>,
    /// The directories includes must stay in: the top config's, plus `OPENCLAW_INCLUDE_ROOTS`.
    roots: Vec<PathBuf>,
    bytes_read: u64,
    loads: usize,
    /// Which top-level properties of the config file (not of included ones) are parsed; `None`:
    /// all (see [`parse_root_keeping`]).
    pub keep_at_root: Option<fn(&str, &str) -> bool>,
}

impl<'a> Reader<'a> {
    pub fn new(overrides: &'a HashMap<PathBuf, String>) -> Self {
        Reader {
            overrides,
            files: Vec::new(),
            stack: Vec::new(),
            roots: Vec::new(),
            bytes_read: 0,
            loads: 0,
            keep_at_root: None,
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
        let path = &normalize(path);
        if self.stack.contains(path) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain([path])
                .map(|p| p.display().to_string())
                .collect();
            return Err(include_error(
                path,
                format!("Circular include detected: {}", chain.join(" -> ")),
            ));
        }
        if depth > MAX_INCLUDE_DEPTH {
            return Err(include_error(
                path,
                format!(
                    "Maximum include depth ({MAX_INCLUDE_DEPTH}) exceeded at: {}",
                    path.display()
                ),
            ));
        }
        let value = if depth == 0 {
            self.roots = include_roots(path);
            match self.keep_at_root {
                Some(keep) => parse_root_keeping(&self.text(path)?, path, &keep)?,
                None => self.value(path)?,
            }
        } else {
            let text = self.include_text(path)?;
            parse_value(&text, path)?
        };
        self.stack.push(path.clone());
        let result = self.resolve(value, path, "", depth);
        self.stack.pop();
        result
    }

    /// The text of an included file, under OpenClaw's rules (inside a root, also after
    /// symlinks; a regular file with one link, at most 2 MiB) and msclaw's tree bounds.
    fn include_text(&mut self, path: &Path) -> Result<String, ConfigError> {
        let shown = path.display();
        if !self.roots.iter().any(|r| path.starts_with(r)) {
            return Err(include_error(
                path,
                format!("Include path escapes config directory: {shown}"),
            ));
        }
        if let Ok(real) = std::fs::canonicalize(path) {
            let inside = self
                .roots
                .iter()
                .any(|r| std::fs::canonicalize(r).is_ok_and(|r| real.starts_with(r)));
            if !inside {
                return Err(include_error(
                    path,
                    format!("Include path resolves outside config directory (symlink): {shown}"),
                ));
            }
        }
        self.loads += 1;
        if self.loads > MAX_INCLUDE_LOADS || self.bytes_read > MAX_INCLUDE_TREE_BYTES {
            return Err(include_error(
                path,
                format!(
                    "$include tree is too big (over {MAX_INCLUDE_LOADS} files or {MAX_INCLUDE_TREE_BYTES} bytes)"
                ),
            ));
        }
        if !self.files.iter().any(|f| f == path) {
            self.files.push(path.to_path_buf());
        }
        if let Some(text) = self.overrides.get(path) {
            return Ok(text.clone());
        }
        let bytes = match read_regular_file(path, MAX_INCLUDE_FILE_BYTES, true) {
            Ok(bytes) => bytes,
            Err(ReadRefusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotFound(path.to_path_buf()));
            }
            Err(ReadRefusal::Io(source)) => {
                return Err(ConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
            Err(_) => {
                return Err(include_error(
                    path,
                    format!(
                        "Include file failed security checks (regular file, max {MAX_INCLUDE_FILE_BYTES} bytes, no hardlinks): {shown}"
                    ),
                ));
            }
        };
        self.bytes_read += bytes.len() as u64;
        decode_utf8(bytes, path)
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
                    if target.contains('\0')
                        || target.encode_utf16().count() >= MAX_INCLUDE_PATH_LENGTH
                    {
                        return Err(include_error(
                            file,
                            "Include path must not contain null bytes or exceed 4096 characters"
                                .to_owned(),
                        ));
                    }
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

fn include_error(path: &Path, message: String) -> ConfigError {
    ConfigError::Include {
        path: path.to_path_buf(),
        message,
    }
}

/// `path` with `.` and `..` resolved lexically (node's `path.normalize`).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The directory of the top config plus each absolute entry of `OPENCLAW_INCLUDE_ROOTS`.
fn include_roots(top: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = top.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(extra) = std::env::var_os("OPENCLAW_INCLUDE_ROOTS") {
        for dir in std::env::split_paths(&extra) {
            if dir.is_absolute() && !roots.contains(&dir) {
                roots.push(normalize(&dir));
            }
        }
    }
    roots
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

#[cfg(test)]
#[path = "include/tests.rs"]
mod tests;
