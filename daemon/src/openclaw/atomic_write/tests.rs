use super::*;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

thread_local! {
    static BEFORE_FINAL_CHECK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        std::cell::RefCell::new(None);
}

/// Runs (once) what a test scheduled for the moment between writing the temp file and the
/// final comparison.
pub(super) fn run_before_final_check() {
    if let Some(f) = BEFORE_FINAL_CHECK.with(|h| h.borrow_mut().take()) {
        f();
    }
}

thread_local! {
    static BEFORE_SWAP: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        std::cell::RefCell::new(None);
}

/// Runs (once) what a test scheduled for the instant after the final comparison, right before
/// the temp file is swapped in: the window a plain rename cannot protect.
pub(super) fn run_before_swap() {
    if let Some(f) = BEFORE_SWAP.with(|h| h.borrow_mut().take()) {
        f();
    }
}

#[test]
fn a_write_after_the_final_check_is_swapped_back_not_lost() {
    for by_rename in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("openclaw.json");
        fs::write(&p, b"old").unwrap();
        let p2 = p.clone();
        BEFORE_SWAP.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                if by_rename {
                    // `openclaw config set`: a temp file renamed over.
                    let t = p2.with_file_name("oc.tmp");
                    fs::write(&t, b"old + user edit").unwrap();
                    fs::rename(&t, &p2).unwrap();
                } else {
                    // An editor saving in place, or an append.
                    let mut f = fs::OpenOptions::new().append(true).open(&p2).unwrap();
                    f.write_all(b" + user edit").unwrap();
                }
            }))
        });
        let err = replace_if_unchanged(&p, b"mine", Some(b"old")).unwrap_err();
        assert!(matches!(err, WriteError::Conflict { .. }), "{err:?}");
        assert_eq!(
            fs::read(&p).unwrap(),
            b"old + user edit",
            "the other write is back in place (by rename: {by_rename})"
        );
        assert!(leftovers(dir.path()).is_empty(), "no temp file left");
        // The caller's redo on the new text goes through.
        replace_if_unchanged(&p, b"mine on top", Some(b"old + user edit")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"mine on top");
    }
}

#[test]
fn change_after_temp_written_is_caught_by_final_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("openclaw.json");
    fs::write(&p, b"old").unwrap();
    let p2 = p.clone();
    let dir2 = dir.path().to_path_buf();
    BEFORE_FINAL_CHECK.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            // The temp file exists at this point...
            assert_eq!(leftovers(&dir2).len(), 1);
            // ...and someone else writes the config.
            fs::write(&p2, b"user edit").unwrap();
        }))
    });
    let err = replace_if_unchanged(&p, b"mine", Some(b"old")).unwrap_err();
    assert!(matches!(err, WriteError::Conflict { .. }), "{err:?}");
    assert_eq!(fs::read(&p).unwrap(), b"user edit");
    assert!(leftovers(dir.path()).is_empty(), "temp file removed");
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".msclaw-"))
        .collect()
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn replaces_when_unchanged_and_keeps_mode() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("openclaw.json");
    fs::write(&p, b"old").unwrap();
    #[cfg(unix)]
    fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
    replace_if_unchanged(&p, b"new", Some(b"old")).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new");
    #[cfg(unix)]
    assert_eq!(mode_of(&p), 0o640);
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn conflict_writes_nothing_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("openclaw.json");
    fs::write(&p, b"someone else's edit").unwrap();
    let err = replace_if_unchanged(&p, b"mine", Some(b"what I read")).unwrap_err();
    assert!(
        matches!(err, WriteError::Conflict { ref path } if path == &p),
        "{err:?}"
    );
    assert_eq!(fs::read(&p).unwrap(), b"someone else's edit");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn none_expected_means_must_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("new.json");
    replace_if_unchanged(&p, b"first", None).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"first");
    #[cfg(unix)]
    assert_eq!(mode_of(&p), 0o600);
    let err = replace_if_unchanged(&p, b"second", None).unwrap_err();
    assert!(matches!(err, WriteError::Conflict { .. }));
    assert_eq!(fs::read(&p).unwrap(), b"first");
    // A file that vanished is a conflict too, and is not recreated.
    fs::remove_file(&p).unwrap();
    let err = replace_if_unchanged(&p, b"third", Some(b"first")).unwrap_err();
    assert!(matches!(err, WriteError::Conflict { .. }));
    assert!(!p.exists());
}

