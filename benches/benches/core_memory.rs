//! Memory per LUN of the boot-config-core inventory, counted by an instrumented global
//! allocator (bytes requested from the allocator, net of frees; allocator bookkeeping excluded).
//!
//! Builds 1,000,000 LUNs over 20,000 targets (the same shape as `core_select`), prints bytes per
//! LUN overall and split into the engine and the event data it was fed, then benchmarks building
//! a 10,000-LUN inventory so the figure sits next to a timing.

use std::alloc::System;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use boot_config_core::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ENTITIES: usize = 100;

fn events(targets: usize, luns: u64) -> Vec<InventoryEvent> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut v = Vec::new();
    for t in 0..targets {
        let e = u8::try_from(t % ENTITIES).unwrap();
        let name = IscsiName::new(format!("iqn.2026-01.com.example:e{e:03}-t{t:05}"));
        v.push(InventoryEvent::TargetUpserted(TargetSpec {
            name: name.clone(),
            entity: EntityId::new(format!("e{e:03}")),
            alias: None,
            portals: vec![Portal::new(
                IpAddr::V4(Ipv4Addr::new(
                    10,
                    e,
                    u8::try_from(t / 25_000).unwrap(),
                    u8::try_from(t % 250).unwrap(),
                )),
                3260,
            )],
        }));
        let mut tags = vec![Tag::new(format!("pool-{}", t % 10))];
        if t % 20 == 0 {
            tags.push(Tag::new("ssd"));
        }
        v.push(InventoryEvent::TargetTagged {
            target: name.clone(),
            tags,
        });
        v.push(InventoryEvent::LunsReported {
            target: name,
            luns: (0..luns)
                .map(|n| LunSpec {
                    number: LunNumber(n),
                    size: Some((8 + next() % 1016) * GIB + next() % GIB),
                })
                .collect(),
        });
    }
    v
}

fn net_bytes(r: &Region<'_, System>) -> i128 {
    let s = r.change();
    // stats_alloc already adds realloc growth to bytes_allocated (and shrinkage to
    // bytes_deallocated); bytes_reallocated is the same delta again, so it is not added.
    i128::try_from(s.bytes_allocated).unwrap() - i128::try_from(s.bytes_deallocated).unwrap()
}

fn measure() {
    let evs = events(20_000, 50);
    let seen = Provenance::new(Source::IsnsQuery, Timestamp::from_millis(1));
    let region = Region::new(GLOBAL);
    let mut e = Engine::new(EngineConfig {
        // Selection among LUNs is measured: targets shared, as before isolation existed.
        share_targets: true,
        ..EngineConfig::new(2026, 1, "example.com").unwrap()
    });
    for ev in &evs {
        e.apply(ev, seen);
    }
    let bytes = net_bytes(&region);
    let luns = e.inventory().counts().total();
    println!(
        "-- memory: {luns} LUNs over {} targets: {bytes} bytes held by the engine = {:.1} bytes/LUN \
         (target names, portals, tags and all indexes included; allocator overhead excluded)",
        e.inventory().target_count(),
        bytes as f64 / luns as f64
    );
    // Reserve 10% of the LUNs to show the ledger's cost per allocation as well.
    let region = Region::new(GLOBAL);
    let now = Timestamp::from_millis(2);
    for i in 0..100_000 {
        let r = BootRequest::new(format!("r{i}"), format!("s{i}"), SizeRange::at_least(GIB));
        e.reserve(&r, now).unwrap();
    }
    let ledger = net_bytes(&region);
    println!(
        "-- memory: ledger with 100,000 reservations: {ledger} bytes = {:.0} bytes/allocation",
        ledger as f64 / 100_000.0
    );
    black_box(e);
}

fn bench(c: &mut Criterion) {
    measure();
    let evs = events(200, 50);
    let seen = Provenance::new(Source::IsnsQuery, Timestamp::from_millis(1));
    let mut g = c.benchmark_group("core_memory");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    g.bench_function("build_10k_luns", |b| {
        b.iter(|| {
            let mut e = Engine::new(EngineConfig {
                // Selection among LUNs is measured: targets shared, as before isolation existed.
                share_targets: true,
                ..EngineConfig::new(2026, 1, "example.com").unwrap()
            });
            for ev in &evs {
                e.apply(ev, seen);
            }
            e
        });
    });
    g.finish();
}

criterion_group!(core, bench);
criterion_main!(core);
