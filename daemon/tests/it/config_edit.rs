//! The config editor on real files: the output must equal the input with only the model value
//! changed, byte for byte (comments, quotes, indentation, CRLF, BOM, trailing commas).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use msclawd::openclaw::model_edit::{
    EditError, EditOutcome, ModelEdit, apply_model_edit, edit_model_text,
};
use msclawd::openclaw::{self, ConfigError, ModelForm};

const QWEN: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";
const GLM: &str = "modelscope/ZhipuAI/GLM-5";
const DEEPSEEK: &str = "modelscope/deepseek-ai/DeepSeek-V3.2";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/configs")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn edit(primary: &str, fallbacks: Option<&[&str]>) -> ModelEdit {
    ModelEdit {
        primary: primary.to_owned(),
        fallbacks: fallbacks.map(|f| f.iter().map(|s| (*s).to_owned()).collect()),
    }
}

/// `text` with the one occurrence of `from` replaced by `to` (panics unless there is exactly one).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} must occur exactly once"
    );
    text.replacen(from, to, 1)
}

fn temp_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openclaw.json");
    fs::write(&path, text).unwrap();
    set_mode(&path, 0o600);
    (dir, path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) {}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Sets a file's mtime an hour back, so that "not written" can be told from the mtime.
fn age(path: &Path) -> SystemTime {
    let t = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
    fs::metadata(path).unwrap().modified().unwrap()
}

fn no_temp_files(dir: &Path) {
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("msclaw-"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

/// Runs one case both as a text edit and on a real 0600 file, and checks the read-back.
fn check_case(input: &str, e: &ModelEdit, expected: &str) {
    assert_ne!(input, expected, "a case must change something");
    let out = edit_model_text(input, e).unwrap();
    assert_eq!(
        out, expected,
        "\n--- got ---\n{out}\n--- expected ---\n{expected}"
    );

    let (dir, path) = temp_config(input);
    let outcome = apply_model_edit(&path, e).unwrap();
    assert_eq!(outcome, EditOutcome::Written { file: path.clone() });
    assert_eq!(fs::read(&path).unwrap(), expected.as_bytes());
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600, "mode kept");
    no_temp_files(dir.path());

    let cfg = openclaw::load(&path).unwrap();
    assert_eq!(cfg.primary.as_deref(), Some(e.primary.as_str()));
    if let Some(f) = &e.fallbacks {
        assert_eq!(cfg.fallbacks.as_ref(), Some(f));
    }

    // Doing it again changes nothing, not even the mtime.
    let before = age(&path);
    assert_eq!(apply_model_edit(&path, e).unwrap(), EditOutcome::Unchanged);
    assert_eq!(fs::read(&path).unwrap(), expected.as_bytes());
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
    assert_eq!(edit_model_text(expected, e).unwrap(), expected);
}

#[test]
fn commented_json5_primary_only() {
    let input = fixture("commented.json5");
    let expected = replace_once(
        &input,
        "primary: 'modelscope/Qwen/Qwen3.5-397B-A17B',",
        "primary: 'modelscope/ZhipuAI/GLM-5',",
    );
    check_case(&input, &edit(GLM, None), &expected);
    // Fallbacks were left alone, comments and all.
    let cfg = openclaw::parse(&expected, Path::new("x")).unwrap();
    assert_eq!(
        cfg.fallbacks,
        Some(vec![GLM.to_owned(), DEEPSEEK.to_owned()])
    );
}

#[test]
fn commented_json5_replace_fallbacks_keeps_layout() {
    let input = fixture("commented.json5");
    let expected = replace_once(
        &input,
        "primary: 'modelscope/Qwen/Qwen3.5-397B-A17B', // msclaw edits this
        fallbacks: [
          'modelscope/ZhipuAI/GLM-5', // second best
          'modelscope/deepseek-ai/DeepSeek-V3.2',
        ],",
        "primary: 'modelscope/deepseek-ai/DeepSeek-V3.2', // msclaw edits this
        fallbacks: [
          'modelscope/Qwen/Qwen3.5-397B-A17B',
          'modelscope/ZhipuAI/GLM-5',
        ],",
    );
    check_case(&input, &edit(DEEPSEEK, Some(&[QWEN, GLM])), &expected);
}

#[test]
fn commented_json5_empty_fallbacks() {
    let input = fixture("commented.json5");
    let expected = replace_once(
        &input,
        "fallbacks: [
          'modelscope/ZhipuAI/GLM-5', // second best
          'modelscope/deepseek-ai/DeepSeek-V3.2',
        ],",
        "fallbacks: [],",
    );
    check_case(&input, &edit(QWEN, Some(&[])), &expected);
}

#[test]
fn four_spaces_double_quotes_add_fallbacks() {
    let input = fixture("four_spaces.json");
    let expected = replace_once(
        &input,
        "                \"primary\": \"modelscope/Qwen/Qwen3.5-397B-A17B\"\n",
        "                \"primary\": \"modelscope/ZhipuAI/GLM-5\",\n                \"fallbacks\": [\"modelscope/Qwen/Qwen3.5-397B-A17B\"]\n",
    );
    check_case(&input, &edit(GLM, Some(&[QWEN])), &expected);
}

