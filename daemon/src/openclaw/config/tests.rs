use super::*;
use std::fs;

const SECRET: &str = "sk-msclaw-SECRET-7f3a9c51e2";

fn p() -> &'static Path {
    Path::new("/cfg/openclaw.json")
}

const FULL: &str = r#"// OpenClaw config
{
  $schema: "https://openclaw.ai/schema.json",
  models: {
mode: 'merge',
providers: {
  modelscope: {
    baseUrl: "https://api-inference.modelscope.cn/v1",
    apiKey: "${MODELSCOPE_API_KEY}",
    api: "openai-completions",
    models: [
      { id: "Qwen/Qwen3.5-397B-A17B", name: "Qwen3.5", contextWindow: 131072 },
      { id: "ZhipuAI/GLM-5" },
      { name: "no id" },
      { id: "deepseek-ai/DeepSeek-V3.2", cost: { input: 0, output: 0 } },
    ],
  },
  other: { apiKey: "sk-msclaw-SECRET-7f3a9c51e2", models: [{ id: "m1" }] },
  vault: { apiKey: { source: "env", provider: "default", id: "sk-msclaw-SECRET-7f3a9c51e2" } },
  nokey: { baseUrl: 'http://localhost:1234/v1', apiKey: "" },
  mixed: { apiKey: "prefix-${MODELSCOPE_API_KEY}" },
  escaped: { apiKey: "$${MODELSCOPE_API_KEY}" },
},
  },
  agents: {
defaults: {
  model: {
    primary: "modelscope/Qwen/Qwen3.5-397B-A17B",
    fallbacks: ["modelscope/ZhipuAI/GLM-5", 'modelscope/deepseek-ai/DeepSeek-V3.2'],
  },
  models: {
    "modelscope/Qwen/Qwen3.5-397B-A17B": { alias: "qwen" },
    "modelscope/ZhipuAI/GLM-5": { alias: "glm", params: {} },
    "openai/gpt-5": { alias: "gpt" },
    "modelscope/no-alias": {},
  },
  modelPolicy: { allow: ["modelscope/*", 3] },
},
list: [
  { id: "main" },
  { id: "coder", model: "modelscope/ZhipuAI/GLM-5" },
],
entries: {
  helper: { model: { primary: "modelscope/deepseek-ai/DeepSeek-V3.2" } },
  plain: {},
},
  },
  gateway: { port: 18789, reload: { mode: "hybrid" } },
  logging: { file: "/var/log/openclaw.log" },
}
"#;

#[test]
fn reads_everything_msclaw_needs() {
    let c = parse(FULL, p()).unwrap();
    assert_eq!(c.path, p());
    assert_eq!(c.agents_file, p());
    assert_eq!(c.files, vec![p().to_path_buf()]);
    let ms = &c.providers["modelscope"];
    assert_eq!(
        ms.base_url.as_deref(),
        Some("https://api-inference.modelscope.cn/v1")
    );
    assert_eq!(ms.api.as_deref(), Some("openai-completions"));
    assert_eq!(
        ms.model_ids,
        vec![
            "Qwen/Qwen3.5-397B-A17B",
            "ZhipuAI/GLM-5",
            "deepseek-ai/DeepSeek-V3.2"
        ]
    );
    assert_eq!(ms.api_key, ApiKeyKind::EnvRef("MODELSCOPE_API_KEY".into()));
    assert_eq!(c.providers["other"].api_key, ApiKeyKind::Literal);
    assert_eq!(c.providers["vault"].api_key, ApiKeyKind::SecretRef);
    assert_eq!(c.providers["nokey"].api_key, ApiKeyKind::Missing);
    assert_eq!(c.providers["mixed"].api_key, ApiKeyKind::Literal);
    assert_eq!(c.providers["escaped"].api_key, ApiKeyKind::Literal);
    assert_eq!(c.model_form, ModelForm::Object);
    assert_eq!(
        c.primary.as_deref(),
        Some("modelscope/Qwen/Qwen3.5-397B-A17B")
    );
    assert_eq!(
        c.fallbacks,
        Some(vec![
            "modelscope/ZhipuAI/GLM-5".to_owned(),
            "modelscope/deepseek-ai/DeepSeek-V3.2".to_owned()
        ])
    );
    assert_eq!(c.aliases.len(), 3);
    assert_eq!(c.aliases["modelscope/ZhipuAI/GLM-5"], "glm");
    assert_eq!(c.allow, vec!["modelscope/*"]);
    assert_eq!(
        c.per_agent_models,
        vec![
            ("coder".to_owned(), "modelscope/ZhipuAI/GLM-5".to_owned()),
            (
                "helper".to_owned(),
                "modelscope/deepseek-ai/DeepSeek-V3.2".to_owned()
            ),
        ]
    );
    assert_eq!(c.reload_mode.as_deref(), Some("hybrid"));
    assert_eq!(c.gateway_port, Some(18789));
    assert_eq!(
        c.log_file.as_deref(),
        Some(Path::new("/var/log/openclaw.log"))
    );
}

