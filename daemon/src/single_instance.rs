//! One msclawd per socket, per OpenClaw config and per state file: an exclusive lock on a file
//! beside the socket, and on two in the state directory (one named from the config's canonical
//! path, one beside the state file). While holding the first, a socket file left by a crash is
//! provably stale and can be removed; a live one never is.
//!
//! The socket's directory may sit in a shared `/tmp` (the `$TMPDIR/msclaw-$UID` fallback), where
//! another user can put anything first: it is made by one `mkdir`, opened without following a
//! link, and used only when it is a real directory of ours.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use msclaw_shared::paths::MsclawPaths;
use rustix::fs::{Mode, OFlags};

use crate::openclaw::atomic_write::create_private_dir;

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("msclawd is already running ({holder}, socket {socket})")]
    AlreadyRunning { holder: String, socket: PathBuf },
    #[error(
        "msclawd is already running {what} {path} ({holder}, socket {socket}); \
         one msclawd per OpenClaw config and state: stop that one first"
    )]
    InUse {
        what: Shared,
        path: PathBuf,
        holder: String,
        socket: String,
    },
    #[error(
        "socket directory {dir} is taken: {problem}; msclawd will not use it. Set XDG_RUNTIME_DIR to \
         a runtime directory of your own, or MSCLAW_SOCKET to a socket path in a directory only you own"
    )]
    DirTaken { dir: PathBuf, problem: DirProblem },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a second daemon would have shared with the running one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    OpenClawConfig,
    StateFile,
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shared::OpenClawConfig => "for the OpenClaw config",
            Shared::StateFile => "with the state file",
        })
    }
}

/// Why the socket's directory cannot be used; each names the owner found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirProblem {
    Link { owner: u32 },
    NotADirectory { owner: u32 },
    OtherOwner { owner: u32, me: u32 },
}

impl std::fmt::Display for DirProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirProblem::Link { owner } => write!(
                f,
                "it is a symbolic link (owned by uid {owner}), and msclawd never follows one there"
            ),
            DirProblem::NotADirectory { owner } => {
                write!(f, "it is not a directory (owned by uid {owner})")
            }
            DirProblem::OtherOwner { owner, me } => {
                write!(f, "it is owned by uid {owner}, not by you (uid {me})")
            }
        }
    }
}

/// Held for the daemon's life; dropping it releases the locks.
#[derive(Debug)]
pub struct InstanceGuard {
    _locks: Vec<File>,
    pub socket: PathBuf,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InstanceError + 'a {
    move |source| InstanceError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Makes sure the socket's directory is a real directory of ours (never a link) and, when it is
/// msclaw's own, 0700.
pub fn prepare_socket_dir(socket: &Path) -> Result<(), InstanceError> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent).map_err(io("cannot create socket directory", parent))?;
    }
    // One mkdir: an existing entry is left as it is and inspected below, never followed.
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("cannot create socket directory", dir)(e)),
    }
    let taken = |problem| InstanceError::DirTaken {
        dir: dir.to_owned(),
        problem,
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            let meta = std::fs::symlink_metadata(dir)
                .map_err(io("cannot inspect socket directory", dir))?;
            let owner = meta.uid();
            return Err(match meta.file_type() {
                t if t.is_symlink() => taken(DirProblem::Link { owner }),
                t if !t.is_dir() => taken(DirProblem::NotADirectory { owner }),
                _ => io("cannot open socket directory", dir)(e.into()),
            });
        }
    };
    let stat =
        rustix::fs::fstat(&fd).map_err(|e| io("cannot inspect socket directory", dir)(e.into()))?;
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(taken(DirProblem::OtherOwner {
            owner: stat.st_uid,
            me,
        }));
    }
    let dedicated = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("msclaw"));
    if dedicated && stat.st_mode & 0o077 != 0 {
        // Through the descriptor just checked: the directory itself, whatever the path is now.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
            .map_err(|e| io("cannot restrict socket directory", dir)(e.into()))?;
    }
    Ok(())
}

