//! The support code and msclawd's behaviour without real OpenClaw: the fake ModelScope, the
//! OpenClaw harness's own logic, the daemon's lifecycle and everyday use, the relay and the rotation
//! engine in-process.

mod catch_up_in_process;
mod daemon_lifecycle;
mod everyday_use;
mod fake_modelscope;
mod openclaw_harness;
mod plugin_in_process;
mod plugin_node_tests;
mod pool_probes_in_process;
mod pools_in_process;
mod relay_in_process;
mod rotation_in_process;
