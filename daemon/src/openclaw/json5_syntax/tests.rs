//! Cases measured with OpenClaw's own json5 (research notes, section 2); the differential test in
//! `tests/tests/json5_differential` compares thousands more against the real package.

use super::*;

fn verdict(text: &str) -> String {
    match check(text) {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.json5_message(),
    }
}

#[test]
fn accepts_json5_with_comments_trailing_commas_and_single_quotes() {
    let text = "// comment\n{\n  a: 1, /* block */\n  \"b\": [1, 2,],\n  c: 'x',\n}\n";
    assert_eq!(verdict(text), "ok");
    assert_eq!(
        verdict("\u{feff}{x: +.5e-3, y: 0xFF, z: -Infinity, w: NaN}"),
        "ok"
    );
    assert_eq!(verdict("'line\\\ncontinued \\x41 \\u00e9 \u{2028}'"), "ok");
    assert_eq!(verdict("{\\u0061b: 1, $_\u{200d}: 2, é: 3}"), "ok");
}

#[test]
fn rejects_missing_commas_where_json5_does() {
    assert_eq!(
        verdict("{\n  \"a\": 1\n  \"b\": 2\n}\n"),
        "JSON5: invalid character '\\\"' at 3:3"
    );
    assert_eq!(
        verdict("{\n  \"list\": [\n    1\n    2\n  ]\n}\n"),
        "JSON5: invalid character '2' at 4:5"
    );
    assert_eq!(
        verdict("{\r\n  \"a\": 1\r\n  \"b\": 2\r\n}\r\n"),
        "JSON5: invalid character '\\\"' at 3:3"
    );
}

#[test]
fn columns_count_utf16_units_and_eof_is_one_past_the_end() {
    assert_eq!(
        verdict("{\"e\":\"😀\", x y}"),
        "JSON5: invalid character 'y' at 1:14"
    );
    assert_eq!(
        verdict("{\n  \"a\": 1,\n"),
        "JSON5: invalid end of input at 3:1"
    );
    assert_eq!(verdict(""), "JSON5: invalid end of input at 1:1");
    assert_eq!(verdict("{ /* open"), "JSON5: invalid end of input at 1:10");
}

#[test]
fn rejects_what_jsonc_parser_would_accept() {
    assert_eq!(verdict("{a: 01}"), "JSON5: invalid character '1' at 1:6");
    assert_eq!(verdict("[1 2]"), "JSON5: invalid character '2' at 1:4");
    assert_eq!(verdict("{a: 1,,}"), "JSON5: invalid character ',' at 1:7");
    assert_eq!(verdict("[,]"), "JSON5: invalid character ',' at 1:2");
    assert_eq!(verdict("{a: `x`}"), "JSON5: invalid character '`' at 1:5");
    assert_eq!(verdict("{a: '\\1'}"), "JSON5: invalid character '1' at 1:7");
    assert_eq!(verdict("{a: 1} x"), "JSON5: invalid character 'x' at 1:8");
    assert_eq!(verdict("{a-b: 1}"), "JSON5: invalid character '-' at 1:3");
    assert_eq!(
        verdict("\"\u{1}\n\""),
        "JSON5: invalid character '\\n' at 2:0"
    );
    assert_eq!(
        verdict("{\\u0031: 1}"),
        "JSON5: invalid identifier character at 1:2"
    );
    assert_eq!(
        verdict("{a: \u{7}}"),
        "JSON5: invalid character '\\x07' at 1:5"
    );
}
