//! `config_init` on real files: it only adds (the old text is a splice of the new one, every
//! comment survives), a second run changes nothing, the key never shows, includes and broken
//! files are refused without writing.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use msclaw_tests::transcripts::guide_config;
use msclawd::openclaw::init::{
    ApiKey, InitError, InitRequest, ItemKind, ItemStatus, Secret, apply_init, init_text,
    mask_secrets, parse_model_list, plan_init,
};
use msclawd::openclaw::{self, ApiKeyKind, ConfigError};

const QWEN: &str = "modelscope/Qwen/Qwen3.5-397B-A17B";
const SECRET: &str = "ms-test-SECRET-do-not-print";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/configs")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn temp_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openclaw.json");
    fs::write(&path, text).unwrap();
    set_mode(&path, 0o600);
    (dir, path)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

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

/// Whether `old` is `new` with text taken out: every character of `old`, in order.
fn is_splice_of(old: &str, new: &str) -> bool {
    let mut rest = new.chars();
    old.chars().all(|c| rest.any(|n| n == c))
}

/// Every line of `old` is (part of) a line of `new`, in the same order: additions come between
/// lines or at the end of one, nothing is re-wrapped or re-indented.
fn lines_kept_in_order(old: &str, new: &str) {
    let mut new_lines = new.split('\n');
    for line in old.split('\n') {
        assert!(
            new_lines.any(|n| n.starts_with(line)),
            "line {line:?} was not kept in place in:\n{new}"
        );
    }
}

/// The comments of a JSON5 text (`//` to the end of the line, `/* … */`), outside strings
/// as far as these fixtures go.
fn comments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(i) = line.find("//")
            && !line[..i].ends_with(':')
            && !line[..i].ends_with("https:")
        {
            out.push(&line[i..]);
        }
        if let Some(i) = line.find("/*") {
            out.push(&line[i..line.find("*/").map_or(line.len(), |e| e + 2)]);
        }
    }
    out
}

fn statuses(
    plan_items: &[msclawd::openclaw::init::InitItem],
    kind: ItemKind,
) -> Vec<(String, ItemStatus)> {
    plan_items
        .iter()
        .filter(|i| i.kind == kind)
        .map(|i| (i.name.clone(), i.status))
        .collect()
}

