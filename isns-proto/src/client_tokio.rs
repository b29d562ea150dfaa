//! Thin tokio driver for [`client::Session`](crate::client::Session) (feature `tokio`).
//!
//! [`IsnsClient::start`] binds the SCN listener (and the ESI listener when asked) on the
//! manager's address, fills their ports into the configuration, and runs the session in a
//! task: it connects to the server when told to, pumps bytes and timers, accepts isnsd's
//! inbound SCN/ESI connections, delivers [`Event`]s on a channel and completes commands
//! through their own reply channel.
//!
//! ```text
//!  IsnsClient::start(server, cfg, esi) -> (IsnsClient, events)
//!  client.create_dd(name, members).await -> DD_ID       client.walk()
//!  client.add_dd_members(id, ..) / remove_dd_members / remove_dd / register_initiator /
//!  deregister_initiator / query_node                     client.shutdown().await
//! ```

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::ScnBitmap;
use crate::client::{
    ClientConfig, ClientError, DisconnectCause, EntityId, Event, InboundId, NodeInfo, NodeName,
    OpError, OpId, OpOutcome, Session, Transmit,
};

/// Why a command produced no outcome.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The server refused or never answered.
    #[error(transparent)]
    Op(#[from] OpError),
    /// The session refused the command (queue full, would not fit one PDU).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The answer was not of the expected kind.
    #[error("unexpected outcome {0:?}")]
    Unexpected(Box<OpOutcome>),
    /// The driver task has stopped.
    #[error("the iSNS client has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<OpOutcome, DriverError>>;

enum Command {
    Walk,
    QueryNode(String, Reply),
    CreateDd(String, Vec<String>, Reply),
    AddMembers(u32, Vec<String>, Reply),
    RemoveMembers(u32, Vec<String>, Reply),
    RemoveDd(u32, Reply),
    RegisterInitiator {
        name: NodeName,
        entity: EntityId,
        alias: Option<String>,
        reply: Reply,
    },
    DeregisterInitiator(String, Reply),
    ScnReg(String, ScnBitmap, Reply),
    ScnDereg(String, Reply),
}

enum Net {
    Server {
        generation: u64,
        data: Result<Vec<u8>, DisconnectCause>,
    },
    Inbound {
        id: InboundId,
        data: Result<Vec<u8>, DisconnectCause>,
    },
}

/// A running iSNS client.
#[derive(Debug)]
pub struct IsnsClient {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
    scn_port: u16,
    esi_port: Option<u16>,
}

impl IsnsClient {
    /// Binds the listeners on `cfg.portal_ip`, then starts the session against `server`.
    /// The ports bound become `cfg.scn_port` and `cfg.esi_port` (`esi` chooses whether an
    /// ESI listener exists); [`IsnsClient::scn_port`] tells them.
    ///
    /// # Errors
    /// Binding a listener failed.
    pub async fn start(
        server: SocketAddr,
        mut cfg: ClientConfig,
        esi: bool,
    ) -> io::Result<(IsnsClient, mpsc::UnboundedReceiver<Event>)> {
        let scn = TcpListener::bind(SocketAddr::new(cfg.portal_ip, 0)).await?;
        let scn_port = scn.local_addr()?.port();
        let esi_listener = if esi {
            Some(TcpListener::bind(SocketAddr::new(cfg.portal_ip, 0)).await?)
        } else {
            None
        };
        let esi_port = match &esi_listener {
            Some(l) => Some(l.local_addr()?.port()),
            None => None,
        };
        cfg.scn_port = scn_port;
        cfg.esi_port = esi_port;
        let (commands, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(server, cfg, scn, esi_listener, cmd_rx, ev_tx));
        Ok((
            IsnsClient {
                commands,
                task,
                scn_port,
                esi_port,
            },
            ev_rx,
        ))
    }

    /// The SCN listener's port.
    #[must_use]
    pub fn scn_port(&self) -> u16 {
        self.scn_port
    }

    /// The ESI listener's port.
    #[must_use]
    pub fn esi_port(&self) -> Option<u16> {
        self.esi_port
    }

    /// Starts a full walk now; the result arrives as [`Event::Walked`].
    pub fn walk(&self) {
        let _ = self.commands.send(Command::Walk);
    }

    async fn call(&self, make: impl FnOnce(Reply) -> Command) -> Result<OpOutcome, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)?
    }

    /// Reads one node (`None`: not registered or not visible).
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn query_node(&self, name: &str) -> Result<Option<NodeInfo>, DriverError> {
        match self
            .call(|r| Command::QueryNode(name.to_owned(), r))
            .await?
        {
            OpOutcome::Node(n) => Ok(n),
            other => Err(DriverError::Unexpected(Box::new(other))),
        }
    }

    /// Creates a DD named `name` holding `members`; returns its DD_ID.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn create_dd(&self, name: &str, members: &[&str]) -> Result<u32, DriverError> {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        match self
            .call(|r| Command::CreateDd(name.to_owned(), members, r))
            .await?
        {
            OpOutcome::DdCreated { id } => Ok(id),
            other => Err(DriverError::Unexpected(Box::new(other))),
        }
    }

    /// Adds members to DD `id`.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn add_dd_members(&self, id: u32, members: &[&str]) -> Result<(), DriverError> {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        self.call(|r| Command::AddMembers(id, members, r))
            .await
            .map(drop)
    }

    /// Removes members from DD `id`.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn remove_dd_members(&self, id: u32, members: &[&str]) -> Result<(), DriverError> {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        self.call(|r| Command::RemoveMembers(id, members, r))
            .await
            .map(drop)
    }

    /// Removes DD `id`.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn remove_dd(&self, id: u32) -> Result<(), DriverError> {
        self.call(|r| Command::RemoveDd(id, r)).await.map(drop)
    }

    /// Registers initiator `name` in entity `entity` on a server's behalf.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn register_initiator(
        &self,
        name: &NodeName,
        entity: &EntityId,
        alias: Option<&str>,
    ) -> Result<(), DriverError> {
        self.call(|reply| Command::RegisterInitiator {
            name: name.clone(),
            entity: entity.clone(),
            alias: alias.map(str::to_owned),
            reply,
        })
        .await
        .map(drop)
    }

    /// Deregisters initiator `name`.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn deregister_initiator(&self, name: &str) -> Result<(), DriverError> {
        self.call(|r| Command::DeregisterInitiator(name.to_owned(), r))
            .await
            .map(drop)
    }

    /// Registers `node` for SCNs with `bitmap` on its behalf.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn scn_reg(&self, node: &str, bitmap: ScnBitmap) -> Result<(), DriverError> {
        self.call(|r| Command::ScnReg(node.to_owned(), bitmap, r))
            .await
            .map(drop)
    }

    /// Removes `node`'s SCN registration.
    ///
    /// # Errors
    /// [`DriverError`].
    pub async fn scn_dereg(&self, node: &str) -> Result<(), DriverError> {
        self.call(|r| Command::ScnDereg(node.to_owned(), r))
            .await
            .map(drop)
    }

    /// Stops the driver task (connections close).
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