#[test]
fn aliases_match_as_openclaw_matches_them() {
    // Case and surrounding blanks do not matter; of colliding aliases the last in file order
    // wins (not the first by sort order); a blank alias is no alias; `provider/*` has none.
    let c = parse(
        "{ agents: { defaults: { model: 'm/b', models: {\n\
         'm/z': { alias: 'Fast' },\n\
         'm/a': { alias: ' fast ' },\n\
         'm/b': { alias: 'GLM' },\n\
         'm/c': { alias: '  ' },\n\
         'm/*': { alias: 'any' },\n\
         } } }, models: { providers: { m: { models: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'z' }] } } } }",
        p(),
    )
    .unwrap();
    assert_eq!(c.resolve_model("m", "FAST"), Some("m/a".to_owned()));
    assert_eq!(c.resolve_model("m", "glm "), Some("m/b".to_owned()));
    assert_eq!(c.resolve_model("m", "  "), None);
    assert_eq!(c.resolve_model("m", "any"), None);
    assert!(!c.aliases.contains_key("m/c"));
}

#[test]
fn resolve_model_by_alias_bare_id_and_full_ref() {
    let c = parse(FULL, p()).unwrap();
    let glm = Some("modelscope/ZhipuAI/GLM-5".to_owned());
    assert_eq!(c.resolve_model("modelscope", "glm"), glm);
    assert_eq!(c.resolve_model("modelscope", "ZhipuAI/GLM-5"), glm);
    assert_eq!(
        c.resolve_model("modelscope", "modelscope/ZhipuAI/GLM-5"),
        glm
    );
    // An alias of another provider, an unlisted id, an unknown provider: nothing.
    assert_eq!(c.resolve_model("modelscope", "gpt"), None);
    assert_eq!(c.resolve_model("modelscope", "ZhipuAI/GLM-4"), None);
    assert_eq!(
        c.resolve_model("modelscope", "modelscope/ZhipuAI/GLM-4"),
        None
    );
    assert_eq!(c.resolve_model("nope", "m1"), None);
    assert_eq!(c.resolve_model("other", "m1"), Some("other/m1".into()));
    assert_eq!(c.resolve_model("modelscope", ""), None);
    assert!(c.is_listed("modelscope/Qwen/Qwen3.5-397B-A17B"));
    assert!(!c.is_listed("modelscope/Qwen"));
    assert!(!c.is_listed("qwen"));
}

#[test]
fn model_forms() {
    let c = parse(
        r#"{ agents: { defaults: { model: "modelscope/a" } } }"#,
        p(),
    )
    .unwrap();
    assert_eq!(
        (c.model_form, c.primary.as_deref(), c.fallbacks),
        (ModelForm::String, Some("modelscope/a"), None)
    );
    let c = parse("{ agents: { defaults: {} } }", p()).unwrap();
    assert_eq!(
        (c.model_form, c.primary, c.fallbacks),
        (ModelForm::Missing, None, None)
    );
    let c = parse("{}", p()).unwrap();
    assert_eq!(c.model_form, ModelForm::Missing);
    let c = parse(
        "{ agents: { defaults: { model: { fallbacks: [] } } } }",
        p(),
    )
    .unwrap();
    assert_eq!(
        (c.model_form, c.primary, c.fallbacks),
        (ModelForm::Object, None, Some(vec![]))
    );
    // Duplicate keys: the last one wins, as in JSON5.
    let c = parse(
        "{ agents: { defaults: { model: 'a/x', model: 'a/y' } } }",
        p(),
    )
    .unwrap();
    assert_eq!(c.primary.as_deref(), Some("a/y"));
}

