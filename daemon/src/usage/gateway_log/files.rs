//! Which files hold the gateway log: OpenClaw's rolling names (`openclaw[-<profile>]-YYYY-MM-DD
//! [.N].log`), a fixed `logging.file` and its `.N` archives, and which family of files to follow.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

use super::access::{check_dir, check_file};
use super::{GatewayLogSource, LogLocation};
use crate::usage::{SourceError, fnv1a64};

/// One log file that may hold lines to read.
pub(super) struct Candidate {
    pub(super) path: PathBuf,
    pub(super) meta: Metadata,
    pub(super) family: String,
    /// `YYYY-MM-DD`, or empty for a fixed file.
    pub(super) date: String,
    /// 0 for the live file, N for the `.N` archive.
    pub(super) archive: u32,
}

/// The files a [`LogLocation`] stands for.
enum FollowedFiles {
    /// Dated files in `dir`, of one family when it is pinned (else the family is chosen).
    Rolling {
        dir: PathBuf,
        pinned: Option<String>,
    },
    /// One fixed file and its `.N` archives.
    Fixed(PathBuf),
}

impl GatewayLogSource {
    /// The log files to follow, oldest first; the live file last.
    pub(super) fn candidates(&self) -> Result<Vec<Candidate>, SourceError> {
        let (dir, pinned) = match self.followed_files() {
            FollowedFiles::Fixed(file) => return Ok(fixed_file_candidates(file)),
            FollowedFiles::Rolling { dir, pinned } => (dir, pinned),
        };
        let mut all = rolling_candidates(&dir)?;
        let Some(family) = pinned.or_else(|| self.family_to_follow(&all)) else {
            return Ok(Vec::new());
        };
        all.retain(|c| c.family == family);
        all.sort_by(|a, b| {
            (&a.date, a.archive == 0, std::cmp::Reverse(a.archive)).cmp(&(
                &b.date,
                b.archive == 0,
                std::cmp::Reverse(b.archive),
            ))
        });
        Ok(all)
    }

    /// The newest file followed and when it was last written (doctor's check).
    pub fn newest_file(&self) -> Result<Option<(PathBuf, std::time::SystemTime)>, SourceError> {
        Ok(self
            .candidates()?
            .pop()
            .and_then(|c| Some((c.path, c.meta.modified().ok()?))))
    }

    fn followed_files(&self) -> FollowedFiles {
        match &self.loc {
            LogLocation::Dir(d) => FollowedFiles::Rolling {
                dir: d.clone(),
                pinned: None,
            },
            LogLocation::ProfileDir { dir, profile } => FollowedFiles::Rolling {
                dir: dir.clone(),
                pinned: Some(profile_family(profile.as_deref())),
            },
            LogLocation::File(f) => {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // OpenClaw treats a configured default-shaped rolling name as rolling.
                if name == "openclaw-YYYY-MM-DD.log"
                    || parse_rolling(name).is_some_and(|r| r.0 == "openclaw")
                {
                    FollowedFiles::Rolling {
                        dir: self.watch_dir(),
                        pinned: Some("openclaw".to_owned()),
                    }
                } else {
                    FollowedFiles::Fixed(f.clone())
                }
            }
        }
    }

    /// Stay with the profile already followed while it has files; else the newest file's.
    fn family_to_follow(&self, all: &[Candidate]) -> Option<String> {
        let current = self
            .state
            .0
            .file
            .as_ref()
            .and_then(|p| parse_rolling(p.path.file_name()?.to_str()?).map(|r| r.0.to_owned()));
        current
            .filter(|f| all.iter().any(|c| &c.family == f))
            .or_else(|| {
                all.iter()
                    .max_by(|a, b| {
                        (&a.date, a.meta.modified().ok()).cmp(&(&b.date, b.meta.modified().ok()))
                    })
                    .map(|c| c.family.clone())
            })
    }
}

