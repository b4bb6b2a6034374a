//! A catch-up pass's rows parsed on a second thread while SQLite reads on. Parsing the JSON is a
//! third of a catch-up and reading the pages most of the rest; on two cores they overlap.
//!
//! The reading thread copies each candidate row's text (its event, or a compressed row's
//! navigation) into a chunk and goes on reading; the parser classifies chunk after chunk and
//! gives the verdicts back in the order the rows were pushed. Only the reading thread has the
//! connection, so a compressed row its navigation cannot decide comes back as
//! [`Verdict::NeedEvent`] for it to decode. If no thread can be started, rows are parsed where
//! they are pushed.

use std::ops::Range;
use std::sync::mpsc;
use std::thread;

use jiff::Timestamp;

use super::scan::{RowText, Verdict};

/// Rows handed over at a time (about 128 KiB of text for OpenClaw's usual rows).
const CHUNK_ROWS: usize = 256;
/// Chunks in flight: the reader runs at most this far ahead of the parser.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Which row a verdict is of: the planned session's index, the row's seq and its `created_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RowKey {
    pub(super) ix: usize,
    pub(super) seq: i64,
    pub(super) created_at: i64,
}

/// The text of one row, copied into its chunk's buffer.
enum Text {
    Event(Range<usize>),
    Navigation(Range<usize>),
    Decided(Verdict),
}

#[derive(Default)]
struct Chunk {
    rows: Vec<(RowKey, Text)>,
    text: Vec<u8>,
}

impl Chunk {
    fn push(&mut self, key: RowKey, text: RowText<'_>) {
        let mut copy = |bytes: &[u8]| {
            let start = self.text.len();
            self.text.extend_from_slice(bytes);
            start..self.text.len()
        };
        let text = match text {
            RowText::Event(bytes) => Text::Event(copy(bytes)),
            RowText::Navigation(bytes) => Text::Navigation(copy(bytes)),
            RowText::Decided(verdict) => Text::Decided(verdict),
        };
        self.rows.push((key, text));
    }

    fn parse_into(self, out: &mut Vec<(RowKey, Verdict)>) {
        for (key, text) in self.rows {
            let created = Timestamp::from_millisecond(key.created_at).ok();
            let verdict = match text {
                Text::Event(range) => RowText::Event(&self.text[range]).verdict(created),
                Text::Navigation(range) => RowText::Navigation(&self.text[range]).verdict(created),
                Text::Decided(verdict) => verdict,
            };
            out.push((key, verdict));
        }
    }
}

/// Where the reading thread pushes its rows.
pub(super) struct Feed {
    chunk: Chunk,
    /// `None`: no parser thread, rows are parsed as they come.
    to_parser: Option<mpsc::SyncSender<Chunk>>,
    parsed_here: Vec<(RowKey, Verdict)>,
}

impl Feed {
    pub(super) fn push(&mut self, key: RowKey, text: RowText<'_>) {
        self.chunk.push(key, text);
        if self.chunk.rows.len() >= CHUNK_ROWS {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        let chunk = std::mem::take(&mut self.chunk);
        match &self.to_parser {
            // A parser gone (it panicked) leaves the chunk here; the panic is raised at the join.
            Some(tx) => {
                if let Err(mpsc::SendError(chunk)) = tx.send(chunk) {
                    chunk.parse_into(&mut self.parsed_here);
                }
            }
            None => chunk.parse_into(&mut self.parsed_here),
        }
    }
}

/// Runs `read` with a [`Feed`] whose rows a second thread parses meanwhile; returns what `read`
/// returned and every pushed row's verdict, in the order pushed.
pub(super) fn parse_ahead<R>(read: impl FnOnce(&mut Feed) -> R) -> (R, Vec<(RowKey, Verdict)>) {
    let (tx, rx) = mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
    thread::scope(|scope| {
        let parser = thread::Builder::new()
            .name("usage-parser".into())
            .spawn_scoped(scope, move || {
                let mut parsed = Vec::new();
                for chunk in rx {
                    chunk.parse_into(&mut parsed);
                }
                parsed
            });
        let to_parser = match &parser {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::debug!("no parser thread ({e}): parsing on the reading thread");
                None
            }
        };
        let mut feed = Feed {
            chunk: Chunk::default(),
            to_parser,
            parsed_here: Vec::new(),
        };
        let result = read(&mut feed);
        feed.hand_over();
        let Feed {
            to_parser,
            parsed_here,
            ..
        } = feed;
        drop(to_parser);
        let mut parsed = match parser {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => Vec::new(),
        };
        // Rows parsed here came after every chunk the parser took (a send only fails once the
        // parser is gone, and it then stays gone).
        parsed.extend(parsed_here);
        (result, parsed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::event::ParsedEvent;

    fn reply(n: usize) -> String {
        format!(
            r#"{{"type":"message","id":"e{n}","message":{{"role":"assistant","provider":"p","model":"m{n}","stopReason":"stop","timestamp":{}}}}}"#,
            1_700_000_000_000u64 + n as u64
        )
    }

    #[test]
    fn verdicts_come_back_in_push_order_across_chunks() {
        let n = CHUNK_ROWS * 3 + 7;
        let ((), parsed) = parse_ahead(|feed| {
            for i in 0..n {
                let key = RowKey {
                    ix: i % 5,
                    seq: i as i64,
                    created_at: 1,
                };
                let text = reply(i);
                match i % 3 {
                    0 => feed.push(key, RowText::Event(text.as_bytes())),
                    1 => feed.push(key, RowText::Event(b"{not json")),
                    _ => feed.push(key, RowText::Decided(Verdict::NeedEvent)),
                }
            }
        });
        assert_eq!(parsed.len(), n);
        for (i, (key, verdict)) in parsed.iter().enumerate() {
            assert_eq!((key.ix, key.seq), (i % 5, i as i64));
            match (i % 3, verdict) {
                (0, Verdict::Parsed(ParsedEvent::Call(c))) => assert_eq!(c.model, format!("m{i}")),
                (1, Verdict::Parsed(ParsedEvent::Malformed(_))) => {}
                (2, Verdict::NeedEvent) => {}
                other => panic!("row {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn nothing_pushed_is_nothing_parsed() {
        let (answer, parsed) = parse_ahead(|_| 42);
        assert_eq!((answer, parsed.len()), (42, 0));
    }
}
