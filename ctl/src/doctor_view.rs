//! `msclawctl doctor`'s human view: a line per check, coloured by level, wrapped to the terminal.

use crate::doctor::{Check, Level};
use crate::render::Style;
use crate::term::wrap;

/// One line per check, coloured by level; a long message wraps at word boundaries under itself.
pub fn render(checks: &[Check], style: &Style, width: Option<usize>) -> String {
    const MESSAGE_COLUMN: usize = 21;
    let mut out = String::new();
    for c in checks {
        let level = match c.level {
            Level::Ok => style.green("ok   "),
            Level::Warn => style.yellow("warn "),
            Level::Fail => style.red("fail "),
        };
        let lead = format!("{:<15} ", c.check);
        let message = wrap(&c.message, MESSAGE_COLUMN, MESSAGE_COLUMN, width);
        out += &format!("{level}{lead}{message}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_multi_line_messages_wrap_under_themselves() {
        let settings = msclawd::settings::Settings::parse(
            "daily_limt = 3\n",
            std::path::Path::new("/home/u/.config/msclaw/config.toml"),
        )
        .unwrap_err();
        let checks = [
            Check {
                check: "rotation",
                level: Level::Ok,
                message: "1 model from msclaw's settings: modelscope/ZhipuAI/GLM-5".into(),
            },
            Check {
                check: "settings",
                level: Level::Fail,
                message: format!("{settings}; msclawd will not start with it"),
            },
            Check {
                check: "gateway",
                level: Level::Warn,
                message: "no gateway listens on 127.0.0.1:18789; start it with `openclaw gateway`"
                    .into(),
            },
        ];
        insta::assert_snapshot!(render(&checks, &Style::new(false), Some(80)));
        let coloured = render(&checks, &Style::new(true), Some(80));
        assert!(coloured.starts_with("\x1b[32mok"), "{coloured:?}");
        assert!(coloured.contains("\x1b[31mfail"), "{coloured:?}");
        assert!(coloured.contains("\x1b[33mwarn"), "{coloured:?}");
    }
}
