//! The PostgreSQL store against a real PostgreSQL (Debian's `postgresql`, started by
//! `scripts/peers/start-postgres.sh` as an unprivileged user on a loopback port): the same
//! schema and the same answers as the SQLite store for one scenario, invariants refused by the
//! database, and the leader lease with its fencing token (a paused ex-leader cannot write; a
//! leader cut from the database stops before its lease can expire elsewhere).
//! A missing PostgreSQL fails these tests.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use bcm::store::lease::Term;
use bcm::store::{
    LedgerChange, NewRequest, OwnedKind, RequestKind, RequestState, StepPhase, Store, StoreError,
};
use harness::Peer;

fn postgres() -> Peer {
    Peer::start("postgres", &[])
}

fn open_pg(pg: &Peer, holder: &str) -> Store {
    Store::open_postgres(
        pg.var("PG_URL"),
        holder.to_owned(),
        format!("http://{holder}.test"),
    )
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

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
        initiator: IscsiName::new(format!(
            "iqn.2026-01.com.example:{}",
            server.to_ascii_lowercase()
        ))
        .unwrap(),
        dd_name: format!("bcm:{server}"),
    };
    serde_json::to_string(&a).unwrap()
}

fn provision<'a>(id: &'a str, server: &'a str, json: &'a str) -> NewRequest<'a> {
    NewRequest {
        request_id: id,
        server,
        kind: RequestKind::Provision,
        body_json: "{}",
        secret: Some(b"0123456789abcdef"),
        allocation: Some((id, json)),
    }
}

