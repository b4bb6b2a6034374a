//! Style-preserving splices into JSON5 text.
//!
//! The text is parsed into jsonc-parser's CST, which keeps every byte. The CST is used to find the
//! nodes and their exact byte ranges and to learn the file's style (newline kind, indent unit,
//! trailing commas, key quoting); an edit itself is a handful of [`Splice`]s into the original
//! text. Splicing, rather than the CST's own insert methods, is what keeps *every* other byte:
//! those methods also drop blank lines at the start and end of the object they insert into and
//! turn a single-line object into a multi-line one.

use jsonc_parser::cst::{CstNode, CstObject, CstObjectProp, CstRootNode, ObjectPropName};

/// One replacement of `text[start..end]`.
#[derive(Debug, Clone)]
pub(crate) struct Splice {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Applies the splices (which must not overlap) into a new text of exactly the final length (a
/// config of megabytes is copied once, never regrown). Insertions at the same position end up
/// in the order they were planned.
pub(crate) fn apply_splices(text: &str, splices: Vec<Splice>) -> String {
    Spliced::new(text, splices).to_text()
}

/// A text with splices in place, held as the original and the splices: its [`pieces`] written
/// one after the other are the new text, so a big file's edit is written without a second copy.
///
/// [`pieces`]: Spliced::pieces
#[derive(Debug)]
pub(crate) struct Spliced<'t> {
    text: &'t str,
    /// In text order; insertions at the same position in the order they were planned.
    splices: Vec<Splice>,
}

impl<'t> Spliced<'t> {
    /// The splices must not overlap.
    pub(crate) fn new(text: &'t str, splices: Vec<Splice>) -> Self {
        let mut ordered: Vec<(usize, Splice)> = splices.into_iter().enumerate().collect();
        ordered.sort_by_key(|(i, s)| (s.start, *i));
        let splices = ordered.into_iter().map(|(_, s)| s).collect();
        Spliced { text, splices }
    }

    /// The new text in order: stretches of the old text and the splices' texts.
    pub(crate) fn pieces(&self) -> Vec<&str> {
        let mut pieces = Vec::with_capacity(self.splices.len() * 2 + 1);
        let mut at = 0;
        for s in &self.splices {
            if s.start > at {
                pieces.push(&self.text[at..s.start]);
            }
            pieces.push(s.text.as_str());
            at = at.max(s.end);
        }
        pieces.push(&self.text[at..]);
        pieces
    }

