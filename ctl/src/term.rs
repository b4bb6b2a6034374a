//! The terminal: whether to colour, how wide it is, and wrapping long lines to fit it.

use std::io::IsTerminal;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_words_with_a_hanging_indent() {
        let text = wrap("aaa bbb ccc ddd", 4, 4, Some(12));
        assert_eq!(text, "aaa bbb\n    ccc ddd");
        assert_eq!(wrap("a\nb", 0, 2, None), "a\n  b");
    }
}
