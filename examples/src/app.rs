//! Wiring: from a [`Config`] to a running manager (store, engine, live inventory, effects),
//! shared by every `bcm` subcommand that touches iSNS and by the end-to-end tests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use boot_config_core::{
    AuthWanted, BootRequest, Constraints, Engine, EngineConfig, EntityId, NamePattern, Policy,
    Redundancy, ServerIdentity, SizeRange, Subnet, Tag,
};
use tokio::sync::{mpsc, watch};

use crate::bmc::{BmcPusher, PusherConfig};
use crate::config::Config;
use crate::inventory::{ConnectionState, Inventory, InventoryConfig, InventoryUpdate, ProbeChap};
use crate::manager::live::{BmcDirectory, ExtraAccount, LiveEffects};
use crate::manager::{
    Manager, ManagerError, ManagerOptions, Observer, ProvisionRequest, StoreConflict,
};
use crate::store::Store;
use crate::target_chap::ChapHook;

/// The effects of a running manager.
pub type Live = LiveEffects<Arc<Inventory>>;

/// Why the manager could not start. Messages say what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No iSNS server configured and none found by SLP.
    #[error("no iSNS server: set [isns] server or advertise one with SLP ({0})")]
    NoIsnsServer(String),
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The inventory could not start.
    #[error("{0}")]
    Inventory(#[from] crate::inventory::InventoryError),
    /// The iSNS server cannot be used, for a cause that retrying will not change soon
    /// (nothing listens, or the peer does not speak iSNS).
    #[error("the iSNS server at {server} cannot be used: {cause} ({})", crate::wording::count(*attempts as usize, "attempt"))]
    Unreachable {
        /// The server.
        server: SocketAddr,
        /// Why.
        cause: isns_proto::client::DisconnectCause,
        /// Connection attempts made.
        attempts: u32,
    },
    /// The first walk and probe round did not finish in time.
    #[error("the iSNS server at {server} did not answer a full inventory within {}: {last}", crate::wording::duration(*after))]
    NotSynced {
        /// The server.
        server: SocketAddr,
        /// How long we waited.
        after: Duration,
        /// The last connection state or warning.
        last: String,
    },
    /// Recovery failed.
    #[error(transparent)]
    Manager(#[from] ManagerError),
}

/// The engine settings from `[manager]`.
///
/// # Errors
/// [`StartError::Config`] for an unusable domain or date.
pub fn engine_config(config: &Config) -> Result<EngineConfig, StartError> {
    let (y, m) = config.manager.iqn_date.split_at(4);
    let year: u16 = y
        .parse()
        .map_err(|_| StartError::Config("[manager] iqn_date: bad year".to_owned()))?;
    let month: u8 = m
        .trim_start_matches('-')
        .parse()
        .map_err(|_| StartError::Config("[manager] iqn_date: bad month".to_owned()))?;
    let mut ec = EngineConfig::new(year, month, &config.manager.domain)
        .map_err(|e| StartError::Config(format!("[manager] naming: {e}")))?;
    ec.reservation_ttl = config.manager.reservation_ttl;
    ec.naming.dd_prefix.clone_from(&config.manager.dd_prefix);
    ec.share_targets = config.manager.share_targets;
    if ec.share_targets {
        tracing::warn!(
            "[manager] share_targets = true: servers may get LUNs of one target, and each can then read the others' disks"
        );
    }
    Ok(ec)
}

/// Opens the store and rebuilds the engine from its ledger; stored allocations that collide
/// with an older holder are left out of it and logged (see [`store_conflicts`]).
///
/// # Errors
/// [`StartError`].
pub fn open_engine(config: &Config) -> Result<(Store, Engine), StartError> {
    let store = Store::open(&config.manager.store)?;
    let (ledger, conflicts) = Manager::<Live>::rebuild_ledger(&store)?;
    for c in &conflicts {
        tracing::warn!(conflict = %c, "stored ledger");
    }
    Ok((store, Engine::with_ledger(engine_config(config)?, ledger)))
}

/// Opens an existing store read-only and rebuilds the engine from its ledger (`bcm status`).
///
/// # Errors
/// [`StartError::Store`] (with [`crate::store::StoreError::Missing`] when there is none).
pub fn open_engine_read_only(config: &Config) -> Result<(Store, Engine), StartError> {
    let store = Store::open_read_only(&config.manager.store)?;
    let ledger = Manager::<Live>::load_ledger(&store)?;
    Ok((store, Engine::with_ledger(engine_config(config)?, ledger)))
}

/// Stored allocations the ledger cannot take because an older one holds the same LUN or
/// server: `bcm status` lists them, `bcm repair` releases them.
///
/// # Errors
/// [`StartError::Manager`] for store errors.
pub fn store_conflicts(store: &Store) -> Result<Vec<StoreConflict>, StartError> {
    Ok(Manager::<Live>::rebuild_ledger(store)?.1)
}

/// The exclusive claim of one process on a store: `bcm serve` holds it while it runs, and so
/// does each state-changing command (`provision`, `release`, `repair`). A second claimant is
/// refused with the holder's PID, role and API address, read from the lock file
/// (`<store>.lock`, an OS advisory lock released when the process ends, even by SIGKILL).
#[derive(Debug)]
pub struct StoreLock {
    file: std::fs::File,
    path: std::path::PathBuf,
}

/// Why a store could not be claimed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds the store.
    #[error(
        "the store {store} is in use by {holder}; send the change to its API (POST /v1/boot-requests, DELETE /v1/assignments/<server>) or stop it first"
    )]
    Busy {
        /// The store.
        store: String,
        /// What the lock file says about the holder.
        holder: String,
        /// The API of the holder, when it is `bcm serve` (`http://…` or `https://…`).
        api: Option<String>,
    },
    /// The lock file cannot be used.
    #[error("cannot lock the store {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

