//! A small async client: connect, send one request, read its reply (or a stream of events).

use std::path::{Path, PathBuf};

use interprocess::local_socket::{
    GenericFilePath, ToFsName, tokio::Stream, traits::tokio::Stream as _,
};
use tokio::io::{ReadHalf, WriteHalf};

use crate::framing::{self, FrameError, LineReader, LineWriter};
use crate::{Event, ReplyLine, Request};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("msclawd is not running ({})", absence(.0))]
    NotRunning(PathBuf),
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("talking to msclawd: {0}")]
    Frame(#[from] FrameError),
}

/// Why nothing answers at `socket`: no file there, or a file nothing listens on (left behind by
/// a daemon that was killed).
pub fn absence(socket: &Path) -> String {
    if socket.exists() {
        format!(
            "{} is a stale socket: nothing listens on it",
            socket.display()
        )
    } else {
        format!("no socket at {}", socket.display())
    }
}

pub struct Client {
    reader: LineReader<ReadHalf<Stream>>,
    writer: LineWriter<WriteHalf<Stream>>,
}

impl Client {
    pub async fn connect(socket: &Path) -> Result<Self, ClientError> {
        let name =
            socket
                .to_fs_name::<GenericFilePath>()
                .map_err(|source| ClientError::Connect {
                    path: socket.to_owned(),
                    source,
                })?;
        let stream = Stream::connect(name)
            .await
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning(socket.to_owned())
                }
                _ => ClientError::Connect {
                    path: socket.to_owned(),
                    source,
                },
            })?;
        let (read, write) = tokio::io::split(stream);
        Ok(Self {
            reader: framing::reply_reader(read),
            writer: framing::line_writer(write),
        })
    }

    pub async fn request(&mut self, request: &Request) -> Result<ReplyLine, ClientError> {
        framing::write_json(&mut self.writer, request).await?;
        Ok(framing::read_json(&mut self.reader).await?)
    }

    /// After an `EventStream` request was answered: the next event, `None` when the daemon hung up.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        match framing::read_line(&mut self.reader).await? {
            None => Ok(None),
            Some(line) => Ok(Some(serde_json::from_str(&line).map_err(FrameError::from)?)),
        }
    }
}