#[test]
fn missing_file_is_created_private_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/openclaw.json");
    let plan = apply_init(&path, &InitRequest::guide()).unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.items[0].kind, ItemKind::File);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);

    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("// OpenClaw config, created by `msclawctl init`."),
        "{text}"
    );
    let cfg = openclaw::load(&path).unwrap();
    let ms = &cfg.providers["modelscope"];
    assert_eq!(
        ms.model_ids,
        [
            "Qwen/Qwen3.5-397B-A17B",
            "ZhipuAI/GLM-5",
            "MiniMax/MiniMax-M2.5",
            "moonshotai/Kimi-K2.5"
        ]
    );
    assert_eq!(
        ms.base_url.as_deref(),
        Some("https://api-inference.modelscope.cn/v1/")
    );
    assert_eq!(ms.api.as_deref(), Some("openai-completions"));
    assert_eq!(ms.api_key, ApiKeyKind::EnvRef("MODELSCOPE_API_KEY".into()));
    assert_eq!(cfg.primary.as_deref(), Some(QWEN));
    assert_eq!(cfg.aliases[QWEN], "qwen3.5");
    assert_eq!(cfg.aliases["modelscope/ZhipuAI/GLM-5"], "glm5");
    assert_eq!(cfg.aliases["modelscope/MiniMax/MiniMax-M2.5"], "minimax");
    assert_eq!(cfg.aliases["modelscope/moonshotai/Kimi-K2.5"], "kimi");
    // Every entry with the guide's fields, cost all zero.
    let value = jsonc_value(&text);
    for m in value["models"]["providers"]["modelscope"]["models"]
        .as_array()
        .unwrap()
    {
        assert!(
            m["name"].is_string()
                && m["contextWindow"].as_u64().unwrap() > 0
                && m["maxTokens"].as_u64().unwrap() > 0,
            "{m}"
        );
        assert_eq!(
            m["cost"],
            serde_json::json!({ "input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0 })
        );
    }

    // The second run finds everything and writes nothing.
    let before = age(&path);
    let again = apply_init(&path, &InitRequest::guide()).unwrap();
    assert!(again.is_noop());
    assert!(
        again.items.iter().all(|i| i.status == ItemStatus::Present),
        "{:?}",
        again.items
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
}

fn jsonc_value(text: &str) -> serde_json::Value {
    jsonc_parser::parse_to_serde_value(text, &jsonc_parser::ParseOptions::default()).unwrap()
}

#[test]
fn the_guides_config_is_left_byte_identical() {
    let text = guide_config("https://api-inference.modelscope.cn/v1/", "");
    let (_dir, path) = temp_config(&text);
    let before = age(&path);
    let plan = apply_init(&path, &InitRequest::guide()).unwrap();
    assert!(plan.is_noop(), "{:?}", plan.changes);
    assert!(
        plan.items.iter().all(|i| i.status == ItemStatus::Present),
        "{:?}",
        plan.items
    );
    assert_eq!(statuses(&plan.items, ItemKind::Model).len(), 4);
    assert_eq!(statuses(&plan.items, ItemKind::Alias).len(), 4);
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
}

#[test]
fn a_commented_config_only_gains_the_missing_entries() {
    let original = fixture("commented.json5");
    let (_dir, path) = temp_config(&original);
    set_mode(&path, 0o640);
    let plan = apply_init(&path, &InitRequest::guide()).unwrap();
    let new = fs::read_to_string(&path).unwrap();

    assert!(is_splice_of(&original, &new));
    lines_kept_in_order(&original, &new);
    let kept = comments(&original);
    assert!(kept.len() >= 7, "{kept:?}");
    for c in kept {
        assert!(new.contains(c), "comment {c:?} lost:\n{new}");
    }
    assert_eq!(mode(&path), 0o640, "mode kept");

    assert_eq!(
        statuses(&plan.items, ItemKind::Model),
        [
            ("Qwen/Qwen3.5-397B-A17B".to_owned(), ItemStatus::Present),
            ("ZhipuAI/GLM-5".to_owned(), ItemStatus::Present),
            ("MiniMax/MiniMax-M2.5".to_owned(), ItemStatus::Added),
            ("moonshotai/Kimi-K2.5".to_owned(), ItemStatus::Added),
        ]
    );
    assert_eq!(
        statuses(&plan.items, ItemKind::Provider),
        [("modelscope".to_owned(), ItemStatus::Present)]
    );
    assert_eq!(
        statuses(&plan.items, ItemKind::Primary),
        [(QWEN.to_owned(), ItemStatus::Present)]
    );
    // The user's aliases stay as they are.
    let cfg = openclaw::load(&path).unwrap();
    assert_eq!(cfg.aliases[QWEN], "qwen");
    assert_eq!(cfg.aliases["modelscope/ZhipuAI/GLM-5"], "glm");
    assert_eq!(cfg.aliases["modelscope/moonshotai/Kimi-K2.5"], "kimi");
    assert_eq!(
        cfg.providers["modelscope"].model_ids,
        [
            "Qwen/Qwen3.5-397B-A17B",
            "ZhipuAI/GLM-5",
            "deepseek-ai/DeepSeek-V3.2",
            "MiniMax/MiniMax-M2.5",
            "moonshotai/Kimi-K2.5"
        ]
    );
    assert_eq!(cfg.fallbacks.as_ref().unwrap().len(), 2);
    // In the file's style: bare keys, trailing commas, the array's indent.
    assert!(
        new.contains("          { id: 'deepseek-ai/DeepSeek-V3.2', name: \"DeepSeek \\\"V3.2\\\"\" },\n          { id: \"MiniMax/MiniMax-M2.5\", name: \"MiniMax-M2.5\", contextWindow: 131072, maxTokens: 8192, cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 } },\n"),
        "{new}"
    );
    assert!(
        new.contains("        'modelscope/ZhipuAI/GLM-5': { alias: 'glm' },\n        \"modelscope/MiniMax/MiniMax-M2.5\": { alias: \"minimax\" },\n        \"modelscope/moonshotai/Kimi-K2.5\": { alias: \"kimi\" },\n      },"),
        "{new}"
    );

    // Idempotent: the second run is a no-op and does not touch the file.
    let before = age(&path);
    assert!(apply_init(&path, &InitRequest::guide()).unwrap().is_noop());
    assert_eq!(fs::read_to_string(&path).unwrap(), new);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
}

#[test]
fn crlf_bom_and_tabs_are_kept() {
    let original = format!(
        "\u{feff}{}",
        fixture("tabs_string_form.json5").replace('\n', "\r\n")
    );
    let (_dir, path) = temp_config(&original);
    let plan = apply_init(&path, &InitRequest::guide()).unwrap();
    let new = fs::read_to_string(&path).unwrap();
    assert!(new.starts_with('\u{feff}'));
    assert_eq!(
        new.matches('\n').count(),
        new.matches("\r\n").count(),
        "only CRLF:\n{new}"
    );
    assert!(!new.contains("\n  "), "tab indent only:\n{new}");
    assert!(
        new.contains("\r\n\t\tmodels: {\r\n\t\t\tproviders: {\r\n")
            || new.contains("\r\n\tmodels: {\r\n\t\tproviders: {\r\n"),
        "{new}"
    );
    // The string-form model was the first model already: kept as it is.
    assert!(
        new.contains("\t\t\tmodel: \"modelscope/Qwen/Qwen3.5-397B-A17B\",\r\n"),
        "{new}"
    );
    assert_eq!(
        statuses(&plan.items, ItemKind::Primary),
        [(QWEN.to_owned(), ItemStatus::Present)]
    );
    assert!(is_splice_of(&original, &new));
    let cfg = openclaw::load(&path).unwrap();
    assert_eq!(cfg.providers["modelscope"].model_ids.len(), 4);
}

#[test]
fn a_json_file_stays_json_and_a_foreign_primary_is_replaced() {
    let original = "{\n    \"agents\": {\n        \"defaults\": {\n            \"model\": { \"primary\": \"openai/gpt-5\" }\n        }\n    }\n}\n";
    let (new, items, _) = init_text(original, &InitRequest::guide()).unwrap();
    // Plain JSON in, plain JSON out (quoted keys, no trailing commas, no comments).
    let value: serde_json::Value =
        serde_json::from_str(&new).unwrap_or_else(|e| panic!("{e}:\n{new}"));
    assert_eq!(value["agents"]["defaults"]["model"]["primary"], QWEN);
    assert!(new.contains("\n    \"models\": {\n        \"providers\": {\n            \"modelscope\": {\n                \"baseUrl\""), "{new}");
    let primary: Vec<_> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Primary)
        .collect();
    assert_eq!(primary[0].status, ItemStatus::Changed);
    assert_eq!(primary[0].detail.as_deref(), Some("was openai/gpt-5"));
    assert!(is_splice_of(&original.replace("openai/gpt-5", ""), &new));
}

#[test]
fn a_primary_already_in_the_rotation_is_not_reset() {
    // The daemon switched to GLM-5 during the day; init must not send it back to the first.
    let text = guide_config("https://api-inference.modelscope.cn/v1/", "").replace(
        "primary: \"modelscope/Qwen/Qwen3.5-397B-A17B\"",
        "primary: \"modelscope/ZhipuAI/GLM-5\"",
    );
    let (new, items, _) = init_text(&text, &InitRequest::guide()).unwrap();
    assert_eq!(new, text);
    assert_eq!(
        statuses(&items, ItemKind::Primary),
        [("modelscope/ZhipuAI/GLM-5".to_owned(), ItemStatus::Present)]
    );
}

#[test]
fn an_existing_provider_gains_only_what_it_lacks() {
    let original = "{\n  models: {\n    providers: {\n      modelscope: {\n        apiKey: 'sk-users-own-key',\n        models: [],\n      },\n    },\n  },\n}\n";
    let req = InitRequest {
        api_key: ApiKey::Literal(Secret::new(SECRET).unwrap()),
        ..InitRequest::guide()
    };
    let (new, items, warnings) = init_text(original, &req).unwrap();
    assert!(new.contains("apiKey: 'sk-users-own-key'"), "{new}");
    assert!(
        !new.contains(SECRET),
        "an existing apiKey is never replaced"
    );
    assert!(
        warnings.iter().any(|w| w.contains("already has an apiKey")),
        "{warnings:?}"
    );
    assert!(
        new.contains(
            "        models: [\n          { id: \"Qwen/Qwen3.5-397B-A17B\", name: \"Qwen3.5\", "
        ),
        "an empty array becomes a list, one model a line:\n{new}"
    );
    assert!(new.contains("cacheWrite: 0 } },\n        ],\n        baseUrl: \"https://api-inference.modelscope.cn/v1/\",\n        api: \"openai-completions\",\n      },"), "{new}");
    let fields = statuses(&items, ItemKind::ProviderField);
    assert_eq!(
        fields,
        [
            ("baseUrl".to_owned(), ItemStatus::Added),
            ("api".to_owned(), ItemStatus::Added),
            ("apiKey".to_owned(), ItemStatus::Present)
        ]
    );
    assert!(is_splice_of(original, &new));
}

#[test]
fn custom_models_get_derived_aliases_and_clashes_are_reported() {
    let original =
        "{ agents: { defaults: { models: { 'openai/gpt-5': { alias: 'deepseek' } } } } }";
    let req = InitRequest {
        models: parse_model_list(
            "deepseek-ai/DeepSeek-V3.2,ZhipuAI/GLM-4.7-Flash,glm5",
            "modelscope",
        )
        .unwrap(),
        ..InitRequest::guide()
    };
    let (new, items, warnings) = init_text(original, &req).unwrap();
    let cfg = openclaw::parse(&new, Path::new("/t")).unwrap();
    assert_eq!(
        cfg.providers["modelscope"].model_ids,
        [
            "deepseek-ai/DeepSeek-V3.2",
            "ZhipuAI/GLM-4.7-Flash",
            "ZhipuAI/GLM-5"
        ]
    );
    assert_eq!(
        cfg.primary.as_deref(),
        Some("modelscope/deepseek-ai/DeepSeek-V3.2")
    );
    assert_eq!(cfg.aliases["modelscope/ZhipuAI/GLM-4.7-Flash"], "glm4.7");
    assert_eq!(cfg.aliases["modelscope/ZhipuAI/GLM-5"], "glm5");
    // `deepseek` is taken by another model: the entry is there (older builds' allowlist) without one.
    assert!(
        !cfg.aliases
            .contains_key("modelscope/deepseek-ai/DeepSeek-V3.2")
    );
    assert!(
        new.contains("\"modelscope/deepseek-ai/DeepSeek-V3.2\": {}"),
        "{new}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("alias deepseek already names openai/gpt-5")),
        "{warnings:?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i.kind == ItemKind::Alias && i.detail.as_deref() == Some("no alias"))
    );
}

#[test]
fn an_api_key_from_stdin_is_written_but_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openclaw.json");
    let req = InitRequest {
        api_key: ApiKey::Literal(Secret::new(&format!("  {SECRET}\n")).unwrap()),
        ..InitRequest::guide()
    };
    let plan = plan_init(&path, &req).unwrap();
    let shown = format!("{plan:?} {:?}", plan.items);
    assert!(!shown.contains("SECRET"), "{shown}");
    for item in &plan.items {
        assert!(!item.to_string().contains("SECRET"));
    }
    let (old, new) = plan.changes[0].masked();
    assert!(old.is_empty());
    assert!(
        !new.contains("SECRET") && new.contains("apiKey: \"ms-…(hidden)\""),
        "{new}"
    );

    apply_init(&path, &req).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("apiKey: \"{SECRET}\"")), "{text}");
    assert_eq!(
        openclaw::load(&path).unwrap().providers["modelscope"].api_key,
        ApiKeyKind::Literal
    );
    assert!(!mask_secrets(&text).contains("SECRET"));
}