impl StoreLock {
    /// Claims the store of `config` for `role` (`serve`, `provision`, …).
    ///
    /// # Errors
    /// [`LockError::Busy`] when another process holds it.
    pub fn acquire(config: &Config, role: &str) -> Result<StoreLock, LockError> {
        use std::io::{Read, Seek, Write};
        let store = &config.manager.store;
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = describe_holder(text.trim(), config);
                return Err(LockError::Busy {
                    store: store.display().to_string(),
                    holder,
                    api: daemon_api_of(text.trim()),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "pid={} role={role}", std::process::id()).map_err(io)?;
        Ok(StoreLock { file, path })
    }

    /// Adds the API address a daemon listens on, for the commands it refuses.
    ///
    /// # Errors
    /// I/O errors.
    pub fn announce_api(&mut self, api: SocketAddr) -> std::io::Result<()> {
        use std::io::Write;
        writeln!(self.file, "api=http://{api}")
    }

    /// Adds the API URL (`https://…` under TLS) a daemon serves, for the commands that
    /// then send their change to it.
    ///
    /// # Errors
    /// I/O errors.
    pub fn announce_api_url(&mut self, url: &str) -> std::io::Result<()> {
        use std::io::Write;
        writeln!(self.file, "api={url}")
    }

    /// The lock file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The `api=` of a lock file written by `bcm serve`.
fn daemon_api_of(text: &str) -> Option<String> {
    let words = || text.split_whitespace();
    words().any(|w| w == "role=serve").then_some(())?;
    words().find_map(|w| w.strip_prefix("api=").map(str::to_owned))
}

/// `pid=… role=… api=…` from a lock file, in words; the API address falls back to
/// `[api] listen` of the same configuration.
fn describe_holder(text: &str, config: &Config) -> String {
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k).map(str::to_owned))
    };
    let role = field("role=").unwrap_or_else(|| "another bcm".to_owned());
    let pid = field("pid=").map_or_else(String::new, |p| format!(" (pid {p})"));
    let api = field("api=").unwrap_or_else(|| format!("http://{}", config.api.listen));
    if role == "serve" {
        format!("`bcm serve`{pid}, API {api}")
    } else {
        format!("`bcm {role}`{pid}")
    }
}