/// Takes the socket's lock, then the OpenClaw config's and the state file's, and clears a stale
/// socket. `openclaw_config` is the config this daemon will manage.
pub fn acquire(
    paths: &MsclawPaths,
    openclaw_config: &Path,
) -> Result<InstanceGuard, InstanceError> {
    prepare_socket_dir(&paths.socket)?;
    let socket_lock = match lock_file(&paths.lock)? {
        Lock::Ours(file) => file,
        Lock::Held(holder) => {
            return Err(InstanceError::AlreadyRunning {
                holder: holder.pid(),
                socket: paths.socket.clone(),
            });
        }
    };
    write_holder(&socket_lock, &paths.socket).map_err(io("cannot write lock file", &paths.lock))?;
    let mut locks = vec![socket_lock];
    let config = canonical(openclaw_config);
    let shared = [
        (Shared::OpenClawConfig, paths.config_lock(&config), config),
        (
            Shared::StateFile,
            paths.state_lock(),
            paths.state_file.clone(),
        ),
    ];
    for (what, lock, path) in shared {
        locks.extend(lock_shared(what, &lock, path, &paths.socket)?);
    }
    // We hold the lock, so nobody is listening on a socket file that is still there.
    match std::fs::remove_file(&paths.socket) {
        Ok(()) => {
            tracing::info!(socket = %paths.socket.display(), "removed a stale socket left by an earlier msclawd")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot remove stale socket", &paths.socket)(e)),
    }
    Ok(InstanceGuard {
        _locks: locks,
        socket: paths.socket.clone(),
    })
}

/// One of the locks in the state directory. A daemon holding it refuses us; one we cannot create
/// (a full or read-only disk, which the daemon otherwise survives) is a warning, not a refusal.
fn lock_shared(
    what: Shared,
    lock: &Path,
    path: PathBuf,
    socket: &Path,
) -> Result<Option<File>, InstanceError> {
    let dir = lock.parent().unwrap_or(Path::new("."));
    let taken = create_private_dir(dir)
        .map_err(io("cannot create state directory", dir))
        .and_then(|()| lock_file(lock));
    match taken {
        Ok(Lock::Ours(file)) => {
            if let Err(e) = write_holder(&file, socket) {
                tracing::warn!(lock = %lock.display(), "cannot write lock file: {e}");
            }
            Ok(Some(file))
        }
        Ok(Lock::Held(holder)) => Err(InstanceError::InUse {
            what,
            path,
            holder: holder.pid(),
            socket: holder.socket.unwrap_or_else(|| "unknown".to_owned()),
        }),
        Err(e) => {
            tracing::warn!(
                "{e}; a second msclawd {what} {} would not be noticed",
                path.display()
            );
            Ok(None)
        }
    }
}

/// The OpenClaw config as one path for every spelling of it; a config not made yet, by its
/// directory's canonical path.
fn canonical(config: &Path) -> PathBuf {
    if let Ok(path) = config.canonicalize() {
        return path;
    }
    let parent = config.parent().and_then(|p| p.canonicalize().ok());
    match (parent, config.file_name()) {
        (Some(parent), Some(name)) => parent.join(name),
        _ => std::path::absolute(config).unwrap_or_else(|_| config.to_owned()),
    }
}

enum Lock {
    Ours(File),
    Held(Holder),
}

/// Who holds a lock, as its file says: the pid, then the socket, a line each.
struct Holder {
    pid: Option<String>,
    socket: Option<String>,
}

impl Holder {
    fn pid(&self) -> String {
        match &self.pid {
            Some(pid) => format!("pid {pid}"),
            None => "pid unknown".to_owned(),
        }
    }
}

fn lock_file(path: &Path) -> Result<Lock, InstanceError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io("cannot open lock file", path))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock::Ours(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            Ok(Lock::Held(Holder {
                pid: lines.next().map(str::to_owned),
                socket: lines.next().map(str::to_owned),
            }))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io("cannot lock", path)(e)),
    }
}

fn write_holder(mut file: &File, socket: &Path) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}\n{}\n", std::process::id(), socket.display())
}
