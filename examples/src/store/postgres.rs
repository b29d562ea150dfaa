//! The PostgreSQL engine of the store (`[store] url = "postgres://…"`), for several `bcm serve`
//! instances sharing one database.
//!
//! Same tables, same journal and the same invariants as the SQLite engine: one holder per
//! (target, LUN) and per BMC (primary keys of `lun_holds` and `bmc_holds`), the reservation
//! written with its request in one transaction, each journal phase in its own transaction.
//! Every write that changes a request, the ledger, the journal or the record of owned iSNS
//! objects first checks, inside its own transaction, that this instance holds the leader
//! lease with the token it was granted ([`super::lease`]): a leader that was paused past its
//! lease and wakes up cannot write, whatever its own clock believes.
//!
//! The driver is `tokio-postgres` behind a `deadpool` pool, run on a small runtime of its own:
//! the manager calls its store synchronously under a lock (as it calls SQLite), so each call is
//! spawned on that runtime and waited for with a bound ([`PgStore::OP_TIMEOUT`]); a database
//! that stops answering is an error after that bound, never a hang.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use tokio_postgres::NoTls;

use super::lease::{Lease, LeaseState};
use super::{
    AllocationHolds, BootConfirmation, JournalEntry, LedgerChange, NewRequest, Owned, OwnedKind,
    RequestKind, RequestState, SCHEMA_VERSION, StepPhase, StoreError, StoredRequest, now_ms,
};

/// The PostgreSQL twin of every SQLite schema step, in order; `meta.schema` names the last
/// one applied. Step 1 is the SQLite store's base tables plus the additive network-boot step
/// (`migrate_netboot`), step 2 is `MIGRATION_2` (holds and owned objects), step 3 is
/// `MIGRATION_3` (Redfish certificate pins).
pub(crate) const PG_MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE IF NOT EXISTS allocations (
             request_id TEXT PRIMARY KEY,
             json TEXT NOT NULL);
         CREATE SEQUENCE IF NOT EXISTS requests_seq;
         CREATE TABLE IF NOT EXISTS requests (
             request_id TEXT PRIMARY KEY,
             server TEXT NOT NULL,
             kind TEXT NOT NULL,
             state TEXT NOT NULL,
             body_json TEXT NOT NULL,
             secret BYTEA,
             error TEXT,
             created_ms BIGINT NOT NULL,
             updated_ms BIGINT NOT NULL,
             seq BIGINT NOT NULL);
         CREATE INDEX IF NOT EXISTS requests_by_server ON requests (server, seq);
         CREATE TABLE IF NOT EXISTS journal (
             request_id TEXT NOT NULL REFERENCES requests(request_id) ON DELETE CASCADE,
             step BIGINT NOT NULL,
             phase TEXT NOT NULL,
             detail TEXT,
             id BIGSERIAL,
             PRIMARY KEY (request_id, step, phase));
         CREATE TABLE IF NOT EXISTS bmc_cipher_suites (
             bmc TEXT PRIMARY KEY,
             suite SMALLINT NOT NULL);
         CREATE TABLE IF NOT EXISTS boot_uuids (
             server TEXT NOT NULL,
             source TEXT NOT NULL,
             uuid TEXT NOT NULL,
             updated_ms BIGINT NOT NULL,
             PRIMARY KEY (server, source));
         CREATE TABLE IF NOT EXISTS boot_confirmations (
             request_id TEXT PRIMARY KEY REFERENCES requests(request_id) ON DELETE CASCADE,
             script_fetched_ms BIGINT,
             logged_in_ms BIGINT);
         CREATE TABLE IF NOT EXISTS leader_lease (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             holder TEXT NOT NULL,
             api TEXT NOT NULL,
             token BIGINT NOT NULL,
             expires_at TIMESTAMPTZ NOT NULL);
         INSERT INTO leader_lease (id, holder, api, token, expires_at)
             VALUES (1, '', '', 0, '-infinity') ON CONFLICT (id) DO NOTHING;",
    ),
    (
        2,
        "CREATE TABLE IF NOT EXISTS lun_holds (
             target TEXT NOT NULL,
             lun BIGINT NOT NULL,
             request_id TEXT NOT NULL REFERENCES allocations(request_id) ON DELETE CASCADE,
             PRIMARY KEY (target, lun));
         CREATE INDEX IF NOT EXISTS lun_holds_by_request ON lun_holds (request_id);
         CREATE TABLE IF NOT EXISTS bmc_holds (
             bmc TEXT PRIMARY KEY,
             request_id TEXT NOT NULL REFERENCES allocations(request_id) ON DELETE CASCADE);
         CREATE INDEX IF NOT EXISTS bmc_holds_by_request ON bmc_holds (request_id);
         CREATE TABLE IF NOT EXISTS owned (
             kind TEXT NOT NULL,
             name TEXT NOT NULL,
             request_id TEXT NOT NULL,
             server TEXT NOT NULL,
             dd_id BIGINT,
             created_ms BIGINT NOT NULL,
             PRIMARY KEY (kind, name));",
    ),
    (
        3,
        "CREATE TABLE IF NOT EXISTS bmc_cert_pins (
             bmc TEXT PRIMARY KEY,
             sha256 TEXT NOT NULL,
             pinned_ms BIGINT NOT NULL);",
    ),
];

