use super::*;

#[test]
fn fnv_is_stable_and_separates_parts() {
    // Persisted keys depend on these exact values.
    assert_eq!(fnv1a64(&[b""]), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    assert_ne!(fnv1a64(&[b"ab", b"c"]), fnv1a64(&[b"a", b"bc"]));
}

#[test]
fn source_error_display_names_the_file() {
    let e = SourceError::new(
        Path::new("/x/y.sqlite"),
        SourceErrorKind::Locked,
        "database is locked",
    );
    assert_eq!(e.to_string(), "/x/y.sqlite: locked: database is locked");
}

#[test]
fn lines_are_read_only_when_complete() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    std::fs::write(&p, b"one\ntwo\r\nthr").unwrap();
    let mut f = std::fs::File::open(&p).unwrap();
    let mut got = Vec::new();
    let r = read_lines_from(&p, &mut f, 0, false, |l, at| {
        got.push((String::from_utf8_lossy(l).into_owned(), at))
    })
    .unwrap();
    assert_eq!(got, vec![("one".into(), 0), ("two".into(), 4)]);
    assert_eq!(r.end, 9);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(b"ee\n")
        .unwrap();
    got.clear();
    let r = read_lines_from(&p, &mut f, r.end, false, |l, at| {
        got.push((String::from_utf8_lossy(l).into_owned(), at))
    })
    .unwrap();
    assert_eq!(got, vec![("three".into(), 9)]);
    assert_eq!(r.end, 15);
    assert_eq!(last_line_boundary(&mut f, 15).unwrap(), 15);
    assert_eq!(last_line_boundary(&mut f, 12).unwrap(), 9);
    assert_eq!(last_line_boundary(&mut f, 3).unwrap(), 0);
}
