use super::scan::decode_zstd;
use super::*;

#[test]
fn zstd_decoding_checks_the_recorded_size() {
    let text = r#"{"type":"message"}"#;
    let blob = zstd::bulk::compress(text.as_bytes(), 1).unwrap();
    assert_eq!(decode_zstd(&blob, text.len() as i64).as_deref(), Some(text));
    assert_eq!(decode_zstd(&blob, text.len() as i64 + 1), None);
    assert_eq!(decode_zstd(&blob, text.len() as i64 - 1), None);
    assert_eq!(decode_zstd(&blob, 0), None);
    assert_eq!(decode_zstd(b"not zstd", 10), None);
    assert_eq!(
        decode_zstd(&blob[..blob.len() - 2], text.len() as i64),
        None
    );
}

#[test]
fn cursor_state_round_trips_through_json() {
    let mut st = SqliteState::default();
    let c = st.dbs.entry("main".into()).or_default();
    c.file = FileId { dev: 1, ino: 2 };
    c.meta_created_at = Some(5);
    c.sessions.insert("s".into(), 7);
    st.seen = LegacySeen::of(&[(9, 100)]);
    let cursors = SqliteCursors(st);
    let back: SqliteCursors =
        serde_json::from_str(&serde_json::to_string(&cursors).unwrap()).unwrap();
    assert_eq!(back, cursors);
    // an empty/older state file still loads
    let empty: SqliteCursors = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, SqliteCursors::default());
}