/// One scenario through every store operation; the transcript says what each returned
/// (times left out: they differ between runs).
fn scenario(store: &mut Store) -> Vec<String> {
    let mut t = Vec::new();
    let a1 = alloc("r1", "server-a", 1, Some("10.0.0.1"));
    let a2 = alloc("r2", "server-b", 1, None); // same LUN as r1
    let a3 = alloc("r3", "server-c", 3, Some("10.0.0.1:623")); // same BMC as r1
    let a4 = alloc("r4", "server-d", 4, None);
    let r = store
        .begin_request(&provision("r1", "server-a", &a1))
        .unwrap();
    t.push(format!("r1 {} {:?}", r.state, r.secret));
    let again = store
        .begin_request(&provision("r1", "server-a", &a1))
        .unwrap();
    t.push(format!("r1 again {} same={}", again.state, again == r));
    for (id, server, json) in [("r2", "server-b", &a2), ("r3", "server-c", &a3)] {
        match store.begin_request(&provision(id, server, json)) {
            Err(StoreError::Held {
                what,
                holder,
                server,
            }) => {
                t.push(format!("{id} held: {what} by {holder} ({server})"));
            }
            other => t.push(format!("{id} NOT refused: {other:?}")),
        }
        t.push(format!(
            "{id} stored: {}",
            store.request(id).unwrap().is_some()
        ));
    }
    match store.begin_request(&NewRequest {
        kind: RequestKind::Release,
        ..provision("r1", "server-a", &a1)
    }) {
        Err(e @ StoreError::RequestConflict { .. }) => t.push(e.to_string()),
        other => t.push(format!("conflict NOT refused: {other:?}")),
    }
    t.push(format!("bmc {:?}", store.bmc_holder("10.0.0.1").unwrap()));
    for step in 0..3 {
        store.journal("r1", step, StepPhase::Begun, None).unwrap();
        store.journal("r1", step, StepPhase::Begun, None).unwrap();
        store
            .journal("r1", step, StepPhase::Done, Some(&format!("DD {step}")))
            .unwrap();
    }
    store
        .journal("r1", 3, StepPhase::Failed, Some("boom"))
        .unwrap();
    t.push(format!("steps {:?}", store.steps("r1").unwrap()));
    t.push(format!(
        "claim {:?}",
        store
            .claim(OwnedKind::Dd, "bcm:server-a", "r1", "server-a")
            .unwrap()
    ));
    t.push(format!(
        "claim by other {:?}",
        store
            .claim(OwnedKind::Dd, "bcm:server-a", "r9", "server-z")
            .unwrap()
            .map(|o| o.request_id)
    ));
    store.set_owned_dd_id("bcm:server-a", 7).unwrap();
    t.push(format!(
        "owner {:?}",
        store.owner(OwnedKind::Dd, "bcm:server-a").unwrap()
    ));
    store
        .set_state("r1", RequestState::Completed, None, LedgerChange::None)
        .unwrap();
    store
        .record_refusal("r5", "server-e", "{}", "nothing fits")
        .unwrap();
    store
        .record_refusal("r5", "server-e", "{}", "still nothing fits")
        .unwrap();
    store
        .begin_request(&provision("r4", "server-d", &a4))
        .unwrap();
    store
        .set_state(
            "r4",
            RequestState::RollingBack,
            Some("step 2 failed"),
            LedgerChange::None,
        )
        .unwrap();
    t.push(format!(
        "unfinished {:?}",
        store
            .unfinished()
            .unwrap()
            .iter()
            .map(|r| (r.request_id.clone(), r.state, r.error.clone()))
            .collect::<Vec<_>>()
    ));
    store
        .set_state(
            "r4",
            RequestState::RolledBack,
            None,
            LedgerChange::Delete("r4"),
        )
        .unwrap();
    // Release r1: its LUN and BMC become free for r2.
    store
        .begin_request(&NewRequest {
            request_id: "rel1",
            server: "server-a",
            kind: RequestKind::Release,
            body_json: "\"r1\"",
            secret: None,
            allocation: None,
        })
        .unwrap();
    store.finish_release("rel1", "r1").unwrap();
    t.push(format!(
        "bmc after release {:?}",
        store.bmc_holder("10.0.0.1").unwrap()
    ));
    t.push(format!(
        "orphans {:?}",
        store
            .owned_without_allocation()
            .unwrap()
            .iter()
            .map(|o| (o.kind, o.name.clone(), o.dd_id))
            .collect::<Vec<_>>()
    ));
    store.disown(OwnedKind::Dd, "bcm:server-a", "r1").unwrap();
    let r2 = store
        .begin_request(&provision("r2", "server-b", &a2))
        .unwrap();
    t.push(format!("r2 after release {}", r2.state));
    t.push(format!("ledger {}", store.load_ledger_json().unwrap()));
    t.push(format!(
        "rows {:?}",
        store
            .allocation_rows()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    ));
    t.push(format!(
        "recent {:?}",
        store
            .recent(None, 10)
            .unwrap()
            .iter()
            .map(|r| (r.request_id.clone(), r.state, r.error.clone()))
            .collect::<Vec<_>>()
    ));
    t.push(format!(
        "recent b {:?}",
        store
            .recent(Some("server-b"), 10)
            .unwrap()
            .iter()
            .map(|r| r.request_id.clone())
            .collect::<Vec<_>>()
    ));
    t.push(format!("counts {:?}", store.state_counts().unwrap()));
    store.remember_cipher_suite("10.0.0.1:623", 17).unwrap();
    store.remember_cipher_suite("10.0.0.1:623", 3).unwrap();
    t.push(format!(
        "suites {:?} {:?}",
        store.cipher_suite("10.0.0.1:623").unwrap(),
        store.cipher_suites().unwrap()
    ));
    store.set_server_uuid("server-b", "u-1", "request").unwrap();
    store.set_server_uuid("server-b", "u-2", "bmc").unwrap();
    t.push(format!("uuids {:?}", store.server_uuids().unwrap()));
    store
        .remember_cert_pin("10.0.0.1:443", "sha256:aa")
        .unwrap();
    store
        .remember_cert_pin("10.0.0.1:443", "sha256:bb")
        .unwrap();
    t.push(format!("pins {:?}", store.cert_pins().unwrap()));
    t.push(format!(
        "login before fetch {}",
        store.record_login("r2", 5).unwrap()
    ));
    store.record_script_fetch("r2", 10).unwrap();
    t.push(format!("login {}", store.record_login("r2", 11).unwrap()));
    t.push(format!(
        "login again {}",
        store.record_login("r2", 12).unwrap()
    ));
    t.push(format!(
        "confirmation {:?}",
        store.boot_confirmation("r2").unwrap()
    ));
    store.drop_conflicting("r2", "repaired").unwrap();
    t.push(format!(
        "dropped {:?} {:?}",
        store.request("r2").unwrap().map(|r| (r.state, r.error)),
        store.allocation_rows().unwrap().len()
    ));
    t
}

