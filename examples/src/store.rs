//! The manager's embedded transactional store (SQLite, WAL, `synchronous = FULL`).
//!
//! What must survive a crash lives here: the allocation ledger (one row per allocation, the
//! engine's serde form), every provisioning or release request, and a write-ahead journal of
//! plan steps. A step is journalled `begun` *before* its side effect and `done` after it, in
//! their own transactions, so after a SIGKILL the manager knows exactly which steps may have
//! happened (`begun` without `done`) and resumes or compensates them (every step and
//! compensation is idempotent against iSNS and the BMC). SQLite was chosen over a hand-rolled
//! log because it gives atomic multi-row updates, crash-safe WAL, and `sqlite3` as an
//! inspection tool for operators.
//!
//! The file holds the random bytes each provisioning's CHAP secrets were derived from (so a
//! resumed plan pushes the same secret): it is created with mode 0600 and [`StoredRequest`]'s
//! `Debug` never shows them.

use std::fmt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// Schema version written to `meta`; bump with a migration when the tables change.
const SCHEMA_VERSION: i64 = 3;

/// Schema step 2: the invariants the engine keeps in memory, kept by the schema too, so no
/// second writer (a CLI beside the daemon, an older manager) can break them: one holder per
/// (target, LUN) and per BMC address among live allocations, and a record of every iSNS
/// object the manager created (recovery and compensations act only on recorded objects).
const MIGRATION_2: &str = "
    CREATE TABLE IF NOT EXISTS lun_holds (
        target TEXT NOT NULL,
        lun INTEGER NOT NULL,
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
        dd_id INTEGER,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (kind, name));";

/// Schema step 3: the certificate fingerprint of each BMC's Redfish service, recorded on
/// first use; a different certificate later is refused until the operator accepts it.
const MIGRATION_3: &str = "
    CREATE TABLE IF NOT EXISTS bmc_cert_pins (
        bmc TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        pinned_ms INTEGER NOT NULL);";

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed (I/O, corruption, constraint).
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file could not be created with private permissions.
    #[error("store: cannot create {path}: {source}")]
    Create {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database was written by a newer manager.
    #[error(
        "store schema version {found} is newer than this manager understands ({SCHEMA_VERSION})"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
    },
    /// A read-only command found no store (it never creates one).
    #[error("no store at {path}")]
    Missing {
        /// The path looked at.
        path: String,
    },
    /// A LUN or BMC address is already held by another live allocation (the schema's
    /// uniqueness constraint refused the second holder).
    #[error("{what} is held by request {holder} (server {server})")]
    Held {
        /// What is held (`<target> LUN <n>`, `BMC <addr>`).
        what: String,
        /// The request holding it.
        holder: String,
        /// That request's server.
        server: String,
    },
    /// A stored allocation row does not decode.
    #[error("store: allocation of request {request_id} does not decode: {error}")]
    BadAllocation {
        /// The request.
        request_id: String,
        /// The decoder's message.
        error: String,
    },
    /// A request ID was reused for a different server or kind.
    #[error("request {request_id} already exists for {existing}, not {wanted}")]
    RequestConflict {
        /// The request ID.
        request_id: String,
        /// What the stored request is (kind and server).
        existing: String,
        /// What the new request named.
        wanted: String,
    },
}

/// Lifecycle of a stored request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    /// Steps are being executed (or were, when the manager died).
    InFlight,
    /// Every step is done.
    Completed,
    /// A step failed and its predecessors are being compensated.
    RollingBack,
    /// Every done step was compensated.
    RolledBack,
    /// A completed provisioning whose disk was later released.
    Released,
    /// Refused at selection (nothing fits, the server already holds a disk): nothing was
    /// reserved or done; the same request ID may be sent again.
    Refused,
}

impl RequestState {
    /// The state's name as stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in-flight",
            Self::Completed => "completed",
            Self::RollingBack => "rolling-back",
            Self::RolledBack => "rolled-back",
            Self::Released => "released",
            Self::Refused => "refused",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in-flight" => Self::InFlight,
            "completed" => Self::Completed,
            "rolling-back" => Self::RollingBack,
            "rolled-back" => Self::RolledBack,
            "released" => Self::Released,
            "refused" => Self::Refused,
            _ => return None,
        })
    }

    /// Whether the request still needs work (resume or compensation), as
    /// [`Store::unfinished`] selects.
    #[must_use]
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::InFlight | Self::RollingBack)
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a stored request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    /// Give a server its boot disk.
    Provision,
    /// Take it back.
    Release,
}

impl RequestKind {
    /// The kind's name as stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Release => "release",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "provision" => Self::Provision,
            "release" => Self::Release,
            _ => return None,
        })
    }
}

/// What the journal says about one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepPhase {
    /// The side effect may have happened (journalled before it was attempted).
    Begun,
    /// The side effect happened.
    Done,
    /// The side effect failed (it may have partly happened: compensations are idempotent).
    Failed,
    /// The step's compensation happened.
    Compensated,
}

impl StepPhase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Begun => "begun",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Compensated => "compensated",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "begun" => Self::Begun,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "compensated" => Self::Compensated,
            _ => return None,
        })
    }
}

/// One journal row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalEntry {
    /// Step index in the request's plan.
    pub step: u32,
    /// Phase.
    pub phase: StepPhase,
    /// What the step reported (e.g. `DD 7`), or the error.
    pub detail: Option<String>,
}

/// A request to store with [`Store::begin_request`].
pub struct NewRequest<'a> {
    /// Caller-chosen idempotency key.
    pub request_id: &'a str,
    /// The server.
    pub server: &'a str,
    /// Provision or release.
    pub kind: RequestKind,
    /// The request body (JSON: the boot request, or the released request's ID).
    pub body_json: &'a str,
    /// Secret random bytes the plan derives from (CHAP), if any.
    pub secret: Option<&'a [u8]>,
    /// Allocation row to write in the same transaction (the reservation).
    pub allocation: Option<(&'a str, &'a str)>,
}

