//! Newline-delimited JSON framing over any async byte stream.
//!
//! tokio-util's `LinesCodec` does the line splitting and enforces [`MAX_LINE_BYTES`]: a longer line
//! becomes [`Line::TooLong`] for the caller to answer, and the codec skips to the next newline by
//! itself. (Surfacing it as an item rather than an error keeps `FramedRead` going: it ends the
//! stream after any decoder error.)

use futures::{SinkExt, StreamExt};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedRead, FramedWrite, LinesCodec, LinesCodecError};

use crate::MAX_LINE_BYTES;

pub type LineReader<R> = FramedRead<R, CappedLines>;
pub type LineWriter<W> = FramedWrite<W, LinesCodec>;

/// One line as read: its text, or the news that it was too long (and was skipped).
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(String),
    TooLong,
}

/// `LinesCodec` with its length cap reported as an item.
pub struct CappedLines(LinesCodec);

impl Decoder for CappedLines {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        lift(self.0.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        lift(self.0.decode_eof(buf))
    }
}

fn lift(result: Result<Option<String>, LinesCodecError>) -> Result<Option<Line>, std::io::Error> {
    match result {
        Ok(line) => Ok(line.map(Line::Text)),
        Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(Line::TooLong)),
        Err(LinesCodecError::Io(e)) => Err(e),
    }
}

pub fn line_reader<R: AsyncRead>(read: R) -> LineReader<R> {
    FramedRead::new(read, CappedLines(LinesCodec::new_with_max_length(MAX_LINE_BYTES)))
}

/// Replies and events can be larger than a request (a long history); the writer does not cap them.
pub fn line_writer<W: AsyncWrite>(write: W) -> LineWriter<W> {
    FramedWrite::new(write, LinesCodec::new())
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("line longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("not valid JSON for this message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed")]
    Closed,
}

impl From<LinesCodecError> for FrameError {
    fn from(err: LinesCodecError) -> Self {
        match err {
            LinesCodecError::MaxLineLengthExceeded => FrameError::TooLong,
            LinesCodecError::Io(io) => FrameError::Io(io),
        }
    }
}

/// Reads one line; `Ok(None)` at a clean end of stream, `Err(TooLong)` for a skipped long line.
pub async fn read_line<R: AsyncRead + Unpin>(reader: &mut LineReader<R>) -> Result<Option<String>, FrameError> {
    match reader.next().await {
        None => Ok(None),
        Some(Ok(Line::Text(line))) => Ok(Some(line)),
        Some(Ok(Line::TooLong)) => Err(FrameError::TooLong),
        Some(Err(e)) => Err(e.into()),
    }
}

/// Reads one line and decodes it as JSON.
pub async fn read_json<T: DeserializeOwned, R: AsyncRead + Unpin>(
    reader: &mut LineReader<R>,
) -> Result<T, FrameError> {
    let line = read_line(reader).await?.ok_or(FrameError::Closed)?;
    Ok(serde_json::from_str(&line)?)
}

pub async fn write_json<T: Serialize, W: AsyncWrite + Unpin>(
    writer: &mut LineWriter<W>,
    value: &T,
) -> Result<(), FrameError> {
    let line = serde_json::to_string(value)?;
    writer.send(line).await.map_err(FrameError::from)
}
