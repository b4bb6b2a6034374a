//! [`OpenClawEnvBuilder`]: how an [`OpenClawEnv`] is made, and the JSON5 `openclaw.json` it writes.

use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, Result};

use super::env::OpenClawEnv;
use super::install::{OpenClawInstall, version_at_least};
use super::process::free_port;
use super::{ALIASES, GATEWAY_TOKEN, model_ref};
use crate::fake_modelscope::{GLM5, KIMI, MINIMAX, QWEN};

/// How an [`OpenClawEnv`] is made. Start with [`OpenClawEnv::builder`].
#[derive(Clone, Debug)]
pub struct OpenClawEnvBuilder {
    install: OpenClawInstall,
    base_url: String,
    primary: String,
    fallbacks: Option<Vec<String>>,
    reload_mode: Option<String>,
    extra_config: Vec<String>,
    env: BTreeMap<String, Option<String>>,
    keep_dir: bool,
    log_max_file_bytes: Option<u64>,
}

impl OpenClawEnvBuilder {
    /// `logging.maxFileBytes`: past it OpenClaw renames the log to `<name>.1.log` (… `.5.log`)
    /// and starts a new file. Default: OpenClaw's 100 MB.
    pub fn log_max_file_bytes(mut self, bytes: u64) -> Self {
        self.log_max_file_bytes = Some(bytes);
        self
    }
    /// The primary model (a ModelScope id such as [`QWEN`], not a ref). Default [`QWEN`].
    pub fn primary(mut self, model: &str) -> Self {
        self.primary = model.to_string();
        self
    }
    /// Writes `agents.defaults.model.fallbacks` (ModelScope ids, in order). Default: none.
    pub fn fallbacks(mut self, models: &[&str]) -> Self {
        self.fallbacks = Some(models.iter().map(|m| m.to_string()).collect());
        self
    }
    /// Fallbacks = the other three of the four models, in rotation order.
    pub fn with_default_fallbacks(self) -> Self {
        let primary = self.primary.clone();
        let others: Vec<&str> = crate::fake_modelscope::MODELS
            .iter()
            .copied()
            .filter(|m| *m != primary)
            .collect();
        self.fallbacks(&others)
    }
    /// No `fallbacks` key at all.
    pub fn no_fallbacks(mut self) -> Self {
        self.fallbacks = None;
        self
    }
    /// `gateway.reload.mode`; omitted by default (OpenClaw's default, hybrid). 2026.9.6 accepts only
    /// `"hybrid"` and `"off"` (`"hot"`/`"restart"` fail validation there).
    pub fn reload_mode(mut self, mode: &str) -> Self {
        self.reload_mode = Some(mode.to_string());
        self
    }
    /// JSON5 members inserted at the top level of the config object, e.g.
    /// `"session: { dmScope: \"main\" },"` (end it with a comma).
    pub fn extra_config(mut self, json5_members: &str) -> Self {
        self.extra_config.push(json5_members.to_string());
        self
    }
    /// Sets (or overrides) an environment variable for every OpenClaw process of this env.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_string(), Some(value.to_string()));
        self
    }
    /// Removes one of the default variables (see [`OpenClawEnv::base_env`]).
    pub fn remove_env(mut self, key: &str) -> Self {
        self.env.insert(key.to_string(), None);
        self
    }
    /// Keeps the temp dir after the env is dropped (its path is printed), for debugging.
    pub fn keep_dir(mut self, keep: bool) -> Self {
        self.keep_dir = keep;
        self
    }

    /// Creates the temp HOME, state dir and config (nothing is started).
    pub fn build(self) -> Result<OpenClawEnv> {
        let dir = tempfile::Builder::new()
            .prefix("msclaw-openclaw-")
            .tempdir()?;
        let root = dir.path().to_path_buf();
        let home = root.join("home");
        let state_dir = home.join(".openclaw");
        let log_dir = root.join("logs");
        let tmp_dir = root.join("tmp");
        for d in [&home, &state_dir, &log_dir, &tmp_dir] {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let gateway_port = free_port()?;
        let mut env = OpenClawEnv {
            install: self.install.clone(),
            dir: Some(dir),
            keep_dir: self.keep_dir,
            root,
            home: home.clone(),
            state_dir: state_dir.clone(),
            config_path: state_dir.join("openclaw.json"),
            log_file: log_dir.join("openclaw-gateway.log"),
            log_dir,
            tmp_dir,
            gateway_port,
            base_url: self.base_url.clone(),
            env: BTreeMap::new(),
            session_counter: AtomicU64::new(0),
        };
        let mut vars = env.base_env();
        for (k, v) in &self.env {
            match v {
                Some(v) => vars.insert(k.clone(), v.clone()),
                None => vars.remove(k),
            };
        }
        env.env = vars;
        let text = self.config_text(&env);
        env.write_config_atomic(&text)?;
        Ok(env)
    }

    fn config_text(&self, env: &OpenClawEnv) -> String {
        let v = &self.install.version;
        let mut s = String::new();
        s.push_str("// OpenClaw config for an msclaw test, written by msclaw_tests::openclaw.\n");
        s.push_str("// JSON5 on purpose: comments, unquoted keys and trailing commas must survive edits.\n");
        s.push_str("{\n");
        s.push_str("  /* The fake ModelScope server on loopback (OpenAI-compatible). */\n");
        s.push_str("  models: {\n    mode: \"merge\",\n");
        if version_at_least(v, "2026.9.0") {
            s.push_str(
                "    catalogRefresh: { enabled: false }, // no remote model catalog download\n",
            );
        }
        s.push_str("    providers: {\n      modelscope: {\n");
        s.push_str(&format!("        baseUrl: \"{}\",\n", self.base_url));
        s.push_str("        apiKey: \"${MODELSCOPE_API_KEY}\", // resolved from the env\n");
        s.push_str("        api: \"openai-completions\",\n");
        s.push_str("        models: [\n");
        let specs = [
            (QWEN, "Qwen3.5 397B A17B", 262144),
            (GLM5, "GLM-5", 204800),
            (MINIMAX, "MiniMax M2.5", 204800),
            (KIMI, "Kimi K2.5", 262144),
        ];
        for (id, name, ctx) in specs {
            s.push_str(&format!(
                "          {{ id: \"{id}\", name: \"{name}\", contextWindow: {ctx}, maxTokens: 8192,\n            cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},\n"
            ));
        }
        s.push_str("        ],\n      },\n    },\n  },\n");
        s.push_str("  agents: {\n    defaults: {\n      model: {\n");
        s.push_str(&format!(
            "        primary: \"{}\", // msclaw rewrites this line\n",
            model_ref(&self.primary)
        ));
        if let Some(fb) = &self.fallbacks {
            let list: Vec<String> = fb.iter().map(|m| format!("\"{}\"", model_ref(m))).collect();
            s.push_str(&format!("        fallbacks: [{}],\n", list.join(", ")));
        }
        s.push_str("      },\n      models: {\n");
        for (id, alias) in ALIASES {
            s.push_str(&format!(
                "        \"{}\": {{ alias: \"{alias}\" }},\n",
                model_ref(id)
            ));
        }
        s.push_str("      },\n    },\n  },\n");
        s.push_str("  gateway: {\n    mode: \"local\",\n    bind: \"loopback\",\n");
        s.push_str(&format!("    port: {},\n", env.gateway_port));
        s.push_str(&format!(
            "    auth: {{ mode: \"token\", token: \"{GATEWAY_TOKEN}\" }},\n"
        ));
        if let Some(mode) = &self.reload_mode {
            s.push_str(&format!("    reload: {{ mode: \"{mode}\" }},\n"));
        }
        s.push_str("  },\n");
        s.push_str("  update: { checkOnStart: false }, // no update check against the registry\n");
        let max = self
            .log_max_file_bytes
            .map(|n| format!(", maxFileBytes: {n}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "  logging: {{ file: \"{}\"{max} }}, // this test's own log, not /tmp/openclaw\n",
            env.log_file.display()
        ));
        for extra in &self.extra_config {
            s.push_str("  ");
            s.push_str(extra.trim());
            s.push('\n');
        }
        s.push_str("}\n");
        s
    }
}

impl OpenClawEnv {
    /// A builder for an env running `install` against the fake server at `base_url`
    /// (`FakeModelScope::base_url()`).
    pub fn builder(install: &OpenClawInstall, base_url: &str) -> OpenClawEnvBuilder {
        OpenClawEnvBuilder {
            install: install.clone(),
            base_url: base_url.to_string(),
            primary: QWEN.to_string(),
            fallbacks: None,
            reload_mode: None,
            extra_config: Vec::new(),
            env: BTreeMap::new(),
            keep_dir: false,
            log_max_file_bytes: None,
        }
    }
}