/// A stored request (provision or release).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// Caller-chosen idempotency key.
    pub request_id: String,
    /// Server the request is for.
    pub server: String,
    /// Provision or release.
    pub kind: RequestKind,
    /// Lifecycle state.
    pub state: RequestState,
    /// The request body (JSON).
    pub body_json: String,
    /// Secret random bytes (CHAP derivation); never shown by `Debug`.
    pub secret: Option<Vec<u8>>,
    /// Last error, if a step failed.
    pub error: Option<String>,
    /// Unix milliseconds when the request was first stored.
    pub created_ms: i64,
    /// Unix milliseconds of the last state change.
    pub updated_ms: i64,
}

impl fmt::Debug for StoredRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredRequest")
            .field("request_id", &self.request_id)
            .field("server", &self.server)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("body_json", &self.body_json)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// How a state change touches the ledger, in the same transaction.
#[derive(Debug, Clone, Copy)]
pub enum LedgerChange<'a> {
    /// Leave it.
    None,
    /// Insert or replace the allocation row of this request (JSON).
    Put(&'a str, &'a str),
    /// Delete the allocation row of this request.
    Delete(&'a str),
}

/// The kinds of iSNS object the manager records as its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnedKind {
    /// A Discovery Domain (by name; its DD_ID once known).
    Dd,
    /// An initiator storage node (by iSCSI name).
    Initiator,
    /// The network entity registered with an initiator (by EID).
    Entity,
}

impl OwnedKind {
    /// The kind's name as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dd => "dd",
            Self::Initiator => "initiator",
            Self::Entity => "entity",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "dd" => Self::Dd,
            "initiator" => Self::Initiator,
            "entity" => Self::Entity,
            _ => return None,
        })
    }
}

/// One iSNS object the manager created, and the request that created it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Owned {
    /// What it is.
    pub kind: OwnedKind,
    /// Its name (DD name, iSCSI name, EID).
    pub name: String,
    /// The request that created it.
    pub request_id: String,
    /// That request's server.
    pub server: String,
    /// The DD_ID, for a DD whose creation returned one.
    pub dd_id: Option<u32>,
}

/// The unique keys of one allocation row.
struct AllocationHolds {
    luns: Vec<(String, i64)>,
    bmc: Option<String>,
    server: String,
    dd_name: String,
    initiator: String,
}

impl AllocationHolds {
    fn decode(id: &str, json: &str) -> Result<Self, StoreError> {
        let bad = |error: String| StoreError::BadAllocation {
            request_id: id.to_owned(),
            error,
        };
        let a: boot_config_core::Allocation =
            serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let luns = a
            .selection
            .luns()
            // A LunNumber is at most 16383, so it always fits the column.
            .map(|l| (l.target.as_str().to_owned(), i64::from(l.lun.get())))
            .collect();
        Ok(Self {
            luns,
            bmc: a.request.server.bmc.as_deref().map(bmc_key),
            server: a.server().as_str().to_owned(),
            dd_name: a.dd_name.clone(),
            initiator: a.initiator.as_str().to_owned(),
        })
    }
}

/// The key under which a BMC address is held: `ip:port` (port 623 when none is given), or a
/// lower-cased host name with its port; no name is resolved.
#[must_use]
pub fn bmc_key(text: &str) -> String {
    let t = text.trim();
    if let Ok(a) = t.parse::<std::net::SocketAddr>() {
        return a.to_string();
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return std::net::SocketAddr::new(ip, crate::bmc::IPMI_PORT).to_string();
    }
    let lower = t.to_ascii_lowercase();
    if lower
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        lower
    } else {
        format!("{lower}:{}", crate::bmc::IPMI_PORT)
    }
}

/// The manager's store. One connection; the manager serializes access.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

const COLUMNS: &str =
    "request_id, server, kind, state, body_json, secret, error, created_ms, updated_ms";