/// The iSNS server: `[isns] server`, else the best one SLP finds.
///
/// # Errors
/// [`StartError::NoIsnsServer`].
pub async fn isns_server(config: &Config) -> Result<SocketAddr, StartError> {
    if let Some(s) = config.isns.server {
        return Ok(s);
    }
    let found = crate::discover::discover(&config.slp)
        .await
        .map_err(|e| StartError::NoIsnsServer(e.to_string()))?;
    found
        .services
        .iter()
        .find_map(|s| s.address)
        .ok_or_else(|| {
            StartError::NoIsnsServer(
                "SLP found no service:iscsi:sms with (protocols=isns)".to_owned(),
            )
        })
}

/// What the update pump tells the rest of the process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InventoryStatus {
    /// Full rounds (walk + probes) finished.
    pub rounds: u64,
    /// Whether the control node is registered now.
    pub registered: bool,
    /// Targets after the last round.
    pub targets: usize,
    /// Probing progress of the running round.
    pub progress: Option<(usize, usize)>,
    /// The last warning, for health output.
    pub last_warning: Option<String>,
    /// Targets whose last probe failed, and why (an answered probe removes its target).
    pub probe_failures: std::collections::BTreeMap<String, crate::inventory::ProbeFailure>,
    /// Why the iSNS connection is down and how many attempts failed in a row (cleared by a
    /// registration).
    pub disconnect: Option<(isns_proto::client::DisconnectCause, u32)>,
}

/// A running manager with its live inventory.
pub struct Running {
    /// The executor.
    pub manager: Manager<Live>,
    /// The inventory (also the iSNS session of the effects).
    pub inventory: Arc<Inventory>,
    /// Inventory status, updated by the pump.
    pub status: watch::Receiver<InventoryStatus>,
    /// The iSNS server in use.
    pub isns_server: SocketAddr,
    pump: tokio::task::JoinHandle<()>,
}

/// Options of [`start`].
#[derive(Clone, Default)]
pub struct StartOptions {
    /// Progress receiver for plan steps.
    pub observer: Option<Observer>,
    /// Called with probing progress `(probed, total)` while the first round runs.
    pub on_progress: Option<Arc<dyn Fn(usize, usize) + Send + Sync>>,
    /// Bound for the first full inventory round.
    pub sync_timeout: Option<Duration>,
    /// A read-only command: skip [`Manager::recover`], resolve no BMC password, and never
    /// create a store (without one the ledger is empty and kept in memory).
    pub no_recover: bool,
    /// A one-shot command: give up as soon as the iSNS server fails for a definite cause
    /// (refused, not iSNS) twice in a row, instead of retrying until `sync_timeout`.
    pub fail_fast: bool,
}

