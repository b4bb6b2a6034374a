//! The splices of a model edit: where `primary` and `fallbacks` go in one file's CST, and how a
//! replaced `fallbacks` array keeps the old one's layout.

use std::path::Path;

use jsonc_parser::cst::{CstNode, CstObject, CstRootNode};

use super::insert::{New, insert_props};
use super::json5::ConfigError;
use super::locate::{FileLevel, ModelValue};
use super::model_edit::{EditError, ModelEdit};
use super::splice::{
    Doc, Quote, Splice, is_multiline, key_style_of, last_prop, quote, quote_of, separator_of,
};

/// Works out the splices that put `edit` into the CST's text.
pub(crate) fn plan(
    doc: &Doc<'_>,
    root: &CstRootNode,
    level: FileLevel,
    edit: &ModelEdit,
    current: &ModelValue,
    path: &Path,
    out: &mut Vec<Splice>,
) -> Result<(), EditError> {
    let Some(root_value) = root.value() else {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: "the file is empty".into(),
        }
        .into());
    };
    if level == FileLevel::Model {
        edit_model_value(doc, &root_value, None, edit, current, out);
        return Ok(());
    }
    // `model_at` already checked that the objects on the way are objects.
    let mut obj = root_value
        .as_object()
        .ok_or_else(|| not_object(path, level))?;
    let keys = level.keys_to_model();
    for (i, key) in keys.iter().enumerate() {
        match last_prop(&obj, key) {
            Some(prop) => {
                let value = prop.value().ok_or_else(|| not_object(path, level))?;
                if *key == "model" {
                    edit_model_value(doc, &value, Some(&obj), edit, current, out);
                    return Ok(());
                }
                obj = value.as_object().ok_or_else(|| not_object(path, level))?;
            }
            None => {
                // A single-file include is followed by `apply_model_edit`; beside an include
                // array the missing key is added here (siblings override what is included).
                if last_prop(&obj, "$include")
                    .and_then(|p| p.value())
                    .is_some_and(|v| v.as_string_lit().is_some())
                {
                    return Err(ConfigError::Include {
                        path: path.to_path_buf(),
                        message: format!(
                            "`{key}` comes from a $include; the model is edited in the included file"
                        ),
                    }
                    .into());
                }
                // Build the missing chain from here down: { key: { ...: { model: {...} } } }.
                let mut value = New::Object(new_model_props(None, edit));
                for k in keys[i + 1..].iter().rev() {
                    value = New::Object(vec![((*k).to_owned(), value)]);
                }
                insert_props(doc, &obj, vec![((*key).to_owned(), value)], out);
                return Ok(());
            }
        }
    }
    unreachable!("keys_to_model ends with `model` for every level but Model");
}

fn not_object(path: &Path, level: FileLevel) -> EditError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        message: format!(
            "an object on the way to agents.defaults.model (from {level:?}) is not an object"
        ),
    }
    .into()
}

/// The properties of a new model object: `primary` (in `quote`), then `fallbacks` if asked.
fn new_model_props(primary_quote: Option<Quote>, edit: &ModelEdit) -> Vec<(String, New)> {
    let mut props = vec![(
        "primary".to_owned(),
        New::Raw(quote(&edit.primary, primary_quote.unwrap_or(Quote::Double))),
    )];
    if let Some(f) = &edit.fallbacks {
        props.push(("fallbacks".to_owned(), New::Strings(f.clone())));
    }
    props
}

