//! The `imm-sim` command line: flags, logging set-up, and the process entry point.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ipmi_iscsi::bootopt::Pen;
use ipmi_iscsi::rmcp::{CipherSuite, Privilege};
use tracing::error;

use super::host::{BoundHost, HostConfig};
use super::spec::{BmcName, parse_bmcs};
use super::users::{UsersFile, make_user, users_per_bmc};
use crate::password::PasswordSource;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `imm-sim`: emulates one or many IPMI BMCs (IMMs) that receive iSCSI boot parameters
/// over RMCP+ and render what firmware boots from.
#[derive(Clone, Debug, Parser)]
#[command(name = "imm-sim", version)]
pub struct Args {
    /// BMC addresses: `ip:port`, `ip:first-last`, comma-separated; repeatable.
    #[arg(long = "bmc", required = true, value_name = "ADDR")]
    pub bmcs: Vec<String>,
    /// Redfish (HTTPS) addresses, one per `--bmc` address in the same order (`ip:port`,
    /// `ip:first-last`, comma-separated; repeatable). Each BMC's self-signed certificate is
    /// written to `STATE_DIR/<ip>_<port>/redfish.pem` at start.
    #[arg(long = "redfish", value_name = "ADDR")]
    pub redfish: Vec<String>,
    /// Directory of each BMC's `state.json` (kept across restarts).
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Directory of the rendered boot files: `DIR/<ip>_<port>/` per BMC holds `boot.ipxe`,
    /// `root-path`, `ibft.bin` and `params.json` (default: STATE_DIR/render; never the
    /// state directory itself, which holds secrets firmware must not be served).
    #[arg(long, value_name = "DIR")]
    pub render_dir: Option<PathBuf>,
    /// Administrator user of every BMC.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Environment variable holding the `--user` password.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// File whose first line is the `--user` password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// TOML file of per-BMC users and privileges.
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Cipher suites offered, in preference order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "17,3",
        value_name = "IDS"
    )]
    pub suites: Vec<u8>,
    /// Also accept cipher suite 0 (no authentication, no integrity): testing only.
    #[arg(long)]
    pub allow_suite_0: bool,
    /// The system GUID one BMC reports (Get System GUID), as `ADDR=UUID`; repeatable. The
    /// UUID is the host's SMBIOS UUID (what iPXE prints as `${uuid}`), sent in SMBIOS byte
    /// order. Default: derived from the BMC's address.
    #[arg(long = "guid", value_name = "ADDR=UUID")]
    pub guids: Vec<String>,
    /// Boot initiator mailbox blocks (parameter 7) per BMC; the spec asks for at least 5.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub mailbox_blocks: u16,
    /// IANA enterprise number of the mailbox dialect.
    #[arg(long, default_value_t = 32473)]
    pub pen: u32,
    /// Concurrent authenticated RMCP+ sessions per BMC (sessions in set-up are bounded apart:
    /// at most 32, each dropped after 5 s idle).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_sessions: u16,
    /// Idle RMCP+ session timeout in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub session_timeout: u64,
    /// Written once every BMC's socket is bound.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax; `RUST_LOG` overrides it).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log_level: String,
}

