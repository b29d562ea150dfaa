//! Thin tokio driver over [`Session`]: connect, pump bytes and timers, collect the result.
//!
//! ```text
//! probe(portal, target, initiator, auth, timeout) -> TargetReport    (normal session)
//! discover(portal, initiator, auth, timeout)      -> [DiscoveredTarget] (SendTargets)
//! probe_many(requests, limits) -> [ProbeOutcome]   concurrency bound + per-target time limit;
//!                                                  a failed/silent target yields an Err entry
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::chap::Auth;
use crate::error::SessionError;
use crate::report::{DiscoveredTarget, TargetReport};
use crate::session::{Event, Session, SessionConfig};

/// Why a probe produced no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The TCP connection could not be made.
    #[error("cannot connect to {portal}: {message}")]
    Connect {
        /// The portal.
        portal: SocketAddr,
        /// Error kind.
        kind: io::ErrorKind,
        /// The OS message.
        message: String,
    },
    /// Reading or writing the connection failed.
    #[error("i/o error talking to {portal}: {message}")]
    Io {
        /// The portal.
        portal: SocketAddr,
        /// Error kind.
        kind: io::ErrorKind,
        /// The OS message.
        message: String,
    },
    /// The whole probe took longer than its time limit.
    #[error("{portal} did not finish within {after:?}")]
    Timeout {
        /// The portal.
        portal: SocketAddr,
        /// The limit.
        after: Duration,
    },
    /// The iSCSI session failed (login refused, authentication, protocol, per-response timeout).
    #[error("{portal}: {error}")]
    Session {
        /// The portal.
        portal: SocketAddr,
        /// What went wrong.
        error: SessionError,
    },
    /// The session ended without the expected result.
    #[error("{portal}: session ended without a result")]
    NoResult {
        /// The portal.
        portal: SocketAddr,
    },
}

impl ProbeError {
    /// The session error, if the failure was one.
    #[must_use]
    pub fn session_error(&self) -> Option<&SessionError> {
        match self {
            Self::Session { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the probe ran out of time (overall limit or a per-response timeout).
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::Session {
                    error: SessionError::Timeout { .. },
                    ..
                }
        )
    }
}

enum Outcome {
    Report(TargetReport),
    Targets(Vec<DiscoveredTarget>),
}

fn io_err(portal: SocketAddr, e: &io::Error) -> ProbeError {
    ProbeError::Io {
        portal,
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Runs one session over one TCP connection until it ends or `limit` passes.
///
/// The time limit covers connect, login, the walk and logout; a result already learnt when the
/// limit (or a failure) hits during logout is still returned.
async fn run(
    portal: SocketAddr,
    config: SessionConfig,
    limit: Duration,
) -> Result<Outcome, ProbeError> {
    let started = Instant::now();
    let deadline = started.checked_add(limit).unwrap_or(started);
    let timed_out = ProbeError::Timeout {
        portal,
        after: limit,
    };
    let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(portal)).await {
        Err(_) => return Err(timed_out),
        Ok(Err(e)) => {
            return Err(ProbeError::Connect {
                portal,
                kind: e.kind(),
                message: e.to_string(),
            });
        }
        Ok(Ok(s)) => s,
    };
    // Small request/response PDUs: do not let Nagle hold them back.
    stream.set_nodelay(true).map_err(|e| io_err(portal, &e))?;
    let mut session =
        Session::new(config, Instant::now().into_std()).map_err(|e| ProbeError::Session {
            portal,
            error: e.into(),
        })?;
    let mut outcome = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(pdu) = session.poll_transmit() {
            match tokio::time::timeout_at(deadline, stream.write_all(&pdu)).await {
                Err(_) => return outcome.ok_or(timed_out),
                Ok(Err(e)) => return outcome.ok_or_else(|| io_err(portal, &e)),
                Ok(Ok(())) => {}
            }
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Report(r) => outcome = Some(Outcome::Report(r)),
                Event::Targets(t) => outcome = Some(Outcome::Targets(t)),
                Event::Failed(error) => {
                    // A failure while logging out does not spoil what was learnt.
                    return outcome.ok_or(ProbeError::Session { portal, error });
                }
                Event::LoggedIn { .. } | Event::LoggedOut => {}
            }
        }
        if session.is_closed() {
            return outcome.ok_or(ProbeError::NoResult { portal });
        }
        let wake = session.poll_timeout().map(Instant::from_std);
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) => session.handle_close(),
                Ok(n) => session.handle_input(Instant::now().into_std(), &buf[..n]),
                Err(e) => return outcome.ok_or_else(|| io_err(portal, &e)),
            },
            () = sleep_until(wake) => session.handle_timeout(Instant::now().into_std()),
            () = tokio::time::sleep_until(deadline) => return outcome.ok_or(timed_out),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn configure(mut config: SessionConfig, auth: &Auth, timeout: Duration) -> SessionConfig {
    config.auth = auth.clone();
    config.response_timeout = timeout;
    config.with_random(rand::random::<[u8; 24]>())
}

