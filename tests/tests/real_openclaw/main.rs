//! Real OpenClaw (installed once per machine under a file lock) against the fake ModelScope: the
//! harness smoke test and the end-to-end scenarios. Takes minutes; filter by module, e.g.
//! `cargo test -p msclaw-tests --test real_openclaw e2e_relay`.

mod e2e_real_openclaw;
mod e2e_relay;
mod plugin;
mod pools;
mod real_openclaw_smoke;
