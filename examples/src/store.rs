//! The manager's embedded transactional store (SQLite, WAL, `synchronous = FULL`).
//!
//! What must survive a crash lives here: the allocation ledger (as the engine's serde
//! snapshot), every provisioning or release request with its plan, and a write-ahead
//! journal of plan steps. A step is journalled `begun` *before* its side effect and
//! `done` after it, in their own transactions, so after a SIGKILL the manager knows
//! exactly which steps may have happened (`begun` without `done`) and resumes or
//! compensates them (every step and compensation is idempotent against iSNS and the
//! BMC). SQLite was chosen over a hand-rolled log because it gives atomic multi-row
//! updates, crash-safe WAL, and `sqlite3` as an inspection tool for operators.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// Schema version written to `meta`; bump with a migration when the tables change.
const SCHEMA_VERSION: i64 = 1;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed (I/O, corruption, constraint).
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer manager.
    #[error(
        "store schema version {found} is newer than this manager understands ({SCHEMA_VERSION})"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
    },
    /// A request ID was reused for a different server.
    #[error("request {request_id} already exists for server {existing_server}, not {server}")]
    RequestConflict {
        /// The request ID.
        request_id: String,
        /// The server the stored request is for.
        existing_server: String,
        /// The server the new request named.
        server: String,
    },
}

/// Lifecycle of a stored request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    /// Steps are being executed (or were, when the manager died).
    InFlight,
    /// Every step is done.
    Completed,
    /// A step failed and its predecessors are being compensated.
    RollingBack,
    /// Every done step was compensated.
    RolledBack,
}

impl RequestState {
    fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in-flight",
            Self::Completed => "completed",
            Self::RollingBack => "rolling-back",
            Self::RolledBack => "rolled-back",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in-flight" => Self::InFlight,
            "completed" => Self::Completed,
            "rolling-back" => Self::RollingBack,
            "rolled-back" => Self::RolledBack,
            _ => return None,
        })
    }
}

/// What the journal says about one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepPhase {
    /// The side effect may have happened (journalled before it was attempted).
    Begun,
    /// The side effect happened.
    Done,
    /// The side effect failed and is known not to have happened.
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

/// A stored request (provision or release) and its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// Caller-chosen idempotency key.
    pub request_id: String,
    /// Server the request is for.
    pub server: String,
    /// Lifecycle state.
    pub state: RequestState,
    /// The plan, as the engine serialized it (JSON).
    pub plan_json: String,
    /// Last error, if a step failed.
    pub error: Option<String>,
}