/// A fixed file's archives (`.5` … `.1`) and the file itself, those that exist.
fn fixed_file_candidates(file: PathBuf) -> Vec<Candidate> {
    let mut out = Vec::new();
    for n in (1..=5).rev() {
        let p = rotated_path(&file, n);
        if let Ok(meta) = std::fs::symlink_metadata(&p).filter_file() {
            out.push(Candidate {
                path: p,
                meta,
                family: String::new(),
                date: String::new(),
                archive: n,
            });
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(&file).filter_file() {
        out.push(Candidate {
            path: file,
            meta,
            family: String::new(),
            date: String::new(),
            archive: 0,
        });
    }
    out
}

/// Every file of `dir` with a rolling name, of any family, unsorted, that the user alone controls.
/// A missing `dir` has none; a `dir` another user controls is refused.
fn rolling_candidates(dir: &Path) -> Result<Vec<Candidate>, SourceError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SourceError::io(dir, &e)),
        Ok(meta) => check_dir(&meta).map_err(|why| {
            SourceError::new(
                dir,
                crate::usage::SourceErrorKind::Io,
                format!("not read: it {why}; msclawd reads only the user's own private directory"),
            )
        })?,
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SourceError::io(dir, &e)),
    };
    let mut all = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some((family, date, archive)) = parse_rolling(&name) else {
            continue;
        };
        // DirEntry::metadata does not follow a symlink.
        let Ok(meta) = entry.metadata().filter_file() else {
            continue;
        };
        all.push(Candidate {
            path: entry.path(),
            meta,
            family: family.to_owned(),
            date: date.to_owned(),
            archive,
        });
    }
    Ok(all)
}

trait FilterFile {
    fn filter_file(self) -> std::io::Result<Metadata>;
}

impl FilterFile for std::io::Result<Metadata> {
    /// Keeps a regular file (not a symlink) of the user's own, writable by nobody else.
    fn filter_file(self) -> std::io::Result<Metadata> {
        self.and_then(|m| match check_file(&m) {
            Ok(()) => Ok(m),
            Err(_) => Err(std::io::ErrorKind::PermissionDenied.into()),
        })
    }
}

/// `a/b/x.log` → `a/b/x.N.log` (OpenClaw's rotatedLogPath).
pub(super) fn rotated_path(file: &Path, n: u32) -> PathBuf {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let rotated = match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}.{n}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}.{n}"),
    };
    file.with_file_name(rotated)
}

/// `openclaw[-<profile segment>]-YYYY-MM-DD[.N].log` → (family, date, archive index).
pub(crate) fn parse_rolling(name: &str) -> Option<(&str, &str, u32)> {
    let stem = name.strip_suffix(".log")?;
    let (stem, archive) = match stem.rsplit_once('.') {
        Some((s, n)) if !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) => {
            (s, n.parse().ok()?)
        }
        _ => (stem, 0),
    };
    let split = stem.len().checked_sub(11)?;
    if !stem.is_char_boundary(split) {
        return None;
    }
    let (family, dash_date) = stem.split_at(split);
    let d = dash_date.as_bytes();
    let shape = d[0] == b'-'
        && d[5] == b'-'
        && d[8] == b'-'
        && [1, 2, 3, 4, 6, 7, 9, 10]
            .iter()
            .all(|&i| d[i].is_ascii_digit());
    if !shape {
        return None;
    }
    let ok_family = family == "openclaw"
        || family.strip_prefix("openclaw-").is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    ok_family.then(|| (family, &dash_date[1..], archive))
}

/// The file family of a profile, as OpenClaw's encodeLogProfileSegment names it.
pub(super) fn profile_family(profile: Option<&str>) -> String {
    let Some(p) = profile
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("default"))
    else {
        return "openclaw".to_owned();
    };
    let mut seg = String::new();
    for ch in p.chars() {
        match ch {
            'a'..='z' | '0'..='9' => seg.push(ch),
            '-' => seg.push_str("--"),
            '_' => seg.push_str("-0"),
            'A'..='Z' => {
                seg.push_str("-1");
                seg.push(ch.to_ascii_lowercase());
            }
            other => seg.push_str(&format!("-2{:x}-", other as u32)),
        }
    }
    // OpenClaw hashes a segment over 220 chars; a valid profile (64 chars at most) never gets there.
    format!("openclaw-{seg}")
}

/// Hash of a file's first complete line (at most 4 KiB are looked at).
pub(super) fn head_of(f: &mut File) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(0)).ok()?;
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let first = match buf[..n].iter().position(|b| *b == b'\n') {
        Some(i) => &buf[..i],
        None if n == buf.len() => &buf[..n],
        None => return None,
    };
    Some(format!("{:016x}", fnv1a64(&[first])))
}
