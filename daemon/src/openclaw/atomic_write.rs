//! Atomic file replacement: write a temp file beside the target, fsync it, rename it over the
//! target, fsync the directory.
//!
//! Two entry points:
//! - [`replace_if_unchanged`] for files someone else owns (OpenClaw's config): just before the swap
//!   the target is read again and compared with what the caller based its edit on, and the temp
//!   file goes in by an atomic *exchange* whose displaced file is compared too, so a concurrent
//!   edit by the user or by OpenClaw is never silently overwritten ([`WriteError::Conflict`]).
//! - [`write_new_or_replace`] for msclaw's own files (its state file), written unconditionally.
//!
//! Both keep the target's permission bits (OpenClaw keeps its config at 0600) and, when the process
//! may (root), its owner. A symlinked target is replaced *through* the link: the file the link
//! points to is replaced and the link stays a link (OpenClaw's own writer replaces the link with a
//! regular file, which msclaw must not copy).
//!
//! Any failure before the rename leaves the target untouched and no temp file behind (the temp file
//! is a [`tempfile::NamedTempFile`], deleted on drop). A writer killed outright (SIGKILL, power
//! cut) cannot delete its temp file: each writer holds an exclusive `flock` on its temp file while
//! it writes, and the next write of the same target (and msclawd's start, through
//! [`remove_stale_temp_files`]) removes every `.NAME.msclaw-*.tmp` beside it that nobody holds.
//!
//! What is left: a writer that opened the old file *before* the swap and writes into it *after*
//! it (an in-place save straddling the swap by microseconds) writes into the displaced file, and
//! that write is lost, as with any rename-based writer. On a file system without an exchange
//! (EINVAL/ENOTSUP, e.g. NFS) the swap falls back to a plain rename, where a write between the
//! final comparison and the rename is lost too.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Why a write did not happen. Every variant names the file; none carries file contents.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file no longer holds what the caller read (someone else wrote it meanwhile). Nothing was
    /// written; read the file again and redo the edit.
    #[error("{path} changed while it was being edited; nothing was written")]
    Conflict { path: PathBuf },
    /// An I/O step failed; `action` says which ("create a temp file in", "rename over", ...).
    #[error("cannot {action} {path}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
}

/// How many symlinks are followed at most before giving up (as the kernel's MAXSYMLINKS).
const MAX_SYMLINK_HOPS: usize = 40;

/// The mode a file gets when [`replace_if_unchanged`] creates it (`expected_current == None`).
const DEFAULT_NEW_MODE: u32 = 0o600;
/// How much of a file is compared at a time when checking that it did not change.
const COMPARE_CHUNK: usize = 64 * 1024;

/// Replaces `path` with `new_contents`, but only if the file still holds `expected_current`
/// (`None`: only if it does not exist). Otherwise returns [`WriteError::Conflict`] and writes
/// nothing.
///
/// The permission bits of the current file are kept (a new file gets 0600). If `path` is a
/// symlink, the file it points to is replaced and the link is left as it is.
pub fn replace_if_unchanged(
    path: &Path,
    new_contents: &[u8],
    expected_current: Option<&[u8]>,
) -> Result<(), WriteError> {
    replace_pieces_if_unchanged(path, &[new_contents], expected_current)
}

/// [`replace_if_unchanged`] with the new contents given as pieces written one after the other:
/// an edit of a big file is written as the old text around the new value, never copied whole.
pub fn replace_pieces_if_unchanged(
    path: &Path,
    new_pieces: &[&[u8]],
    expected_current: Option<&[u8]>,
) -> Result<(), WriteError> {
    let target = resolve_symlinks(path)?;
    write_via_temp(
        &target,
        new_pieces,
        DEFAULT_NEW_MODE,
        Some(expected_current),
    )
}

/// Writes `contents` to `path` atomically, whatever the file holds now. An existing file keeps
/// its permission bits; a new one gets `mode_if_new` (e.g. 0o600). Symlinks are followed as in
/// [`replace_if_unchanged`].
pub fn write_new_or_replace(
    path: &Path,
    contents: &[u8],
    mode_if_new: u32,
) -> Result<(), WriteError> {
    let target = resolve_symlinks(path)?;
    write_via_temp(&target, &[contents], mode_if_new, None)
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError::Io {
        path,
        action,
        source,
    }
}

