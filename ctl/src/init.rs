//! `msclawctl init`: puts the ModelScope provider, its models, aliases and the primary into
//! OpenClaw's config (the editing is `msclawd::openclaw::init`), optionally after asking ModelScope
//! which models it still serves. Needs no daemon.
//!
//! A key read with `--api-key-stdin` goes into the file and nowhere else: not into the report,
//! the JSON, a warning, an error or the `--dry-run` diff (which hides every key-like value).

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use msclaw_shared::paths::{ConfigRule, OpenClawPaths, effective_profile, process_env};
use msclawd::modelscope;
use msclawd::openclaw::init::{
    self, ApiKey, InitItem, InitPlan, InitRequest, ItemStatus, ModelSpec, Secret, apply_init,
    guide_models, parse_model_list, plan_init,
};
use serde_json::json;

use crate::cli::{Cli, InitArgs};

/// How long `--check-online` waits for `/models`.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(15);

pub async fn run(cli: &Cli, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let env = process_env;
    let profile = effective_profile(cli.profile.as_deref(), &env)?;
    let paths = OpenClawPaths::resolve(profile.as_deref(), &env)?;
    let models = match &args.models {
        Some(list) => parse_model_list(list, modelscope::PROVIDER)?,
        None => guide_models(),
    };
    let api_key = if args.api_key_stdin {
        ApiKey::Literal(read_key()?)
    } else {
        if !msclawd::openclaw::is_env_var_name(&args.api_key_env) {
            bail!(
                "--api-key-env {:?}: OpenClaw substitutes only names like MODELSCOPE_API_KEY ([A-Z_][A-Z0-9_]*)",
                args.api_key_env
            );
        }
        ApiKey::EnvRef(args.api_key_env.clone())
    };
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| modelscope::BASE_URL.to_owned());
    let req = InitRequest {
        provider: modelscope::PROVIDER.to_owned(),
        base_url: base_url.clone(),
        api: modelscope::API.to_owned(),
        api_key,
        models,
    };

    let mut online = None;
    if args.check_online {
        // The endpoint OpenClaw will call: the one given, else the provider's in the config.
        let url = match &args.base_url {
            Some(url) => url.clone(),
            None => msclawd::openclaw::load(&paths.config)
                .ok()
                .and_then(|c| c.providers.get(modelscope::PROVIDER)?.base_url.clone())
                .unwrap_or(base_url),
        };
        online = Some(check_online(&url, &req.models).await);
    }

    let plan = if args.dry_run {
        plan_init(&paths.config, &req)?
    } else {
        apply_init(&paths.config, &req)?
    };
    let relay_lines = if args.relay {
        crate::relay::switch_on(cli, None)?
    } else {
        Vec::new()
    };
    let mut warnings: Vec<String> = online
        .as_ref()
        .map(|o| o.warnings.clone())
        .unwrap_or_default();
    warnings.extend(plan.warnings.iter().cloned());
    let diff = args.dry_run.then(|| diff(&plan));
    let written: Vec<&Path> = if args.dry_run {
        Vec::new()
    } else {
        plan.changes.iter().map(|c| c.path.as_path()).collect()
    };

    if cli.json {
        let mut out = json!({
            "config": paths.config,
            "rule": paths.rule,
            "dry_run": args.dry_run,
            "changed": !plan.is_noop(),
            "written": written,
            "items": plan.items,
            "warnings": warnings,
        });
        if args.relay {
            out["relay"] = json!(relay_lines);
        }
        if let Some(online) = &online {
            out["online"] =
                json!({ "url": online.url, "checked": online.checked, "missing": online.missing });
        }
        if let Some(diff) = &diff {
            out["diff"] = json!(diff);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }

    println!("{} ({})", paths.config.display(), describe_rule(paths.rule));
    for item in &plan.items {
        println!("{}", item_line(item, args.dry_run));
    }
    for warning in &warnings {
        println!("warning: {warning}");
    }
    if let Some(diff) = diff {
        if plan.is_noop() {
            println!("dry run: nothing would change");
        } else {
            print!("{diff}");
            println!("dry run: nothing was written");
        }
    } else if plan.is_noop() {
        println!("nothing to change: everything is present");
    } else {
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    for line in relay_lines {
        println!("{line}");
    }
    if let Some(missing) = missing_key(&req.api_key, &paths) {
        println!("{missing}");
    }
    if !args.dry_run {
        println!("{NEXT_STEPS}");
    }
    Ok(ExitCode::SUCCESS)
}

const NEXT_STEPS: &str = "next steps:
  msclawctl service install   run msclawd as a user service (or start `msclawd` yourself)
  msclawctl doctor            check the whole set-up";

/// An item as `added provider modelscope`, or in a dry run `would add provider modelscope`.
fn item_line(item: &InitItem, dry_run: bool) -> String {
    let line = item.to_string();
    let verb = match item.status {
        _ if !dry_run => return line,
        ItemStatus::Added => "would add",
        ItemStatus::Changed => "would change",
        ItemStatus::Present => return line,
    };
    // The item's own text after its status word.
    let rest = line
        .split_once(' ')
        .map_or("", |(_, rest)| rest.trim_start());
    format!("{verb} {rest}")
}

/// When the key the config names is set nowhere OpenClaw looks: what to do about it.
fn missing_key(api_key: &ApiKey, paths: &OpenClawPaths) -> Option<String> {
    let ApiKey::EnvRef(var) = api_key else {
        return None;
    };
    let dotenv = paths.state_dir.join(".env");
    let set_here = std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if set_here || crate::doctor::dotenv_has(&dotenv, var) {
        return None;
    }
    Some(format!(
        "{var} is not set: OpenClaw reads it from {} (a line `{var}=<your ModelScope token>`) or from the gateway's environment",
        dotenv.display()
    ))
}

pub fn describe_rule(rule: ConfigRule) -> &'static str {
    match rule {
        ConfigRule::Env => "from OPENCLAW_CONFIG_PATH",
        ConfigRule::StateDir => "from OPENCLAW_STATE_DIR",
        ConfigRule::Profile => "the profile's ~/.openclaw-NAME",
        ConfigRule::Default => "the default ~/.openclaw",
    }
}

