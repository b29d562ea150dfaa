//! Invariants over random event and request sequences, checked against a brute-force oracle
//! that reads only the public inventory views.

use core::net::IpAddr;
use std::collections::BTreeSet;

use boot_config_core::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const TARGETS: usize = 6;
const SIZES: [u64; 6] = [10, 20, 30, 50, 80, 120];

fn name(t: usize) -> IscsiName {
    IscsiName::new(format!("iqn.x:t{t}"))
}

#[derive(Clone, Debug)]
enum Op {
    Event(InventoryEvent),
    Reserve(BootRequest),
    Commit(usize),
    Release(usize),
    Expire,
    Advance(u64),
}

fn portal_strategy() -> impl Strategy<Value = Vec<Portal>> {
    prop::collection::vec(
        (0u8..2, 1u8..4)
            .prop_map(|(net, host)| Portal::new(IpAddr::from([10, 0, net, host]), 3260)),
        0..3,
    )
}

fn lun_spec() -> impl Strategy<Value = LunSpec> {
    (
        0u64..4,
        prop::option::weighted(0.85, prop::sample::select(&SIZES[..])),
    )
        .prop_map(|(n, s)| LunSpec {
            number: LunNumber(n),
            size: s.map(|g| g * GIB),
        })
}

fn target_spec() -> impl Strategy<Value = TargetSpec> {
    (0..TARGETS, 0u8..3, portal_strategy()).prop_map(|(t, e, portals)| TargetSpec {
        name: name(t),
        entity: EntityId::new(format!("e{e}")),
        alias: None,
        portals,
    })
}

fn event() -> impl Strategy<Value = InventoryEvent> {
    prop_oneof![
        4 => target_spec().prop_map(InventoryEvent::TargetUpserted),
        1 => (0..TARGETS).prop_map(|t| InventoryEvent::TargetRemoved { target: name(t) }),
        4 => (0..TARGETS, prop::collection::vec(lun_spec(), 0..4))
            .prop_map(|(t, luns)| InventoryEvent::LunsReported { target: name(t), luns }),
        2 => (0..TARGETS, lun_spec()).prop_map(|(t, lun)| InventoryEvent::LunUpserted { target: name(t), lun }),
        1 => (0..TARGETS, 0u64..4).prop_map(|(t, n)| InventoryEvent::LunRemoved { target: name(t), number: LunNumber(n) }),
        1 => (0..TARGETS).prop_map(|t| InventoryEvent::TargetUnreachable { target: name(t) }),
        1 => (0..TARGETS, prop::sample::subsequence(vec!["ssd", "fast"], 0..=2)).prop_map(|(t, tags)| {
            InventoryEvent::TargetTagged { target: name(t), tags: tags.into_iter().map(Tag::new).collect() }
        }),
        1 => (0u8..3, prop::collection::vec(target_spec(), 0..3)).prop_map(|(e, targets)| {
            InventoryEvent::EntitySnapshot { entity: EntityId::new(format!("e{e}")), targets }
        }),
        1 => (0u8..3).prop_map(|e| InventoryEvent::EntityRemoved { entity: EntityId::new(format!("e{e}")) }),
        1 => (1u32..4, prop::collection::vec((0..TARGETS).prop_map(name), 0..3)).prop_map(|(id, members)| {
            InventoryEvent::DdUpserted(DdSpec { id: DdId(id), name: format!("bcm:s{id}"), members })
        }),
        1 => (1u32..4).prop_map(|id| InventoryEvent::DdRemoved { dd: DdId(id) }),
    ]
}

fn constraints() -> impl Strategy<Value = Constraints> {
    (
        prop::option::weighted(
            0.3,
            prop::sample::select(vec!["iqn.x:t1*", "*3", "iqn.x:t?", "iqn.y*"]),
        ),
        prop::sample::select(vec![vec![], vec![], vec!["e0"], vec!["e1", "e2"]]),
        prop::sample::select(vec![
            vec![],
            vec![],
            vec!["10.0.0.0/24"],
            vec!["10.0.1.0/24"],
        ]),
        prop::sample::select(vec![vec![], vec![], vec!["ssd"], vec!["ssd", "fast"]]),
    )
        .prop_map(|(p, e, s, t)| Constraints {
            target_pattern: p.map(NamePattern::new),
            entities: e.into_iter().map(EntityId::new).collect(),
            reachable_from: s.into_iter().map(|s| s.parse().unwrap()).collect(),
            tags: t.into_iter().map(Tag::new).collect(),
        })
}

