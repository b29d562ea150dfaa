//! The `bcm` command line (clap), kept apart from `main` so shell completions and tests can
//! use it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes `bcm` uses (also in `--help`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Something failed that no other code describes.
    pub const FAILURE: u8 = 1;
    /// Bad usage (unknown flag, bad value) — clap's own code.
    pub const USAGE: u8 = 2;
    /// The configuration file or a secret cannot be used.
    pub const CONFIG: u8 = 3;
    /// The iSNS server (or SLP) cannot be reached or did not answer a full inventory.
    pub const UNREACHABLE: u8 = 4;
    /// No LUN satisfies the request (the message says why).
    pub const REJECTED: u8 = 5;
    /// A provisioning or release step failed (rolled back, or to be retried).
    pub const STEP_FAILED: u8 = 6;
    /// Busy or conflicting: the server has an operation running, `bcm serve` (or another
    /// command) holds the store, the server already holds a disk, another server holds the
    /// LUN, BMC or name asked for, or the request ID was used for something else.
    pub const CONFLICT: u8 = 7;
    /// `release` of a server that holds nothing.
    pub const NOTHING: u8 = 8;
    /// The running `bcm serve` refused the token (none, unknown, or a reader's for a change).
    pub const DENIED: u8 = 9;
}

const AFTER_HELP: &str = "\
Examples:
  bcm discover                                  find iSNS servers with SLP
  bcm -c /etc/bcm/bcm.toml inventory            list targets and LUNs (sizes from the targets)
  bcm provision --server a --size 40GiB         give server a a boot disk of at least 40 GiB
  bcm provision --server b --bmc 10.0.0.12 --size 64GiB --max-size 128GiB --auth chap --power-cycle
  bcm release --server a                        take it back (BMC, DD, initiator, CHAP)
  bcm status --json                             assignments and unfinished requests (no network)
  bcm inventory --timeout 20s                   give up after 20 s (refused: at once)
  bcm serve                                     daemon: live inventory + HTTP API + /metrics
  bcm repair                                    release younger holders of a LUN held twice
  bcm demo                                      the whole flow on loopback with real peers
  bcm completions bash > /etc/bash_completion.d/bcm