#[test]
fn crlf_and_bom_are_kept() {
    let input = format!(
        "\u{feff}{}",
        fixture("four_spaces.json").replace('\n', "\r\n")
    );
    let expected = replace_once(
        &input,
        "                \"primary\": \"modelscope/Qwen/Qwen3.5-397B-A17B\"\r\n",
        "                \"primary\": \"modelscope/ZhipuAI/GLM-5\",\r\n                \"fallbacks\": [\"modelscope/Qwen/Qwen3.5-397B-A17B\"]\r\n",
    );
    check_case(&input, &edit(GLM, Some(&[QWEN])), &expected);
    assert!(expected.starts_with('\u{feff}'));
    assert_eq!(
        expected.matches('\n').count(),
        expected.matches("\r\n").count()
    );
}

#[test]
fn tabs_string_form_stays_a_string() {
    let input = fixture("tabs_string_form.json5");
    let expected = replace_once(
        &input,
        "model: \"modelscope/Qwen/Qwen3.5-397B-A17B\",",
        "model: \"modelscope/ZhipuAI/GLM-5\",",
    );
    check_case(&input, &edit(GLM, None), &expected);
    assert_eq!(
        openclaw::parse(&expected, Path::new("x"))
            .unwrap()
            .model_form,
        ModelForm::String
    );
}

#[test]
fn tabs_string_form_becomes_object_for_fallbacks() {
    let input = fixture("tabs_string_form.json5");
    let expected = replace_once(
        &input,
        "\t\t\tmodel: \"modelscope/Qwen/Qwen3.5-397B-A17B\",\n",
        "\t\t\tmodel: {\n\t\t\t\tprimary: \"modelscope/ZhipuAI/GLM-5\",\n\t\t\t\tfallbacks: [\"modelscope/Qwen/Qwen3.5-397B-A17B\", \"modelscope/deepseek-ai/DeepSeek-V3.2\"]\n\t\t\t},\n",
    );
    check_case(&input, &edit(GLM, Some(&[QWEN, DEEPSEEK])), &expected);
}

#[test]
fn missing_model_is_added_in_object_form() {
    let input = "{\n  // defaults without a model\n  agents: {\n    defaults: {\n      workspace: '~/clawd', // mine\n    },\n  },\n}\n";
    let expected = "{\n  // defaults without a model\n  agents: {\n    defaults: {\n      workspace: '~/clawd', // mine\n      model: {\n        primary: \"modelscope/ZhipuAI/GLM-5\",\n      },\n    },\n  },\n}\n";
    check_case(input, &edit(GLM, None), expected);
}

#[test]
fn missing_agents_is_added_at_the_end_of_the_root() {
    let input = "{\n  \"gateway\": {\n    \"port\": 18789\n  } // the gateway\n}\n";
    let expected = "{\n  \"gateway\": {\n    \"port\": 18789\n  }, // the gateway\n  \"agents\": {\n    \"defaults\": {\n      \"model\": {\n        \"primary\": \"modelscope/ZhipuAI/GLM-5\",\n        \"fallbacks\": [\"modelscope/Qwen/Qwen3.5-397B-A17B\"]\n      }\n    }\n  }\n}\n";
    check_case(input, &edit(GLM, Some(&[QWEN])), expected);
}

#[test]
fn missing_agents_in_crlf_file_uses_crlf() {
    let input = "{\r\n\t'gateway': { 'port': 18789 },\r\n}\r\n";
    let expected = "{\r\n\t'gateway': { 'port': 18789 },\r\n\t'agents': {\r\n\t\t'defaults': {\r\n\t\t\t'model': {\r\n\t\t\t\t'primary': \"modelscope/ZhipuAI/GLM-5\",\r\n\t\t\t},\r\n\t\t},\r\n\t},\r\n}\r\n";
    check_case(input, &edit(GLM, None), expected);
}

#[test]
fn missing_defaults_keeps_blank_lines_and_comments_around() {
    let input =
        "{\n  agents: {\n\n    list: [{ id: 'main' }]\n\n    /* end of agents */\n  },\n}\n";
    let expected = "{\n  agents: {\n\n    list: [{ id: 'main' }],\n    defaults: {\n      model: {\n        primary: \"modelscope/ZhipuAI/GLM-5\",\n      },\n    }\n\n    /* end of agents */\n  },\n}\n";
    check_case(input, &edit(GLM, None), expected);
}

#[test]
fn empty_root_object() {
    check_case(
        "{}",
        &edit(GLM, None),
        "{\n  \"agents\": {\n    \"defaults\": {\n      \"model\": {\n        \"primary\": \"modelscope/ZhipuAI/GLM-5\"\n      }\n    }\n  }\n}",
    );
}

#[test]
fn single_line_config_stays_on_one_line() {
    let input = "{ agents: { defaults: { model: { primary: 'a/b', fallbacks: [ 'c/d' ] } } } }";
    check_case(
        input,
        &edit(GLM, Some(&[QWEN, DEEPSEEK])),
        "{ agents: { defaults: { model: { primary: 'modelscope/ZhipuAI/GLM-5', fallbacks: [ 'modelscope/Qwen/Qwen3.5-397B-A17B', 'modelscope/deepseek-ai/DeepSeek-V3.2' ] } } } }",
    );
    let input = "{ gateway: { port: 1 }, agents: { defaults: {} } }";
    check_case(
        input,
        &edit(GLM, None),
        "{ gateway: { port: 1 }, agents: { defaults: { model: { primary: \"modelscope/ZhipuAI/GLM-5\" } } } }",
    );
}

#[test]
fn fallbacks_left_untouched_when_not_asked() {
    let input = "{\n  agents: { defaults: { model: {\n    fallbacks: [\"x/1\" /* keep */, \"x/2\"],\n    primary: \"x/0\",\n  } } },\n}";
    let expected = replace_once(
        input,
        "primary: \"x/0\"",
        "primary: \"modelscope/ZhipuAI/GLM-5\"",
    );
    check_case(input, &edit(GLM, None), &expected);
}