#[test]
fn wrong_shapes_on_the_model_path_are_invalid() {
    for (text, needle) in [
        ("[]", "root is not an object"),
        ("{ agents: 3 }", "agents is not an object"),
        (
            "{ agents: { defaults: [] } }",
            "agents.defaults is not an object",
        ),
        (
            "{ agents: { defaults: { model: 3 } } }",
            "neither a string nor an object",
        ),
        (
            "{ agents: { defaults: { model: { primary: null } } } }",
            "primary is not a string",
        ),
        (
            "{ agents: { defaults: { model: { fallbacks: 'x' } } } }",
            "fallbacks is not an array",
        ),
        (
            "{ agents: { defaults: { model: { fallbacks: [1] } } } }",
            "other than strings",
        ),
    ] {
        let err = parse(text, p()).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{text}: {err:?}"
        );
        assert!(err.to_string().contains(needle), "{text}: {err}");
        assert!(err.to_string().starts_with("/cfg/openclaw.json: "), "{err}");
    }
}

#[test]
fn lenient_elsewhere() {
    let c = parse(
        "{ gateway: { port: 'x', reload: 3 }, logging: [], models: { providers: { a: 1, b: { models: 'x', baseUrl: 2 } } } }",
        p(),
    )
    .unwrap();
    assert_eq!(c.gateway_port, None);
    assert_eq!(c.reload_mode, None);
    assert_eq!(c.log_file, None);
    assert!(!c.providers.contains_key("a"));
    assert_eq!(c.providers["b"].model_ids, Vec::<String>::new());
    assert_eq!(c.providers["b"].base_url, None);
    assert_eq!(
        parse("{ gateway: { port: 70000 } }", p())
            .unwrap()
            .gateway_port,
        None
    );
}

#[test]
fn json5_syntax_is_accepted() {
    let text = "\u{feff}{\n  // line\n  /* block */ agents: { defaults: { model: { primary: 'a/\\\n b', fallbacks: [ \"x\", ], }, }, },\n  n: 0x1F, m: +1, o: .5, p: 5.,\n}\n";
    let c = parse(text, p()).unwrap();
    assert_eq!(c.primary.as_deref(), Some("a/ b"));
    assert_eq!(c.fallbacks, Some(vec!["x".to_owned()]));
}

