//! One msclawd per socket: an exclusive lock on a file beside the socket. While holding it, a
//! socket file left by a crash is provably stale and can be removed; a live one never is.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use msclaw_shared::paths::MsclawPaths;

use crate::openclaw::atomic_write::create_private_dir;

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("msclawd is already running ({holder}, socket {socket})")]
    AlreadyRunning { holder: String, socket: PathBuf },
    #[error(
        "socket directory {dir} is owned by uid {owner}, not by you (uid {me}); refusing to put the socket there"
    )]
    NotOurDir { dir: PathBuf, owner: u32, me: u32 },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the daemon's life; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceGuard {
    _lock: File,
    pub socket: PathBuf,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InstanceError + 'a {
    move |source| InstanceError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Makes sure the socket's directory exists, belongs to us and (when it is msclaw's own) is 0700.
pub fn prepare_socket_dir(socket: &Path) -> Result<(), InstanceError> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(io("cannot create socket directory", dir))?;
    let meta = std::fs::metadata(dir).map_err(io("cannot inspect socket directory", dir))?;
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        return Err(InstanceError::NotOurDir {
            dir: dir.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let dedicated = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("msclaw"));
    if dedicated && meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("cannot restrict socket directory", dir))?;
    }
    Ok(())
}

pub fn acquire(paths: &MsclawPaths) -> Result<InstanceGuard, InstanceError> {
    prepare_socket_dir(&paths.socket)?;
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&paths.lock)
        .map_err(io("cannot open lock file", &paths.lock))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "pid unknown".to_owned(),
                pid => format!("pid {pid}"),
            };
            return Err(InstanceError::AlreadyRunning {
                holder,
                socket: paths.socket.clone(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock", &paths.lock)(e)),
    }
    lock.set_len(0)
        .map_err(io("cannot write lock file", &paths.lock))?;
    lock.rewind()
        .map_err(io("cannot write lock file", &paths.lock))?;
    write!(lock, "{}", std::process::id()).map_err(io("cannot write lock file", &paths.lock))?;
    // We hold the lock, so nobody is listening on a socket file that is still there.
    match std::fs::remove_file(&paths.socket) {
        Ok(()) => {
            tracing::info!(socket = %paths.socket.display(), "removed a stale socket left by an earlier msclawd")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot remove stale socket", &paths.socket)(e)),
    }
    Ok(InstanceGuard {
        _lock: lock,
        socket: paths.socket.clone(),
    })
}