/// Key of the advisory lock that serializes migrations of instances starting together.
const MIGRATION_LOCK: i64 = 0x0062_636d_5f6d_6967; // "bcm_mig"

const COLUMNS: &str =
    "request_id, server, kind, state, body_json, secret, error, created_ms, updated_ms";

/// The PostgreSQL engine: a pool on its own runtime, and this instance's lease.
pub(crate) struct PgStore {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    lease: Arc<LeaseState>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only the holder name is shown.
        f.debug_struct("PgStore")
            .field("holder", &self.lease.holder())
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The store may be dropped inside the application's runtime, where a blocking
        // shutdown would panic.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "the shape `map_err` wants: `.map_err(pg)`"
)]
pub(super) fn pg(e: tokio_postgres::Error) -> StoreError {
    // A server error's own message (and its SQLSTATE) says more than the driver's wrapper.
    match e.as_db_error() {
        Some(db) => StoreError::Postgres(format!("{} ({})", db.message(), db.code().code())),
        None => StoreError::Postgres(e.to_string()),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => StoreError::Postgres(format!("connection pool: {other}")),
    }
}

impl PgStore {
    /// Bound on one store call (connection, statements, commit).
    pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(5);

    /// Connects to `url`, applies missing migrations, and prepares a lease for `holder`
    /// (a name unique to this process: host, PID and a random part).
    pub(crate) fn connect(url: &str, holder: String, api: String) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Postgres(format!("url: {e}")))?;
        config.connect_timeout(Duration::from_secs(3));
        if config.get_application_name().is_none() {
            config.application_name("bcm");
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bcm-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres(format!("runtime: {e}")))?;
        let manager = deadpool_postgres::Manager::from_config(
            config,
            NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _guard = rt.enter();
            Pool::builder(manager)
                .max_size(4)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(4)))
                .create_timeout(Some(Duration::from_secs(3)))
                .recycle_timeout(Some(Duration::from_secs(2)))
                .build()
                .map_err(|e| StoreError::Postgres(format!("connection pool: {e}")))?
        };
        let store = PgStore {
            rt: Some(rt),
            pool,
            lease: Arc::new(LeaseState::new(holder, api)),
        };
        store.migrate()?;
        Ok(store)
    }

    /// This instance's lease (shared with the leader loop).
    pub(crate) fn lease(&self) -> Lease {
        Lease::new(Arc::clone(&self.lease), self.pool.clone(), self.handle())
    }

    fn handle(&self) -> tokio::runtime::Handle {
        match &self.rt {
            Some(rt) => rt.handle().clone(),
            // Only taken by Drop.
            None => tokio::runtime::Handle::current(),
        }
    }

    /// Runs `f` on the store's runtime and waits for it, at most [`Self::OP_TIMEOUT`].
    fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let out = tokio::time::timeout(Self::OP_TIMEOUT, f)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Postgres(format!(
                        "no answer within {} s",
                        Self::OP_TIMEOUT.as_secs()
                    )))
                });
            let _ = tx.send(out);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(StoreError::Postgres("store runtime stopped".to_owned())))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut c = pool.get().await.map_err(pool_err)?;
            let tx = c.transaction().await.map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(pg)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            )
            .await
            .map_err(pg)?;
            let found: Option<i64> = tx
                .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
                .await
                .map_err(pg)?
                .map(|r| r.get(0));
            let found = found.unwrap_or(0);
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew { found });
            }
            for (version, sql) in PG_MIGRATIONS.iter().filter(|(v, _)| *v > found) {
                tx.batch_execute(sql).await.map_err(pg)?;
                if *version == 2 {
                    fill_holds(&tx).await?;
                }
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok(())
        })
    }

    /// The schema version recorded in `meta`.
    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let c = pool.get().await.map_err(pool_err)?;
            let row = c
                .query_one("SELECT value FROM meta WHERE key = 'schema'", &[])
                .await
                .map_err(pg)?;
            Ok(row.get(0))
        })
    }

    /// `(table, column)` of every table of the store, sorted (for the mirror test).
    pub(crate) fn columns(&self) -> Result<Vec<(String, String)>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let c = pool.get().await.map_err(pool_err)?;
            let rows = c
                .query(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() ORDER BY 1, 2",
                    &[],
                )
                .await
                .map_err(pg)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Runs `f` in a transaction that first checks this instance's lease (the fencing token).
    fn fenced<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(
                &'t Transaction<'t>,
            )
                -> futures_util::future::BoxFuture<'t, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let pool = self.pool.clone();
        let lease = Arc::clone(&self.lease);
        self.run(async move {
            let mut c = pool.get().await.map_err(pool_err)?;
            let tx = c.transaction().await.map_err(pg)?;
            check_fence(&tx, &lease).await?;
            let out = f(&tx).await?;
            tx.commit().await.map_err(pg)?;
            Ok(out)
        })
    }

    /// Runs a read on a pooled connection.
    fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c deadpool_postgres::Client,
            )
                -> futures_util::future::BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let pool = self.pool.clone();
        self.run(async move {
            let c = pool.get().await.map_err(pool_err)?;
            f(&c).await
        })
    }

    pub(crate) fn allocation_rows(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| Box::pin(async move { allocation_rows_in(c).await }))
    }

    pub(crate) fn drop_conflicting(&self, request_id: &str, note: &str) -> Result<(), StoreError> {
        let (id, note) = (request_id.to_owned(), note.to_owned());
        self.fenced(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE requests SET state = $2, error = $3, updated_ms = $4
                     WHERE request_id = $1",
                    &[&id, &RequestState::Released.as_str(), &note, &now_ms()],
                )
                .await
                .map_err(pg)?;
                apply_ledger(tx, Ledger::Delete(id)).await
            })
        })
    }

    pub(crate) fn claim(
        &self,
        kind: OwnedKind,
        name: &str,
        request_id: &str,
        server: &str,
    ) -> Result<Option<Owned>, StoreError> {
        let (name, id, server) = (name.to_owned(), request_id.to_owned(), server.to_owned());
        self.fenced(move |tx| {
            Box::pin(async move {
                // The row lock keeps two claims of one name in order.
                if let Some(o) = owner_in(tx, kind, &name, " FOR UPDATE").await? {
                    if o.request_id == id {
                        return Ok(None);
                    }
                    let live = tx
                        .query_opt(
                            "SELECT 1 FROM allocations WHERE request_id = $1",
                            &[&o.request_id],
                        )
                        .await
                        .map_err(pg)?
                        .is_some();
                    if live {
                        return Ok(Some(o));
                    }
                }
                tx.execute(
                    "INSERT INTO owned (kind, name, request_id, server, dd_id, created_ms)
                     VALUES ($1, $2, $3, $4, NULL, $5)
                     ON CONFLICT (kind, name) DO UPDATE SET request_id = excluded.request_id,
                         server = excluded.server, dd_id = NULL, created_ms = excluded.created_ms",
                    &[&kind.as_str(), &name, &id, &server, &now_ms()],
                )
                .await
                .map_err(pg)?;
                Ok(None)
            })
        })
    }

    pub(crate) fn bmc_holder(&self, bmc_key: String) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT request_id FROM bmc_holds WHERE bmc = $1",
                    &[&bmc_key],
                )
                .await
                .map_err(pg)?
                .map(|r| r.get(0)))
            })
        })
    }

    pub(crate) fn set_owned_dd_id(&self, name: &str, dd_id: u32) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.fenced(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE owned SET dd_id = $2 WHERE kind = 'dd' AND name = $1",
                    &[&name, &i64::from(dd_id)],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn owner(&self, kind: OwnedKind, name: &str) -> Result<Option<Owned>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| Box::pin(async move { owner_in(c, kind, &name, "").await }))
    }

    pub(crate) fn owned_without_allocation(&self) -> Result<Vec<Owned>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT kind, name, request_id, server, dd_id FROM owned o
                         WHERE NOT EXISTS
                             (SELECT 1 FROM allocations a WHERE a.request_id = o.request_id)
                         ORDER BY kind, name",
                        &[],
                    )
                    .await
                    .map_err(pg)?;
                Ok(rows.iter().filter_map(row_to_owned).collect())
            })
        })
    }

    pub(crate) fn disown(
        &self,
        kind: OwnedKind,
        name: &str,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let (name, id) = (name.to_owned(), request_id.to_owned());
        self.fenced(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "DELETE FROM owned WHERE kind = $1 AND name = $2 AND request_id = $3",
                    &[&kind.as_str(), &name, &id],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn load_ledger_json(&self) -> Result<String, StoreError> {
        let mut out = format!(
            "{{\"version\":{},\"allocations\":[",
            boot_config_core::LEDGER_VERSION
        );
        out.push_str(&self.allocation_jsons()?.join(","));
        out.push_str("]}");
        Ok(out)
    }

    fn allocation_jsons(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT json FROM allocations ORDER BY request_id", &[])
                    .await
                    .map_err(pg)?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
        })
    }

    pub(crate) fn begin_request(&self, new: &NewRequest<'_>) -> Result<StoredRequest, StoreError> {
        let id = new.request_id.to_owned();
        let server = new.server.to_owned();
        let kind = new.kind;
        let body = new.body_json.to_owned();
        let secret = new.secret.map(<[u8]>::to_vec);
        let allocation = new.allocation.map(|(a, j)| (a.to_owned(), j.to_owned()));
        self.fenced(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "DELETE FROM requests WHERE request_id = $1 AND state = 'refused'",
                    &[&id],
                )
                .await
                .map_err(pg)?;
                if let Some(existing) = get_request_in(tx, &id).await? {
                    if existing.server != server || existing.kind != kind {
                        return Err(StoreError::RequestConflict {
                            request_id: id,
                            existing: format!("{} of {}", existing.kind.as_str(), existing.server),
                            wanted: format!("{} of {}", kind.as_str(), server),
                        });
                    }
                    return Ok(existing);
                }
                let now = now_ms();
                tx.execute(
                    "INSERT INTO requests (request_id, server, kind, state, body_json, secret,
                                           error, created_ms, updated_ms, seq)
                     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7, nextval('requests_seq'))",
                    &[
                        &id,
                        &server,
                        &kind.as_str(),
                        &RequestState::InFlight.as_str(),
                        &body,
                        &secret,
                        &now,
                    ],
                )
                .await
                .map_err(pg)?;
                // As on SQLite: the reservation lands with its request or not at all.
                if let Some((a, json)) = allocation {
                    apply_ledger(tx, Ledger::Put(a, json)).await?;
                }
                Ok(StoredRequest {
                    request_id: id,
                    server,
                    kind,
                    state: RequestState::InFlight,
                    body_json: body,
                    secret,
                    error: None,
                    created_ms: now,
                    updated_ms: now,
                })
            })
        })
    }

    pub(crate) fn record_refusal(
        &self,
        request_id: &str,
        server: &str,
        body_json: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let (id, server, body, error) = (
            request_id.to_owned(),
            server.to_owned(),
            body_json.to_owned(),
            error.to_owned(),
        );
        self.fenced(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO requests (request_id, server, kind, state, body_json, secret,
                                           error, created_ms, updated_ms, seq)
                     VALUES ($1, $2, $3, 'refused', $4, NULL, $5, $6, $6, nextval('requests_seq'))
                     ON CONFLICT (request_id) DO UPDATE SET error = $5, updated_ms = $6,
                         seq = nextval('requests_seq')
                     WHERE requests.state = 'refused'",
                    &[
                        &id,
                        &server,
                        &RequestKind::Provision.as_str(),
                        &body,
                        &error,
                        &now_ms(),
                    ],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn journal(
        &self,
        request_id: &str,
        step: u32,
        phase: StepPhase,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let (id, detail) = (request_id.to_owned(), detail.map(str::to_owned));
        self.fenced(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO journal (request_id, step, phase, detail) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&id, &i64::from(step), &phase.as_str(), &detail],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn steps(&self, request_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let id = request_id.to_owned();
        self.read(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT step, phase, detail FROM journal WHERE request_id = $1
                         ORDER BY step, id",
                        &[&id],
                    )
                    .await
                    .map_err(pg)?;
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        let step = u32::try_from(r.get::<_, i64>(0)).ok()?;
                        let phase = StepPhase::parse(r.get(1))?;
                        Some(JournalEntry {
                            step,
                            phase,
                            detail: r.get(2),
                        })
                    })
                    .collect())
            })
        })
    }

    pub(crate) fn set_state(
        &self,
        request_id: &str,
        state: RequestState,
        error: Option<&str>,
        ledger: LedgerChange<'_>,
    ) -> Result<(), StoreError> {
        let (id, error, ledger) = (
            request_id.to_owned(),
            error.map(str::to_owned),
            Ledger::from(ledger),
        );
        self.fenced(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE requests SET state = $2, error = COALESCE($3, error), updated_ms = $4
                     WHERE request_id = $1",
                    &[&id, &state.as_str(), &error, &now_ms()],
                )
                .await
                .map_err(pg)?;
                apply_ledger(tx, ledger).await
            })
        })
    }

    pub(crate) fn finish_release(
        &self,
        release_id: &str,
        provision_id: &str,
    ) -> Result<(), StoreError> {
        let (rel, prov) = (release_id.to_owned(), provision_id.to_owned());
        self.fenced(move |tx| {
            Box::pin(async move {
                let now = now_ms();
                tx.execute(
                    "UPDATE requests SET state = $2, updated_ms = $3 WHERE request_id = $1",
                    &[&rel, &RequestState::Completed.as_str(), &now],
                )
                .await
                .map_err(pg)?;
                tx.execute(
                    "UPDATE requests SET state = $2, updated_ms = $3 WHERE request_id = $1",
                    &[&prov, &RequestState::Released.as_str(), &now],
                )
                .await
                .map_err(pg)?;
                apply_ledger(tx, Ledger::Delete(prov)).await
            })
        })
    }

    pub(crate) fn request(&self, request_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let id = request_id.to_owned();
        self.read(move |c| Box::pin(async move { get_request_in(c, &id).await }))
    }

    pub(crate) fn unfinished(&self) -> Result<Vec<StoredRequest>, StoreError> {
        self.requests(
            format!(
                "SELECT {COLUMNS} FROM requests
                 WHERE state IN ('in-flight', 'rolling-back') ORDER BY seq"
            ),
            None,
            None,
        )
    }

    pub(crate) fn recent(
        &self,
        server: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let limit = i64::from(limit);
        match server {
            Some(s) => self.requests(
                format!(
                    "SELECT {COLUMNS} FROM requests WHERE server = $1 ORDER BY seq DESC LIMIT $2"
                ),
                Some(s.to_owned()),
                Some(limit),
            ),
            None => self.requests(
                format!("SELECT {COLUMNS} FROM requests ORDER BY seq DESC LIMIT $1"),
                None,
                Some(limit),
            ),
        }
    }

    fn requests(
        &self,
        sql: String,
        server: Option<String>,
        limit: Option<i64>,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        self.read(move |c| {
            Box::pin(async move {
                let rows = match (&server, &limit) {
                    (Some(s), Some(l)) => c.query(&sql, &[s, l]).await,
                    (None, Some(l)) => c.query(&sql, &[l]).await,
                    _ => c.query(&sql, &[]).await,
                }
                .map_err(pg)?;
                Ok(rows.iter().filter_map(row_to_request).collect())
            })
        })
    }

    pub(crate) fn state_counts(&self) -> Result<Vec<(RequestState, u64)>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT state, COUNT(*) FROM requests GROUP BY state ORDER BY state",
                        &[],
                    )
                    .await
                    .map_err(pg)?;
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        let s = RequestState::parse(r.get(0))?;
                        Some((s, u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
                    })
                    .collect())
            })
        })
    }

    pub(crate) fn remember_cipher_suite(&self, bmc: &str, suite: u8) -> Result<(), StoreError> {
        // A cache of what worked, not an invariant: any instance may write it.
        let bmc = bmc.to_owned();
        self.read(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO bmc_cipher_suites (bmc, suite) VALUES ($1, $2)
                     ON CONFLICT (bmc) DO UPDATE SET suite = excluded.suite",
                    &[&bmc, &i16::from(suite)],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn remember_cert_pin(&self, bmc: &str, sha256: &str) -> Result<(), StoreError> {
        // Trust on first use, as on SQLite: a record of what a BMC presented, not an invariant.
        let (bmc, sha256) = (bmc.to_owned(), sha256.to_owned());
        self.read(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO bmc_cert_pins (bmc, sha256, pinned_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (bmc) DO UPDATE SET sha256 = excluded.sha256,
                         pinned_ms = excluded.pinned_ms",
                    &[&bmc, &sha256, &now_ms()],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn cert_pins(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT bmc, sha256 FROM bmc_cert_pins ORDER BY bmc", &[])
                    .await
                    .map_err(pg)?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })
    }

    pub(crate) fn cipher_suite(&self, bmc: &str) -> Result<Option<u8>, StoreError> {
        let bmc = bmc.to_owned();
        self.read(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT suite FROM bmc_cipher_suites WHERE bmc = $1",
                    &[&bmc],
                )
                .await
                .map_err(pg)?
                .and_then(|r| u8::try_from(r.get::<_, i16>(0)).ok()))
            })
        })
    }

    pub(crate) fn cipher_suites(&self) -> Result<Vec<(String, u8)>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT bmc, suite FROM bmc_cipher_suites", &[])
                    .await
                    .map_err(pg)?;
                Ok(rows
                    .iter()
                    .filter_map(|r| Some((r.get(0), u8::try_from(r.get::<_, i16>(1)).ok()?)))
                    .collect())
            })
        })
    }

    pub(crate) fn set_server_uuid(
        &self,
        server: &str,
        uuid: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        let (server, uuid, source) = (server.to_owned(), uuid.to_owned(), source.to_owned());
        self.read(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO boot_uuids (server, uuid, source, updated_ms)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (server, source) DO UPDATE SET uuid = excluded.uuid,
                         updated_ms = excluded.updated_ms",
                    &[&server, &uuid, &source, &now_ms()],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn server_uuids(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT server, uuid FROM boot_uuids ORDER BY server, source",
                        &[],
                    )
                    .await
                    .map_err(pg)?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })
    }

    pub(crate) fn record_script_fetch(
        &self,
        request_id: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        // Every instance serves boot scripts: a fetch is recorded by whichever answered it.
        let id = request_id.to_owned();
        self.read(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO boot_confirmations (request_id, script_fetched_ms, logged_in_ms)
                     VALUES ($1, $2, NULL)
                     ON CONFLICT (request_id) DO UPDATE
                         SET script_fetched_ms = excluded.script_fetched_ms, logged_in_ms = NULL",
                    &[&id, &at_ms],
                )
                .await
                .map_err(pg)?;
                Ok(())
            })
        })
    }

    pub(crate) fn record_login(&self, request_id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let id = request_id.to_owned();
        self.read(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE boot_confirmations SET logged_in_ms = $2
                         WHERE request_id = $1 AND script_fetched_ms IS NOT NULL
                           AND logged_in_ms IS NULL",
                        &[&id, &at_ms],
                    )
                    .await
                    .map_err(pg)?;
                Ok(n > 0)
            })
        })
    }

    pub(crate) fn boot_confirmation(
        &self,
        request_id: &str,
    ) -> Result<BootConfirmation, StoreError> {
        let id = request_id.to_owned();
        self.read(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT script_fetched_ms, logged_in_ms FROM boot_confirmations
                     WHERE request_id = $1",
                    &[&id],
                )
                .await
                .map_err(pg)?
                .map(|r| BootConfirmation {
                    script_fetched_ms: r.get(0),
                    logged_in_ms: r.get(1),
                })
                .unwrap_or_default())
            })
        })
    }
}

