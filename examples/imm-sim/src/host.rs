//! The multi-BMC host: builds every emulated BMC (users, saved state), binds one UDP
//! socket per BMC, and runs one tokio task per BMC on a shared runtime.
//!
//! A BMC's task receives a datagram, lets the sans-IO [`EmulatedBmc`] handle it, performs
//! the resulting [`Effect`]s on the blocking pool (state file, rendered files) and only
//! then sends the reply; the store's 60-second timer wakes the same task. BMCs share
//! nothing but the runtime, so one BMC's file work never delays another's datagrams.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipmi_iscsi::bootopt::Pen;
use ipmi_iscsi::driver::os_random;
use ipmi_iscsi::ipmi::{NetFn, Request, app};
use ipmi_iscsi::rmcp::{CipherSuite, Responder, ResponderConfig, User};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::bmc::{BmcCore, Effect, EmulatedBmc, guid_for};
use super::flash::RenderDir;
use super::persist::{PersistError, StateDir, ensure_private_dir, write_atomic};
use super::redfish::Service;
use super::redfish::bridge::{self, Call};
use super::redfish::tls::{self, TlsListener};
use super::spec::BmcName;

/// Largest datagram read (RMCP+ messages here stay far below).
const MAX_DATAGRAM: usize = 2048;
/// BMCs doing file work (fsync) at once: a thousand BMCs written to together must not
/// become a thousand blocking threads.
const FILE_WORK_AT_ONCE: usize = 64;

/// Everything the host needs, resolved (users and passwords already read).
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Addresses to emulate, one BMC each.
    pub bmcs: Vec<SocketAddr>,
    /// Users of each BMC, same order as `bmcs`.
    pub users: Vec<Vec<User>>,
    /// Where each BMC's `state.json` lives.
    pub state_dir: PathBuf,
    /// Where rendered files go (default: `state_dir/render`).
    pub render_dir: Option<PathBuf>,
    /// Cipher suites offered, in preference order.
    pub suites: Vec<CipherSuite>,
    /// Accept cipher suite 0 (no authentication).
    pub allow_suite_0: bool,
    /// Mailbox blocks (parameter 7) per BMC.
    pub mailbox_blocks: u16,
    /// Concurrent authenticated sessions per BMC.
    pub max_sessions: usize,
    /// Idle session timeout.
    pub session_timeout: Duration,
    /// Enterprise number of the mailbox dialect.
    pub pen: Pen,
    /// Written once every socket is bound.
    pub ready_file: Option<PathBuf>,
    /// System GUIDs given with `--guid` (the others are derived from the address).
    pub system_guids: Vec<(SocketAddr, [u8; 16])>,
    /// Redfish (HTTPS) addresses, one per BMC in `bmcs` order; empty: no Redfish.
    pub redfish: Vec<SocketAddr>,
}

/// Why the host cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A BMC's saved state cannot be loaded.
    #[error("bmc {bmc}: {source}")]
    State {
        /// The BMC.
        bmc: BmcName,
        /// Why.
        source: PersistError,
    },
    /// A BMC's address cannot be bound.
    #[error("bmc {bmc}: cannot bind udp {addr}: {source}")]
    Bind {
        /// The BMC.
        bmc: BmcName,
        /// Its address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The ready file cannot be written.
    #[error("ready file: {0}")]
    ReadyFile(std::io::Error),
    /// A Redfish address cannot be bound, or its certificate made.
    #[error("bmc {bmc}: cannot serve redfish on {addr}: {reason}")]
    Redfish {
        /// The BMC.
        bmc: BmcName,
        /// Its Redfish address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// `redfish` does not have one address per BMC.
    #[error("{redfish} redfish addresses for {bmcs} bmcs (give one per --bmc address, in order)")]
    RedfishMismatch {
        /// Redfish addresses.
        redfish: usize,
        /// BMCs.
        bmcs: usize,
    },
    /// `users` does not have one entry per BMC.
    #[error("{users} user lists for {bmcs} bmcs")]
    UsersMismatch {
        /// User lists.
        users: usize,
        /// BMCs.
        bmcs: usize,
    },
}

/// The wall clock as the store wants it: time since the UNIX epoch.
#[must_use]
pub fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Where a host writes: state files and rendered files.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// State files.
    pub state: StateDir,
    /// Rendered files.
    pub render: RenderDir,
}

