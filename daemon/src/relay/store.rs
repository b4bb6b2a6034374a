//! msclaw's private record of what `msclawctl relay on` took out of OpenClaw's files: per provider,
//! the real `baseUrl` and `apiKey` exactly as written, the relay URL put in their place, and the
//! install's relay token. A 0600 file in msclaw's 0700 state dir (`relay-upstreams.json`, next to
//! the state file); msclawd reads it at start, `relay off` puts its contents back.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::openclaw::atomic_write::{self, create_private_dir};
use crate::openclaw::base_url::KeptProvider;
use crate::openclaw::json5::parse_value;

use super::real_key::{self, KeySources};
use super::{ProviderUpstream, RelayAuth};
use msclaw_shared::paths::MsclawPaths;

/// A store is a few hundred bytes per provider: anything over this is not one msclaw wrote.
const MAX_STORE_BYTES: u64 = 1 << 20;

/// The whole file.
#[derive(Clone, Serialize, Deserialize)]
pub struct RelayStore {
    /// What OpenClaw's provider `apiKey` holds while the relay is on (64 hex digits).
    pub token: String,
    #[serde(default)]
    pub providers: BTreeMap<String, StoredUpstream>,
}

/// One provider pointed at the relay.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredUpstream {
    /// The `baseUrl` OpenClaw was given (the relay's).
    pub relay_url: String,
    /// The real `baseUrl` and `apiKey` text, in the config and in the agents' copies.
    pub kept: KeptProvider,
}

impl StoredUpstream {
    /// The real base URL (the JSON5 string as written, unquoted).
    pub fn real_base_url(&self) -> Option<String> {
        parse_value(
            &self.kept.config.base_url_raw,
            Path::new("relay-upstreams.json"),
        )
        .ok()?
        .as_str()
        .map(str::to_owned)
    }

    /// The real `apiKey` text as written (None: the provider had none).
    pub fn api_key_raw(&self) -> Option<&str> {
        self.kept.config.api_key_raw.as_deref()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is readable by others (mode {mode:04o}): it holds the relay's token and key; chmod 600 it"
    )]
    Open { path: PathBuf, mode: u32 },
    #[error("{path} is not a relay store msclaw wrote: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{path} holds no relay token for provider {provider}: run `msclawctl relay on` (it moves the provider's apiKey into msclaw's state and gives OpenClaw a relay token)"
    )]
    NotOn { path: PathBuf, provider: String },
    #[error("the relay cannot send the real key upstream: {0}")]
    Key(real_key::RealKeyError),
}

/// What msclawd's relay admits and sends upstream for `provider`: the stored token, and the real
/// key resolved from the stored `apiKey` text. No store (or no entry for the provider) means
/// `relay on` never ran with this msclaw: OpenClaw may still hold the real key, so the relay does
/// not start.
pub fn relay_auth(
    path: &Path,
    provider: &str,
    sources: &KeySources<'_>,
) -> Result<RelayAuth, StoreError> {
    let missing = || StoreError::NotOn {
        path: path.to_owned(),
        provider: provider.to_owned(),
    };
    let store = load(path)?.ok_or_else(missing)?;
    let upstream = store.providers.get(provider).ok_or_else(missing)?;
    let key = match upstream.api_key_raw() {
        Some(raw) => Some(real_key::resolve(raw, sources).map_err(StoreError::Key)?),
        None => None,
    };
    Ok(RelayAuth::new(store.token, key))
}

