//! msclaw's own files for the OpenClaw plugin: where its source is, the copy OpenClaw loads
//! (`<msclaw state dir>/openclaw-plugin[-PROFILE]/`), what the plugin declares (id, protocol), and
//! the install record (`openclaw-plugin[-PROFILE].json` beside it) that lets uninstall remove
//! exactly what install added; and where OpenClaw's own installer puts the plugin.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use msclaw_shared::paths::{MsclawPaths, OpenClawPaths};
use msclawd::openclaw::plugin_entries::{InstallStep, PLUGIN_ID};
use serde::{Deserialize, Serialize};

/// What the plugin needs at run time (its package.json `files`); tests and tooling stay behind.
const PLUGIN_FILES: [&str; 5] = [
    "index.js",
    "src",
    "openclaw.plugin.json",
    "package.json",
    "README.md",
];

/// The plugin's source: `--path` (or `MSCLAW_PLUGIN_DIR`, which clap reads into it), else the
/// repository's `openclaw-plugin/` this msclawctl was built from.
pub fn source_dir(flag: Option<&Path>) -> PathBuf {
    let dir = flag.map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../openclaw-plugin"),
        Path::to_path_buf,
    );
    dir.canonicalize().unwrap_or(dir)
}

/// Where msclaw keeps the plugin's copy and the install record, for one profile.
pub struct PluginPaths {
    /// The copy OpenClaw loads (`plugins.load.paths`).
    pub files: PathBuf,
    pub record: PathBuf,
}

impl PluginPaths {
    pub fn new(msclaw: &MsclawPaths, profile: Option<&str>) -> Self {
        let dir = msclaw
            .state_file
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        let suffix = profile.map(|p| format!("-{p}")).unwrap_or_default();
        PluginPaths {
            files: dir.join(format!("openclaw-plugin{suffix}")),
            record: dir.join(format!("openclaw-plugin{suffix}.json")),
        }
    }
}

/// The plugin's wire protocol, from its package.json (`"msclaw": {"protocol": N}`); it must equal
/// [`msclaw_shared::PROTOCOL_VERSION`], which the plugin also checks in each reply.
pub fn declared_protocol(dir: &Path) -> anyhow::Result<u32> {
    let package = read_json(&dir.join("package.json"))?;
    package
        .pointer("/msclaw/protocol")
        .and_then(serde_json::Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())
        .with_context(|| format!("{}/package.json declares no msclaw.protocol", dir.display()))
}

/// The manifest's `id`, which must be msclaw's.
pub fn check_manifest(dir: &Path) -> anyhow::Result<()> {
    let manifest = read_json(&dir.join("openclaw.plugin.json"))?;
    match manifest.get("id").and_then(serde_json::Value::as_str) {
        Some(PLUGIN_ID) => Ok(()),
        other => bail!(
            "{}/openclaw.plugin.json is not msclaw's plugin (id {other:?})",
            dir.display()
        ),
    }
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Replaces `dest` with a copy of the plugin's run-time files from `source`: copied beside it
/// first, then renamed into place, so OpenClaw never loads half a plugin.
pub fn copy_plugin(source: &Path, dest: &Path) -> anyhow::Result<()> {
    let parent = dest
        .parent()
        .context("the plugin's copy has no parent dir")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = dest.with_extension("new");
    let old = dest.with_extension("old");
    let _ = fs::remove_dir_all(&staging);
    let _ = fs::remove_dir_all(&old);
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    for name in PLUGIN_FILES {
        let from = source.join(name);
        if from.exists() {
            copy_tree(&from, &staging.join(name))?;
        }
    }
    if dest.exists() {
        fs::rename(dest, &old).with_context(|| format!("cannot move {}", dest.display()))?;
    }
    fs::rename(&staging, dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    if from.is_dir() {
        fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
        for entry in
            fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
        {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(from, to)
            .map(|_| ())
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
    }
}

/// What install did to which config, oldest step first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstallRecord {
    pub config: PathBuf,
    pub files: PathBuf,
    pub steps: Vec<InstallStep>,
}

impl InstallRecord {
    /// The record, `None` when there is none.
    pub fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        match fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{} is not an install record", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Written 0600: a step's text may hold whatever lay between two of install's insertions.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        msclawd::openclaw::atomic_write::write_new_or_replace(path, text.as_bytes(), 0o600)?;
        Ok(())
    }
}

/// Where OpenClaw's own installer (`openclaw plugins install <path>`) puts msclaw's plugin:
/// `<state dir>/extensions/msclaw`.
pub fn openclaw_install_dir(openclaw: &OpenClawPaths) -> PathBuf {
    openclaw.state_dir.join("extensions").join(PLUGIN_ID)
}

/// msclaw's plugin as OpenClaw's own installer left it, if it is there.
pub fn installed_by_openclaw(openclaw: &OpenClawPaths) -> Option<PathBuf> {
    let dir = openclaw_install_dir(openclaw);
    check_manifest(&dir).is_ok().then_some(dir)
}

/// What to run instead when OpenClaw's own installer installed the plugin.
pub const OPENCLAW_UNINSTALL: &str = "openclaw plugins uninstall msclaw";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repositorys_plugin_speaks_msclawds_protocol() {
        let dir = source_dir(None);
        check_manifest(&dir).unwrap();
        assert_eq!(
            declared_protocol(&dir).unwrap(),
            msclaw_shared::PROTOCOL_VERSION
        );
    }
}
