//! Selection past the scan and walk budgets (over 1,000 targets, skewed entities, rare tags)
//! agrees with a brute-force oracle for every policy.

use core::net::IpAddr;

use boot_config_core::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const TARGETS: usize = 1_300;

fn build(seed: u64) -> Engine {
    let mut e = Engine::new(EngineConfig {
        // The oracle judges selection among LUNs; isolation has its own tests.
        share_targets: true,
        ..EngineConfig::new(2026, 1, "example.com").unwrap()
    });
    let p = Provenance::new(Source::IsnsQuery, Timestamp::EPOCH);
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for t in 0..TARGETS {
        // e0 holds almost everything; e1..e3 a handful of targets each.
        let entity = if t % 97 == 0 { 1 + t % 3 } else { 0 };
        let name = IscsiName::new(format!("iqn.x:t{t:04}"));
        let net = u8::try_from(t % 7).unwrap();
        e.apply(
            &InventoryEvent::TargetUpserted(TargetSpec {
                name: name.clone(),
                entity: EntityId::new(format!("e{entity}")),
                alias: None,
                portals: vec![Portal::new(IpAddr::from([10, 0, net, 1]), 3260)],
            }),
            p,
        );
        if rnd() % 50 == 0 {
            e.apply(
                &InventoryEvent::TargetTagged {
                    target: name.clone(),
                    tags: vec![Tag::new("rare")],
                },
                p,
            );
        }
        let luns = (0..3)
            .map(|n| LunSpec {
                number: LunNumber(n),
                size: Some((1 + rnd() % 40) * GIB),
            })
            .collect();
        e.apply(&InventoryEvent::LunsReported { target: name, luns }, p);
    }
    e
}

fn oracle(e: &Engine, r: &BootRequest) -> Vec<(TargetView, LunView, u64)> {
    let c = &r.constraints;
    let inv = e.inventory();
    inv.targets()
        .filter(|t| {
            c.target_pattern
                .as_ref()
                .is_none_or(|p| p.matches(t.name.as_str()))
                && (c.entities.is_empty() || c.entities.contains(&t.entity))
                && (c.reachable_from.is_empty()
                    || t.portals
                        .iter()
                        .any(|p| c.reachable_from.iter().any(|s| s.contains(p.addr))))
                && c.tags.iter().all(|g| t.tags.contains(g))
        })
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

fn constraints() -> impl Strategy<Value = Constraints> {
    prop_oneof![
        Just(Constraints {
            entities: vec![EntityId::new("e2")],
            ..Constraints::default()
        }),
        Just(Constraints {
            entities: vec![EntityId::new("e1"), EntityId::new("e3")],
            ..Constraints::default()
        }),
        Just(Constraints {
            tags: vec![Tag::new("rare")],
            ..Constraints::default()
        }),
        Just(Constraints {
            target_pattern: Some(NamePattern::new("*7")),
            ..Constraints::default()
        }),
        Just(Constraints {
            target_pattern: Some(NamePattern::new("iqn.x:t12*")),
            ..Constraints::default()
        }),
        Just(Constraints {
            reachable_from: vec!["10.0.3.0/24".parse().unwrap()],
            ..Constraints::default()
        }),
        Just(Constraints {
            reachable_from: vec!["10.0.5.0/24".parse().unwrap()],
            entities: vec![EntityId::new("e0")],
            ..Constraints::default()
        }),
        // Tiny intersections: the walks exhaust their budgets and fall back.
        Just(Constraints {
            entities: vec![EntityId::new("e3")],
            tags: vec![Tag::new("rare")],
            ..Constraints::default()
        }),
        Just(Constraints {
            target_pattern: Some(NamePattern::new("*0013")),
            ..Constraints::default()
        }),
        Just(Constraints::default()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/scale_properties.txt"
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn selection_past_the_budgets_matches_the_oracle(
        seed in any::<u64>(),
        asks in prop::collection::vec(
            (1u64..42, constraints(), prop::sample::select(vec![Policy::BestFit, Policy::FirstFit, Policy::LeastLoaded])),
            1..24,
        ),
    ) {
        let mut e = build(seed);
        for (i, (min, c, policy)) in asks.into_iter().enumerate() {
            let mut r = BootRequest::new(format!("r{i}"), format!("s{i}"), SizeRange::at_least(min * GIB));
            r.constraints = c;
            r.policy = policy;
            let cands = oracle(&e, &r);
            match e.reserve(&r, Timestamp::EPOCH) {
                Err(rej) => prop_assert!(cands.is_empty(), "rejected though {} fit: {rej}", cands.len()),
                Ok(got) => {
                    let p = got.allocation.selection.primary;
                    let (t, _, size) = cands.iter().find(|c| c.1.lun == p.lun).cloned()
                        .ok_or_else(|| TestCaseError::fail(format!("{} not eligible", p.lun)))?;
                    match policy {
                        Policy::BestFit => prop_assert_eq!(size, cands.iter().map(|c| c.2).min().unwrap()),
                        Policy::FirstFit => prop_assert_eq!(
                            (t.name.clone(), p.lun.lun),
                            cands.iter().map(|c| (c.0.name.clone(), c.1.lun.lun)).min().unwrap()
                        ),
                        Policy::LeastLoaded => {
                            prop_assert_eq!(t.load, cands.iter().map(|c| c.0.load).min().unwrap());
                        }
                    }
                }
            }
        }
        e.verify().map_err(|v| TestCaseError::fail(v.to_string()))?;
    }
}
