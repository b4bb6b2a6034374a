//! Reliability of what msclawd reads and keeps: garbled OpenClaw records (property tests of the
//! readers) and damaged, missing or unwritable state. `reliability_state` installs the binary's one
//! global log subscriber (`msclaw_tests::logs::capture`). Alone in its own binary:
//! `reliability_idle` (raises this process's open-file limit) and `relay` (its own subscriber).

mod reliability_parsers;
mod reliability_state;
