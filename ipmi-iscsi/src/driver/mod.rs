//! Thin tokio UDP drivers over the sans-IO RMCP+ sessions (feature `tokio`).
//!
//! [`Client`] runs one [`ClientSession`] over a connected UDP socket, with an overall
//! time bound per operation; [`serve`] runs one [`Responder`] (one emulated BMC) on a UDP
//! socket. Randomness comes from `rand`'s thread-local CSPRNG.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ipmi_iscsi::driver::{Client, SuiteMemory};
//! use ipmi_iscsi::ipmi::{NetFn, Request, chassis};
//! use ipmi_iscsi::rmcp::{ClientConfig, Password};
//!
//! let mut memory = SuiteMemory::new(); // keep per BMC: the suite that worked is tried first
//! let config = ClientConfig::new("admin", Password::new("password")?); // suites 17, then 3
//! let bmc = "192.0.2.10:623".parse()?;
//! let mut client = Client::connect_remembering(bmc, config, Duration::from_secs(10), &mut memory).await?;
//! let flags = client
//!     .execute(Request::new(NetFn::CHASSIS, chassis::GET_SYSTEM_BOOT_OPTIONS, [5, 0, 0]))
//!     .await?;
//! println!("{:?} {:02x?}", flags.completion, flags.data);
//! client.close().await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::ipmi::{Exchange, Request, Response};
use crate::rmcp::{
    CipherSuite, ClientConfig, ClientSession, Event, Incoming, RandomSource, Rejected, Responder,
    SessionError,
};

/// Largest datagram accepted.
const MAX_DATAGRAM: usize = 2048;

/// A random source backed by the operating system-seeded thread CSPRNG.
#[must_use]
pub fn os_random() -> RandomSource {
    Box::new(|buf: &mut [u8]| rand::fill(buf))
}

/// Why a driver operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Socket error.
    #[error("udp i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The session failed (authentication, no suite, per-step retries exhausted, closed).
    #[error("rmcp+ session: {0}")]
    Session(#[from] SessionError),
    /// The operation did not finish within the configured overall bound.
    #[error("{operation} did not finish within {after:?}")]
    Timeout {
        /// `connect`, `execute` or `close`.
        operation: &'static str,
        /// The bound.
        after: Duration,
    },
}

impl ClientError {
    /// Whether the BMC did not answer in time (overall bound or per-step retries).
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Session(SessionError::Timeout { .. })
        )
    }
}

/// Cipher suites that worked, per BMC address ("try 17, fall back to 3, remember").
#[derive(Clone, Debug, Default)]
pub struct SuiteMemory {
    known: HashMap<SocketAddr, CipherSuite>,
}

impl SuiteMemory {
    /// An empty memory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The suite that last worked with `bmc`.
    #[must_use]
    pub fn get(&self, bmc: SocketAddr) -> Option<CipherSuite> {
        self.known.get(&bmc).copied()
    }

    /// Records the suite that worked with `bmc`.
    pub fn remember(&mut self, bmc: SocketAddr, suite: CipherSuite) {
        self.known.insert(bmc, suite);
    }
}

/// An RMCP+ client session with one BMC over UDP.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    session: ClientSession,
    peer: SocketAddr,
    bound: Duration,
    rejected: u64,
    last_rejection: Option<Rejected>,
}

impl Client {
    /// Opens a session with the BMC at `peer`; each operation (this one included) must
    /// finish within `bound`.
    ///
    /// # Errors
    /// [`ClientError::Session`] for authentication failures (e.g. wrong password:
    /// `Authentication(Rakp2HmacMismatch)`), [`ClientError::Timeout`] or a session
    /// timeout when the BMC does not answer, [`ClientError::Io`] for socket errors.
    pub async fn connect(
        peer: SocketAddr,
        config: ClientConfig,
        bound: Duration,
    ) -> Result<Self, ClientError> {
        let local: SocketAddr = if peer.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(peer).await?;
        let mut client = Self {
            socket,
            session: ClientSession::new(config, os_random()),
            peer,
            bound,
            rejected: 0,
            last_rejection: None,
        };
        client.session.connect(Instant::now());
        client
            .drive("connect", |ev| match ev {
                Event::Connected { .. } => Some(Ok(())),
                Event::Failed(e) => Some(Err(e)),
                _ => None,
            })
            .await?;
        Ok(client)
    }

