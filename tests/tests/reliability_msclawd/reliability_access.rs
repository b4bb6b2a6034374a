//! Local access: the socket is 0600 in a 0700 directory, both owned by the user, and a process of
//! another uid cannot connect (EACCES), even when the user loosened the directory. Running a
//! client as another uid needs root (setuid); without it this test fails and says so.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use msclaw_tests::daemon::{Layout, TestDaemon};

/// nobody/nogroup on most systems; any uid but ours would do.
const OTHER_UID: u32 = 65534;
const EACCES: i32 = 13;

/// The helper binary copied where `OTHER_UID` can run it: the build's own copy sits in the
/// checkout's target dir, which may be under a directory only we can enter (a clone in /root).
struct HelperForOtherUid {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl HelperForOtherUid {
    fn install() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("msclaw-access-helper-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("msclaw-reliability-helper");
        std::fs::copy(env!("CARGO_BIN_EXE_msclaw-reliability-helper"), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        HelperForOtherUid { _dir: dir, path }
    }

    /// `connect` to `socket` as `OTHER_UID`: `Ok(())` or the errno.
    fn connect(&self, socket: &Path) -> Result<(), i32> {
        connect_as_other_uid(&self.path, socket)
    }
}

/// `connect` to `socket` as `OTHER_UID` by running `helper`: `Ok(())` or the errno.
fn connect_as_other_uid(helper: &Path, socket: &Path) -> Result<(), i32> {
    let out = Command::new(helper)
        .args(["connect", socket.to_str().unwrap()])
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the helper as uid {OTHER_UID}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "helper failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match text.strip_prefix("err ") {
        None if text == "ok" => Ok(()),
        Some(rest) => Err(rest.split_whitespace().next().unwrap().parse().unwrap()),
        None => panic!("helper said {text:?}"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn another_uid_cannot_connect() {
    let me = rustix::process::getuid();
    assert!(
        me.is_root(),
        "this test runs a client as another uid (uid {OTHER_UID}) to prove it is refused, which needs root \
         (setuid); it runs as uid {}. Run the test suite as root (CI does) to check local access.",
        me.as_raw()
    );
    let helper = HelperForOtherUid::install();
    // In /tmp, whatever TMPDIR says, so the other uid can reach it: everything above msclaw's own
    // directory open to all, its own modes are the only barrier.
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::set_permissions(
        dir.path().join("run"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let layout = Layout::in_dir(dir.path());
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let socket_dir = layout.socket.parent().unwrap();

    // Modes and owner.
    assert_eq!(mode(&layout.socket), 0o600);
    assert_eq!(mode(socket_dir), 0o700);
    assert_eq!(
        std::fs::metadata(&layout.socket).unwrap().uid(),
        me.as_raw()
    );
    assert_eq!(std::fs::metadata(socket_dir).unwrap().uid(), me.as_raw());

    // A control: the other uid can connect to a socket that lets it (so a refusal below is the
    // modes' doing, not a broken uid switch).
    let open_socket = dir.path().join("open.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&open_socket).unwrap();
    std::fs::set_permissions(&open_socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(
        helper.connect(&open_socket),
        Ok(()),
        "control: an open socket accepts uid {OTHER_UID}"
    );

    // The daemon's socket, as set up.
    assert_eq!(helper.connect(&layout.socket), Err(EACCES));
    // The user loosened the directory: the socket's own 0600 still refuses.
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(helper.connect(&layout.socket), Err(EACCES));
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // We still get in.
    daemon.status().await.unwrap();
    daemon.stop().await.unwrap();

    // A socket directory that belongs to someone else is refused at start.
    let dir2 = tempfile::tempdir().unwrap();
    let layout2 = Layout::in_dir(dir2.path());
    let theirs = layout2.socket.parent().unwrap();
    std::fs::create_dir_all(theirs).unwrap();
    std::os::unix::fs::chown(theirs, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let err = TestDaemon::run_to_end(&layout2, layout2.settings(""))
        .await
        .expect_err("must refuse");
    let text = format!("{err:#}");
    assert!(
        text.contains("not by you") && text.contains(&OTHER_UID.to_string()),
        "{text}"
    );
    assert!(!layout2.socket.exists());

    println!(
        "local-access: socket 0600 in a 0700 dir owned by uid {}; uid {OTHER_UID} refused with EACCES (2/2 attempts, \
         also with the dir loosened to 0755; control socket 0666 accepted it); a socket dir owned by uid {OTHER_UID} \
         refused at start",
        me.as_raw()
    );
}