/// Refuses the transaction unless this instance holds the lease with its current token. The
/// shared row lock keeps a new leader's acquisition waiting until this write commits, so no
/// write of an old term lands after a new term began.
async fn check_fence(tx: &Transaction<'_>, lease: &LeaseState) -> Result<(), StoreError> {
    let token = lease.token();
    let ok = token > 0
        && tx
            .query_opt(
                "SELECT 1 FROM leader_lease
                 WHERE id = 1 AND holder = $1 AND token = $2 AND expires_at > clock_timestamp()
                 FOR SHARE",
                &[&lease.holder(), &token],
            )
            .await
            .map_err(pg)?
            .is_some();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Fenced { token })
    }
}

/// An owned [`LedgerChange`] (the future runs on another thread).
enum Ledger {
    None,
    Put(String, String),
    Delete(String),
}

impl From<LedgerChange<'_>> for Ledger {
    fn from(c: LedgerChange<'_>) -> Self {
        match c {
            LedgerChange::None => Self::None,
            LedgerChange::Put(a, j) => Self::Put(a.to_owned(), j.to_owned()),
            LedgerChange::Delete(a) => Self::Delete(a.to_owned()),
        }
    }
}

async fn apply_ledger(tx: &Transaction<'_>, change: Ledger) -> Result<(), StoreError> {
    match change {
        Ledger::None => {}
        Ledger::Put(id, json) => {
            let h = AllocationHolds::decode(&id, &json)?;
            tx.execute(
                "INSERT INTO allocations (request_id, json) VALUES ($1, $2)
                 ON CONFLICT (request_id) DO UPDATE SET json = excluded.json",
                &[&id, &json],
            )
            .await
            .map_err(pg)?;
            tx.execute("DELETE FROM lun_holds WHERE request_id = $1", &[&id])
                .await
                .map_err(pg)?;
            tx.execute("DELETE FROM bmc_holds WHERE request_id = $1", &[&id])
                .await
                .map_err(pg)?;
            for (target, lun) in &h.luns {
                // Named first for the message; the primary key refuses it regardless.
                let held = tx
                    .query_opt(
                        "SELECT l.request_id, r.server FROM lun_holds l
                         LEFT JOIN requests r ON r.request_id = l.request_id
                         WHERE l.target = $1 AND l.lun = $2",
                        &[target, lun],
                    )
                    .await
                    .map_err(pg)?;
                if let Some(r) = held {
                    return Err(StoreError::Held {
                        what: format!("{target} LUN {lun}"),
                        holder: r.get(0),
                        server: r.get::<_, Option<String>>(1).unwrap_or_default(),
                    });
                }
                insert_hold(
                    tx,
                    "INSERT INTO lun_holds (target, lun, request_id) VALUES ($1, $2, $3)",
                    &[target, lun, &id],
                    || format!("{target} LUN {lun}"),
                )
                .await?;
            }
            if let Some(bmc) = &h.bmc {
                let held = tx
                    .query_opt(
                        "SELECT b.request_id, r.server FROM bmc_holds b
                         LEFT JOIN requests r ON r.request_id = b.request_id
                         WHERE b.bmc = $1",
                        &[bmc],
                    )
                    .await
                    .map_err(pg)?;
                if let Some(r) = held {
                    return Err(StoreError::Held {
                        what: format!("BMC {bmc}"),
                        holder: r.get(0),
                        server: r.get::<_, Option<String>>(1).unwrap_or_default(),
                    });
                }
                insert_hold(
                    tx,
                    "INSERT INTO bmc_holds (bmc, request_id) VALUES ($1, $2)",
                    &[bmc, &id],
                    || format!("BMC {bmc}"),
                )
                .await?;
            }
        }
        Ledger::Delete(id) => {
            tx.execute("DELETE FROM allocations WHERE request_id = $1", &[&id])
                .await
                .map_err(pg)?;
        }
    }
    Ok(())
}

