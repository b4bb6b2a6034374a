//! The syntax check OpenClaw's JSON5 parser makes: a hand port of the lexer and parser state
//! machines of `json5` 2.2.3 (`lib/parse.js`), the package OpenClaw reads its config with. It runs
//! before msclaw's own (more lenient) CST parse, so msclaw accepts exactly the texts OpenClaw
//! accepts and reports the same `line:column`: lines count `\n` only, columns are 1-based UTF-16
//! code units, counted after the offending character was read (as json5 does). `JSON.parse`,
//! which OpenClaw tries first, accepts a subset of this, so json5's verdict is OpenClaw's verdict.
//!
//! The port keeps json5's structure (one method per lexer state, the same names) so it can be
//! compared with the original line by line; only values are dropped, the verdict is all we need.

use super::json5_unicode::{ID_CONTINUE, ID_START, SPACE_SEPARATOR};

/// Why json5 rejects a text, and where (1-based line, UTF-16 column, as json5 reports them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub kind: SyntaxErrorKind,
}

/// json5's three error forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyntaxErrorKind {
    /// `invalid character 'c'`: the character is part of the text (maybe of a secret), so only
    /// [`SyntaxError::json5_message`] shows it.
    InvalidChar(char),
    InvalidEndOfInput,
    InvalidIdentifier,
}

impl SyntaxError {
    /// json5's own message, e.g. `JSON5: invalid character '"' at 3:3` (quotes the character).
    pub fn json5_message(&self) -> String {
        let what = match self.kind {
            SyntaxErrorKind::InvalidChar(c) => format!("invalid character '{}'", format_char(c)),
            SyntaxErrorKind::InvalidEndOfInput => "invalid end of input".to_owned(),
            SyntaxErrorKind::InvalidIdentifier => "invalid identifier character".to_owned(),
        };
        format!("JSON5: {what} at {}:{}", self.line, self.column)
    }

    /// The message without the character, for errors msclaw shows (the text may hold a key).
    pub fn redacted_message(&self) -> &'static str {
        match self.kind {
            SyntaxErrorKind::InvalidChar(_) => "JSON5: invalid character (OpenClaw rejects it too)",
            SyntaxErrorKind::InvalidEndOfInput => "JSON5: invalid end of input",
            SyntaxErrorKind::InvalidIdentifier => "JSON5: invalid identifier character",
        }
    }
}

/// json5's `formatChar`.
fn format_char(c: char) -> String {
    match c {
        '\'' => "\\'".to_owned(),
        '"' => "\\\"".to_owned(),
        '\\' => "\\\\".to_owned(),
        '\u{8}' => "\\b".to_owned(),
        '\u{c}' => "\\f".to_owned(),
        '\n' => "\\n".to_owned(),
        '\r' => "\\r".to_owned(),
        '\t' => "\\t".to_owned(),
        '\u{b}' => "\\v".to_owned(),
        '\0' => "\\0".to_owned(),
        '\u{2028}' => "\\u2028".to_owned(),
        '\u{2029}' => "\\u2029".to_owned(),
        c if c < ' ' => format!("\\x{:02x}", c as u32),
        c => c.to_string(),
    }
}