/// The manager's store. One connection; the manager serializes access.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// SQLite errors, or [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
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
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS ledger (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS requests (
                 request_id TEXT PRIMARY KEY,
                 server TEXT NOT NULL,
                 state TEXT NOT NULL,
                 plan_json TEXT NOT NULL,
                 error TEXT,
                 seq INTEGER NOT NULL);
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
        let found: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match found {
            Some(v) if v > SCHEMA_VERSION => return Err(StoreError::SchemaTooNew { found: v }),
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION],
                )?;
            }
        }
        Ok(Store { conn })
    }

    /// The last saved ledger snapshot, if any.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn load_ledger(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT json FROM ledger WHERE id = 1", [], |r| r.get(0))
            .optional()?)
    }

    /// Replaces the ledger snapshot.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn save_ledger(&self, json: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO ledger (id, json) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET json = excluded.json",
            params![json],
        )?;
        Ok(())
    }

    /// Records a new request, or returns the stored one when `request_id` is known
    /// (idempotent retries get the same plan back).
    ///
    /// # Errors
    /// SQLite errors, or [`StoreError::RequestConflict`] when the ID names another server.
    pub fn begin_request(
        &mut self,
        request_id: &str,
        server: &str,
        plan_json: &str,
        ledger_json: &str,
    ) -> Result<StoredRequest, StoreError> {
        let tx = self.conn.transaction()?;
        let existing = Self::get_request_in(&tx, request_id)?;
        if let Some(existing) = existing {
            if existing.server != server {
                return Err(StoreError::RequestConflict {
                    request_id: request_id.to_owned(),
                    existing_server: existing.server,
                    server: server.to_owned(),
                });
            }
            return Ok(existing);
        }
        let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM requests", [], |r| {
            r.get(0)
        })?;
        tx.execute(
            "INSERT INTO requests (request_id, server, state, plan_json, error, seq)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
            params![
                request_id,
                server,
                RequestState::InFlight.as_str(),
                plan_json,
                seq
            ],
        )?;
        // The reservation and the request land atomically: a crash cannot leave a
        // reserved LUN without the request that explains it.
        tx.execute(
            "INSERT INTO ledger (id, json) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET json = excluded.json",
            params![ledger_json],
        )?;
        tx.commit()?;
        Ok(StoredRequest {
            request_id: request_id.to_owned(),
            server: server.to_owned(),
            state: RequestState::InFlight,
            plan_json: plan_json.to_owned(),
            error: None,
        })
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
    pub fn steps(&self, request_id: &str) -> Result<Vec<(u32, StepPhase)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT step, phase FROM journal WHERE request_id = ?1 ORDER BY step, rowid",
        )?;
        let rows = stmt.query_map(params![request_id], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (step, phase) = row?;
            if let Some(phase) = StepPhase::parse(&phase) {
                out.push((step, phase));
            }
        }
        Ok(out)
    }

    /// Moves a request to `state` (with the ledger snapshot that goes with it, atomically).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn finish_request(
        &mut self,
        request_id: &str,
        state: RequestState,
        error: Option<&str>,
        ledger_json: &str,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE requests SET state = ?2, error = ?3 WHERE request_id = ?1",
            params![request_id, state.as_str(), error],
        )?;
        tx.execute(
            "INSERT INTO ledger (id, json) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET json = excluded.json",
            params![ledger_json],
        )?;
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
        let mut stmt = self.conn.prepare(
            "SELECT request_id, server, state, plan_json, error FROM requests
             WHERE state IN ('in-flight', 'rolling-back') ORDER BY seq",
        )?;
        let rows = stmt.query_map([], Self::row_to_request)?;
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

    fn get_request_in(
        conn: &Connection,
        request_id: &str,
    ) -> Result<Option<StoredRequest>, StoreError> {
        Ok(conn
            .query_row(
                "SELECT request_id, server, state, plan_json, error FROM requests
                 WHERE request_id = ?1",
                params![request_id],
                Self::row_to_request,
            )
            .optional()?
            .flatten())
    }

    /// Maps a row; an unknown state string (from a newer manager) yields `None`.
    fn row_to_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<StoredRequest>> {
        let state: String = r.get(2)?;
        let Some(state) = RequestState::parse(&state) else {
            return Ok(None);
        };
        Ok(Some(StoredRequest {
            request_id: r.get(0)?,
            server: r.get(1)?,
            state,
            plan_json: r.get(3)?,
            error: r.get(4)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_request_is_idempotent_by_request_id() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s
            .begin_request("r1", "server-a", "{\"plan\":1}", "{}")
            .unwrap();
        let b = s
            .begin_request("r1", "server-a", "{\"plan\":2}", "{}")
            .unwrap();
        assert_eq!(a, b, "a retry gets the stored plan, not a new one");
        assert_eq!(b.plan_json, "{\"plan\":1}");
    }

    #[test]
    fn rejects_request_id_reused_for_another_server() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request("r1", "server-a", "{}", "{}").unwrap();
        let err = s.begin_request("r1", "server-b", "{}", "{}").unwrap_err();
        assert!(matches!(err, StoreError::RequestConflict { .. }), "{err}");
    }

    #[test]
    fn unfinished_lists_in_flight_and_rolling_back_in_order() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request("r1", "a", "{}", "{}").unwrap();
        s.begin_request("r2", "b", "{}", "{}").unwrap();
        s.begin_request("r3", "c", "{}", "{}").unwrap();
        s.finish_request("r2", RequestState::Completed, None, "{}")
            .unwrap();
        s.finish_request("r3", RequestState::RollingBack, Some("bmc timeout"), "{}")
            .unwrap();
        let ids: Vec<_> = s
            .unfinished()
            .unwrap()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["r1", "r3"]);
        assert_eq!(
            s.request("r3").unwrap().unwrap().error.as_deref(),
            Some("bmc timeout")
        );
    }

    #[test]
    fn journal_keeps_phases_per_step_and_ignores_repeats() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_request("r1", "a", "{}", "{}").unwrap();
        s.journal("r1", 0, StepPhase::Begun, None).unwrap();
        s.journal("r1", 0, StepPhase::Done, Some("dd 7")).unwrap();
        s.journal("r1", 0, StepPhase::Done, Some("dd 7")).unwrap();
        s.journal("r1", 1, StepPhase::Begun, None).unwrap();
        assert_eq!(
            s.steps("r1").unwrap(),
            [
                (0, StepPhase::Begun),
                (0, StepPhase::Done),
                (1, StepPhase::Begun)
            ]
        );
    }

    #[test]
    fn journal_rejects_unknown_request() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.journal("nope", 0, StepPhase::Begun, None).is_err());
    }

    #[test]
    fn state_survives_reopen_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bcm.sqlite");
        {
            let mut s = Store::open(&path).unwrap();
            s.begin_request("r1", "a", "{\"p\":1}", "{\"ledger\":1}")
                .unwrap();
            s.journal("r1", 0, StepPhase::Begun, None).unwrap();
            s.remember_cipher_suite("10.0.0.5:623", 17).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.load_ledger().unwrap().as_deref(), Some("{\"ledger\":1}"));
        assert_eq!(s.unfinished().unwrap().len(), 1);
        assert_eq!(s.steps("r1").unwrap(), [(0, StepPhase::Begun)]);
        assert_eq!(s.cipher_suite("10.0.0.5:623").unwrap(), Some(17));
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
}
