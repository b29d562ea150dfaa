//! Applying events: idempotent, reporting what changed, with provenance.

mod common;

use boot_config_core::*;
use common::*;

#[test]
fn applying_the_same_event_twice_changes_nothing_the_second_time() {
    let mut e = Engine::new(config());
    for ev in three_targets() {
        assert!(!e.apply(&ev, seen()).is_empty(), "{ev:?}");
        assert!(e.apply(&ev, seen()).is_empty(), "{ev:?}");
    }
    e.verify().unwrap();
}

#[test]
fn a_target_is_known_before_its_luns_are() {
    let mut e = Engine::new(config());
    let ch = e.apply(&target("a", "e1", "10.0.1.1"), seen());
    assert_eq!(
        ch.changes,
        vec![
            Change::EntityAdded {
                entity: EntityId::new("e1")
            },
            Change::TargetAdded { target: iqn("a") }
        ]
    );
    assert_eq!(e.inventory().counts().total(), 0);
    assert_eq!(e.inventory().target_count(), 1);
}

#[test]
fn lun_events_for_an_unknown_target_are_warned_about_not_applied() {
    let mut e = Engine::new(config());
    let ch = e.apply(&luns("x", &[(0, 10)]), seen());
    assert!(ch.is_empty());
    assert_eq!(
        ch.warnings,
        vec![Warning::UnknownTarget { target: iqn("x") }]
    );
}

#[test]
fn a_size_probe_resizes_and_reports_it() {
    let mut e = engine_with(&[target("a", "e1", "10.0.1.1")]);
    let unsized_lun = InventoryEvent::LunUpserted {
        target: iqn("a"),
        lun: LunSpec {
            number: LunNumber::new(3).unwrap(),
            size: None,
        },
    };
    e.apply(&unsized_lun, seen());
    assert_eq!(e.inventory().counts().awaiting_size, 1);
    let ch = e.apply(&luns("a", &[(3, 40)]), seen());
    assert_eq!(
        ch.changes,
        vec![Change::LunResized {
            lun: lun("a", 3),
            from: None,
            to: 40 * GIB,
            held_by: None
        }]
    );
    // An SCN saying the LUN exists, size unknown, keeps the probed size.
    assert!(e.apply(&unsized_lun, seen()).is_empty());
    assert_eq!(
        e.inventory().lun(&lun("a", 3)).unwrap().size,
        Some(40 * GIB)
    );
}

#[test]
fn an_unreachable_target_takes_its_luns_offline_until_it_reports_again() {
    let mut e = engine_with(&three_targets());
    let ch = e.apply(
        &InventoryEvent::TargetUnreachable { target: iqn("c") },
        seen(),
    );
    assert_eq!(ch.changes.len(), 2);
    assert_eq!(e.inventory().counts().offline, 2);
    let ch = e.apply(&luns("c", &[(0, 60), (1, 80)]), seen());
    assert_eq!(
        ch.changes,
        vec![
            Change::LunOnline { lun: lun("c", 0) },
            Change::LunOnline { lun: lun("c", 1) }
        ]
    );
    e.verify().unwrap();
}

#[test]
fn an_entity_snapshot_replaces_that_entitys_targets_only() {
    let mut e = engine_with(&three_targets());
    let keep_a = TargetSpec {
        name: iqn("a"),
        entity: EntityId::new("e1"),
        alias: Some("alpha".into()),
        portals: vec![portal("10.0.1.1")],
    };
    let ch = e.apply(
        &InventoryEvent::EntitySnapshot {
            entity: EntityId::new("e1"),
            targets: vec![keep_a],
        },
        seen(),
    );
    assert!(
        ch.changes
            .contains(&Change::TargetRemoved { target: iqn("b") })
    );
    assert!(
        ch.changes
            .contains(&Change::TargetUpdated { target: iqn("a") })
    );
    assert!(e.inventory().target("iqn.2026-01.com.example:c").is_some());
    assert_eq!(
        e.inventory().luns_of("iqn.2026-01.com.example:a").count(),
        3,
        "LUNs are kept"
    );
    e.verify().unwrap();
}

