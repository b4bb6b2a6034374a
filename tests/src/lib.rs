//! Test support: daemon fixtures, a fake ModelScope server, real OpenClaw.
pub mod daemon;
pub mod transcripts;