#[cfg(unix)]
#[test]
fn symlink_target_is_replaced_link_stays() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("dotfiles");
    fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("openclaw.json");
    fs::write(&real, b"old").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("openclaw.json");
    std::os::unix::fs::symlink("dotfiles/openclaw.json", &link).unwrap();

    replace_if_unchanged(&link, b"new", Some(b"old")).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("dotfiles/openclaw.json")
    );
    assert_eq!(fs::read(&real).unwrap(), b"new");
    assert_eq!(mode_of(&real), 0o600);
    assert!(leftovers(dir.path()).is_empty());
    assert!(leftovers(&real_dir).is_empty());
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let err = write_new_or_replace(&a, b"x", 0o600).unwrap_err();
    assert!(matches!(err, WriteError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("symlinks"), "{err}");
}

#[cfg(unix)]
#[test]
fn write_new_or_replace_modes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("state.json");
    write_new_or_replace(&p, b"1", 0o640).unwrap();
    assert_eq!(mode_of(&p), 0o640);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    write_new_or_replace(&p, b"2", 0o644).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"2");
    assert_eq!(mode_of(&p), 0o600, "an existing file keeps its mode");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn failed_rename_leaves_target_and_no_temp() {
    // A directory where the file should be: the rename fails after the temp file was written.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("openclaw.json");
    fs::create_dir(&p).unwrap();
    fs::write(p.join("inside"), b"keep").unwrap();
    let err = write_new_or_replace(&p, b"x", 0o600).unwrap_err();
    match &err {
        WriteError::Io { path, action, .. } => {
            assert_eq!(path, &p);
            assert_eq!(*action, "rename the temp file over");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("openclaw.json"), "{err}");
    assert!(p.is_dir());
    assert_eq!(fs::read(p.join("inside")).unwrap(), b"keep");
    assert!(leftovers(dir.path()).is_empty());
}

#[cfg(unix)]
#[test]
fn temp_files_of_killed_writers_are_removed_but_a_live_writers_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("openclaw.json");
    fs::write(&p, b"old").unwrap();
    // What a SIGKILL leaves: a temp file nobody holds.
    let dead = dir.path().join(".openclaw.json.msclaw-AbC123.tmp");
    fs::write(&dead, b"half").unwrap();
    // A writer that is still running holds its temp file locked.
    let live = dir.path().join(".openclaw.json.msclaw-LiVe99.tmp");
    fs::write(&live, b"in flight").unwrap();
    let holder = File::open(&live).unwrap();
    holder.try_lock().unwrap();
    // Someone else's file with a similar name, and another target's temp file.
    let other = dir.path().join(".openclaw.json.msclaw-notes.txt");
    fs::write(&other, b"x").unwrap();
    let other_target = dir.path().join(".state.json.msclaw-Zz9.tmp");
    fs::write(&other_target, b"x").unwrap();

    replace_if_unchanged(&p, b"new", Some(b"old")).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new");
    assert!(
        !dead.exists(),
        "the dead writer's temp file is removed by the next write"
    );
    assert!(live.exists(), "a live writer's temp file is left alone");
    assert!(other.exists() && other_target.exists());

    drop(holder);
    assert_eq!(
        remove_stale_temp_files(&p),
        1,
        "once its writer is gone it goes too"
    );
    assert!(!live.exists());
    assert_eq!(remove_stale_temp_files(&p), 0);
}

#[test]
fn missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("no-such-dir").join("f.json");
    let err = write_new_or_replace(&p, b"x", 0o600).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(err.to_string().contains("create a temp file in"), "{err}");
}

#[test]
fn a_file_is_compared_chunk_by_chunk_to_the_last_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    // Over three chunks, so a difference in the last one and a length off by one both show.
    let text: Vec<u8> = (0..COMPARE_CHUNK * 3 + 17)
        .map(|i| (i % 251) as u8)
        .collect();
    fs::write(&path, &text).unwrap();
    let holds = |expected: &[u8]| holds_exactly(File::open(&path).unwrap(), expected).unwrap();
    assert!(holds(&text));
    assert!(!holds(&text[..text.len() - 1]), "the file is longer");
    let mut longer = text.clone();
    longer.push(b'x');
    assert!(!holds(&longer), "the file is shorter");
    let mut late = text.clone();
    *late.last_mut().unwrap() ^= 1;
    assert!(!holds(&late), "a difference in the last chunk");
    assert!(matches!(
        replace_if_unchanged(&path, b"{}", Some(&late)),
        Err(WriteError::Conflict { .. })
    ));
    replace_if_unchanged(&path, b"{}", Some(&text)).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"{}");
}
