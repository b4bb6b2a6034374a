//! JSON5 text: reading a config file, parsing it, and the errors. Every parse first passes
//! OpenClaw's own syntax check ([`super::json5_syntax`], a port of json5 2.2.3), so msclaw accepts
//! exactly what OpenClaw accepts and reports its `line:column`; jsonc-parser (every JSON5
//! allowance on) then builds the value or the CST. No error message quotes file contents (parse
//! errors use fixed wording plus line/column): the text may hold an API key.
//!
//! What jsonc-parser cannot give as JSON values is refused with a clear [`ConfigError::Parse`]:
//! `Infinity`/`NaN` (JSON has no such numbers) and numbers beyond f64. A UTF-8 byte order mark is
//! skipped.

use std::io;
use std::path::{Path, PathBuf};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::CstRootNode;
use jsonc_parser::errors::{ParseError, ParseErrorKind};
use serde_json::Value;

use super::bounded_read::{ReadRefusal, read_regular_file};
use super::outline::{Outline, cut_top_level};
use super::{json5_syntax, syntax_memo};

/// Why the config could not be read. Messages name files and key paths, never values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("OpenClaw config not found: {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `line` and `column` are 1-based (column counts characters).
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A `$include` that cannot be followed (missing file, cycle, bad value).
    #[error("{path}: {message}")]
    Include { path: PathBuf, message: String },
    /// The file parses but does not have the shape msclaw relies on.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The most msclaw reads of a top-level config file (OpenClaw sets no bound; a config is KBs).
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a config file as UTF-8 text: a regular file of at most [`MAX_CONFIG_FILE_BYTES`], read
/// without ever blocking (see [`read_regular_file`]).
pub(crate) fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    match read_regular_file(path, MAX_CONFIG_FILE_BYTES, false) {
        Ok(bytes) => decode_utf8(bytes, path),
        Err(ReadRefusal::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            Err(ConfigError::NotFound(path.to_path_buf()))
        }
        Err(refusal) => Err(ConfigError::Io {
            path: path.to_path_buf(),
            source: match refusal {
                ReadRefusal::Io(e) => e,
                ReadRefusal::NotRegular => io::Error::other("not a regular file"),
                ReadRefusal::HardLinked => io::Error::other("it has other hard links"),
                ReadRefusal::TooBig { max } => io::Error::other(format!("bigger than {max} bytes")),
            },
        }),
    }
}

/// The bytes as text; invalid UTF-8 is a parse error at the first bad byte.
pub(crate) fn decode_utf8(bytes: Vec<u8>, path: &Path) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // Safe: the prefix up to `valid_up_to` is valid UTF-8.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        let (line, column) = line_column(prefix, prefix.len());
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: "the file is not valid UTF-8".to_owned(),
        }
    })
}

/// The UTF-8 byte order mark, if the text starts with one, and the rest.
pub(crate) fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    }
}

/// The options msclaw parses with: every JSON5 allowance jsonc-parser has.
pub(crate) fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: true,
        allow_trailing_commas: true,
        allow_missing_commas: true,
        allow_single_quoted_strings: true,
        allow_hexadecimal_numbers: true,
        allow_unary_plus_numbers: true,
        allow_bare_decimal_point_numbers: true,
        allow_non_finite_numbers: true,
        allow_extended_string_escapes: true,
    }
}

/// Rejects what OpenClaw's JSON5 parser rejects, at the line and column it reports.
/// A text that passed lately is not checked again (see [`syntax_memo`]).
pub(crate) fn check_syntax(text: &str, path: &Path) -> Result<(), ConfigError> {
    if syntax_memo::passed(text) {
        return Ok(());
    }
    json5_syntax::check(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.redacted_message().to_owned(),
    })?;
    syntax_memo::remember(&[text.as_bytes()]);
    Ok(())
}

/// Parses JSON5 text (BOM skipped) into a JSON value.
pub(crate) fn parse_value(text: &str, path: &Path) -> Result<Value, ConfigError> {
    check_syntax(text, path)?;
    let (_, body) = split_bom(text);
    jsonc_parser::parse_to_serde_value::<Value>(body, &parse_options())
        .map_err(|e| parse_error(&e, body, path))
}