#[test]
fn equal_fallbacks_are_not_rewritten() {
    // Only the primary differs: the fallbacks array keeps its odd spacing and comment.
    let input = "{ agents: { defaults: { model: { primary: 'x/0', fallbacks: ['x/1' , /* c */ 'x/2'] } } } }";
    let expected = replace_once(input, "'x/0'", "'modelscope/ZhipuAI/GLM-5'");
    check_case(input, &edit(GLM, Some(&["x/1", "x/2"])), &expected);
}

#[test]
fn missing_primary_is_appended_to_the_model_object() {
    let input = "{\n  agents: {\n    defaults: {\n      model: {\n        fallbacks: ['x/1'],\n      },\n    },\n  },\n}";
    let expected = replace_once(
        input,
        "        fallbacks: ['x/1'],\n",
        "        fallbacks: ['x/1'],\n        primary: \"modelscope/ZhipuAI/GLM-5\",\n",
    );
    check_case(input, &edit(GLM, None), &expected);
}

#[test]
fn quotes_and_escapes() {
    // A single-quoted value stays single-quoted; what needs escaping is escaped for that quote.
    let input = "{ agents: { defaults: { model: { primary: 'x/0' } } } }";
    let weird = "p/it's \"odd\" \\ ok";
    let expected = replace_once(input, "'x/0'", r#"'p/it\'s "odd" \\ ok'"#);
    check_case(input, &edit(weird, None), &expected);
    let input = "{ agents: { defaults: { model: \"x/0\" } } }";
    let expected = replace_once(input, "\"x/0\"", r#""p/it's \"odd\" \\ ok""#);
    check_case(input, &edit(weird, None), &expected);
    let line_sep = "p/a\u{2028}b\nc";
    let expected = replace_once(input, "\"x/0\"", "\"p/a\\u2028b\\nc\"");
    check_case(input, &edit(line_sep, None), &expected);
}

#[test]
fn duplicate_keys_edit_the_one_that_counts() {
    let input = "{ agents: { defaults: { model: 'x/first', model: 'x/last' } } }";
    let expected =
        "{ agents: { defaults: { model: 'x/first', model: 'modelscope/ZhipuAI/GLM-5' } } }";
    check_case(input, &edit(GLM, None), expected);
}

#[test]
fn include_for_agents_edits_the_included_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("openclaw.json");
    let main_text = "{\n  // agents live elsewhere\n  agents: { $include: './agents.json5' },\n  gateway: { port: 18789 },\n}\n";
    fs::write(&main, main_text).unwrap();
    let agents = dir.path().join("agents.json5");
    let agents_text = "// included\n{\n  defaults: {\n    model: { primary: 'modelscope/Qwen/Qwen3.5-397B-A17B' }, // here\n  },\n}\n";
    fs::write(&agents, agents_text).unwrap();
    set_mode(&agents, 0o600);
    let main_mtime = age(&main);

    let out = apply_model_edit(&main, &edit(GLM, None)).unwrap();
    assert_eq!(
        out,
        EditOutcome::Written {
            file: dir.path().join("./agents.json5")
        }
    );
    assert_eq!(fs::read_to_string(&main).unwrap(), main_text);
    assert_eq!(fs::metadata(&main).unwrap().modified().unwrap(), main_mtime);
    assert_eq!(
        fs::read_to_string(&agents).unwrap(),
        replace_once(
            agents_text,
            "'modelscope/Qwen/Qwen3.5-397B-A17B'",
            "'modelscope/ZhipuAI/GLM-5'"
        )
    );
    #[cfg(unix)]
    assert_eq!(mode(&agents), 0o600);
    let cfg = openclaw::load(&main).unwrap();
    assert_eq!(cfg.primary.as_deref(), Some(GLM));
    assert_eq!(cfg.agents_file, dir.path().join("./agents.json5"));

    // The pure text edit refuses to guess.
    let err = edit_model_text(main_text, &edit(GLM, None)).unwrap_err();
    assert!(
        matches!(err, EditError::Config(ConfigError::Include { .. })),
        "{err:?}"
    );
}

#[test]
fn include_array_edits_the_file_that_holds_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("openclaw.json");
    fs::write(&main, "{ $include: ['base.json5', 'local.json5'] }").unwrap();
    let base_text =
        "{ agents: { defaults: { model: { primary: 'x/base', fallbacks: ['x/f'] } } } }";
    fs::write(dir.path().join("base.json5"), base_text).unwrap();
    let local_text = "{ agents: { defaults: { model: { primary: 'x/local' } } } }";
    fs::write(dir.path().join("local.json5"), local_text).unwrap();

    let out = apply_model_edit(&main, &edit(GLM, Some(&[QWEN]))).unwrap();
    assert_eq!(
        out,
        EditOutcome::Written {
            file: dir.path().join("local.json5")
        }
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("base.json5")).unwrap(),
        base_text
    );
    let cfg = openclaw::load(&main).unwrap();
    assert_eq!(cfg.primary.as_deref(), Some(GLM));
    assert_eq!(cfg.fallbacks, Some(vec![QWEN.to_owned()]));
}