/// Starts the inventory and the manager, waits for the first full inventory round, then
/// resumes or rolls back what a previous run left unfinished and reconciles with iSNS.
///
/// # Errors
/// [`StartError`].
pub async fn start(config: &Config, opts: StartOptions) -> Result<Running, StartError> {
    let server = isns_server(config).await?;
    let directory = if opts.no_recover {
        BmcDirectory::without_secrets(config)
    } else {
        BmcDirectory::from_config(config).map_err(StartError::Config)?
    };
    let (store, engine) = if opts.no_recover && !config.manager.store.exists() {
        let store = Store::open_in_memory()?;
        let ledger = Manager::<Live>::load_ledger(&store)?;
        (store, Engine::with_ledger(engine_config(config)?, ledger))
    } else {
        open_engine(config)?
    };
    let remembered: Vec<(SocketAddr, u8)> = store
        .cipher_suites()?
        .into_iter()
        .filter_map(|(b, s)| b.parse().ok().map(|b| (b, s)))
        .collect();
    let pusher = BmcPusher::new(
        PusherConfig {
            timeout: config.bmc.timeout,
            dialect: config.bmc.dialect,
            persistent: config.bmc.persistent,
            efi: config.bmc.efi,
            retry: ipmi_iscsi::rmcp::RetryPolicy {
                timeout: config.bmc.retransmit_after,
                attempts: config.bmc.transmissions,
            },
            ..PusherConfig::default()
        },
        &remembered,
    );
    let hook = (!config.targets.chap_hook.is_empty()).then(|| ChapHook {
        command: config.targets.chap_hook.clone(),
        timeout: config.targets.hook_timeout,
    });
    // One pacer, shared by the inventory's and the manager's iSNS changes.
    let mut inv_cfg = InventoryConfig::from_config(config, server);
    let pacer = Arc::clone(&inv_cfg.pacer);
    let extra = match &config.probe.chap_secret {
        Some(src) => {
            let secret = src
                .resolve("[probe] chap_secret")
                .map_err(|e| StartError::Config(e.to_string()))?;
            inv_cfg.probe_chap = Some(ProbeChap::new(
                config.probe.initiator.clone(),
                secret.clone().into_bytes(),
            ));
            Some(ExtraAccount {
                user: config.probe.initiator.clone(),
                secret: ipmi_iscsi::params::Secret::new(secret)
                    .map_err(|e| StartError::Config(format!("[probe] chap_secret: {e}")))?,
            })
        }
        None => None,
    };
    let (inventory, updates) = Inventory::start(inv_cfg).await?;
    let inventory = Arc::new(inventory);
    let directory = directory.with_pins(crate::redfish::server::PinBook::new(&store.cert_pins()?));
    let effects = LiveEffects::new(
        Arc::clone(&inventory),
        pacer,
        pusher,
        directory,
        hook,
        extra,
    );
    let options = ManagerOptions {
        observer: opts.observer.clone(),
        power_cycle: config.bmc.power_cycle,
        ..ManagerOptions::default()
    };
    let conflicts = store_conflicts(&store)?;
    let manager = Manager::new(engine, store, effects, options);
    manager.set_conflicts(conflicts);
    let (status_tx, status) = watch::channel(InventoryStatus::default());
    let pump = tokio::spawn(pump(
        manager.clone(),
        updates,
        status_tx,
        opts.on_progress.clone(),
    ));
    let mut running = Running {
        manager,
        inventory,
        status,
        isns_server: server,
        pump,
    };
    let bound = opts.sync_timeout.unwrap_or(
        config.probe.timeout * 3 + config.isns.request_timeout * 4 + Duration::from_secs(60),
    );
    if opts.fail_fast {
        running.wait_first_round(bound).await?;
    } else {
        running.wait_rounds(1, bound).await?;
    }
    if !opts.no_recover {
        let out = running.manager.recover().await?;
        if !out.is_clean() {
            tracing::info!(outcome = %out, "recovered what a previous run left");
        }
    }
    Ok(running)
}

/// Failed attempts with a definite cause after which a one-shot command gives up.
const DEFINITE_FAILURES: u32 = 2;

impl Running {
    /// Waits for the first full inventory round, giving up early when the iSNS server fails
    /// for a definite cause `DEFINITE_FAILURES` (2) times in a row.
    ///
    /// # Errors
    /// [`StartError::Unreachable`], or [`StartError::NotSynced`] after `bound`.
    pub async fn wait_first_round(&mut self, bound: Duration) -> Result<(), StartError> {
        let wait = self.status.wait_for(|s| {
            s.rounds >= 1
                || s.disconnect
                    .as_ref()
                    .is_some_and(|(c, n)| c.is_definite() && *n >= DEFINITE_FAILURES)
        });
        let definite = match tokio::time::timeout(bound, wait).await {
            Ok(Ok(s)) if s.rounds == 0 => s.disconnect.clone(),
            _ => None,
        };
        match definite {
            Some((cause, attempts)) => Err(StartError::Unreachable {
                server: self.isns_server,
                cause,
                attempts,
            }),
            None if self.status.borrow().rounds >= 1 => Ok(()),
            None => Err(self.not_synced(bound)),
        }
    }

    /// Waits until at least `rounds` full inventory rounds have finished.
    ///
    /// # Errors
    /// [`StartError::NotSynced`] after `bound`.
    pub async fn wait_rounds(&mut self, rounds: u64, bound: Duration) -> Result<(), StartError> {
        let reached = {
            let wait = self.status.wait_for(|s| s.rounds >= rounds);
            matches!(tokio::time::timeout(bound, wait).await, Ok(Ok(_)))
        };
        if reached {
            Ok(())
        } else {
            Err(self.not_synced(bound))
        }
    }

