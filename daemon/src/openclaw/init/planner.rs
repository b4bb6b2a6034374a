//! Collects init's insertions into one file's CST, grouped per object or array so each container
//! gets one insertion (two insertions after the same last property would overlap).

use std::collections::BTreeMap;
use std::path::Path;

use jsonc_parser::cst::{CstArray, CstNode, CstObject, CstRootNode};
use serde_json::Value;

use crate::openclaw::insert::{New, insert_elements, insert_props};
use crate::openclaw::json5::get;
use crate::openclaw::splice::{Doc, Splice, last_prop};

use super::report::InitError;

/// The insertions planned so far for one file.
/// The config's root object, which every planned insertion goes into.
pub(crate) fn root_object(root: &CstRootNode, path: &Path) -> Result<CstObject, InitError> {
    root.value()
        .and_then(|v| v.as_object())
        .ok_or_else(|| InitError::Invalid {
            path: path.to_path_buf(),
            message: "the config root is not an object".into(),
        })
}

pub(crate) struct Planner<'a> {
    doc: Doc<'a>,
    resolved: &'a Value,
    path: &'a Path,
    /// Keyed by the object's start offset.
    props: BTreeMap<usize, (CstObject, Vec<(String, New)>)>,
    /// Keyed by the array's start offset.
    elements: BTreeMap<usize, (CstArray, Vec<New>)>,
}

impl<'a> Planner<'a> {
    /// A planner for the file `path` (its text in `doc`), whose resolved config is `resolved`.
    pub(crate) fn new(doc: Doc<'a>, resolved: &'a Value, path: &'a Path) -> Self {
        Planner {
            doc,
            resolved,
            path,
            props: BTreeMap::new(),
            elements: BTreeMap::new(),
        }
    }

    /// Walks `keys` from the root object in the file's CST. Returns the object at the end, or
    /// `Err(Ok((object, i)))` when `keys[i]` is missing from `object` in this file.
    fn walk(
        &self,
        root: &CstObject,
        keys: &[&str],
    ) -> Result<Result<CstNode, (CstObject, usize)>, InitError> {
        let mut obj = root.clone();
        for (i, key) in keys.iter().enumerate() {
            let Some(value) = last_prop(&obj, key).and_then(|p| p.value()) else {
                if get(self.resolved, &keys[..=i]).is_some() {
                    // The whole config has it, this file does not: an include provides it.
                    return Err(InitError::Include {
                        path: self.path.to_path_buf(),
                        json_path: keys[..=i].join("."),
                    });
                }
                return Ok(Err((obj, i)));
            };
            if i + 1 == keys.len() {
                return Ok(Ok(value));
            }
            obj = value
                .as_object()
                .ok_or_else(|| self.not_object(&keys[..=i]))?;
        }
        Ok(Ok(CstNode::Container(obj.into())))
    }

    fn not_object(&self, keys: &[&str]) -> InitError {
        InitError::Invalid {
            path: self.path.to_path_buf(),
            message: format!("{} is not an object", keys.join(".")),
        }
    }

    /// Adds `props` to the object at `keys`, creating the objects that are missing on the way.
    pub(crate) fn add_props(
        &mut self,
        root: &CstObject,
        keys: &[&str],
        props: Vec<(String, New)>,
    ) -> Result<(), InitError> {
        match self.walk(root, keys)? {
            Ok(node) => {
                let obj = node.as_object().ok_or_else(|| self.not_object(keys))?;
                self.push_props(obj, props);
            }
            Err((obj, i)) => {
                let mut value = New::Object(props);
                for k in keys[i + 1..].iter().rev() {
                    value = New::Object(vec![((*k).to_owned(), value)]);
                }
                self.push_props(obj, vec![(keys[i].to_owned(), value)]);
            }
        }
        Ok(())
    }

    /// Appends `items` to the array at `keys` (which the caller saw in the resolved config).
    pub(crate) fn add_elements(
        &mut self,
        root: &CstObject,
        keys: &[&str],
        items: Vec<New>,
    ) -> Result<(), InitError> {
        let node = match self.walk(root, keys)? {
            Ok(node) => node,
            Err(_) => {
                return Err(InitError::Include {
                    path: self.path.to_path_buf(),
                    json_path: keys.join("."),
                });
            }
        };
        let array = node.as_array().ok_or_else(|| InitError::Invalid {
            path: self.path.to_path_buf(),
            message: format!("{} is not an array", keys.join(".")),
        })?;
        let start = self.doc.range(&node).0;
        self.elements
            .entry(start)
            .or_insert_with(|| (array, Vec::new()))
            .1
            .extend(items);
        Ok(())
    }

    fn push_props(&mut self, obj: CstObject, props: Vec<(String, New)>) {
        let start = self.doc.range(&CstNode::Container(obj.clone().into())).0;
        self.props
            .entry(start)
            .or_insert_with(|| (obj, Vec::new()))
            .1
            .extend(props);
    }

    pub(crate) fn splices(self) -> Vec<Splice> {
        let mut out = Vec::new();
        for (_, (obj, props)) in self.props {
            insert_props(&self.doc, &obj, props, &mut out);
        }
        for (_, (array, items)) in self.elements {
            insert_elements(&self.doc, &array, items, &mut out);
        }
        out
    }
}
