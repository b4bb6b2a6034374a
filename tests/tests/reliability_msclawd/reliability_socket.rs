//! A hostile local client: random bytes, requests cut anywhere, lines far over the limit, invalid
//! UTF-8, half lines left hanging, as property tests against a running daemon. Every complete
//! line gets exactly one reply that parses, and a well-behaved client gets `status` answered the
//! whole time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use msclaw_shared::{ErrorCode, ReplyLine, Request, Response};
use msclaw_tests::daemon::{Layout, TestDaemon};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const CASES: u32 = 96;

#[derive(Debug, Clone)]
enum Segment {
    /// A request line this daemon knows (never Shutdown or EventStream).
    Request(String),
    /// Random bytes (no newline).
    Random(Vec<u8>),
    /// A known request cut short.
    Cut(String, usize),
    /// Far over the 64 KiB line limit.
    Huge(usize),
    /// Not UTF-8.
    Latin1(Vec<u8>),
}

fn segment() -> impl Strategy<Value = Segment> {
    let requests = prop::sample::select(vec![
        r#""Status""#.to_owned(),
        r#""Version""#.to_owned(),
        r#"{"History":{"days":3}}"#.to_owned(),
        r#"{"Switch":{"model":"no-such-model"}}"#.to_owned(),
        r#""Pause""#.to_owned(),
        r#""Resume""#.to_owned(),
        r#""Auto""#.to_owned(),
        r#"  "Status"  "#.to_owned(),
        String::new(),
    ]);
    prop_oneof![
        4 => requests.clone().prop_map(Segment::Request),
        3 => prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..200).prop_map(Segment::Random),
        2 => (requests, 0usize..40).prop_map(|(r, cut)| Segment::Cut(r, cut)),
        1 => (65 * 1024usize..200 * 1024).prop_map(Segment::Huge),
        1 => prop::collection::vec(0x80u8..0xff, 1..20).prop_map(Segment::Latin1),
    ]
}

impl Segment {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Segment::Request(r) => r.clone().into_bytes(),
            Segment::Random(b) | Segment::Latin1(b) => b.clone(),
            Segment::Cut(r, cut) => r.as_bytes()[..(*cut).min(r.len())].to_vec(),
            Segment::Huge(n) => vec![b'{'; *n],
        }
    }
}

static LINES: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static STATUS_CHECKS: AtomicUsize = AtomicUsize::new(0);
static SLOWEST_STATUS_MS: AtomicUsize = AtomicUsize::new(0);

async fn status_answers(layout: &Layout) -> Result<(), TestCaseError> {
    let started = Instant::now();
    // A daemon stuck on the hostile client would never answer: the timeout tells that hang from a
    // slow machine. How fast it answered is reported (slowest), not judged.
    let reply = tokio::time::timeout(Duration::from_secs(10), async {
        let mut client = msclaw_shared::client::Client::connect(&layout.socket)
            .await
            .unwrap();
        client.request(&Request::Status).await
    })
    .await
    .map_err(|_| TestCaseError::fail("status hung behind the hostile client"))?
    .map_err(|e| TestCaseError::fail(format!("status failed: {e}")))?;
    prop_assert!(matches!(reply.reply, Ok(Response::Status(_))), "{reply:?}");
    STATUS_CHECKS.fetch_add(1, Ordering::Relaxed);
    SLOWEST_STATUS_MS.fetch_max(started.elapsed().as_millis() as usize, Ordering::Relaxed);
    Ok(())
}

async fn one_case(
    layout: &Layout,
    segments: Vec<Segment>,
    splits: Vec<usize>,
) -> Result<(), TestCaseError> {
    let mut input = Vec::new();
    for s in &segments {
        input.extend(s.bytes());
        input.push(b'\n');
    }
    BYTES.fetch_add(input.len(), Ordering::Relaxed);
    LINES.fetch_add(segments.len(), Ordering::Relaxed);
    let stream = UnixStream::connect(&layout.socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    // Read the replies while writing, as a client should.
    let reader = tokio::spawn(async move {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(read);
        loop {
            let mut line = String::new();
            match tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(_)) => lines.push(line),
                Ok(Err(e)) => {
                    lines.push(format!("read error: {e}"));
                    break;
                }
            }
        }
        lines
    });
    // Written in pieces cut at random places, with the daemon holding half lines in between, and
    // another client asking for status at each cut.
    let mut cuts: Vec<usize> = splits.into_iter().map(|s| s % (input.len() + 1)).collect();
    cuts.sort();
    cuts.dedup();
    let mut from = 0;
    for cut in cuts.into_iter().chain([input.len()]) {
        write
            .write_all(&input[from..cut])
            .await
            .map_err(|e| TestCaseError::fail(format!("the daemon hung up on this client: {e}")))?;
        from = cut;
        tokio::time::sleep(Duration::from_millis(1)).await;
        status_answers(layout).await?;
    }
    write
        .shutdown()
        .await
        .map_err(|e| TestCaseError::fail(format!("the daemon hung up on this client: {e}")))?;
    let replies = reader.await.unwrap();
    prop_assert_eq!(
        replies.len(),
        segments.len(),
        "one reply per line: {:?}",
        replies
    );
    for (segment, reply) in segments.iter().zip(&replies) {
        let parsed: ReplyLine = serde_json::from_str(reply)
            .map_err(|e| TestCaseError::fail(format!("{e}: {reply}")))?;
        match segment {
            Segment::Request(r) if !r.is_empty() => {
                if r.contains("no-such-model") {
                    prop_assert_eq!(parsed.reply.unwrap_err().code, ErrorCode::Refused);
                } else {
                    prop_assert!(parsed.reply.is_ok(), "{} -> {}", r, reply);
                }
            }
            Segment::Huge(_) => {
                prop_assert_eq!(parsed.reply.unwrap_err().code, ErrorCode::LineTooLong)
            }
            Segment::Latin1(_) => {
                prop_assert_eq!(parsed.reply.unwrap_err().code, ErrorCode::BadRequest)
            }
            _ => {}
        }
    }
    Ok(())
}

#[test]
fn random_input_gets_one_reply_per_line_and_status_is_answered_throughout() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    let daemon = rt
        .block_on(TestDaemon::start(&layout, layout.settings("")))
        .unwrap();
    let started = Instant::now();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        prop::collection::vec(segment(), 1..12),
        prop::collection::vec(any::<usize>(), 0..6),
    );
    let result = runner.run(&strategy, |(segments, splits)| {
        rt.block_on(one_case(&layout, segments, splits))
    });
    // A client that sends half a line and hangs up, then one that stays silent: neither bothers anyone.
    rt.block_on(async {
        let mut half = UnixStream::connect(&layout.socket).await.unwrap();
        half.write_all(b"{\"Switch\":{\"mod").await.unwrap();
        drop(half);
        let _silent = UnixStream::connect(&layout.socket).await.unwrap();
        status_answers(&layout).await.unwrap();
    });
    println!(
        "socket-fuzz: {CASES} cases, {} lines ({} KiB: random bytes, cut requests, lines over 64 KiB, invalid UTF-8, \
         half lines), {} status requests in between, slowest {} ms, {:.1} s: {}",
        LINES.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed) / 1024,
        STATUS_CHECKS.load(Ordering::Relaxed),
        SLOWEST_STATUS_MS.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        if result.is_ok() {
            "every line answered once"
        } else {
            "FAILED"
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(daemon.stop()).unwrap();
}
