//! Secret masking for showing config text (the `--dry-run` diff): the value of every key-like
//! property is hidden; a `${VAR}` reference is shown (it is only a name).

use jsonc_parser::cst::{CstNode, CstRootNode};

use super::config::env_ref_name;
use super::json5::{parse_options, split_bom};
use super::splice::{Doc, Splice, apply_splices, quote, quote_of};

/// The text with the value of every key-like property hidden: `apiKey`, `token`, `secret`,
/// `password`, `authorization`, `…Key`, `…_KEY`. A `${VAR}` reference is shown (it is only a
/// name). A text that does not parse is not shown at all.
pub fn mask_secrets(text: &str) -> String {
    let (bom, body) = split_bom(text);
    let Ok(root) = CstRootNode::parse(body, &parse_options()) else {
        return "(the config does not parse; its text is not shown)\n".to_owned();
    };
    let doc = Doc::new(body, &root);
    let mut splices = Vec::new();
    if let Some(value) = root.value() {
        mask_in(&doc, &value, &mut splices);
    }
    format!("{bom}{}", apply_splices(body, splices))
}

fn mask_in(doc: &Doc<'_>, node: &CstNode, out: &mut Vec<Splice>) {
    for child in node.children() {
        if let Some(prop) = child.as_object_prop() {
            let Some(value) = prop.value() else { continue };
            let secret_name = prop.decoded_name().is_some_and(|n| is_secret_name(&n));
            if secret_name && let Some(lit) = value.as_string_lit() {
                let shown = lit
                    .decoded_value()
                    .ok()
                    .filter(|v| env_ref_name(v).is_some());
                if shown.is_none() {
                    let raw = lit.raw_value();
                    let decoded = lit.decoded_value().unwrap_or_default();
                    let (start, end) = doc.range(&value);
                    out.push(Splice {
                        start,
                        end,
                        text: quote(&hidden(&decoded), quote_of(&raw)),
                    });
                }
                continue;
            }
            mask_in(doc, &value, out);
        } else if matches!(child, CstNode::Container(_)) {
            mask_in(doc, &child, out);
        }
    }
}

fn is_secret_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    n.ends_with("key")
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "authorization",
            "credential",
            "cookie",
        ]
        .iter()
        .any(|w| n.contains(w))
}

/// `ms-…(hidden)`: at most a short scheme prefix such as `ms-` or `sk-` is kept.
fn hidden(value: &str) -> String {
    let prefix = value
        .find('-')
        .filter(|i| (1..=3).contains(i) && value[..*i].chars().all(|c| c.is_ascii_alphabetic()))
        .map_or("", |i| &value[..=i]);
    format!("{prefix}…(hidden)")
}
