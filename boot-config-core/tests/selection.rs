//! Behaviour of each selection policy, constraint and redundancy.

mod common;

use boot_config_core::*;
use common::*;

fn pick(e: &Engine, r: &BootRequest) -> LunRef {
    e.select(r).unwrap().primary.lun
}

#[test]
fn best_fit_picks_the_smallest_lun_that_fits() {
    let e = engine_with(&three_targets());
    assert_eq!(pick(&e, &req("r", "s", 55)), lun("c", 0));
    assert_eq!(pick(&e, &req("r", "s", 81)), lun("a", 2));
    assert_eq!(pick(&e, &req("r", "s", 1)), lun("a", 0));
}

#[test]
fn best_fit_breaks_size_ties_the_same_way_whatever_the_event_order() {
    // a:1 and b:0 are both 50 GiB.
    let forward = engine_with(&three_targets());
    let mut reversed_events = three_targets();
    reversed_events.reverse();
    // Targets must be known before their LUNs: put target events first, LUN lists reversed.
    reversed_events.sort_by_key(|e| !matches!(e, InventoryEvent::TargetUpserted(_)));
    let backward = engine_with(&reversed_events);
    let r = req("r", "s", 45);
    assert_eq!(pick(&forward, &r), pick(&backward, &r));
}

#[test]
fn best_fit_respects_the_maximum_size() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 90);
    r.size.max = Some(150 * GIB);
    assert_eq!(pick(&e, &r), lun("a", 2));
    r.size.max = Some(95 * GIB);
    assert!(e.select(&r).is_err());
}

#[test]
fn first_fit_takes_the_first_fitting_lun_in_name_then_lun_order() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 55);
    r.policy = Policy::FirstFit;
    // a:0 is 20 GiB, a:1 50 GiB, a:2 100 GiB fits first.
    assert_eq!(pick(&e, &r), lun("a", 2));
    r.size.min = 150 * GIB;
    assert_eq!(pick(&e, &r), lun("b", 1));
}

#[test]
fn least_loaded_spreads_requests_over_targets() {
    let mut e = engine_with(&three_targets());
    let mut targets = Vec::new();
    for i in 0..3 {
        let mut r = req(&format!("r{i}"), &format!("s{i}"), 40);
        r.policy = Policy::LeastLoaded;
        let a = e.reserve(&r, T0).unwrap().allocation;
        targets.push(a.selection.primary.lun.target);
    }
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), 3, "each request went to a different target");
}

#[test]
fn least_loaded_uses_best_fit_within_the_chosen_target() {
    let e = engine_with(&[
        target("a", "e1", "10.0.1.1"),
        luns("a", &[(0, 500), (1, 60), (2, 70)]),
    ]);
    let mut r = req("r", "s", 65);
    r.policy = Policy::LeastLoaded;
    assert_eq!(pick(&e, &r), lun("a", 2));
}

#[test]
fn least_loaded_rotates_portals_by_target_load() {
    let mut e = Engine::new(config());
    e.apply(
        &InventoryEvent::TargetUpserted(TargetSpec {
            name: iqn("a"),
            entity: EntityId::new("e1"),
            alias: None,
            portals: vec![portal("10.0.1.1"), portal("10.0.1.2")],
        }),
        seen(),
    );
    e.apply(&luns("a", &[(0, 50), (1, 50)]), seen());
    let mut portals = Vec::new();
    for i in 0..2 {
        let mut r = req(&format!("r{i}"), &format!("s{i}"), 40);
        r.policy = Policy::LeastLoaded;
        portals.push(
            e.reserve(&r, T0)
                .unwrap()
                .allocation
                .selection
                .primary
                .portal,
        );
    }
    assert_ne!(portals[0], portals[1]);
}

#[test]
fn target_pattern_limits_candidates() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 10);
    r.constraints.target_pattern = Some(NamePattern::new("iqn.2026-01.com.example:c*"));
    assert_eq!(pick(&e, &r), lun("c", 0));
    r.constraints.target_pattern = Some(NamePattern::new("*:b"));
    assert_eq!(pick(&e, &r), lun("b", 0));
}

#[test]
fn entity_constraint_limits_candidates() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 10);
    r.constraints.entities = vec![EntityId::new("e2")];
    assert_eq!(pick(&e, &r), lun("c", 0));
}

#[test]
fn subnet_constraint_requires_a_reachable_portal_and_uses_it() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 10);
    r.constraints.reachable_from = vec!["10.0.2.0/24".parse().unwrap()];
    let s = e.select(&r).unwrap();
    assert_eq!(s.primary.lun, lun("b", 0));
    assert_eq!(s.primary.portal, portal("10.0.2.1"));
}

#[test]
fn tag_constraint_requires_every_tag() {
    let mut ev = three_targets();
    ev.push(tag("a", &["ssd"]));
    ev.push(tag("c", &["ssd", "rack-7"]));
    let e = engine_with(&ev);
    let mut r = req("r", "s", 10);
    r.constraints.tags = vec![Tag::new("ssd"), Tag::new("rack-7")];
    assert_eq!(pick(&e, &r), lun("c", 0));
    r.constraints.tags = vec![Tag::new("ssd")];
    assert_eq!(pick(&e, &r), lun("a", 0));
}