#[test]
fn postgres_answers_every_store_operation_as_sqlite_does() {
    let pg = postgres();
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = Store::open(&dir.path().join("s.sqlite")).unwrap();
    let mut shared = open_pg(&pg, "a");
    let lease = shared.lease().unwrap();
    assert!(matches!(
        rt().block_on(lease.renew(Duration::from_secs(30))).unwrap(),
        Term::Leader { new_term: true, .. }
    ));
    let want = scenario(&mut sqlite);
    let got = scenario(&mut shared);
    // The scenario's own expectations hold on SQLite, so the comparison below compares
    // something meaningful.
    assert!(
        want.iter()
            .any(|l| l.starts_with("r2 held: iqn.2026-01.com.example:t LUN 1 by r1"))
    );
    assert!(
        want.iter()
            .any(|l| l.starts_with("r3 held: BMC 10.0.0.1:623 by r1"))
    );
    assert!(!want.iter().any(|l| l.contains("NOT refused")), "{want:#?}");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g);
    }
    assert_eq!(want.len(), got.len());
}

#[test]
fn postgres_and_sqlite_have_the_same_schema() {
    let pg = postgres();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("s.sqlite")).unwrap();
    let shared = open_pg(&pg, "a");
    assert_eq!(
        sqlite.schema_version().unwrap(),
        shared.schema_version().unwrap()
    );
    // A second instance opening the migrated database changes nothing.
    let again = open_pg(&pg, "b");
    assert_eq!(
        again.schema_version().unwrap(),
        shared.schema_version().unwrap()
    );
    let sqlite_cols = sqlite.schema_columns().unwrap();
    let pg_cols: Vec<(String, String)> = shared
        .schema_columns()
        .unwrap()
        .into_iter()
        // The lease exists only where several instances share the store; `journal.id`
        // orders phases as SQLite's implicit rowid does.
        .filter(|(t, c)| t != "leader_lease" && !(t == "journal" && c == "id"))
        .collect();
    assert_eq!(sqlite_cols, pg_cols);
}

#[test]
fn database_refuses_a_second_lun_holder_even_from_a_second_writer() {
    // Two instances both believing they lead cannot happen (the lease), but the schema alone
    // must still refuse the second holder: write the conflicting hold with plain SQL.
    let pg = postgres();
    let mut store = open_pg(&pg, "a");
    let lease = store.lease().unwrap();
    rt().block_on(lease.renew(Duration::from_secs(30))).unwrap();
    let a1 = alloc("r1", "server-a", 1, None);
    store
        .begin_request(&provision("r1", "server-a", &a1))
        .unwrap();
    let (ok, _, err) = harness::run(
        "psql",
        &[
            pg.var("PG_URL"),
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "INSERT INTO allocations VALUES ('r2', '{}');
             INSERT INTO lun_holds VALUES ('iqn.2026-01.com.example:t', 1, 'r2');",
        ],
        &[],
    );
    assert!(!ok, "the database took a second holder of one LUN");
    assert!(err.contains("duplicate key"), "{err}");
}