fn parse_err(text: &str) -> (usize, usize, String) {
    match parse(text, p()).unwrap_err() {
        ConfigError::Parse {
            line,
            column,
            message,
            ..
        } => (line, column, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn what_openclaw_refuses_gets_its_line_and_column() {
    // Positions and wording as OpenClaw's json5 2.2.3 reports them (checked with node), minus the
    // character itself, which may be part of a key.
    let invalid_char = "JSON5: invalid character (OpenClaw rejects it too)";
    for (text, at, message) in [
        ("{\r\n  a: `x`\r\n}", (2, 6), invalid_char),
        ("{\n  a: 'x\n", (3, 0), invalid_char),
        ("{ a: 1 }\n{ b: 2 }", (2, 1), invalid_char),
        ("{ a: undefined }", (1, 6), invalid_char),
        ("", (1, 1), "JSON5: invalid end of input"),
        ("  // nothing\n", (2, 1), "JSON5: invalid end of input"),
    ] {
        let (l, c, m) = parse_err(text);
        assert_eq!(((l, c), m.as_str()), (at, message), "{text:?}");
    }
}

#[test]
fn non_finite_numbers_are_refused_with_a_reason() {
    // OpenClaw accepts them; JSON (and so msclaw's typed view) has no such numbers.
    let (l, c, m) = parse_err("{\n  a: 1,\n  b: Infinity,\n}");
    assert_eq!((l, c), (3, 6));
    assert!(m.contains("Infinity and NaN"), "{m}");
    let (l, c, m) = parse_err("{ a: -NaN }");
    assert_eq!((l, c), (1, 6));
    assert!(m.contains("Infinity and NaN"), "{m}");
    let (_, _, m) = parse_err("{ a: 1e400 }");
    assert_eq!(m, "number is out of range");
}

#[test]
fn secrets_never_reach_debug_or_errors() {
    let c = parse(FULL, p()).unwrap();
    let debug = format!("{c:?} {:#?}", c.providers);
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains("7f3a9c"), "{debug}");

    // Broken files with the key at or near the error.
    let broken = [
        format!("{{ models: {{ providers: {{ x: {{ apiKey: \"{SECRET}"),
        format!("{{ models: {{ providers: {{ x: {{ apiKey: \"{SECRET}\\u12G4\" }} }} }} }}"),
        format!("{{ models: {{ providers: {{ x: {{ apiKey: \"{SECRET}\\u12"),
        format!("{{ apiKey: {SECRET} }}"),
        format!("{{ apiKey: \"{SECRET}\" \"{SECRET}\" }}"),
        format!("{{ apiKey: '{SECRET}', x: Infinity }}"),
        format!("{{ apiKey: {{ source: 'env', id: \"{SECRET}\" }}, }} garbage {SECRET}"),
        format!("{{ models: {{ providers: {{ x: {{ apiKey: \"${{{SECRET}\" }} }} }}"),
        format!("{{ apiKey: \"\\x{SECRET}\" }}"),
    ];
    for text in &broken {
        let err = parse(text, p()).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("7f3a9c"), "leaked in {shown}");
        assert!(!shown.contains("SECRET"), "leaked in {shown}");
    }
    // jsonc-parser's own message for a bad \u escape quotes the escape's hex digits, which
    // are part of the key here.
    let text = "{ apiKey: \"sk-\\udead\\ubeef\" }";
    let err = parse(text, p()).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("dead") && !shown.contains("beef"),
        "leaked in {shown}"
    );
    assert!(shown.contains("invalid \\u escape"), "{shown}");
}

#[test]
fn invalid_utf8_is_a_parse_error_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("openclaw.json");
    fs::write(&f, b"{\n  a: \"\xff\"\n}").unwrap();
    match load(&f).unwrap_err() {
        ConfigError::Parse {
            line,
            column,
            message,
            ..
        } => {
            assert_eq!((line, column), (2, 7));
            assert!(message.contains("UTF-8"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn not_found() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("missing.json");
    assert!(matches!(load(&f), Err(ConfigError::NotFound(ref x)) if x == &f));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let f = dir.join(name);
    if let Some(parent) = f.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&f, text).unwrap();
    f
}

#[test]
fn include_single_file_for_agents_and_models() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(
        dir.path(),
        "openclaw.json",
        "{ agents: { $include: './conf/agents.json5' }, models: { $include: 'conf/models.json5' } }",
    );
    let agents = write(
        dir.path(),
        "conf/agents.json5",
        "// agents\n{ defaults: { model: { primary: 'modelscope/a' } } }",
    );
    let models = write(
        dir.path(),
        "conf/models.json5",
        "{ providers: { modelscope: { $include: 'ms.json5' } } }",
    );
    let ms = write(dir.path(), "conf/ms.json5", "{ models: [{ id: 'a' }] }");
    let c = load(&main).unwrap();
    assert_eq!(c.primary.as_deref(), Some("modelscope/a"));
    assert_eq!(c.providers["modelscope"].model_ids, vec!["a"]);
    assert_eq!(c.agents_file, agents);
    assert_eq!(c.files, vec![main.clone(), agents.clone(), models, ms]);
    // `parse` does not follow, but still names the file the agents come from.
    let c = parse(&fs::read_to_string(&main).unwrap(), &main).unwrap();
    assert_eq!(c.primary, None);
    assert_eq!(c.agents_file, dir.path().join("./conf/agents.json5"));
}

#[test]
fn include_array_merges_in_order_and_siblings_override() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json5",
        "{ agents: { defaults: { model: { primary: 'p/a', fallbacks: ['p/f'] } } }, gateway: { port: 1 } }",
    );
    write(
        dir.path(),
        "b.json5",
        "{ agents: { defaults: { model: { primary: 'p/b' } } }, gateway: { reload: { mode: 'off' } } }",
    );
    let main = write(
        dir.path(),
        "openclaw.json",
        "{ $include: ['a.json5', 'b.json5'], gateway: { port: 2 } }",
    );
    let c = load(&main).unwrap();
    assert_eq!(c.primary.as_deref(), Some("p/b"));
    assert_eq!(c.fallbacks, Some(vec!["p/f".to_owned()]));
    assert_eq!(c.agents_file, dir.path().join("b.json5"));
    assert_eq!(c.gateway_port, Some(2));
    assert_eq!(c.reload_mode.as_deref(), Some("off"));
}