impl Store {
    /// Opens (creating if needed, mode 0600) the store at `path`.
    ///
    /// # Errors
    /// SQLite errors, [`StoreError::Create`], or [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Create {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            create_private(path).map_err(|source| StoreError::Create {
                path: path.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// Opens an existing store for reading only: nothing is created, migrated or written.
    ///
    /// # Errors
    /// [`StoreError::Missing`] when there is no file at `path`; SQLite errors;
    /// [`StoreError::SchemaTooNew`].
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let found: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(v) = found.filter(|v| *v > SCHEMA_VERSION) {
            return Err(StoreError::SchemaTooNew { found: v });
        }
        Ok(Store { conn })
    }

    /// Opens a private in-memory store (tests, `--dry-run`).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        // WAL + FULL: a committed transaction survives SIGKILL and power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS allocations (
                 request_id TEXT PRIMARY KEY,
                 json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS requests (
                 request_id TEXT PRIMARY KEY,
                 server TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 state TEXT NOT NULL,
                 body_json TEXT NOT NULL,
                 secret BLOB,
                 error TEXT,
                 created_ms INTEGER NOT NULL,
                 updated_ms INTEGER NOT NULL,
                 seq INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS requests_by_server ON requests (server, seq);
             CREATE TABLE IF NOT EXISTS journal (
                 request_id TEXT NOT NULL REFERENCES requests(request_id) ON DELETE CASCADE,
                 step INTEGER NOT NULL,
                 phase TEXT NOT NULL,
                 detail TEXT,
                 PRIMARY KEY (request_id, step, phase));
             CREATE TABLE IF NOT EXISTS bmc_cipher_suites (
                 bmc TEXT PRIMARY KEY,
                 suite INTEGER NOT NULL);",
        )?;
        migrate_netboot(&conn)?;
        let found: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(v) = found
            && v > SCHEMA_VERSION
        {
            return Err(StoreError::SchemaTooNew { found: v });
        }
        let mut store = Store { conn };
        // A new store has just been created at version 1 above: it migrates like an old one.
        if found.unwrap_or(1) < 2 {
            store.migrate_to_2()?;
        }
        if found.unwrap_or(1) < 3 {
            store.migrate_to_3()?;
        }
        Ok(store)
    }

    /// Schema step 2 ([`MIGRATION_2`]): creates the hold and ownership tables and fills them
    /// from the allocation rows, oldest request first. A LUN or BMC already held by an older
    /// allocation is left to that one (a store written before this step may hold a LUN twice:
    /// [`Store::conflicts`] then names the younger holder and `bcm repair` releases it). The
    /// DD and initiator named by each allocation are recorded as the manager's own.
    fn migrate_to_2(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(MIGRATION_2)?;
        let rows = Self::allocation_rows_in(&tx)?;
        let now = now_ms();
        for (id, json) in rows {
            let Ok(h) = AllocationHolds::decode(&id, &json) else {
                continue; // reported by the ledger load, which names it
            };
            for (target, lun) in &h.luns {
                tx.execute(
                    "INSERT OR IGNORE INTO lun_holds (target, lun, request_id) VALUES (?1, ?2, ?3)",
                    params![target, lun, id],
                )?;
            }
            if let Some(bmc) = &h.bmc {
                tx.execute(
                    "INSERT OR IGNORE INTO bmc_holds (bmc, request_id) VALUES (?1, ?2)",
                    params![bmc, id],
                )?;
            }
            for (kind, name) in [
                (OwnedKind::Dd, &h.dd_name),
                (OwnedKind::Initiator, &h.initiator),
            ] {
                tx.execute(
                    "INSERT OR IGNORE INTO owned (kind, name, request_id, server, dd_id, created_ms)
                     VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
                    params![kind.as_str(), name, id, h.server, now],
                )?;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![2i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Schema step 3 ([`MIGRATION_3`]): the certificate pin table.
    fn migrate_to_3(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(MIGRATION_3)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![SCHEMA_VERSION],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records the certificate fingerprint of `bmc`'s Redfish service (`"sha256:…"`),
    /// replacing an older one.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn remember_cert_pin(&self, bmc: &str, sha256: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO bmc_cert_pins (bmc, sha256, pinned_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(bmc) DO UPDATE SET sha256 = excluded.sha256, pinned_ms = excluded.pinned_ms",
            params![bmc, sha256, now_ms()],
        )?;
        Ok(())
    }

    /// Every recorded certificate pin `(bmc, "sha256:…")`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn cert_pins(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT bmc, sha256 FROM bmc_cert_pins ORDER BY bmc")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Allocation rows `(request_id, json)`, oldest request first.
    fn allocation_rows_in(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = conn.prepare(
            "SELECT a.request_id, a.json FROM allocations a
             LEFT JOIN requests r ON r.request_id = a.request_id
             ORDER BY COALESCE(r.seq, 0), a.request_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every allocation row `(request_id, json)`, oldest request first: the order in which
    /// a ledger is rebuilt, so that of two holders of one LUN the older wins.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn allocation_rows(&self) -> Result<Vec<(String, String)>, StoreError> {
        Self::allocation_rows_in(&self.conn)
    }

    /// Drops the allocation of a request that conflicts with an older holder (`bcm repair`,
    /// after its iSNS objects and BMC were undone): the request becomes `released` with `note`
    /// as its error.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn drop_conflicting(&mut self, request_id: &str, note: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE requests SET state = ?2, error = ?3, updated_ms = ?4 WHERE request_id = ?1",
            params![request_id, RequestState::Released.as_str(), note, now_ms()],
        )?;
        Self::apply_ledger(&tx, LedgerChange::Delete(request_id))?;
        tx.commit()?;
        Ok(())
    }

    /// Records that `request_id` (for `server`) creates the iSNS object `name`, before it is
    /// created (as the journal records a step before its effect, so a crash in between still
    /// leaves the object attributed). Returns the other live request that owns it, if any (the
    /// claim is then refused); a record left by a request no longer holding an allocation is
    /// taken over.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn claim(
        &mut self,
        kind: OwnedKind,
        name: &str,
        request_id: &str,
        server: &str,
    ) -> Result<Option<Owned>, StoreError> {
        let tx = self.conn.transaction()?;
        if let Some(o) = Self::owner_in(&tx, kind, name)? {
            if o.request_id == request_id {
                return Ok(None);
            }
            let live: bool = tx
                .query_row(
                    "SELECT 1 FROM allocations WHERE request_id = ?1",
                    params![o.request_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if live {
                return Ok(Some(o));
            }
        }
        tx.execute(
            "INSERT INTO owned (kind, name, request_id, server, dd_id, created_ms)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5)
             ON CONFLICT(kind, name) DO UPDATE SET request_id = excluded.request_id,
                 server = excluded.server, dd_id = NULL, created_ms = excluded.created_ms",
            params![kind.as_str(), name, request_id, server, now_ms()],
        )?;
        tx.commit()?;
        Ok(None)
    }

    /// The request holding a BMC address (any spelling [`bmc_key`] maps to one key).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn bmc_holder(&self, bmc: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT request_id FROM bmc_holds WHERE bmc = ?1",
                params![bmc_key(bmc)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records the DD_ID iSNS gave a DD this manager created.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_owned_dd_id(&self, name: &str, dd_id: u32) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE owned SET dd_id = ?2 WHERE kind = 'dd' AND name = ?1",
            params![name, dd_id],
        )?;
        Ok(())
    }

    /// Who created the iSNS object `name`, if this manager did.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn owner(&self, kind: OwnedKind, name: &str) -> Result<Option<Owned>, StoreError> {
        Self::owner_in(&self.conn, kind, name)
    }

    fn owner_in(
        conn: &Connection,
        kind: OwnedKind,
        name: &str,
    ) -> Result<Option<Owned>, StoreError> {
        Ok(conn
            .query_row(
                "SELECT kind, name, request_id, server, dd_id FROM owned
                 WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
                Self::row_to_owned,
            )
            .optional()?
            .flatten())
    }

    /// Every recorded object whose creating request no longer holds an allocation: what
    /// orphan recovery may remove.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn owned_without_allocation(&self) -> Result<Vec<Owned>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, name, request_id, server, dd_id FROM owned o
             WHERE NOT EXISTS (SELECT 1 FROM allocations a WHERE a.request_id = o.request_id)
             ORDER BY kind, name",
        )?;
        let rows = stmt.query_map([], Self::row_to_owned)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?);
        }
        Ok(out)
    }

    /// Forgets a record once its object was removed (only `request_id`'s own record).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn disown(&self, kind: OwnedKind, name: &str, request_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM owned WHERE kind = ?1 AND name = ?2 AND request_id = ?3",
            params![kind.as_str(), name, request_id],
        )?;
        Ok(())
    }

    fn row_to_owned(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Owned>> {
        let kind: String = r.get(0)?;
        let Some(kind) = OwnedKind::parse(&kind) else {
            return Ok(None);
        };
        Ok(Some(Owned {
            kind,
            name: r.get(1)?,
            request_id: r.get(2)?,
            server: r.get(3)?,
            dd_id: r.get(4)?,
        }))
    }

    /// The ledger in the engine's serde form (`{"version":1,"allocations":[…]}`), assembled
    /// from the allocation rows; deserializing it re-checks that no LUN is held twice.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn load_ledger_json(&self) -> Result<String, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT json FROM allocations ORDER BY request_id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = format!(
            "{{\"version\":{},\"allocations\":[",
            boot_config_core::LEDGER_VERSION
        );
        for (i, row) in rows.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&row?);
        }
        out.push_str("]}");
        Ok(out)
    }

    fn apply_ledger(conn: &Connection, change: LedgerChange<'_>) -> Result<(), StoreError> {
        match change {
            LedgerChange::None => {}
            LedgerChange::Put(id, json) => {
                let h = AllocationHolds::decode(id, json)?;
                conn.execute(
                    "INSERT INTO allocations (request_id, json) VALUES (?1, ?2)
                     ON CONFLICT(request_id) DO UPDATE SET json = excluded.json",
                    params![id, json],
                )?;
                conn.execute("DELETE FROM lun_holds WHERE request_id = ?1", params![id])?;
                conn.execute("DELETE FROM bmc_holds WHERE request_id = ?1", params![id])?;
                let holder = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
                    conn.query_row(sql, p, |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                    })
                    .optional()
                };
                for (target, lun) in &h.luns {
                    // Named first for the message; the primary key refuses it regardless.
                    if let Some((holder, server)) = holder(
                        "SELECT l.request_id, r.server FROM lun_holds l
                         LEFT JOIN requests r ON r.request_id = l.request_id
                         WHERE l.target = ?1 AND l.lun = ?2",
                        &[target, lun],
                    )? {
                        return Err(StoreError::Held {
                            what: format!("{target} LUN {lun}"),
                            holder,
                            server: server.unwrap_or_default(),
                        });
                    }
                    conn.execute(
                        "INSERT INTO lun_holds (target, lun, request_id) VALUES (?1, ?2, ?3)",
                        params![target, lun, id],
                    )?;
                }
                if let Some(bmc) = &h.bmc {
                    if let Some((holder, server)) = holder(
                        "SELECT b.request_id, r.server FROM bmc_holds b
                         LEFT JOIN requests r ON r.request_id = b.request_id
                         WHERE b.bmc = ?1",
                        &[bmc],
                    )? {
                        return Err(StoreError::Held {
                            what: format!("BMC {bmc}"),
                            holder,
                            server: server.unwrap_or_default(),
                        });
                    }
                    conn.execute(
                        "INSERT INTO bmc_holds (bmc, request_id) VALUES (?1, ?2)",
                        params![bmc, id],
                    )?;
                }
            }
            LedgerChange::Delete(id) => {
                conn.execute("DELETE FROM allocations WHERE request_id = ?1", params![id])?;
            }
        }
        Ok(())
    }

    /// Records a new request together with its reservation, or returns the stored one when
    /// `request_id` is known (idempotent retries get the same record back, secret included).
    ///
    /// # Errors
    /// SQLite errors, or [`StoreError::RequestConflict`] when the ID names another server or
    /// kind.
    pub fn begin_request(&mut self, new: &NewRequest<'_>) -> Result<StoredRequest, StoreError> {
        let tx = self.conn.transaction()?;
        // A refusal is a record, not a request: the same ID may come back and be served.
        tx.execute(
            "DELETE FROM requests WHERE request_id = ?1 AND state = 'refused'",
            params![new.request_id],
        )?;
        if let Some(existing) = Self::get_request_in(&tx, new.request_id)? {
            if existing.server != new.server || existing.kind != new.kind {
                return Err(StoreError::RequestConflict {
                    request_id: new.request_id.to_owned(),
                    existing: format!("{} of {}", existing.kind.as_str(), existing.server),
                    wanted: format!("{} of {}", new.kind.as_str(), new.server),
                });
            }
            return Ok(existing);
        }
        let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM requests", [], |r| {
            r.get(0)
        })?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO requests (request_id, server, kind, state, body_json, secret, error,
                                   created_ms, updated_ms, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?7, ?8)",
            params![
                new.request_id,
                new.server,
                new.kind.as_str(),
                RequestState::InFlight.as_str(),
                new.body_json,
                new.secret,
                now,
                seq
            ],
        )?;
        // The reservation and the request land atomically: a crash cannot leave a
        // reserved LUN without the request that explains it.
        if let Some((id, json)) = new.allocation {
            Self::apply_ledger(&tx, LedgerChange::Put(id, json))?;
        }
        tx.commit()?;
        Ok(StoredRequest {
            request_id: new.request_id.to_owned(),
            server: new.server.to_owned(),
            kind: new.kind,
            state: RequestState::InFlight,
            body_json: new.body_json.to_owned(),
            secret: new.secret.map(<[u8]>::to_vec),
            error: None,
            created_ms: now,
            updated_ms: now,
        })
    }

    /// Records a provisioning refused at selection, so it shows among the recent requests;
    /// a refusal already stored under `request_id` is updated, any other request is left alone.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_refusal(
        &mut self,
        request_id: &str,
        server: &str,
        body_json: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM requests", [], |r| {
            r.get(0)
        })?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO requests (request_id, server, kind, state, body_json, secret, error,
                                   created_ms, updated_ms, seq)
             VALUES (?1, ?2, ?3, 'refused', ?4, NULL, ?5, ?6, ?6, ?7)
             ON CONFLICT(request_id) DO UPDATE SET error = ?5, updated_ms = ?6, seq = ?7
             WHERE state = 'refused'",
            params![
                request_id,
                server,
                RequestKind::Provision.as_str(),
                body_json,
                error,
                now,
                seq
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Journals one step phase (idempotent: re-journalling the same phase is a no-op).
    ///
    /// # Errors
    /// SQLite errors (including an unknown request ID).
    pub fn journal(
        &self,
        request_id: &str,
        step: u32,
        phase: StepPhase,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO journal (request_id, step, phase, detail) VALUES (?1, ?2, ?3, ?4)",
            params![request_id, step, phase.as_str(), detail],
        )?;
        Ok(())
    }

    /// Every journalled phase of `request_id`, in step order.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn steps(&self, request_id: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT step, phase, detail FROM journal WHERE request_id = ?1 ORDER BY step, rowid",
        )?;
        let rows = stmt.query_map(params![request_id], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (step, phase, detail) = row?;
            if let Some(phase) = StepPhase::parse(&phase) {
                out.push(JournalEntry {
                    step,
                    phase,
                    detail,
                });
            }
        }
        Ok(out)
    }

    /// Moves a request to `state`, changing the ledger in the same transaction.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_state(
        &mut self,
        request_id: &str,
        state: RequestState,
        error: Option<&str>,
        ledger: LedgerChange<'_>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE requests SET state = ?2, error = COALESCE(?3, error), updated_ms = ?4
             WHERE request_id = ?1",
            params![request_id, state.as_str(), error, now_ms()],
        )?;
        Self::apply_ledger(&tx, ledger)?;
        tx.commit()?;
        Ok(())
    }

    /// Finishes a release atomically: the release request completes, the provisioning it
    /// undid becomes `released`, and its allocation row goes.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn finish_release(
        &mut self,
        release_id: &str,
        provision_id: &str,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let now = now_ms();
        tx.execute(
            "UPDATE requests SET state = ?2, updated_ms = ?3 WHERE request_id = ?1",
            params![release_id, RequestState::Completed.as_str(), now],
        )?;
        tx.execute(
            "UPDATE requests SET state = ?2, updated_ms = ?3 WHERE request_id = ?1",
            params![provision_id, RequestState::Released.as_str(), now],
        )?;
        Self::apply_ledger(&tx, LedgerChange::Delete(provision_id))?;
        tx.commit()?;
        Ok(())
    }

    /// The request with this ID, if stored.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn request(&self, request_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        Self::get_request_in(&self.conn, request_id)
    }

    /// Requests that are not finished (in flight or rolling back), oldest first: what
    /// the manager must resume or compensate after a restart.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn unfinished(&self) -> Result<Vec<StoredRequest>, StoreError> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM requests
                 WHERE state IN ('in-flight', 'rolling-back') ORDER BY seq"
            ),
            [],
        )
    }

    /// The newest `limit` requests (any state), newest first; `server` filters.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn recent(
        &self,
        server: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        match server {
            Some(s) => self.query(
                &format!(
                    "SELECT {COLUMNS} FROM requests WHERE server = ?1 ORDER BY seq DESC LIMIT ?2"
                ),
                params![s, limit],
            ),
            None => self.query(
                &format!("SELECT {COLUMNS} FROM requests ORDER BY seq DESC LIMIT ?1"),
                params![limit],
            ),
        }
    }

    /// Number of requests in each state.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn state_counts(&self) -> Result<Vec<(RequestState, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM requests GROUP BY state ORDER BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (s, n) = row?;
            if let Some(s) = RequestState::parse(&s) {
                out.push((s, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(out)
    }

    fn query<P: rusqlite::Params>(
        &self,
        sql: &str,
        p: P,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(p, Self::row_to_request)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?);
        }
        Ok(out)
    }

    /// Remembers the cipher suite that worked for a BMC.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn remember_cipher_suite(&self, bmc: &str, suite: u8) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO bmc_cipher_suites (bmc, suite) VALUES (?1, ?2)
             ON CONFLICT(bmc) DO UPDATE SET suite = excluded.suite",
            params![bmc, suite],
        )?;
        Ok(())
    }

    /// The cipher suite that last worked for a BMC.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn cipher_suite(&self, bmc: &str) -> Result<Option<u8>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT suite FROM bmc_cipher_suites WHERE bmc = ?1",
                params![bmc],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every remembered cipher suite.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn cipher_suites(&self) -> Result<Vec<(String, u8)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT bmc, suite FROM bmc_cipher_suites")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn get_request_in(
        conn: &Connection,
        request_id: &str,
    ) -> Result<Option<StoredRequest>, StoreError> {
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM requests WHERE request_id = ?1"),
                params![request_id],
                Self::row_to_request,
            )
            .optional()?
            .flatten())
    }

    /// Maps a row; an unknown state or kind (from a newer manager) yields `None`.
    fn row_to_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<StoredRequest>> {
        let kind: String = r.get(2)?;
        let state: String = r.get(3)?;
        let (Some(kind), Some(state)) = (RequestKind::parse(&kind), RequestState::parse(&state))
        else {
            return Ok(None);
        };
        Ok(Some(StoredRequest {
            request_id: r.get(0)?,
            server: r.get(1)?,
            kind,
            state,
            body_json: r.get(4)?,
            secret: r.get(5)?,
            error: r.get(6)?,
            created_ms: r.get(7)?,
            updated_ms: r.get(8)?,
        }))
    }
}

