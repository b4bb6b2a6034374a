//! Newline-delimited JSON framing over any async byte stream.
//!
//! tokio-util's `LinesCodec` does the line splitting and enforces [`MAX_LINE_BYTES`]: a longer line
//! becomes [`Line::TooLong`] for the caller to answer, and the codec skips to the next newline by
//! itself. A line that is not UTF-8 is surfaced the same way, as [`Line::NotUtf8`]. (Surfacing
//! them as items rather than errors keeps `FramedRead` going: it ends the stream after any decoder
//! error.)

use futures::{SinkExt, StreamExt};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedRead, FramedWrite, LinesCodec, LinesCodecError};

use crate::MAX_LINE_BYTES;

pub type LineReader<R> = FramedRead<R, CappedLines>;
pub type LineWriter<W> = FramedWrite<W, LinesCodec>;

/// One line as read: its text, or the news that it was too long or not UTF-8 (and was skipped).
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(String),
    TooLong,
    NotUtf8,
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
        // The codec's only own I/O error: the line (already taken off the buffer) is not UTF-8.
        Err(LinesCodecError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            Ok(Some(Line::NotUtf8))
        }
        Err(LinesCodecError::Io(e)) => Err(e),
    }
}

/// Reads requests: lines up to [`MAX_LINE_BYTES`].
pub fn line_reader<R: AsyncRead>(read: R) -> LineReader<R> {
    FramedRead::new(
        read,
        CappedLines(LinesCodec::new_with_max_length(MAX_LINE_BYTES)),
    )
}

/// Reads replies and events, which can be far longer than any request (a day with hundreds of
/// switches in `history`): lines up to [`MAX_REPLY_BYTES`].
pub fn reply_reader<R: AsyncRead>(read: R) -> LineReader<R> {
    FramedRead::new(
        read,
        CappedLines(LinesCodec::new_with_max_length(MAX_REPLY_BYTES)),
    )
}

/// The longest reply line a client reads; the cap only stops a runaway peer.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// Replies and events can be larger than a request (a long history); the writer does not cap them.
pub fn line_writer<W: AsyncWrite>(write: W) -> LineWriter<W> {
    FramedWrite::new(write, LinesCodec::new())
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("line longer than the reader's cap")]
    TooLong,
    #[error("line is not valid UTF-8")]
    NotUtf8,
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

/// Reads one line; `Ok(None)` at a clean end of stream, `Err(TooLong)` / `Err(NotUtf8)` for a
/// skipped line (the stream goes on).
pub async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut LineReader<R>,
) -> Result<Option<String>, FrameError> {
    match reader.next().await {
        None => Ok(None),
        Some(Ok(Line::Text(line))) => Ok(Some(line)),
        Some(Ok(Line::TooLong)) => Err(FrameError::TooLong),
        Some(Ok(Line::NotUtf8)) => Err(FrameError::NotUtf8),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = 16;

    /// What the decoder must make of `input` cut into pieces at `cuts`, `eof` or not.
    fn decode_in_pieces(input: &[u8], cuts: &[usize], eof: bool) -> Vec<Line> {
        let mut codec = CappedLines(LinesCodec::new_with_max_length(MAX));
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut from = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort();
        for cut in cuts.into_iter().chain([input.len()]) {
            buf.extend_from_slice(&input[from..cut]);
            from = cut;
            while let Some(line) = codec.decode(&mut buf).expect("the codec never fails") {
                out.push(line);
            }
        }
        if eof {
            while let Some(line) = codec.decode_eof(&mut buf).expect("the codec never fails") {
                out.push(line);
            }
        }
        out
    }

    /// The same, worked out line by line.
    fn expected(input: &[u8], eof: bool) -> Vec<Line> {
        let mut segments: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
        let last = segments.pop().unwrap_or_default();
        let judge = |seg: &[u8]| {
            if seg.len() > MAX {
                return Line::TooLong;
            }
            let seg = seg.strip_suffix(b"\r").unwrap_or(seg);
            match std::str::from_utf8(seg) {
                Ok(text) => Line::Text(text.to_owned()),
                Err(_) => Line::NotUtf8,
            }
        };
        let mut out: Vec<Line> = segments.into_iter().map(judge).collect();
        // An unfinished line is answered as too long as soon as it is; otherwise only at the end.
        if last.len() > MAX || (eof && !last.is_empty() && last != b"\r") {
            out.push(judge(last));
        }
        out
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        // Mostly short lines of text, sometimes long ones, a few raw bytes and carriage returns.
        let piece = prop_oneof![
            4 => "[a-z\"{}: ]{0,10}".prop_map(String::into_bytes),
            1 => "[a-z]{15,40}".prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..6),
            2 => Just(b"\n".to_vec()),
            1 => Just(b"\r\n".to_vec()),
            1 => Just("é\n".as_bytes().to_vec()),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// However the bytes arrive, each line comes out once, in order, as text, too long, or
        /// not UTF-8, and the decoder keeps going after each of those.
        #[test]
        fn lines_decode_the_same_however_they_are_cut(
            input in bytes(),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
            eof in any::<bool>(),
        ) {
            prop_assert_eq!(decode_in_pieces(&input, &cuts, eof), expected(&input, eof));
        }
    }

    #[tokio::test]
    async fn replies_far_longer_than_a_request_are_read() {
        // A day of ~400 switches in `history` is a reply line well over the request cap.
        let reply = format!("\"{}\"\n", "x".repeat(4 * MAX_LINE_BYTES));
        let mut reader = reply_reader(reply.as_bytes());
        let line = read_line(&mut reader).await.unwrap().unwrap();
        assert_eq!(line.len(), 4 * MAX_LINE_BYTES + 2);
        let mut requests = line_reader(reply.as_bytes());
        assert!(matches!(
            read_line(&mut requests).await,
            Err(FrameError::TooLong)
        ));
    }

    #[test]
    fn a_bad_line_does_not_end_the_stream() {
        let input = b"\"Status\"\n\xff\xfe\n0123456789abcdefXYZ\n\"Version\"\n";
        assert_eq!(
            decode_in_pieces(input, &[3, 11], true),
            vec![
                Line::Text("\"Status\"".into()),
                Line::NotUtf8,
                Line::TooLong,
                Line::Text("\"Version\"".into())
            ]
        );
    }
}
