//! The top-level properties of a config text and where their values are, found by one scan of the
//! bytes (no tree): so an edit of `agents` builds its CST and checks its result on a copy of the
//! text whose other top-level values are blanked to empty arrays of white space. Same length, same offsets,
//! same lines: splices found in the copy apply to the original, and a value of megabytes (a large
//! provider catalogue) costs neither a CST nor a parse.
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

/// `body` with the values of the top-level properties not named in `keep` replaced by empty arrays
/// of the same length (white space kept), and the ranges blanked; `None` when the outline cannot be read.
pub(crate) fn blank_top_level_except(
    body: &str,
    keep: &[&str],
) -> Option<(String, Vec<(usize, usize)>)> {
    let props = top_level_props(body)?;
    let mut bytes = body.as_bytes().to_vec();
    let mut blanked = Vec::new();
    for p in props.iter().filter(|p| !keep.contains(&p.key.as_str())) {
        let (start, end) = p.value;
        // An empty array over exactly the old value's bytes, its white space kept: the value
        // node starts and ends where it did, lines and indents stay, so the style read from
        // the copy and the offsets of what is inserted around it are the original's.
        for byte in &mut bytes[start..end] {
            if !byte.is_ascii_whitespace() {
                *byte = b' ';
            }
        }
        if end - start >= 2 {
            bytes[start] = b'[';
            bytes[end - 1] = b']';
        } else {
            bytes[start] = b'0';
        }
        blanked.push(p.value);
    }
    // Only ASCII bytes were written over whole values: still UTF-8.
    Some((String::from_utf8(bytes).ok()?, blanked))
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
        match b[j] {
            b'\\' => j += 2,
            c if c == quote => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Past the value starting at `i`: a string, an object or array (brackets balanced outside
/// strings and comments), or a scalar up to the next `,`, `}` or trivia.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' | b'\'' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
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
        let (blank, ranges) = blank_top_level_except(text, &["agents"]).unwrap();
        assert_eq!(blank.len(), text.len());
        assert_eq!(ranges.len(), 3);
        let squeezed: Vec<&str> = blank.split_whitespace().collect();
        assert_eq!(
            squeezed,
            [
                "//",
                "c",
                "{",
                "models:",
                "[",
                "],",
                "'agents':",
                "{x:",
                "1},",
                "n:",
                "[",
                "],",
                "s:",
                "[",
                "],",
                "}"
            ]
        );
        assert_eq!(blank.lines().count(), text.lines().count());
    }

    #[test]
    fn what_it_cannot_outline_is_none() {
        assert_eq!(top_level_props("[1]"), None);
        assert_eq!(top_level_props("{a: 1} x"), None);
        assert_eq!(top_level_props("{a:\u{a0}1}"), None);
        assert_eq!(top_level_props("{'a\\'': 1}"), None);
    }
}
