//! `msclawctl doctor`'s checks of the OpenClaw plugin: installed (its files where OpenClaw looks),
//! enabled, of msclawd's protocol, connected to msclawd, and whether it chooses models.

use std::path::{Path, PathBuf};

use msclaw_shared::paths::OpenClawPaths;
use msclaw_shared::{PROTOCOL_VERSION, Status};
use msclawd::openclaw::plugin_entries::{PLUGIN_ID, PluginSettings, plugin_settings};

use crate::doctor::Report;
use crate::plugin_files::{
    OPENCLAW_UNINSTALL, check_manifest, declared_protocol, openclaw_install_dir,
};

/// The plugin checks. `status` is msclawd's answer, `None` when it did not answer (the daemon
/// check says why).
pub fn plugin_checks(report: &mut Report, openclaw: &OpenClawPaths, status: Option<&Status>) {
    let settings = match plugin_settings(&openclaw.config) {
        Ok(settings) => settings,
        // The config checks already said what is wrong with the file.
        Err(_) => return,
    };
    let dir = plugin_dir(&settings, openclaw);
    let Some(dir) = dir else {
        if settings.has_entry {
            report.fail(
                "plugin",
                format!(
                    "plugins.entries.{PLUGIN_ID} is set but no plugin files are where OpenClaw \
                     looks (plugins.load.paths, {}); run `msclawctl plugin install`",
                    openclaw_install_dir(openclaw).display()
                ),
            );
        } else {
            report.ok(
                "plugin",
                "not installed (optional: `msclawctl plugin install` reports each model call to \
                 msclawd as it ends)",
            );
        }
        return;
    };
    report.ok("plugin", installed_line(&dir, openclaw));
    enabled_check(report, &settings);
    match declared_protocol(&dir) {
        Ok(p) if p == PROTOCOL_VERSION => {
            report.ok("plugin_protocol", format!("protocol {p}, as msclawd's"))
        }
        Ok(p) => report.fail(
            "plugin_protocol",
            format!(
                "the plugin speaks protocol {p}, msclawd {PROTOCOL_VERSION}; run `msclawctl \
                 plugin install` from this msclaw release and restart the gateway"
            ),
        ),
        Err(e) => report.fail("plugin_protocol", format!("{e:#}")),
    }
    if let Some(status) = status {
        connected_check(report, status);
    }
    choice_check(report, &settings);
}

/// The copy OpenClaw loads: a `plugins.load.paths` dir holding msclaw's manifest, else OpenClaw's
/// own install (`openclaw plugins install`) in its extensions dir.
fn plugin_dir(settings: &PluginSettings, openclaw: &OpenClawPaths) -> Option<PathBuf> {
    settings
        .load_paths
        .iter()
        .map(PathBuf::from)
        .chain([openclaw_install_dir(openclaw)])
        .find(|dir| check_manifest(dir).is_ok())
}

/// Which installer the copy OpenClaw loads comes from: OpenClaw's own (its extensions dir) or a
/// `plugins.load.paths` entry (what `msclawctl plugin install` adds).
fn installed_line(dir: &Path, openclaw: &OpenClawPaths) -> String {
    if dir == openclaw_install_dir(openclaw) {
        format!(
            "installed: {} by OpenClaw's own installer (openclaw plugins install); remove it \
             with `{OPENCLAW_UNINSTALL}`",
            dir.display()
        )
    } else {
        format!(
            "installed: {} through plugins.load.paths (as msclawctl plugin install adds it)",
            dir.display()
        )
    }
}

fn enabled_check(report: &mut Report, s: &PluginSettings) {
    let fix = "run `msclawctl plugin install`";
    if s.plugins_enabled == Some(false) {
        report.fail(
            "plugin_enabled",
            "plugins.enabled is false: OpenClaw loads no plugin",
        );
    } else if s.enabled != Some(true) {
        report.fail(
            "plugin_enabled",
            format!("plugins.entries.{PLUGIN_ID}.enabled is not true; {fix}"),
        );
    } else if s.deny.iter().any(|id| id == PLUGIN_ID) {
        report.fail("plugin_enabled", format!("plugins.deny lists {PLUGIN_ID}"));
    } else if s
        .allow
        .as_ref()
        .is_some_and(|allow| !allow.iter().any(|id| id == PLUGIN_ID))
    {
        report.fail(
            "plugin_enabled",
            format!("plugins.allow does not list {PLUGIN_ID}, so OpenClaw does not load it; {fix}"),
        );
    } else {
        report.ok(
            "plugin_enabled",
            format!("plugins.entries.{PLUGIN_ID}.enabled"),
        );
    }
}

fn connected_check(report: &mut Report, status: &Status) {
    let Some(plugin) = &status.plugin else {
        return report.warn(
            "plugin_online",
            "this msclawd does not know the plugin; restart msclawd after an update",
        );
    };
    let calls: u32 = plugin.calls.iter().map(|c| c.calls).sum();
    let last = plugin
        .last_seen
        .as_deref()
        .map_or_else(String::new, |t| format!(", the last at {t}"));
    if plugin.connected {
        report.ok(
            "plugin_online",
            format!("connected to msclawd; {calls} calls reported today{last}"),
        );
    } else {
        report.warn(
            "plugin_online",
            format!(
                "not connected to msclawd ({calls} calls reported today{last}); a gateway started \
                 before the install has no plugin: restart it"
            ),
        );
    }
}

fn choice_check(report: &mut Report, s: &PluginSettings) {
    match (s.choose_model, s.allow_conversation_access) {
        (true, true) => report.ok(
            "plugin_choice",
            "on: msclawd chooses each turn's model (the plugin has conversation access)",
        ),
        (true, false) => report.warn(
            "plugin_choice",
            format!(
                "config.chooseModel is set but hooks.allowConversationAccess is not, so OpenClaw \
                 blocks the choice; `msclawctl plugin install --choose-model` sets both \
                 (plugins.entries.{PLUGIN_ID})"
            ),
        ),
        (false, _) => report.ok(
            "plugin_choice",
            "off: the plugin only reports calls (`msclawctl plugin install --choose-model` turns \
             it on)",
        ),
    }
}
