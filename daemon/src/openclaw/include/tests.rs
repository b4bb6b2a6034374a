//! Include bounds (issue 11 point 5): nothing a config points at can block or balloon a read.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use super::*;

fn resolve(top: &Path) -> Result<Value, ConfigError> {
    resolved_value(top, &HashMap::new())
}

fn message(r: Result<Value, ConfigError>) -> String {
    r.expect_err("should fail").to_string()
}

#[test]
fn a_fifo_config_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("openclaw.json");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &top,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let t = Instant::now();
    assert!(message(resolve(&top)).contains("not a regular file"));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn dev_zero_and_oversized_includes_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("openclaw.json");
    fs::write(&top, r#"{ "$include": "/dev/zero" }"#).unwrap();
    assert!(message(resolve(&top)).contains("escapes config directory"));
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.json5")).unwrap();
    fs::write(&top, r#"{ "$include": "./zero.json5" }"#).unwrap();
    assert!(message(resolve(&top)).contains("outside config directory (symlink)"));
    let mut big = vec![b' '; MAX_INCLUDE_FILE_BYTES as usize - 2];
    big.extend_from_slice(b"{}");
    fs::write(dir.path().join("big.json5"), &big).unwrap();
    fs::write(&top, r#"{ "$include": "./big.json5" }"#).unwrap();
    assert!(resolve(&top).is_ok(), "exactly 2 MiB is accepted");
    big.push(b' ');
    fs::write(dir.path().join("big.json5"), &big).unwrap();
    assert!(message(resolve(&top)).contains("failed security checks"));
}

#[test]
fn includes_outside_the_config_dir_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("cfg")).unwrap();
    fs::write(dir.path().join("x.json5"), "{}").unwrap();
    let top = dir.path().join("cfg/openclaw.json");
    fs::write(&top, r#"{ "$include": "../x.json5" }"#).unwrap();
    assert!(message(resolve(&top)).contains("Include path escapes config directory"));
}

#[test]
fn ten_nested_levels_are_fine_eleven_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("openclaw.json");
    fs::write(&top, r#"{ "$include": "./f1.json5" }"#).unwrap();
    for i in 1..=11 {
        let next = format!("{{ \"$include\": \"./f{}.json5\" }}", i + 1);
        fs::write(dir.path().join(format!("f{i}.json5")), next).unwrap();
    }
    fs::write(dir.path().join("f11.json5"), "{ a: 1 }").unwrap();
    assert!(message(resolve(&top)).contains("Maximum include depth (10) exceeded"));
    fs::write(dir.path().join("f10.json5"), "{ a: 1 }").unwrap();
    assert!(resolve(&top).is_ok());
}

#[test]
fn a_fan_out_of_includes_stops_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("openclaw.json");
    let ten = |next: &str| {
        format!(
            "{{ \"$include\": [{}] }}",
            vec![format!("\"./{next}\""); 10].join(", ")
        )
    };
    fs::write(&top, ten("l1.json5")).unwrap();
    for level in 1..8 {
        fs::write(
            dir.path().join(format!("l{level}.json5")),
            ten(&format!("l{}.json5", level + 1)),
        )
        .unwrap();
    }
    fs::write(dir.path().join("l8.json5"), "{}").unwrap();
    let t = Instant::now();
    assert!(message(resolve(&top)).contains("$include tree is too big"));
    assert!(t.elapsed() < Duration::from_secs(5));
}