    /// The new text as one string, allocated once at its final length.
    pub(crate) fn to_text(&self) -> String {
        let pieces = self.pieces();
        let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
        for piece in pieces {
            out.push_str(piece);
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    Double,
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyStyle {
    Bare,
    Quoted(Quote),
}

/// The text being edited and the style it is written in.
pub(crate) struct Doc<'t> {
    pub text: &'t str,
    pub newline: &'static str,
    pub indent_unit: String,
    pub trailing_commas: bool,
    /// Key quoting of the root object's keys (used when an object has no keys to copy).
    pub root_key_style: KeyStyle,
}

impl<'t> Doc<'t> {
    pub(crate) fn new(text: &'t str, root: &CstRootNode) -> Self {
        let newline = match text.find('\n') {
            Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        };
        let indent_unit = root
            .single_indent_text()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "  ".to_owned());
        let root_obj = root.object_value();
        let trailing_commas = root_obj.as_ref().is_some_and(|o| o.uses_trailing_commas());
        let root_key_style = root_obj
            .as_ref()
            .and_then(key_style_of)
            .unwrap_or(KeyStyle::Quoted(Quote::Double));
        Doc {
            text,
            newline,
            indent_unit,
            trailing_commas,
            root_key_style,
        }
    }

    /// Byte range of a node in the text.
    pub(crate) fn range(&self, node: &CstNode) -> (usize, usize) {
        let mut start = 0;
        let mut cur = node.clone();
        loop {
            for sibling in cur.previous_siblings() {
                start += sibling.to_string().len();
            }
            match cur.parent() {
                Some(parent) => cur = CstNode::Container(parent),
                None => break,
            }
        }
        (start, start + node.to_string().len())
    }

    pub(crate) fn line_start(&self, pos: usize) -> usize {
        self.text[..pos].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The leading whitespace of the line holding `pos`.
    pub(crate) fn line_indent(&self, pos: usize) -> &'t str {
        let start = self.line_start(pos);
        let line = &self.text[start..];
        let len = line.len() - line.trim_start_matches([' ', '\t']).len();
        &line[..len]
    }

    /// Whether only spaces and tabs precede `pos` on its line.
    pub(crate) fn starts_line(&self, pos: usize) -> bool {
        self.text[self.line_start(pos)..pos]
            .chars()
            .all(|c| c == ' ' || c == '\t')
    }

    /// Skips whitespace and comments from `i`. With `same_line`, stops at a line break (and
    /// before a block comment that spans lines).
    pub(crate) fn skip_trivia(&self, mut i: usize, same_line: bool) -> usize {
        let t = self.text;
        while i < t.len() {
            let rest = &t[i..];
            let c = rest.as_bytes()[0];
            if c == b' ' || c == b'\t' {
                i += 1;
            } else if c == b'\n' || c == b'\r' {
                if same_line {
                    break;
                }
                i += 1;
            } else if rest.starts_with("//") {
                i += rest.find(['\n', '\r']).unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                let end = body.find("*/").map_or(rest.len(), |e| e + 4);
                if same_line && rest[..end].contains('\n') {
                    break;
                }
                i += end;
            } else {
                break;
            }
        }
        i
    }

    /// The position of the comma after a value ending at `end`, if any.
    pub(crate) fn comma_after(&self, end: usize) -> Option<usize> {
        let i = self.skip_trivia(end, false);
        (self.text.as_bytes().get(i) == Some(&b',')).then_some(i)
    }

    pub(crate) fn key_text(&self, key: &str, style: KeyStyle) -> String {
        match style {
            // A key that is not an identifier (`modelscope/Qwen/…`) cannot go bare.
            KeyStyle::Bare if is_identifier(key) => key.to_owned(),
            KeyStyle::Bare => quote(key, Quote::Double),
            KeyStyle::Quoted(q) => quote(key, q),
        }
    }
}

/// Whether `key` can be written without quotes in JSON5 (an ASCII identifier).
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// JSON5 string literal for `s` with the given quote.
pub(crate) fn quote(s: &str, q: Quote) -> String {
    let qc = match q {
        Quote::Double => '"',
        Quote::Single => '\'',
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(qc);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c == qc => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(qc);
    out
}

/// The quote a string literal node uses.
pub(crate) fn quote_of(raw: &str) -> Quote {
    if raw.starts_with('\'') {
        Quote::Single
    } else {
        Quote::Double
    }
}

/// How the keys of `obj` are written (from its last property whose name could go unquoted: a
/// key like `"modelscope/Qwen/…"` is quoted of necessity and tells nothing), `None` when it has
/// none.
pub(crate) fn key_style_of(obj: &CstObject) -> Option<KeyStyle> {
    let prop = obj
        .properties()
        .into_iter()
        .rev()
        .find(|p| p.decoded_name().is_some_and(|n| is_identifier(&n)))?;
    Some(match prop.name()? {
        ObjectPropName::Word(_) => KeyStyle::Bare,
        ObjectPropName::String(s) => KeyStyle::Quoted(quote_of(&s.raw_value())),
    })
}

/// The last property named `key` (JSON5 lets the last duplicate win, and so does the reader).
pub(crate) fn last_prop(obj: &CstObject, key: &str) -> Option<CstObjectProp> {
    obj.properties()
        .into_iter()
        .filter(|p| p.decoded_name().as_deref() == Some(key))
        .last()
}

/// Whether the object's own braces span lines (a line break among its direct children).
pub(crate) fn is_multiline(node: &CstNode) -> bool {
    match node {
        CstNode::Container(c) => c.children().iter().any(|n| n.is_newline()),
        CstNode::Leaf(_) => false,
    }
}

/// The text between key and value used by the object's last property (`: ` when unusual).
pub(crate) fn separator_of(doc: &Doc<'_>, obj: &CstObject) -> String {
    let found = obj.properties().into_iter().last().and_then(|p| {
        let name: CstNode = p.name()?.into();
        let value = p.value()?;
        let sep = &doc.text[doc.range(&name).1..doc.range(&value).0];
        (sep.trim_matches([' ', '\t']) == ":").then(|| sep.to_owned())
    });
    found.unwrap_or_else(|| ": ".to_owned())
}
