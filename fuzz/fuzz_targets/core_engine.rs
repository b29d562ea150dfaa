//! boot-config-core command sequences: random inventory events, reservations, commits,
//! releases, expiries, plans, ledger round trips and recovery, with every invariant checked
//! after every step (Engine::verify, idempotent events, no LUN held twice, recovery equality).
#![no_main]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use boot_config_core::*;
use libfuzzer_sys::fuzz_target;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn below(&mut self, n: u8) -> Option<u8> {
        Some(self.byte()? % n)
    }
}

fn name(t: u8) -> IscsiName {
    IscsiName::new(format!("iqn.2026-01.x:t{t}")).unwrap()
}

fn portals(b: &mut Bytes<'_>) -> Option<Vec<Portal>> {
    let n = b.below(3)?;
    (0..n)
        .map(|_| Some(Portal::new(IpAddr::V4(Ipv4Addr::new(10, 0, b.below(2)?, b.below(4)?)), 3260)))
        .collect()
}

fn lun(b: &mut Bytes<'_>) -> Option<LunSpec> {
    let number = LunNumber::new(u64::from(b.below(5)?)).unwrap();
    let s = b.byte()?;
    let size = (s != 0).then(|| u64::from(s % 16 + 1) * GIB);
    Some(LunSpec { number, size })
}

fn target_spec(b: &mut Bytes<'_>) -> Option<TargetSpec> {
    Some(TargetSpec {
        name: name(b.below(8)?),
        entity: EntityId::new(format!("e{}", b.below(3)?)),
        alias: None,
        portals: portals(b)?,
    })
}

fn event(b: &mut Bytes<'_>) -> Option<InventoryEvent> {
    Some(match b.below(12)? {
        0 | 1 => InventoryEvent::TargetUpserted(target_spec(b)?),
        2 => InventoryEvent::TargetRemoved { target: name(b.below(8)?) },
        3 | 4 => {
            let t = name(b.below(8)?);
            let n = b.below(5)?;
            let luns = (0..n).map(|_| lun(b)).collect::<Option<_>>()?;
            InventoryEvent::LunsReported { target: t, luns }
        }
        5 => InventoryEvent::LunUpserted { target: name(b.below(8)?), lun: lun(b)? },
        6 => InventoryEvent::LunRemoved { target: name(b.below(8)?), number: LunNumber::new(u64::from(b.below(5)?)).unwrap() },
        7 => InventoryEvent::TargetUnreachable { target: name(b.below(8)?) },
        8 => {
            let t = name(b.below(8)?);
            let m = b.byte()?;
            let tags = ["ssd", "fast"].iter().enumerate().filter(|(i, _)| m & (1 << i) != 0).map(|(_, t)| Tag::new(*t)).collect();
            InventoryEvent::TargetTagged { target: t, tags }
        }
        9 => {
            let entity = EntityId::new(format!("e{}", b.below(3)?));
            let n = b.below(3)?;
            let targets = (0..n).map(|_| target_spec(b)).collect::<Option<_>>()?;
            InventoryEvent::EntitySnapshot { entity, targets }
        }
        10 => InventoryEvent::EntityRemoved { entity: EntityId::new(format!("e{}", b.below(3)?)) },
        _ => {
            let id = u32::from(b.below(4)?);
            match b.below(3)? {
                0 => InventoryEvent::DdUpserted(DdSpec {
                    id: DdId(id),
                    name: format!("bcm:s{}", b.below(4)?),
                    members: vec![name(b.below(8)?)],
                }),
                1 => InventoryEvent::DdMemberAdded { dd: DdId(id), member: name(b.below(8)?) },
                _ => InventoryEvent::DdRemoved { dd: DdId(id) },
            }
        }
    })
}

