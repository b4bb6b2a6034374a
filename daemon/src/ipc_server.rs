//! The local socket: one task per connection, newline-delimited JSON, every request put in the
//! engine's inbox. A bad line gets an error reply and the connection goes on; a silent client times out;
//! a slow reader is dropped. None of them can hold up another client or the engine.

use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::Listener as _;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use msclaw_shared::framing::{self, FrameError, LineWriter};
use msclaw_shared::{Error, ErrorCode, Event, ReplyLine, Request, Response};
use tokio::io::{AsyncWrite, WriteHalf};
use tokio::sync::{Semaphore, broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use crate::inbox::{InboxMsg, InboxSender};
use crate::plugin::{PluginConnection, PluginLink};

/// A connection that sends no complete request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A reply or event that cannot be written in this long means a stuck reader: drop it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are told so and closed.
pub const MAX_CONNECTIONS: usize = 2048;

pub fn bind(socket: &std::path::Path) -> std::io::Result<Listener> {
    let name = socket.to_fs_name::<GenericFilePath>()?;
    // fchmod before bind: the socket is 0600 from its first instant.
    ListenerOptions::new().name(name).mode(0o600).create_tokio()
}

pub async fn serve(
    listener: Listener,
    inbox: InboxSender,
    events: broadcast::Sender<Event>,
    plugin: PluginLink,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = slots.clone().try_acquire_owned();
        let inbox = inbox.clone();
        let events = events.clone();
        let plugin = plugin.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permit else {
                let (_, write) = tokio::io::split(stream);
                let mut writer = framing::line_writer(write);
                let busy = Error::new(
                    ErrorCode::Refused,
                    "too many connections to msclawd; try again",
                );
                let _ = tokio::time::timeout(
                    WRITE_TIMEOUT,
                    framing::write_json(&mut writer, &ReplyLine::new(Err(busy))),
                )
                .await;
                return;
            };
            if let Err(e) = handle_connection(stream, inbox, events, plugin, shutdown).await {
                tracing::debug!("client connection ended: {e}");
            }
        });
    }
}

async fn write_reply<W: AsyncWrite + Unpin>(
    writer: &mut LineWriter<W>,
    reply: ReplyLine,
) -> Result<(), FrameError> {
    tokio::time::timeout(WRITE_TIMEOUT, framing::write_json(writer, &reply))
        .await
        .map_err(|_| {
            FrameError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "client does not read",
            ))
        })?
}

async fn handle_connection(
    stream: Stream,
    inbox: InboxSender,
    events: broadcast::Sender<Event>,
    plugin: PluginLink,
    shutdown: CancellationToken,
) -> Result<(), FrameError> {
    // Set once the connection sends a plugin request: status shows the plugin connected.
    let mut _plugin_connection: Option<PluginConnection> = None;
    let (read, write) = tokio::io::split(stream);
    let mut reader = framing::line_reader(read);
    let mut writer = framing::line_writer(write);
    loop {
        // Shutdown interrupts only the wait for a request: a request in hand gets its reply.
        let read = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            read = tokio::time::timeout(IDLE_TIMEOUT, framing::read_line(&mut reader)) => read,
        };
        let line = match read {
            Err(_) => return Ok(()), // idle: close quietly
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(line))) => line,
            Ok(Err(FrameError::TooLong)) => {
                let err = Error::new(
                    ErrorCode::LineTooLong,
                    format!(
                        "request line longer than {} bytes",
                        msclaw_shared::MAX_LINE_BYTES
                    ),
                );
                write_reply(&mut writer, ReplyLine::new(Err(err))).await?;
                continue;
            }
            Ok(Err(FrameError::NotUtf8)) => {
                let err = Error::new(ErrorCode::BadRequest, "request line is not valid UTF-8");
                write_reply(&mut writer, ReplyLine::new(Err(err))).await?;
                continue;
            }
            Ok(Err(e)) => return Err(e),
        };
        let request = match serde_json::from_str::<Request>(line.trim()) {
            Ok(request) => request,
            Err(e) => {
                let err = Error::new(ErrorCode::BadRequest, bad_request_message(&line, &e));
                write_reply(&mut writer, ReplyLine::new(Err(err))).await?;
                continue;
            }
        };
        if request == Request::EventStream {
            let subscription = events.subscribe();
            write_reply(
                &mut writer,
                ReplyLine::new(Ok(Response::Handled("event stream follows".into()))),
            )
            .await?;
            return tokio::select! {
                _ = shutdown.cancelled() => Ok(()),
                result = stream_events(subscription, writer) => result,
            };
        }
        if matches!(
            request,
            Request::ChooseModel(_) | Request::ModelCallEnded(_)
        ) && _plugin_connection.is_none()
        {
            _plugin_connection = Some(plugin.connection());
        }
        // The plugin waits ~50 ms for this: answered from the engine's last decision, never
        // queued behind engine work.
        if let Request::ChooseModel(_) = request {
            let choice = Response::ModelChoice(plugin.choice());
            write_reply(&mut writer, ReplyLine::new(Ok(choice))).await?;
            continue;
        }
        let (tx, rx) = oneshot::channel();
        let reply = if inbox
            .send(InboxMsg::Request { request, reply: tx })
            .await
            .is_err()
        {
            Err(Error::new(ErrorCode::Internal, "msclawd is shutting down"))
        } else {
            rx.await.unwrap_or_else(|_| {
                Err(Error::new(ErrorCode::Internal, "msclawd is shutting down"))
            })
        };
        write_reply(&mut writer, ReplyLine::new(reply)).await?;
    }
}

fn bad_request_message(line: &str, e: &serde_json::Error) -> String {
    if serde_json::from_str::<serde_json::Value>(line).is_err() {
        format!("not valid JSON: {e}")
    } else {
        format!(
            "unknown request ({e}); this msclawd speaks protocol {} and knows Status, Version, Shutdown, Switch, Auto, Pause, Resume, History, EventStream, ModelCallEnded, ChooseModel",
            msclaw_shared::PROTOCOL_VERSION
        )
    }
}

async fn stream_events(
    mut events: broadcast::Receiver<Event>,
    mut writer: LineWriter<WriteHalf<Stream>>,
) -> Result<(), FrameError> {
    loop {
        match events.recv().await {
            Ok(event) => {
                let line = serde_json::to_string(&event)?;
                tokio::time::timeout(WRITE_TIMEOUT, writer.send(line))
                    .await
                    .map_err(|_| {
                        FrameError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "event reader too slow",
                        ))
                    })??;
            }
            // A reader that fell behind the buffer is dropped rather than slowing anyone down.
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::info!("dropping an event-stream client that fell {n} events behind");
                return Ok(());
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}
