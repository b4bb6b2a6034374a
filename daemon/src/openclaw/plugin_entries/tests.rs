use std::path::Path;

use super::*;

const CONFIG: &str = "// my config\n{\n  // the gateway\n  gateway: { mode: \"local\" },\n  agents: {\n    defaults: { model: { primary: \"modelscope/a\" } },\n  },\n}\n";

fn req(choose_model: bool) -> PluginRequest {
    PluginRequest {
        load_path: "/home/u/.local/state/msclaw/openclaw-plugin".into(),
        choose_model,
    }
}

/// Install into `text` as `plan_install` does on a file: the new text and the step.
fn install(text: &str, req: &PluginRequest) -> (String, Option<InstallStep>) {
    let path = Path::new("<text>");
    let resolved = parse_value(text, path).unwrap();
    let (new, _) = install_text(text, &resolved, path, req).unwrap();
    let step = (new != text).then(|| {
        let (replaced, inserted) = changed_span(text, &new);
        InstallStep {
            request: req.clone(),
            replaced: replaced.into(),
            inserted: inserted.into(),
        }
    });
    (new, step)
}

fn value(text: &str) -> Value {
    parse_value(text, Path::new("<text>")).unwrap()
}

#[test]
fn install_adds_the_entries_and_uninstall_gives_the_same_bytes_back() {
    let (new, step) = install(CONFIG, &req(false));
    let v = value(&new);
    assert_eq!(
        v["plugins"]["load"]["paths"],
        serde_json::json!([req(false).load_path])
    );
    assert_eq!(v["plugins"]["entries"]["msclaw"]["enabled"], true);
    assert!(v["plugins"]["entries"]["msclaw"].get("hooks").is_none());
    assert!(
        new.starts_with("// my config\n{\n  // the gateway\n"),
        "{new}"
    );
    let back = uninstall_text(&new, &[step.unwrap()], Path::new("<text>")).unwrap();
    assert_eq!(back, CONFIG);
}

#[test]
fn a_second_install_changes_nothing() {
    let (new, _) = install(CONFIG, &req(true));
    let (again, step) = install(&new, &req(true));
    assert_eq!(again, new);
    assert!(step.is_none());
}

#[test]
fn choose_model_sets_conversation_access_and_the_opt_in() {
    let (new, _) = install(CONFIG, &req(true));
    let entry = &value(&new)["plugins"]["entries"]["msclaw"];
    assert_eq!(entry["enabled"], true);
    assert_eq!(entry["hooks"]["allowConversationAccess"], true);
    assert_eq!(entry["config"]["chooseModel"], true);
}

#[test]
fn two_installs_come_out_last_first() {
    let (first, s1) = install(CONFIG, &req(false));
    let (second, s2) = install(&first, &req(true));
    let steps = [s1.unwrap(), s2.unwrap()];
    let back = uninstall_text(&second, &steps, Path::new("<text>")).unwrap();
    assert_eq!(back, CONFIG);
}

#[test]
fn an_allowlist_gets_the_id_and_existing_entries_stay() {
    let text = "{\n  \"plugins\": {\n    \"allow\": [\"other\"],\n    \"load\": { \"paths\": [\"/x\"] },\n    \"entries\": {\n      \"other\": { \"enabled\": true }\n    }\n  }\n}\n";
    let (new, step) = install(text, &req(true));
    let v = value(&new);
    assert_eq!(
        v["plugins"]["allow"],
        serde_json::json!(["other", "msclaw"])
    );
    assert_eq!(
        v["plugins"]["load"]["paths"],
        serde_json::json!(["/x", req(true).load_path])
    );
    assert_eq!(v["plugins"]["entries"]["other"]["enabled"], true);
    assert_eq!(
        v["plugins"]["entries"]["msclaw"]["config"]["chooseModel"],
        true
    );
    let back = uninstall_text(&new, &[step.unwrap()], Path::new("<text>")).unwrap();
    assert_eq!(back, text);
}

#[test]
fn a_disabled_entry_is_the_users_and_is_not_overwritten() {
    let text = "{ plugins: { entries: { msclaw: { enabled: false } } } }\n";
    let path = Path::new("<text>");
    let err = install_text(text, &value(text), path, &req(false)).unwrap_err();
    assert!(
        matches!(&err, PluginEntriesError::Conflicting { json_path, .. } if json_path == "plugins.entries.msclaw.enabled"),
        "{err}"
    );
}

#[test]
fn a_model_switch_made_meanwhile_stays_after_uninstall() {
    let (new, step) = install(CONFIG, &req(false));
    let switched = new.replace("modelscope/a", "modelscope/bb");
    let back = uninstall_text(&switched, &[step.unwrap()], Path::new("<text>")).unwrap();
    assert_eq!(back, CONFIG.replace("modelscope/a", "modelscope/bb"));
}

#[test]
fn an_edited_entry_is_not_guessed_at() {
    let (new, step) = install(CONFIG, &req(false));
    let edited = new.replace("enabled: true", "enabled: true, config: { socket: \"/s\" }");
    let err = uninstall_text(&edited, &[step.unwrap()], Path::new("<text>")).unwrap_err();
    assert!(matches!(err, PluginEntriesError::Changed { .. }), "{err}");
}
