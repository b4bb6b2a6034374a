//! The OpenClaw config as the engine last read it, the rotation worked out from it and the
//! settings, and the files the watcher follows because of it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use msclaw_shared::ConfigState;

use super::Engine;
use crate::openclaw::config::alias_key;
use crate::openclaw::{self, ConfigError, OpenClawConfig, RotationWarning, config_warnings};
use crate::policy::{PolicyConfig, RotationModel};
use crate::settings::{Limit, Settings};
use crate::usage::gateway_log::{LogLocation, resolve_log_location};
use crate::usage_watcher::{WatchTargets, WatcherCmd};

/// The last read of the OpenClaw config. Only a usable config is ever written.
pub enum LoadedConfig {
    Usable(Box<OpenClawConfig>),
    /// No file yet; msclaw waits for it to appear.
    Missing(PathBuf),
    /// It exists but cannot be used; the reason, as status shows it.
    Invalid(String),
}

impl LoadedConfig {
    pub fn load(path: &std::path::Path) -> Self {
        match openclaw::load(path) {
            Ok(cfg) => LoadedConfig::Usable(Box::new(cfg)),
            Err(ConfigError::NotFound(path)) => LoadedConfig::Missing(path),
            Err(e) => {
                tracing::warn!("OpenClaw config unusable, not switching until it is fixed: {e}");
                LoadedConfig::Invalid(e.to_string())
            }
        }
    }

    pub fn usable(&self) -> Option<&OpenClawConfig> {
        match self {
            LoadedConfig::Usable(cfg) => Some(cfg),
            LoadedConfig::Missing(_) | LoadedConfig::Invalid(_) => None,
        }
    }

    pub fn state(&self) -> ConfigState {
        match self {
            LoadedConfig::Usable(_) => ConfigState::Ok,
            LoadedConfig::Missing(_) => ConfigState::Missing,
            LoadedConfig::Invalid(_) => ConfigState::Invalid,
        }
    }

    /// Why msclaw cannot use it (a status warning, a refused switch); None when usable.
    pub fn problem(&self) -> Option<String> {
        match self {
            LoadedConfig::Usable(_) => None,
            LoadedConfig::Missing(path) => Some(format!(
                "no OpenClaw config at {} yet; waiting for it to appear",
                path.display()
            )),
            LoadedConfig::Invalid(e) => Some(format!(
                "OpenClaw config unusable (msclaw will not write it): {e}"
            )),
        }
    }

    /// The usable config, or why there is none.
    pub fn require(&self) -> Result<&OpenClawConfig, String> {
        self.usable()
            .ok_or_else(|| self.problem().unwrap_or_default())
    }
}

