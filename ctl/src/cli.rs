//! The command line. Binary name, subcommands and flags are a contract for scripts.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "msclawctl",
    version,
    about = "Ask and steer msclawd, which rotates OpenClaw's ModelScope models"
)]
pub struct Cli {
    /// Print machine-readable JSON instead of the human view.
    #[arg(long, global = true)]
    pub json: bool,
    /// The OpenClaw profile whose msclawd to talk to (also OPENCLAW_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The daemon's socket (default from MSCLAW_SOCKET or the runtime dir).
    #[arg(long, global = true, env = "MSCLAW_SOCKET", hide_env_values = true)]
    pub socket: Option<PathBuf>,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
pub enum Command {
    /// The active model, each model's calls today, the next reset.
    Status,
    /// Client, daemon and protocol versions.
    Version,
    /// Pin a model (ref or alias) until the next reset.
    Switch {
        /// The model: an alias (`glm5`) or a full ref (`modelscope/ZhipuAI/GLM-5`).
        model: String,
        /// Pin it even when it is spent today (every call to it fails until the reset).
        #[arg(long)]
        force: bool,
    },
    /// Drop a pin and rotate automatically again.
    Auto,
    /// Stop automatic switching (counting goes on).
    Pause,
    /// Restart automatic switching.
    Resume,
    /// Calls per model per day, switches and when each model ran out.
    History {
        /// How many quota days to show, today included.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// Follow the daemon's events (switches, spent models, resets) as they happen.
    Watch,
    /// Ask msclawd to stop.
    Stop,
    /// Install, remove or inspect msclawd as a user service (systemd, or launchd on macOS).
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Add the ModelScope provider, its models, their aliases and the primary model to OpenClaw's
    /// config. Only adds: present entries and every comment stay; a second run changes nothing.
    Init(InitArgs),
    /// Point OpenClaw at msclawd's metering relay, or back at ModelScope.
    Relay {
        #[command(subcommand)]
        action: RelayAction,
    },
    /// Install or remove msclaw's OpenClaw plugin, which reports each model call to msclawd as it
    /// ends and, with --choose-model, lets msclawd choose each turn's model.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
    /// Check the set-up, one line per check (ok / warn / fail); exits 1 when a check fails.
    Doctor,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Subcommand, Clone, PartialEq, Eq)]
pub enum RelayAction {
    /// Point the provider at the relay: its real baseUrl and apiKey move to msclaw's private store
    /// (0600) and OpenClaw gets the relay URL and a local token that is worthless upstream.
    On {
        /// The relay's loopback address (default 127.0.0.1:18790).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Another provider to front too (repeatable): its baseUrl becomes
        /// http://<listen>/<provider>/v1. The rotation provider is always fronted, at /v1.
        #[arg(long, value_name = "PROVIDER")]
        provider: Vec<String>,
    },
    /// Put the real baseUrl and apiKey back into OpenClaw's config, byte for byte.
    Off,
    /// Whether OpenClaw goes through the relay.
    Status,
}

#[derive(Subcommand, Clone, PartialEq, Eq)]
pub enum PluginAction {
    /// Copy the plugin into msclaw's state dir and add its entries to OpenClaw's config (only
    /// adds; every other byte stays). Restart the gateway afterwards.
    Install {
        /// Also let msclawd choose each turn's model. This gives the plugin conversation access:
        /// OpenClaw's before_model_resolve hook receives the prompt (the plugin never reads or
        /// sends it).
        #[arg(long)]
        choose_model: bool,
        /// Print a unified diff of what would change and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The plugin's source directory (default: MSCLAW_PLUGIN_DIR, else the repository's
        /// openclaw-plugin/).
        #[arg(long, value_name = "DIR", env = "MSCLAW_PLUGIN_DIR")]
        path: Option<PathBuf>,
    },
    /// Remove exactly what install added to OpenClaw's config, and the copied files.
    Uninstall {
        /// Print a unified diff of what would change and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    /// Write the unit (or plist) with this machine's msclawd path, enable and start it.
    Install {
        /// Only print the file; install nothing.
        #[arg(long)]
        print: bool,
    },
    /// Stop, disable and remove it.
    Uninstall,
    /// Whether it is installed, enabled and running.
    Status,
}

#[derive(clap::Args, Clone, Debug)]
pub struct InitArgs {
    /// Print a unified diff of what would change (keys hidden) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Model ids to add, in rotation order, comma-separated (default: the guide's four). Full
    /// refs (`modelscope/ZhipuAI/GLM-5`) and the guide's aliases (`glm5`) work too.
    #[arg(long, value_name = "ID,ID,...")]
    pub models: Option<String>,
    /// Read the API key from standard input and write it into the config (default: the
    /// reference `${MODELSCOPE_API_KEY}`). The key is never printed.
    #[arg(long, conflicts_with = "api_key_env")]
    pub api_key_stdin: bool,
    /// The environment variable the `apiKey` reference names.
    #[arg(long, value_name = "VAR", default_value = msclawd::modelscope::API_KEY_VAR)]
    pub api_key_env: String,
    /// The provider's baseUrl, and what `--check-online` asks.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Ask `<baseUrl>/models` (free, no key sent) whether each model is still served; warn
    /// about the ones that are not.
    #[arg(long)]
    pub check_online: bool,
    /// Then point the provider at msclawd's metering relay (like `msclawctl relay on`).
    #[arg(long, conflicts_with = "dry_run")]
    pub relay: bool,
}
