//! Several `bcm serve` instances on one PostgreSQL store (issue 20): one leader changes things,
//! every instance answers reads and boot requests.
//!
//! ```text
//!   servers' BMCs ◄──── leader ────► iSNS server ◄──── arrays (targets)
//!                         │  ▲
//!        lease + writes   │  │ 307 to the leader (changes sent to a follower)
//!                         ▼  │
//!     PostgreSQL ◄──── followers (reads, iPXE scripts; ledger re-read every renewal)
//! ```
//!
//! The loop here renews this instance's lease every third of its length
//! ([`crate::config::StoreConfig::lease`]). A renewal that starts a term (a takeover, or the
//! first lease) re-reads the ledger the previous leader left and resumes or rolls back what it
//! left unfinished, from the journal ([`Manager::recover`]), on a task of its own so renewals
//! go on meanwhile. A follower re-reads the ledger at each renewal, so its reads and boot
//! scripts are at most one renewal period behind the database.
//!
//! A change sent to a follower is answered `307 Temporary Redirect` to the leader's API rather
//! than forwarded: the client's request ID makes the retry idempotent, the method and body are
//! kept by 307, and a follower that would proxy would add its own timeout and a second failure
//! point to every change. Without a live leader (an election under way) the answer is `503`
//! with `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::app::{InventoryStatus, Live, Running};
use crate::inventory::Inventory;
use crate::manager::Manager;
use crate::store::lease::{Lease, Term};

/// What this instance is, as of its last renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// No renewal answered yet.
    Starting,
    /// This instance leads with this fencing token.
    Leader {
        /// The fencing token.
        token: i64,
    },
    /// Another instance leads.
    Follower {
        /// Where changes go.
        leader_api: String,
    },
    /// The database does not answer: no changes, reads from what was last read.
    Cut,
}

/// The state the renewal loop publishes.
#[derive(Clone, Debug)]
pub struct HaState {
    /// The role.
    pub role: Role,
    /// When the database last answered a renewal.
    pub db_ok_at: Option<Instant>,
}

/// Handle on the renewal loop: the lease and the published state.
#[derive(Clone, Debug)]
pub struct Ha {
    lease: Lease,
    state: watch::Receiver<HaState>,
    period: Duration,
    /// The fencing token of the last term whose start-of-term recovery finished (0: none).
    /// Until it equals the current term's token this instance leads but does not act: the
    /// previous leader may have created DDs and initiators its view does not show yet, and a
    /// request resumed against that stale view would create them again (isnsd refuses a second
    /// DD of the same name) and roll back without removing them.
    recovered: Arc<AtomicI64>,
}

impl Ha {
    /// Whether this instance may change things now (see [`Lease::is_leader`]).
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.lease.is_leader()
    }

    /// Whether this instance leads and finished taking over what the previous leader left (a
    /// fresh walk of iSNS, then [`Manager::recover`]): only then may it act on changes.
    #[must_use]
    pub fn may_change(&self) -> bool {
        self.is_leader()
            && matches!(self.state.borrow().role,
                Role::Leader { token } if self.recovered.load(Ordering::Acquire) == token)
    }

    /// The published state.
    #[must_use]
    pub fn state(&self) -> HaState {
        self.state.borrow().clone()
    }

    /// Whether what this instance last read may be behind the database by more than two
    /// renewal periods (the database does not answer).
    #[must_use]
    pub fn is_stale(&self) -> bool {
        self.state
            .borrow()
            .db_ok_at
            .is_none_or(|t| t.elapsed() > self.period * 2)
    }

    /// Gives the lease up (clean shutdown): another instance takes over at its next renewal.
    pub async fn step_down(&self) {
        if let Err(e) = self.lease.release().await {
            tracing::warn!(error = %e, "could not give the lease up; it expires on its own");
        }
    }
}