/// Edits the model value node `value`. `container` is the object holding the `model` property
/// (`None` when the value is the file's root).
fn edit_model_value(
    doc: &Doc<'_>,
    value: &CstNode,
    container: Option<&CstObject>,
    edit: &ModelEdit,
    current: &ModelValue,
    out: &mut Vec<Splice>,
) {
    let (start, end) = doc.range(value);
    if let Some(lit) = value.as_string_lit() {
        let q = quote_of(&lit.raw_value());
        if edit.fallbacks.is_none() {
            out.push(Splice {
                start,
                end,
                text: quote(&edit.primary, q),
            });
            return;
        }
        // String form, fallbacks asked: becomes `{ primary, fallbacks }`.
        let multiline = match container {
            Some(c) => is_multiline(&CstNode::Container(c.clone().into())),
            None => true,
        };
        let keys = container
            .and_then(key_style_of)
            .unwrap_or(doc.root_key_style);
        let sep = container.map_or_else(|| ": ".to_owned(), |c| separator_of(doc, c));
        let text = doc.render(
            &New::Object(new_model_props(Some(q), edit)),
            doc.line_indent(start),
            multiline,
            keys,
            &sep,
        );
        out.push(Splice { start, end, text });
        return;
    }
    let Some(obj) = value.as_object() else {
        // `model_at` only lets strings and objects through.
        return;
    };
    let mut missing: Vec<(String, New)> = Vec::new();
    match last_prop(&obj, "primary") {
        Some(prop) if current.primary.as_deref() != Some(edit.primary.as_str()) => {
            if let Some(v) = prop.value() {
                let (s, e) = doc.range(&v);
                let q = v
                    .as_string_lit()
                    .map_or(Quote::Double, |l| quote_of(&l.raw_value()));
                out.push(Splice {
                    start: s,
                    end: e,
                    text: quote(&edit.primary, q),
                });
            }
        }
        Some(_) => {}
        None => missing.push((
            "primary".to_owned(),
            New::Raw(quote(&edit.primary, Quote::Double)),
        )),
    }
    if let Some(fallbacks) = &edit.fallbacks
        && current.fallbacks.as_ref() != Some(fallbacks)
    {
        match last_prop(&obj, "fallbacks").and_then(|p| p.value()) {
            Some(array) => out.push(replace_array(doc, &array, fallbacks)),
            None => missing.push(("fallbacks".to_owned(), New::Strings(fallbacks.clone()))),
        }
    }
    if !missing.is_empty() {
        insert_props(doc, &obj, missing, out);
    }
}

/// The splice that replaces the array node `array` with `items`, in the old array's layout.
fn replace_array(doc: &Doc<'_>, array: &CstNode, items: &[String]) -> Splice {
    let (start, end) = doc.range(array);
    let elements = array.as_array().map(|a| a.elements()).unwrap_or_default();
    let string_quotes: Vec<Quote> = elements
        .iter()
        .filter_map(|e| e.as_string_lit().map(|l| quote_of(&l.raw_value())))
        .collect();
    let q = if !string_quotes.is_empty() && string_quotes.iter().all(|q| *q == Quote::Single) {
        Quote::Single
    } else {
        Quote::Double
    };
    let quoted: Vec<String> = items.iter().map(|s| quote(s, q)).collect();
    let text = if items.is_empty() {
        "[]".to_owned()
    } else if is_multiline(array) {
        let elem_indent = match elements.first() {
            Some(first) => {
                let (fs, _) = doc.range(first);
                if doc.starts_line(fs) {
                    doc.line_indent(fs).to_owned()
                } else {
                    format!("{}{}", doc.line_indent(start), doc.indent_unit)
                }
            }
            None => format!("{}{}", doc.line_indent(start), doc.indent_unit),
        };
        let close = end - 1;
        let close_indent = if doc.starts_line(close) {
            doc.line_indent(close)
        } else {
            doc.line_indent(start)
        };
        let trailing = match elements.last() {
            Some(last) => doc
                .comma_after(doc.range(last).1)
                .is_some_and(|c| c < close),
            None => doc.trailing_commas,
        };
        let mut out = String::from("[");
        for (i, item) in quoted.iter().enumerate() {
            out.push_str(doc.newline);
            out.push_str(&elem_indent);
            out.push_str(item);
            if i + 1 < quoted.len() || trailing {
                out.push(',');
            }
        }
        out.push_str(doc.newline);
        out.push_str(close_indent);
        out.push(']');
        out
    } else {
        let inner = &doc.text[start + 1..end - 1];
        let pad = if inner.starts_with([' ', '\t']) && !inner.trim().is_empty() {
            " "
        } else {
            ""
        };
        format!("[{pad}{}{pad}]", quoted.join(", "))
    };
    Splice { start, end, text }
}
