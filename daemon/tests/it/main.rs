//! msclawd's integration tests that share a process safely: config editing and init, the
//! process, the usage readers and the watcher. One binary, so the workspace is linked once for all.

mod config_edit;
mod config_init;
mod first_run;
mod process;
mod usage_catch_up;
mod usage_cursors;
mod usage_readers;
mod watcher;