/// Why `imm-sim` cannot start (printed, exit status 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A flag value is wrong.
    #[error("{0}")]
    Usage(String),
    /// The BMC list.
    #[error(transparent)]
    Spec(#[from] super::spec::SpecError),
    /// The users.
    #[error(transparent)]
    Users(#[from] super::users::UsersError),
    /// Start-up.
    #[error(transparent)]
    Host(#[from] super::host::HostError),
    /// The tokio runtime.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(std::io::Error),
}

/// Resolves the flags into a [`HostConfig`] (reads passwords and the users file).
///
/// # Errors
/// [`CliError`] naming the flag or file that is wrong.
pub fn host_config(args: &Args) -> Result<HostConfig, CliError> {
    let addrs = parse_bmcs(&args.bmcs)?;
    let names: Vec<BmcName> = addrs.iter().map(|a| BmcName::of(*a)).collect();
    let source = match (&args.password_env, &args.password_file) {
        (Some(env), None) => Some(PasswordSource::Env { env: env.clone() }),
        (None, Some(file)) => Some(PasswordSource::File { file: file.clone() }),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "give --password-env or --password-file, not both".into(),
            ));
        }
    };
    let admin = match (&args.user, source) {
        (Some(user), Some(src)) => {
            let pw = src
                .resolve(&format!("--user {user}"))
                .map_err(CliError::Usage)?;
            Some(make_user("--user", user, pw, Privilege::ADMINISTRATOR)?)
        }
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--user needs --password-env VAR or --password-file FILE (passwords are never flags)"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(CliError::Usage(
                "--password-env/--password-file need --user".into(),
            ));
        }
        (None, None) => None,
    };
    let file = args
        .users_file
        .as_deref()
        .map(UsersFile::load)
        .transpose()?;
    let users = users_per_bmc(&names, admin.as_ref(), file.as_ref())?;
    let mut suites = Vec::new();
    for id in &args.suites {
        let s = CipherSuite::from_id(*id).ok_or_else(|| {
            CliError::Usage(format!(
                "--suites: cipher suite {id} is not implemented (use 17, 3, 2, 1, 16, 15 or 0)"
            ))
        })?;
        if s == CipherSuite::SUITE_0 && !args.allow_suite_0 {
            return Err(CliError::Usage(
                "--suites 0 needs --allow-suite-0 (suite 0 has no authentication)".into(),
            ));
        }
        if !suites.contains(&s) {
            suites.push(s);
        }
    }
    if suites.is_empty() {
        return Err(CliError::Usage("--suites lists no cipher suite".into()));
    }
    let pen = Pen::new(args.pen).ok_or_else(|| {
        CliError::Usage(format!("--pen {}: enterprise numbers are 24-bit", args.pen))
    })?;
    let mut system_guids = Vec::new();
    for g in &args.guids {
        let parsed = g.split_once('=').and_then(|(a, u)| {
            Some((
                a.parse::<std::net::SocketAddr>().ok()?,
                crate::bmc::parse_uuid(u)?,
            ))
        });
        let Some((addr, uuid)) = parsed else {
            return Err(CliError::Usage(format!(
                "--guid {g}: use ADDR=UUID (127.0.0.1:9001=01234567-89ab-cdef-0123-456789abcdef)"
            )));
        };
        if !addrs.contains(&addr) {
            return Err(CliError::Usage(format!(
                "--guid {g}: {addr} is not one of the --bmc addresses"
            )));
        }
        system_guids.push((addr, uuid));
    }
    Ok(HostConfig {
        system_guids,
        bmcs: addrs,
        users,
        state_dir: args.state_dir.clone(),
        render_dir: args.render_dir.clone(),
        suites,
        allow_suite_0: args.allow_suite_0,
        mailbox_blocks: args.mailbox_blocks,
        max_sessions: usize::from(args.max_sessions),
        session_timeout: Duration::from_secs(args.session_timeout),
        pen,
        ready_file: args.ready_file.clone(),
        redfish: if args.redfish.is_empty() {
            Vec::new()
        } else {
            parse_bmcs(&args.redfish)?
        },
    })
}

fn init_logging(args: &Args) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&args.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = match args.log_format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `imm-sim` with parsed `args` until SIGTERM or Ctrl-C.
///
/// # Errors
/// [`CliError`] when it cannot start.
pub fn run(args: &Args) -> Result<(), CliError> {
    init_logging(args);
    let config = host_config(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("imm-sim")
        .build()
        .map_err(CliError::Runtime)?;
    rt.block_on(async {
        let host = BoundHost::bind(&config).await?;
        host.serve(shutdown_signal()).await;
        Ok(())
    })
}

/// The process entry point: parses `std::env::args`, runs, maps errors to exit status 2.
#[must_use]
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Like [`main`] with an explicit argument list (first item: the program name), for
/// embedders such as a benchmark that runs the host in a child process of its own.
#[must_use]
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = Args::parse_from(args);
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "imm-sim cannot start");
            eprintln!("imm-sim: {e}");
            ExitCode::from(2)
        }
    }
}
