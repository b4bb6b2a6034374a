//! Reading a followed file line by line with a bound: a line longer than [`MAX_LINE_BYTES`] is
//! never held in memory; it is skipped up to its newline, across polls when it is still being
//! written (the cursor remembers "skipping until newline").

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SourceError;

/// The longest line a reader looks at; a longer one is skipped (and counted).
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// Where to read on from: an offset, and whether it is inside an over-long line being skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LineStart {
    pub offset: u64,
    /// The bytes from `offset` up to the next `\n` belong to a line too long to read.
    pub skipping: bool,
}

impl From<u64> for LineStart {
    fn from(offset: u64) -> Self {
        LineStart {
            offset,
            skipping: false,
        }
    }
}

/// What [`read_lines_from`] did.
pub(crate) struct LinesRead {
    /// Offset just past the last byte consumed (a line handed over or skipped).
    pub end: u64,
    /// `end` is inside an over-long line: the next read skips on to its newline.
    pub skipping: bool,
    /// Over-long lines met (counted when their skipping began).
    pub long_lines: u64,
}

impl LinesRead {
    pub(crate) fn resume(&self) -> LineStart {
        LineStart {
            offset: self.end,
            skipping: self.skipping,
        }
    }
}

/// Calls `f(line, line_start_offset)` for each complete line (without its `\n`) from `start`.
/// A last line without `\n` is left for later, unless `take_unterminated` (a file nobody writes
/// to any more), in which case it is handed over too. A line longer than `max_line` bytes is not
/// handed over: it is skipped to its newline without being kept.
pub(crate) fn read_lines_from(
    path: &Path,
    file: &mut File,
    start: impl Into<LineStart>,
    take_unterminated: bool,
    f: impl FnMut(&[u8], u64),
) -> Result<LinesRead, SourceError> {
    read_bounded_lines(
        path,
        file,
        start.into(),
        take_unterminated,
        (MAX_LINE_BYTES, u64::MAX),
        f,
    )
}

/// [`read_lines_from`] that stops at the first line boundary once `max_bytes` were consumed
/// (a line being handed over is finished; one being skipped is left, to be skipped on later).
pub(crate) fn read_lines_within(
    path: &Path,
    file: &mut File,
    start: LineStart,
    max_bytes: u64,
    f: impl FnMut(&[u8], u64),
) -> Result<LinesRead, SourceError> {
    read_bounded_lines(path, file, start, false, (MAX_LINE_BYTES, max_bytes), f)
}

/// `bounds`: the longest line handed over, and the bytes after which to stop.
pub(crate) fn read_bounded_lines(
    path: &Path,
    file: &mut File,
    start: LineStart,
    take_unterminated: bool,
    (max_line, max_bytes): (usize, u64),
    mut f: impl FnMut(&[u8], u64),
) -> Result<LinesRead, SourceError> {
    let io = |e: std::io::Error| SourceError::io(path, &e);
    file.seek(SeekFrom::Start(start.offset)).map_err(io)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut read = LinesRead {
        end: start.offset,
        skipping: start.skipping,
        long_lines: 0,
    };
    // The line being gathered (never more than `max_line` bytes) and where it started.
    let mut line: Vec<u8> = Vec::new();
    loop {
        if line.is_empty() && read.end - start.offset >= max_bytes {
            return Ok(read);
        }
        let chunk = reader.fill_buf().map_err(io)?;
        if chunk.is_empty() {
            break;
        }
        let newline = chunk.iter().position(|b| *b == b'\n');
        let take = newline.map_or(chunk.len(), |i| i + 1);
        if read.skipping {
            read.end += take as u64;
            read.skipping = newline.is_none();
        } else if line.len() + take - usize::from(newline.is_some()) > max_line {
            // Too long to hand over: drop what was gathered and skip to the newline.
            read.long_lines += 1;
            read.end += (line.len() + take) as u64;
            line = Vec::new();
            read.skipping = newline.is_none();
        } else {
            line.extend_from_slice(&chunk[..take]);
            if newline.is_some() {
                let len = line.len() as u64;
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                f(&line, read.end);
                read.end += len;
                line.clear();
            }
        }
        reader.consume(take);
    }
    if take_unterminated && !line.is_empty() {
        f(&line, read.end);
        read.end += line.len() as u64;
    }
    Ok(read)
}

/// Offset just past the last `\n` of a file of `len` bytes (0 when there is none): where to
/// start following a file without reading what it already holds.
pub(crate) fn last_line_boundary(file: &mut File, len: u64) -> std::io::Result<u64> {
    use std::io::Read;
    let mut end = len;
    let mut chunk = vec![0u8; 8192];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let want = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..want])?;
        if let Some(i) = chunk[..want].iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read(p: &Path, start: LineStart, max: usize) -> (Vec<(String, u64)>, LinesRead) {
        let mut f = File::open(p).unwrap();
        let mut got = Vec::new();
        let r = read_bounded_lines(p, &mut f, start, false, (max, u64::MAX), |l, at| {
            got.push((String::from_utf8_lossy(l).into_owned(), at))
        })
        .unwrap();
        (got, r)
    }

    #[test]
    fn an_over_long_line_is_skipped_to_its_newline_across_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"ok\nxxxxxxxxxxxxxxxx").unwrap();
        let (got, r) = read(&p, 0.into(), 8);
        assert_eq!(got, vec![("ok".into(), 0)]);
        assert!(r.skipping, "inside the long line");
        assert_eq!(r.long_lines, 1);
        assert_eq!(r.end, 19, "the skipped bytes are consumed, not kept");
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"yyyy\nnext\n").unwrap();
        let (got, r2) = read(&p, r.resume(), 8);
        assert_eq!(got, vec![("next".into(), 24)]);
        assert!(!r2.skipping);
        assert_eq!(r2.long_lines, 0, "counted once, when skipping began");
        assert_eq!(r2.end, 29);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345678\n123456789\nz\n").unwrap();
        let (got, r) = read(&p, 0.into(), 8);
        assert_eq!(got, vec![("12345678".into(), 0), ("z".into(), 19)]);
        assert_eq!(r.long_lines, 1);
        assert!(!r.skipping);
    }
}
