//! Every selection explains itself: the policy, how many LUNs qualified, and the runner-up
//! with the reason it lost.

mod common;

use boot_config_core::*;
use common::*;

fn choice(e: &Engine, r: &BootRequest) -> Choice {
    e.select(r)
        .unwrap()
        .primary
        .why
        .expect("a selection carries its explanation")
}

#[test]
fn best_fit_names_the_next_larger_lun_as_runner_up() {
    let e = engine_with(&three_targets());
    // 55 GiB: c LUN 0 (60 GiB) wins; c LUN 1 (80 GiB) is next; a 100, b 200 further.
    let c = choice(&e, &req("r", "s", 55));
    assert_eq!(c.policy, Policy::BestFit);
    assert_eq!(c.candidates, 4);
    let r = c.runner_up.clone().unwrap();
    assert_eq!(r.lun, lun("c", 1));
    assert_eq!(r.size, 80 * GIB);
    assert_eq!(
        r.lost_because,
        LostBecause::Larger {
            winner: 60 * GIB,
            runner_up: 80 * GIB
        }
    );
    let text = c.to_string();
    assert!(
        text.starts_with("best fit among 4 fitting LUNs; runner-up "),
        "{text}"
    );
    assert!(
        text.contains("lost: it is larger (80 GiB against 60 GiB)"),
        "{text}"
    );
}

#[test]
fn a_single_candidate_says_no_other_lun_qualified_in_the_singular() {
    let e = engine_with(&three_targets());
    let c = choice(&e, &req("r", "s", 150));
    assert_eq!(c.candidates, 1);
    assert_eq!(c.runner_up, None);
    assert_eq!(
        c.to_string(),
        "best fit among 1 fitting LUN; no other LUN qualified"
    );
}

#[test]
fn first_fit_runner_up_is_the_next_lun_in_name_order() {
    let e = engine_with(&three_targets());
    let mut r = req("r", "s", 40);
    r.policy = Policy::FirstFit;
    let c = choice(&e, &r);
    // a LUN 1 (50 GiB) wins; a LUN 2 (100 GiB) is next on the same target.
    let ru = c.runner_up.unwrap();
    assert_eq!(ru.lun, lun("a", 2));
    assert_eq!(ru.lost_because, LostBecause::HigherLun);
}

#[test]
fn the_explanation_respects_constraints_and_survives_the_ledger() {
    let mut e = engine_with(&three_targets());
    let mut r = req("r", "s", 55);
    r.constraints.entities = vec![EntityId::new("e1")];
    let reserved = e.reserve(&r, T0).unwrap();
    let why = reserved.allocation.selection.primary.why.clone().unwrap();
    // e2's c LUNs are excluded: a 100 GiB wins, b 200 GiB is the runner-up.
    assert_eq!(why.candidates, 2);
    assert_eq!(why.runner_up.unwrap().lun, lun("b", 1));
    let json = serde_json::to_string(e.ledger()).unwrap();
    let back: Ledger = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.get(&reserved.allocation.request.id)
            .unwrap()
            .selection
            .primary
            .why,
        reserved.allocation.selection.primary.why
    );
}

#[test]
fn counting_stops_at_its_bound_and_says_at_least() {
    let sizes: Vec<(u64, u64)> = (0..300).map(|i| (i, 10 + i)).collect();
    let e = engine_with(&[target("big", "e1", "10.0.9.1"), luns("big", &sizes)]);
    let c = choice(&e, &req("r", "s", 5));
    assert_eq!((c.candidates, c.complete), (COUNT_LIMIT, false));
    assert!(
        c.to_string()
            .starts_with("best fit among at least 256 fitting LUNs"),
        "{c}"
    );
    // Still the true runner-up: the next size up.
    assert_eq!(c.runner_up.unwrap().lun, lun("big", 1));
}