#[test]
fn selective_constraint_past_the_scan_budget_still_finds_the_best_fit() {
    // 300 small-to-large LUNs on e1 are better fits than anything on e2; e2 must still win.
    let mut ev = vec![
        target("big", "e1", "10.0.1.1"),
        target("z", "e2", "10.0.9.1"),
    ];
    let sizes: Vec<(u64, u64)> = (0..300).map(|i| (i, 10 + i)).collect();
    ev.push(luns("big", &sizes));
    ev.push(luns("z", &[(0, 900), (1, 800)]));
    let e = engine_with(&ev);
    // First fit takes the lowest LUN number, the others the smallest fitting LUN.
    for (policy, want) in [
        (Policy::BestFit, 1),
        (Policy::FirstFit, 0),
        (Policy::LeastLoaded, 1),
    ] {
        let mut r = req("r", "s", 10);
        r.policy = policy;
        r.constraints.entities = vec![EntityId::new("e2")];
        assert_eq!(pick(&e, &r), lun("z", want), "{policy:?}");
        // Unindexed form of the same constraint (pattern with a leading wildcard).
        r.constraints.entities.clear();
        r.constraints.target_pattern = Some(NamePattern::new("*:z"));
        assert_eq!(pick(&e, &r), lun("z", want), "{policy:?}");
    }
}

#[test]
fn redundancy_places_the_secondary_on_another_entity() {
    let mut e = engine_with(&three_targets());
    let mut r = req("r", "s", 45);
    r.redundancy = Redundancy::SecondaryOnOtherEntity;
    let a = e.reserve(&r, T0).unwrap().allocation;
    let sec = a.selection.secondary.unwrap();
    assert_ne!(a.selection.primary.entity, sec.entity);
    assert_eq!(sec.lun, lun("c", 0));
    assert_eq!(
        e.inventory().lun(&sec.lun).unwrap().state,
        LunState::Reserved
    );
}

#[test]
fn unsized_and_offline_luns_are_never_selected() {
    let mut e = engine_with(&[target("a", "e1", "10.0.1.1"), target("b", "e2", "10.0.2.1")]);
    e.apply(
        &InventoryEvent::LunUpserted {
            target: iqn("a"),
            lun: LunSpec {
                number: LunNumber(0),
                size: None,
            },
        },
        seen(),
    );
    e.apply(&luns("b", &[(0, 100)]), seen());
    e.apply(
        &InventoryEvent::TargetUnreachable { target: iqn("b") },
        seen(),
    );
    assert!(e.select(&req("r", "s", 1)).is_err());
    e.apply(&luns("b", &[(0, 100)]), seen());
    assert_eq!(pick(&e, &req("r", "s", 1)), lun("b", 0));
}

#[test]
fn targets_without_portals_are_never_selected() {
    let mut e = Engine::new(config());
    e.apply(
        &InventoryEvent::TargetUpserted(TargetSpec {
            name: iqn("a"),
            entity: EntityId::new("e1"),
            alias: None,
            portals: vec![],
        }),
        seen(),
    );
    e.apply(&luns("a", &[(0, 100)]), seen());
    let why = e.select(&req("r", "s", 1)).unwrap_err().to_string();
    assert!(why.contains("no portal registered"), "{why}");
}

#[test]
fn a_target_serving_one_server_is_no_candidate_for_another_by_default() {
    let mut e = Engine::new(isolated_config());
    for ev in [
        target("multi", "e1", "10.0.0.1"),
        luns("multi", &[(1, 16), (2, 64), (3, 128)]),
    ] {
        e.apply(&ev, seen());
    }
    let first = e.reserve(&req("r1", "s1", 60), T0).unwrap().allocation;
    assert_eq!(first.selection.primary.lun, lun("multi", 2));
    let err = e
        .reserve(&req("r2", "s2", 100), T0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("target already serves another server"),
        "{err}"
    );
    // Released, the target is a candidate again.
    e.release(&RequestId::new("r1"));
    assert_eq!(
        e.reserve(&req("r2", "s2", 100), T0)
            .unwrap()
            .allocation
            .selection
            .primary
            .lun,
        lun("multi", 3)
    );
}

#[test]
fn sharing_targets_is_an_opt_in() {
    let mut e = Engine::new(config());
    assert!(e.config().share_targets);
    for ev in [
        target("multi", "e1", "10.0.0.1"),
        luns("multi", &[(1, 16), (2, 64), (3, 128)]),
    ] {
        e.apply(&ev, seen());
    }
    e.reserve(&req("r1", "s1", 60), T0).unwrap();
    let second = e.reserve(&req("r2", "s2", 100), T0).unwrap().allocation;
    assert_eq!(second.selection.primary.lun, lun("multi", 3));
}
