//! Real OpenClaw for tests: install it (and node 26) from the npm registry into `target/openclaw/`,
//! and run it in a throwaway HOME against a [`FakeModelScope`](crate::fake_modelscope::FakeModelScope).
//!
//! - [`install`] installs a version once per machine (a file lock serialises threads *and*
//!   processes; a marker file says "complete"). A failed `npm install` is an error carrying npm's
//!   stderr tail: tests fail, they never skip.
//! - [`OpenClawEnv`] is one OpenClaw installation's state: a temp HOME with `OPENCLAW_STATE_DIR`, a
//!   JSON5 `openclaw.json` (comments, unquoted keys, trailing commas) with the `modelscope` provider
//!   pointing at the fake server, its own gateway port and its own log file (`logging.file`).
//! - [`Gateway`] is `openclaw gateway run` in its own process group, ready when `/readyz` says so,
//!   and killed with its whole group on drop.
//! - [`OpenClawEnv::agent_turn`] / [`OpenClawEnv::local_turn`] run one independent,
//!   non-interactive turn (`openclaw agent --json` with a fresh `--session-id`).
//! - Readers for what OpenClaw wrote: the gateway log ([`LogLine`]), the 2026.7+ SQLite transcript
//!   DB, and the JSONL sessions of older versions ([`AssistantMessage`] for both).
//!
//! Everything OpenClaw runs with a cleared environment (only what is set here), so a developer's
//! real API keys never reach it, and with the switches that keep it off the network (see
//! [`OpenClawEnv::base_env`]).

mod env;
mod env_builder;
mod gateway;
mod gateway_log;
mod install;
mod process;
mod transcript_readers;
mod turn;

pub use env::OpenClawEnv;
pub use env_builder::OpenClawEnvBuilder;
pub use gateway::Gateway;
pub use gateway_log::{LogLine, log_files, read_log_lines};
pub use install::{
    OpenClawInstall, cache_dir, install, install_node, install_once, target_dir, version_at_least,
    workspace_dir,
};
pub use process::{CmdOutput, free_port, http_get, run_with_timeout};
pub use transcript_readers::{
    AssistantMessage, TranscriptEvent, read_jsonl_transcripts, read_sqlite_transcripts,
};
pub use turn::{RunningTurn, TurnOptions, TurnResult, find_result_json};

use crate::fake_modelscope::{GLM5, KIMI, MINIMAX, QWEN};

/// The node that OpenClaw runs on (the machine's own node is v20, too old for OpenClaw).
pub const NODE_VERSION: &str = "26.10.0";
/// The newest OpenClaw measured: SQLite transcripts.
pub const OPENCLAW_SQLITE: &str = "2026.9.6";
/// An older OpenClaw: JSONL transcripts.
pub const OPENCLAW_JSONL: &str = "2026.3.31";
/// What `MODELSCOPE_API_KEY` is set to: obviously fake, greppable (a test can assert it never
/// shows up somewhere it should not).
pub const FAKE_API_KEY: &str = "ms-test-FAKEKEY-do-not-leak";
/// The gateway auth token in every test config.
pub const GATEWAY_TOKEN: &str = "msclaw-test-gateway-token";
/// The provider id in OpenClaw's config.
pub const PROVIDER: &str = "modelscope";
/// The aliases written under `agents.defaults.models`, per model.
pub const ALIASES: [(&str, &str); 4] = [
    (QWEN, "qwen3.5"),
    (GLM5, "glm5"),
    (MINIMAX, "minimax"),
    (KIMI, "kimi"),
];

/// `modelscope/<model>`, OpenClaw's model ref.
pub fn model_ref(model: &str) -> String {
    format!("{PROVIDER}/{model}")
}