// ---- migration step: network boot (issue 18) ------------------------------------------
//
// Two tables, created when missing, so a store written before network boot gains them on
// open and a store written with them still opens in an older manager (which ignores them):
// the step is additive and needs no version bump of its own.
//   boot_uuids          (server, source) -> SMBIOS system UUID: one given with a request and
//                       one read from the BMC's GUID are both kept (a BMC sending its GUID
//                       in another byte order must not hide the UUID an operator gave)
//   boot_confirmations  per provisioning request: when its iPXE script was fetched and
//                       when its initiator was seen logged in to the target

fn migrate_netboot(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS boot_uuids (
             server TEXT NOT NULL,
             source TEXT NOT NULL,
             uuid TEXT NOT NULL,
             updated_ms INTEGER NOT NULL,
             PRIMARY KEY (server, source));
         CREATE TABLE IF NOT EXISTS boot_confirmations (
             request_id TEXT PRIMARY KEY REFERENCES requests(request_id) ON DELETE CASCADE,
             script_fetched_ms INTEGER,
             logged_in_ms INTEGER);",
    )?;
    Ok(())
}

/// When a provisioning's server fetched its boot script and logged in to its target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BootConfirmation {
    /// Unix milliseconds of the last script fetch.
    pub script_fetched_ms: Option<i64>,
    /// Unix milliseconds when the initiator was first seen logged in after that fetch.
    pub logged_in_ms: Option<i64>,
}