/// The key from standard input: everything up to EOF (a pipe), or one line typed at a terminal
/// with echo off.
fn read_key() -> anyhow::Result<Secret> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("ModelScope API key (not shown): ");
        let line = read_line_without_echo(&stdin)?;
        eprintln!();
        return Ok(Secret::new(&line)?);
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .context("cannot read the API key from standard input")?;
    Ok(Secret::new(&text)?)
}

fn read_line_without_echo(stdin: &std::io::Stdin) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let before = tcgetattr(stdin).context("cannot read the terminal's settings")?;
    let mut quiet = before.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(stdin, OptionalActions::Now, &quiet)
        .context("cannot turn the terminal's echo off")?;
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    let _ = tcsetattr(stdin, OptionalActions::Now, &before);
    read.context("cannot read the API key")?;
    Ok(line)
}

/// The `--dry-run` diff of every file the plan changes, key-like values hidden.
fn diff(plan: &InitPlan) -> String {
    let mut out = String::new();
    for change in &plan.changes {
        let (old, new) = change.masked();
        let path = change.path.display().to_string();
        let from = if change.old.is_some() {
            format!("a{path}")
        } else {
            "/dev/null".to_owned()
        };
        let to = format!("b{path}");
        out += &similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&from, &to)
            .to_string();
    }
    out
}

pub struct Online {
    pub url: String,
    /// Whether the list was read (false: the request failed; see the warnings).
    pub checked: bool,
    pub missing: Vec<String>,
    pub warnings: Vec<String>,
}

/// `GET <base>/models` (no key is sent: the list is free and public) and which of `models` it
/// lacks. Any failure is a warning, not an error: init can go on without it.
pub async fn check_online(base: &str, models: &[ModelSpec]) -> Online {
    let url = format!("{}/models", base.trim_end_matches('/'));
    let mut online = Online {
        url: url.clone(),
        checked: false,
        missing: Vec::new(),
        warnings: Vec::new(),
    };
    match fetch_listing(&url).await {
        Ok(body) => {
            let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
            match init::missing_from_listing(&body, &ids) {
                Ok(missing) => {
                    online.checked = true;
                    for id in missing {
                        online.warnings.push(format!(
                            "model {id} is not in the list at {url}: ModelScope may no longer serve it (calls would fail)"
                        ));
                        online.missing.push(id.to_owned());
                    }
                }
                Err(e) => online
                    .warnings
                    .push(format!("could not check the models online: {url}: {e}")),
            }
        }
        Err(e) => online
            .warnings
            .push(format!("could not check the models online: {e:#}")),
    }
    online
}

async fn fetch_listing(url: &str) -> anyhow::Result<serde_json::Value> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    let mut builder = reqwest::Client::builder()
        .timeout(ONLINE_TIMEOUT)
        .user_agent(concat!("msclawctl/", env!("CARGO_PKG_VERSION")));
    if msclawd::relay::is_loopback_url(&parsed) {
        builder = builder.no_proxy();
    }
    let client = builder.build().context("cannot set up the HTTP client")?;
    let response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET {url}: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET {url} answered {status}");
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| anyhow::anyhow!("GET {url}: {}", e.without_url()))?;
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: the answer is not JSON"))
}