/// Inserts a hold; a unique violation (a concurrent writer won the key between the check and
/// the insert) is reported as [`StoreError::Held`].
async fn insert_hold(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    what: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    match tx.execute(sql, params).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            Err(StoreError::Held {
                what: what(),
                holder: "another writer".to_owned(),
                server: String::new(),
            })
        }
        Err(e) => Err(pg(e)),
    }
}

/// Schema step 2's data part, as on SQLite: holds and owned records from existing allocation
/// rows, the older request first.
async fn fill_holds(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let now = now_ms();
    for (id, json) in allocation_rows_in(tx).await? {
        let Ok(h) = AllocationHolds::decode(&id, &json) else {
            continue; // reported by the ledger load, which names it
        };
        for (target, lun) in &h.luns {
            tx.execute(
                "INSERT INTO lun_holds (target, lun, request_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[target, lun, &id],
            )
            .await
            .map_err(pg)?;
        }
        if let Some(bmc) = &h.bmc {
            tx.execute(
                "INSERT INTO bmc_holds (bmc, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[bmc, &id],
            )
            .await
            .map_err(pg)?;
        }
        for (kind, name) in [
            (OwnedKind::Dd, &h.dd_name),
            (OwnedKind::Initiator, &h.initiator),
        ] {
            tx.execute(
                "INSERT INTO owned (kind, name, request_id, server, dd_id, created_ms)
                 VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT DO NOTHING",
                &[&kind.as_str(), name, &id, &h.server, &now],
            )
            .await
            .map_err(pg)?;
        }
    }
    Ok(())
}

