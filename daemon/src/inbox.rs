//! The engine's one inbox: everything that reaches the engine (client requests, usage batches from
//! the watcher, the relay's observations, config changes, probes' answers) is a [`InboxMsg`] on one channel. The
//! senders depend on this module, never on the engine.

use msclaw_shared::{Reply, Request, SourceStatus};
use tokio::sync::{mpsc, oneshot};

use crate::prober::ProbeReport;
use crate::relay::RelayObservation;
use crate::state_store::Cursors;
use crate::usage::{CallRecord, GatewaySignal};

/// Messages waiting for the engine; room for bursts of batches and requests.
pub const CAPACITY: usize = 1024;

pub type Inbox = mpsc::Receiver<InboxMsg>;
pub type InboxSender = mpsc::Sender<InboxMsg>;

pub fn channel() -> (InboxSender, Inbox) {
    mpsc::channel(CAPACITY)
}

pub enum InboxMsg {
    /// A client's request (from the socket server), answered on `reply`.
    Request {
        request: Request,
        reply: oneshot::Sender<Reply>,
    },
    /// What the usage sources found (from the watcher).
    Usage(UsageBatch),
    /// The OpenClaw config or a file it includes changed (from the watcher).
    ConfigChanged,
    /// A gateway restart the engine started has ended.
    RestartDone {
        model: String,
        result: Result<String, String>,
    },
    /// Chat completions the metering relay saw (what queued up since the last message).
    Relay(Vec<RelayObservation>),
    /// A pool's probe came back (from the prober).
    Probed(ProbeReport),
}

/// What the sources found since the last batch, with their cursors, so the engine can persist
/// counts and cursors together.
#[derive(Debug)]
pub struct UsageBatch {
    pub records: Vec<CallRecord>,
    pub signals: Vec<GatewaySignal>,
    pub cursors: Cursors,
    pub sources: Vec<SourceStatus>,
    /// A catch-up is under way and more batches follow at once: the counts so far are only a
    /// lower bound of the day's, so no switch is decided on them.
    pub catching_up: bool,
}
