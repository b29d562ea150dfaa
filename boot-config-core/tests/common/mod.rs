//! Small builders shared by the behaviour tests.
#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;

use boot_config_core::*;

pub const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// Targets shared: these tests are about selection among LUNs; isolation (the default) has
/// its own tests with [`isolated_config`].
pub fn config() -> EngineConfig {
    EngineConfig {
        share_targets: true,
        ..isolated_config()
    }
}

/// The default settings: a target that serves a server is no candidate for another.
pub fn isolated_config() -> EngineConfig {
    EngineConfig::new(2026, 1, "example.com").unwrap()
}

pub fn seen() -> Provenance {
    Provenance::new(Source::IsnsQuery, T0)
}

pub fn iqn(short: &str) -> IscsiName {
    IscsiName::new(format!("iqn.2026-01.com.example:{short}"))
}

pub fn portal(ip: &str) -> Portal {
    Portal::new(ip.parse::<IpAddr>().unwrap(), 3260)
}

pub fn target(short: &str, entity: &str, ip: &str) -> InventoryEvent {
    InventoryEvent::TargetUpserted(TargetSpec {
        name: iqn(short),
        entity: EntityId::new(entity),
        alias: None,
        portals: vec![portal(ip)],
    })
}

pub fn luns(short: &str, sizes_gib: &[(u64, u64)]) -> InventoryEvent {
    InventoryEvent::LunsReported {
        target: iqn(short),
        luns: sizes_gib
            .iter()
            .map(|&(n, g)| LunSpec {
                number: LunNumber(n),
                size: Some(g * GIB),
            })
            .collect(),
    }
}

pub fn tag(short: &str, tags: &[&str]) -> InventoryEvent {
    InventoryEvent::TargetTagged {
        target: iqn(short),
        tags: tags.iter().map(|t| Tag::new(*t)).collect(),
    }
}

pub fn engine_with(events: &[InventoryEvent]) -> Engine {
    let mut e = Engine::new(config());
    for ev in events {
        e.apply(ev, seen());
    }
    e.verify().unwrap();
    e
}

pub fn req(id: &str, server: &str, min_gib: u64) -> BootRequest {
    BootRequest::new(id, server, SizeRange::at_least(min_gib * GIB))
}

pub fn lun(short: &str, n: u64) -> LunRef {
    LunRef::new(iqn(short), n)
}

/// Three targets on two entities: a(10.0.1.1, e1) 20/50/100 GiB, b(10.0.2.1, e1) 50/200 GiB,
/// c(10.0.3.1, e2) 60/80 GiB.
pub fn three_targets() -> Vec<InventoryEvent> {
    vec![
        target("a", "e1", "10.0.1.1"),
        target("b", "e1", "10.0.2.1"),
        target("c", "e2", "10.0.3.1"),
        luns("a", &[(0, 20), (1, 50), (2, 100)]),
        luns("b", &[(0, 50), (1, 200)]),
        luns("c", &[(0, 60), (1, 80)]),
    ]
}