fn request() -> impl Strategy<Value = BootRequest> {
    (
        0usize..6,
        0usize..4,
        prop::sample::select(&SIZES[..]),
        prop::option::weighted(0.3, prop::sample::select(&SIZES[..])),
        constraints(),
        prop::bool::weighted(0.25),
        prop::sample::select(vec![Policy::BestFit, Policy::FirstFit, Policy::LeastLoaded]),
        prop::sample::select(vec![
            AuthWanted::None,
            AuthWanted::Chap,
            AuthWanted::MutualChap,
        ]),
    )
        .prop_map(
            |(id, server, min, max, constraints, redundant, policy, auth)| {
                let mut r = BootRequest::new(
                    format!("r{id}"),
                    format!("s{server}"),
                    SizeRange {
                        min: min * GIB,
                        max: max.map(|m| m * GIB),
                    },
                );
                r.constraints = constraints;
                r.policy = policy;
                r.auth = auth;
                if redundant {
                    r.redundancy = Redundancy::SecondaryOnOtherEntity;
                }
                r
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => event().prop_map(Op::Event),
        4 => request().prop_map(Op::Reserve),
        2 => (0usize..6).prop_map(Op::Commit),
        1 => (0usize..6).prop_map(Op::Release),
        1 => Just(Op::Expire),
        1 => (0u64..400_000).prop_map(Op::Advance),
    ]
}

fn target_ok(t: &TargetView, c: &Constraints, exclude: Option<&EntityId>) -> bool {
    c.target_pattern
        .as_ref()
        .is_none_or(|p| p.matches(t.name.as_str()))
        && (c.entities.is_empty() || c.entities.contains(&t.entity))
        && !t.portals.is_empty()
        && (c.reachable_from.is_empty()
            || t.portals
                .iter()
                .any(|p| c.reachable_from.iter().any(|s| s.contains(p.addr))))
        && c.tags.iter().all(|tag| t.tags.contains(tag))
        && exclude.is_none_or(|e| *e != t.entity)
}

/// Every (target, LUN, size) the request may take, by brute force over the public views.
fn eligible(
    e: &Engine,
    r: &BootRequest,
    exclude: Option<&EntityId>,
) -> Vec<(TargetView, LunView, u64)> {
    let inv = e.inventory();
    inv.targets()
        .filter(|t| target_ok(t, &r.constraints, exclude))
        .flat_map(|t| {
            inv.luns_of(t.name.as_str())
                .filter_map(|l| {
                    let s = l.size?;
                    (l.state == LunState::Available && r.size.contains(s)).then_some((
                        t.clone(),
                        l,
                        s,
                    ))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Checks a placement against the oracle's choice for its policy.
fn check_choice(
    e: &Engine,
    r: &BootRequest,
    p: &Placement,
    exclude: Option<&EntityId>,
) -> Result<(), TestCaseError> {
    let cands = eligible(e, r, exclude);
    let mine = cands.iter().find(|(_, l, _)| l.lun == p.lun);
    let Some((t, _, size)) = mine else {
        return Err(TestCaseError::fail(format!(
            "{} is not eligible for {r:?}",
            p.lun
        )));
    };
    prop_assert_eq!(*size, p.size);
    prop_assert!(t.portals.contains(&p.portal));
    prop_assert!(
        r.constraints.reachable_from.is_empty()
            || r.constraints
                .reachable_from
                .iter()
                .any(|s| s.contains(p.portal.addr))
    );
    match r.policy {
        Policy::BestFit => {
            let best = cands.iter().map(|c| c.2).min().unwrap();
            prop_assert_eq!(p.size, best, "best fit is not the smallest fitting size");
        }
        Policy::FirstFit => {
            let first = cands
                .iter()
                .map(|(t, l, _)| (t.name.clone(), l.lun.lun))
                .min()
                .unwrap();
            prop_assert_eq!(
                (p.lun.target.clone(), p.lun.lun),
                first,
                "first fit is not first"
            );
        }
        Policy::LeastLoaded => {
            let least = cands.iter().map(|c| c.0.load).min().unwrap();
            prop_assert_eq!(
                t.load,
                least,
                "least loaded did not pick a least-loaded target"
            );
            let best_here = cands
                .iter()
                .filter(|c| c.0.name == t.name)
                .map(|c| c.2)
                .min()
                .unwrap();
            prop_assert_eq!(p.size, best_here);
        }
    }
    Ok(())
}

fn lun_states(e: &Engine) -> Vec<(LunRef, Option<u64>, LunState)> {
    e.inventory()
        .targets()
        .flat_map(|t| {
            e.inventory()
                .luns_of(t.name.as_str())
                .map(|l| (l.lun, l.size, l.state))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs a sequence, checking invariants after every step; returns a transcript.
fn run(ops: &[Op]) -> Result<(Vec<String>, Engine, Vec<InventoryEvent>), TestCaseError> {
    let mut e = Engine::new(EngineConfig {
        // The oracle judges selection among LUNs; isolation has its own tests.
        share_targets: true,
        ..EngineConfig::new(2026, 1, "example.com").unwrap()
    });
    let mut now = Timestamp::from_millis(1_000_000);
    let mut transcript = Vec::new();
    let mut events = Vec::new();
    for op in ops {
        match op {
            Op::Event(ev) => {
                let p = Provenance::new(Source::IsnsScn, now);
                let first = e.apply(ev, p);
                let second = e.apply(ev, p);
                prop_assert!(second.is_empty(), "not idempotent: {ev:?} -> {second:?}");
                transcript.push(format!("{first:?}"));
                events.push(ev.clone());
            }
            Op::Reserve(r) => {
                let replay = e.ledger().get(&r.id).cloned();
                let pre = e.clone();
                let res = e.reserve(r, now);
                transcript.push(format!("{res:?}"));
                match (&res, replay) {
                    (Ok(got), Some(before)) => {
                        prop_assert!(got.replayed);
                        prop_assert_eq!(&got.allocation.selection, &before.selection);
                    }
                    (Ok(got), None) => {
                        prop_assert!(!got.replayed);
                        let sel = &got.allocation.selection;
                        check_choice(&pre, r, &sel.primary, None)?;
                        if let Some(sec) = &sel.secondary {
                            prop_assert_ne!(&sec.entity, &sel.primary.entity);
                            check_choice(&pre, r, sec, Some(&sel.primary.entity))?;
                        }
                        prop_assert_eq!(sel.secondary.is_some(), r.redundancy != Redundancy::None);
                        for lun in sel.luns() {
                            prop_assert_eq!(
                                e.inventory().lun(lun).unwrap().state,
                                LunState::Reserved
                            );
                        }
                        let plan = e.provisioning_plan(&r.id, &[7u8; 32]).unwrap();
                        prop_assert_eq!(
                            e.release_plan(&r.id).unwrap(),
                            plan.rollback(plan.steps.len())
                        );
                    }
                    (Err(rej), _) => match &*rej.reason {
                        RejectReason::NoLunInSizeRange(_)
                        | RejectReason::ExcludedByConstraints(_) => {
                            prop_assert!(
                                eligible(&pre, r, None).is_empty(),
                                "rejected though a LUN fits: {rej}"
                            );
                        }
                        RejectReason::NoSecondary { primary_entity, .. } => {
                            prop_assert!(
                                eligible(&pre, r, Some(primary_entity)).is_empty(),
                                "{rej}"
                            );
                        }
                        RejectReason::ServerAlreadyHolds { .. } => {
                            prop_assert!(pre.ledger().for_server(&r.server.name).is_some());
                        }
                        RejectReason::InvalidRequest { .. } => {
                            prop_assert!(r.size.max.is_some_and(|m| m < r.size.min), "{rej}");
                        }
                        RejectReason::RequestIdReused { .. } => {
                            prop_assert!(pre.ledger().get(&r.id).is_some());
                        }
                        other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
                    },
                }
            }
            Op::Commit(i) => {
                let res = e
                    .commit(&RequestId::new(format!("r{i}")), now)
                    .map(|a| a.state);
                transcript.push(format!("{res:?}"));
            }
            Op::Release(i) => {
                let gone = e.release(&RequestId::new(format!("r{i}")));
                if let Some(a) = &gone {
                    for lun in a.selection.luns() {
                        if let Some(l) = e.inventory().lun(lun) {
                            prop_assert!(
                                matches!(l.state, LunState::Available | LunState::Offline),
                                "{l:?}"
                            );
                        }
                    }
                }
                transcript.push(format!("{gone:?}"));
            }
            Op::Expire => {
                let gone = e.expire(now);
                for a in &gone {
                    for lun in a.selection.luns() {
                        if let Some(l) = e.inventory().lun(lun) {
                            prop_assert!(matches!(
                                l.state,
                                LunState::Available | LunState::Offline
                            ));
                        }
                    }
                }
                transcript.push(format!("{gone:?}"));
            }
            Op::Advance(ms) => now = Timestamp::from_millis(now.as_millis() + ms),
        }
        if let Err(v) = e.verify() {
            return Err(TestCaseError::fail(format!("{v} after {op:?}")));
        }
        // No LUN held twice across the ledger.
        let mut held = BTreeSet::new();
        for a in e.ledger().iter() {
            for lun in a.selection.luns() {
                prop_assert!(held.insert(lun.clone()), "{lun} held twice");
            }
        }
    }
    Ok((transcript, e, events))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 384,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt"
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sequences_keep_every_invariant(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }

    #[test]
    fn same_inputs_give_the_same_outputs(ops in prop::collection::vec(op(), 1..60)) {
        let (a, _, _) = run(&ops)?;
        let (b, _, _) = run(&ops)?;
        prop_assert_eq!(a, b);
    }

    #[test]
    fn serialized_ledger_plus_inventory_reproduces_assignments(ops in prop::collection::vec(op(), 1..60)) {
        let (_, e, events) = run(&ops)?;
        let json = serde_json::to_string(e.ledger()).unwrap();
        let ledger: Ledger = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&ledger, e.ledger());
        let mut again = Engine::with_ledger(e.config().clone(), ledger);
        let p = Provenance::new(Source::Recovery, Timestamp::EPOCH);
        for ev in &events {
            again.apply(ev, p);
        }
        again.verify().map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert_eq!(lun_states(&again), lun_states(&e));
        // Both engines then answer the next request identically.
        let next = BootRequest::new("next", "s-next", SizeRange::at_least(GIB));
        prop_assert_eq!(format!("{:?}", again.select(&next)), format!("{:?}", e.select(&next)));
    }
}