async fn allocation_rows_in<C: deadpool_postgres::GenericClient>(
    c: &C,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = c
        .query(
            "SELECT a.request_id, a.json FROM allocations a
             LEFT JOIN requests r ON r.request_id = a.request_id
             ORDER BY COALESCE(r.seq, 0), a.request_id",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn owner_in<C: deadpool_postgres::GenericClient>(
    c: &C,
    kind: OwnedKind,
    name: &str,
    lock: &str,
) -> Result<Option<Owned>, StoreError> {
    let sql = format!(
        "SELECT kind, name, request_id, server, dd_id FROM owned
         WHERE kind = $1 AND name = $2{lock}"
    );
    Ok(c.query_opt(&sql, &[&kind.as_str(), &name])
        .await
        .map_err(pg)?
        .as_ref()
        .and_then(row_to_owned))
}

async fn get_request_in<C: deadpool_postgres::GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<StoredRequest>, StoreError> {
    Ok(c.query_opt(
        &format!("SELECT {COLUMNS} FROM requests WHERE request_id = $1"),
        &[&id],
    )
    .await
    .map_err(pg)?
    .as_ref()
    .and_then(row_to_request))
}

fn row_to_owned(r: &tokio_postgres::Row) -> Option<Owned> {
    Some(Owned {
        kind: OwnedKind::parse(r.get(0))?,
        name: r.get(1),
        request_id: r.get(2),
        server: r.get(3),
        dd_id: r
            .get::<_, Option<i64>>(4)
            .and_then(|d| u32::try_from(d).ok()),
    })
}

/// Maps a row; an unknown state or kind (from a newer manager) yields `None`.
fn row_to_request(r: &tokio_postgres::Row) -> Option<StoredRequest> {
    Some(StoredRequest {
        request_id: r.get(0),
        server: r.get(1),
        kind: RequestKind::parse(r.get(2))?,
        state: RequestState::parse(r.get(3))?,
        body_json: r.get(4),
        secret: r.get(5),
        error: r.get(6),
        created_ms: r.get(7),
        updated_ms: r.get(8),
    })
}
