//! Thin tokio drivers over the sans-IO agents (feature `tokio`): one call that discovers
//! services (iSNS servers by default) and a background service agent that advertises them.
//!
//! Every address and port is configurable, so tests bind free ports on 127.0.0.1 (or use
//! port 427 only inside a private network namespace).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::agent::{Destination, SLP_MULTICAST_V4, SLP_PORT, Via};
use crate::header::frame_len;
use crate::sa::{Registration, SaConfig, ServiceAgent};
use crate::ua::{Discovered, UaConfig, UaEvent, UserAgent};

/// Largest SLP message accepted over TCP (bounded before any buffer is reserved).
pub const MAX_TCP_MESSAGE: usize = 64 * 1024;

/// A driver failure (socket set-up or I/O), with what was being done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A socket operation failed.
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The OS error kind.
        kind: io::ErrorKind,
        /// The OS error text.
        message: String,
    },
    /// The configuration is unusable (e.g. the predicate does not parse).
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> DriverError {
    move |e| DriverError::Io {
        context,
        kind: e.kind(),
        message: e.to_string(),
    }
}

fn seed() -> u16 {
    // Drivers may read clocks; the sans-IO agents only receive the result.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = nanos ^ std::process::id().rotate_left(16);
    u16::try_from(mixed & 0xFFFF).unwrap_or(1)
}

/// How to run a discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryOptions {
    /// What to look for and the timing.
    pub ua: UaConfig,
    /// Local address of the UDP socket (e.g. `0.0.0.0:0`).
    pub bind: SocketAddr,
    /// Where "multicast" requests go: normally `239.255.255.253:427`; a unicast address
    /// turns convergence into a plain unicast exchange (useful in tests).
    pub multicast_target: SocketAddr,
    /// Interface address for outgoing multicast (`IP_MULTICAST_IF`), if any.
    pub multicast_interface: Option<Ipv4Addr>,
    /// Multicast TTL (RFC 2608 §6.1 default 255).
    pub multicast_ttl: u32,
    /// XID seed; `None` derives one from the clock and process ID.
    pub xid_seed: Option<u16>,
    /// Time allowed for one TCP exchange.
    pub tcp_timeout: Duration,
}

impl DiscoveryOptions {
    /// iSNS server discovery (`service:iscsi:sms`, `(protocols=isns)`, scopes `DEFAULT` and
    /// `initiator-scope-list`) by multicast to 239.255.255.253:427 from `0.0.0.0:0`.
    #[must_use]
    pub fn isns() -> Self {
        DiscoveryOptions {
            ua: UaConfig::isns(),
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            multicast_target: SocketAddr::new(IpAddr::V4(SLP_MULTICAST_V4), SLP_PORT),
            multicast_interface: None,
            multicast_ttl: 255,
            xid_seed: None,
            tcp_timeout: Duration::from_secs(5),
        }
    }
}

/// The outcome of a discovery: the services (ordered, deduplicated) and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryReport {
    /// Services found, lowest `server-priority` first.
    pub services: Vec<Discovered>,
    /// Events (DAs found, error replies, dropped datagrams, unanswered peers).
    pub events: Vec<UaEvent>,
}

/// Discovers iSNS servers (or whatever `opts.ua` asks for) and returns them ordered by
/// `server-priority`, deduplicated, with lifetimes.
///
/// # Errors
/// [`DriverError`] when the socket cannot be set up or the predicate does not parse.
pub async fn discover_isns_servers(opts: DiscoveryOptions) -> Result<Vec<Discovered>, DriverError> {
    Ok(discover(opts).await?.services)
}

