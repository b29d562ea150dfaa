//! Reserve → commit → release, expiry, idempotency and persistence.

mod common;

use core::time::Duration;

use boot_config_core::*;
use common::*;

#[test]
fn reserving_holds_the_lun_and_removes_it_from_selection() {
    let mut e = engine_with(&three_targets());
    let a = e.reserve(&req("r1", "s1", 55), T0).unwrap().allocation;
    assert_eq!(a.selection.primary.lun, lun("c", 0));
    assert_eq!(
        e.inventory().lun(&lun("c", 0)).unwrap().state,
        LunState::Reserved
    );
    let b = e.reserve(&req("r2", "s2", 55), T0).unwrap().allocation;
    assert_eq!(b.selection.primary.lun, lun("c", 1));
    e.verify().unwrap();
}

#[test]
fn repeating_a_request_returns_the_same_allocation() {
    let mut e = engine_with(&three_targets());
    let first = e.reserve(&req("r1", "s1", 55), T0).unwrap();
    let again = e.reserve(&req("r1", "s1", 55), T0).unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(first.allocation, again.allocation);
    assert_eq!(e.ledger().len(), 1);
}

#[test]
fn committing_assigns_and_is_idempotent() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    let t1 = Timestamp::from_millis(T0.as_millis() + 1000);
    assert!(e.commit(&RequestId::new("r1"), t1).unwrap().is_committed());
    assert!(e.commit(&RequestId::new("r1"), t1).unwrap().is_committed());
    assert_eq!(
        e.inventory().lun(&lun("c", 0)).unwrap().state,
        LunState::Assigned
    );
    e.verify().unwrap();
}

#[test]
fn release_returns_the_lun_and_is_idempotent() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    e.commit(&RequestId::new("r1"), T0).unwrap();
    assert!(e.release(&RequestId::new("r1")).is_some());
    assert!(e.release(&RequestId::new("r1")).is_none());
    assert_eq!(
        e.inventory().lun(&lun("c", 0)).unwrap().state,
        LunState::Available
    );
    assert_eq!(
        e.select(&req("r2", "s2", 55)).unwrap().primary.lun,
        lun("c", 0)
    );
    e.verify().unwrap();
}

#[test]
fn releasing_by_server_frees_its_disk() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    let a = e.release_server(&ServerName::new("s1")).unwrap();
    assert_eq!(a.id(), &RequestId::new("r1"));
    assert!(e.ledger().is_empty());
}

#[test]
fn reservations_expire_at_the_given_time_and_free_their_luns() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    let ttl = e.config().reservation_ttl;
    let just_before = T0.saturating_add(ttl - Duration::from_millis(1));
    assert!(e.expire(just_before).is_empty());
    let gone = e.expire(T0.saturating_add(ttl));
    assert_eq!(gone.len(), 1);
    assert_eq!(
        e.inventory().lun(&lun("c", 0)).unwrap().state,
        LunState::Available
    );
    e.verify().unwrap();
}

#[test]
fn committing_after_expiry_is_refused() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    let late = T0.saturating_add(e.config().reservation_ttl);
    let err = e.commit(&RequestId::new("r1"), late).unwrap_err();
    assert!(
        matches!(err, LedgerError::ReservationExpired { .. }),
        "{err}"
    );
}

#[test]
fn repeating_a_lapsed_request_renews_the_same_reservation() {
    let mut e = engine_with(&three_targets());
    let first = e.reserve(&req("r1", "s1", 55), T0).unwrap().allocation;
    let late = T0.saturating_add(e.config().reservation_ttl);
    let again = e.reserve(&req("r1", "s1", 55), late).unwrap();
    assert!(again.replayed);
    assert_eq!(again.allocation.selection, first.selection);
    assert!(e.commit(&RequestId::new("r1"), late).is_ok());
}

#[test]
fn committed_allocations_never_expire() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    e.commit(&RequestId::new("r1"), T0).unwrap();
    assert!(e.expire(Timestamp::from_millis(u64::MAX)).is_empty());
}

#[test]
fn ledger_round_trips_through_json() {
    let mut e = engine_with(&three_targets());
    let mut r = req("r1", "s1", 45);
    r.redundancy = Redundancy::SecondaryOnOtherEntity;
    r.auth = AuthWanted::MutualChap;
    r.constraints.reachable_from = vec!["10.0.0.0/8".parse().unwrap()];
    e.reserve(&r, T0).unwrap();
    e.reserve(&req("r2", "s2", 10), T0).unwrap();
    e.commit(&RequestId::new("r2"), T0).unwrap();
    let json = serde_json::to_string(e.ledger()).unwrap();
    let back: Ledger = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, e.ledger());
}

#[test]
fn loading_a_ledger_that_holds_one_lun_twice_is_refused() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    let json = serde_json::to_string(e.ledger()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut copy = v["allocations"][0].clone();
    copy["request"]["id"] = "r9".into();
    copy["request"]["server"]["name"] = "s9".into();
    v["allocations"].as_array_mut().unwrap().push(copy);
    let err = serde_json::from_value::<Ledger>(v).unwrap_err().to_string();
    assert!(err.contains("is held by both r1 and r9"), "{err}");
}

#[test]
fn loading_a_ledger_of_an_unknown_version_is_refused() {
    let err = serde_json::from_str::<Ledger>(r#"{"version":99,"allocations":[]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("version 99 is not supported"), "{err}");
}

#[test]
fn a_held_lun_that_disappears_and_returns_is_still_held() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    let ch = e.apply(&luns("c", &[(1, 80)]), seen());
    assert!(ch.changes.contains(&Change::LunRemoved {
        lun: lun("c", 0),
        held_by: Some(RequestId::new("r1")),
    }));
    e.apply(&luns("c", &[(0, 60), (1, 80)]), seen());
    assert_eq!(
        e.inventory().lun(&lun("c", 0)).unwrap().state,
        LunState::Reserved
    );
    e.verify().unwrap();
}

#[test]
fn adopting_another_writers_ledger_moves_the_holds_with_it() {
    // Instance A reserves and commits; instance B (same inventory) adopts A's ledger.
    let mut a = engine_with(&three_targets());
    a.reserve(&req("r1", "s1", 55), T0).unwrap();
    a.commit(&RequestId::new("r1"), T0).unwrap();
    let mut b = engine_with(&three_targets());
    b.reserve(&req("r9", "s9", 55), T0).unwrap();
    assert_eq!(b.ledger().len(), 1);
    b.adopt_ledger(a.ledger().clone());
    assert_eq!(
        b.inventory().lun(&lun("c", 0)).unwrap().state,
        LunState::Assigned
    );
    // B's own reservation (of the same LUN) is gone with its old ledger, and the LUN it
    // held is not freed from under A's allocation.
    assert!(b.ledger().get(&RequestId::new("r9")).is_none());
    let next = b.reserve(&req("r2", "s2", 55), T0).unwrap().allocation;
    assert_eq!(next.selection.primary.lun, lun("c", 1));
    b.verify().unwrap();
}
