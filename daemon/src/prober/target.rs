//! The provider's real endpoint and key for a probe: from the relay's store when OpenClaw's
//! `baseUrl` for the provider is the relay's (`relay on` moved the real ones there), else from
//! OpenClaw's config (`models.providers.<p>.baseUrl` / `apiKey`). Only the store's and
//! `real_key`'s public functions are used; no error names the key.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use crate::relay::real_key::{self, KeySources};
use crate::relay::store;

/// Where to look, as the engine knows it when the probe is due.
pub struct TargetSources {
    /// OpenClaw's config file (read again here: the engine keeps no key).
    pub config: PathBuf,
    /// The provider's `baseUrl` in the config as the engine last read it (maybe the relay's).
    pub config_base_url: Option<String>,
    /// msclaw's relay store (`relay-upstreams.json`).
    pub relay_store: PathBuf,
    /// OpenClaw's `<state dir>/.env`, where a `${VAR}` key may be set.
    pub dotenv: PathBuf,
    pub env: crate::EnvMap,
}

/// A provider's real endpoint, the model id it knows, and the key. `Debug` hides the key.
pub struct Target {
    /// Without a trailing `/` (`https://api-inference.modelscope.cn/v1`).
    pub base_url: String,
    /// The id the provider serves (the ref without `provider/`).
    pub model_id: String,
    pub key: Option<String>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("base_url", &self.base_url)
            .field("model_id", &self.model_id)
            .field("key", &self.key.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// The endpoint and key for `model_ref` (`provider/id`). Blocking: reads small files.
pub fn resolve(model_ref: &str, sources: &TargetSources) -> Result<Target, String> {
    let (provider, model_id) = model_ref
        .split_once('/')
        .ok_or_else(|| format!("{model_ref} is not a provider/model ref"))?;
    let env = |name: &str| (sources.env)(name);
    let keys = KeySources {
        env: &env,
        dotenv: &sources.dotenv,
    };
    let (base_url, raw_key) = match relayed(provider, sources)? {
        Some(found) => found,
        None => from_config(provider, sources)?,
    };
    let key = match raw_key {
        Some(raw) => Some(
            real_key::resolve(&raw, &keys)
                .map_err(|e| format!("the {provider} key cannot be used: {e}"))?,
        ),
        None => None,
    };
    Ok(Target {
        base_url: base_url.trim_end_matches('/').to_owned(),
        model_id: model_id.to_owned(),
        key,
    })
}

/// The store's real `baseUrl` and `apiKey` text, when the config points `provider` at the relay.
fn relayed(
    provider: &str,
    sources: &TargetSources,
) -> Result<Option<(String, Option<String>)>, String> {
    let Some(config_url) = &sources.config_base_url else {
        return Ok(None);
    };
    let stored = store::load(&sources.relay_store)
        .map_err(|e| format!("cannot read the relay store: {e}"))?;
    let Some(upstream) = stored.and_then(|s| s.providers.get(provider).cloned()) else {
        return Ok(None);
    };
    if upstream.relay_url.trim_end_matches('/') != config_url.trim_end_matches('/') {
        return Ok(None);
    }
    let url = upstream
        .real_base_url()
        .ok_or_else(|| format!("the relay store has no readable baseUrl for {provider}"))?;
    Ok(Some((url, upstream.api_key_raw().map(str::to_owned))))
}

/// `models.providers.<provider>.baseUrl` and `apiKey` (as JSON text) from OpenClaw's config.
fn from_config(
    provider: &str,
    sources: &TargetSources,
) -> Result<(String, Option<String>), String> {
    let root = crate::openclaw::include::resolved_value(&sources.config, &HashMap::new())
        .map_err(|_| format!("cannot read {}", sources.config.display()))?;
    let entry = root
        .pointer(&format!("/models/providers/{}", pointer_key(provider)))
        .ok_or_else(|| format!("the config has no provider {provider}"))?;
    let base_url = entry
        .get("baseUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the config gives {provider} no baseUrl"))?
        .to_owned();
    let key = entry
        .get("apiKey")
        .filter(|k| !k.is_null() && k.as_str() != Some(""))
        .map(Value::to_string);
    Ok((base_url, key))
}

fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const SECRET: &str = "ms-probe-SECRET-0123456789abcdef";

