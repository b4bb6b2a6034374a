//! What msclawd survives, with fake servers and real processes: crashes mid-switch, concurrent
//! editors, hostile and idle socket clients, another uid, the clock moving, OpenClaw changing its
//! files. Nothing here changes process-global state; run by `--test 'reliability_*'`.

mod reliability_access;
mod reliability_clock;
mod reliability_concurrent;
mod reliability_crash;
mod reliability_flood;
mod reliability_openclaw_changes;
mod reliability_relay_squatter;
mod reliability_socket;