    fn not_synced(&self, bound: Duration) -> StartError {
        let s = self.status.borrow().clone();
        let lost = s.disconnect.map(|(c, n)| {
            format!(
                "{c} ({})",
                crate::wording::count(n as usize, "failed attempt")
            )
        });
        let last = lost.or(s.last_warning).unwrap_or_else(|| {
            if s.registered {
                "registered, walk or probes unfinished".to_owned()
            } else {
                "not registered (is it running and reachable?)".to_owned()
            }
        });
        StartError::NotSynced {
            server: self.isns_server,
            after: bound,
            last,
        }
    }

    /// Walks and probes again now and waits for the round to finish.
    ///
    /// # Errors
    /// [`StartError::NotSynced`].
    pub async fn resync(&mut self, bound: Duration) -> Result<(), StartError> {
        let next = self.status.borrow().rounds + 1;
        self.inventory.resync();
        self.wait_rounds(next, bound).await
    }

    /// Stops the inventory and the iSNS session.
    pub async fn shutdown(self) {
        let Running {
            manager,
            inventory,
            pump,
            ..
        } = self;
        pump.abort();
        // The pump holds a manager (and so the inventory): wait until it is gone.
        let _ = pump.await;
        drop(manager);
        if let Ok(inv) = Arc::try_unwrap(inventory) {
            inv.shutdown().await;
        }
    }
}

async fn pump(
    manager: Manager<Live>,
    mut updates: mpsc::Receiver<InventoryUpdate>,
    status: watch::Sender<InventoryStatus>,
    on_progress: Option<Arc<dyn Fn(usize, usize) + Send + Sync>>,
) {
    while let Some(update) = updates.recv().await {
        match update {
            InventoryUpdate::Events { events, provenance } => {
                manager.apply(&events, provenance);
            }
            InventoryUpdate::Progress { probed, total } => {
                if let Some(f) = &on_progress {
                    f(probed, total);
                }
                status.send_modify(|s| s.progress = Some((probed, total)));
            }
            InventoryUpdate::Synced {
                targets,
                luns,
                took,
            } => {
                tracing::info!(
                    targets,
                    luns,
                    took = %crate::wording::duration(took),
                    "inventory round finished"
                );
                status.send_modify(|s| {
                    s.rounds += 1;
                    s.targets = targets;
                    s.progress = None;
                });
            }
            InventoryUpdate::Probed { target, failure } => {
                status.send_modify(|s| match failure {
                    Some(f) => {
                        s.probe_failures.insert(target, f);
                    }
                    None => {
                        s.probe_failures.remove(&target);
                    }
                });
            }
            InventoryUpdate::Connection(c) => {
                let registered = matches!(c, ConnectionState::Registered { .. });
                match &c {
                    ConnectionState::Registered { reconnected, .. } => {
                        tracing::info!(reconnected, "registered with the iSNS server");
                    }
                    ConnectionState::Disconnected {
                        retry_in,
                        cause,
                        failures,
                    } => {
                        tracing::warn!(
                            %cause,
                            failures,
                            retry_in = %crate::wording::duration(*retry_in),
                            "lost the iSNS server"
                        );
                    }
                }
                status.send_modify(|s| {
                    s.registered = registered;
                    s.disconnect = match c {
                        ConnectionState::Disconnected {
                            cause, failures, ..
                        } => Some((cause, failures)),
                        _ => None,
                    };
                });
            }
            InventoryUpdate::Warning(w) => {
                tracing::warn!(warning = %w, "inventory");
                status.send_modify(|s| s.last_warning = Some(w.to_string()));
            }
        }
    }
}

impl InventoryStatus {
    /// `2 targets could not be probed: T1 (auth failed: …); T2 (timeout: …)`, when any.
    #[must_use]
    pub fn unprobed_note(&self) -> Option<String> {
        if self.probe_failures.is_empty() {
            return None;
        }
        let each: Vec<String> = self
            .probe_failures
            .iter()
            .map(|(t, f)| format!("{t} ({}: {})", f.state, f.reason))
            .collect();
        Some(format!(
            "{} could not be probed, so their LUNs are unknown: {}",
            crate::wording::count(each.len(), "target"),
            each.join("; ")
        ))
    }
}