#[test]
fn a_group_readable_file_gets_a_warning_when_it_receives_a_key() {
    let (_dir, path) = temp_config("{}\n");
    set_mode(&path, 0o644);
    let req = InitRequest {
        api_key: ApiKey::Literal(Secret::new(SECRET).unwrap()),
        ..InitRequest::guide()
    };
    let plan = apply_init(&path, &req).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("mode 0644") && w.contains("chmod 600")),
        "{:?}",
        plan.warnings
    );
    assert!(plan.warnings.iter().all(|w| !w.contains("SECRET")));
    assert_eq!(mode(&path), 0o644, "the mode is the user's to change");
}

#[test]
fn warnings_name_what_will_not_follow_the_rotation() {
    let text = "{ agents: { defaults: { modelPolicy: { allow: ['modelscope/Qwen/Qwen3.5-397B-A17B'] } }, entries: { coder: { model: 'openai/gpt-5' } } }, gateway: { reload: { mode: 'off' } } }";
    let (_, _, warnings) = init_text(text, &InitRequest::guide()).unwrap();
    let joined = warnings.join("\n");
    assert!(
        joined.contains("modelscope/ZhipuAI/GLM-5 is not in agents.defaults.modelPolicy.allow"),
        "{joined}"
    );
    assert!(!joined.contains("Qwen3.5-397B-A17B is not in"), "{joined}");
    assert!(
        joined.contains("agent coder sets its own model openai/gpt-5"),
        "{joined}"
    );
    assert!(joined.contains("gateway.reload.mode is off"), "{joined}");
}

