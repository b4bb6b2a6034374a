//! The config editor on real files: the output must equal the input with only the model value
//! changed, byte for byte (comments, quotes, indentation, CRLF, BOM, trailing commas).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use msclawd::config_editor::{EditError, EditOutcome, ModelEdit, apply_model_edit, edit_model_text};
use msclawd::openclaw_config::{self, ConfigError, ModelForm};

const QWEN: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";
const GLM: &str = "modelscope/ZhipuAI/GLM-5";
const DEEPSEEK: &str = "modelscope/deepseek-ai/DeepSeek-V3.2";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs").join(name);
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
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur exactly once");
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
    fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
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
    assert_eq!(out, expected, "\n--- got ---\n{out}\n--- expected ---\n{expected}");

    let (dir, path) = temp_config(input);
    let outcome = apply_model_edit(&path, e).unwrap();
    assert_eq!(outcome, EditOutcome::Written { file: path.clone() });
    assert_eq!(fs::read(&path).unwrap(), expected.as_bytes());
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600, "mode kept");
    no_temp_files(dir.path());

    let cfg = openclaw_config::load(&path).unwrap();
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
    let cfg = openclaw_config::parse(&expected, Path::new("x")).unwrap();
    assert_eq!(cfg.fallbacks, Some(vec![GLM.to_owned(), DEEPSEEK.to_owned()]));
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
    let input = format!("\u{feff}{}", fixture("four_spaces.json").replace('\n', "\r\n"));
    let expected = replace_once(
        &input,
        "                \"primary\": \"modelscope/Qwen/Qwen3.5-397B-A17B\"\r\n",
        "                \"primary\": \"modelscope/ZhipuAI/GLM-5\",\r\n                \"fallbacks\": [\"modelscope/Qwen/Qwen3.5-397B-A17B\"]\r\n",
    );
    check_case(&input, &edit(GLM, Some(&[QWEN])), &expected);
    assert!(expected.starts_with('\u{feff}'));
    assert_eq!(expected.matches('\n').count(), expected.matches("\r\n").count());
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
        openclaw_config::parse(&expected, Path::new("x")).unwrap().model_form,
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
    let input = "{\n  agents: {\n\n    list: [{ id: 'main' }]\n\n    /* end of agents */\n  },\n}\n";
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
    let expected = replace_once(input, "primary: \"x/0\"", "primary: \"modelscope/ZhipuAI/GLM-5\"");
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
    let expected = "{ agents: { defaults: { model: 'x/first', model: 'modelscope/ZhipuAI/GLM-5' } } }";
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
    assert_eq!(out, EditOutcome::Written { file: dir.path().join("./agents.json5") });
    assert_eq!(fs::read_to_string(&main).unwrap(), main_text);
    assert_eq!(fs::metadata(&main).unwrap().modified().unwrap(), main_mtime);
    assert_eq!(
        fs::read_to_string(&agents).unwrap(),
        replace_once(agents_text, "'modelscope/Qwen/Qwen3.5-397B-A17B'", "'modelscope/ZhipuAI/GLM-5'")
    );
    #[cfg(unix)]
    assert_eq!(mode(&agents), 0o600);
    let cfg = openclaw_config::load(&main).unwrap();
    assert_eq!(cfg.primary.as_deref(), Some(GLM));
    assert_eq!(cfg.agents_file, dir.path().join("./agents.json5"));

    // The pure text edit refuses to guess.
    let err = edit_model_text(main_text, &edit(GLM, None)).unwrap_err();
    assert!(matches!(err, EditError::Config(ConfigError::Include { .. })), "{err:?}");
}

#[test]
fn include_array_edits_the_file_that_holds_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("openclaw.json");
    fs::write(&main, "{ $include: ['base.json5', 'local.json5'] }").unwrap();
    let base_text = "{ agents: { defaults: { model: { primary: 'x/base', fallbacks: ['x/f'] } } } }";
    fs::write(dir.path().join("base.json5"), base_text).unwrap();
    let local_text = "{ agents: { defaults: { model: { primary: 'x/local' } } } }";
    fs::write(dir.path().join("local.json5"), local_text).unwrap();

    let out = apply_model_edit(&main, &edit(GLM, Some(&[QWEN]))).unwrap();
    assert_eq!(out, EditOutcome::Written { file: dir.path().join("local.json5") });
    assert_eq!(fs::read_to_string(dir.path().join("base.json5")).unwrap(), base_text);
    let cfg = openclaw_config::load(&main).unwrap();
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
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), real);
    let expected = replace_once(&input, "primary: 'modelscope/Qwen/Qwen3.5-397B-A17B'", "primary: 'modelscope/ZhipuAI/GLM-5'");
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
    let input = "{\n  agents: {\n    defaults: {\n      model: { primary: 'x/0' }\n      fallbacks: [,\n    },\n  },\n}\n";
    let (dir, path) = temp_config(input);
    let mtime = age(&path);
    let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
    match &err {
        EditError::Config(ConfigError::Parse { path: p, line, column, message }) => {
            assert_eq!(p, &path);
            assert_eq!((*line, *column), (5, 19));
            assert!(!message.is_empty());
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("openclaw.json:5:19"), "{shown}");
    assert_eq!(fs::read_to_string(&path).unwrap(), input);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    no_temp_files(dir.path());

    let err = edit_model_text(input, &edit(GLM, None)).unwrap_err();
    assert!(matches!(err, EditError::Config(ConfigError::Parse { line: 5, column: 19, .. })), "{err:?}");
}

#[test]
fn infinity_is_refused_clearly() {
    let input = "{\n  agents: { defaults: { model: 'x/0', timeoutSeconds: Infinity } },\n}\n";
    let (_dir, path) = temp_config(input);
    let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains(":2:55:") && shown.contains("Infinity"), "{shown}");
    assert_eq!(fs::read_to_string(&path).unwrap(), input);
}

#[test]
fn missing_config_and_bad_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let err = apply_model_edit(&dir.path().join("nope.json"), &edit(GLM, None)).unwrap_err();
    assert!(matches!(err, EditError::Config(ConfigError::NotFound(_))), "{err:?}");

    let (_d, path) = temp_config("{ agents: { defaults: { model: 42 } } }");
    let err = apply_model_edit(&path, &edit(GLM, None)).unwrap_err();
    assert!(matches!(err, EditError::Config(ConfigError::Invalid { .. })), "{err:?}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "{ agents: { defaults: { model: 42 } } }");

    let err = apply_model_edit(&path, &edit("  ", None)).unwrap_err();
    assert!(matches!(err, EditError::BadEdit(_)), "{err:?}");
}

#[test]
fn secrets_stay_out_of_edit_errors() {
    let secret = "sk-msclaw-SECRET-7f3a9c51e2";
    let texts = [
        format!("{{ models: {{ providers: {{ m: {{ apiKey: '{secret}' }} }} }}, agents: {{ defaults: {{ model: 7 }} }} }}"),
        format!("{{ models: {{ providers: {{ m: {{ apiKey: '{secret}' \n"),
        format!("{{ models: {{ providers: {{ m: {{ apiKey: {{ source: 'env', id: '{secret}' }} x }} }} }} }}"),
        format!("{{ apiKey: \"${{{secret}}}\", agents: {{ defaults: {{ model: {{ primary: 3 }} }} }} }}"),
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
    let cfg = openclaw_config::load(&path).unwrap();
    assert!(!format!("{cfg:?}").contains("7f3a9c"));
    assert!(fs::read_to_string(&path).unwrap().contains(secret), "the key itself is kept in the file");
}