/// Runs one discovery to completion.
///
/// # Errors
/// [`DriverError`] when the socket cannot be set up or the predicate does not parse.
pub async fn discover(opts: DiscoveryOptions) -> Result<DiscoveryReport, DriverError> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(opts.bind),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(io_err("create UDP socket"))?;
    if let (IpAddr::V4(_), IpAddr::V4(group)) = (opts.bind.ip(), opts.multicast_target.ip())
        && group.is_multicast()
    {
        sock.set_multicast_ttl_v4(opts.multicast_ttl)
            .map_err(io_err("set multicast TTL"))?;
        sock.set_multicast_loop_v4(true)
            .map_err(io_err("set multicast loop"))?;
        if let Some(ifa) = opts.multicast_interface {
            sock.set_multicast_if_v4(&ifa)
                .map_err(io_err("set multicast interface"))?;
        }
    }
    sock.bind(&opts.bind.into())
        .map_err(io_err("bind UDP socket"))?;
    sock.set_nonblocking(true)
        .map_err(io_err("set non-blocking"))?;
    let udp = UdpSocket::from_std(std::net::UdpSocket::from(sock))
        .map_err(io_err("register UDP socket"))?;

    let mut ua = UserAgent::new(
        opts.ua.clone(),
        Instant::now(),
        opts.xid_seed.unwrap_or_else(seed),
    )
    .map_err(|e| DriverError::Config(e.to_string()))?;
    let (tcp_tx, mut tcp_rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(16);
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        while let Some(t) = ua.poll_transmit() {
            match t.destination {
                Destination::Multicast => {
                    udp.send_to(&t.payload, opts.multicast_target)
                        .await
                        .map_err(io_err("send multicast request"))?;
                }
                Destination::Unicast(a) => {
                    // A lost unicast datagram is retransmitted by the agent; a send error
                    // (e.g. unreachable) is the same as a loss.
                    let _ = udp.send_to(&t.payload, a).await;
                }
                Destination::Tcp(a) => {
                    let tx = tcp_tx.clone();
                    let timeout = opts.tcp_timeout;
                    tokio::spawn(async move {
                        if let Ok(Ok(reply)) =
                            tokio::time::timeout(timeout, tcp_exchange(a, &t.payload)).await
                        {
                            let _ = tx.send((a, reply)).await;
                        }
                    });
                }
            }
        }
        events.extend(std::iter::from_fn(|| ua.poll_event()));
        if ua.is_finished() {
            break;
        }
        let deadline = ua
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            r = udp.recv_from(&mut buf) => {
                let (n, from) = r.map_err(io_err("receive reply"))?;
                ua.handle_input(Instant::now(), from, &buf[..n], Via::Unicast);
            }
            Some((from, reply)) = tcp_rx.recv() => {
                ua.handle_input(Instant::now(), from, &reply, Via::Tcp);
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                ua.handle_timeout(Instant::now());
            }
        }
    }
    events.extend(std::iter::from_fn(|| ua.poll_event()));
    Ok(DiscoveryReport {
        services: ua.results(Instant::now()),
        events,
    })
}

/// Sends one request over TCP and reads one framed reply.
async fn tcp_exchange(to: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(to).await?;
    s.write_all(request).await?;
    let reply = read_frame(&mut s).await?;
    reply.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a reply",
        )
    })
}

/// Reads one SLP message from a stream; `Ok(None)` on a clean end of stream.
async fn read_frame(s: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        let n = s.read(&mut head[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let len = frame_len(&head)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    // Bound the claimed length before reserving memory.
    if len > MAX_TCP_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("SLP message of {len} bytes is too large"),
        ));
    }
    let mut msg = vec![0u8; len];
    msg[..5].copy_from_slice(&head);
    s.read_exact(&mut msg[5..]).await?;
    Ok(Some(msg))
}

/// Multicast group membership for a service agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulticastListen {
    /// Group, normally 239.255.255.253.
    pub group: Ipv4Addr,
    /// Port, normally 427.
    pub port: u16,
    /// Interface address to join on.
    pub interface: Ipv4Addr,
}

/// How to run a service agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaOptions {
    /// Agent configuration (scopes, own addresses, DAs).
    pub sa: SaConfig,
    /// Services to advertise.
    pub registrations: Vec<Registration>,
    /// Unicast UDP address; a TCP listener takes the same port.
    pub bind: SocketAddr,
    /// Join a multicast group (requests arriving there are answered from `bind`).
    pub multicast: Option<MulticastListen>,
    /// XID seed for registrations with DAs; `None` derives one.
    pub xid_seed: Option<u16>,
}

impl SaOptions {
    /// Advertises the iSNS server at `isns` (`service:iscsi:sms://ADDR`, `(protocols=isns)`)
    /// in `DEFAULT`, answering on `bind` (unicast UDP and TCP), no multicast.
    #[must_use]
    pub fn isns_server(isns: SocketAddr, bind: SocketAddr) -> Self {
        SaOptions {
            sa: SaConfig::new(bind.ip()),
            registrations: vec![Registration::isns_server(isns, None, u16::MAX)],
            bind,
            multicast: None,
            xid_seed: None,
        }
    }
}