impl Engine {
    /// Whether `model` (a full ref) is one the config knows: in the rotation, listed under the
    /// provider, or the active model. Only those are remembered from the relay's requests.
    pub(super) fn knows_model(&self, model: &str) -> bool {
        if self.policy.models.iter().any(|m| m.model == model) {
            return true;
        }
        let Some(cfg) = self.config.usable() else {
            return false;
        };
        let listed = model
            .strip_prefix(self.settings.provider.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .zip(cfg.providers.get(&self.settings.provider))
            .is_some_and(|(id, p)| p.model_ids.iter().any(|m| m == id));
        listed || cfg.primary.as_deref() == Some(model)
    }

    /// Re-reads the OpenClaw config and works out the rotation from it and the settings.
    pub(super) fn reload_config(&mut self) {
        self.config = LoadedConfig::load(&self.openclaw_paths.config);
        let (models, warnings) = match self.config.usable() {
            Some(cfg) => rotation_from(&self.settings, cfg),
            None => (Vec::new(), Vec::new()),
        };
        let mut policy = PolicyConfig::new(models);
        policy.reserve = self.settings.reserve;
        policy.rate_limit_errors = self.settings.rate_limit_errors;
        policy.rate_limit_window = self.settings.rate_limit_window;
        self.policy = policy;
        self.rotation_warnings = warnings.iter().map(ToString::to_string).collect();
        self.replan_pools();
        // The user's own fallbacks: whatever the file holds that msclaw did not write.
        if let Some(cfg) = self.config.usable() {
            let on_disk = cfg.fallbacks.clone();
            if on_disk != self.state.fallbacks.written {
                self.state.fallbacks.original = on_disk.clone();
                self.state.fallbacks.written = on_disk;
            }
        }
        // The log may have moved (logging.file) or includes changed: tell the watcher.
        let targets = self.watch_targets();
        let key = (targets.log.clone(), targets.config_files.clone());
        if self.watched.as_ref() != Some(&key) {
            self.watcher.send(WatcherCmd::SetTargets(targets));
            self.watched = Some(key);
        }
    }

    /// Where the watcher should look, from the settings and the config as read now.
    fn watch_targets(&self) -> WatchTargets {
        let mut config_files = vec![self.openclaw_paths.config.clone()];
        if let Some(cfg) = self.config.usable() {
            config_files.extend(
                cfg.files
                    .iter()
                    .filter(|f| **f != self.openclaw_paths.config)
                    .cloned(),
            );
        }
        WatchTargets {
            openclaw_state_dir: self.openclaw_paths.state_dir.clone(),
            config_files,
            log: self.log_location(),
        }
    }

    /// The gateway log of this daemon's profile, by OpenClaw's rule (see `resolve_log_location`).
    fn log_location(&self) -> LogLocation {
        let env = |key: &str| (self.env)(key);
        resolve_log_location(
            self.settings.gateway_log.as_deref(),
            self.config.usable().and_then(|c| c.log_file.as_deref()),
            self.profile.as_deref(),
            &env,
        )
        .location
    }
}

/// The rotation order and limits: the settings' `models` (refs or aliases) or the provider's
/// models in config order, each with its limit; plus warnings for what will not follow.
pub fn rotation_from(
    settings: &Settings,
    cfg: &OpenClawConfig,
) -> (Vec<RotationModel>, Vec<RotationWarning>) {
    let mut warnings = Vec::new();
    let refs = rotation_refs(settings, cfg, &mut warnings);
    let limits = limits_by_ref(settings, cfg, &mut warnings);
    let models: Vec<RotationModel> = refs
        .into_iter()
        .map(|model| RotationModel {
            limit: has_daily_limit(settings, &model)
                .then(|| limits.get(&model).copied().unwrap_or(settings.daily_limit))
                .and_then(Limit::calls),
            model,
        })
        .collect();
    let rotation: Vec<String> = models.iter().map(|m| m.model.clone()).collect();
    warnings.extend(config_warnings(cfg, &rotation));
    (models, warnings)
}

/// Whether `model` has the per-model daily limit (`daily_limit`, `[limits]`): a model of the
/// rotation provider while the `modelscope-daily` preset is in force, unless a `[[pools]]` table
/// named by its ref replaces it. Other models are bounded by their pools and by evidence only.
fn has_daily_limit(settings: &Settings, model: &str) -> bool {
    let setup = &settings.pools;
    setup.per_model_daily
        && model
            .strip_prefix(settings.provider.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
        && !setup.pools.iter().any(|p| p.name == model)
}

/// The rotation's refs, in order.
fn rotation_refs(
    settings: &Settings,
    cfg: &OpenClawConfig,
    warnings: &mut Vec<RotationWarning>,
) -> Vec<String> {
    let provider = &settings.provider;
    if settings.models.is_empty() {
        return match cfg.providers.get(provider) {
            Some(p) => p
                .model_ids
                .iter()
                .map(|id| format!("{provider}/{id}"))
                .collect(),
            None => {
                warnings.push(RotationWarning::ProviderMissing {
                    provider: provider.clone(),
                    config: cfg.path.clone(),
                });
                Vec::new()
            }
        };
    }
    settings
        .models
        .iter()
        .filter_map(|name| {
            let found = resolve_any_provider(cfg, provider, name);
            if found.is_none() {
                warnings.push(RotationWarning::UnlistedModel {
                    name: name.clone(),
                    provider: provider.clone(),
                });
            }
            found
        })
        .collect()
}

/// The full ref `name` means: first within the rotation provider (as always), then an alias of any
/// provider's model, then a full ref listed under any provider in `models.providers` (a rotation
/// may span providers: `openrouter/qwen/qwen3-coder:free`, `ollama/qwen3:8b`).
pub(super) fn resolve_any_provider(
    cfg: &OpenClawConfig,
    provider: &str,
    name: &str,
) -> Option<String> {
    if let Some(found) = cfg.resolve_model(provider, name) {
        return Some(found);
    }
    if let Some(full) = cfg.alias_refs.get(&alias_key(name))
        && cfg.is_listed(full)
    {
        return Some(full.clone());
    }
    cfg.is_listed(name).then(|| name.to_owned())
}

/// `[limits]` by full ref (the settings may name aliases).
fn limits_by_ref(
    settings: &Settings,
    cfg: &OpenClawConfig,
    warnings: &mut Vec<RotationWarning>,
) -> BTreeMap<String, Limit> {
    let provider = &settings.provider;
    let mut limits = BTreeMap::new();
    for (name, limit) in &settings.limits {
        match cfg.resolve_model(provider, name) {
            Some(model) => {
                limits.insert(model, *limit);
            }
            None => warnings.push(RotationWarning::UnknownLimit {
                name: name.clone(),
                provider: provider.clone(),
            }),
        }
    }
    limits
}
