//! The daemon's house: status round trip, single instance, stale sockets, hostile clients, modes.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use msclaw_shared::{ConfigState, ErrorCode, PROTOCOL_VERSION, Request, Response};
use msclaw_tests::daemon::{Layout, TestDaemon};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

fn layout() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    (dir, layout)
}

#[tokio::test]
async fn status_round_trip_on_a_fresh_machine_without_openclaw() {
    let (_dir, layout) = layout();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let status = daemon.status().await.unwrap();
    assert_eq!(status.protocol, PROTOCOL_VERSION);
    assert_eq!(status.openclaw_config, ConfigState::Missing);
    assert_eq!(status.active_model, None);
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("no OpenClaw config")),
        "{:?}",
        status.warnings
    );
    assert!(
        status.next_reset.ends_with("+08:00"),
        "{}",
        status.next_reset
    );
    let reply = daemon.request(&Request::Version).await.unwrap();
    assert!(matches!(reply.reply, Ok(Response::Version(v)) if v.protocol == PROTOCOL_VERSION));
    daemon.stop().await.unwrap();
    assert!(!layout.socket.exists(), "the socket is removed on shutdown");
}

#[tokio::test]
async fn a_second_daemon_is_refused_and_names_the_first() {
    let (_dir, layout) = layout();
    let first = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let err = TestDaemon::run_to_end(&layout, layout.settings(""))
        .await
        .expect_err("second daemon must fail");
    let text = format!("{err:#}");
    assert!(
        text.contains("already running") && text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    // The first one is untouched.
    assert!(first.status().await.is_ok());
    first.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_socket_left_by_a_crash_is_recovered() {
    let (_dir, layout) = layout();
    std::fs::create_dir_all(layout.socket.parent().unwrap()).unwrap();
    // A std listener does not unlink its file when dropped: just what a crash leaves.
    drop(std::os::unix::net::UnixListener::bind(&layout.socket).unwrap());
    assert!(layout.socket.exists());
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    assert!(daemon.status().await.is_ok());
    daemon.stop().await.unwrap();
}

async fn raw_exchange(socket: &std::path::Path, bytes: &[u8]) -> String {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    line
}

#[tokio::test]
async fn garbage_huge_lines_and_unknown_requests_get_errors_while_others_are_served() {
    let (_dir, layout) = layout();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();

    // A client that connects and says nothing, and one that sends half a line.
    let _silent = UnixStream::connect(&layout.socket).await.unwrap();
    let mut half = UnixStream::connect(&layout.socket).await.unwrap();
    half.write_all(b"{\"Swi").await.unwrap();

    let reply = raw_exchange(&layout.socket, b"this is not json\n").await;
    let parsed: msclaw_shared::ReplyLine = serde_json::from_str(&reply).unwrap();
    let err = parsed.reply.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.contains("not valid JSON"), "{}", err.message);

    let reply = raw_exchange(&layout.socket, b"{\"Explode\":{}}\n").await;
    let err = serde_json::from_str::<msclaw_shared::ReplyLine>(&reply)
        .unwrap()
        .reply
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.contains("unknown request"), "{}", err.message);

    // A 1 MiB line is answered with an error, and the same connection then still works.
    let mut stream = UnixStream::connect(&layout.socket).await.unwrap();
    let huge = vec![b'x'; 1 << 20];
    let writer = {
        let (mut read, mut write) = stream.split();
        let write_all = async {
            write.write_all(&huge).await.unwrap();
            write.write_all(b"\n\"Status\"\n").await.unwrap();
        };
        let read_two = async {
            let mut reader = BufReader::new(&mut read);
            let mut first = String::new();
            reader.read_line(&mut first).await.unwrap();
            let mut second = String::new();
            reader.read_line(&mut second).await.unwrap();
            (first, second)
        };
        let (_, lines) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(write_all, read_two)
        })
        .await
        .unwrap();
        lines
    };
    let first: msclaw_shared::ReplyLine = serde_json::from_str(&writer.0).unwrap();
    assert_eq!(first.reply.unwrap_err().code, ErrorCode::LineTooLong);
    let second: msclaw_shared::ReplyLine = serde_json::from_str(&writer.1).unwrap();
    assert!(matches!(second.reply, Ok(Response::Status(_))));

    // Meanwhile a normal client is served (a daemon stuck on the hostile client would never
    // answer; how fast it answers is not judged).
    tokio::time::timeout(Duration::from_secs(10), daemon.status())
        .await
        .expect("status hung behind the hostile client")
        .unwrap();
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn socket_is_0600_in_a_0700_directory() {
    let (_dir, layout) = layout();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let socket_mode = std::fs::metadata(&layout.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let dir_mode = std::fs::metadata(layout.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(socket_mode, 0o600, "socket mode {socket_mode:o}");
    assert_eq!(dir_mode, 0o700, "dir mode {dir_mode:o}");
    daemon.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_request_stops_the_daemon_and_removes_the_socket() {
    let (_dir, layout) = layout();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let reply = daemon.request(&Request::Shutdown).await.unwrap();
    assert!(matches!(reply.reply, Ok(Response::Handled(_))));
    for _ in 0..200 {
        if daemon.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(daemon.is_finished());
    daemon.stop().await.unwrap();
    assert!(!layout.socket.exists());
}
