//! Issue 11 points 3 and 4: OpenClaw's location rule, only the user's own files, only this
//! profile's files. Runs as root in CI (chown to another uid needs it).

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::files::profile_family;
use super::*;

const OTHER_UID: u32 = 65534;
const LINE: &str = r#"{"1":"[model-fetch] response provider=p api=a model=m status=429 elapsedMs=1","_meta":{"date":"2026-12-03T01:00:00.000Z"},"time":"2026-12-03T01:00:00.000Z"}"#;

fn env_of(pairs: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> + use<> {
    let map: HashMap<String, OsString> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

fn signals(loc: LogLocation) -> Result<usize, SourceError> {
    let mut src = GatewayLogSource::new(loc, GatewayLogCursor::default()).start_at_end(false);
    src.poll().map(|s| s.len())
}

fn write_log(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), format!("{LINE}\n")).unwrap();
    std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn private_dir(root: &Path, name: &str) -> std::path::PathBuf {
    let d = root.join(name);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

#[test]
fn profile_segments_are_openclaws_encoding() {
    assert_eq!(profile_family(Some("work")), "openclaw-work");
    assert_eq!(profile_family(Some("Work_1")), "openclaw--1work-01");
    let long = "a".repeat(64);
    assert_eq!(profile_family(Some(&long)), format!("openclaw-{long}"));
    let long_upper = "A".repeat(64);
    assert_eq!(
        profile_family(Some(&long_upper)),
        format!("openclaw-{}", "-1a".repeat(64))
    );
}

#[test]
fn a_foreign_preferred_dir_falls_back_to_tmpdir_openclaw_uid() {
    let root = tempfile::tempdir().unwrap();
    let preferred = private_dir(root.path(), "openclaw");
    let tmp = root.path().join("tmp");
    let tmp_slash = root.path().join("tmp/");
    let env = env_of(&[(PREFERRED_DIR_ENV, &preferred), ("TMPDIR", &tmp_slash)]);
    let own = resolve_log_location(None, None, Some("work"), &env);
    assert_eq!(
        own.location,
        LogLocation::ProfileDir {
            dir: preferred.clone(),
            profile: Some("work".into())
        }
    );
    std::os::unix::fs::chown(&preferred, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let r = resolve_log_location(None, None, None, &env);
    let fallback = tmp.join(format!("openclaw-{}", rustix::process::getuid().as_raw()));
    assert_eq!(
        r.location,
        LogLocation::ProfileDir {
            dir: fallback,
            profile: None
        }
    );
    let note = r.note.unwrap();
    assert!(note.contains("is owned by uid 65534; following"), "{note}");
}

#[test]
fn a_foreign_or_world_writable_log_dir_is_not_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = private_dir(root.path(), "openclaw");
    write_log(&dir, "openclaw-2026-12-03.log");
    let loc = LogLocation::ProfileDir {
        dir: dir.clone(),
        profile: None,
    };
    assert_eq!(signals(loc.clone()).unwrap(), 1);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(signals(loc.clone()).is_err());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&dir, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    assert!(signals(loc).is_err());
}

#[test]
fn a_symlinked_or_foreign_log_file_is_not_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = private_dir(root.path(), "openclaw");
    let elsewhere = private_dir(root.path(), "elsewhere");
    write_log(&elsewhere, "planted.log");
    std::os::unix::fs::symlink(
        elsewhere.join("planted.log"),
        dir.join("openclaw-2026-12-03.log"),
    )
    .unwrap();
    let loc = LogLocation::ProfileDir {
        dir: dir.clone(),
        profile: None,
    };
    assert_eq!(signals(loc.clone()).unwrap(), 0);
    assert_eq!(
        signals(LogLocation::File(dir.join("openclaw-2026-12-03.log"))).unwrap(),
        0
    );
    write_log(&dir, "openclaw-2026-12-04.log");
    std::os::unix::fs::chown(dir.join("openclaw-2026-12-04.log"), Some(OTHER_UID), None).unwrap();
    assert_eq!(signals(loc).unwrap(), 0);
}

#[test]
fn each_profile_reads_only_its_own_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = private_dir(root.path(), "openclaw");
    write_log(&dir, "openclaw-2026-12-03.log");
    write_log(&dir, "openclaw-work-2026-12-04.log");
    std::fs::write(
        dir.join("openclaw-work-2026-12-04.log"),
        format!("{LINE}\n{LINE}\n"),
    )
    .unwrap();
    let env = env_of(&[(PREFERRED_DIR_ENV, &dir)]);
    let default = resolve_log_location(None, None, None, &env).location;
    let work = resolve_log_location(None, None, Some("work"), &env).location;
    assert_eq!(signals(default).unwrap(), 1);
    assert_eq!(signals(work).unwrap(), 2);
    // msclaw's gateway_log naming a directory is pinned to the profile too.
    let setting = resolve_log_location(Some(&dir), None, None, &env).location;
    assert_eq!(signals(setting).unwrap(), 1);
}
