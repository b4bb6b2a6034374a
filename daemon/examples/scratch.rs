use msclawd::config_editor::*;
fn show(label: &str, text: &str, e: &ModelEdit) {
    match edit_model_text(text, e) {
        Ok(t) => println!("=== {label}\n{}\n", t.replace('\r', "<CR>")),
        Err(err) => println!("=== {label}\nERR {err}\n"),
    }
}
fn main() {
    let p = |s: &str| ModelEdit { primary: s.into(), fallbacks: None };
    let pf = |s: &str, f: &[&str]| ModelEdit { primary: s.into(), fallbacks: Some(f.iter().map(|x| x.to_string()).collect()) };
    let t1 = "{\n  // c\n  agents: {\n    defaults: {\n      model: 'a/b', // trailing\n      workspace: '~/x',\n    },\n  },\n}\n";
    show("str replace", t1, &p("x/y"));
    show("str->obj", t1, &pf("x/y", &["f/1", "f/2"]));
    let t2 = "{\n\t\"agents\": {\n\t\t\"defaults\": {\n\n\t\t\t\"workspace\": \"w\"\n\n\t\t}\n\t}\n}";
    show("insert model tabs", t2, &pf("x/y", &["z"]));
    let t3 = "{\r\n    \"gateway\": { \"port\": 1 }\r\n}\r\n";
    show("insert agents crlf", t3, &p("x/y"));
    let t4 = "{ agents: { defaults: { model: { primary: 'a', fallbacks: [ 'b' ] } } } }";
    show("single line fallbacks", t4, &pf("a", &["c", "d"]));
    show("single line primary", t4, &p("q"));
    let t5 = "{\n  agents: {\n    defaults: {\n      model: {\n        primary: 'a',\n      },\n    },\n  },\n}";
    show("append fallbacks trailing comma", t5, &pf("a", &["c"]));
    let t6 = "{\n  agents: {\n    defaults: {\n      model: {\n        fallbacks: [\n          'b', // why\n          'c',\n        ],\n      },\n    },\n  },\n}";
    show("add primary, replace multiline arr", t6, &pf("p", &["c", "d"]));
    show("empty root", "{}", &p("x/y"));
    show("empty root nl", "{\n}\n", &pf("x/y", &[]));
    let t8 = "// only comment\n{\n  // first\n  \"a\": 1 // one\n  /* end */\n}\n";
    show("append after comment", t8, &p("x/y"));
    let t9 = "{\n  \"agents\": { \"defaults\": {} }\n}";
    show("insert into empty inline", t9, &p("x/y"));
    let t10 = "{\n  agents: { defaults: { model: \"a\" } },\n  b: 1\n}";
    show("inline str->obj", t10, &pf("x", &["y"]));
    show("infinity", "{a: Infinity}", &p("x"));
    show("broken", "{\n  agents: {\n    defaults: {\n      model: 'a\n    }\n  }\n}", &p("x"));
    show("include", "{ agents: { $include: './agents.json5' } }", &p("x"));
    show("last brace same line", "{\n  a: 1,\n  agents: {\n    x: 1 }\n}", &p("x"));
}
