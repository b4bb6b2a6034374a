//! Accepting connections and serving HTTP/1 on each, until the relay is cancelled.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::LOG_TARGET;
use super::forward::Shared;

/// How long a client may take to send a request's headers.
const CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `shutdown` lets responses in flight finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The most connections open at once, whatever the descriptor limit allows.
const MAX_CONNECTIONS: usize = 512;

/// How many connections may be open at once: each also takes one to upstream, so a quarter of
/// the descriptor limit (leaving the rest to the daemon), at most [`MAX_CONNECTIONS`].
pub fn connection_cap() -> usize {
    let fd_limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    (fd_limit / 4).clamp(8, MAX_CONNECTIONS as u64) as usize
}

pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let max = connection_cap();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if conns.len() >= max => {
                    // Refused at once (closed unread): the descriptors stay for the daemon.
                    drop(stream);
                    crate::log_limit::warn_limited(true, "relay-connections", format_args!("the relay has {max} connections open: one more was refused"));
                }
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, shared.clone(), cancel.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: pause rather than spin.
                    crate::log_limit::warn_limited(true, "relay-accept", format_args!("relay cannot accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(target: LOG_TARGET, open = conns.len(), "relay closing connections still busy after {SHUTDOWN_GRACE:?}");
    }
    conns.shutdown().await;
    tracing::info!(target: LOG_TARGET, "relay stopped");
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, cancel: CancellationToken) {
    // SSE chunks are small: send each at once.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(shared.handle(req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(CLIENT_HEADER_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: LOG_TARGET, "relay connection ended: {e}");
    }
}
