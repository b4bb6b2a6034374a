//! `msclawctl service`: the user unit (or launchd plist) with this machine's absolute msclawd path.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::cli::ServiceAction;

const UNIT_TEMPLATE: &str = include_str!("../../systemd/msclawd.service");
const PLIST_TEMPLATE: &str = include_str!("../../systemd/dev.msclaw.msclawd.plist");
pub const LAUNCHD_LABEL: &str = "dev.msclaw.msclawd";

/// The installed `msclawd`: beside this msclawctl (cargo install puts both in one place), else on PATH.
pub fn msclawd_path() -> anyhow::Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("msclawd")));
    if let Some(path) = beside.filter(|p| p.is_file()) {
        return Ok(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("msclawd"))
        .find(|p| p.is_file())
        .context("cannot find msclawd beside msclawctl or on PATH; install it first (cargo install --path daemon)")
}

pub fn unit_name(profile: Option<&str>) -> String {
    profile.map_or("msclawd.service".to_owned(), |p| {
        format!("msclawd-{p}.service")
    })
}

/// The unit file for this machine: the repo's unit with an absolute ExecStart.
pub fn unit_text(msclawd: &Path, profile: Option<&str>) -> String {
    let exec = match profile {
        Some(p) => format!("ExecStart={} --profile {p}", msclawd.display()),
        None => format!("ExecStart={}", msclawd.display()),
    };
    UNIT_TEMPLATE
        .lines()
        .filter(|l| {
            !l.starts_with("# Install:")
                && !l.starts_with("#          ")
                && !l.starts_with("# (or: msclawctl")
        })
        .map(|l| {
            if l.starts_with("ExecStart=") {
                exec.clone()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub fn plist_text(msclawd: &Path, profile: Option<&str>) -> String {
    let mut args = format!(
        "<string>{}</string>",
        xml_escape(&msclawd.display().to_string())
    );
    if let Some(p) = profile {
        args += &format!(
            "\n        <string>--profile</string>\n        <string>{}</string>",
            xml_escape(p)
        );
    }
    let label = profile.map_or(LAUNCHD_LABEL.to_owned(), |p| format!("{LAUNCHD_LABEL}-{p}"));
    PLIST_TEMPLATE
        .replace("<string>/usr/local/bin/msclawd</string>", &args)
        .replace(
            &format!("<string>{LAUNCHD_LABEL}</string>"),
            &format!("<string>{label}</string>"),
        )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn service(
    action: ServiceAction,
    profile: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if cfg!(target_os = "macos") {
        launchd(action, profile, json)
    } else {
        systemd(action, profile, json)
    }
}

/// Where `service install` puts the user unit: `$XDG_CONFIG_HOME/systemd/user/`, else `~/.config/…`.
pub fn systemd_unit_path(profile: Option<&str>) -> anyhow::Result<PathBuf> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .map_or_else(|| home().map(|h| h.join(".config")), Ok)?;
    Ok(config_home.join("systemd/user").join(unit_name(profile)))
}

/// Where `service install` puts the launchd plist, and its label.
pub fn launchd_plist_path(profile: Option<&str>) -> anyhow::Result<(PathBuf, String)> {
    let label = profile.map_or(LAUNCHD_LABEL.to_owned(), |p| format!("{LAUNCHD_LABEL}-{p}"));
    Ok((
        home()?
            .join("Library/LaunchAgents")
            .join(format!("{label}.plist")),
        label,
    ))
}

fn systemd(action: ServiceAction, profile: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let name = unit_name(profile);
    let unit_path = systemd_unit_path(profile)?;
    match action {
        ServiceAction::Install { print: true } => {
            print!("{}", unit_text(&msclawd_path()?, profile))
        }
        ServiceAction::Install { print: false } => {
            let text = unit_text(&msclawd_path()?, profile);
            std::fs::create_dir_all(unit_path.parent().unwrap())
                .with_context(|| format!("cannot create {}", unit_path.display()))?;
            std::fs::write(&unit_path, text)
                .with_context(|| format!("cannot write {}", unit_path.display()))?;
            run("systemctl", &["--user", "daemon-reload"])?;
            run("systemctl", &["--user", "enable", "--now", &name])?;
            println!("installed {} and started {name}", unit_path.display());
        }
        ServiceAction::Uninstall => {
            if unit_path.exists() {
                run("systemctl", &["--user", "disable", "--now", &name])?;
                std::fs::remove_file(&unit_path)
                    .with_context(|| format!("cannot remove {}", unit_path.display()))?;
                run("systemctl", &["--user", "daemon-reload"])?;
                println!("stopped, disabled and removed {name}");
            } else {
                println!(
                    "{name} is not installed ({} does not exist)",
                    unit_path.display()
                );
            }
        }
        ServiceAction::Status => {
            let installed = unit_path.exists();
            let ask = |verb: &str| {
                Command::new("systemctl")
                    .args(["--user", verb, &name])
                    .output()
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            };
            let enabled = ask("is-enabled").unwrap_or_else(|| "unknown".into());
            let active = ask("is-active").unwrap_or_else(|| "unknown".into());
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "unit": name, "path": unit_path, "installed": installed, "enabled": enabled, "active": active })
                );
            } else {
                // systemctl without a user session prints nothing on stdout: say so.
                let said = |answer: &str| match answer {
                    "" => "unknown (systemctl gave no answer)".to_owned(),
                    other => other.to_owned(),
                };
                let (enabled, active) = (said(&enabled), said(&active));
                println!(
                    "{name}: {} ({}), enabled: {enabled}, active: {active}",
                    if installed {
                        "installed"
                    } else {
                        "not installed"
                    },
                    unit_path.display()
                );
            }
            if !installed {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn launchd(action: ServiceAction, profile: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let (path, label) = launchd_plist_path(profile)?;
    let domain = format!("gui/{}", rustix::process::getuid().as_raw());
    match action {
        ServiceAction::Install { print: true } => {
            print!("{}", plist_text(&msclawd_path()?, profile))
        }
        ServiceAction::Install { print: false } => {
            std::fs::create_dir_all(path.parent().unwrap())?;
            std::fs::write(&path, plist_text(&msclawd_path()?, profile))
                .with_context(|| format!("cannot write {}", path.display()))?;
            run(
                "launchctl",
                &["bootstrap", &domain, &path.display().to_string()],
            )?;
            println!("installed and loaded {}", path.display());
        }
        ServiceAction::Uninstall => {
            let _ = run("launchctl", &["bootout", &format!("{domain}/{label}")]);
            let _ = std::fs::remove_file(&path);
            println!("unloaded and removed {label}");
        }
        ServiceAction::Status => {
            let loaded = run("launchctl", &["print", &format!("{domain}/{label}")]).is_ok();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "label": label, "path": path, "installed": path.exists(), "loaded": loaded })
                );
            } else {
                println!("{label}: installed {}, loaded {loaded}", path.exists());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
