//! Only what the user alone controls is read: the log directory and every log file must be owned
//! by msclawd's euid, not group/world writable and not a symlink. Another user could otherwise
//! plant fake 429 lines (a shared `/tmp/openclaw`) and steer the rotation.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Why a path is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafe {
    Symlink,
    NotDir,
    NotFile,
    /// Owned by this uid, not by msclawd's euid.
    Owner(u32),
    /// Group or world writable (the mode's permission bits).
    Writable(u32),
}

impl fmt::Display for Unsafe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsafe::Symlink => write!(f, "is a symlink"),
            Unsafe::NotDir => write!(f, "is not a directory"),
            Unsafe::NotFile => write!(f, "is not a regular file"),
            Unsafe::Owner(uid) => write!(f, "is owned by uid {uid}"),
            Unsafe::Writable(mode) => write!(f, "is group/world writable (mode {mode:o})"),
        }
    }
}

pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Owned by msclawd's euid and writable by nobody else (OpenClaw's own test: bits 0o022 only).
fn owned(meta: &Metadata) -> Result<(), Unsafe> {
    if meta.uid() != euid() {
        return Err(Unsafe::Owner(meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Unsafe::Writable(mode));
    }
    Ok(())
}

/// `meta` from `symlink_metadata`: a private directory of the user.
pub(crate) fn check_dir(meta: &Metadata) -> Result<(), Unsafe> {
    if meta.file_type().is_symlink() {
        return Err(Unsafe::Symlink);
    }
    if !meta.is_dir() {
        return Err(Unsafe::NotDir);
    }
    owned(meta)
}

/// `meta` from `symlink_metadata` (or a `DirEntry`): a regular file of the user's own.
pub(crate) fn check_file(meta: &Metadata) -> Result<(), Unsafe> {
    if meta.file_type().is_symlink() {
        return Err(Unsafe::Symlink);
    }
    if !meta.is_file() {
        return Err(Unsafe::NotFile);
    }
    owned(meta)
}

/// Opens a log file without following a symlink (O_NOFOLLOW; O_NONBLOCK so a FIFO swapped in
/// cannot hang the reader) and checks what was opened. A refusal is `PermissionDenied`.
pub(crate) fn open_owned(path: &Path) -> io::Result<(File, Metadata)> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // ELOOP: the last component is a symlink.
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                refused(Unsafe::Symlink)
            }
            _ => e,
        })?;
    let meta = file.metadata()?;
    check_file(&meta).map_err(refused)?;
    Ok((file, meta))
}

fn refused(why: Unsafe) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("not read: it {why}; msclawd reads only the user's own private files"),
    )
}
