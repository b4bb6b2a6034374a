//! The top-level properties of a config text and where their values are, found by one scan of the
//! bytes (no tree): so an edit of `agents`, or the typed read, builds its CST or value from a copy
//! of the text whose other top-level values are cut to a few bytes ([`Outline`]). The copy keeps
//! every line, and every offset outside the cut values maps back to the original: splices found
//! in the copy apply to the original, and a value of megabytes (a large provider catalogue) costs
//! neither a CST nor a parse.
//!
//! Only for text that passed the JSON5 syntax check; anything unexpected gives `None` (the caller
//! then works on the whole text).

/// One top-level property: its key (unquoted) and the byte range of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopProp {
    pub key: String,
    pub value: (usize, usize),
}

/// The top-level properties of the object `body` holds, in order.
pub(crate) fn top_level_props(body: &str) -> Option<Vec<TopProp>> {
    let b = body.as_bytes();
    let mut i = skip_trivia(b, 0)?;
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut props = Vec::new();
    loop {
        i = skip_trivia(b, i)?;
        match b.get(i)? {
            b'}' => return (skip_trivia(b, i + 1)? == b.len()).then_some(props),
            b'"' | b'\'' => {
                let end = skip_string(b, i)?;
                // Keys with escapes are rare at the top level: leave such a file whole.
                let raw = &body[i + 1..end - 1];
                if raw.contains('\\') {
                    return None;
                }
                props.push(TopProp {
                    key: raw.to_owned(),
                    value: (0, 0),
                });
                i = end;
            }
            _ => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$')
                {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                props.push(TopProp {
                    key: body[start..i].to_owned(),
                    value: (0, 0),
                });
            }
        }
        i = skip_trivia(b, i)?;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_trivia(b, i + 1)?;
        let end = skip_value(b, i)?;
        props.last_mut()?.value = (i, end);
        i = skip_trivia(b, end)?;
        if b.get(i) == Some(&b',') {
            i += 1;
        }
    }
}

/// A copy of a config text in which the values of some top-level properties are cut down to
/// `[` + their line breaks + the indent of their last line + `]`: same lines, so the style read
/// from the copy is the original's, and a value of megabytes costs a few bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outline {
    pub text: String,
    cuts: Vec<Cut>,
}

/// One value cut: its range in the original text and in the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    original: (usize, usize),
    copy: (usize, usize),
}

impl Outline {
    /// Whether something was cut (else the copy is the text itself).
    pub fn is_cut(&self) -> bool {
        !self.cuts.is_empty()
    }

    /// Whether the copy range `start..end` reaches into a cut value (an insertion touching
    /// it from outside does not).
    pub fn touches_cut(&self, start: usize, end: usize) -> bool {
        self.cuts.iter().any(|c| {
            let (a, b) = c.copy;
            start < b && a < end && !(start == end && (start == a || start == b))
        })
    }

    /// The offset in the original text of offset `at` of the copy; inside a cut value, where
    /// that value starts.
    pub fn original_offset(&self, at: usize) -> usize {
        let mut shift = 0isize;
        for c in &self.cuts {
            if at <= c.copy.0 {
                break;
            }
            if at < c.copy.1 {
                return c.original.0;
            }
            shift = c.original.1 as isize - c.copy.1 as isize;
        }
        (at as isize + shift) as usize
    }
}

/// The [`Outline`] of `body` keeping the values of the top-level properties for which
/// `keep(key, value text)` holds; `None` when the outline cannot be read.
pub(crate) fn cut_top_level(body: &str, keep: &dyn Fn(&str, &str) -> bool) -> Option<Outline> {
    let props = top_level_props(body)?;
    let mut text = String::new();
    let mut cuts = Vec::new();
    let mut from = 0;
    for p in props {
        let (start, end) = p.value;
        if keep(&p.key, &body[start..end]) {
            continue;
        }
        text.push_str(&body[from..start]);
        let copy_start = text.len();
        text.push('[');
        let value = &body[start..end];
        let mut last_line = value;
        for (i, line) in value.split('\n').enumerate() {
            if i > 0 {
                text.push('\n');
            }
            if line.ends_with('\r') {
                text.push('\r');
            }
            last_line = line;
        }
        if !std::ptr::eq(last_line, value) {
            let indent = last_line.len() - last_line.trim_start_matches([' ', '\t']).len();
            text.push_str(&last_line[..indent]);
        }
        text.push(']');
        cuts.push(Cut {
            original: (start, end),
            copy: (copy_start, text.len()),
        });
        from = end;
    }
    text.push_str(&body[from..]);
    Some(Outline { text, cuts })
}