/// Follows `path` through any chain of symlinks to the file that would be written. The final
/// target need not exist (a dangling link gets its target created).
fn resolve_symlinks(path: &Path) -> Result<PathBuf, WriteError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).map_err(io_err(&current, "read the symlink"))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(io_err(&current, "inspect")(e)),
        }
    }
    Err(WriteError::Io {
        path: path.to_path_buf(),
        action: "resolve the symlinks of",
        source: io::Error::other(format!("more than {MAX_SYMLINK_HOPS} levels of symlinks")),
    })
}

/// Whether `file` holds exactly `expected`, compared chunk by chunk: a big config is never held
/// in memory a second time just to see that it did not change.
fn holds_exactly(mut file: File, expected: &[u8]) -> io::Result<bool> {
    let mut chunk = vec![0u8; COMPARE_CHUNK];
    let mut rest = expected;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(rest.is_empty());
        }
        if n > rest.len() || chunk[..n] != rest[..n] {
            return Ok(false);
        }
        rest = &rest[n..];
    }
}

/// The body shared by both entry points. `target` has no symlink left in its last component.
/// `expected`: `None` = write unconditionally; `Some(x)` = the file must equal `x` (`Some(None)`:
/// must not exist) right before the rename.
fn write_via_temp(
    target: &Path,
    pieces: &[&[u8]],
    mode_if_new: u32,
    expected: Option<Option<&[u8]>>,
) -> Result<(), WriteError> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());

    // An early check spares the temp file when the conflict is already visible; the decisive
    // check is the one right before the rename.
    if let Some(expected) = expected {
        check_unchanged(target, expected)?;
    }

    let existing = match fs::metadata(target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(target, "inspect")(e)),
    };

    remove_stale_in(&dir, &file_name);
    let mut tmp = locked_temp_file(&dir, &file_name)?;
    // From here on, returning early drops `tmp`, which deletes the temp file.

    set_mode_and_owner(tmp.as_file(), existing.as_ref(), mode_if_new)
        .map_err(io_err(tmp.path(), "set the permissions of"))?;
    for piece in pieces {
        tmp.write_all(piece).map_err(io_err(tmp.path(), "write"))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(io_err(tmp.path(), "fsync"))?;

    #[cfg(test)]
    tests::run_before_final_check();

    if let Some(expected) = expected {
        check_unchanged(target, expected)?;
    }

    match expected {
        Some(Some(expected)) => swap_in(tmp, target, expected)?,
        Some(None) => create_new(tmp, target)?,
        None => persist(tmp, target)?,
    }

    // The rename is done; a failed directory fsync only weakens durability after a power cut.
    // Reporting an error now would make the caller think nothing was written.
    if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "fsync of the directory failed after an atomic replace");
    }
    Ok(())
}

fn persist(tmp: tempfile::NamedTempFile, target: &Path) -> Result<(), WriteError> {
    tmp.persist(target).map(drop).map_err(|e| {
        // `e.file` is the temp file; dropping it (with `e`) removes it.
        WriteError::Io {
            path: target.to_path_buf(),
            action: "rename the temp file over",
            source: e.error,
        }
    })
}

/// The file system cannot do this kind of rename (an exchange on NFS, say): fall back.
fn unsupported(e: &rustix::io::Errno) -> bool {
    use rustix::io::Errno;
    [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP, Errno::NOTSUP].contains(e)
}

fn rename_with(
    from: &Path,
    to: &Path,
    flags: rustix::fs::RenameFlags,
) -> Result<(), rustix::io::Errno> {
    rustix::fs::renameat_with(rustix::fs::CWD, from, rustix::fs::CWD, to, flags)
}

/// `expected_current == None`: the target must not exist, checked by the rename itself.
fn create_new(tmp: tempfile::NamedTempFile, target: &Path) -> Result<(), WriteError> {
    match rename_with(tmp.path(), target, rustix::fs::RenameFlags::NOREPLACE) {
        Ok(()) => {
            // The temp path is gone; forget it without deleting anything.
            let _ = tmp.into_temp_path().keep();
            Ok(())
        }
        Err(rustix::io::Errno::EXIST) => Err(WriteError::Conflict {
            path: target.to_path_buf(),
        }),
        Err(e) if unsupported(&e) => persist(tmp, target),
        Err(e) => Err(WriteError::Io {
            path: target.to_path_buf(),
            action: "rename the temp file to",
            source: e.into(),
        }),
    }
}