impl Outputs {
    /// Performs `effects` for BMC `name` in order; failures are logged (the BMC keeps
    /// answering, as a real one whose flash write failed would).
    pub fn apply(&self, name: &BmcName, effects: &[Effect]) {
        let bmc = name.as_str();
        for e in effects {
            let result = match e {
                Effect::SaveState(json) => self.state.save(name, json).map_err(|e| e.to_string()),
                Effect::WriteArtefacts(a) => self.render.write(name, a).map_err(|e| e.to_string()),
                Effect::RemoveArtefacts => self.render.remove(name).map_err(|e| e.to_string()),
            };
            if let Err(error) = result {
                error!(bmc, error = error.as_str(), "cannot write bmc files");
            }
        }
    }
}

/// Builds the BMCs of `config`, loading saved state (sans-IO: nothing is bound).
///
/// # Errors
/// [`HostError::State`] for a saved state that does not load,
/// [`HostError::UsersMismatch`] for a user list per BMC missing.
pub fn build_bmcs(config: &HostConfig) -> Result<Vec<EmulatedBmc>, HostError> {
    if config.users.len() != config.bmcs.len() {
        return Err(HostError::UsersMismatch {
            users: config.users.len(),
            bmcs: config.bmcs.len(),
        });
    }
    let state = StateDir::new(&config.state_dir);
    let mut suites = config.suites.clone();
    if config.allow_suite_0 && !suites.contains(&CipherSuite::SUITE_0) {
        suites.push(CipherSuite::SUITE_0);
    }
    config
        .bmcs
        .iter()
        .zip(&config.users)
        .map(|(&addr, users)| {
            let name = BmcName::of(addr);
            let store = match state.load(&name) {
                Ok(Some(s)) => {
                    if s.config().mailbox_blocks != config.mailbox_blocks {
                        warn!(
                            bmc = name.as_str(),
                            saved = s.config().mailbox_blocks,
                            asked = config.mailbox_blocks,
                            "saved state keeps its mailbox size; --mailbox-blocks ignored"
                        );
                    }
                    s
                }
                Ok(None) => BootOptionsStore::new(StoreConfig {
                    mailbox_blocks: config.mailbox_blocks,
                    ..StoreConfig::default()
                }),
                Err(source) => return Err(HostError::State { bmc: name, source }),
            };
            let rc = ResponderConfig {
                guid: guid_for(&name),
                users: users.clone(),
                suites: suites.clone(),
                allow_unauthenticated: config.allow_suite_0,
                max_sessions: config.max_sessions,
                session_timeout: config.session_timeout,
                bmc_key: None,
                channel: 1,
            };
            let responder = Responder::new(rc, os_random());
            let mut core = BmcCore::new(name, store, config.pen);
            if let Some((_, uuid)) = config.system_guids.iter().find(|(a, _)| *a == addr) {
                core.set_system_uuid(*uuid);
            }
            Ok(EmulatedBmc::new(addr, responder, core))
        })
        .collect()
}

fn deadline_instant(wall_deadline: Duration) -> tokio::time::Instant {
    let wait = wall_deadline.saturating_sub(wall_clock());
    tokio::time::Instant::now() + wait
}

