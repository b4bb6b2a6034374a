use proptest::prelude::*;

use super::*;

#[test]
fn the_window_keeps_the_last_calls_and_raises_its_floor() {
    let mut r = RecentCalls::default();
    for i in 0..WINDOW as i64 + 2 {
        assert!(!r.counted(i as u64, 100 + i));
        r.note(i as u64, 100 + i);
    }
    assert_eq!(r.keys.len(), WINDOW);
    assert_eq!(r.floor, Some(101), "the two oldest left");
    assert!(r.counted(0, 100), "left the window: at or before the floor");
    assert!(r.counted(5, 105), "in the window");
    assert!(!r.counted(99, 102), "another call after the floor is new");
}

#[test]
fn the_window_is_small_in_json() {
    let mut r = RecentCalls::default();
    for i in 0..100u64 {
        r.note(u64::MAX - i, 1_790_000_000_000 + i as i64);
    }
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.len() < 400, "{} bytes: {text}", text.len());
    assert_eq!(serde_json::from_str::<RecentCalls>(&text).unwrap(), r);
}

#[test]
fn legacy_keys_are_read_in_the_old_format_and_pruned() {
    let old = r#"{"keys":{"00000000000000ff":1000,"0000000000000001":90000000}}"#;
    let mut legacy: LegacySeen = serde_json::from_str(old).unwrap();
    assert!(legacy.contains(0xff));
    assert!(legacy.contains(1));
    legacy.prune(Timestamp::from_millisecond(90_000_000 + 3_600_000).unwrap());
    assert!(!legacy.contains(0xff), "long before the day: gone");
    assert!(legacy.contains(1));
}

/// What one session goes through, as the readers see it: calls appended past the cursor, and
/// re-reads (a rewritten tail, a replaced file, rows behind the cursor) that show old calls again,
/// in any order, mixed with new ones.
#[derive(Debug, Clone)]
enum Step {
    /// A new call past the cursor, `dt` ms after the newest one.
    Append { dt: i64 },
    /// A re-read showing the old calls chosen by `pick` (indexes into those counted) and `new`
    /// calls written into the rewritten part, `dt` ms after the newest one.
    Reread { pick: Vec<usize>, new: Vec<i64> },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1i64..5_000).prop_map(|dt| Step::Append { dt }),
        1 => (proptest::collection::vec(0usize..1000, 0..12), proptest::collection::vec(1i64..5_000, 0..3))
            .prop_map(|(pick, new)| Step::Reread { pick, new }),
    ]
}

proptest! {
    /// Whatever is read again or written twice, no call is counted twice; every new call is
    /// counted (new calls come newer than every call counted before, as a session's do).
    #[test]
    fn no_call_is_counted_twice(steps in proptest::collection::vec(step(), 1..60)) {
        let legacy = LegacySeen::default();
        let mut recent = RecentCalls::default();
        let mut counted: Vec<(u64, i64)> = Vec::new();
        let mut next_id = 0u64;
        let mut newest = 1_790_000_000_000i64;
        let call = |id: u64, at: i64| TranscriptCall {
            entry_id: Some(format!("e{id}")),
            provider: "modelscope".into(),
            model: "m".into(),
            at: Timestamp::from_millisecond(at).unwrap(),
            outcome: crate::usage::CallOutcome::Success,
        };
        for step in steps {
            match step {
                Step::Append { dt } => {
                    newest += dt;
                    next_id += 1;
                    let got = admit(&legacy, &mut recent, "a", "s", call(next_id, newest), String::new, SourceKind::Sqlite);
                    prop_assert!(got.is_some(), "a call past the cursor is counted");
                    counted.push((next_id, newest));
                }
                Step::Reread { pick, new } => {
                    for p in pick {
                        if counted.is_empty() { break; }
                        let (id, at) = counted[p % counted.len()];
                        let got = admit(&legacy, &mut recent, "a", "s", call(id, at), String::new, SourceKind::Sqlite);
                        prop_assert!(got.is_none(), "call e{id} counted twice");
                    }
                    for dt in new {
                        newest += dt;
                        next_id += 1;
                        let got = admit(&legacy, &mut recent, "a", "s", call(next_id, newest), String::new, SourceKind::Sqlite);
                        prop_assert!(got.is_some(), "a newer call in a rewrite is counted");
                        counted.push((next_id, newest));
                    }
                }
            }
            prop_assert!(recent.keys.len() <= WINDOW);
        }
    }

    /// Keys in an older state file's set are never counted again, whichever way they are read.
    #[test]
    fn legacy_keys_are_never_counted_again(n in 1usize..40) {
        let at = 1_790_000_000_000i64;
        let keys: Vec<(u64, i64)> = (0..n).map(|i| (call_key("a", "s", &format!("e{i}"), at + i as i64), at + i as i64)).collect();
        let legacy = LegacySeen::of(&keys);
        let mut recent = RecentCalls::default();
        for i in 0..n {
            let call = TranscriptCall {
                entry_id: Some(format!("e{i}")),
                provider: "modelscope".into(),
                model: "m".into(),
                at: Timestamp::from_millisecond(at + i as i64).unwrap(),
                outcome: crate::usage::CallOutcome::Success,
            };
            prop_assert!(admit(&legacy, &mut recent, "a", "s", call, String::new, SourceKind::Sqlite).is_none());
        }
    }
}