fn skip_trivia(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match b.get(i) {
            Some(c) if c.is_ascii_whitespace() => i += 1,
            // JSON5 white space beyond ASCII (NBSP, BOM, line separators...): leave the file whole.
            Some(c) if *c >= 0x80 => return None,
            Some(b'/') => match b.get(i + 1) {
                Some(b'/') => {
                    while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                        i += 1;
                    }
                }
                Some(b'*') => {
                    let rest = &b[i + 2..];
                    let close = rest.windows(2).position(|w| w == b"*/")?;
                    i += 2 + close + 2;
                }
                _ => return None,
            },
            _ => return Some(i),
        }
    }
}

/// Past the string starting at `i` (its quote).
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        j += memchr::memchr2(quote, b'\\', &b[j..])?;
        if b[j] == quote {
            return Some(j + 1);
        }
        j += 2;
    }
    None
}

/// The bytes that matter inside an object or array being skipped: quotes, brackets, `/`.
static STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut k = 0;
    let bytes = b"\"'/{}[]";
    while k < bytes.len() {
        table[bytes[k] as usize] = true;
        k += 1;
    }
    table
};

/// Past the value starting at `i`: a string, an object or array (brackets balanced outside
/// strings and comments), or a scalar up to the next `,`, `}` or trivia.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' | b'\'' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                // Names, numbers and white space in between are skipped in one tight loop.
                j += b[j..].iter().position(|&c| STRUCTURAL[c as usize])?;
                match b[j] {
                    b'"' | b'\'' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'/' if matches!(b.get(j + 1), Some(b'/' | b'*')) => {
                        j = skip_trivia(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b'/') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_top_level_values_through_strings_and_comments() {
        let text = "// c\n{ models: { a: \"}\" , b: [1, '{'] /* } */ },\n 'agents': {x: 1}, n: -1.5e3, s: \"a\\\"b\", }\n";
        let props = top_level_props(text).unwrap();
        let keys: Vec<_> = props.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["models", "agents", "n", "s"]);
        let (a, b) = props[1].value;
        assert_eq!(&text[a..b], "{x: 1}");
        let (a, b) = props[2].value;
        assert_eq!(&text[a..b], "-1.5e3");
        let outline = cut_top_level(text, &|key, _| key == "agents").unwrap();
        assert_eq!(
            outline.text,
            "// c\n{ models: [],\n 'agents': {x: 1}, n: [], s: [], }\n"
        );
        assert_eq!(outline.text.lines().count(), text.lines().count());
        let agents = outline.text.find("{x").unwrap();
        assert_eq!(outline.original_offset(agents), text.find("{x").unwrap());
        assert_eq!(outline.original_offset(outline.text.len()), text.len());
        let models = outline.text.find('[').unwrap();
        assert_eq!(
            outline.original_offset(models + 1),
            text.find("{ a").unwrap()
        );
        assert!(outline.touches_cut(models, models + 1));
        assert!(!outline.touches_cut(models + 2, models + 2));
    }

    #[test]
    fn a_cut_keeps_the_lines_and_the_indent_of_the_closing_line() {
        let text = "{\r\n  big: {\r\n    a: 1,\r\n    b: 2,\r\n  },\r\n  agents: {},\r\n}";
        let outline = cut_top_level(text, &|key, _| key != "big").unwrap();
        assert_eq!(
            outline.text,
            "{\r\n  big: [\r\n\r\n\r\n  ],\r\n  agents: {},\r\n}"
        );
        let agents = outline.text.find("agents").unwrap();
        assert_eq!(
            outline.original_offset(agents),
            text.find("agents").unwrap()
        );
    }

    #[test]
    fn what_it_cannot_outline_is_none() {
        assert_eq!(top_level_props("[1]"), None);
        assert_eq!(top_level_props("{a: 1} x"), None);
        assert_eq!(top_level_props("{a:\u{a0}1}"), None);
        assert_eq!(top_level_props("{'a\\'': 1}"), None);
    }
}