fn request(b: &mut Bytes<'_>) -> Option<BootRequest> {
    let id = b.below(6)?;
    let server = b.below(4)?;
    let min = u64::from(b.below(17)?) * GIB;
    let max = b.byte()?;
    let mut r = BootRequest::new(
        format!("r{id}"),
        format!("s{server}"),
        SizeRange { min, max: (max & 1 == 1).then(|| u64::from(max >> 4) * GIB) },
    );
    let c = b.byte()?;
    if c & 1 != 0 {
        r.constraints.target_pattern = Some(NamePattern::new(["iqn.2026-01.x:t1*", "*3", "iqn.2026-01.x:t?", "*"][usize::from(c >> 6)]));
    }
    if c & 2 != 0 {
        r.constraints.entities = vec![EntityId::new(format!("e{}", (c >> 4) % 3))];
    }
    if c & 4 != 0 {
        r.constraints.reachable_from = vec![if c & 16 != 0 { "10.0.1.0/24" } else { "10.0.0.0/24" }.parse().ok()?];
    }
    if c & 8 != 0 {
        r.constraints.tags = vec![Tag::new("ssd")];
    }
    let p = b.byte()?;
    r.policy = [Policy::BestFit, Policy::FirstFit, Policy::LeastLoaded][usize::from(p % 3)];
    r.auth = [AuthWanted::None, AuthWanted::Chap, AuthWanted::MutualChap][usize::from((p >> 2) % 3)];
    if p & 0x80 != 0 {
        r.redundancy = Redundancy::SecondaryOnOtherEntity;
    }
    Some(r)
}

fn states(e: &Engine) -> Vec<LunView> {
    e.inventory().targets().flat_map(|t| e.inventory().luns_of(t.name.as_str()).collect::<Vec<_>>()).collect()
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let config = EngineConfig::new(2026, 1, "example.com").unwrap();
    let mut e = Engine::new(config.clone());
    let mut now = Timestamp::from_millis(1_000);
    let mut events = Vec::new();
    while let Some(op) = b.byte() {
        let step = match op % 8 {
            0..=2 => event(&mut b).map(|ev| {
                let p = Provenance::new(Source::IsnsScn, now);
                e.apply(&ev, p);
                assert!(e.apply(&ev, p).is_empty(), "event not idempotent: {ev:?}");
                events.push(ev);
            }),
            3 | 4 => request(&mut b).map(|r| {
                if let Ok(got) = e.reserve(&r, now) {
                    for p in got.allocation.selection.placements() {
                        assert!(r.size.contains(p.size));
                    }
                    let plan = e.provisioning_plan(&r.id, &[9u8; 32]).unwrap();
                    assert_eq!(e.release_plan(&r.id).unwrap(), plan.rollback(plan.steps.len()));
                }
            }),
            5 => b.below(6).map(|i| {
                let _ = e.commit(&RequestId::new(format!("r{i}")), now);
            }),
            6 => b.below(6).map(|i| {
                e.release(&RequestId::new(format!("r{i}")));
            }),
            _ => b.byte().map(|d| {
                now = now.saturating_add(std::time::Duration::from_secs(u64::from(d) * 4));
                if d & 1 == 1 {
                    e.expire(now);
                }
                let _ = e.reconcile(now);
            }),
        };
        if step.is_none() {
            break;
        }
        e.verify().unwrap();
        let mut held = BTreeSet::new();
        for a in e.ledger().iter() {
            for l in a.selection.luns() {
                assert!(held.insert(l.clone()), "{l} held twice");
            }
        }
    }
    // Recovery: persisted ledger + replayed events reproduce every LUN state.
    let json = serde_json::to_vec(e.ledger()).unwrap();
    let mut again = Engine::with_ledger(config, serde_json::from_slice(&json).unwrap());
    for ev in &events {
        again.apply(ev, Provenance::new(Source::Recovery, now));
    }
    again.verify().unwrap();
    let strip = |v: Vec<LunView>| v.into_iter().map(|l| (l.lun, l.size, l.state)).collect::<Vec<_>>();
    assert_eq!(strip(states(&again)), strip(states(&e)));
});