#[test]
fn a_paused_ex_leader_cannot_write_after_another_took_over() {
    let pg = postgres();
    let mut a = open_pg(&pg, "a");
    let b = open_pg(&pg, "b");
    let (la, lb) = (a.lease().unwrap(), b.lease().unwrap());
    let rt = rt();
    let ttl = Duration::from_millis(1500);
    let Term::Leader { token: t1, .. } = rt.block_on(la.renew(ttl)).unwrap() else {
        panic!("a did not lead a free lease");
    };
    assert_eq!(
        rt.block_on(lb.renew(ttl)).unwrap(),
        Term::Follower {
            leader_api: "http://a.test".to_owned()
        }
    );
    // The follower cannot write.
    assert!(matches!(
        b.journal("r1", 0, StepPhase::Begun, None),
        Err(StoreError::Fenced { token: 0 })
    ));
    let a1 = alloc("r1", "server-a", 1, None);
    a.begin_request(&provision("r1", "server-a", &a1)).unwrap();
    // a "pauses" past its lease; b takes over with a new token.
    std::thread::sleep(ttl + Duration::from_millis(200));
    assert!(!la.is_leader(), "a still believes it leads after its lease");
    let Term::Leader {
        token: t2,
        new_term,
    } = rt.block_on(lb.renew(ttl)).unwrap()
    else {
        panic!("b did not take an expired lease");
    };
    assert!(new_term && t2 > t1, "token {t1} -> {t2}");
    // a wakes up and writes with its old token: refused by the database.
    match a.journal("r1", 0, StepPhase::Begun, None) {
        Err(StoreError::Fenced { token }) => assert_eq!(token, t1),
        other => panic!("stale leader wrote: {other:?}"),
    }
    assert!(a.steps("r1").unwrap().is_empty());
    // b's writes go through; a's renewal finds b leading.
    b.journal("r1", 0, StepPhase::Begun, None).unwrap();
    assert_eq!(
        rt.block_on(la.renew(ttl)).unwrap(),
        Term::Follower {
            leader_api: "http://b.test".to_owned()
        }
    );
    // A clean step-down hands over at once.
    rt.block_on(lb.release()).unwrap();
    assert!(matches!(
        rt.block_on(la.renew(ttl)).unwrap(),
        Term::Leader { new_term: true, .. }
    ));
}

#[test]
fn a_leader_cut_from_the_database_stops_before_its_lease_expires_and_resumes_after() {
    let pg = postgres();
    let store = open_pg(&pg, "a");
    let lease = store.lease().unwrap();
    let rt = rt();
    let ttl = Duration::from_secs(4);
    let sent = Instant::now();
    let Term::Leader { token: t1, .. } = rt.block_on(lease.renew(ttl)).unwrap() else {
        panic!("no lease");
    };
    assert_fence_passes(&store);
    let port = pg.var("PG_PORT").to_owned();
    let dir = pg.dir.clone();
    pg.stop();
    // Renewals fail while the database is down; the leader stops believing it leads before
    // the database's expiry (sent + ttl) could let anyone else in.
    let mut stopped_at = None;
    while sent.elapsed() < ttl + Duration::from_secs(1) {
        let _ = rt.block_on(lease.renew(ttl));
        if !lease.is_leader() {
            stopped_at = Some(sent.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopped_at = stopped_at.expect("the leader never stepped down while cut off");
    assert!(
        stopped_at < ttl,
        "stepped down after {stopped_at:?}, lease {ttl:?}"
    );
    assert!(store.journal("x", 0, StepPhase::Begun, None).is_err());
    // The database comes back (same cluster, same port) after the lease expired there: the
    // next renewal starts a new term, and writes go through again. (Back before the expiry,
    // the same term goes on: nobody else could have led in between.)
    std::thread::sleep(
        (sent + ttl + Duration::from_millis(300)).saturating_duration_since(Instant::now()),
    );
    let again = Peer::start_in_dir("postgres", &dir, &[("PG_PORT", port)]);
    let mut renewed = None;
    for _ in 0..50 {
        if let Ok(t) = rt.block_on(lease.renew(ttl)) {
            renewed = Some(t);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    match renewed.expect("no renewal after the database came back") {
        Term::Leader { token, new_term } => assert!(new_term && token > t1),
        other => panic!("{other:?}"),
    }
    assert_fence_passes(&store);
    drop(again);
}

/// Asserts that a fenced write gets past the lease check: journalling an unknown request then
/// fails on the foreign key (SQLSTATE 23503), not on the fence.
fn assert_fence_passes(store: &Store) {
    match store.journal("no-such-request", 0, StepPhase::Begun, None) {
        Err(StoreError::Postgres(m)) => assert!(m.contains("23503"), "{m}"),
        other => panic!("expected the foreign key to refuse, got {other:?}"),
    }
}
