//! The engine chooses a boot LUN: an inventory of two targets is fed in as events, then a
//! 40 GiB request is reserved under the best-fit policy and its provisioning plan printed.
//!
//! `cargo run -p boot-config-core --example select_lun`

use std::net::{IpAddr, Ipv4Addr};

use boot_config_core::{
    BootRequest, Engine, EngineConfig, EntityId, GIB, InventoryEvent, IscsiName, LunNumber,
    LunSpec, Portal, Provenance, SizeRange, Source, TargetSpec, Timestamp,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut engine = Engine::new(EngineConfig::new(2026, 1, "example.com")?);
    let now = Timestamp::from_millis(1_700_000_000_000);
    let seen = Provenance::new(Source::IsnsQuery, now);
    for (i, sizes) in [[32u64, 64], [48, 128]].iter().enumerate() {
        let target = IscsiName::new(format!("iqn.2026-01.com.example:array{i}.t1"))?;
        let last = u8::try_from(10 + i)?;
        engine.apply(
            &InventoryEvent::TargetUpserted(TargetSpec {
                name: target.clone(),
                entity: EntityId::new(format!("array{i}")),
                alias: None,
                portals: vec![Portal::new(
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
                    3260,
                )],
            }),
            seen,
        );
        engine.apply(
            &InventoryEvent::LunsReported {
                target,
                luns: sizes
                    .iter()
                    .zip(1u64..)
                    .map(|(gib, n)| {
                        Ok(LunSpec {
                            number: LunNumber::new(n)?,
                            size: Some(gib * GIB),
                        })
                    })
                    .collect::<Result<_, boot_config_core::LunNumberError>>()?,
            },
            seen,
        );
    }

    let request = BootRequest::new("req-1", "server-a", SizeRange::at_least(40 * GIB));
    let reserved = engine.reserve(&request, now)?;
    let allocation = reserved.allocation;
    println!(
        "{} boots from {} as {}",
        request.server.name.as_str(),
        allocation.selection.primary.lun,
        allocation.initiator.as_str()
    );
    let plan = engine.provisioning_plan(&request.id, &[7u8; 32])?;
    for step in &plan.steps {
        println!("  step: {}", step.action);
    }
    engine.commit(&request.id, now)?;
    Ok(())
}
