//! msclawd: counts each ModelScope model's calls today, and when the active one is spent rewrites
//! OpenClaw's `agents.defaults.model.primary` to the next model with quota left.
//!
//! A file per concern: where usage comes from (`usage::*`), what to do about it (`policy`, pure),
//! how the OpenClaw config is read (`openclaw_config`) and edited (`config_editor`, `atomic_write`),
//! how the gateway is made to apply it (`reloader`), what is remembered (`state_store`), how clients
//! talk to it (`ipc_server`), and the loop that ties them together (`engine`).

pub mod atomic_write;
pub mod config_editor;
pub mod openclaw_config;
pub mod usage;
pub mod policy;
pub mod settings;