struct Conn {
    generation: u64,
    writer: OwnedWriteHalf,
    reader: JoinHandle<()>,
}

fn spawn_reader<R>(
    mut r: R,
    tx: mpsc::UnboundedSender<Net>,
    tag: impl Fn(Result<Vec<u8>, DisconnectCause>) -> Net + Send + 'static,
) -> JoinHandle<()>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) => {
                    let _ = tx.send(tag(Err(DisconnectCause::Closed)));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(tag(Err(io_cause(&e))));
                    return;
                }
                Ok(n) => {
                    if tx.send(tag(Ok(buf[..n].to_vec()))).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

async fn run(
    server: SocketAddr,
    cfg: ClientConfig,
    scn: TcpListener,
    esi: Option<TcpListener>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let connect_timeout = cfg.request_timeout;
    let mut session = Session::new(cfg, Instant::now());
    let (net_tx, mut net_rx) = mpsc::unbounded_channel::<Net>();
    let mut conn: Option<Conn> = None;
    let mut generation = 0u64;
    let mut inbound: BTreeMap<InboundId, (OwnedWriteHalf, JoinHandle<()>)> = BTreeMap::new();
    let mut next_inbound = 1u64;
    let mut replies: BTreeMap<OpId, Reply> = BTreeMap::new();
    loop {
        while let Some(t) = session.poll_transmit() {
            match t {
                Transmit::Connect => {
                    let attempt =
                        tokio::time::timeout(connect_timeout, TcpStream::connect(server)).await;
                    match attempt {
                        Ok(Ok(stream)) => {
                            let _ = stream.set_nodelay(true);
                            generation += 1;
                            let (r, w) = stream.into_split();
                            let g = generation;
                            let reader = spawn_reader(r, net_tx.clone(), move |data| Net::Server {
                                generation: g,
                                data,
                            });
                            conn = Some(Conn {
                                generation,
                                writer: w,
                                reader,
                            });
                            session.handle_connected(Instant::now());
                        }
                        Ok(Err(e)) => session.handle_closed_because(Instant::now(), io_cause(&e)),
                        Err(_) => session.handle_closed_because(
                            Instant::now(),
                            DisconnectCause::ConnectTimeout(connect_timeout),
                        ),
                    }
                }
                Transmit::Server(bytes) => {
                    let failed = match conn.as_mut() {
                        Some(c) => c.writer.write_all(&bytes).await.err(),
                        None => None,
                    };
                    if let Some(e) = failed {
                        if let Some(c) = conn.take() {
                            c.reader.abort();
                        }
                        session.handle_closed_because(Instant::now(), io_cause(&e));
                    }
                }
                Transmit::CloseServer => {
                    if let Some(c) = conn.take() {
                        c.reader.abort();
                    }
                }
                Transmit::Inbound { conn: id, bytes } => {
                    if let Some((w, _)) = inbound.get_mut(&id)
                        && w.write_all(&bytes).await.is_err()
                        && let Some((_, r)) = inbound.remove(&id)
                    {
                        r.abort();
                        session.handle_inbound_closed(id);
                    }
                }
                Transmit::CloseInbound { conn: id } => {
                    if let Some((_, r)) = inbound.remove(&id) {
                        r.abort();
                    }
                }
            }
        }
        while let Some(e) = session.poll_event() {
            match e {
                Event::OpCompleted { op, result } => {
                    if let Some(r) = replies.remove(&op) {
                        let _ = r.send(result.map_err(DriverError::Op));
                    }
                }
                other => {
                    let _ = events.send(other);
                }
            }
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            msg = net_rx.recv() => match msg {
                Some(Net::Server { generation: g, data }) => {
                    if conn.as_ref().is_some_and(|c| c.generation == g) {
                        match data {
                            Ok(d) => session.handle_input(Instant::now(), &d),
                            Err(cause) => {
                                if let Some(c) = conn.take() { c.reader.abort(); }
                                session.handle_closed_because(Instant::now(), cause);
                            }
                        }
                    }
                }
                Some(Net::Inbound { id, data }) => match data {
                    Ok(d) => session.handle_inbound(Instant::now(), id, &d),
                    Err(_) => {
                        inbound.remove(&id);
                        session.handle_inbound_closed(id);
                    }
                },
                None => return,
            },
            acc = scn.accept() => {
                if let Ok((s, _)) = acc {
                    let id = InboundId(next_inbound);
                    next_inbound += 1;
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    let reader = spawn_reader(r, net_tx.clone(), move |data| Net::Inbound { id, data });
                    inbound.insert(id, (w, reader));
                    session.handle_inbound_open(id);
                }
            },
            acc = accept_opt(esi.as_ref()) => {
                if let Ok((s, _)) = acc {
                    let id = InboundId(next_inbound);
                    next_inbound += 1;
                    let (r, w) = s.into_split();
                    let reader = spawn_reader(r, net_tx.clone(), move |data| Net::Inbound { id, data });
                    inbound.insert(id, (w, reader));
                    session.handle_inbound_open(id);
                }
            },
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                let now = Instant::now();
                let (r, reply) = match cmd {
                    Command::Walk => { session.walk(now); continue; }
                    Command::QueryNode(n, reply) => (session.query_node(now, &n), reply),
                    Command::CreateDd(n, m, reply) => {
                        let m: Vec<&str> = m.iter().map(String::as_str).collect();
                        (session.create_dd(now, &n, &m), reply)
                    }
                    Command::AddMembers(id, m, reply) => {
                        let m: Vec<&str> = m.iter().map(String::as_str).collect();
                        (session.add_dd_members(now, id, &m), reply)
                    }
                    Command::RemoveMembers(id, m, reply) => {
                        let m: Vec<&str> = m.iter().map(String::as_str).collect();
                        (session.remove_dd_members(now, id, &m), reply)
                    }
                    Command::RemoveDd(id, reply) => (session.remove_dd(now, id), reply),
                    Command::RegisterInitiator { name, entity, alias, reply } => {
                        (session.register_initiator(now, &name, &entity, alias.as_deref()), reply)
                    }
                    Command::DeregisterInitiator(n, reply) => (session.deregister_initiator(now, &n), reply),
                    Command::ScnReg(n, bitmap, reply) => (session.scn_reg(now, &n, bitmap), reply),
                    Command::ScnDereg(n, reply) => (session.scn_dereg(now, &n), reply),
                };
                match r {
                    Ok(op) => { replies.insert(op, reply); }
                    Err(e) => { let _ = reply.send(Err(DriverError::Client(e))); }
                }
            },
            () = sleep_until(deadline) => session.handle_timeout(Instant::now()),
        }
    }
}

fn io_cause(e: &io::Error) -> DisconnectCause {
    DisconnectCause::from_io(e.kind(), &e.to_string())
}

async fn accept_opt(l: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