async fn next_call(calls: &mut Option<mpsc::Receiver<Call>>) -> Call {
    match calls {
        Some(rx) => match rx.recv().await {
            Some(c) => c,
            None => {
                *calls = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

async fn run_bmc(
    socket: UdpSocket,
    mut bmc: EmulatedBmc,
    mut calls: Option<mpsc::Receiver<Call>>,
    outputs: Arc<Outputs>,
    file_work: Arc<tokio::sync::Semaphore>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let name = bmc.name().clone();
    loop {
        let timer = bmc.poll_timeout().map(deadline_instant);
        let mut answer = None;
        let (effects, reply) = tokio::select! {
            call = next_call(&mut calls) => {
                // A Redfish request: the same store, effects before the answer.
                let result = bridge::apply(bmc.core_mut(), wall_clock(), &call.changes);
                answer = Some((call.reply, result));
                (bmc.core_mut().take_effects(), None)
            }
            r = socket.recv_from(&mut buf) => {
                let (n, from) = match r {
                    Ok(x) => x,
                    // ICMP errors of an earlier send surface here: not this datagram's fault.
                    Err(e) if matches!(e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset) => continue,
                    Err(e) => {
                        error!(bmc = name.as_str(), error = %e, "udp receive failed; bmc stops");
                        return;
                    }
                };
                let handled = bmc.handle_datagram_from(Instant::now(), wall_clock(), from, &buf[..n]);
                (handled.effects, handled.reply.map(|r| (r, from)))
            }
            () = async {
                match timer {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => (bmc.handle_timeout(Instant::now(), wall_clock()), None),
        };
        if !effects.is_empty() {
            let out = outputs.clone();
            let n = name.clone();
            // The semaphore is never closed; a closed one would only mean "no limit".
            let _permit = file_work.acquire().await.ok();
            if let Err(e) = tokio::task::spawn_blocking(move || out.apply(&n, &effects)).await {
                error!(bmc = name.as_str(), error = %e, "file work did not finish");
            }
        }
        if let Some((tx, result)) = answer {
            // The Redfish handler may have gone (client hung up): nothing to tell.
            let _ = tx.send(result);
        }
        if let Some((reply, to)) = reply {
            // A lost reply is the client's to retransmit for.
            let _ = socket.send_to(&reply, to).await;
        }
    }
}

/// One BMC's Redfish service, bound.
#[derive(Debug)]
struct RedfishBound {
    addr: SocketAddr,
    listener: TlsListener,
    service: Arc<Service>,
    calls: mpsc::Receiver<Call>,
}

/// Requests queued from a BMC's Redfish service to its task.
const REDFISH_QUEUE: usize = 16;

/// Binds BMC `bmc`'s Redfish service on `addr`: a fresh self-signed certificate (its PEM
/// written to `STATE_DIR/<name>/redfish.pem` for clients to trust or pin), the TLS
/// listener, and the service answering for `users`.
async fn bind_redfish(
    config: &HostConfig,
    bmc: &mut EmulatedBmc,
    addr: SocketAddr,
    users: &[User],
) -> Result<RedfishBound, String> {
    let identity = tls::self_signed(vec![addr.ip().to_string(), "localhost".to_owned()])?;
    let state = StateDir::new(&config.state_dir);
    let dir = state.dir(bmc.name());
    ensure_private_dir(&dir).map_err(|e| e.to_string())?;
    write_atomic(
        &dir.join("redfish.pem"),
        identity.cert_pem.as_bytes(),
        0o644,
    )
    .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot bind tcp: {e}"))?;
    let addr = tcp.local_addr().unwrap_or(addr);
    let listener = TlsListener::new(tcp, &identity).map_err(|e| e.to_string())?;
    let (tx, calls) = mpsc::channel(REDFISH_QUEUE);
    // Systems/1 UUID: whatever this BMC answers to Get System GUID, asked the IPMI way.
    let ask = Request::new(NetFn::APP, app::GET_SYSTEM_GUID, Vec::new());
    let answer = bmc
        .core_mut()
        .handle_command(wall_clock(), 0, b"(redfish)", &ask);
    let guid = <[u8; 16]>::try_from(answer.data.as_slice())
        .map_err(|_| "the bmc has no system guid".to_owned())?;
    let service = Arc::new(Service::new(
        bmc.name().clone(),
        &guid,
        users.to_vec(),
        tx,
        os_random(),
        Some(dir.join("redfish-pending.json")),
    ));
    Ok(RedfishBound {
        addr,
        listener,
        service,
        calls,
    })
}

/// A bound host, ready to serve.
#[derive(Debug)]
pub struct BoundHost {
    bmcs: Vec<(UdpSocket, EmulatedBmc)>,
    redfish: Vec<Option<RedfishBound>>,
    outputs: Arc<Outputs>,
}

impl BoundHost {
    /// Builds the BMCs, applies their start-up effects (render of loaded state) and binds
    /// every socket; prints `imm-sim: listening on ADDR (NAME)` per BMC and writes the
    /// ready file once all are bound.
    ///
    /// # Errors
    /// [`HostError`] for a state that does not load, an address that cannot be bound, or
    /// an unwritable ready file.
    pub async fn bind(config: &HostConfig) -> Result<Self, HostError> {
        let mut bmcs = build_bmcs(config)?;
        let outputs = Arc::new(Outputs {
            state: StateDir::new(&config.state_dir),
            render: RenderDir::new(
                config
                    .render_dir
                    .clone()
                    // Not the state directory itself: QEMU's TFTP (or a firmware loader)
                    // serves the render directory, and state.json holds every secret.
                    .unwrap_or_else(|| config.state_dir.join("render")),
            ),
        });
        if !config.redfish.is_empty() && config.redfish.len() != bmcs.len() {
            return Err(HostError::RedfishMismatch {
                redfish: config.redfish.len(),
                bmcs: bmcs.len(),
            });
        }
        let mut redfish = Vec::with_capacity(bmcs.len());
        for (i, bmc) in bmcs.iter_mut().enumerate() {
            redfish.push(match config.redfish.get(i) {
                Some(&addr) => Some(
                    bind_redfish(config, bmc, addr, &config.users[i])
                        .await
                        .map_err(|reason| HostError::Redfish {
                            bmc: bmc.name().clone(),
                            addr,
                            reason,
                        })?,
                ),
                None => None,
            });
        }
        let mut bound = Vec::with_capacity(bmcs.len());
        for mut bmc in bmcs.drain(..) {
            let socket = UdpSocket::bind(bmc.addr())
                .await
                .map_err(|source| HostError::Bind {
                    bmc: bmc.name().clone(),
                    addr: bmc.addr(),
                    source,
                })?;
            let effects = bmc.start();
            outputs.apply(bmc.name(), &effects);
            bound.push((socket, bmc));
        }
        for (socket, bmc) in &bound {
            let addr = socket.local_addr().unwrap_or(bmc.addr());
            println!("imm-sim: listening on {addr} ({})", bmc.name());
        }
        for (r, (_, bmc)) in redfish.iter().zip(&bound) {
            if let Some(r) = r {
                println!("imm-sim: redfish on https://{} ({})", r.addr, bmc.name());
            }
        }
        if let Some(path) = &config.ready_file {
            let text = format!("pid={}\nbmcs={}\n", std::process::id(), bound.len());
            write_atomic(path, text.as_bytes(), 0o644).map_err(HostError::ReadyFile)?;
        }
        info!(bmcs = bound.len(), "imm-sim ready");
        Ok(Self {
            bmcs: bound,
            redfish,
            outputs,
        })
    }

    /// Serves every BMC until `shutdown` completes.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tasks = tokio::task::JoinSet::new();
        let file_work = Arc::new(tokio::sync::Semaphore::new(FILE_WORK_AT_ONCE));
        for ((socket, bmc), redfish) in self.bmcs.into_iter().zip(self.redfish) {
            let calls = redfish.map(|r| {
                let router = r.service.router();
                tasks.spawn(async move {
                    if let Err(e) = axum::serve(r.listener, router).await {
                        error!(error = %e, "redfish server stopped");
                    }
                });
                r.calls
            });
            tasks.spawn(run_bmc(
                socket,
                bmc,
                calls,
                self.outputs.clone(),
                file_work.clone(),
            ));
        }
        shutdown.await;
        info!("imm-sim stopping");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}