/// A boot request as a person or an API client states it.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootAsk {
    /// Idempotency key (generated when absent).
    pub request_id: Option<String>,
    /// Server name.
    pub server: String,
    /// BMC `host[:port]` (else `[[server]] bmc`).
    pub bmc: Option<String>,
    /// Minimum size (`40GiB`, `500MiB`, `1TB`, bytes).
    pub size: String,
    /// Maximum size.
    pub max_size: Option<String>,
    /// Target name glob.
    pub target_pattern: Option<String>,
    /// Allowed entities (storage systems).
    #[serde(default)]
    pub entities: Vec<String>,
    /// Subnets the target must have a portal in (`10.0.0.0/24`).
    #[serde(default)]
    pub reachable_from: Vec<String>,
    /// Tags the target must carry.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A secondary LUN on another entity.
    #[serde(default)]
    pub redundant: bool,
    /// `none`, `chap` or `mutual-chap` (default from `[manager] chap`).
    pub auth: Option<String>,
    /// `best-fit`, `first-fit` or `least-loaded`.
    pub policy: Option<String>,
    /// Boot NIC MAC.
    pub mac: Option<String>,
    /// SMBIOS system UUID (boot mode `pxe`).
    pub uuid: Option<String>,
    /// Power-cycle after configuring the BMC.
    pub power_cycle: Option<bool>,
}

/// Why a size text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SizeError {
    /// No digits where the number should be.
    #[error("size \"{text}\" is not a number (at byte {at})")]
    NotANumber {
        /// The text given.
        text: String,
        /// Byte offset of the problem.
        at: usize,
    },
    /// A unit outside the accepted list.
    #[error(
        "size \"{text}\": unknown unit \"{unit}\" at byte {at} (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)"
    )]
    UnknownUnit {
        /// The text given.
        text: String,
        /// The unit as written.
        unit: String,
        /// Byte offset of the unit.
        at: usize,
    },
    /// More bytes than 64 bits hold.
    #[error("size \"{text}\" is not a number of bytes that fits 64 bits")]
    TooLarge {
        /// The text given.
        text: String,
    },
    /// A number without a unit (`--size 40` meant 40 GiB more often than 40 bytes).
    #[error("size \"{text}\" has no unit: write {number}GiB, {number}MiB or {number}B for bytes")]
    NoUnit {
        /// The text given.
        text: String,
        /// The number as written.
        number: String,
    },
    /// Zero bytes.
    #[error("size \"{text}\" is zero; ask for the size the OS needs")]
    Zero {
        /// The text given.
        text: String,
    },
}

/// `[ws] digits ["." digits] [ws]`, then the unit: the whole digits, the fraction digits and
/// what follows (nom's error stays here: the caller names what went wrong).
fn size_number(i: &str) -> nom::IResult<&str, (&str, Option<&str>), ()> {
    use nom::Parser;
    use nom::character::complete::{char, digit0, space0};
    use nom::combinator::opt;
    use nom::sequence::{preceded, terminated};
    (
        preceded(space0, digit0),
        terminated(opt(preceded(char('.'), digit0)), space0),
    )
        .parse(i)
}

/// Parses `40GiB`, `40G` (GiB), `500MiB`, `1TB` (10¹²), `4096B` (bytes), `1.5GiB`; a number
/// without a unit is refused.
///
/// # Errors
/// [`SizeError`], naming the accepted units for an unknown one.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let owned = || text.to_owned();
    let (rest, (whole, frac)) = size_number(text).map_err(|_| SizeError::NotANumber {
        text: owned(),
        at: 0,
    })?;
    if whole.is_empty() && frac.is_none_or(str::is_empty) {
        return Err(SizeError::NotANumber {
            text: owned(),
            at: text.len() - text.trim_start().len(),
        });
    }
    let unit = rest.trim_end();
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => {
            return Err(SizeError::NoUnit {
                text: owned(),
                number: text[..text.len() - rest.len()].trim().to_owned(),
            });
        }
        "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(SizeError::UnknownUnit {
                text: owned(),
                unit: unit.to_owned(),
                at: text.len() - rest.len(),
            });
        }
    };
    let too_large = || SizeError::TooLarge { text: owned() };
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    // Decimal fractions of binary units: exact in integers, rounded down to a byte.
    let f = frac.unwrap_or("");
    let digits = f.len().min(9);
    let part: u64 = f[..digits].parse().unwrap_or(0);
    let scale = 10u64.pow(u32::try_from(digits).unwrap_or(0));
    let bytes = whole
        .checked_mul(mult)
        .and_then(|w| {
            w.checked_add(
                u64::try_from(u128::from(part) * u128::from(mult) / u128::from(scale)).ok()?,
            )
        })
        .ok_or_else(too_large)?;
    if bytes == 0 {
        return Err(SizeError::Zero { text: owned() });
    }
    Ok(bytes)
}

