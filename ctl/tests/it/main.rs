//! msclawctl end to end: the commands, `doctor`, `init` and `relay`, run as the real binary.
//! `reliability_secrets` stays its own binary: it installs the global log subscriber.

mod ctl;
mod doctor;
mod init;
mod plugin;
mod relay;
