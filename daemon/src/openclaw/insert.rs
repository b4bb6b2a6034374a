//! Additions in the file's style: new properties appended to an object, new elements to an array,
//! rendered with the file's newline kind, indent unit, trailing-comma habit and key quoting.

use jsonc_parser::cst::{CstArray, CstNode, CstObject};

use super::splice::{
    Doc, KeyStyle, Quote, Splice, is_multiline, key_style_of, quote, separator_of,
};

/// A value to write that is not in the file yet.
#[derive(Debug, Clone)]
pub(crate) enum New {
    /// Already rendered (a quoted string, a number).
    Raw(String),
    /// A list of strings, always rendered on one line.
    Strings(Vec<String>),
    Object(Vec<(String, New)>),
    /// A list of values, one per line when the surrounding object is multi-line (each element
    /// then on one line of its own).
    Array(Vec<New>),
    /// A value always written on one line (`{ alias: "glm5" }`).
    Inline(Box<New>),
}

impl Doc<'_> {
    /// Renders `value`; `indent` is the indent of the line the value starts on.
    pub(crate) fn render(
        &self,
        value: &New,
        indent: &str,
        multiline: bool,
        keys: KeyStyle,
        sep: &str,
    ) -> String {
        match value {
            New::Raw(s) => s.clone(),
            New::Strings(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|s| quote(s, Quote::Double))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            New::Inline(value) => self.render(value, indent, false, keys, sep),
            New::Object(props) if props.is_empty() => "{}".to_owned(),
            New::Object(props) if multiline => {
                let inner = format!("{indent}{}", self.indent_unit);
                let mut out = String::from("{");
                for (i, (k, v)) in props.iter().enumerate() {
                    out.push_str(self.newline);
                    out.push_str(&inner);
                    out.push_str(&self.key_text(k, keys));
                    out.push_str(sep);
                    out.push_str(&self.render(v, &inner, true, keys, sep));
                    if i + 1 < props.len() || self.trailing_commas {
                        out.push(',');
                    }
                }
                out.push_str(self.newline);
                out.push_str(indent);
                out.push('}');
                out
            }
            New::Object(props) => format!(
                "{{ {} }}",
                props
                    .iter()
                    .map(|(k, v)| format!(
                        "{}{sep}{}",
                        self.key_text(k, keys),
                        self.render(v, indent, false, keys, sep)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            New::Array(items) if items.is_empty() => "[]".to_owned(),
            New::Array(items) if multiline => {
                let inner = format!("{indent}{}", self.indent_unit);
                let mut out = String::from("[");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(self.newline);
                    out.push_str(&inner);
                    out.push_str(&self.render(item, &inner, false, keys, sep));
                    if i + 1 < items.len() || self.trailing_commas {
                        out.push(',');
                    }
                }
                out.push_str(self.newline);
                out.push_str(indent);
                out.push(']');
                out
            }
            New::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|v| self.render(v, indent, false, keys, sep))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Appends `props` as the last properties of `obj`, in the file's style, without touching any
/// other byte.
pub(crate) fn insert_props(
    doc: &Doc<'_>,
    obj: &CstObject,
    props: Vec<(String, New)>,
    out: &mut Vec<Splice>,
) {
    let node = CstNode::Container(obj.clone().into());
    let keys = key_style_of(obj).unwrap_or(doc.root_key_style);
    let sep = separator_of(doc, obj);
    let last = obj
        .properties()
        .last()
        .map(|p| CstNode::Container(p.clone().into()));
    let render_item = |i: usize, indent: &str, multiline: bool| -> String {
        let (k, v) = &props[i];
        format!(
            "{}{sep}{}",
            doc.key_text(k, keys),
            doc.render(v, indent, multiline, keys, &sep)
        )
    };
    insert_items(doc, &node, last, props.len(), &render_item, out);
}

/// Appends `items` as the last elements of `array`, in the file's style, without touching any
/// other byte. An object element is written on one line unless the array's last element is a
/// multi-line object; its keys are quoted like those of the last element that is an object.
pub(crate) fn insert_elements(
    doc: &Doc<'_>,
    array: &CstArray,
    items: Vec<New>,
    out: &mut Vec<Splice>,
) {
    let node = CstNode::Container(array.clone().into());
    let elements = array.elements();
    let last_object = elements.iter().rev().find_map(|e| e.as_object());
    let keys = last_object
        .as_ref()
        .and_then(key_style_of)
        .unwrap_or(doc.root_key_style);
    let sep = last_object
        .as_ref()
        .map_or_else(|| ": ".to_owned(), |o| separator_of(doc, o));
    let last = elements.last().cloned();
    let element_multiline = last
        .as_ref()
        .is_some_and(|l| l.as_object().is_some() && is_multiline(l));
    let render_item = |i: usize, indent: &str, multiline: bool| -> String {
        doc.render(
            &items[i],
            indent,
            multiline && element_multiline,
            keys,
            &sep,
        )
    };
    insert_items(doc, &node, last, items.len(), &render_item, out);
}

/// Renders `count` items joined in the container's layout: one a line at `indent` when
/// multi-line, else `, `-separated; with a trailing comma when asked.
type RenderItems<'r> = &'r dyn Fn(&str, bool, bool) -> String;

/// Appends `count` items (properties or elements, rendered by `render_item(index, indent of
/// their line, whether the container is multi-line)`) after `last`, the container's last item,
/// in the file's style: its newline kind, the indent of the existing items, its trailing-comma
/// habit. A single-line container stays on one line.
fn insert_items(
    doc: &Doc<'_>,
    node: &CstNode,
    last: Option<CstNode>,
    count: usize,
    render_item: &dyn Fn(usize, &str, bool) -> String,
    out: &mut Vec<Splice>,
) {
    let render_items = |indent: &str, multiline: bool, trailing: bool| -> String {
        let nl_indent = format!("{}{indent}", doc.newline);
        let joiner = if multiline {
            format!(",{nl_indent}")
        } else {
            ", ".to_owned()
        };
        let mut s = (0..count)
            .map(|i| render_item(i, indent, multiline))
            .collect::<Vec<_>>()
            .join(&joiner);
        if trailing {
            s.push(',');
        }
        s
    };
    match last {
        Some(last) if is_multiline(node) => {
            insert_after_last_line(doc, node, &last, &render_items, out)
        }
        Some(last) => insert_after_last_inline(doc, node, &last, &render_items, out),
        None => insert_into_empty(doc, node, &render_items, out),
    }
}

/// A multi-line container: the items go on their own lines after the last one.
fn insert_after_last_line(
    doc: &Doc<'_>,
    node: &CstNode,
    last: &CstNode,
    render_items: RenderItems<'_>,
    out: &mut Vec<Splice>,
) {
    let (os, oe) = doc.range(node);
    let close = oe - 1; // the `}` or `]`
    let (ls, le) = doc.range(last);
    let comma = doc.comma_after(le).filter(|c| *c < close);
    let indent = if doc.starts_line(ls) {
        doc.line_indent(ls).to_owned()
    } else {
        format!("{}{}", doc.line_indent(os), doc.indent_unit)
    };
    let after = comma.map_or(le, |c| c + 1);
    let at = doc.skip_trivia(after, true);
    if comma.is_none() {
        out.push(Splice {
            start: le,
            end: le,
            text: ",".into(),
        });
    }
    let body = render_items(&indent, true, comma.is_some());
    let at_line_end = at >= doc.text.len() || matches!(doc.text.as_bytes()[at], b'\n' | b'\r');
    // `"a": 1 }`: the spaces before the brace would end up trailing the line; they go.
    let start = if at == close && doc.text[after..at].chars().all(|c| c == ' ' || c == '\t') {
        after
    } else {
        at
    };
    let text = if at_line_end {
        format!("{}{indent}{body}", doc.newline)
    } else {
        // Something follows on the same line (the `}`, or a comment spanning lines): it goes to
        // the next line, the brace at the object's indent.
        let rest_indent = if at == close {
            doc.line_indent(os)
        } else {
            indent.as_str()
        };
        format!("{nl}{indent}{body}{nl}{rest_indent}", nl = doc.newline)
    };
    out.push(Splice {
        start,
        end: at,
        text,
    });
}

/// A single-line container: the items go on the same line after the last one.
fn insert_after_last_inline(
    doc: &Doc<'_>,
    node: &CstNode,
    last: &CstNode,
    render_items: RenderItems<'_>,
    out: &mut Vec<Splice>,
) {
    let close = doc.range(node).1 - 1;
    let le = doc.range(last).1;
    let body = render_items("", false, false);
    match doc.comma_after(le).filter(|c| *c < close) {
        Some(c) => out.push(Splice {
            start: c + 1,
            end: c + 1,
            text: format!(" {body},"),
        }),
        None => out.push(Splice {
            start: le,
            end: le,
            text: format!(", {body}"),
        }),
    }
}

/// An empty container (maybe holding comments): multi-line when it spans lines or ends its line.
fn insert_into_empty(
    doc: &Doc<'_>,
    node: &CstNode,
    render_items: RenderItems<'_>,
    out: &mut Vec<Splice>,
) {
    let (os, oe) = doc.range(node);
    let close = oe - 1;
    let inner = &doc.text[os + 1..close];
    let inner_has_newline = inner.contains('\n');
    let rest_of_line_after = {
        let i = doc.skip_trivia(oe, true);
        let i = if doc.text.as_bytes().get(i) == Some(&b',') {
            doc.skip_trivia(i + 1, true)
        } else {
            i
        };
        i >= doc.text.len() || matches!(doc.text.as_bytes()[i], b'\n' | b'\r')
    };
    if !(inner_has_newline || rest_of_line_after) {
        let body = render_items("", false, false);
        let start = if inner.trim().is_empty() {
            os + 1
        } else {
            close
        };
        out.push(Splice {
            start,
            end: close,
            text: format!(" {body} "),
        });
        return;
    }
    let base = doc.line_indent(os);
    let indent = format!("{base}{}", doc.indent_unit);
    let body = render_items(&indent, true, doc.trailing_commas);
    if inner.trim().is_empty() {
        out.push(Splice {
            start: os + 1,
            end: close,
            text: format!("{nl}{indent}{body}{nl}{base}", nl = doc.newline),
        });
    } else if doc.starts_line(close) {
        // Comments inside: the new items go on their own lines before the `}` line.
        let at = doc.line_start(close);
        out.push(Splice {
            start: at,
            end: at,
            text: format!("{indent}{body}{}", doc.newline),
        });
    } else {
        out.push(Splice {
            start: close,
            end: close,
            text: format!("{nl}{indent}{body}{nl}{base}", nl = doc.newline),
        });
    }
}
