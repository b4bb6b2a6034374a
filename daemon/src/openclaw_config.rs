//! STUB (replaced by the config branch).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
#[derive(Debug, Clone, PartialEq, Eq)] pub enum ApiKeyKind { Missing, EnvRef(String), Literal, SecretRef }
#[derive(Debug, Clone)] pub struct ProviderInfo { pub base_url: Option<String>, pub api: Option<String>, pub model_ids: Vec<String>, pub api_key: ApiKeyKind }
#[derive(Debug, Clone, Copy, PartialEq, Eq)] pub enum ModelForm { Missing, String, Object }
#[derive(Debug, Clone)]
pub struct OpenClawConfig {
    pub path: PathBuf, pub agents_file: PathBuf, pub providers: BTreeMap<String, ProviderInfo>, pub model_form: ModelForm,
    pub primary: Option<String>, pub fallbacks: Option<Vec<String>>, pub aliases: BTreeMap<String, String>, pub allow: Vec<String>,
    pub per_agent_models: Vec<(String, String)>, pub reload_mode: Option<String>, pub gateway_port: Option<u16>, pub log_file: Option<PathBuf>,
}
impl OpenClawConfig { pub fn resolve_model(&self, _provider: &str, _n: &str) -> Option<String> { None } }
#[derive(Debug, thiserror::Error)]
pub enum ConfigError { #[error("not found: {0}")] NotFound(PathBuf), #[error("x")] Other }
pub fn load(path: &Path) -> Result<OpenClawConfig, ConfigError> { Err(ConfigError::NotFound(path.to_owned())) }