Configuration: a TOML file (-c, or $BCM_CONFIG); flags override it. BMC passwords come from
[bmc] password = { env = \"VAR\" } or { file = \"/path\" } (default env BCM_BMC_PASSWORD).

One authority per store: while `bcm serve` runs, provision and release go to its API (token
from $BCM_TOKEN or [client] token), and repair refuses with exit 7 naming the API (the lock file
<store>.lock says who holds the store). $BCM_API (or [client] api) sends provision, release and
status to that API from anywhere; an https API is verified with [client] ca_file ($BCM_CA_FILE).

Exit codes: 0 ok, 1 failure, 2 usage (also a control character in a name), 3 configuration,
4 iSNS unreachable, 5 no LUN fits, 6 a step failed (rolled back), 7 busy (the server, or the
store held by `bcm serve`) or conflict (the server already holds a disk; LUN, BMC or name held
by another server; request ID reused), 8 nothing to release, 9 the API refused the token.
With --json, a failure is a JSON object {\"error\": ..., \"exit_code\": ...} on stdout.";

/// Help of `--timeout` (inventory, provision, release).
const TIMEOUT_HELP: &str = "How long to wait for the iSNS server and the first full inventory \
(e.g. 20s, 2m); default 3 × [probe] timeout + 4 × [isns] request_timeout + 60 s. A refused \
connection or a peer that does not speak iSNS fails at once, naming the cause";

/// bcm — configure iSCSI boot of bare-metal servers automatically: SLP finds the iSNS
/// server, iSNS and iSCSI probes inventory the LUNs, a Discovery Domain authorizes exactly
/// the server's generated initiator, and the server's BMC receives the boot parameters over
/// IPMI/RMCP+.
#[derive(Debug, Parser)]
#[command(name = "bcm", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(
        short,
        long,
        global = true,
        env = "BCM_CONFIG",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,
    /// iSNS server `host:port`, overriding the file and SLP.
    #[arg(long, global = true, env = "BCM_ISNS", help_heading = "Global options")]
    pub isns: Option<SocketAddr>,
    /// SQLite store, overriding `[manager] store`.
    #[arg(
        long,
        global = true,
        env = "BCM_STORE",
        help_heading = "Global options"
    )]
    pub store: Option<PathBuf>,
    /// Log level or filter (`info`, `bcm=debug`); logs go to stderr.
    #[arg(
        long,
        global = true,
        env = "BCM_LOG",
        default_value = "warn",
        help_heading = "Global options"
    )]
    pub log: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, help_heading = "Global options")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find iSNS servers advertised with SLP (service:iscsi:sms, protocols=isns).
    Discover(DiscoverArgs),
    /// List every target and LUN (size, state, holder) from iSNS and the targets.
    Inventory(InventoryArgs),
    /// Give a server a boot disk: select, DD, initiator, CHAP, BMC.
    Provision(Box<ProvisionArgs>),
    /// Take a server's boot disk back.
    Release(ReleaseArgs),
    /// Show assignments and unfinished requests from the store (no network).
    Status(StatusArgs),
    /// Run as a daemon: live inventory, HTTP JSON API, health and Prometheus metrics.
    Serve(ServeArgs),
    /// Release stored allocations that hold a LUN or server an older allocation holds
    /// (keeps the older holder; undoes the younger's DD, initiator, CHAP and BMC).
    Repair(RepairArgs),
    /// Run the whole flow on loopback against real peers (isnsd, tgtd, SLP, imm-sim, QEMU).
    Demo(DemoArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `bcm discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Ask this directory agent (unicast) instead of multicast.
    #[arg(long)]
    pub da: Option<SocketAddr>,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

/// `bcm inventory`.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// Bound for reaching the iSNS server and the first inventory round.
    #[arg(long, value_parser = crate::config::parse_duration, help = TIMEOUT_HELP)]
    pub timeout: Option<std::time::Duration>,
}

/// `bcm provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Server name (becomes part of its initiator IQN and DD name).
    #[arg(long)]
    pub server: String,
    /// BMC `host[:port]` (default port 623; else `[[server]] bmc`).
    #[arg(long)]
    pub bmc: Option<String>,
    /// Minimum size with its unit (`40GiB`, `500MiB`, `1TB`, `4096B`).
    #[arg(long)]
    pub size: String,
    /// Maximum size.
    #[arg(long)]
    pub max_size: Option<String>,
    /// Target name glob (`iqn.2001-04.com.example:array1.*`).
    #[arg(long)]
    pub target_pattern: Option<String>,
    /// Allowed entity (storage system); repeatable.
    #[arg(long = "entity")]
    pub entities: Vec<String>,
    /// Subnet the target must have a portal in; repeatable.
    #[arg(long = "reachable-from")]
    pub reachable_from: Vec<String>,
    /// Tag the target must carry; repeatable.
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Also a secondary LUN on another entity.
    #[arg(long)]
    pub redundant: bool,
    /// Authentication (default from `[manager] chap`).
    #[arg(long, value_parser = ["none", "chap", "mutual-chap"])]
    pub auth: Option<String>,
    /// Selection policy.
    #[arg(long, value_parser = ["best-fit", "first-fit", "least-loaded"])]
    pub policy: Option<String>,
    /// Boot NIC MAC.
    #[arg(long)]
    pub mac: Option<String>,
    /// SMBIOS system UUID (boot mode `pxe`: how the boot listener recognises the server
    /// when its BMC does not report it).
    #[arg(long)]
    pub uuid: Option<String>,
    /// Power-cycle the server after configuring its BMC.
    #[arg(long)]
    pub power_cycle: bool,
    /// Idempotency key: the same key returns the same answer.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Print the generated CHAP secret.
    #[arg(long)]
    pub show_secrets: bool,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// Bound for reaching the iSNS server and the first inventory round.
    #[arg(long, value_parser = crate::config::parse_duration, help = TIMEOUT_HELP)]
    pub timeout: Option<std::time::Duration>,
}

/// `bcm release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Server name.
    #[arg(long)]
    pub server: String,
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// Bound for reaching the iSNS server and the first inventory round.
    #[arg(long, value_parser = crate::config::parse_duration, help = TIMEOUT_HELP)]
    pub timeout: Option<std::time::Duration>,
}

/// `bcm status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
    /// Recent requests shown.
    #[arg(long, default_value_t = 20)]
    pub recent: u32,
}

/// `bcm repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Output JSON.
    #[arg(long)]
    pub json: bool,
}

/// `bcm serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP listen address, overriding `[api] listen`.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Write the bound address to this file once listening (for scripts).
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

/// `bcm demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory (default: a new temporary one, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the peers and the directory after the demo (inspect, then `scripts/peers/stop.sh`).
    #[arg(long)]
    pub keep: bool,
    /// Skip the QEMU boots (everything else still runs).
    #[arg(long)]
    pub no_vm: bool,
    /// Write the machine-readable account of every step here (JSON).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Repository root holding `scripts/` (default: found from the executable or cwd).
    #[arg(long)]
    pub repo: Option<PathBuf>,
}

impl Command {
    /// True when the command was asked for JSON output (errors are then JSON too).
    #[must_use]
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Discover(a) => a.json,
            Command::Inventory(a) => a.json,
            Command::Provision(a) => a.json,
            Command::Release(a) => a.json,
            Command::Status(a) => a.json,
            Command::Repair(a) => a.json,
            Command::Serve(_) | Command::Demo(_) | Command::Completions { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn every_help_example_parses() {
        let examples: Vec<&str> = AFTER_HELP
            .lines()
            .filter_map(|l| l.strip_prefix("  bcm "))
            .map(|l| l.split("  ").next().unwrap_or(l))
            .collect();
        assert!(examples.len() >= 8, "{examples:?}");
        for e in examples {
            let words = std::iter::once("bcm")
                .chain(e.split_whitespace().take_while(|w| !w.starts_with('>')));
            if let Err(err) = Cli::try_parse_from(words) {
                panic!("help example `bcm {e}` does not parse: {err}");
            }
        }
    }
}