/// The value of a whole config text (BOM skipped) in which only the top-level properties that
/// `keep(key, value text)` accepts are parsed (see [`cut_top_level`]); the rest is syntax-checked
/// only. So a reader of a few keys never builds a tree of a megabyte-sized catalogue.
pub(crate) fn parse_root_keeping(
    text: &str,
    path: &Path,
    keep: &dyn Fn(&str, &str) -> bool,
) -> Result<Value, ConfigError> {
    check_syntax(text, path)?;
    let (_, body) = split_bom(text);
    match cut_top_level(body, keep) {
        Some(outline) => parse_outline_value(&outline, body, path),
        None => parse_value(body, path),
    }
}

/// The value of an [`Outline`] of `body` (which passed the syntax check); an error is placed
/// where it is in `body`.
pub(crate) fn parse_outline_value(
    outline: &Outline,
    body: &str,
    path: &Path,
) -> Result<Value, ConfigError> {
    jsonc_parser::parse_to_serde_value::<Value>(&outline.text, &parse_options())
        .map_err(|e| outline_parse_error(&e, outline, body, path))
}

/// [`parse_error`] for an error in an outline's copy, moved to where it is in `body`: the lines
/// are the same; the column moves by what was cut before it on its line.
pub(crate) fn outline_parse_error(
    e: &ParseError,
    outline: &Outline,
    body: &str,
    path: &Path,
) -> ConfigError {
    let mut err = parse_error(e, &outline.text, path);
    if let ConfigError::Parse { column, .. } = &mut err {
        let at = e.range().start;
        let (_, in_copy) = line_column(&outline.text, at);
        let (_, in_body) = line_column(body, outline.original_offset(at));
        *column = (*column as isize + in_body as isize - in_copy as isize).max(1) as usize;
    }
    err
}

/// The CST of `body` (BOM already split off), for style-preserving edits; only text OpenClaw
/// would accept gets one, so no edit is ever written into a file OpenClaw rejects.
pub(crate) fn parse_cst(body: &str, path: &Path) -> Result<CstRootNode, ConfigError> {
    check_syntax(body, path)?;
    CstRootNode::parse(body, &parse_options()).map_err(|e| parse_error(&e, body, path))
}

/// A [`ConfigError::Parse`] for a jsonc-parser error. The message is chosen here from the error
/// kind: jsonc-parser's own text can quote part of the input (an invalid `\u` escape), and the
/// input may be an API key.
pub(crate) fn parse_error(e: &ParseError, text: &str, path: &Path) -> ConfigError {
    let range = e.range();
    let token = text.get(range.start..range.end).unwrap_or("");
    let message = match e.kind() {
        ParseErrorKind::Custom(msg) if msg == "Number is out of range" => {
            let word = token.trim_start_matches(['+', '-']);
            if word == "Infinity" || word == "NaN" {
                "Infinity and NaN are valid JSON5 but not supported by msclaw (JSON has no such \
                 numbers); write a finite number"
                    .to_owned()
            } else {
                "number is out of range".to_owned()
            }
        }
        ParseErrorKind::Custom(_) => "invalid value".to_owned(),
        ParseErrorKind::String(
            jsonc_parser::ParseStringErrorKind::InvalidUnicodeEscapeSequence(_),
        ) => "invalid \\u escape in a string".to_owned(),
        ParseErrorKind::UnexpectedToken if token.starts_with('`') => {
            "unexpected token (template strings are not JSON5; use quotes)".to_owned()
        }
        // Every other kind displays as a fixed phrase.
        other => other.to_string(),
    };
    ConfigError::Parse {
        path: path.to_path_buf(),
        line: e.line_display(),
        column: e.column_display(),
        message,
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub(crate) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.trim_end_matches('\r').chars().count())
        + 1;
    (line, column)
}

/// The value at `keys` (object keys from `v`), if every step is an object holding the key.
pub(crate) fn get<'v>(v: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().try_fold(v, |cur, k| cur.as_object()?.get(*k))
}

pub(crate) fn get_str(v: &Value, keys: &[&str]) -> Option<String> {
    get(v, keys)?.as_str().map(str::to_owned)
}

/// A [`ConfigError::Invalid`]: the file parses but has another shape than msclaw relies on.
pub(crate) fn invalid(path: &Path, message: &str) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        message: message.to_owned(),
    }
}