/// Starts the renewal loop of the lease of `running`'s manager (`ttl` long, renewed every
/// `ttl / 3`).
#[must_use]
pub fn spawn(running: &Running, lease: Lease, ttl: Duration) -> Ha {
    let manager = running.manager.clone();
    let fresh = Fresh {
        inventory: Arc::clone(&running.inventory),
        status: running.status.clone(),
    };
    let period = ttl / 3;
    let (tx, rx) = watch::channel(HaState {
        role: Role::Starting,
        db_ok_at: None,
    });
    let recovered = Arc::new(AtomicI64::new(0));
    let ha = Ha {
        lease: lease.clone(),
        state: rx,
        period,
        recovered: Arc::clone(&recovered),
    };
    // The token of the newest term started: what a finished recovery marks ready.
    let newest = Arc::new(AtomicI64::new(0));
    tokio::spawn(async move {
        let mut led = false;
        let mut recovery: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let next = tokio::time::Instant::now() + period;
            let mut state = tx.borrow().clone();
            match lease.renew(ttl).await {
                Ok(Term::Leader { token, new_term }) => {
                    state.db_ok_at = Some(Instant::now());
                    state.role = Role::Leader { token };
                    if new_term || !led {
                        tracing::info!(token, holder = lease.holder(), "leading the shared store");
                        newest.store(token, Ordering::Release);
                        start_term(&manager, &fresh, &mut recovery, [&newest, &recovered]);
                    }
                    led = true;
                }
                Ok(Term::Follower { leader_api }) => {
                    state.db_ok_at = Some(Instant::now());
                    if led {
                        tracing::warn!(leader = %leader_api, "another instance leads now");
                    }
                    led = false;
                    if let Err(e) = manager.reload_ledger() {
                        tracing::warn!(error = %e, "re-reading the shared ledger");
                    }
                    state.role = Role::Follower { leader_api };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lease renewal");
                    if !lease.is_leader() {
                        led = false;
                        state.role = Role::Cut;
                    }
                }
            }
            tx.send_replace(state);
            tokio::time::sleep_until(next).await;
        }
    });
    ha
}

/// What a new leader refreshes before it acts: its view of iSNS.
struct Fresh {
    inventory: Arc<Inventory>,
    status: watch::Receiver<InventoryStatus>,
}

/// Bound on the inventory round a new leader waits for before it recovers.
const RESYNC_BOUND: Duration = Duration::from_secs(30);

/// A new term: the ledger as the previous leader left it, a fresh walk of iSNS (the previous
/// leader created DDs and initiators this instance's view may not show yet: resuming or
/// compensating against a stale view would recreate or miss them), then what it left
/// unfinished.
fn start_term(
    manager: &Manager<Live>,
    fresh: &Fresh,
    recovery: &mut Option<tokio::task::JoinHandle<()>>,
    [newest, recovered]: [&Arc<AtomicI64>; 2],
) {
    if let Err(e) = manager.reload_ledger() {
        tracing::warn!(error = %e, "re-reading the shared ledger at the start of a term");
    }
    if recovery.as_ref().is_some_and(|j| !j.is_finished()) {
        // The running recovery marks the newest term ready when it ends.
        return;
    }
    let (newest, recovered) = (Arc::clone(newest), Arc::clone(recovered));
    let m = manager.clone();
    let inventory = Arc::clone(&fresh.inventory);
    let mut status = fresh.status.clone();
    *recovery = Some(tokio::spawn(async move {
        let before = status.borrow().rounds;
        inventory.resync();
        let synced = status.wait_for(|s| s.rounds > before);
        if tokio::time::timeout(RESYNC_BOUND, synced).await.is_err() {
            tracing::warn!("no fresh inventory round at the start of the term; recovering anyway");
        }
        match m.recover().await {
            Ok(out) if !out.is_clean() => {
                tracing::info!(outcome = %out, "took over what the previous leader left");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recovery at the start of a term"),
        }
        recovered.store(newest.load(Ordering::Acquire), Ordering::Release);
    }));
}

/// Axum middleware: a change (any method but GET, HEAD, OPTIONS) reaching an instance that
/// does not lead is redirected to the leader (307), or refused with 503 while none leads.
pub async fn route_changes(State(ha): State<Arc<Ha>>, req: Request, next: Next) -> Response {
    let m = req.method();
    if m == Method::GET || m == Method::HEAD || m == Method::OPTIONS || ha.may_change() {
        return next.run(req).await;
    }
    if ha.is_leader() {
        return taking_over(&ha);
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    match ha.state().role {
        // The lease of a killed predecessor at this same address is still live: redirecting
        // to it would send the client to this very instance until the lease expires.
        Role::Follower { leader_api } if !leader_api.is_empty() && leader_api != ha.lease.api() => {
            let to = format!("{}{path}", leader_api.trim_end_matches('/'));
            match HeaderValue::from_str(&to) {
                Ok(v) => {
                    let mut r = (
                        StatusCode::TEMPORARY_REDIRECT,
                        format!(
                            "this instance follows; changes go to the leader at {leader_api}\n"
                        ),
                    )
                        .into_response();
                    r.headers_mut().insert(header::LOCATION, v);
                    r
                }
                Err(_) => unavailable(&ha),
            }
        }
        _ => unavailable(&ha),
    }
}

/// `503` while this instance, leading, takes over what the previous leader left.
fn taking_over(ha: &Ha) -> Response {
    let secs = ha.period.as_secs().max(1);
    let mut r = (
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "this instance just took the lead and is finishing what the previous leader left; retry in {secs} s\n"
        ),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn unavailable(ha: &Ha) -> Response {
    let secs = ha.period.as_secs().max(1);
    let mut r = (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("no instance leads the shared store right now; retry in {secs} s\n"),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