#[cfg(unix)]
#[test]
fn symlinked_config_target_changes_link_stays() {
    let dir = tempfile::tempdir().unwrap();
    let dotfiles = dir.path().join("dotfiles");
    fs::create_dir(&dotfiles).unwrap();
    let real = dotfiles.join("openclaw.json");
    let input = fixture("commented.json5");
    fs::write(&real, &input).unwrap();
    set_mode(&real, 0o600);
    let link = dir.path().join("openclaw.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let out = apply_model_edit(&link, &edit(GLM, None)).unwrap();
    assert_eq!(out, EditOutcome::Written { file: link.clone() });
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_link(&link).unwrap(), real);
    let expected = replace_once(
        &input,
        "primary: 'modelscope/Qwen/Qwen3.5-397B-A17B'",
        "primary: 'modelscope/ZhipuAI/GLM-5'",
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), expected);
    assert_eq!(mode(&real), 0o600);
    no_temp_files(dir.path());
    no_temp_files(&dotfiles);
}

#[cfg(unix)]
#[test]
fn other_modes_are_kept_too() {
    let (_dir, path) = temp_config("{ agents: { defaults: { model: 'x/0' } } }");
    set_mode(&path, 0o640);
    apply_model_edit(&path, &edit(GLM, None)).unwrap();
    assert_eq!(mode(&path), 0o640);
}