/// A running service agent; stopped by [`SaHandle::shutdown`] or on drop.
#[derive(Debug)]
pub struct SaHandle {
    local: SocketAddr,
    agent: Arc<Mutex<ServiceAgent>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SaHandle {
    /// The unicast UDP (and TCP) address it answers on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Adds a registration while running.
    ///
    /// # Errors
    /// [`DriverError::Config`] when the URL or attributes do not parse.
    pub fn register(&self, reg: Registration) -> Result<(), DriverError> {
        let mut a = self
            .agent
            .lock()
            .map_err(|_| DriverError::Config("service agent state poisoned".into()))?;
        a.register(Instant::now(), reg)
            .map_err(|e| DriverError::Config(e.to_string()))
    }

    /// Events so far (DA registrations).
    #[must_use]
    pub fn events(&self) -> Vec<crate::sa::SaEvent> {
        self.agent
            .lock()
            .map(|mut a| std::iter::from_fn(|| a.poll_event()).collect())
            .unwrap_or_default()
    }

    /// Stops the agent and waits for its task.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SaHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn udp_socket(addr: SocketAddr, reuse: bool) -> Result<UdpSocket, DriverError> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(io_err("create UDP socket"))?;
    if reuse {
        // Several agents on one host share the multicast port (RFC 2608 §6.1: port 427).
        s.set_reuse_address(true)
            .map_err(io_err("set SO_REUSEADDR"))?;
    }
    s.bind(&addr.into()).map_err(io_err("bind UDP socket"))?;
    s.set_nonblocking(true)
        .map_err(io_err("set non-blocking"))?;
    UdpSocket::from_std(std::net::UdpSocket::from(s)).map_err(io_err("register UDP socket"))
}

/// Starts a service agent in the background.
///
/// # Errors
/// [`DriverError`] when a socket cannot be bound or a registration is invalid.
pub async fn spawn_service_agent(opts: SaOptions) -> Result<SaHandle, DriverError> {
    let udp = udp_socket(opts.bind, opts.multicast.is_some())?;
    let local = udp.local_addr().map_err(io_err("local address"))?;
    let tcp = TcpListener::bind(local)
        .await
        .map_err(io_err("bind TCP listener"))?;
    let mcast = match opts.multicast {
        Some(m) => {
            let s = udp_socket(SocketAddr::new(IpAddr::V4(m.group), m.port), true)?;
            s.join_multicast_v4(m.group, m.interface)
                .map_err(io_err("join multicast group"))?;
            Some(s)
        }
        None => None,
    };
    let mut agent = ServiceAgent::new(opts.sa, Instant::now(), opts.xid_seed.unwrap_or_else(seed));
    for r in opts.registrations {
        agent
            .register(Instant::now(), r)
            .map_err(|e| DriverError::Config(e.to_string()))?;
    }
    let agent = Arc::new(Mutex::new(agent));
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run_sa(Arc::clone(&agent), udp, mcast, tcp, stop_rx));
    Ok(SaHandle {
        local,
        agent,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

async fn run_sa(
    agent: Arc<Mutex<ServiceAgent>>,
    udp: UdpSocket,
    mcast: Option<UdpSocket>,
    tcp: TcpListener,
    mut stop: oneshot::Receiver<()>,
) {
    let mut buf = vec![0u8; 65536];
    let mut mbuf = vec![0u8; 65536];
    loop {
        let (transmits, deadline) = match agent.lock() {
            Ok(mut a) => {
                a.handle_timeout(Instant::now());
                (
                    std::iter::from_fn(|| a.poll_transmit()).collect::<Vec<_>>(),
                    a.poll_timeout(),
                )
            }
            Err(_) => return,
        };
        for t in transmits {
            if let Destination::Unicast(to) = t.destination {
                let _ = udp.send_to(&t.payload, to).await;
            }
        }
        let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let mcast_recv = async {
            match &mcast {
                Some(m) => m.recv_from(&mut mbuf).await,
                None => std::future::pending().await,
            }
        };
        let (reply, to) = tokio::select! {
            _ = &mut stop => return,
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => (answer(&agent, from, &buf[..n], Via::Unicast), from),
                Err(_) => continue,
            },
            r = mcast_recv => match r {
                Ok((n, from)) => (answer(&agent, from, &mbuf[..n], Via::Multicast), from),
                Err(_) => continue,
            },
            c = tcp.accept() => {
                if let Ok((s, from)) = c {
                    tokio::spawn(serve_tcp(Arc::clone(&agent), s, from));
                }
                continue;
            }
            () = tokio::time::sleep_until(deadline.into()) => continue,
        };
        if let Some(reply) = reply {
            // Replies to multicast requests go out from the unicast socket, so the source
            // address is this agent's own (the one a PRList names).
            let _ = udp.send_to(&reply, to).await;
        }
    }
}

fn answer(
    agent: &Mutex<ServiceAgent>,
    from: SocketAddr,
    bytes: &[u8],
    via: Via,
) -> Option<Vec<u8>> {
    agent
        .lock()
        .ok()?
        .handle_input(Instant::now(), from, bytes, via)
}

async fn serve_tcp(agent: Arc<Mutex<ServiceAgent>>, mut s: TcpStream, from: SocketAddr) {
    // RFC 2608 §6.2: the requester closes; an idle peer is dropped after a while.
    while let Ok(Ok(Some(msg))) =
        tokio::time::timeout(Duration::from_secs(30), read_frame(&mut s)).await
    {
        let Some(reply) = answer(&agent, from, &msg, Via::Tcp) else {
            continue;
        };
        if s.write_all(&reply).await.is_err() {
            return;
        }
    }
}
