//! The wall clock moving under the daemon (`ShiftedClock`): forward past midnight Asia/Shanghai
//! (one reset), back an hour (no second reset, counts kept), forward again (nothing), and a
//! machine off for a weekend (one reset, on the right day). The engine checks the wall clock on
//! every message it handles, so each status request below is also a wall-clock check.

use std::time::Duration;

use jiff::{SignedDuration, ToSpan, tz::TimeZone};
use msclaw_shared::{Request, Response, Status};
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, QWEN};
use msclawd::clock::Clock;

const WAIT: Duration = Duration::from_secs(10);

fn qwen_used(s: &Status) -> u32 {
    s.models[0].used
}

#[tokio::test]
async fn resets_follow_the_shanghai_day_whatever_the_wall_clock_does() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    std::fs::write(
        &layout.openclaw_config,
        transcripts::guide_config("http://127.0.0.1:9/v1", ""),
    )
    .unwrap();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    // Four days ago, ten seconds before midnight in Shanghai (in the past, so OpenClaw's files,
    // written now, are never "older than the quota day").
    let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(shanghai.clone())
        .date();
    let day = |n: i64| today.checked_add(n.days()).unwrap();
    let d = day(-4);
    let clock = msclawd::clock::ShiftedClock::new();
    clock.set(
        d.at(23, 59, 50, 0)
            .to_zoned_datetime(shanghai.clone())
            .unwrap()
            .timestamp(),
    );

    let daemon =
        TestDaemon::start_with_clock(&layout, layout.settings("daily_limit = 3\n"), clock.clone())
            .await
            .unwrap();
    let mut events = msclaw_shared::client::Client::connect(&layout.socket)
        .await
        .unwrap();
    events.request(&Request::EventStream).await.unwrap();
    let resets = tokio::spawn(async move {
        let mut days = Vec::new();
        while let Ok(Some(event)) = events.next_event().await {
            if let msclaw_shared::EventKind::Reset { day } = event.kind {
                days.push(day);
            }
        }
        days
    });
    let call = |model: &str| {
        session.append(&transcripts::assistant_reply(
            "modelscope",
            model,
            clock.now().as_millisecond(),
        ));
        std::thread::sleep(Duration::from_millis(2));
    };
    let s = daemon.status().await.unwrap();
    assert_eq!(s.day, d.to_string());
    for _ in 0..3 {
        call(QWEN);
    }
    let s = daemon
        .wait_for("Qwen spent, GLM active", WAIT, |s| {
            s.active_model.as_deref() == Some(&format!("modelscope/{GLM}"))
        })
        .await
        .unwrap();
    assert_eq!(qwen_used(&s), 3);

    // 1. Forward past midnight: the reset, once; Qwen again.
    clock.shift(SignedDuration::from_secs(20));
    let s = daemon
        .wait_for("the reset", WAIT, |s| s.day == day(-3).to_string())
        .await
        .unwrap();
    assert_eq!(qwen_used(&s), 0);
    assert_eq!(
        s.active_model.as_deref(),
        Some(format!("modelscope/{QWEN}").as_str())
    );
    for _ in 0..2 {
        call(QWEN);
    }
    daemon
        .wait_for("2 calls", WAIT, |s| qwen_used(s) == 2)
        .await
        .unwrap();

    // 2. Back an hour (NTP, a user fixing the clock): still the new day, counts kept, no reset.
    clock.shift(SignedDuration::from_hours(-1));
    for _ in 0..10 {
        let s = daemon.status().await.unwrap();
        assert_eq!(
            s.day,
            day(-3).to_string(),
            "the day went back with the clock"
        );
        assert_eq!(qwen_used(&s), 2, "counts kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A call made meanwhile carries the late clock's time; it is a call of the current day.
    call(QWEN);
    let s = daemon
        .wait_for("the third call counted", WAIT, |s| qwen_used(s) == 3)
        .await
        .unwrap();
    assert_eq!(s.day, day(-3).to_string());

    // 3. Forward again to where it was: the same day, nothing happens.
    clock.shift(SignedDuration::from_hours(1));
    for _ in 0..10 {
        let s = daemon.status().await.unwrap();
        assert_eq!(
            (s.day.as_str(), qwen_used(&s)),
            (day(-3).to_string().as_str(), 3)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 4. Off for a weekend: back on two days later, mid-morning. One reset, landing on that day.
    clock.set(
        day(-1)
            .at(10, 0, 0, 0)
            .to_zoned_datetime(shanghai.clone())
            .unwrap()
            .timestamp(),
    );
    let s = daemon
        .wait_for("the reset after the weekend", WAIT, |s| {
            s.day == day(-1).to_string()
        })
        .await
        .unwrap();
    assert_eq!(qwen_used(&s), 0);
    assert_eq!(
        s.active_model.as_deref(),
        Some(format!("modelscope/{QWEN}").as_str())
    );
    call(QWEN);
    daemon
        .wait_for("1 call", WAIT, |s| qwen_used(s) == 1)
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(daemon.status().await.unwrap().day, day(-1).to_string());
    }

    let history = match daemon
        .request(&Request::History { days: 10 })
        .await
        .unwrap()
        .reply
    {
        Ok(Response::History(h)) => h,
        other => panic!("{other:?}"),
    };
    daemon.stop().await.unwrap();
    let resets = resets.await.unwrap();
    let days: Vec<(String, u32)> = history
        .days
        .iter()
        .map(|d| (d.day.clone(), d.models[0].used))
        .collect();
    println!(
        "clock: forward past midnight, back 1 h, forward 1 h, a skipped weekend: resets on {resets:?} (want [{}, {}]); \
         Qwen per day {days:?}",
        day(-3),
        day(-1)
    );
    assert_eq!(
        resets,
        vec![day(-3).to_string(), day(-1).to_string()],
        "one reset per day change, none backwards"
    );
    assert_eq!(
        days,
        vec![
            (d.to_string(), 3),
            (day(-3).to_string(), 3),
            (day(-1).to_string(), 1)
        ]
    );
}