/// Checks `text` (a leading byte order mark included: json5 skips it as whitespace) the way
/// json5 2.2.3 parses it.
pub fn check(text: &str) -> Result<(), SyntaxError> {
    let mut p = Parser {
        src: text,
        pos: 0,
        line: 1,
        column: 0,
        parse_state: ParseState::Start,
        stack: Vec::new(),
        lex_state: Lex::Default,
        double_quote: false,
    };
    loop {
        let token = p.lex()?;
        p.parse(token)?;
        if token == Token::Eof {
            return Ok(());
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Eof,
    Punctuator(char),
    Identifier,
    String,
    /// null, a boolean or a number.
    Scalar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParseState {
    Start,
    BeforePropertyName,
    AfterPropertyName,
    BeforePropertyValue,
    BeforeArrayValue,
    AfterPropertyValue,
    AfterArrayValue,
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    Default,
    Comment,
    MultiLineComment,
    MultiLineCommentAsterisk,
    SingleLineComment,
    Value,
    IdentifierNameStartEscape,
    IdentifierName,
    IdentifierNameEscape,
    Sign,
    Zero,
    DecimalInteger,
    DecimalPointLeading,
    DecimalPoint,
    DecimalFraction,
    DecimalExponent,
    DecimalExponentSign,
    DecimalExponentInteger,
    Hexadecimal,
    HexadecimalInteger,
    String,
}

/// What a lexer state returns: a token, or `None` to keep lexing.
type Step = Result<Option<Token>, SyntaxError>;

struct Parser<'a> {
    src: &'a str,
    /// Byte offset into `src`.
    pos: usize,
    line: usize,
    /// UTF-16 units read on this line (json5's `column`, 0 before the first).
    column: usize,
    parse_state: ParseState,
    /// Open containers, innermost last: `true` for an array.
    stack: Vec<bool>,
    lex_state: Lex,
    double_quote: bool,
}

// ---- reading characters (json5's peek/read and its error constructors) ----
impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        // Nearly every character of a config is ASCII: no UTF-8 decoding for those.
        match self.src.as_bytes().get(self.pos) {
            Some(&b) if b.is_ascii() => Some(b as char),
            Some(_) => self.src[self.pos..].chars().next(),
            None => None,
        }
    }

    fn read(&mut self) -> Option<char> {
        let c = self.peek();
        match c {
            Some('\n') => {
                self.line += 1;
                self.column = 0;
            }
            Some(c) => self.column += c.len_utf16(),
            None => self.column += 1,
        }
        if let Some(c) = c {
            self.pos += c.len_utf8();
        }
        c
    }

    fn error(&self, kind: SyntaxErrorKind) -> SyntaxError {
        SyntaxError {
            line: self.line,
            column: self.column,
            kind,
        }
    }

    /// json5's `throw invalidChar(read())`.
    fn invalid_read(&mut self) -> SyntaxError {
        match self.read() {
            Some(c) => self.error(SyntaxErrorKind::InvalidChar(c)),
            None => self.error(SyntaxErrorKind::InvalidEndOfInput),
        }
    }

    fn invalid_identifier(&mut self) -> SyntaxError {
        self.column -= 5;
        self.error(SyntaxErrorKind::InvalidIdentifier)
    }

    /// Reads the run of ASCII bytes from `pos` on that `plain` accepts (never a line feed): what
    /// `read` would do one character at a time (an ASCII character is one UTF-16 column), in one
    /// go. The speed of a megabyte-sized config rests on these runs. Returns how many were read.
    fn read_ascii_run(&mut self, plain: impl Fn(u8) -> bool) -> usize {
        let rest = &self.src.as_bytes()[self.pos..];
        let n = rest
            .iter()
            .take_while(|&&b| b.is_ascii() && plain(b))
            .count();
        self.pos += n;
        self.column += n;
        n
    }

    /// Reads a run of ASCII white space (line feeds counted as `read` counts them).
    fn read_ascii_space(&mut self) -> usize {
        let mut n = 0;
        loop {
            n += self.read_ascii_run(|b| matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c));
            if self.src.as_bytes().get(self.pos) != Some(&b'\n') {
                return n;
            }
            self.pos += 1;
            self.line += 1;
            self.column = 0;
            n += 1;
        }
    }

    fn literal(&mut self, rest: &str) -> Result<(), SyntaxError> {
        for c in rest.chars() {
            if self.peek() != Some(c) {
                return Err(self.invalid_read());
            }
            self.read();
        }
        Ok(())
    }

    fn peek_is(&self, test: fn(char) -> bool) -> bool {
        self.peek().is_some_and(test)
    }
}

