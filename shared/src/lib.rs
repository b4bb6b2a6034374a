//! What msclawd and msclawctl agree on: the wire protocol, its framing, and where things live.
//!
//! The protocol is newline-delimited JSON over a local socket, one request line answered by one
//! reply line (see [`protocol`]). Everything here is plain data; the daemon owns state and side
//! effects, the client only renders.

pub mod client;
pub mod framing;
pub mod paths;
pub mod protocol;

pub use protocol::*;