impl BootAsk {
    /// The manager's request, with defaults from `config`; `now_ms` names a generated
    /// request ID.
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn to_request(&self, config: &Config, now_ms: u128) -> Result<ProvisionRequest, String> {
        if self.server.trim().is_empty() {
            return Err("server: empty; name the server that boots".to_owned());
        }
        // Names travel into iSCSI names, iSNS attributes, logs and the store: a control
        // character has no business in any of them.
        for (what, text) in [
            ("server", Some(self.server.as_str())),
            ("request_id", self.request_id.as_deref()),
        ] {
            if let Some(t) = text
                && let Some(c) = t.chars().find(|c| c.is_control())
            {
                return Err(format!(
                    "{what}: contains the control character U+{:04X}; use letters, digits, '-', '.', '_'",
                    u32::from(c)
                ));
            }
        }
        if let Some(u) = &self.uuid
            && crate::boot::Uuid::parse(u).is_none()
        {
            return Err(format!(
                "uuid {u:?} is not a UUID like 01234567-89ab-cdef-0123-456789abcdef"
            ));
        }
        if let Some(m) = &self.mac
            && crate::boot::normalize_mac(m).is_none()
        {
            return Err(format!(
                "mac {m:?} is not a MAC address like 52:54:00:12:34:56"
            ));
        }
        let known = config.server(&self.server);
        let min = parse_size(&self.size).map_err(|e| e.to_string())?;
        let size = match &self.max_size {
            Some(m) => {
                let max = parse_size(m).map_err(|e| e.to_string())?;
                if max < min {
                    return Err(format!("max_size {m} is below size {}", self.size));
                }
                SizeRange::between(min, max)
            }
            None => SizeRange::at_least(min),
        };
        let reachable_from = self
            .reachable_from
            .iter()
            .map(|s| s.parse::<Subnet>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let auth = match self.auth.as_deref() {
            None => {
                if config.manager.chap {
                    AuthWanted::Chap
                } else {
                    AuthWanted::None
                }
            }
            Some("none") => AuthWanted::None,
            Some("chap") => AuthWanted::Chap,
            Some("mutual-chap") => AuthWanted::MutualChap,
            Some(o) => return Err(format!("auth {o:?}: use none, chap or mutual-chap")),
        };
        let policy = match self.policy.as_deref() {
            None | Some("best-fit") => Policy::BestFit,
            Some("first-fit") => Policy::FirstFit,
            Some("least-loaded") => Policy::LeastLoaded,
            Some(o) => {
                return Err(format!(
                    "policy {o:?}: use best-fit, first-fit or least-loaded"
                ));
            }
        };
        let bmc = self
            .bmc
            .clone()
            .or_else(|| known.map(|k| k.bmc.to_string()));
        let id = self
            .request_id
            .clone()
            .unwrap_or_else(|| format!("{}-{now_ms}", self.server));
        let mut boot = BootRequest::new(id.as_str(), self.server.as_str(), size);
        boot.server = ServerIdentity {
            bmc,
            nic_mac: self
                .mac
                .clone()
                .or_else(|| known.and_then(|k| k.mac.clone())),
            ..ServerIdentity::named(self.server.as_str())
        };
        boot.constraints = Constraints {
            target_pattern: self.target_pattern.as_deref().map(NamePattern::new),
            entities: self.entities.iter().map(EntityId::new).collect(),
            reachable_from,
            tags: self.tags.iter().map(Tag::new).collect(),
        };
        boot.redundancy = if self.redundant {
            Redundancy::SecondaryOnOtherEntity
        } else {
            Redundancy::None
        };
        boot.auth = auth;
        boot.policy = policy;
        Ok(ProvisionRequest {
            boot,
            power_cycle: self.power_cycle,
        })
    }
}

/// Loads the config file, or the defaults when `path` is `None`.
///
/// # Errors
/// The config error, as a message.
pub fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Config::parse("", Path::new("(defaults)")).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_size("40GiB"), Ok(40 << 30));
        assert_eq!(parse_size("40G"), Ok(40 << 30));
        assert_eq!(parse_size("500 MiB"), Ok(500 << 20));
        assert_eq!(parse_size("1TB"), Ok(1_000_000_000_000));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(
            parse_size("40"),
            Err(SizeError::NoUnit {
                text: "40".into(),
                number: "40".into()
            })
        );
        assert!(
            parse_size("40")
                .unwrap_err()
                .to_string()
                .contains("no unit")
        );
        assert_eq!(
            parse_size("0GiB"),
            Err(SizeError::Zero {
                text: "0GiB".into()
            })
        );
        assert_eq!(
            parse_size("40 parsecs"),
            Err(SizeError::UnknownUnit {
                text: "40 parsecs".into(),
                unit: "parsecs".into(),
                at: 3
            })
        );
        assert_eq!(
            parse_size(" GiB"),
            Err(SizeError::NotANumber {
                text: " GiB".into(),
                at: 1
            })
        );
        assert_eq!(parse_size(".5 KiB"), Ok(512));
        assert_eq!(parse_size(" 2 g "), Ok(2 << 30));
        assert!(parse_size("1.2.3G").is_err());
        assert!(
            parse_size("40 parsecs")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
        assert!(
            parse_size("99999999999TiB")
                .unwrap_err()
                .to_string()
                .contains("64 bits")
        );
        assert!(parse_size("").is_err());
    }

    #[test]
    fn refuses_control_characters_in_names_and_shares_targets_only_when_asked() {
        let config = Config::parse("", Path::new("t")).unwrap();
        for server in ["a\u{0}b", "a\nb", "a\u{7f}"] {
            let ask = BootAsk {
                server: server.to_owned(),
                size: "1GiB".to_owned(),
                ..BootAsk::default()
            };
            let err = ask.to_request(&config, 1).unwrap_err();
            assert!(err.contains("control character"), "{err}");
        }
        assert!(!engine_config(&config).unwrap().share_targets);
        let shared = Config::parse("[manager]\nshare_targets = true\n", Path::new("t")).unwrap();
        assert!(engine_config(&shared).unwrap().share_targets);
    }

    #[test]
    fn builds_requests_with_config_defaults_and_checks_fields() {
        let config = Config::parse(
            "[[server]]\nname = \"a\"\nbmc = \"127.0.0.1:9001\"\nmac = \"52:54:00:00:00:01\"\n",
            Path::new("t"),
        )
        .unwrap();
        let ask = BootAsk {
            server: "a".to_owned(),
            size: "40GiB".to_owned(),
            reachable_from: vec!["10.0.0.0/24".to_owned()],
            policy: Some("least-loaded".to_owned()),
            ..BootAsk::default()
        };
        let r = ask.to_request(&config, 7).unwrap();
        assert_eq!(r.boot.id.as_str(), "a-7");
        assert_eq!(r.boot.server.bmc.as_deref(), Some("127.0.0.1:9001"));
        assert_eq!(r.boot.server.nic_mac.as_deref(), Some("52:54:00:00:00:01"));
        assert_eq!(r.boot.size, SizeRange::at_least(40 << 30));
        assert_eq!(r.boot.policy, Policy::LeastLoaded);
        assert_eq!(r.boot.auth, AuthWanted::None);
        let bad = BootAsk {
            reachable_from: vec!["10.0.0.0".to_owned()],
            ..ask.clone()
        };
        assert!(
            bad.to_request(&config, 7)
                .unwrap_err()
                .contains("address/prefix")
        );
        let bad = BootAsk {
            max_size: Some("10GiB".to_owned()),
            ..ask.clone()
        };
        assert!(bad.to_request(&config, 7).unwrap_err().contains("below"));
        let bad = BootAsk {
            auth: Some("kerberos".to_owned()),
            ..ask
        };
        assert!(
            bad.to_request(&config, 7)
                .unwrap_err()
                .contains("mutual-chap")
        );
    }
}
