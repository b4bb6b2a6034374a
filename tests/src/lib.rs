//! Test support: daemon fixtures, a fake ModelScope server, real OpenClaw.
//!
//! - [`fake_modelscope`]: an OpenAI-compatible fake of ModelScope's API-Inference with per-model
//!   daily quotas and ModelScope's 429/400/401 bodies.
//! - [`daemon`]: an in-process msclawd on temporary directories.
//! - [`e2e`]: msclawd (in-process or the real binary) pointed at a real OpenClaw env, its event
//!   stream recorded, and timing helpers for the end-to-end tests and the benchmark.
//! - [`logs`]: msclawd's tracing output captured in-process.
//! - [`transcripts`]: OpenClaw-shaped usage records (JSONL sessions, gateway log lines).
//! - [`agent_db`]: OpenClaw's SQLite agent database (schema v23 and the legacy v22), written the
//!   way OpenClaw writes it.
//! - [`provider_chain`]: a config whose rotation spans ModelScope and a second provider.
//! - [`openclaw`]: installs a real OpenClaw (and node 26) from the npm registry into `target/`,
//!   and runs it (gateway, agent turns) in a throwaway HOME against the fake server.

pub mod agent_db;
pub mod daemon;
pub mod e2e;
pub mod fake_modelscope;
pub mod logs;
pub mod msclawctl;
pub mod openclaw;
pub mod provider_chain;
pub mod transcripts;
