//! What keeps the rotation from working as set up, typed: computed here from the config (and, for
//! the first three kinds, by the engine from msclaw's settings), shown by the daemon's status and
//! `msclawctl doctor` in [`Display`](fmt::Display)'s wording and by `msclawctl init` with advice
//! ([`RotationWarning::advice`]).

use std::fmt;
use std::path::PathBuf;

use super::config::OpenClawConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationWarning {
    /// msclaw's provider is not in `models.providers`.
    ProviderMissing { provider: String, config: PathBuf },
    /// A model of msclaw's settings is not listed under the provider; it is skipped.
    UnlistedModel { name: String, provider: String },
    /// `[limits]` names something that is not a model of the provider.
    UnknownLimit { name: String, provider: String },
    /// An agent sets its own model and will not follow the rotation.
    AgentModel { agent: String, model: String },
    /// `agents.defaults.modelPolicy.allow` does not let a rotation model through.
    NotAllowed { model: String },
    /// `gateway.reload.mode` is off: the gateway does not pick up a switch by itself.
    ReloadOff,
}

impl fmt::Display for RotationWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotationWarning::ProviderMissing { provider, config } => write!(
                f,
                "provider {provider} is not in models.providers of {}",
                config.display()
            ),
            RotationWarning::UnlistedModel { name, provider } => write!(
                f,
                "model {name} from msclaw's config is not listed in models.providers.{provider}.models[]; skipped"
            ),
            RotationWarning::UnknownLimit { name, provider } => write!(
                f,
                "[limits] names {name}, which is not a model of provider {provider}"
            ),
            RotationWarning::AgentModel { agent, model } => write!(
                f,
                "agent {agent} sets its own model {model}; it will not follow the rotation"
            ),
            RotationWarning::NotAllowed { model } => {
                write!(
                    f,
                    "{model} is missing from agents.defaults.modelPolicy.allow"
                )
            }
            RotationWarning::ReloadOff => {
                f.write_str("gateway.reload.mode is off: a switch needs a gateway restart")
            }
        }
    }
}

impl RotationWarning {
    /// The wording `msclawctl init` reports, which says what to do about it.
    pub fn advice(&self, provider: &str) -> String {
        match self {
            RotationWarning::NotAllowed { model } => format!(
                "{model} is not in agents.defaults.modelPolicy.allow; add it (or \"{provider}/*\") \
                 so OpenClaw accepts it"
            ),
            RotationWarning::ReloadOff => {
                "gateway.reload.mode is off: each switch will need a gateway restart".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// What in `cfg` keeps the `rotation` models (full refs) from being used as switched: agents with
/// their own model, an allow-list that misses some, reload mode off.
pub fn config_warnings(cfg: &OpenClawConfig, rotation: &[String]) -> Vec<RotationWarning> {
    let mut warnings: Vec<RotationWarning> = cfg
        .per_agent_models
        .iter()
        .map(|(agent, model)| RotationWarning::AgentModel {
            agent: agent.clone(),
            model: model.clone(),
        })
        .collect();
    if !cfg.allow.is_empty() {
        for model in rotation {
            if !is_allowed(&cfg.allow, model) {
                warnings.push(RotationWarning::NotAllowed {
                    model: model.clone(),
                });
            }
        }
    }
    if cfg.reload_mode.as_deref() == Some("off") {
        warnings.push(RotationWarning::ReloadOff);
    }
    warnings
}

/// Whether an allow-list entry (`provider/id` or `provider/*`) lets `model` through.
fn is_allowed(allow: &[String], model: &str) -> bool {
    allow.iter().any(|a| {
        a == model
            || a.strip_suffix("/*")
                .is_some_and(|p| model.starts_with(&format!("{p}/")))
    })
}