fn in_table(table: &[(u32, u32)], c: u32) -> bool {
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

// Below 0x80 the tables add nothing to the ASCII rules: answered without a search.
fn is_id_start(c: u32) -> bool {
    matches!(char::from_u32(c), Some('a'..='z' | 'A'..='Z' | '$' | '_'))
        || (c >= 0x80 && in_table(ID_START, c))
}

fn is_id_continue(c: u32) -> bool {
    matches!(
        char::from_u32(c),
        Some('a'..='z' | 'A'..='Z' | '0'..='9' | '$' | '_' | '\u{200C}' | '\u{200D}')
    ) || (c >= 0x80 && in_table(ID_CONTINUE, c))
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_hex_digit(c: char) -> bool {
    c.is_ascii_hexdigit()
}

// ---- the parser (json5's parseStates, push and pop) ----
impl Parser<'_> {
    fn parse(&mut self, token: Token) -> Result<(), SyntaxError> {
        use ParseState as P;
        if token == Token::Eof && self.parse_state != P::End {
            return Err(self.error(SyntaxErrorKind::InvalidEndOfInput));
        }
        match (self.parse_state, token) {
            (P::Start | P::BeforePropertyValue, _) => self.push(token),
            (P::BeforePropertyName, Token::Punctuator(_)) => self.pop(),
            (P::BeforePropertyName, _) => self.parse_state = P::AfterPropertyName,
            (P::AfterPropertyName, _) => self.parse_state = P::BeforePropertyValue,
            (P::BeforeArrayValue, Token::Punctuator(']')) => self.pop(),
            (P::BeforeArrayValue, _) => self.push(token),
            (P::AfterPropertyValue, Token::Punctuator(',')) => {
                self.parse_state = P::BeforePropertyName;
            }
            (P::AfterArrayValue, Token::Punctuator(',')) => self.parse_state = P::BeforeArrayValue,
            (P::AfterPropertyValue | P::AfterArrayValue, _) => self.pop(),
            (P::End, _) => {}
        }
        Ok(())
    }

    fn push(&mut self, token: Token) {
        match token {
            Token::Punctuator('{') => {
                self.stack.push(false);
                self.parse_state = ParseState::BeforePropertyName;
            }
            Token::Punctuator('[') => {
                self.stack.push(true);
                self.parse_state = ParseState::BeforeArrayValue;
            }
            _ => self.after_value(),
        }
    }

    fn pop(&mut self) {
        self.stack.pop();
        self.after_value();
    }

    fn after_value(&mut self) {
        self.parse_state = match self.stack.last() {
            None => ParseState::End,
            Some(true) => ParseState::AfterArrayValue,
            Some(false) => ParseState::AfterPropertyValue,
        };
    }
}

// ---- the lexer: whitespace, comments and the parse-state-specific token starts ----
impl Parser<'_> {
    fn lex(&mut self) -> Result<Token, SyntaxError> {
        self.lex_state = Lex::Default;
        self.double_quote = false;
        loop {
            let c = self.peek();
            if let Some(token) = self.lex_step(c)? {
                return Ok(token);
            }
        }
    }

    fn lex_step(&mut self, c: Option<char>) -> Step {
        match self.lex_state {
            Lex::Default => self.lex_default(c),
            Lex::Comment | Lex::MultiLineComment | Lex::MultiLineCommentAsterisk => {
                self.lex_comment(c)
            }
            Lex::SingleLineComment => self.lex_single_line_comment(c),
            Lex::Value => self.lex_value(c),
            Lex::IdentifierNameStartEscape | Lex::IdentifierName | Lex::IdentifierNameEscape => {
                self.lex_identifier(c)
            }
            Lex::String => self.lex_string(c),
            _ => self.lex_number(c),
        }
    }

    fn lex_default(&mut self, c: Option<char>) -> Step {
        if self.read_ascii_space() > 0 {
            return Ok(None);
        }
        match c {
            Some(
                '\t' | '\u{b}' | '\u{c}' | ' ' | '\u{a0}' | '\u{feff}' | '\n' | '\r' | '\u{2028}'
                | '\u{2029}',
            ) => {
                self.read();
                Ok(None)
            }
            Some('/') => {
                self.read();
                self.lex_state = Lex::Comment;
                Ok(None)
            }
            None => {
                self.read();
                Ok(Some(Token::Eof))
            }
            // The only ASCII space separator, ' ', is matched above: no search for ASCII.
            Some(c) if !c.is_ascii() && in_table(SPACE_SEPARATOR, c as u32) => {
                self.read();
                Ok(None)
            }
            Some(c) => self.lex_for_parse_state(c),
        }
    }

    fn lex_comment(&mut self, c: Option<char>) -> Step {
        match (self.lex_state, c) {
            (Lex::Comment, Some('*')) => self.lex_state = Lex::MultiLineComment,
            (Lex::Comment, Some('/')) => self.lex_state = Lex::SingleLineComment,
            (Lex::Comment, _) => return Err(self.invalid_read()),
            (_, None) => return Err(self.invalid_read()),
            (Lex::MultiLineComment, Some('*')) => self.lex_state = Lex::MultiLineCommentAsterisk,
            (Lex::MultiLineCommentAsterisk, Some('*')) => {}
            (Lex::MultiLineCommentAsterisk, Some('/')) => self.lex_state = Lex::Default,
            (Lex::MultiLineCommentAsterisk, Some(_)) => self.lex_state = Lex::MultiLineComment,
            (_, Some('\n')) => {}
            _ => {
                // Inside a comment: up to the next `*` or line feed.
                self.read();
                self.read_ascii_run(|b| b != b'*' && b != b'\n');
                return Ok(None);
            }
        }
        self.read();
        Ok(None)
    }

    fn lex_single_line_comment(&mut self, c: Option<char>) -> Step {
        match c {
            Some('\n' | '\r' | '\u{2028}' | '\u{2029}') => self.lex_state = Lex::Default,
            None => {
                self.read();
                return Ok(Some(Token::Eof));
            }
            Some(_) => {
                self.read();
                self.read_ascii_run(|b| b != b'\n' && b != b'\r');
                return Ok(None);
            }
        }
        self.read();
        Ok(None)
    }

    /// json5's lexer states named after parse states, which `default` hands over to.
    fn lex_for_parse_state(&mut self, c: char) -> Step {
        use ParseState as P;
        let punctuator = match (self.parse_state, c) {
            (P::Start, '{' | '[') => true,
            (P::Start | P::BeforePropertyValue, _) => {
                self.lex_state = Lex::Value;
                return Ok(None);
            }
            (P::BeforePropertyName, '}') => true,
            (P::BeforePropertyName, _) => return self.lex_property_name_start(c),
            (P::AfterPropertyName, ':') => true,
            (P::BeforeArrayValue, ']') => true,
            (P::BeforeArrayValue, _) => {
                self.lex_state = Lex::Value;
                return Ok(None);
            }
            (P::AfterPropertyValue, ',' | '}') | (P::AfterArrayValue, ',' | ']') => true,
            _ => false,
        };
        if !punctuator {
            return Err(self.invalid_read());
        }
        self.read();
        Ok(Some(Token::Punctuator(c)))
    }

    fn lex_property_name_start(&mut self, c: char) -> Step {
        match c {
            '$' | '_' => self.lex_state = Lex::IdentifierName,
            '\\' => self.lex_state = Lex::IdentifierNameStartEscape,
            '"' | '\'' => {
                self.double_quote = c == '"';
                self.lex_state = Lex::String;
            }
            c if is_id_start(c as u32) => self.lex_state = Lex::IdentifierName,
            _ => return Err(self.invalid_read()),
        }
        self.read();
        Ok(None)
    }
}

