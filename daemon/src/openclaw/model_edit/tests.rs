use super::*;
use crate::openclaw::retry::MAX_ATTEMPTS;
use crate::openclaw::splice::{Quote, Splice, quote};
use std::fs;

fn edit(primary: &str) -> ModelEdit {
    ModelEdit {
        primary: primary.to_owned(),
        fallbacks: None,
    }
}

#[test]
fn conflict_is_retried_on_the_new_text_and_keeps_the_other_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openclaw.json");
    let original =
        "{\n  agents: { defaults: { model: { primary: 'x/0' } } },\n  gateway: { port: 1 },\n}\n";
    fs::write(&path, original).unwrap();
    // Someone else's edit lands after msclaw read the file, before it writes.
    let theirs = "{\n  // added by the user meanwhile\n  agents: { defaults: { model: { primary: 'x/0' } } },\n  gateway: { port: 2 },\n}\n";
    let mut calls = 0;
    let out = apply_with_hook(&path, &edit("x/new"), &mut |file| {
        calls += 1;
        assert_eq!(file, path.as_path());
        if calls == 1 {
            fs::write(file, theirs).unwrap();
        }
    })
    .unwrap();
    assert_eq!(out, EditOutcome::Written { file: path.clone() });
    assert_eq!(calls, 2, "one conflict, one retry");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        theirs.replace("'x/0'", "'x/new'")
    );
}

#[test]
fn conflict_that_resolves_the_edit_ends_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openclaw.json");
    fs::write(&path, "{ agents: { defaults: { model: 'x/0' } } }").unwrap();
    let theirs = "{ agents: { defaults: { model: 'x/new' } } } // done by hand";
    let out = apply_with_hook(&path, &edit("x/new"), &mut |file| {
        if fs::read_to_string(file).unwrap() != theirs {
            fs::write(file, theirs).unwrap();
        }
    })
    .unwrap();
    assert_eq!(out, EditOutcome::Unchanged);
    assert_eq!(fs::read_to_string(&path).unwrap(), theirs);
}

#[test]
fn endless_conflicts_give_up_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openclaw.json");
    fs::write(&path, "{ agents: { defaults: { model: 'x/0' } } }").unwrap();
    let mut n = 0;
    let err = apply_with_hook(&path, &edit("x/new"), &mut |file| {
        n += 1;
        fs::write(
            file,
            format!("{{ agents: {{ defaults: {{ model: 'x/0' }} }} }} // edit {n}"),
        )
        .unwrap();
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            EditError::Conflict {
                attempts: MAX_ATTEMPTS,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(n, MAX_ATTEMPTS);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{{ agents: {{ defaults: {{ model: 'x/0' }} }} }} // edit {MAX_ATTEMPTS}")
    );
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temp files: {names:?}");
}

#[test]
fn splices_at_one_position_keep_their_planned_order() {
    let s = apply_splices(
        "ab",
        vec![
            Splice {
                start: 1,
                end: 1,
                text: "1".into(),
            },
            Splice {
                start: 1,
                end: 1,
                text: "2".into(),
            },
            Splice {
                start: 0,
                end: 1,
                text: "A".into(),
            },
        ],
    );
    assert_eq!(s, "A12b");
}

#[test]
fn quoting() {
    assert_eq!(quote("a\"b'c\\", Quote::Double), r#""a\"b'c\\""#);
    assert_eq!(quote("a\"b'c\\", Quote::Single), r#"'a"b\'c\\'"#);
    assert_eq!(
        quote("\u{1}\t\u{2029}é", Quote::Double),
        "\"\\u0001\\t\\u2029é\""
    );
}

#[test]
fn verify_catches_a_bad_plan() {
    // If a splice ever broke other data, `verify` refuses the text.
    let old = parse_value(
        "{ a: 1, agents: { defaults: { model: 'x' } } }",
        Path::new("t"),
    )
    .unwrap();
    let err = verify(
        &old,
        "{ a: 2, agents: { defaults: { model: 'y' } } }",
        FileLevel::Root,
        &edit("y"),
        Path::new("t"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("values other than"), "{err}");
    let err = verify(
        &old,
        "{ a: 1, agents: { defaults: { model: 'x' } } }",
        FileLevel::Root,
        &edit("y"),
        Path::new("t"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("reads back"), "{err}");
    verify(
        &old,
        "{ a: 1, agents: { defaults: { model: 'y' } } }",
        FileLevel::Root,
        &edit("y"),
        Path::new("t"),
    )
    .unwrap();
}

#[test]
fn edit_in_files_standing_for_lower_levels() {
    let e = ModelEdit {
        primary: "p/n".into(),
        fallbacks: Some(vec!["p/f".into()]),
    };
    assert_eq!(
        edit_model_text_at("{\n  model: 'p/o',\n}\n", FileLevel::Defaults, &e).unwrap(),
        "{\n  model: {\n    primary: 'p/n',\n    fallbacks: [\"p/f\"],\n  },\n}\n"
    );
    assert_eq!(
        edit_model_text_at("// just the model\n'p/o'\n", FileLevel::Model, &edit("p/n")).unwrap(),
        "// just the model\n'p/n'\n"
    );
    assert_eq!(
        edit_model_text_at("{ primary: \"p/o\" }", FileLevel::Model, &e).unwrap(),
        "{ primary: \"p/n\", fallbacks: [\"p/f\"] }"
    );
    assert_eq!(
        edit_model_text_at("{}\n", FileLevel::Agents, &edit("p/n")).unwrap(),
        "{\n  \"defaults\": {\n    \"model\": {\n      \"primary\": \"p/n\"\n    }\n  }\n}\n"
    );
}