impl Store {
    /// Remembers `server`'s system UUID (text form) as `source` (`request`, `bmc`) reported
    /// it, replacing what that source said before.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_server_uuid(
        &self,
        server: &str,
        uuid: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO boot_uuids (server, uuid, source, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(server, source) DO UPDATE SET uuid = excluded.uuid,
                                                       updated_ms = excluded.updated_ms",
            params![server, uuid, source, now_ms()],
        )?;
        Ok(())
    }

    /// Every remembered `(server, uuid)`, whatever its source.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn server_uuids(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT server, uuid FROM boot_uuids ORDER BY server, source")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records a script fetch for `request_id` at `at_ms`; a new fetch (a new boot) clears
    /// the login seen after the previous one.
    ///
    /// # Errors
    /// SQLite errors (also when the request is unknown).
    pub fn record_script_fetch(&self, request_id: &str, at_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO boot_confirmations (request_id, script_fetched_ms, logged_in_ms)
             VALUES (?1, ?2, NULL)
             ON CONFLICT(request_id) DO UPDATE SET script_fetched_ms = excluded.script_fetched_ms,
                                                   logged_in_ms = NULL",
            params![request_id, at_ms],
        )?;
        Ok(())
    }

    /// Records the first login seen after the last fetch; `false` when there was no fetch
    /// or a login is already recorded.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_login(&self, request_id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE boot_confirmations SET logged_in_ms = ?2
             WHERE request_id = ?1 AND script_fetched_ms IS NOT NULL AND logged_in_ms IS NULL",
            params![request_id, at_ms],
        )?;
        Ok(n > 0)
    }

    /// The boot confirmation of `request_id` (default: not booted yet).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn boot_confirmation(&self, request_id: &str) -> Result<BootConfirmation, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT script_fetched_ms, logged_in_ms FROM boot_confirmations
                 WHERE request_id = ?1",
                params![request_id],
                |r| {
                    Ok(BootConfirmation {
                        script_fetched_ms: r.get(0)?,
                        logged_in_ms: r.get(1)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }
}

// ---- end of migration step: network boot -------------------------------------------------

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A committed allocation of `server` on LUN `lun` of one target, as the engine stores it.
    fn alloc(id: &str, server: &str, lun: u64, bmc: Option<&str>) -> String {
        use boot_config_core::{
            Allocation, AllocationState, BootRequest, EntityId, IscsiName, LunNumber, LunRef,
            Placement, Portal, Selection, SizeRange, Timestamp,
        };
        let mut request = BootRequest::new(id, server, SizeRange::at_least(1));
        request.server.bmc = bmc.map(str::to_owned);
        let a = Allocation {
            request,
            selection: Selection {
                primary: Placement {
                    lun: LunRef::new(
                        IscsiName::new("iqn.2026-01.com.example:t").unwrap(),
                        LunNumber::new(lun).unwrap(),
                    ),
                    size: 1 << 20,
                    entity: EntityId::new("e"),
                    portal: Portal::new("127.0.0.1".parse().unwrap(), 3260),
                    alias: None,
                    why: None,
                },
                secondary: None,
            },
            state: AllocationState::Committed {
                at: Timestamp::from_millis(1),
            },
            reserved_at: Timestamp::from_millis(1),
            // Lower-cased as InitiatorNameScheme does: an iSCSI name has no upper case.
            initiator: IscsiName::new(format!(
                "iqn.2026-01.com.example:{}",
                server.to_ascii_lowercase()
            ))
            .unwrap(),
            dd_name: format!("bcm:{server}"),
        };
        serde_json::to_string(&a).unwrap()
    }

    fn provision<'a>(id: &'a str, server: &'a str, body: &'a str) -> NewRequest<'a> {
        // Each server on its own LUN; leaked: a test's few bytes.
        let lun = server.bytes().map(u64::from).sum();
        let json: &'a str = Box::leak(alloc(id, server, lun, None).into_boxed_str());
        NewRequest {
            request_id: id,
            server,
            kind: RequestKind::Provision,
            body_json: body,
            secret: Some(b"0123456789abcdef"),
            allocation: Some((id, json)),
        }
    }

    #[test]
    fn schema_refuses_a_second_holder_of_a_lun_or_bmc() {
        let mut s = Store::open_in_memory().unwrap();
        let a = alloc("r1", "s8", 1, Some("127.0.0.1"));
        s.begin_request(&NewRequest {
            allocation: Some(("r1", &a)),
            ..provision("r1", "s8", "{}")
        })
        .unwrap();
        let same_lun = alloc("r2", "s9", 1, None);
        let err = s
            .begin_request(&NewRequest {
                allocation: Some(("r2", &same_lun)),
                ..provision("r2", "s9", "{}")
            })
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Held { holder, server, .. } if holder == "r1" && server == "s8"),
            "{err}"
        );
        assert!(s.request("r2").unwrap().is_none(), "nothing of r2 stored");
        // The same BMC under another spelling.
        let same_bmc = alloc("r3", "s10", 2, Some("127.0.0.1:623"));
        let err = s
            .begin_request(&NewRequest {
                allocation: Some(("r3", &same_bmc)),
                ..provision("r3", "s10", "{}")
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("BMC 127.0.0.1:623") && err.contains("r1"),
            "{err}"
        );
        // Released, both are free again.
        s.set_state(
            "r1",
            RequestState::Released,
            None,
            LedgerChange::Delete("r1"),
        )
        .unwrap();
        s.begin_request(&NewRequest {
            allocation: Some(("r3", &same_bmc)),
            ..provision("r3", "s10", "{}")
        })
        .unwrap();
        assert_eq!(s.bmc_holder("127.0.0.1").unwrap().as_deref(), Some("r3"));
    }

    #[test]
    fn migration_from_version_1_keeps_the_older_of_two_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bcm.sqlite");
        drop(Store::open(&path).unwrap());
        // A version-1 store written by a CLI beside the daemon: two holders of LUN 1.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE lun_holds; DROP TABLE bmc_holds; DROP TABLE owned;
             UPDATE meta SET value = 1 WHERE key = 'schema';",
        )
        .unwrap();
        for (seq, id, server) in [(1, "old", "s8"), (2, "young", "s9")] {
            conn.execute(
                "INSERT INTO requests VALUES (?1, ?2, 'provision', 'completed', '{}', NULL, NULL, 0, 0, ?3)",
                params![id, server, seq],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO allocations VALUES (?1, ?2)",
                params![id, alloc(id, server, 1, None)],
            )
            .unwrap();
        }
        drop(conn);
        let mut s = Store::open(&path).unwrap();
        let held: String = s
            .conn
            .query_row("SELECT request_id FROM lun_holds", [], |r| r.get(0))
            .unwrap();
        assert_eq!(held, "old");
        let ids: Vec<_> = s
            .allocation_rows()
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ids, ["old", "young"], "oldest first");
        assert_eq!(
            s.owner(OwnedKind::Dd, "bcm:s9")
                .unwrap()
                .unwrap()
                .request_id,
            "young"
        );
        s.drop_conflicting("young", "repaired").unwrap();
        assert_eq!(s.allocation_rows().unwrap().len(), 1);
        assert_eq!(
            s.request("young").unwrap().unwrap().state,
            RequestState::Released
        );
    }

    #[test]
    fn ownership_claims_refuse_a_live_owner_and_take_over_a_dead_one() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request(&provision("r1", "Q", "{}")).unwrap();
        assert!(
            s.claim(OwnedKind::Dd, "bcm:q", "r1", "Q")
                .unwrap()
                .is_none()
        );
        assert!(
            s.claim(OwnedKind::Dd, "bcm:q", "r1", "Q")
                .unwrap()
                .is_none()
        );
        s.set_owned_dd_id("bcm:q", 7).unwrap();
        let other = s.claim(OwnedKind::Dd, "bcm:q", "r2", "q").unwrap().unwrap();
        assert_eq!((other.request_id.as_str(), other.dd_id), ("r1", Some(7)));
        assert!(s.owned_without_allocation().unwrap().is_empty());
        s.set_state(
            "r1",
            RequestState::Released,
            None,
            LedgerChange::Delete("r1"),
        )
        .unwrap();
        assert_eq!(s.owned_without_allocation().unwrap().len(), 1);
        s.disown(OwnedKind::Dd, "bcm:q", "r2").unwrap();
        assert!(
            s.owner(OwnedKind::Dd, "bcm:q").unwrap().is_some(),
            "not r2's"
        );
        s.disown(OwnedKind::Dd, "bcm:q", "r1").unwrap();
        assert!(s.owner(OwnedKind::Dd, "bcm:q").unwrap().is_none());
    }

    #[test]
    fn bmc_keys_fold_spellings_without_resolving() {
        assert_eq!(bmc_key("10.0.0.5"), "10.0.0.5:623");
        assert_eq!(bmc_key(" 10.0.0.5:623 "), "10.0.0.5:623");
        assert_eq!(bmc_key("BMC-7.example"), "bmc-7.example:623");
        assert_eq!(bmc_key("bmc-7.example:6230"), "bmc-7.example:6230");
    }

    #[test]
    fn begin_request_is_idempotent_by_request_id() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s
            .begin_request(&provision("r1", "server-a", "{\"p\":1}"))
            .unwrap();
        let b = s
            .begin_request(&provision("r1", "server-a", "{\"p\":2}"))
            .unwrap();
        assert_eq!(a, b, "a retry gets the stored request, not a new one");
        assert_eq!(b.body_json, "{\"p\":1}");
        assert_eq!(b.secret.as_deref(), Some(&b"0123456789abcdef"[..]));
    }

    #[test]
    fn rejects_request_id_reused_for_another_server_or_kind() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request(&provision("r1", "server-a", "{}")).unwrap();
        let err = s
            .begin_request(&provision("r1", "server-b", "{}"))
            .unwrap_err();
        assert!(matches!(err, StoreError::RequestConflict { .. }), "{err}");
        let mut release = provision("r1", "server-a", "{}");
        release.kind = RequestKind::Release;
        let err = s.begin_request(&release).unwrap_err().to_string();
        assert!(
            err.contains("provision of server-a") && err.contains("release of server-a"),
            "{err}"
        );
    }

    #[test]
    fn reservation_lands_with_the_request_and_leaves_with_rollback() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request(&provision("r1", "a", "{}")).unwrap();
        assert_eq!(
            s.load_ledger_json().unwrap(),
            format!(
                "{{\"version\":1,\"allocations\":[{}]}}",
                alloc("r1", "a", 97, None)
            )
        );
        s.set_state(
            "r1",
            RequestState::RolledBack,
            Some("bmc timeout"),
            LedgerChange::Delete("r1"),
        )
        .unwrap();
        assert_eq!(
            s.load_ledger_json().unwrap(),
            "{\"version\":1,\"allocations\":[]}"
        );
        let r = s.request("r1").unwrap().unwrap();
        assert_eq!(r.state, RequestState::RolledBack);
        assert_eq!(r.error.as_deref(), Some("bmc timeout"));
    }

    #[test]
    fn unfinished_lists_in_flight_and_rolling_back_in_order() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request(&provision("r1", "a", "{}")).unwrap();
        s.begin_request(&provision("r2", "b", "{}")).unwrap();
        s.begin_request(&provision("r3", "c", "{}")).unwrap();
        s.set_state("r2", RequestState::Completed, None, LedgerChange::None)
            .unwrap();
        s.set_state(
            "r3",
            RequestState::RollingBack,
            Some("bmc timeout"),
            LedgerChange::None,
        )
        .unwrap();
        let ids: Vec<_> = s
            .unfinished()
            .unwrap()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["r1", "r3"]);
        let recent: Vec<_> = s
            .recent(None, 2)
            .unwrap()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(recent, ["r3", "r2"]);
        assert_eq!(
            s.state_counts().unwrap(),
            [
                (RequestState::Completed, 1),
                (RequestState::InFlight, 1),
                (RequestState::RollingBack, 1)
            ]
        );
    }

    #[test]
    fn journal_keeps_phases_per_step_and_ignores_repeats() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request(&provision("r1", "a", "{}")).unwrap();
        s.journal("r1", 0, StepPhase::Begun, None).unwrap();
        s.journal("r1", 0, StepPhase::Done, Some("dd 7")).unwrap();
        s.journal("r1", 0, StepPhase::Done, Some("dd 7")).unwrap();
        s.journal("r1", 1, StepPhase::Begun, None).unwrap();
        let phases: Vec<_> = s
            .steps("r1")
            .unwrap()
            .into_iter()
            .map(|e| (e.step, e.phase))
            .collect();
        assert_eq!(
            phases,
            [
                (0, StepPhase::Begun),
                (0, StepPhase::Done),
                (1, StepPhase::Begun)
            ]
        );
        assert_eq!(s.steps("r1").unwrap()[1].detail.as_deref(), Some("dd 7"));
    }

    #[test]
    fn journal_rejects_unknown_request() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.journal("nope", 0, StepPhase::Begun, None).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let mut s = Store::open_in_memory().unwrap();
        let r = s.begin_request(&provision("r1", "a", "{}")).unwrap();
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("0123456789abcdef") && !shown.contains("48, 49"),
            "{shown}"
        );
        assert!(shown.contains("***"));
    }

    #[test]
    fn state_survives_reopen_of_the_file_which_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("bcm.sqlite");
        {
            let mut s = Store::open(&path).unwrap();
            s.begin_request(&provision("r1", "a", "{\"p\":1}")).unwrap();
            s.journal("r1", 0, StepPhase::Begun, None).unwrap();
            s.remember_cipher_suite("10.0.0.5:623", 17).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "store readable by others: {mode:o}");
        }
        let s = Store::open(&path).unwrap();
        assert!(
            s.load_ledger_json()
                .unwrap()
                .contains(&alloc("r1", "a", 97, None))
        );
        assert_eq!(s.unfinished().unwrap().len(), 1);
        assert_eq!(s.steps("r1").unwrap().len(), 1);
        assert_eq!(s.cipher_suite("10.0.0.5:623").unwrap(), Some(17));
        assert_eq!(
            s.cipher_suites().unwrap(),
            [("10.0.0.5:623".to_owned(), 17)]
        );
    }

    #[test]
    fn netboot_step_adds_its_tables_to_an_older_store_and_records_boots() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bcm.sqlite");
        drop(Store::open(&path).unwrap());
        // A store as the manager before network boot left it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE boot_uuids; DROP TABLE boot_confirmations;")
            .unwrap();
        drop(conn);
        let mut s = Store::open(&path).unwrap();
        s.begin_request(&provision("r1", "a", "{}")).unwrap();
        assert_eq!(
            s.boot_confirmation("r1").unwrap(),
            BootConfirmation::default()
        );
        assert!(!s.record_login("r1", 5).unwrap(), "no login before a fetch");
        s.record_script_fetch("r1", 10).unwrap();
        assert!(s.record_login("r1", 12).unwrap());
        assert!(!s.record_login("r1", 13).unwrap(), "the first login counts");
        assert_eq!(
            s.boot_confirmation("r1").unwrap(),
            BootConfirmation {
                script_fetched_ms: Some(10),
                logged_in_ms: Some(12)
            }
        );
        s.record_script_fetch("r1", 20).unwrap();
        assert_eq!(s.boot_confirmation("r1").unwrap().logged_in_ms, None);
        assert!(s.record_script_fetch("nope", 1).is_err(), "unknown request");
        s.set_server_uuid("a", "01234567-89ab-cdef-0123-456789abcdef", "bmc")
            .unwrap();
        s.set_server_uuid("a", "11234567-89ab-cdef-0123-456789abcdef", "request")
            .unwrap();
        s.set_server_uuid("a", "21234567-89ab-cdef-0123-456789abcdef", "bmc")
            .unwrap();
        let pair = |u: &str| ("a".to_owned(), u.to_owned());
        assert_eq!(
            s.server_uuids().unwrap(),
            [
                pair("21234567-89ab-cdef-0123-456789abcdef"),
                pair("11234567-89ab-cdef-0123-456789abcdef")
            ],
            "the BMC's newest and the request's are both kept"
        );
    }

    #[test]
    fn refuses_schema_from_a_newer_manager() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bcm.sqlite");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema'", [])
            .unwrap();
        drop(conn);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::SchemaTooNew { found: 99 })
        ));
    }

    #[test]
    fn a_refusal_shows_among_recent_requests_and_the_id_can_be_served_later() {
        let mut s = Store::open_in_memory().unwrap();
        s.record_refusal("r1", "a", "{}", "no available LUN of at least 1 GiB")
            .unwrap();
        s.record_refusal("r1", "a", "{}", "still nothing").unwrap();
        let recent = s.recent(None, 10).unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].state, RequestState::Refused);
        assert_eq!(recent[0].error.as_deref(), Some("still nothing"));
        assert!(s.unfinished().unwrap().is_empty());
        let r = s.begin_request(&provision("r1", "a", "{}")).unwrap();
        assert_eq!(r.state, RequestState::InFlight);
        // A stored request is never overwritten by a refusal under its ID.
        s.record_refusal("r1", "a", "{}", "late").unwrap();
        assert_eq!(
            s.request("r1").unwrap().unwrap().state,
            RequestState::InFlight
        );
    }

    #[test]
    fn read_only_open_creates_nothing_and_reads_an_existing_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("bcm.sqlite");
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::Missing { .. })
        ));
        assert!(!dir.path().join("sub").exists());
        let mut s = Store::open(&path).unwrap();
        s.begin_request(&provision("r1", "a", "{}")).unwrap();
        drop(s);
        let ro = Store::open_read_only(&path).unwrap();
        assert_eq!(ro.recent(None, 5).unwrap().len(), 1);
    }
}