    /// Like [`Client::connect`], trying the suite remembered for `peer` first and
    /// remembering the one that works.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_remembering(
        peer: SocketAddr,
        mut config: ClientConfig,
        bound: Duration,
        memory: &mut SuiteMemory,
    ) -> Result<Self, ClientError> {
        if let Some(s) = memory.get(peer) {
            config = config.prefer(s);
        }
        let client = Self::connect(peer, config, bound).await?;
        if let Some(s) = client.cipher_suite() {
            memory.remember(peer, s);
        }
        Ok(client)
    }

    /// The negotiated cipher suite.
    #[must_use]
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.session.cipher_suite()
    }

    /// The BMC's address.
    #[must_use]
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The local UDP address the session uses.
    ///
    /// # Errors
    /// The socket's error when it has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// How many datagrams were dropped as malformed, forged, replayed or stray, and the
    /// last reason.
    #[must_use]
    pub fn rejections(&self) -> (u64, Option<&Rejected>) {
        (self.rejected, self.last_rejection.as_ref())
    }

    /// Sends one request and waits for its response (any completion code).
    ///
    /// # Errors
    /// [`ClientError::Session`] when the request could not be delivered (retries
    /// exhausted, session closed), [`ClientError::Timeout`] past the overall bound.
    pub async fn execute(&mut self, request: Request) -> Result<Response, ClientError> {
        let id = self.session.send_request(Instant::now(), request)?;
        self.drive("execute", |ev| match ev {
            Event::Response { id: got, response } if got == id => Some(Ok(response)),
            Event::RequestFailed { id: got, error } if got == id => Some(Err(error)),
            Event::Failed(e) => Some(Err(e)),
            _ => None,
        })
        .await
    }

    /// Runs a multi-step exchange to completion; returns how many requests were sent.
    ///
    /// # Errors
    /// The first [`ClientError`] of [`Client::execute`]; the exchange is left mid-way.
    pub async fn run_exchange<E: Exchange + ?Sized>(
        &mut self,
        exchange: &mut E,
    ) -> Result<usize, ClientError> {
        let mut sent = 0usize;
        while let Some(request) = exchange.poll_request() {
            let response = self.execute(request).await?;
            sent = sent.saturating_add(1);
            exchange.handle_response(&response);
        }
        Ok(sent)
    }

    /// Closes the session (Close Session) and waits for the BMC's answer.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] past the overall bound, [`ClientError::Io`].
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.session.close(Instant::now());
        self.drive("close", |ev| match ev {
            Event::Closed => Some(Ok(())),
            Event::Failed(e) => Some(Err(e)),
            _ => None,
        })
        .await
    }

    async fn drive<T>(
        &mut self,
        operation: &'static str,
        mut done: impl FnMut(Event) -> Option<Result<T, SessionError>>,
    ) -> Result<T, ClientError> {
        let deadline = Instant::now() + self.bound;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            while let Some(d) = self.session.poll_transmit() {
                self.socket.send(&d).await?;
            }
            while let Some(ev) = self.session.poll_event() {
                if let Some(r) = done(ev) {
                    return r.map_err(ClientError::from);
                }
            }
            let wake = self
                .session
                .poll_timeout()
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                r = self.socket.recv(&mut buf) => {
                    let n = match r {
                        Ok(n) => n,
                        // ICMP port unreachable surfaces as ECONNREFUSED on a connected
                        // socket: treat it as loss and let retransmission/timeout decide.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                        Err(e) => return Err(e.into()),
                    };
                    if let Err(e) = self.session.handle_input(Instant::now(), &buf[..n]) {
                        self.rejected += 1;
                        self.last_rejection = Some(e);
                    }
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(ClientError::Timeout { operation, after: self.bound });
                    }
                    self.session.handle_timeout(now);
                }
            }
        }
    }
}

/// Serves one emulated BMC on `socket` forever: each datagram goes through `responder`,
/// application requests to `dispatch`, replies back to the sender. Rejected datagrams are
/// dropped silently (a BMC does not answer forgeries).
///
/// # Errors
/// Socket errors other than per-datagram ones.
pub async fn serve<F>(
    socket: UdpSocket,
    mut responder: Responder,
    mut dispatch: F,
) -> std::io::Result<()>
where
    F: FnMut(&Incoming<'_>) -> Response,
{
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        if let Ok(Some(reply)) =
            responder.handle_datagram_from(Instant::now(), from, &buf[..n], &mut dispatch)
        {
            // A lost reply is the client's to retransmit for.
            let _ = socket.send_to(&reply, from).await;
        }
    }
}