/// Every provider besides the rotation one that msclawd's relay fronts: each one `relay on` moved
/// (its real URL and key from the store) and each one `[relay.upstreams]` names (`listed`: that
/// URL wins). A provider only `listed` has no stored key: nothing goes upstream in its place (a
/// local model server).
pub fn other_upstreams(
    path: &Path,
    rotation: &str,
    listed: &BTreeMap<String, String>,
    sources: &KeySources<'_>,
) -> Result<BTreeMap<String, ProviderUpstream>, StoreError> {
    let stored = load(path)?.map(|s| s.providers).unwrap_or_default();
    let providers = stored
        .keys()
        .chain(listed.keys())
        .filter(|p| *p != rotation);
    let mut out = BTreeMap::new();
    for provider in providers {
        let entry = stored.get(provider);
        let upstream = listed
            .get(provider)
            .cloned()
            .or_else(|| entry.and_then(StoredUpstream::real_base_url))
            .ok_or_else(|| StoreError::Invalid {
                path: path.to_owned(),
                message: format!("the stored baseUrl of provider {provider} is not a string"),
            })?;
        let key = match entry.and_then(StoredUpstream::api_key_raw) {
            Some(raw) => Some(real_key::resolve(raw, sources).map_err(StoreError::Key)?),
            None => None,
        };
        out.insert(provider.clone(), ProviderUpstream::new(upstream, key));
    }
    Ok(out)
}

/// `relay-upstreams.json` beside the state file (`relay-upstreams-<profile>.json` for a profile's).
pub fn store_path(paths: &MsclawPaths) -> PathBuf {
    let name = paths
        .state_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("state.json");
    let suffix = name.strip_prefix("state").unwrap_or(".json");
    paths
        .state_file
        .with_file_name(format!("relay-upstreams{suffix}"))
}

/// The store, or None when there is none yet.
pub fn load(path: &Path) -> Result<Option<RelayStore>, StoreError> {
    let io = |action| {
        move |source| StoreError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("open")(e)),
    };
    if let Some(mode) = atomic_write::file_mode(path).filter(|m| m & 0o077 != 0) {
        return Err(StoreError::Open {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(MAX_STORE_BYTES)
        .read_to_string(&mut text)
        .map_err(io("read"))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StoreError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// Writes the store atomically, mode 0600, its directory 0700 when created.
pub fn save(path: &Path, store: &RelayStore) -> Result<(), StoreError> {
    let io = |action| {
        move |source| StoreError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(io("create the directory of"))?;
    }
    let text = serde_json::to_string_pretty(store).expect("plain data serializes");
    atomic_write::write_new_or_replace(path, text.as_bytes(), 0o600).map_err(|e| {
        StoreError::Io {
            action: "write",
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    // An existing file keeps its bits on replace: make sure they are private.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io("chmod"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openclaw::base_url::KeptEntry;

    #[test]
    fn the_store_round_trips_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/relay-upstreams.json");
        assert!(load(&path).unwrap().is_none());
        let kept = KeptProvider {
            config: KeptEntry {
                base_url_raw: "'https://x/v1' ".trim().to_owned(),
                api_key_raw: Some("\"${K}\"".into()),
            },
            copies: BTreeMap::new(),
        };
        let store = RelayStore {
            token: "ab".repeat(32),
            providers: [(
                "modelscope".to_owned(),
                StoredUpstream {
                    relay_url: "http://127.0.0.1:1/v1".into(),
                    kept,
                },
            )]
            .into(),
        };
        save(&path, &store).unwrap();
        assert_eq!(atomic_write::file_mode(&path), Some(0o600));
        assert_eq!(atomic_write::file_mode(path.parent().unwrap()), Some(0o700));
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back.token, store.token);
        let up = &back.providers["modelscope"];
        assert_eq!(up.real_base_url().as_deref(), Some("https://x/v1"));
        assert_eq!(up.api_key_raw(), Some("\"${K}\""));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load(&path), Err(StoreError::Open { .. })));
    }

    #[test]
    fn the_store_sits_beside_the_state_file() {
        let env = |k: &str| match k {
            "MSCLAW_STATE_DIR" => Some("/s".into()),
            "MSCLAW_SOCKET" => Some("/r/m.sock".into()),
            "HOME" => Some("/h".into()),
            _ => None,
        };
        let paths = MsclawPaths::resolve(Some("work"), &env).unwrap();
        assert_eq!(
            store_path(&paths),
            PathBuf::from("/s/relay-upstreams-work.json")
        );
        let paths = MsclawPaths::resolve(None, &env).unwrap();
        assert_eq!(store_path(&paths), PathBuf::from("/s/relay-upstreams.json"));
    }
}