#[test]
fn removing_an_entity_removes_its_targets_and_luns() {
    let mut e = engine_with(&three_targets());
    e.apply(
        &InventoryEvent::EntityRemoved {
            entity: EntityId::new("e1"),
        },
        seen(),
    );
    assert_eq!(e.inventory().target_count(), 1);
    assert_eq!(e.inventory().counts().total(), 2);
    e.verify().unwrap();
}

#[test]
fn portal_changes_are_reported_and_move_the_subnet_index() {
    let mut e = engine_with(&three_targets());
    let ch = e.apply(&target("a", "e1", "172.16.0.1"), seen());
    assert_eq!(
        ch.changes,
        vec![Change::PortalsChanged {
            target: iqn("a"),
            portals: vec![portal("172.16.0.1")]
        }]
    );
    let mut r = req("r", "s", 10);
    r.constraints.reachable_from = vec!["172.16.0.0/12".parse().unwrap()];
    assert_eq!(e.select(&r).unwrap().primary.lun, lun("a", 0));
}

#[test]
fn provenance_records_who_said_it_and_when() {
    let mut e = engine_with(&[target("a", "e1", "10.0.1.1")]);
    let later = Provenance::new(Source::Probe, Timestamp::from_millis(T0.as_millis() + 5));
    e.apply(&luns("a", &[(0, 10)]), later);
    let l = e.inventory().lun(&lun("a", 0)).unwrap();
    assert_eq!(l.provenance, later);
    assert_eq!(
        e.inventory()
            .target("iqn.2026-01.com.example:a")
            .unwrap()
            .provenance,
        later
    );
}

#[test]
fn dd_membership_events_are_idempotent() {
    let mut e = Engine::new(config());
    let dd = InventoryEvent::DdUpserted(DdSpec {
        id: DdId(7),
        name: "bcm:s".into(),
        members: vec![iqn("a")],
    });
    assert_eq!(
        e.apply(&dd, seen()).changes,
        vec![Change::DdAdded { dd: DdId(7) }]
    );
    assert!(e.apply(&dd, seen()).is_empty());
    let add = InventoryEvent::DdMemberAdded {
        dd: DdId(7),
        member: iqn("i"),
    };
    assert_eq!(
        e.apply(&add, seen()).changes,
        vec![Change::DdUpdated { dd: DdId(7) }]
    );
    assert!(e.apply(&add, seen()).is_empty());
    let unknown = InventoryEvent::DdMemberAdded {
        dd: DdId(8),
        member: iqn("i"),
    };
    assert_eq!(
        e.apply(&unknown, seen()).warnings,
        vec![Warning::UnknownDd { dd: DdId(8) }]
    );
    assert_eq!(
        e.apply(&InventoryEvent::DdRemoved { dd: DdId(7) }, seen())
            .changes,
        vec![Change::DdRemoved { dd: DdId(7) }]
    );
    assert_eq!(e.inventory().dds().count(), 0);
}

#[test]
fn a_report_naming_one_lun_twice_is_applied_once() {
    // Found by proptest (proptest-regressions/properties.txt).
    let mut e = engine_with(&[target("a", "e1", "10.0.1.1")]);
    let dup = luns("a", &[(1, 50), (1, 10)]);
    e.apply(&dup, seen());
    assert!(e.apply(&dup, seen()).is_empty());
    assert_eq!(
        e.inventory().lun(&lun("a", 1)).unwrap().size,
        Some(10 * GIB)
    );
}

#[test]
fn a_snapshot_listing_one_target_twice_is_applied_once() {
    // Found by proptest (proptest-regressions/properties.txt).
    let mut e = Engine::new(config());
    let spec = |ip: &str| TargetSpec {
        name: iqn("a"),
        entity: EntityId::new("e1"),
        alias: None,
        portals: vec![portal(ip)],
    };
    let snap = InventoryEvent::EntitySnapshot {
        entity: EntityId::new("e1"),
        targets: vec![spec("10.0.0.1"), spec("10.0.0.2")],
    };
    e.apply(&snap, seen());
    assert!(e.apply(&snap, seen()).is_empty());
    assert_eq!(
        e.inventory()
            .target("iqn.2026-01.com.example:a")
            .unwrap()
            .portals,
        vec![portal("10.0.0.2")]
    );
}
