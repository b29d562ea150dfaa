//! Recovery after a crash: persisted ledger plus the iSNS view.

mod common;

use boot_config_core::*;
use common::*;

fn dd(id: u32, name: &str, members: &[IscsiName]) -> InventoryEvent {
    InventoryEvent::DdUpserted(DdSpec {
        id: DdId(id),
        name: name.into(),
        members: members.to_vec(),
    })
}

/// s1 committed (DD complete), s2 in flight (DD created, no initiator yet).
fn crashed() -> (Vec<InventoryEvent>, Ledger) {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s1", 55), T0).unwrap();
    e.commit(&RequestId::new("r1"), T0).unwrap();
    e.reserve(&req("r2", "s2", 55), T0).unwrap();
    let a1 = e.ledger().get(&RequestId::new("r1")).unwrap().clone();
    let a2 = e.ledger().get(&RequestId::new("r2")).unwrap().clone();
    let mut events = three_targets();
    events.push(dd(
        1,
        &a1.dd_name,
        &[
            a1.selection.primary.lun.target.clone(),
            a1.initiator.clone(),
        ],
    ));
    events.push(dd(
        2,
        &a2.dd_name,
        std::slice::from_ref(&a2.selection.primary.lun.target),
    ));
    let saved = serde_json::to_string(e.ledger()).unwrap();
    (events, serde_json::from_str(&saved).unwrap())
}

#[test]
fn recovery_reproduces_assignments_whatever_the_order_ledger_and_events_arrive() {
    let (events, ledger) = crashed();
    let mut before = Engine::with_ledger(config(), ledger.clone());
    for ev in &events {
        before.apply(ev, seen());
    }
    before.verify().unwrap();
    assert_eq!(
        before.inventory().lun(&lun("c", 0)).unwrap().state,
        LunState::Assigned
    );
    assert_eq!(
        before.inventory().lun(&lun("c", 1)).unwrap().state,
        LunState::Reserved
    );
    // The next request cannot get either.
    assert_eq!(
        before.select(&req("r3", "s3", 55)).unwrap().primary.lun,
        lun("a", 2)
    );
}

#[test]
fn reconcile_resumes_in_flight_work_and_confirms_finished_work() {
    let (events, ledger) = crashed();
    let mut e = Engine::with_ledger(config(), ledger);
    for ev in &events {
        e.apply(ev, seen());
    }
    let report = e.reconcile(T0);
    assert_eq!(
        report.actions,
        vec![
            RecoveryAction::Consistent {
                request: RequestId::new("r1")
            },
            RecoveryAction::Resume {
                request: RequestId::new("r2"),
                // Its DD lacks the initiator: the DD step adds it (and is idempotent).
                from: StepKind::CreateDd
            },
        ]
    );
}

#[test]
fn reconcile_rolls_back_lapsed_reservations() {
    let (events, ledger) = crashed();
    let mut e = Engine::with_ledger(config(), ledger);
    for ev in &events {
        e.apply(ev, seen());
    }
    let late = T0.saturating_add(e.config().reservation_ttl);
    let report = e.reconcile(late);
    let RecoveryAction::RollBack { request, actions } = &report.actions[1] else {
        panic!("{report:?}")
    };
    assert_eq!(request, &RequestId::new("r2"));
    assert!(matches!(actions.last(), Some(Action::Release { .. })));
}

#[test]
fn reconcile_repairs_a_committed_dd_that_isns_lost() {
    let (mut events, ledger) = crashed();
    events.retain(|e| !matches!(e, InventoryEvent::DdUpserted(d) if d.id == DdId(1)));
    let mut e = Engine::with_ledger(config(), ledger);
    for ev in &events {
        e.apply(ev, seen());
    }
    let report = e.reconcile(T0);
    let RecoveryAction::RepairDd {
        dd, missing, extra, ..
    } = &report.actions[0]
    else {
        panic!("{report:?}")
    };
    assert_eq!(*dd, None);
    assert_eq!(missing.len(), 2);
    assert!(extra.is_empty());
    assert!(!report.is_clean());
}

#[test]
fn reconcile_removes_our_orphan_dds_and_ignores_foreign_ones() {
    let (mut events, ledger) = crashed();
    events.push(dd(9, "bcm:ghost", &[iqn("a")]));
    events.push(dd(10, "management", &[iqn("a")]));
    let mut e = Engine::with_ledger(config(), ledger);
    for ev in &events {
        e.apply(ev, seen());
    }
    let report = e.reconcile(T0);
    assert_eq!(
        report.actions.last(),
        Some(&RecoveryAction::RemoveOrphanDd {
            dd: DdId(9),
            name: "bcm:ghost".into(),
            members: vec![iqn("a")]
        })
    );
    assert_eq!(report.actions.len(), 3);
}

#[test]
fn reconcile_reports_an_extra_dd_member_on_a_committed_allocation() {
    let (mut events, ledger) = crashed();
    events.push(InventoryEvent::DdMemberAdded {
        dd: DdId(1),
        member: iqn("intruder"),
    });
    let mut e = Engine::with_ledger(config(), ledger);
    for ev in &events {
        e.apply(ev, seen());
    }
    let report = e.reconcile(T0);
    let RecoveryAction::RepairDd { extra, missing, .. } = &report.actions[0] else {
        panic!("{report:?}")
    };
    assert_eq!(extra, &vec![iqn("intruder")]);
    assert!(missing.is_empty());
}

#[test]
fn reconcile_resumes_a_chap_provisioning_from_the_account_step_when_no_dd_exists() {
    let mut e = engine_with(&three_targets());
    let mut r = req("r1", "s1", 55);
    r.auth = AuthWanted::Chap;
    e.reserve(&r, T0).unwrap();
    assert_eq!(
        e.reconcile(T0).actions,
        vec![RecoveryAction::Resume {
            request: RequestId::new("r1"),
            from: StepKind::SetTargetChap
        }]
    );
}
