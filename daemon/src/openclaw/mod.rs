//! Everything about OpenClaw's config (`~/.openclaw/openclaw.json`, JSON5), a file per job:
//!
//! - reading: files read without blocking or ballooning ([`bounded_read`]); the JSON5 text and its errors, which never quote values ([`json5`]); OpenClaw's
//!   own JSON5 syntax check, ported from json5 2.2.3 ([`json5_syntax`]); `$include`
//!   resolution ([`include`]); where `agents.defaults.model` lives ([`locate`]); the typed read
//!   view msclaw works from ([`config`]);
//! - editing: style-preserving splices ([`splice`], [`insert`]); the one compare-and-replace loop
//!   ([`retry`]) over the atomic write ([`atomic_write`]); the model edit ([`model_edit`],
//!   [`model_splices`], on an [`outline`] of the top level); `baseUrl` repointing ([`base_url`]); what `msclawctl init` adds
//!   ([`init`]) and how a diff of it hides secrets ([`mask`]);
//! - judging: what in the config keeps the rotation from working ([`warnings`]).

pub mod atomic_write;
pub mod base_url;
mod bounded_read;
pub mod config;
pub mod include;
pub mod init;
pub mod insert;
pub mod json5;
pub mod json5_syntax;
mod json5_unicode;
pub mod locate;
pub mod mask;
pub mod model_edit;
pub mod model_splices;
mod outline;
pub mod plugin_entries;
pub mod retry;
pub mod splice;
mod syntax_memo;
pub mod warnings;

pub use self::config::{
    ApiKeyKind, ModelForm, OpenClawConfig, ProviderInfo, env_ref_name, is_env_var_name, load, parse,
};
pub use self::include::MAX_INCLUDE_DEPTH;
pub use self::json5::ConfigError;
pub use self::locate::FileLevel;
pub use self::model_edit::{
    EditError, EditOutcome, ModelEdit, apply_model_edit, edit_model_text, edit_model_text_at,
};
pub use self::retry::MAX_ATTEMPTS;
pub use self::warnings::{RotationWarning, config_warnings};
