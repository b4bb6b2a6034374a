//! One client cannot stall the daemon: a flood of requests the relay answers locally, and
//! requests naming models nobody configured, over real sockets; `status` keeps answering, the
//! state file is written a bounded number of times and stays small.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use msclaw_tests::daemon::{RELAY_TOKEN, start_with_relay};
use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope, GLM5, QWEN};

const WAIT: Duration = Duration::from_secs(10);
const FLOOD_FOR: Duration = Duration::from_secs(4);

async fn chat(client: &reqwest::Client, base: &str, model: &str) -> u16 {
    client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(RELAY_TOKEN)
        .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Counts distinct versions of `path` (atomic writes: a new inode or mtime each) until `stop`.
fn count_writes(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut seen = HashSet::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(m) = std::fs::metadata(&path) {
                seen.insert((m.ino(), m.mtime(), m.mtime_nsec()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        seen.len()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_locally_answered_requests_is_saved_in_batches_and_status_answers_throughout() {
    let fake = FakeModelScope::start(FakeConfig::all_models_quota(100));
    let (_dir, layout, daemon, relay) = start_with_relay(&fake, "2").await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..2 {
        assert_eq!(chat(&client, &relay, QWEN).await, 200);
    }
    daemon
        .wait_for("QWEN spent", WAIT, |s| {
            s.active_model.as_deref() == Some(&format!("modelscope/{GLM5}"))
        })
        .await
        .unwrap();

    // Names nobody configured, 4 KiB long: forwarded, never remembered.
    for i in 0..50 {
        let name = format!("made-up/{i}-{}", "n".repeat(4096));
        chat(&client, &relay, &name).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let writes = count_writes(layout.state_file.clone(), stop.clone());
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut flooders = Vec::new();
    for _ in 0..8 {
        let (relay, sent) = (relay.clone(), sent.clone());
        flooders.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            while started.elapsed() < FLOOD_FOR && sent.load(Ordering::Relaxed) < 200_000 {
                assert_eq!(chat(&client, &relay, QWEN).await, 429, "answered locally");
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    while started.elapsed() < FLOOD_FOR {
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), daemon.status())
            .await
            .expect("status answers during the flood")
            .unwrap();
        slowest = slowest.max(t.elapsed());
        asked += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for f in flooders {
        f.await.unwrap();
    }
    // Let the last batch be saved, then stop counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let writes = writes.join().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    println!(
        "flood: {sent} requests in {FLOOD_FOR:?}, state.json written {writes} times, status asked {asked} times, slowest {slowest:?}"
    );
    assert!(sent > 100, "the flood ran: {sent}");
    assert!(
        slowest < Duration::from_secs(5),
        "status never hangs: {slowest:?}"
    );
    // At most one save per 500 ms (plus the one before and after), never one per request.
    assert!(
        writes <= 16,
        "state.json written {writes} times for {sent} requests"
    );

    let status = daemon.status().await.unwrap();
    assert!(status.models.iter().all(|m| !m.model.contains("made-up")));
    assert!(status.relay.unwrap().answered_locally >= sent);
    let state = std::fs::read_to_string(&layout.state_file).unwrap();
    assert!(
        !state.contains("made-up"),
        "unknown names are not in the state"
    );
    assert!(
        state.len() < 64 << 10,
        "the state stays small: {}",
        state.len()
    );
    daemon.stop().await.unwrap();
}