    fn sources(dir: &std::path::Path, config: &str, base: Option<&str>) -> TargetSources {
        let path = dir.join("openclaw.json");
        std::fs::write(&path, config).unwrap();
        TargetSources {
            config: path,
            config_base_url: base.map(str::to_owned),
            relay_store: dir.join("relay-upstreams.json"),
            dotenv: dir.join(".env"),
            env: Arc::new(|name: &str| (name == "MS_KEY").then(|| SECRET.into())),
        }
    }

    #[test]
    fn without_the_relay_the_config_gives_the_endpoint_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(
            dir.path(),
            "{ models: { providers: { modelscope: { baseUrl: 'https://x.test/v1/', apiKey: '${MS_KEY}' } } } }",
            Some("https://x.test/v1/"),
        );
        let t = resolve("modelscope/Qwen/Qwen3.5", &s).unwrap();
        assert_eq!(t.base_url, "https://x.test/v1");
        assert_eq!(t.model_id, "Qwen/Qwen3.5");
        assert_eq!(t.key.as_deref(), Some(SECRET));
        assert!(!format!("{t:?}").contains(SECRET));
    }

    #[test]
    fn with_the_relay_on_the_store_gives_the_real_endpoint_and_key() {
        use crate::openclaw::base_url::{KeptEntry, KeptProvider};
        let dir = tempfile::tempdir().unwrap();
        let relay = "http://127.0.0.1:18790/v1";
        let s = sources(
            dir.path(),
            &format!(
                "{{ models: {{ providers: {{ modelscope: {{ baseUrl: '{relay}', apiKey: 'TOKEN' }} }} }} }}"
            ),
            Some(relay),
        );
        let upstream = store::StoredUpstream {
            relay_url: relay.into(),
            kept: KeptProvider {
                config: KeptEntry {
                    base_url_raw: "\"https://real.test/v1\"".into(),
                    api_key_raw: Some("\"${MS_KEY}\"".into()),
                },
                copies: Default::default(),
            },
        };
        let kept = store::RelayStore {
            token: "TOKEN".into(),
            providers: [("modelscope".to_owned(), upstream)].into(),
        };
        store::save(&s.relay_store, &kept).unwrap();
        let t = resolve("modelscope/ZhipuAI/GLM-5", &s).unwrap();
        assert_eq!(t.base_url, "https://real.test/v1");
        assert_eq!(t.key.as_deref(), Some(SECRET));
        // Another provider, not relayed: from the config as it is.
        let direct = TargetSources {
            config_base_url: Some("https://elsewhere.test/v1".into()),
            ..s
        };
        std::fs::write(
            &direct.config,
            "{ models: { providers: { modelscope: { baseUrl: 'https://elsewhere.test/v1', apiKey: 'lit' } } } }",
        )
        .unwrap();
        let t = resolve("modelscope/ZhipuAI/GLM-5", &direct).unwrap();
        assert_eq!(t.base_url, "https://elsewhere.test/v1");
        assert_eq!(t.key.as_deref(), Some("lit"));
    }

    #[test]
    fn a_missing_variable_is_an_error_that_names_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(
            dir.path(),
            "{ models: { providers: { p: { baseUrl: 'http://h/v1', apiKey: '${UNSET_KEY}' } } } }",
            None,
        );
        let err = resolve("p/m", &s).unwrap_err();
        assert!(err.contains("UNSET_KEY"), "{err}");
        let none = resolve("q/m", &s).unwrap_err();
        assert!(none.contains("no provider q"), "{none}");
    }
}