/// Logs in to `target_iqn` at `portal` as `initiator_iqn`, walks every LUN and logs out, all
/// within `timeout`.
///
/// # Errors
/// [`ProbeError`]: connection, I/O, the time limit, or a [`SessionError`] (e.g.
/// [`SessionError::Auth`] for a wrong CHAP secret, [`SessionError::TargetNotFound`] when the
/// target is unknown or refuses this initiator).
pub async fn probe(
    portal: SocketAddr,
    target_iqn: &str,
    initiator_iqn: &str,
    auth: &Auth,
    timeout: Duration,
) -> Result<TargetReport, ProbeError> {
    let config = configure(
        SessionConfig::normal(initiator_iqn, target_iqn),
        auth,
        timeout,
    );
    match run(portal, config, timeout).await? {
        Outcome::Report(r) => Ok(r),
        Outcome::Targets(_) => Err(ProbeError::NoResult { portal }),
    }
}

/// Runs a SendTargets discovery session at `portal`.
///
/// # Errors
/// As [`probe`].
pub async fn discover(
    portal: SocketAddr,
    initiator_iqn: &str,
    auth: &Auth,
    timeout: Duration,
) -> Result<Vec<DiscoveredTarget>, ProbeError> {
    let config = configure(SessionConfig::discovery(initiator_iqn), auth, timeout);
    match run(portal, config, timeout).await? {
        Outcome::Targets(t) => Ok(t),
        Outcome::Report(_) => Err(ProbeError::NoResult { portal }),
    }
}

/// One target to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// Portal address.
    pub portal: SocketAddr,
    /// Target iSCSI name.
    pub target_iqn: String,
    /// Initiator iSCSI name to log in as.
    pub initiator_iqn: String,
    /// Authentication.
    pub auth: Auth,
}

/// Bounds of a concurrent probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeLimits {
    /// Most probes in flight at once (at least 1).
    pub concurrency: usize,
    /// Time limit of each probe, connect to logout.
    pub per_target_timeout: Duration,
}

impl Default for ProbeLimits {
    fn default() -> Self {
        Self {
            concurrency: 8,
            per_target_timeout: Duration::from_secs(10),
        }
    }
}

/// The outcome of one [`ProbeRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// Portal probed.
    pub portal: SocketAddr,
    /// Target probed.
    pub target_iqn: String,
    /// The report, or why there is none (the caller marks the target's LUNs offline).
    pub result: Result<TargetReport, ProbeError>,
}

/// Probes every request with at most `limits.concurrency` in flight, each bounded by
/// `limits.per_target_timeout`. Returns one outcome per request, in request order; a target
/// that fails or never answers yields an `Err` entry and does not hold up the others.
pub async fn probe_many(requests: Vec<ProbeRequest>, limits: ProbeLimits) -> Vec<ProbeOutcome> {
    let sem = Arc::new(Semaphore::new(limits.concurrency.max(1)));
    let mut set = JoinSet::new();
    let mut slots: Vec<ProbeOutcome> = Vec::with_capacity(requests.len());
    let mut ids = std::collections::HashMap::new();
    for (i, req) in requests.into_iter().enumerate() {
        // Placeholder until the task reports; stays only if the task dies without a result.
        slots.push(ProbeOutcome {
            portal: req.portal,
            target_iqn: req.target_iqn.clone(),
            result: Err(ProbeError::NoResult { portal: req.portal }),
        });
        let sem = Arc::clone(&sem);
        let handle = set.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = sem.acquire_owned().await.ok();
            probe(
                req.portal,
                &req.target_iqn,
                &req.initiator_iqn,
                &req.auth,
                limits.per_target_timeout,
            )
            .await
        });
        ids.insert(handle.id(), i);
    }
    while let Some(joined) = set.join_next_with_id().await {
        if let Ok((id, result)) = joined
            && let Some(slot) = ids.get(&id).and_then(|&i| slots.get_mut(i))
        {
            slot.result = result;
        }
    }
    slots
}
