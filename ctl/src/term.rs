//! The terminal: whether to colour, how wide it is, and wrapping long lines to fit it.

use std::io::IsTerminal;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cli::ColorChoice;

/// Colour when asked to, or (by default) on a terminal unless `NO_COLOR` is set.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    }
}

/// The width to fit: `COLUMNS` when set, else the terminal's; `None` (no wrapping) for a pipe.
pub fn width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(cols);
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|c| *c > 0)
}

/// Wraps `text` at word boundaries to `width` columns: the first line after `lead` (already
/// printed, `lead_cols` wide), the following ones indented by `indent` spaces. A word longer
/// than a line gets a line of its own. Newlines in `text` start new (indented) lines.
pub fn wrap(text: &str, lead_cols: usize, indent: usize, width: Option<usize>) -> String {
    let pad = " ".repeat(indent);
    let Some(width) = width else {
        return text.replace('\n', &format!("\n{pad}"));
    };
    let mut out = String::new();
    let mut col = lead_cols;
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
            out.push_str(&pad);
            col = indent;
        }
        let mut first = true;
        for word in line.split(' ') {
            let len = word.chars().count();
            if !first && col + 1 + len > width && col > indent {
                out.push('\n');
                out.push_str(&pad);
                col = indent;
            } else if !first {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += len;
            first = false;
        }
    }
    out
}

/// `value` with every string's control characters shown as escapes (`\u{1b}`), for human output:
/// model names and reasons come from files other programs write, and a terminal would act on an
/// escape sequence in them. JSON output keeps the values as they are (JSON escapes them itself).
pub fn printable<T: Serialize + DeserializeOwned>(value: T) -> T {
    let Ok(mut tree) = serde_json::to_value(&value) else {
        return value;
    };
    if !escape_strings(&mut tree) {
        return value;
    }
    serde_json::from_value(tree).unwrap_or(value)
}

/// Escapes control characters in every string of `tree`; whether any was found.
fn escape_strings(tree: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match tree {
        Value::String(s) if s.chars().any(char::is_control) => {
            *s = s
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_unicode().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |any, v| escape_strings(v) | any),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |any, v| escape_strings(v) | any),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_words_with_a_hanging_indent() {
        let text = wrap("aaa bbb ccc ddd", 4, 4, Some(12));
        assert_eq!(text, "aaa bbb\n    ccc ddd");
        assert_eq!(wrap("a\nb", 0, 2, None), "a\n  b");
    }

    #[test]
    fn control_characters_are_shown_not_sent() {
        let reply = vec![
            "modelscope/\u{1b}]0;pwned\u{7}x".to_owned(),
            "plain/Qwen 漢字".to_owned(),
            "cr\rnl\n\u{9b}".to_owned(),
        ];
        assert_eq!(
            printable(reply),
            [
                "modelscope/\\u{1b}]0;pwned\\u{7}x",
                "plain/Qwen 漢字",
                "cr\\u{d}nl\\u{a}\\u{9b}"
            ]
        );
    }
}