#[test]
fn broken_configs_are_refused_with_their_position_and_not_written() {
    let (_dir, path) = temp_config(
        "{\n  models: {\n    providers: { modelscope: { apiKey: 'x' } \n  },\n  agents: [\n}\n",
    );
    let before = age(&path);
    match apply_init(&path, &InitRequest::guide()).unwrap_err() {
        InitError::Config(ConfigError::Parse { line, column, .. }) => {
            assert!(line >= 5 && column >= 1, "{line}:{column}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);

    let (_dir, path) = temp_config("{ models: { providers: { modelscope: 'no' } } }");
    let err = apply_init(&path, &InitRequest::guide()).unwrap_err();
    assert!(
        err.to_string()
            .contains("models.providers.modelscope is not an object"),
        "{err}"
    );
    let (_dir, path) = temp_config("{ agents: { defaults: 3 } }");
    assert!(apply_init(&path, &InitRequest::guide()).is_err());
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{ agents: { defaults: 3 } }"
    );
}

#[test]
fn includes_are_followed_for_what_is_present_and_never_shadowed() {
    let dir = tempfile::tempdir().unwrap();
    // The provider lives in an included file and lacks two models: init refuses rather than
    // add a `models` list beside the include (which would replace the included one).
    let main = dir.path().join("openclaw.json");
    fs::write(&main, "{ models: { $include: './models.json5' } }\n").unwrap();
    fs::write(
        dir.path().join("models.json5"),
        "{ providers: { modelscope: { baseUrl: 'u', api: 'openai-completions', apiKey: '${K}', models: [{ id: 'ZhipuAI/GLM-5' }] } } }",
    )
    .unwrap();
    let err = apply_init(&main, &InitRequest::guide()).unwrap_err();
    assert!(matches!(err, InitError::Include { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("models.providers comes from a $include"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(&main).unwrap(),
        "{ models: { $include: './models.json5' } }\n"
    );

    // Everything needed is in the included files: the model there is edited in its own file.
    let agents = dir.path().join("agents.json5");
    fs::write(
        &agents,
        "// agents\n{ defaults: { model: { primary: 'openai/gpt-5' } } }\n",
    )
    .unwrap();
    let models = guide_config("u", "");
    fs::write(
        &main,
        "{\n  $include: './base.json5',\n  agents: { $include: './agents.json5' },\n}\n",
    )
    .unwrap();
    fs::write(dir.path().join("base.json5"), &models).unwrap();
    // base.json5 holds agents too, but the sibling `agents` include overrides it.
    let plan = apply_init(&main, &InitRequest::guide()).unwrap();
    assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
    assert_eq!(plan.changes[0].path, agents);
    assert_eq!(
        fs::read_to_string(&agents).unwrap(),
        "// agents\n{ defaults: { model: { primary: 'modelscope/Qwen/Qwen3.5-397B-A17B' } } }\n"
    );
}

#[test]
fn arrays_and_maps_of_any_shape_gain_entries_in_their_style() {
    let req = InitRequest {
        models: parse_model_list("a/one,b/two", "modelscope").unwrap(),
        ..InitRequest::guide()
    };
    let two = "{ id: \"b/two\", name: \"two\", contextWindow: 131072, maxTokens: 8192, cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 } }";
    // One line: stays one line.
    let text = "{ models: { providers: { modelscope: { baseUrl: 'u', api: 'x', apiKey: 'k', models: [{ id: 'a/one' }] } } }, agents: { defaults: { model: 'modelscope/a/one' } } }";
    let (new, _, _) = init_text(text, &req).unwrap();
    assert_eq!(
        new,
        format!(
            "{{ models: {{ providers: {{ modelscope: {{ baseUrl: 'u', api: 'x', apiKey: 'k', models: [{{ id: 'a/one' }}, {two}] }} }} }}, agents: {{ defaults: {{ model: 'modelscope/a/one', models: {{ \"modelscope/a/one\": {{ alias: \"one\" }}, \"modelscope/b/two\": {{ alias: \"two\" }} }} }} }} }}"
        )
    );
    // No trailing comma and a comment after the last element: the comma goes before the
    // comment, the new element on its own line, still without a trailing comma.
    let text = "{\n  models: { providers: { modelscope: { baseUrl: 'u', api: 'x', apiKey: 'k', models: [\n    { id: 'a/one' } // first\n  ] } } },\n  agents: { defaults: { model: 'modelscope/a/one', models: {\n  } } }\n}";
    let (new, _, _) = init_text(text, &req).unwrap();
    assert_eq!(
        new,
        format!(
            "{{\n  models: {{ providers: {{ modelscope: {{ baseUrl: 'u', api: 'x', apiKey: 'k', models: [\n    {{ id: 'a/one' }}, // first\n    {two}\n  ] }} }} }},\n  agents: {{ defaults: {{ model: 'modelscope/a/one', models: {{\n    \"modelscope/a/one\": {{ alias: \"one\" }},\n    \"modelscope/b/two\": {{ alias: \"two\" }}\n  }} }} }}\n}}"
        )
    );
    // An empty list holding only a comment keeps it.
    let text = "{\n  models: { providers: { modelscope: { baseUrl: 'u', api: 'x', apiKey: 'k', models: [\n    // none yet\n  ] } } },\n}";
    let (new, _, _) = init_text(text, &req).unwrap();
    assert!(
        new.contains("models: [\n    // none yet\n    { id: \"a/one\", "),
        "{new}"
    );
    assert!(is_splice_of(text, &new));
}

#[test]
fn every_fixture_in_every_style_only_gains_and_settles_after_one_run() {
    let mut texts = vec![
        "{}".to_owned(),
        "// only a comment\n{\n}\n".to_owned(),
        guide_config(
            "http://127.0.0.1:9/v1",
            "        fallbacks: [\"modelscope/ZhipuAI/GLM-5\"],\n",
        ),
    ];
    for name in [
        "commented.json5",
        "four_spaces.json",
        "tabs_string_form.json5",
    ] {
        texts.push(fixture(name));
    }
    type Style = (&'static str, fn(&str) -> String);
    let styles: [Style; 3] = [
        ("as is", |t| t.to_owned()),
        ("CRLF", |t| t.replace('\n', "\r\n")),
        ("BOM", |t| format!("\u{feff}{t}")),
    ];
    let lists = [
        "",
        "glm5,kimi",
        "moonshotai/Kimi-K2.5,deepseek-ai/DeepSeek-V3.2,Qwen/Qwen3.5-397B-A17B",
    ];
    for text in &texts {
        for (style, apply) in &styles {
            for list in lists {
                let original = apply(text);
                let req = if list.is_empty() {
                    InitRequest::guide()
                } else {
                    InitRequest {
                        models: parse_model_list(list, "modelscope").unwrap(),
                        ..InitRequest::guide()
                    }
                };
                let what = format!("{style}, models {list:?}, text:\n{original}");
                let (new, _, _) =
                    init_text(&original, &req).unwrap_or_else(|e| panic!("{e}: {what}"));
                let old_primary = openclaw::parse(&original, Path::new("/t")).unwrap().primary;
                let cfg = openclaw::parse(&new, Path::new("/t")).unwrap();
                let refs: Vec<String> = req
                    .models
                    .iter()
                    .map(|m| m.full_ref("modelscope"))
                    .collect();
                for r in &refs {
                    assert!(cfg.is_listed(r), "{r} not listed: {what}\n{new}");
                }
                assert!(refs.contains(cfg.primary.as_ref().unwrap()), "{what}");
                // Only insertions, apart from a primary that named another model.
                let expected_base = match &old_primary {
                    Some(p) if !refs.contains(p) => original.replacen(p.as_str(), "", 1),
                    _ => original.clone(),
                };
                assert!(is_splice_of(&expected_base, &new), "{what}\n{new}");
                if style == &"CRLF" && original.contains('\n') {
                    assert_eq!(
                        new.matches('\n').count(),
                        new.matches("\r\n").count(),
                        "{what}\n{new}"
                    );
                }
                let (again, items, _) = init_text(&new, &req).unwrap();
                assert_eq!(again, new, "a second run changed it: {what}");
                assert!(
                    items.iter().all(|i| i.status == ItemStatus::Present),
                    "{what}: {items:?}"
                );
            }
        }
    }
}

#[test]
fn an_empty_file_is_filled_in_like_a_new_one() {
    let (_dir, path) = temp_config("\n");
    set_mode(&path, 0o640);
    let plan = apply_init(&path, &InitRequest::guide()).unwrap();
    assert_eq!(plan.items[0].kind, ItemKind::File);
    assert_eq!(plan.items[0].detail.as_deref(), Some("the file was empty"));
    let cfg = openclaw::load(&path).unwrap();
    assert_eq!(cfg.providers["modelscope"].model_ids.len(), 4);
    assert_eq!(mode(&path), 0o640, "the mode is kept");
    assert!(apply_init(&path, &InitRequest::guide()).unwrap().is_noop());
}
