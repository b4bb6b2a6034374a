//! Runs the fake ModelScope server by hand: `cargo run -p msclaw-tests --example
//! fake_modelscope_server -- [SECONDS] [QUOTA]`. Prints its base URL, then one line per request.

use std::time::{Duration, Instant};

use msclaw_tests::fake_modelscope::{FakeConfig, FakeModelScope};

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(600);
    let quota: Option<u32> = args.next().and_then(|s| s.parse().ok());
    let cfg = match quota {
        Some(q) => FakeConfig::all_models_quota(q),
        None => FakeConfig::default(),
    }
    .quota_headers(true);
    let fake = FakeModelScope::start(cfg);
    println!("{}", fake.base_url());
    let end = Instant::now() + Duration::from_secs(secs);
    let mut seen = 0;
    while Instant::now() < end {
        let recs = fake.requests();
        for r in &recs[seen..] {
            println!(
                "{} {} {} model={:?} status={} stream={} include_usage={}",
                r.at, r.method, r.path, r.model, r.status, r.stream, r.include_usage
            );
            if std::env::var_os("FAKE_DUMP_BODY").is_some()
                && let Some(b) = &r.body
            {
                println!("{}", serde_json::to_string_pretty(b).unwrap_or_default());
            }
        }
        seen = recs.len();
        std::thread::sleep(Duration::from_millis(200));
    }
}
