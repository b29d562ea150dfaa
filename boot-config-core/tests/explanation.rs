//! Every rejection explains itself in terms a user can act on.

mod common;

use boot_config_core::*;
use common::*;

fn why(e: &Engine, r: &BootRequest) -> (RejectReason, String) {
    let rej = e.select(r).unwrap_err();
    let text = rej.to_string();
    (*rej.reason, text)
}

#[test]
fn explains_a_size_shortfall_with_the_largest_available_lun() {
    let e = engine_with(&three_targets());
    let (reason, text) = why(&e, &req("r", "s", 300));
    let RejectReason::NoLunInSizeRange(report) = reason else {
        panic!("{text}")
    };
    assert_eq!(report.largest_available, Some((lun("b", 1), 200 * GIB)));
    assert!(
        text.contains("no available LUN of at least 300 GiB; largest available is 200 GiB on iqn.2026-01.com.example:b LUN 1"),
        "{text}"
    );
}

#[test]
fn explains_a_maximum_below_every_lun_with_the_smallest_above_it() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 21);
    r.size.max = Some(40 * GIB);
    let (_, text) = why(&e, &r);
    assert!(text.contains("between 21 GiB and 40 GiB"), "{text}");
    assert!(
        text.contains("smallest above the maximum is 50 GiB"),
        "{text}"
    );
}

#[test]
fn explains_that_unprobed_offline_and_held_luns_might_fit_later() {
    let mut e = engine_with(&three_targets());
    e.apply(
        &InventoryEvent::LunUpserted {
            target: iqn("a"),
            lun: LunSpec {
                number: LunNumber::new(9).unwrap(),
                size: None,
            },
        },
        seen(),
    );
    e.apply(
        &InventoryEvent::TargetUnreachable { target: iqn("c") },
        seen(),
    );
    e.reserve(&req("r0", "s0", 150), T0).unwrap();
    let (_, text) = why(&e, &req("r", "s", 150));
    assert!(text.contains("1 LUN still awaits a size probe"), "{text}");
    assert!(text.contains("2 LUNs are offline"), "{text}");
    assert!(text.contains("1 LUN is held by other servers"), "{text}");
}

#[test]
fn explains_an_empty_inventory_as_a_setup_problem() {
    let e = Engine::new(config());
    let (_, text) = why(&e, &req("r", "s", 1));
    assert!(text.contains("inventory has no LUNs yet"), "{text}");
}

#[test]
fn explains_how_many_luns_each_constraint_excluded_and_the_closest_candidate() {
    let mut ev = three_targets();
    ev.push(tag("c", &["ssd"]));
    let e = engine_with(&ev);
    let mut r = req("r", "s", 55);
    r.constraints.tags = vec![Tag::new("ssd")];
    r.constraints.entities = vec![EntityId::new("e1")];
    let (reason, text) = why(&e, &r);
    let RejectReason::ExcludedByConstraints(report) = reason else {
        panic!("{text}")
    };
    // Fitting ≥ 55 GiB: c0 60, c1 80, a2 100, b1 200.
    assert_eq!(report.fitting, 4);
    assert!(report.complete);
    let count = |k: &ConstraintKind| {
        report
            .excluded
            .iter()
            .find(|e| &e.constraint == k)
            .map(|e| e.luns)
    };
    assert_eq!(count(&ConstraintKind::Tags(vec![Tag::new("ssd")])), Some(2));
    assert_eq!(
        count(&ConstraintKind::Entities(vec![EntityId::new("e1")])),
        Some(2)
    );
    let near = report.nearest.unwrap();
    assert_eq!(near.lun, lun("c", 0));
    assert_eq!(
        near.fails,
        vec![ConstraintKind::Entities(vec![EntityId::new("e1")])]
    );
    assert!(
        text.contains("4 available LUNs fit the size but none satisfies the constraints"),
        "{text}"
    );
    assert!(text.contains("2 excluded by tags [ssd]"), "{text}");
    assert!(
        text.contains(
            "closest candidate iqn.2026-01.com.example:c LUN 0 (60 GiB) fails only entity in [e1]"
        ),
        "{text}"
    );
}

#[test]
fn explains_an_unreachable_subnet_by_naming_it() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 10);
    r.constraints.reachable_from = vec!["192.168.0.0/16".parse().unwrap()];
    let (_, text) = why(&e, &r);
    assert!(
        text.contains("7 excluded by portal reachable from [192.168.0.0/16]"),
        "{text}"
    );
}

#[test]
fn explains_a_pattern_that_matches_nothing() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 10);
    r.constraints.target_pattern = Some(NamePattern::new("iqn.2099-*"));
    let (_, text) = why(&e, &r);
    assert!(
        text.contains("7 excluded by target pattern \"iqn.2099-*\""),
        "{text}"
    );
}

#[test]
fn explains_a_missing_secondary_with_the_primarys_entity() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 90);
    r.redundancy = Redundancy::SecondaryOnOtherEntity;
    let (reason, text) = why(&e, &r);
    assert!(matches!(reason, RejectReason::NoSecondary { .. }), "{text}");
    assert!(
        text.contains("primary iqn.2026-01.com.example:a LUN 2 found on entity e1"),
        "{text}"
    );
    assert!(
        text.contains("2 excluded by on the primary's entity e1"),
        "{text}"
    );
}

#[test]
fn explains_an_inverted_size_range_as_an_invalid_request() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 50);
    r.size.max = Some(GIB);
    let (reason, text) = why(&e, &r);
    assert!(matches!(reason, RejectReason::InvalidRequest { .. }));
    assert!(
        text.contains("maximum size 1 GiB is below minimum 50 GiB"),
        "{text}"
    );
}

#[test]
fn explains_a_server_that_already_holds_a_disk() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s", 10), T0).unwrap();
    let text = e.reserve(&req("r2", "s", 10), T0).unwrap_err().to_string();
    assert!(
        text.contains("server s already holds iqn.2026-01.com.example:a LUN 0 under request r1; release it first"),
        "{text}"
    );
}

#[test]
fn explains_a_reused_request_id() {
    let mut e = engine_with(&three_targets());
    e.reserve(&req("r1", "s", 10), T0).unwrap();
    let text = e.reserve(&req("r1", "s", 20), T0).unwrap_err().to_string();
    assert!(
        text.contains("request ID already used with different parameters"),
        "{text}"
    );
}

#[test]
fn explains_an_unusable_server_name() {
    let mut e = engine_with(&three_targets());
    let text = e
        .reserve(&req("r1", "!!!", 10), T0)
        .unwrap_err()
        .to_string();
    assert!(text.contains("has no letter or digit"), "{text}");
}
