use super::verify::contained;
use super::*;
use serde_json::Value;

#[test]
fn aliases_are_derived_from_the_model_name() {
    for (id, alias) in [
        ("Qwen/Qwen3.5-397B-A17B", Some("qwen3.5")),
        ("ZhipuAI/GLM-5", Some("glm5")),
        ("MiniMax/MiniMax-M2.5", Some("minimax")),
        ("moonshotai/Kimi-K2.5", Some("kimi")),
        ("deepseek-ai/DeepSeek-V3.2", Some("deepseek")),
        ("ZhipuAI/GLM-4.7-Flash", Some("glm4.7")),
        ("Qwen/Qwen3-Coder-480B-A35B-Instruct", Some("qwen3")),
        ("org/7b-model", None),
        ("org/", None),
    ] {
        assert_eq!(derive_alias(id).as_deref(), alias, "{id}");
    }
    // The guide's table agrees with the rule.
    for (id, _, alias) in GUIDE_MODELS {
        assert_eq!(derive_alias(id).as_deref(), Some(alias));
    }
}

#[test]
fn model_lists_take_ids_refs_and_guide_aliases() {
    let models = parse_model_list(
        " glm5, modelscope/deepseek-ai/DeepSeek-V3.2,Qwen/Qwen3-8B,",
        "modelscope",
    )
    .unwrap();
    let ids: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ZhipuAI/GLM-5",
            "deepseek-ai/DeepSeek-V3.2",
            "Qwen/Qwen3-8B"
        ]
    );
    assert_eq!(models[0].name, "GLM-5");
    assert_eq!(models[1].name, "DeepSeek-V3.2");
    assert_eq!(models[2].alias.as_deref(), Some("qwen3"));
    assert!(parse_model_list(" , ", "modelscope").is_err());
    assert!(
        parse_model_list("a/b,a/b", "modelscope")
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    assert!(parse_model_list("a b", "modelscope").is_err());
}

#[test]
fn secrets_are_masked_by_key_name() {
    let text = "{ apiKey: 'ms-abcdef', env: { vars: { MODELSCOPE_API_KEY: \"sk-12345\", HOME_DIR: '/h' } },\n  headers: { Authorization: 'Bearer xyz' }, other: { apiKey: '${MODELSCOPE_API_KEY}', token: 'plain' } }";
    let masked = mask_secrets(text);
    for leaked in ["abcdef", "12345", "xyz", "plain"] {
        assert!(!masked.contains(leaked), "{masked}");
    }
    assert!(masked.contains("apiKey: 'ms-…(hidden)'"), "{masked}");
    assert!(masked.contains("'${MODELSCOPE_API_KEY}'"), "{masked}");
    assert!(masked.contains("HOME_DIR: '/h'"), "{masked}");
    assert!(masked.contains("Authorization: '…(hidden)'"), "{masked}");
    assert_eq!(
        mask_secrets("{ apiKey: 'x"),
        "(the config does not parse; its text is not shown)\n"
    );
    assert_eq!(
        format!("{:?}", Secret::new(" k-1\n").unwrap()),
        "Secret(hidden)"
    );
}

#[test]
fn containment_names_paths_only() {
    let a: Value = serde_json::json!({ "x": { "k": "secret-1" }, "l": [1, 2], "agents": { "defaults": { "model": "a" } } });
    let ok: Value = serde_json::json!({ "x": { "k": "secret-1", "n": 1 }, "l": [1, 2, 3], "agents": { "defaults": { "model": { "primary": "b" } } } });
    contained(&a, &ok, &mut Vec::new()).unwrap();
    let changed: Value = serde_json::json!({ "x": { "k": "secret-2" }, "l": [1, 2], "agents": { "defaults": { "model": "b" } } });
    let err = contained(&a, &changed, &mut Vec::new()).unwrap_err();
    assert_eq!(err, "x.k changed");
    let reordered: Value = serde_json::json!({ "x": { "k": "secret-1" }, "l": [0, 1, 2], "agents": { "defaults": { "model": "c" } } });
    assert_eq!(
        contained(&a, &reordered, &mut Vec::new()).unwrap_err(),
        "l changed other than at its end"
    );
}

#[test]
fn listing_check() {
    let body =
        serde_json::json!({ "object": "list", "data": [ { "id": "a/1" }, { "id": "b/2" } ] });
    assert_eq!(
        missing_from_listing(&body, &["a/1", "c/3", "b/2"]).unwrap(),
        ["c/3"]
    );
    assert!(missing_from_listing(&serde_json::json!({ "error": "x" }), &["a/1"]).is_err());
}
