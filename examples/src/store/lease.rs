//! The leader lease of instances sharing a PostgreSQL store.
//!
//! One row (`leader_lease`, id 1) names the holder, the API address followers forward changes
//! to, a fencing token and an expiry in the database's clock. Taking an expired lease, or
//! taking it back after it expired, increments the token; renewing a live lease keeps it.
//! Every state-changing write checks holder, token and expiry in its own transaction
//! ([`super::postgres`]), so a leader that was paused (SIGSTOP, a long GC-like stall, a
//! partition) past its expiry cannot write once it wakes up, even before it notices.
//!
//! The holder also keeps a local deadline, earlier than the database's expiry: a renewal sent
//! at `t` makes the lease expire at the database no earlier than `t + ttl`, and this instance
//! believes itself leader only until `t + 3/4 ttl` ([`Lease::is_leader`]). When the database
//! stops answering, the leader stops starting side effects before anyone else can take over.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

use super::StoreError;
use super::postgres::pg;

/// What this instance knows of its own lease (shared by the store's writes and the loop
/// that renews it).
#[derive(Debug)]
pub(crate) struct LeaseState {
    holder: String,
    api: String,
    token: AtomicI64,
    valid_until: Mutex<Option<Instant>>,
}

impl LeaseState {
    pub(crate) fn new(holder: String, api: String) -> Self {
        Self {
            holder,
            api,
            token: AtomicI64::new(0),
            valid_until: Mutex::new(None),
        }
    }

    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    /// The token of the current term (0: none).
    pub(crate) fn token(&self) -> i64 {
        self.token.load(Ordering::SeqCst)
    }

    fn set(&self, token: i64, until: Option<Instant>) {
        self.token.store(token, Ordering::SeqCst);
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }

    fn valid_until(&self) -> Option<Instant> {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The outcome of one [`Lease::renew`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Term {
    /// This instance leads with `token`; `new_term` when the token changed (a takeover: what
    /// the previous leader left unfinished must be resumed or rolled back).
    Leader {
        /// The fencing token.
        token: i64,
        /// Whether this renewal started a new term.
        new_term: bool,
    },
    /// Another instance leads.
    Follower {
        /// Its API address, as it announced it.
        leader_api: String,
    },
}

/// The current leader as the database records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leader {
    /// Its unique name (host, PID, random part).
    pub holder: String,
    /// Its API base URL.
    pub api: String,
    /// Its fencing token.
    pub token: i64,
    /// Whether its lease is still valid at the database's clock.
    pub live: bool,
}

/// Handle on this instance's lease in a PostgreSQL store.
#[derive(Clone)]
pub struct Lease {
    state: Arc<LeaseState>,
    pool: Pool,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("holder", &self.state.holder)
            .field("token", &self.state.token())
            .finish_non_exhaustive()
    }
}

impl Lease {
    pub(crate) fn new(state: Arc<LeaseState>, pool: Pool, handle: tokio::runtime::Handle) -> Self {
        Self {
            state,
            pool,
            handle,
        }
    }

    /// This instance's unique holder name.
    #[must_use]
    pub fn holder(&self) -> &str {
        &self.state.holder
    }

    /// The API address this instance announces in the lease.
    #[must_use]
    pub fn api(&self) -> &str {
        &self.state.api
    }

    /// Whether this instance may start a change now: it holds a term and its local deadline
    /// (earlier than the database's expiry) has not passed.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.state.token() > 0 && self.state.valid_until().is_some_and(|t| Instant::now() < t)
    }

    /// The token of the current term (0 when this instance never led or stepped down).
    #[must_use]
    pub fn token(&self) -> i64 {
        self.state.token()
    }