fn file_id(meta: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Puts the temp file in place with one atomic exchange (`renameat2(RENAME_EXCHANGE)`, macOS
/// `RENAME_SWAP`) instead of a rename over the target, and looks at what came out: the file that
/// was in place at that very instant. If it is not what the caller based its edit on, someone wrote
/// the file in the microseconds since the last comparison; their file is swapped back in and the
/// caller gets [`WriteError::Conflict`] (and redoes its edit on their text). A plain rename would
/// have silently thrown their write away.
fn swap_in(tmp: tempfile::NamedTempFile, target: &Path, expected: &[u8]) -> Result<(), WriteError> {
    let ours = file_id(
        &tmp.as_file()
            .metadata()
            .map_err(io_err(tmp.path(), "inspect"))?,
    );
    #[cfg(test)]
    tests::run_before_swap();
    match rename_with(tmp.path(), target, rustix::fs::RenameFlags::EXCHANGE) {
        Ok(()) => {}
        Err(e) if unsupported(&e) => return persist(tmp, target),
        // The target was deleted since the comparison.
        Err(rustix::io::Errno::NOENT) => {
            return Err(WriteError::Conflict {
                path: target.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(WriteError::Io {
                path: target.to_path_buf(),
                action: "swap the temp file in for",
                source: e.into(),
            });
        }
    }
    // From here on the temp path names the file that was displaced; dropping `tmp` deletes it.
    let displaced = tmp.path().to_path_buf();
    let changed = || {
        let holds = File::open(&displaced).and_then(|f| holds_exactly(f, expected));
        match (fs::symlink_metadata(&displaced), holds) {
            (Ok(meta), Ok(false)) => Some(file_id(&meta)),
            _ => None,
        }
    };
    // A writer that opened the file just before the swap writes into the displaced file a moment
    // later (an append, an in-place save): look again after a short grace, so that write is put
    // back too instead of being lost with the displaced file.
    let theirs = match changed() {
        Some(id) => id,
        None => {
            std::thread::sleep(DISPLACED_GRACE);
            match changed() {
                Some(id) => id,
                None => return Ok(()),
            }
        }
    };
    // Someone else's write landed just before ours: put it back. What comes out of the swap back
    // must be our file; if a third write landed on ours meanwhile, that one is the newest and goes
    // back in place instead.
    let mut expect_out = ours;
    for _ in 0..3 {
        rename_with(&displaced, target, rustix::fs::RenameFlags::EXCHANGE).map_err(|e| {
            WriteError::Io {
                path: target.to_path_buf(),
                action: "swap back another writer's version of",
                source: e.into(),
            }
        })?;
        let out = fs::symlink_metadata(&displaced).map(|m| file_id(&m)).ok();
        if out == Some(expect_out) {
            tracing::debug!(file = %target.display(), "another write landed just before ours; put it back");
            return Err(WriteError::Conflict {
                path: target.to_path_buf(),
            });
        }
        expect_out = if expect_out == ours { theirs } else { ours };
    }
    // Writers racing in microseconds three times over: keep what came out for the user.
    let kept = target.with_file_name(format!(
        "{}.msclaw-conflict-{}",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let _ = fs::rename(&displaced, &kept);
    tracing::error!(file = %target.display(), kept = %kept.display(), "the file kept changing while it was replaced; a displaced version is kept beside it");
    Err(WriteError::Conflict {
        path: target.to_path_buf(),
    })
}

/// How long a displaced file is watched for a write that was already under way at the swap.
const DISPLACED_GRACE: std::time::Duration = std::time::Duration::from_millis(25);

const TEMP_INFIX: &str = ".msclaw-";
const TEMP_SUFFIX: &str = ".tmp";

/// A new temp file for `file_name` in `dir`, locked (`flock`, exclusive) so that no other writer
/// takes it for a stale one, and still named by its path (a cleaner may have removed it in the
/// instant between its creation and the lock; then another one is made).
fn locked_temp_file(dir: &Path, file_name: &str) -> Result<tempfile::NamedTempFile, WriteError> {
    use std::os::unix::fs::MetadataExt;
    let mut last_error = None;
    for _ in 0..5 {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}{TEMP_INFIX}"))
            .suffix(TEMP_SUFFIX)
            .tempfile_in(dir)
            .map_err(io_err(dir, "create a temp file in"))?;
        match tmp.as_file().try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => continue,
            Err(fs::TryLockError::Error(e)) => {
                last_error = Some(e);
                continue;
            }
        }
        let mine = tmp
            .as_file()
            .metadata()
            .map_err(io_err(tmp.path(), "inspect"))?;
        match fs::symlink_metadata(tmp.path()) {
            Ok(named) if named.dev() == mine.dev() && named.ino() == mine.ino() => return Ok(tmp),
            _ => continue,
        }
    }
    Err(WriteError::Io {
        path: dir.to_path_buf(),
        action: "create and lock a temp file in",
        source: last_error.unwrap_or_else(|| io::Error::other("temp files kept disappearing")),
    })
}

/// Removes the temp files that writers of `path` (msclaw processes, now or earlier) left beside it
/// when they were killed before their rename: `.NAME.msclaw-*.tmp` that no live writer holds
/// locked. Symlinks are followed as in [`replace_if_unchanged`]. Returns how many were removed;
/// failures are only logged (a leftover temp file is untidy, not harmful).
pub fn remove_stale_temp_files(path: &Path) -> usize {
    let Ok(target) = resolve_symlinks(path) else {
        return 0;
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = target.file_name() else {
        return 0;
    };
    remove_stale_in(&dir, &name.to_string_lossy())
}

fn remove_stale_in(dir: &Path, file_name: &str) -> usize {
    use std::os::unix::fs::OpenOptionsExt;
    let prefix = format!(".{file_name}{TEMP_INFIX}");
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        // Only regular files, never through a symlink.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
        else {
            continue;
        };
        // A live writer holds its temp file locked; the lock of a dead one died with it.
        if file.try_lock().is_err() {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                removed += 1;
                tracing::info!(file = %path.display(), "removed a temp file left by a writer that was killed mid-write");
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove a stale temp file")
            }
        }
    }
    removed
}

fn check_unchanged(target: &Path, expected: Option<&[u8]>) -> Result<(), WriteError> {
    let unchanged = match (File::open(target), expected) {
        (Ok(file), Some(expected)) => {
            holds_exactly(file, expected).map_err(io_err(target, "read"))?
        }
        (Ok(_), None) => false,
        (Err(e), expected) if e.kind() == io::ErrorKind::NotFound => expected.is_none(),
        (Err(e), _) => return Err(io_err(target, "open")(e)),
    };
    if unchanged {
        Ok(())
    } else {
        Err(WriteError::Conflict {
            path: target.to_path_buf(),
        })
    }
}

/// A file's permission bits (`None` where unknown: missing file, not Unix).
#[cfg(unix)]
pub fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
pub fn file_mode(_: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode_and_owner(
    tmp: &File,
    existing: Option<&fs::Metadata>,
    mode_if_new: u32,
) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = existing.map_or(mode_if_new, |m| m.mode()) & 0o7777;
    tmp.set_permissions(fs::Permissions::from_mode(mode))?;
    if let Some(meta) = existing {
        let mine = tmp.metadata()?;
        if mine.uid() != meta.uid() || mine.gid() != meta.gid() {
            // Only root (or the owner, for the group) may do this; when it fails the file ends up
            // owned by msclaw's user, who could write the directory anyway.
            if let Err(e) = std::os::unix::fs::fchown(tmp, Some(meta.uid()), Some(meta.gid())) {
                tracing::debug!(error = %e, "could not keep the owner of the replaced file");
            }
            // chown may clear set-id bits; set the mode again.
            tmp.set_permissions(fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_mode_and_owner(
    tmp: &File,
    existing: Option<&fs::Metadata>,
    _mode_if_new: u32,
) -> io::Result<()> {
    if let Some(meta) = existing {
        tmp.set_permissions(meta.permissions())?;
    }
    Ok(())
}

/// Creates `dir` (and parents) with mode 0700 for the parts it creates (OpenClaw's state dir,
/// msclaw's own).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests;
