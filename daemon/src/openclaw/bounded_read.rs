//! Reading a config file so that it can never block or balloon: opened non-blocking (a FIFO
//! answers at once instead of waiting for a writer), `fstat`ed before anything is read (only a
//! regular file is read: not a FIFO, a device like `/dev/zero`, or a directory), and read up to a
//! bound. Symlinks are followed; where they may point is [`super::include`]'s concern.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub(crate) enum ReadRefusal {
    Io(io::Error),
    /// A FIFO, a device, a directory: anything but a regular file.
    NotRegular,
    /// More hard links than one (OpenClaw refuses those for `$include`).
    HardLinked,
    /// Bigger than the bound.
    TooBig {
        max: u64,
    },
}

/// The bytes of the regular file at `path`, at most `max` of them. With `single_link`, a file
/// with other hard links is refused too.
pub(crate) fn read_regular_file(
    path: &Path,
    max: u64,
    single_link: bool,
) -> Result<Vec<u8>, ReadRefusal> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(ReadRefusal::Io)?;
    let meta = file.metadata().map_err(ReadRefusal::Io)?;
    if !meta.is_file() {
        return Err(ReadRefusal::NotRegular);
    }
    if single_link && meta.nlink() > 1 {
        return Err(ReadRefusal::HardLinked);
    }
    if meta.len() > max {
        return Err(ReadRefusal::TooBig { max });
    }
    read_at_most(file, meta.len(), max)
}

/// Reads at most `max` bytes; a file that grew past `max` since `fstat` is refused. The buffer is
/// sized to the file's `len` up front: grown by doubling, a 14 MB config would take 16 MiB.
fn read_at_most(file: File, len: u64, max: u64) -> Result<Vec<u8>, ReadRefusal> {
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadRefusal::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadRefusal::TooBig { max });
    }
    Ok(bytes)
}