    /// Takes the lease if it is free or expired, or renews it if this instance holds it, for
    /// `ttl` at the database's clock.
    ///
    /// # Errors
    /// [`StoreError::Postgres`] when the database does not answer (this instance then steps
    /// down locally: its deadline passes on its own).
    pub async fn renew(&self, ttl: Duration) -> Result<Term, StoreError> {
        let sent = Instant::now();
        let (pool, state) = (self.pool.clone(), Arc::clone(&self.state));
        let mine = state.token();
        let secs = ttl.as_secs_f64();
        let out = self
            .on_store_runtime(async move {
                let c = pool
                    .get()
                    .await
                    .map_err(|e| StoreError::Postgres(format!("connection pool: {e}")))?;
                // In SET, columns name the old row: a live lease of ours keeps its token.
                let row = c
                    .query_opt(
                        "UPDATE leader_lease SET
                             token = CASE WHEN holder = $1 AND token = $3
                                               AND expires_at > clock_timestamp()
                                          THEN token ELSE token + 1 END,
                             holder = $1, api = $2,
                             expires_at = clock_timestamp() + make_interval(secs => $4)
                         WHERE id = 1 AND (expires_at <= clock_timestamp()
                                           OR (holder = $1 AND token = $3))
                         RETURNING token",
                        &[&state.holder, &state.api, &mine, &secs],
                    )
                    .await
                    .map_err(pg)?;
                if let Some(r) = row {
                    return Ok(Ok(r.get::<_, i64>(0)));
                }
                let r = c
                    .query_one("SELECT api FROM leader_lease WHERE id = 1", &[])
                    .await
                    .map_err(pg)?;
                Ok(Err(r.get::<_, String>(0)))
            })
            .await;
        match out {
            Ok(Ok(token)) => {
                self.state.set(token, Some(sent + ttl * 3 / 4));
                Ok(Term::Leader {
                    token,
                    new_term: token != mine,
                })
            }
            Ok(Err(leader_api)) => {
                self.state.set(0, None);
                Ok(Term::Follower { leader_api })
            }
            Err(e) => {
                // Keep the token: the deadline already bounds it, and a renewal that
                // succeeds in time continues the term.
                Err(e)
            }
        }
    }

    /// Gives the lease up (a clean shutdown), so another instance takes over at once.
    ///
    /// # Errors
    /// [`StoreError::Postgres`].
    pub async fn release(&self) -> Result<(), StoreError> {
        let (pool, state) = (self.pool.clone(), Arc::clone(&self.state));
        let token = state.token();
        self.state.set(0, None);
        self.on_store_runtime(async move {
            let c = pool
                .get()
                .await
                .map_err(|e| StoreError::Postgres(format!("connection pool: {e}")))?;
            c.execute(
                "UPDATE leader_lease SET expires_at = '-infinity'
                 WHERE id = 1 AND holder = $1 AND token = $2",
                &[&state.holder, &token],
            )
            .await
            .map_err(pg)?;
            Ok(())
        })
        .await
    }

    /// The leader the database records (live or not).
    ///
    /// # Errors
    /// [`StoreError::Postgres`].
    pub async fn leader(&self) -> Result<Leader, StoreError> {
        let pool = self.pool.clone();
        self.on_store_runtime(async move {
            let c = pool
                .get()
                .await
                .map_err(|e| StoreError::Postgres(format!("connection pool: {e}")))?;
            let r = c
                .query_one(
                    "SELECT holder, api, token, expires_at > clock_timestamp()
                     FROM leader_lease WHERE id = 1",
                    &[],
                )
                .await
                .map_err(pg)?;
            Ok(Leader {
                holder: r.get(0),
                api: r.get(1),
                token: r.get(2),
                live: r.get(3),
            })
        })
        .await
    }

    /// Runs `f` on the store's runtime (where its connections live), bounded like a store call.
    async fn on_store_runtime<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let bound = super::postgres::PgStore::OP_TIMEOUT;
        let job = self.handle.spawn(tokio::time::timeout(bound, f));
        match job.await {
            Ok(Ok(out)) => out,
            Ok(Err(_)) => Err(StoreError::Postgres(format!(
                "no answer within {} s",
                bound.as_secs()
            ))),
            Err(e) => Err(StoreError::Postgres(format!("store runtime: {e}"))),
        }
    }
}
