//! Where `agents.defaults.model` lives (or would be added) across `$include`d files, and what it
//! holds there. Strict: the objects on the way to the model and the model itself must have the
//! documented shape, else [`ConfigError::Invalid`] (msclaw writes there).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::ModelForm;
use super::include::MAX_INCLUDE_DEPTH;
use super::include::{Reader, bad_include_value, include_path};
use super::json5::{ConfigError, get, invalid, parse_root_keeping};

/// Which object of the config a file's root value stands for: the whole config, or what a
/// single-file `$include` put in place of `agents`, `agents.defaults` or `agents.defaults.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileLevel {
    Root,
    Agents,
    Defaults,
    Model,
}

impl FileLevel {
    /// The keys from this level down to the model value.
    pub fn keys_to_model(self) -> &'static [&'static str] {
        match self {
            FileLevel::Root => &["agents", "defaults", "model"],
            FileLevel::Agents => &["defaults", "model"],
            FileLevel::Defaults => &["model"],
            FileLevel::Model => &[],
        }
    }

    fn child(self) -> FileLevel {
        match self {
            FileLevel::Root => FileLevel::Agents,
            FileLevel::Agents => FileLevel::Defaults,
            FileLevel::Defaults | FileLevel::Model => FileLevel::Model,
        }
    }

    /// Dotted path of this level in the whole config ("" for the root).
    pub fn json_path(self) -> &'static str {
        match self {
            FileLevel::Root => "",
            FileLevel::Agents => "agents",
            FileLevel::Defaults => "agents.defaults",
            FileLevel::Model => "agents.defaults.model",
        }
    }
}

/// Where `agents.defaults.model` lives or would be added: a file and what its root stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelLocation {
    pub file: PathBuf,
    pub level: FileLevel,
}

/// Finds the file that holds (or should get) `agents.defaults.model`, following single-file
/// `$include`s of the objects on the way when the next key is not written beside them.
pub(crate) fn locate_model(
    reader: &mut Reader<'_>,
    config_path: &Path,
) -> Result<ModelLocation, ConfigError> {
    let mut file = config_path.to_path_buf();
    let mut level = FileLevel::Root;
    for _ in 0..=MAX_INCLUDE_DEPTH {
        let value = match level {
            // Only `agents` and `$include` lead to the model.
            FileLevel::Root => parse_root_keeping(&reader.text(&file)?, &file, &|key, _| {
                key == "agents" || key == "$include"
            })?,
            _ => reader.value(&file)?,
        };
        let next = locate_in_value(&value, &file, level, Some(&mut *reader))?;
        if next.file == file {
            return Ok(next);
        }
        file = next.file;
        level = next.level;
    }
    Err(ConfigError::Include {
        path: config_path.to_path_buf(),
        message: format!("$include nests deeper than {MAX_INCLUDE_DEPTH} levels"),
    })
}

/// One step of [`locate_model`] inside one file's parsed value. Returns this file when the model
/// is (or would be added) here; otherwise the included file to look in next.
///
/// An `$include` array on the way is looked into (with `reader`; without one it is not): the
/// last of its files that spells out the rest of the path to the model is followed; when none
/// does, the missing key is added beside the `$include` (sibling keys override included ones).
pub(crate) fn locate_in_value(
    root: &Value,
    file: &Path,
    level: FileLevel,
    reader: Option<&mut Reader<'_>>,
) -> Result<ModelLocation, ConfigError> {
    let here = ModelLocation {
        file: file.to_path_buf(),
        level,
    };
    let mut current = root;
    let mut current_level = level;
    let mut keys = level.keys_to_model().iter();
    loop {
        // At the model itself, only `primary` matters: a `model: { $include }` is followed.
        let key = match keys.next() {
            Some(k) => *k,
            None => "primary",
        };
        let obj = match current {
            Value::Object(map) => map,
            _ if key == "primary" => return Ok(here),
            Value::Null if current_level == FileLevel::Root => {
                return Err(invalid(file, "the config is empty; expected an object"));
            }
            _ => {
                return Err(invalid(
                    file,
                    &format!("{} is not an object", describe_level(current_level)),
                ));
            }
        };
        if let Some(v) = obj.get(key) {
            if key == "primary" {
                return Ok(here);
            }
            current = v;
            current_level = current_level.child();
            continue;
        }
        return match obj.get("$include") {
            None => Ok(here),
            Some(Value::String(inc)) => Ok(ModelLocation {
                file: include_path(file, inc),
                level: current_level,
            }),
            Some(Value::Array(items)) => {
                let Some(reader) = reader else {
                    return Ok(here);
                };
                let rest: Vec<&str> = std::iter::once(key).chain(keys.copied()).collect();
                for item in items.iter().rev() {
                    let Value::String(inc) = item else {
                        return Err(bad_include_value(file, current_level.json_path()));
                    };
                    let inc = include_path(file, inc);
                    let included = reader.value(&inc)?;
                    if get(&included, &rest).is_some() {
                        return Ok(ModelLocation {
                            file: inc,
                            level: current_level,
                        });
                    }
                }
                Ok(here)
            }
            Some(_) => Err(bad_include_value(file, current_level.json_path())),
        };
    }
}

fn describe_level(level: FileLevel) -> &'static str {
    match level {
        FileLevel::Root => "the config root",
        other => other.json_path(),
    }
}

/// What `agents.defaults.model` holds, read from a value whose root is `level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelValue {
    pub form: ModelForm,
    pub primary: Option<String>,
    pub fallbacks: Option<Vec<String>>,
}

/// Reads the model from `root` (a file's value, standing for `level`). Strict: the objects on the
/// way and the model itself must have the documented types.
pub(crate) fn model_at(
    root: &Value,
    level: FileLevel,
    file: &Path,
) -> Result<ModelValue, ConfigError> {
    let missing = ModelValue {
        form: ModelForm::Missing,
        primary: None,
        fallbacks: None,
    };
    let mut current = root;
    let mut current_level = level;
    for key in level.keys_to_model() {
        match current {
            Value::Object(map) => match map.get(*key) {
                Some(v) => {
                    current = v;
                    current_level = current_level.child();
                }
                None => return Ok(missing),
            },
            Value::Null if current_level == FileLevel::Root => {
                return Err(invalid(file, "the config is empty; expected an object"));
            }
            _ => {
                return Err(invalid(
                    file,
                    &format!("{} is not an object", describe_level(current_level)),
                ));
            }
        }
    }
    match current {
        Value::String(s) => Ok(ModelValue {
            form: ModelForm::String,
            primary: Some(s.clone()),
            fallbacks: None,
        }),
        Value::Object(map) => {
            let primary = match map.get("primary") {
                None => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(invalid(
                        file,
                        "agents.defaults.model.primary is not a string",
                    ));
                }
            };
            let fallbacks = match map.get("fallbacks") {
                None => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => Ok(s.clone()),
                            _ => Err(invalid(
                                file,
                                "agents.defaults.model.fallbacks holds something other than strings",
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                Some(_) => {
                    return Err(invalid(file, "agents.defaults.model.fallbacks is not an array"));
                }
            };
            Ok(ModelValue {
                form: ModelForm::Object,
                primary,
                fallbacks,
            })
        }
        _ => Err(invalid(
            file,
            "agents.defaults.model is neither a string nor an object",
        )),
    }
}