#[test]
fn broken_config_is_reported_with_position_and_left_alone() {
    // A missing comma: OpenClaw's json5 stops at 5:7, the `f` of `fallbacks`.
    let input = "{\n  agents: {\n    defaults: {\n      model: { primary: 'x/0' }\n      fallbacks: [,\n    },\n  },\n}\n";
    let (dir, path) = temp_config(input);
    let mtime = age(&path);
    let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
    match &err {
        EditError::Config(ConfigError::Parse {
            path: p,
            line,
            column,
            message,
        }) => {
            assert_eq!(p, &path);
            assert_eq!((*line, *column), (5, 7));
            assert!(!message.is_empty());
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("openclaw.json:5:7"), "{shown}");
    assert_eq!(fs::read_to_string(&path).unwrap(), input);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    no_temp_files(dir.path());

    let err = edit_model_text(input, &edit(GLM, None)).unwrap_err();
    assert!(
        matches!(
            err,
            EditError::Config(ConfigError::Parse {
                line: 5,
                column: 7,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn infinity_is_refused_clearly() {
    let input = "{\n  agents: { defaults: { model: 'x/0', timeoutSeconds: Infinity } },\n}\n";
    let (_dir, path) = temp_config(input);
    let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains(":2:55:") && shown.contains("Infinity"),
        "{shown}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), input);
}

#[test]
fn an_error_after_a_cut_value_is_placed_in_the_original() {
    // `big` is cut from the copy the edit works on; the column is still the file's.
    let input = "{ big: { a: [1, 2, 3], b: 'long' }, agents: { defaults: { model: 'x/0', t: -Infinity } } }";
    let (_dir, path) = temp_config(input);
    let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
    let column = input.find("-Infinity").unwrap() + 1;
    let shown = err.to_string();
    assert!(shown.contains(&format!(":1:{column}:")), "{shown}");
    assert_eq!(fs::read_to_string(&path).unwrap(), input);
}

#[test]
fn a_number_msclaw_cannot_hold_outside_what_it_reads_does_not_stop_a_switch() {
    // OpenClaw accepts Infinity; msclaw refuses it only where it reads or writes.
    let input = "{\n  limits: { burst: Infinity },\n  agents: { defaults: { model: 'x/0' } },\n}\n";
    let (_dir, path) = temp_config(input);
    let cfg = openclaw::load(&path).unwrap();
    assert_eq!(cfg.primary.as_deref(), Some("x/0"));
    apply_model_edit(&path, &edit(GLM, None)).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        replace_once(input, "'x/0'", &format!("'{GLM}'"))
    );
}

#[test]
fn a_switch_on_a_config_of_megabytes_changes_only_the_primary_bytes() {
    let mut input = String::from(
        "// a heavy user's config\r\n{\r\n  models: { providers: { modelscope: { models: [{ id: 'ZhipuAI/GLM-5' }] } } },\r\n  \"x-catalogue\": {\r\n",
    );
    let mut i = 0;
    while input.len() < 6_000_000 {
        input.push_str(&format!(
            "    \"vendor-{i}/model-{i}\": {{ id: \"model-{i}\", tags: [\"chat\", 'tools'], cost: {{ input: 0.1, output: 2e-3 }} }}, // {i}\r\n"
        ));
        i += 1;
    }
    input.push_str(&format!(
        "  }},\r\n  agents: {{\r\n    defaults: {{ model: {{ primary: \"{DEEPSEEK}\", fallbacks: [] }} }},\r\n  }},\r\n  gateway: {{ port: 18789 }}, n: 1\r\n}}\r\n"
    ));
    let (_dir, path) = temp_config(&input);
    assert_eq!(
        openclaw::load(&path).unwrap().primary.as_deref(),
        Some(DEEPSEEK)
    );
    let outcome = apply_model_edit(&path, &edit(GLM, None)).unwrap();
    assert_eq!(outcome, EditOutcome::Written { file: path.clone() });
    let expected = replace_once(&input, &format!("\"{DEEPSEEK}\""), &format!("\"{GLM}\""));
    assert!(
        fs::read_to_string(&path).unwrap() == expected,
        "more than the primary changed"
    );
    assert_eq!(
        apply_model_edit(&path, &edit(GLM, None)).unwrap(),
        EditOutcome::Unchanged
    );
}

#[test]
fn missing_config_and_bad_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let err = apply_model_edit(&dir.path().join("nope.json"), &edit(GLM, None)).unwrap_err();
    assert!(
        matches!(err, EditError::Config(ConfigError::NotFound(_))),
        "{err:?}"
    );

    let (_d, path) = temp_config("{ agents: { defaults: { model: 42 } } }");
    let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
    assert!(
        matches!(err, EditError::Config(ConfigError::Invalid { .. })),
        "{err:?}"
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{ agents: { defaults: { model: 42 } } }"
    );

    let err = apply_model_edit(&path, &edit("  ", None)).unwrap_err();
    assert!(matches!(err, EditError::BadEdit(_)), "{err:?}");
}

#[test]
fn secrets_stay_out_of_edit_errors() {
    let secret = "sk-msclaw-SECRET-7f3a9c51e2";
    let texts = [
        format!(
            "{{ models: {{ providers: {{ m: {{ apiKey: '{secret}' }} }} }}, agents: {{ defaults: {{ model: 7 }} }} }}"
        ),
        format!("{{ models: {{ providers: {{ m: {{ apiKey: '{secret}' \n"),
        format!(
            "{{ models: {{ providers: {{ m: {{ apiKey: {{ source: 'env', id: '{secret}' }} x }} }} }} }}"
        ),
        format!(
            "{{ apiKey: \"${{{secret}}}\", agents: {{ defaults: {{ model: {{ primary: 3 }} }} }} }}"
        ),
    ];
    for text in &texts {
        let (_d, path) = temp_config(text);
        let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("7f3a9c"), "{shown}");
        let err = edit_model_text(text, &edit(GLM, None)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("7f3a9c"), "{shown}");
    }
    // And a successful edit of a file with keys in it prints nothing of them either.
    let text = format!("{{ models: {{ providers: {{ m: {{ apiKey: '{secret}' }} }} }} }}");
    let (_d, path) = temp_config(&text);
    apply_model_edit(&path, &edit(GLM, None)).unwrap();
    let cfg = openclaw::load(&path).unwrap();
    assert!(!format!("{cfg:?}").contains("7f3a9c"));
    assert!(
        fs::read_to_string(&path).unwrap().contains(secret),
        "the key itself is kept in the file"
    );
}

/// Property tests: random configs in random styles; only the model may change.
mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Q {
        Double,
        Single,
    }

    #[derive(Debug, Clone)]
    struct Style {
        indent: &'static str,
        nl: &'static str,
        /// None: unquoted keys.
        keys: Option<Q>,
        strings: Q,
        trailing: bool,
        bom: bool,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Shape {
        NoAgents,
        NoDefaults,
        NoModel,
        Str,
        Obj {
            has_primary: bool,
            fallbacks: Option<Vec<String>>,
            fb_multiline: bool,
            primary_first: bool,
        },
    }

    /// A generated JSON5 value.
    #[derive(Debug, Clone)]
    enum G {
        Obj(Vec<(String, G)>),
        Arr(Vec<G>, bool),
        Str(String),
        Num(&'static str),
        Bool(bool),
    }

    /// Random choices for comments and order, consumed as the text is written.
    struct Tape {
        bytes: Vec<u8>,
        at: usize,
    }

    impl Tape {
        fn next(&mut self) -> u8 {
            let b = self
                .bytes
                .get(self.at % self.bytes.len().max(1))
                .copied()
                .unwrap_or(0);
            self.at += 1;
            b
        }
    }

    fn q(s: &str, q: Q) -> String {
        let c = if q == Q::Double { '"' } else { '\'' };
        let mut out = String::new();
        out.push(c);
        for ch in s.chars() {
            if ch == c || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push(c);
        out
    }

    fn key(k: &str, st: &Style) -> String {
        match st.keys {
            None if k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') =>
            {
                k.to_owned()
            }
            None | Some(Q::Double) => q(k, Q::Double),
            Some(Q::Single) => q(k, Q::Single),
        }
    }

    const COMMENTS: &[&str] = &[
        "// note",
        "/* block */",
        "// a, b: {c}",
        "/* multi\n   line */",
    ];

    fn render(g: &G, st: &Style, lvl: usize, tape: &mut Tape) -> String {
        let ind = |n: usize| st.indent.repeat(n);
        match g {
            G::Str(s) => q(s, st.strings),
            G::Num(n) => (*n).to_owned(),
            G::Bool(b) => b.to_string(),
            G::Arr(items, false) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| render(i, st, lvl, tape))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            G::Arr(items, true) if !items.is_empty() => {
                let mut out = String::from("[");
                for (n, item) in items.iter().enumerate() {
                    out.push_str(st.nl);
                    out.push_str(&ind(lvl + 1));
                    out.push_str(&render(item, st, lvl + 1, tape));
                    if n + 1 < items.len() || st.trailing {
                        out.push(',');
                    }
                    if tape.next().is_multiple_of(4) {
                        out.push_str(" // why");
                    }
                }
                out.push_str(st.nl);
                out.push_str(&ind(lvl));
                out.push(']');
                out
            }
            G::Arr(_, true) => "[]".to_owned(),
            G::Obj(props) if props.is_empty() => "{}".to_owned(),
            G::Obj(props) => {
                let mut out = String::from("{");
                for (n, (k, v)) in props.iter().enumerate() {
                    out.push_str(st.nl);
                    let roll = tape.next();
                    if roll.is_multiple_of(5) {
                        out.push_str(st.nl); // blank line
                    }
                    out.push_str(&ind(lvl + 1));
                    if roll.is_multiple_of(3) {
                        out.push_str(
                            COMMENTS[(roll as usize / 3) % COMMENTS.len()]
                                .replace('\n', st.nl)
                                .as_str(),
                        );
                        out.push_str(st.nl);
                        out.push_str(&ind(lvl + 1));
                    }
                    if roll % 7 == 1 {
                        out.push_str("/* before */ ");
                    }
                    out.push_str(&key(k, st));
                    out.push_str(if roll.is_multiple_of(2) { ": " } else { ":" });
                    out.push_str(&render(v, st, lvl + 1, tape));
                    if n + 1 < props.len() || st.trailing {
                        out.push(',');
                    }
                    if roll % 4 == 1 {
                        out.push_str(" // after");
                    } else if roll % 11 == 2 {
                        out.push_str(" /* after */");
                    }
                }
                if tape.next().is_multiple_of(6) {
                    out.push_str(st.nl);
                    out.push_str(&ind(lvl + 1));
                    out.push_str("// last words");
                }
                out.push_str(st.nl);
                out.push_str(&ind(lvl));
                out.push('}');
                out
            }
        }
    }

    const OLD_PRIMARY: &str = "modelscope/OLD-primary";

    fn model_tree(shape: &Shape) -> Option<G> {
        match shape {
            Shape::Str => Some(G::Str(OLD_PRIMARY.into())),
            Shape::Obj {
                has_primary,
                fallbacks,
                fb_multiline,
                primary_first,
            } => {
                let mut props = Vec::new();
                if *has_primary {
                    props.push(("primary".to_owned(), G::Str(OLD_PRIMARY.into())));
                }
                if let Some(f) = fallbacks {
                    let arr = G::Arr(f.iter().map(|s| G::Str(s.clone())).collect(), *fb_multiline);
                    if *primary_first {
                        props.push(("fallbacks".to_owned(), arr));
                    } else {
                        props.insert(0, ("fallbacks".to_owned(), arr));
                    }
                }
                Some(G::Obj(props))
            }
            _ => None,
        }
    }

    /// The whole config: filler keys around `agents`, in an order chosen by `order`.
    fn config_tree(shape: &Shape, order: &[usize]) -> G {
        let mut root: Vec<(String, G)> = vec![
            (
                "gateway".into(),
                G::Obj(vec![
                    ("port".into(), G::Num("18789")),
                    (
                        "reload".into(),
                        G::Obj(vec![("mode".into(), G::Str("hybrid".into()))]),
                    ),
                ]),
            ),
            (
                "models".into(),
                G::Obj(vec![(
                    "providers".into(),
                    G::Obj(vec![(
                        "modelscope".into(),
                        G::Obj(vec![
                            ("apiKey".into(), G::Str("${MODELSCOPE_API_KEY}".into())),
                            (
                                "models".into(),
                                G::Arr(
                                    vec![G::Obj(vec![(
                                        "id".into(),
                                        G::Str("Qwen/Qwen3.5".into()),
                                    )])],
                                    false,
                                ),
                            ),
                        ]),
                    )]),
                )]),
            ),
            (
                "logging".into(),
                G::Obj(vec![
                    ("file".into(), G::Str("/tmp/it's \"here\".log".into())),
                    ("debug".into(), G::Bool(false)),
                ]),
            ),
        ];
        if *shape != Shape::NoAgents {
            let mut defaults = vec![
                ("workspace".into(), G::Str("~/clawd".into())),
                (
                    "models".into(),
                    G::Obj(vec![(
                        "modelscope/aliased".into(),
                        G::Obj(vec![("alias".into(), G::Str("old".into()))]),
                    )]),
                ),
            ];
            if let Some(m) = model_tree(shape) {
                defaults.push(("model".into(), m));
            }
            let mut agents = vec![(
                "list".into(),
                G::Arr(
                    vec![G::Obj(vec![("id".into(), G::Str("main".into()))])],
                    true,
                ),
            )];
            if *shape != Shape::NoDefaults {
                agents.push(("defaults".into(), G::Obj(permute(defaults, order))));
            }
            root.push(("agents".into(), G::Obj(permute(agents, order))));
        }
        G::Obj(permute(root, order))
    }

    fn permute<T>(mut items: Vec<T>, order: &[usize]) -> Vec<T> {
        let mut out = Vec::new();
        for o in order {
            if items.is_empty() {
                break;
            }
            out.push(items.remove(o % items.len()));
        }
        out.append(&mut items);
        out
    }

    fn style() -> impl Strategy<Value = Style> {
        (
            prop::sample::select(vec!["  ", "    ", "\t"]),
            prop::sample::select(vec!["\n", "\r\n"]),
            prop::sample::select(vec![None, Some(Q::Double), Some(Q::Single)]),
            prop::sample::select(vec![Q::Double, Q::Single]),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(indent, nl, keys, strings, trailing, bom)| Style {
                indent,
                nl,
                keys,
                strings,
                trailing,
                bom,
            })
    }

    fn model_names() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "modelscope/ZhipuAI/GLM-5",
            "modelscope/Qwen/Qwen3.5-397B-A17B",
            "modelscope/it's \"quoted\"",
            "p/back\\slash",
            "p/ünïcödé/模型",
            "p/tab\there",
        ])
        .prop_map(str::to_owned)
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            1 => Just(Shape::NoAgents),
            1 => Just(Shape::NoDefaults),
            2 => Just(Shape::NoModel),
            2 => Just(Shape::Str),
            8 => (
                any::<bool>(),
                prop::option::of(prop::collection::vec(
                    prop::sample::select(vec!["modelscope/OLD-fb-1", "modelscope/OLD-fb-2", "x/OLD-fb-3"]).prop_map(str::to_owned),
                    0..3
                )),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(has_primary, fallbacks, fb_multiline, primary_first)| Shape::Obj {
                    has_primary,
                    fallbacks,
                    fb_multiline,
                    primary_first,
                }),
        ]
    }

    fn edit_strategy() -> impl Strategy<Value = ModelEdit> {
        (
            model_names(),
            prop::option::of(prop::collection::vec(model_names(), 0..3)),
        )
            .prop_map(|(primary, fallbacks)| ModelEdit { primary, fallbacks })
    }

    fn data(text: &str) -> Value {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        jsonc_parser::parse_to_serde_value(body, &Default::default()).unwrap()
    }

    /// Independent of the crate: what the data must be after the edit.
    fn expected_data(mut old: Value, e: &ModelEdit) -> Value {
        let defaults = old
            .as_object_mut()
            .unwrap()
            .entry("agents")
            .or_insert_with(|| Value::Object(Default::default()))
            .as_object_mut()
            .unwrap()
            .entry("defaults")
            .or_insert_with(|| Value::Object(Default::default()))
            .as_object_mut()
            .unwrap();
        let model = match (defaults.remove("model"), &e.fallbacks) {
            (Some(Value::String(_)), None) => Value::String(e.primary.clone()),
            (old_model, fallbacks) => {
                let mut m = match old_model {
                    Some(Value::Object(m)) => m,
                    _ => Default::default(),
                };
                m.insert("primary".into(), Value::String(e.primary.clone()));
                if let Some(f) = fallbacks {
                    m.insert(
                        "fallbacks".into(),
                        Value::Array(f.iter().cloned().map(Value::String).collect()),
                    );
                }
                Value::Object(m)
            }
        };
        defaults.insert("model".into(), model);
        old
    }

    fn is_subsequence(small: &str, big: &str) -> bool {
        let mut it = big.bytes();
        small.bytes().all(|b| it.any(|c| c == b))
    }

    /// Every line of `old` is a line of `new` as it was, or with one comma added (the property
    /// before an insertion gains its comma); nothing of a line moved elsewhere.
    fn lines_kept(old: &str, new: &str) -> Result<(), String> {
        // CRLF is checked elsewhere; here a line is what is between line breaks.
        let mut pool: Vec<&str> = new.split('\n').map(|l| l.trim_end_matches('\r')).collect();
        for line in old.split('\n').map(|l| l.trim_end_matches('\r')) {
            let found = pool.iter().position(|l| {
                *l == line
                    || (l.len() == line.len() + 1
                        && (0..l.len()).any(|i| {
                            l.as_bytes()[i] == b','
                                && l[..i] == line[..i]
                                && l[i + 1..] == line[i..]
                        }))
            });
            match found {
                Some(i) => {
                    pool.remove(i);
                }
                // An empty object that got properties: `x: {}` opens here and closes later.
                None if line.contains("{}") => {
                    let at = line.find("{}").unwrap();
                    let open = pool.iter().position(|l| *l == &line[..at + 1]);
                    let close = pool
                        .iter()
                        .position(|l| l.trim_start_matches([' ', '\t']) == &line[at + 1..]);
                    match (open, close) {
                        (Some(o), Some(c)) if o < c => {
                            pool.remove(c);
                            pool.remove(o);
                        }
                        _ => return Err(format!("line {line:?} is gone")),
                    }
                }
                None => return Err(format!("line {line:?} is gone")),
            }
        }
        Ok(())
    }

    fn render_config(st: &Style, shape: &Shape, order: &[usize], tape: Vec<u8>) -> String {
        let mut tape = Tape { bytes: tape, at: 0 };
        let head = if tape.next().is_multiple_of(2) {
            format!("// openclaw.json{}", st.nl)
        } else {
            String::new()
        };
        format!(
            "{}{head}{}{}",
            if st.bom { "\u{feff}" } else { "" },
            render(&config_tree(shape, order), st, 0, &mut tape),
            st.nl
        )
    }

    /// The text with the in-place replacements the edit needs (primary literal, fallbacks array)
    /// done by the documented rules, and whether properties must also be inserted. `None` for the
    /// string form turned into an object.
    fn expected_in_place(
        text: &str,
        st: &Style,
        shape: &Shape,
        e: &ModelEdit,
    ) -> Option<(String, bool)> {
        // The editor escapes control characters; the generator's quoting does not.
        let lit = |s: &str, qq: Q| q(s, qq).replace('\t', "\\t");
        let old_lit = q(OLD_PRIMARY, st.strings);
        match shape {
            Shape::NoAgents | Shape::NoDefaults | Shape::NoModel => Some((text.to_owned(), true)),
            Shape::Str if e.fallbacks.is_none() => Some((
                replace_once(text, &old_lit, &lit(&e.primary, st.strings)),
                false,
            )),
            Shape::Str => None,
            Shape::Obj {
                has_primary,
                fallbacks,
                fb_multiline,
                ..
            } => {
                let mut out = if *has_primary {
                    replace_once(text, &old_lit, &lit(&e.primary, st.strings))
                } else {
                    text.to_owned()
                };
                let mut insert = !has_primary;
                match (&e.fallbacks, fallbacks) {
                    (None, _) => {}
                    (Some(want), Some(have)) if want == have => {}
                    (Some(_), None) => insert = true,
                    (Some(want), Some(have)) => {
                        // Locate the old array in the text and build the new one by the rules.
                        let start = out.find("fallbacks").unwrap();
                        let open = start + out[start..].find('[').unwrap();
                        let close = open + out[open..].find(']').unwrap() + 1;
                        let qq = if !have.is_empty() && st.strings == Q::Single {
                            Q::Single
                        } else {
                            Q::Double
                        };
                        let items: Vec<String> = want.iter().map(|s| lit(s, qq)).collect();
                        let new_arr = if want.is_empty() {
                            "[]".to_owned()
                        } else if *fb_multiline && !have.is_empty() {
                            let line_start = out[..open].rfind('\n').map_or(0, |i| i + 1);
                            let base: String = out[line_start..]
                                .chars()
                                .take_while(|c| *c == ' ' || *c == '\t')
                                .collect();
                            let mut s = String::from("[");
                            for (n, it) in items.iter().enumerate() {
                                s.push_str(st.nl);
                                s.push_str(&base);
                                s.push_str(st.indent);
                                s.push_str(it);
                                if n + 1 < items.len() || st.trailing {
                                    s.push(',');
                                }
                            }
                            s.push_str(st.nl);
                            s.push_str(&base);
                            s.push(']');
                            s
                        } else {
                            format!("[{}]", items.join(", "))
                        };
                        out.replace_range(open..close, &new_arr);
                    }
                }
                Some((out, insert))
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn only_the_model_changes(
            st in style(),
            shape in shape(),
            order in prop::collection::vec(0usize..8, 0..6),
            tape in prop::collection::vec(any::<u8>(), 1..48),
            e in edit_strategy(),
        ) {
            let text = render_config(&st, &shape, &order, tape);
            let old = data(&text);
            let out = edit_model_text(&text, &e).map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;

            let cfg = openclaw::parse(&out, Path::new("t")).unwrap();
            prop_assert_eq!(cfg.primary.as_deref(), Some(e.primary.as_str()));
            if let Some(f) = &e.fallbacks {
                prop_assert_eq!(cfg.fallbacks.as_ref(), Some(f));
            }
            prop_assert_eq!(data(&out), expected_data(old, &e), "data changed:\n{}\n---\n{}", text, out);
            prop_assert_eq!(out.starts_with('\u{feff}'), st.bom);
            if st.nl == "\r\n" {
                prop_assert_eq!(out.matches('\n').count(), out.matches("\r\n").count(), "lone LF in\n{}", out);
            } else {
                prop_assert!(!out.contains('\r'));
            }
            match expected_in_place(&text, &st, &shape, &e) {
                Some((expected, false)) => prop_assert_eq!(&out, &expected, "\n{}", text),
                // Properties were added: every byte of the text (after the in-place
                // replacements) is still there, in order.
                Some((partial, true)) => {
                    prop_assert!(is_subsequence(&partial, &out), "bytes lost:\n{}\n---\n{}", partial, out);
                    if let Err(why) = lines_kept(&partial, &out) {
                        prop_assert!(false, "{}:\n{}\n---\n{}", why, partial, out);
                    }
                }
                None => {
                    // String form turned into an object: only the literal's bytes were replaced.
                    let lit = q(OLD_PRIMARY, st.strings);
                    let at = text.find(&lit).unwrap();
                    prop_assert!(out.starts_with(&text[..at]));
                    prop_assert!(out.ends_with(&text[at + lit.len()..]));
                }
            }
            // Once more changes nothing.
            prop_assert_eq!(edit_model_text(&out, &e).unwrap(), out);
        }

        #[test]
        fn random_bytes_never_panic_and_never_write(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let e = edit("modelscope/ZhipuAI/GLM-5", None);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Ok(out) = edit_model_text(&text, &e) {
                let cfg = openclaw::parse(&out, Path::new("t")).unwrap();
                prop_assert_eq!(cfg.primary.as_deref(), Some(e.primary.as_str()));
            }
            let (_dir, path) = temp_config("");
            fs::write(&path, &bytes).unwrap();
            if apply_model_edit(&path, &e).is_err() {
                prop_assert_eq!(fs::read(&path).unwrap(), bytes);
            }
        }

        #[test]
        fn damaged_configs_never_panic(
            st in style(),
            shape in shape(),
            tape in prop::collection::vec(any::<u8>(), 1..32),
            cut in any::<prop::sample::Index>(),
            junk in prop::sample::select(vec!["", "{", "}", ",", "'", "\"", "/*", "//", ":", "[", "\\", "\u{0}"]),
        ) {
            let text = render_config(&st, &shape, &[], tape);
            let mut chars: Vec<char> = text.chars().collect();
            let at = cut.index(chars.len());
            chars.remove(at);
            let broken: String = chars.iter().take(at).chain(junk.chars().collect::<Vec<_>>().iter()).chain(chars.iter().skip(at)).collect();
            let e = edit("modelscope/ZhipuAI/GLM-5", Some(&["p/x"]));
            match edit_model_text(&broken, &e) {
                Ok(out) => {
                    let cfg = openclaw::parse(&out, Path::new("t")).unwrap();
                    prop_assert_eq!(cfg.primary.as_deref(), Some(e.primary.as_str()));
                    prop_assert_eq!(cfg.fallbacks, e.fallbacks.clone());
                }
                Err(EditError::Config(_)) => {}
                Err(other) => prop_assert!(false, "unexpected error kind {other:?} for\n{broken}"),
            }
        }
    }
}
