//! `msclawctl plugin install|uninstall`: msclaw's OpenClaw plugin, copied into msclaw's state dir
//! and loaded through `plugins.load.paths`. The config edit is the daemon crate's
//! ([`msclawd::openclaw::plugin_entries`]): only additions, each recorded so uninstall takes out
//! exactly those bytes. Files only; msclawd need not run.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use msclaw_shared::PROTOCOL_VERSION;
use msclaw_shared::paths::{MsclawPaths, OpenClawPaths, effective_profile, process_env};
use msclawd::openclaw::plugin_entries::{self, PluginPlan, PluginRequest};

use crate::cli::{Cli, PluginAction};
use crate::plugin_files::{
    InstallRecord, OPENCLAW_UNINSTALL, PluginPaths, check_manifest, copy_plugin, declared_protocol,
    installed_by_openclaw, source_dir,
};

/// What `--choose-model` gives away, said before anything is written.
pub const CONVERSATION_ACCESS_NOTICE: &str = "--choose-model gives the plugin conversation access: \
OpenClaw's before_model_resolve hook receives each turn's prompt (the plugin reads only the model \
OpenClaw would use and never sends the prompt anywhere)";

struct Paths {
    openclaw: OpenClawPaths,
    plugin: PluginPaths,
}

fn paths(cli: &Cli) -> anyhow::Result<Paths> {
    let env = process_env;
    let profile = effective_profile(cli.profile.as_deref(), &env)?;
    let msclaw = MsclawPaths::resolve(profile.as_deref(), &env)?;
    Ok(Paths {
        openclaw: OpenClawPaths::resolve(profile.as_deref(), &env)?,
        plugin: PluginPaths::new(&msclaw, profile.as_deref()),
    })
}

pub fn run(cli: &Cli, action: &PluginAction) -> anyhow::Result<ExitCode> {
    let p = paths(cli)?;
    let (lines, diff) = match action {
        PluginAction::Install {
            choose_model,
            dry_run,
            path,
        } => install(&p, &source_dir(path.as_deref()), *choose_model, *dry_run)?,
        PluginAction::Uninstall { dry_run } => uninstall(&p, *dry_run)?,
    };
    if cli.json {
        let mut out = serde_json::json!({ "ok": true, "changes": lines });
        if let Some(diff) = diff {
            out["diff"] = serde_json::json!(diff);
        }
        println!("{out}");
    } else {
        if let Some(diff) = diff {
            print!("{diff}");
        }
        for line in lines {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

type Outcome = (Vec<String>, Option<String>);

fn install(p: &Paths, source: &Path, choose_model: bool, dry_run: bool) -> anyhow::Result<Outcome> {
    check_manifest(source)?;
    let protocol = declared_protocol(source)?;
    if protocol != PROTOCOL_VERSION {
        bail!(
            "{} speaks protocol {protocol}, this msclawctl {PROTOCOL_VERSION}; install the plugin \
             from the same msclaw release",
            source.display()
        );
    }
    let config = &p.openclaw.config;
    let mut record = InstallRecord::load(&p.plugin.record)?.unwrap_or_default();
    if !record.steps.is_empty() && record.config != *config {
        bail!(
            "the plugin was installed into {}; run msclawctl plugin uninstall with that config first",
            record.config.display()
        );
    }
    let req = PluginRequest {
        load_path: p.plugin.files.display().to_string(),
        choose_model,
    };
    let mut lines = Vec::new();
    if choose_model {
        lines.push(format!("note: {CONVERSATION_ACCESS_NOTICE}"));
    }
    if dry_run {
        let plan = plugin_entries::plan_install(config, &req)?;
        lines.push(format!(
            "would copy {} to {}",
            source.display(),
            p.plugin.files.display()
        ));
        lines.extend(entry_lines(&plan));
        return Ok((lines, Some(diff(&plan))));
    }
    copy_plugin(source, &p.plugin.files)?;
    lines.push(format!(
        "copied {} to {}",
        source.display(),
        p.plugin.files.display()
    ));
    let plan = plugin_entries::apply_install(config, &req)?;
    lines.extend(entry_lines(&plan));
    record.config = config.clone();
    record.files = p.plugin.files.clone();
    record.steps.extend(plan.step.clone());
    record.save(&p.plugin.record).with_context(|| {
        format!(
            "{} was changed but its record was not saved",
            config.display()
        )
    })?;
    lines.push(
        "restart the gateway to load the plugin (openclaw gateway restart, or systemctl --user \
         restart openclaw-gateway)"
            .into(),
    );
    Ok((lines, None))
}

fn uninstall(p: &Paths, dry_run: bool) -> anyhow::Result<Outcome> {
    let Some(record) = InstallRecord::load(&p.plugin.record)? else {
        // OpenClaw's installer keeps its own record and rewrites the config its own way: undoing
        // that is OpenClaw's job, not an edit msclawctl could prove byte for byte.
        if let Some(dir) = installed_by_openclaw(&p.openclaw) {
            bail!(
                "msclaw's plugin in {} was installed by OpenClaw's own installer (openclaw plugins \
                 install), not by msclawctl; nothing was removed. Run `{OPENCLAW_UNINSTALL}`",
                dir.display()
            );
        }
        bail!(
            "no plugin install recorded in {}; nothing was removed",
            p.plugin.record.display()
        );
    };
    let mut lines = Vec::new();
    if dry_run {
        let plan = plugin_entries::plan_uninstall(&record.config, &record.steps)?;
        lines.push(format!("would remove {}", record.files.display()));
        return Ok((lines, Some(diff(&plan))));
    }
    let plan = plugin_entries::apply_uninstall(&record.config, &record.steps)?;
    if !plan.is_noop() {
        lines.push(format!(
            "{}: removed what msclawctl plugin install added",
            plan.config.display()
        ));
    }
    match std::fs::remove_dir_all(&record.files) {
        Ok(()) => lines.push(format!("removed {}", record.files.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context(format!("cannot remove {}", record.files.display())),
    }
    std::fs::remove_file(&p.plugin.record)
        .with_context(|| format!("cannot remove {}", p.plugin.record.display()))?;
    lines.push("restart the gateway to unload the plugin".into());
    Ok((lines, None))
}

/// One line per entry, `added`/`present` as the plan found it.
fn entry_lines(plan: &PluginPlan) -> Vec<String> {
    let config = plan.config.display();
    plan.items
        .iter()
        .map(|item| format!("{config}: {item}"))
        .collect()
}

/// The `--dry-run` diff of the config, key-like values hidden.
fn diff(plan: &PluginPlan) -> String {
    let old = msclawd::openclaw::mask::mask_secrets(&plan.old);
    let new = msclawd::openclaw::mask::mask_secrets(&plan.new);
    let path = plan.config.display().to_string();
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{path}"), &format!("b{path}"))
        .to_string()
}