// ---- the lexer: values, identifiers, strings and numbers ----
impl Parser<'_> {
    fn lex_value(&mut self, c: Option<char>) -> Step {
        let Some(c) = c else {
            return Err(self.invalid_read());
        };
        self.lex_state = match c {
            '{' | '[' => {
                self.read();
                return Ok(Some(Token::Punctuator(c)));
            }
            'n' | 't' | 'f' | 'I' | 'N' => {
                self.read();
                let rest = match c {
                    'n' => "ull",
                    't' => "rue",
                    'f' => "alse",
                    'I' => "nfinity",
                    _ => "aN",
                };
                self.literal(rest)?;
                return Ok(Some(Token::Scalar));
            }
            '-' | '+' => Lex::Sign,
            '.' => Lex::DecimalPointLeading,
            '0' => Lex::Zero,
            '1'..='9' => Lex::DecimalInteger,
            '"' | '\'' => {
                self.double_quote = c == '"';
                Lex::String
            }
            _ => return Err(self.invalid_read()),
        };
        self.read();
        Ok(None)
    }

    fn lex_identifier(&mut self, c: Option<char>) -> Step {
        if self.lex_state == Lex::IdentifierName {
            return match c {
                Some('\\') => {
                    self.read();
                    self.lex_state = Lex::IdentifierNameEscape;
                    Ok(None)
                }
                Some(c) if is_id_continue(c as u32) => {
                    self.read();
                    self.read_ascii_run(|b| b.is_ascii_alphanumeric() || b == b'$' || b == b'_');
                    Ok(None)
                }
                _ => Ok(Some(Token::Identifier)),
            };
        }
        if c != Some('u') {
            return Err(self.invalid_read());
        }
        self.read();
        let u = self.unicode_escape()?;
        let ok = if self.lex_state == Lex::IdentifierNameStartEscape {
            is_id_start(u)
        } else {
            is_id_continue(u)
        };
        if !ok {
            return Err(self.invalid_identifier());
        }
        self.lex_state = Lex::IdentifierName;
        Ok(None)
    }

    fn lex_string(&mut self, c: Option<char>) -> Step {
        match c {
            Some('\\') => {
                self.read();
                self.escape()?;
            }
            Some('"') if self.double_quote => {
                self.read();
                return Ok(Some(Token::String));
            }
            Some('\'') if !self.double_quote => {
                self.read();
                return Ok(Some(Token::String));
            }
            Some('\n' | '\r') | None => return Err(self.invalid_read()),
            Some(_) => {
                self.read();
                self.read_ascii_run(|b| !matches!(b, b'\\' | b'"' | b'\'' | b'\n' | b'\r'));
            }
        }
        Ok(None)
    }

    /// json5's `escape`, after the backslash.
    fn escape(&mut self) -> Result<(), SyntaxError> {
        match self.peek() {
            Some('0') => {
                self.read();
                if self.peek_is(is_digit) {
                    return Err(self.invalid_read());
                }
            }
            Some('x') => {
                self.read();
                for _ in 0..2 {
                    self.hex_digit()?;
                }
            }
            Some('u') => {
                self.read();
                self.unicode_escape()?;
            }
            Some('\r') => {
                self.read();
                if self.peek() == Some('\n') {
                    self.read();
                }
            }
            Some('1'..='9') | None => return Err(self.invalid_read()),
            Some(_) => {
                self.read();
            }
        }
        Ok(())
    }

    fn hex_digit(&mut self) -> Result<u32, SyntaxError> {
        match self.peek().and_then(|c| c.to_digit(16)) {
            Some(d) => {
                self.read();
                Ok(d)
            }
            None => Err(self.invalid_read()),
        }
    }

    /// Four hex digits after `\u`: a UTF-16 code unit (maybe a lone surrogate).
    fn unicode_escape(&mut self) -> Result<u32, SyntaxError> {
        let mut u = 0;
        for _ in 0..4 {
            u = u * 16 + self.hex_digit()?;
        }
        Ok(u)
    }

    fn lex_number(&mut self, c: Option<char>) -> Step {
        use Lex as L;
        let digit = c.is_some_and(is_digit);
        let next = match (self.lex_state, c) {
            (L::Sign, Some('.')) => L::DecimalPointLeading,
            (L::Sign, Some('0')) => L::Zero,
            (L::Sign, Some('1'..='9')) => L::DecimalInteger,
            (L::Sign, Some(c @ ('I' | 'N'))) => {
                self.read();
                self.literal(if c == 'I' { "nfinity" } else { "aN" })?;
                return Ok(Some(Token::Scalar));
            }
            (L::Zero | L::DecimalInteger, Some('.')) => L::DecimalPoint,
            (
                L::Zero | L::DecimalInteger | L::DecimalPoint | L::DecimalFraction,
                Some('e' | 'E'),
            ) => L::DecimalExponent,
            (L::Zero, Some('x' | 'X')) => L::Hexadecimal,
            (L::DecimalInteger, _) if digit => L::DecimalInteger,
            (L::DecimalPointLeading | L::DecimalPoint | L::DecimalFraction, _) if digit => {
                L::DecimalFraction
            }
            (L::DecimalExponent, Some('+' | '-')) => L::DecimalExponentSign,
            (L::DecimalExponent | L::DecimalExponentSign | L::DecimalExponentInteger, _)
                if digit =>
            {
                L::DecimalExponentInteger
            }
            (L::Hexadecimal | L::HexadecimalInteger, _) if c.is_some_and(is_hex_digit) => {
                L::HexadecimalInteger
            }
            (
                L::Sign
                | L::DecimalPointLeading
                | L::DecimalExponent
                | L::DecimalExponentSign
                | L::Hexadecimal,
                _,
            ) => return Err(self.invalid_read()),
            _ => return Ok(Some(Token::Scalar)),
        };
        self.read();
        self.lex_state = next;
        match next {
            L::DecimalInteger | L::DecimalFraction | L::DecimalExponentInteger => {
                self.read_ascii_run(|b| b.is_ascii_digit());
            }
            L::HexadecimalInteger => {
                self.read_ascii_run(|b| b.is_ascii_hexdigit());
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
#[path = "json5_syntax/tests.rs"]
mod tests;