#[test]
fn include_errors() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(
        dir.path(),
        "openclaw.json",
        "{ agents: { $include: 'nope.json5' } }",
    );
    let err = load(&main).unwrap_err();
    assert!(
        matches!(err, ConfigError::Include { ref path, .. } if path == &main),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("nope.json5") && err.to_string().contains("not found"),
        "{err}"
    );

    let main = write(
        dir.path(),
        "cycle.json",
        "{ agents: { $include: 'cycle2.json5' } }",
    );
    write(
        dir.path(),
        "cycle2.json5",
        "{ defaults: { $include: 'cycle.json' } }",
    );
    let err = load(&main).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");

    let main = write(dir.path(), "bad.json", "{ agents: { $include: 3 } }");
    assert!(
        load(&main)
            .unwrap_err()
            .to_string()
            .contains("$include in agents must be a file name")
    );

    let main = write(
        dir.path(),
        "sib.json",
        "{ agents: { $include: 'str.json5', x: 1 } }",
    );
    write(dir.path(), "str.json5", "'a string'");
    assert!(
        load(&main)
            .unwrap_err()
            .to_string()
            .contains("not an object")
    );

    let main = write(
        dir.path(),
        "broken.json",
        "{ agents: { $include: 'broken.json5' } }",
    );
    let broken = write(dir.path(), "broken.json5", "{\n  defaults: {\n");
    match load(&main).unwrap_err() {
        ConfigError::Parse { path, line, .. } => {
            assert_eq!(path, broken);
            assert_eq!(line, 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn agents_file_follows_single_includes_down_to_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(dir.path(), "openclaw.json", "{ $include: 'base.json5' }");
    write(
        dir.path(),
        "base.json5",
        "{ agents: { defaults: { $include: 'd/defaults.json5' } } }",
    );
    let defaults = write(
        dir.path(),
        "d/defaults.json5",
        "{ model: { $include: 'model.json5' } }",
    );
    let model = write(dir.path(), "d/model.json5", "{ primary: 'p/m' }");
    let c = load(&main).unwrap();
    assert_eq!(c.primary.as_deref(), Some("p/m"));
    assert_eq!(c.agents_file, model);
    assert!(c.files.contains(&defaults));

    // A sibling `model` beside the include wins and is edited where it is.
    let main = write(
        dir.path(),
        "sib.json",
        "{ agents: { $include: 'd/agents.json5', defaults: { model: 'p/x' } } }",
    );
    write(
        dir.path(),
        "d/agents.json5",
        "{ defaults: { model: 'p/y', workspace: '~' } }",
    );
    let c = load(&main).unwrap();
    assert_eq!(c.primary.as_deref(), Some("p/x"));
    assert_eq!(c.agents_file, main);

    // An include array on the way: the last file that holds the model.
    let main = write(
        dir.path(),
        "arr.json",
        "{ agents: { $include: ['d/agents.json5', 'd/other.json5', 'd/none.json5'] } }",
    );
    let other = write(
        dir.path(),
        "d/other.json5",
        "{ defaults: { model: 'p/o' } }",
    );
    write(
        dir.path(),
        "d/none.json5",
        "{ defaults: { workspace: '/w' } }",
    );
    let c = load(&main).unwrap();
    assert_eq!(
        (c.primary.as_deref(), &c.agents_file),
        (Some("p/o"), &other)
    );
    // None of them does: the model goes beside the $include.
    let main = write(
        dir.path(),
        "arr2.json",
        "{ agents: { $include: ['d/none.json5'] } }",
    );
    let c = load(&main).unwrap();
    assert_eq!((c.primary.as_deref(), &c.agents_file), (None, &main));
}
