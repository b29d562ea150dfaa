//! boot-config-core at datacenter scale: 1,000,000 LUNs over 20,000 targets on 100 entities.
//!
//! Criterion measures selection per policy and constraint kind, reserve+release and event
//! apply. Before criterion runs, a recorder times 200,000 individual selections per request
//! class with `Instant` and prints p50/p99/p99.9/max, since criterion reports the distribution
//! of batch means rather than per-call tail latency; it does the same for 200,000 resizes of
//! distinct LUNs ("cold": each LUN is touched once, so its records are not in cache).
//!
//! Every resize event, in the recorder and in criterion, really changes a LUN's size (checked:
//! each returns a `LunResized`): criterion's resize benches cycle through distinct LUNs and
//! alternate each LUN between two sizes, so no iteration is an unchanged re-observation.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use boot_config_core::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TARGETS: usize = 20_000;
const LUNS_PER_TARGET: u64 = 50;
const ENTITIES: usize = 100;
const BASES_GIB: [u64; 14] = [8, 16, 20, 32, 40, 50, 64, 80, 100, 128, 200, 256, 500, 1024];

/// xorshift64*: deterministic sizes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

fn target_name(t: usize) -> IscsiName {
    IscsiName::new(format!(
        "iqn.2026-01.com.example:e{:03}-t{t:05}",
        t % ENTITIES
    ))
}

fn entity(t: usize) -> u8 {
    u8::try_from(t % ENTITIES).unwrap()
}

fn lun_size(rng: &mut Rng) -> u64 {
    BASES_GIB[rng.below(BASES_GIB.len())] * GIB + (rng.next() % 1024) * (1 << 20)
}

/// `n` distinct LUNs (target, number), in random order.
fn distinct_luns(rng: &mut Rng, n: usize) -> Vec<(usize, u64)> {
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let lun = (rng.below(TARGETS), rng.next() % LUNS_PER_TARGET);
        if seen.insert(lun) {
            v.push(lun);
        }
    }
    v
}

/// Two resize events per LUN, `a` and `b`, with different sizes, so applying the `a` events,
/// then the `b` events, then the `a` events again, … resizes a LUN every time.
fn resize_pair(rng: &mut Rng, luns: &[(usize, u64)]) -> (Vec<InventoryEvent>, Vec<InventoryEvent>) {
    let ev = |t: usize, n: u64, size: u64| InventoryEvent::LunUpserted {
        target: target_name(t),
        lun: LunSpec {
            number: LunNumber(n),
            size: Some(size),
        },
    };
    luns.iter()
        .map(|&(t, n)| {
            let a = lun_size(rng);
            let mut b = lun_size(rng);
            if b == a {
                b += 1 << 20;
            }
            (ev(t, n, a), ev(t, n, b))
        })
        .unzip()
}

/// Whether applying an event resized a LUN.
fn resized(c: &Changes) -> bool {
    c.changes
        .iter()
        .any(|c| matches!(c, Change::LunResized { .. }))
}

fn build() -> (Engine, Vec<InventoryEvent>) {
    let mut e = Engine::new(EngineConfig {
        // Selection among LUNs is measured: targets shared, as before isolation existed.
        share_targets: true,
        ..EngineConfig::new(2026, 1, "example.com").unwrap()
    });
    let seen = Provenance::new(Source::IsnsQuery, Timestamp::from_millis(1));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut events = Vec::with_capacity(3 * TARGETS);
    for t in 0..TARGETS {
        let n = u8::try_from(t / ENTITIES / 250).unwrap();
        let h = u8::try_from(t / ENTITIES % 250 + 1).unwrap();
        let name = target_name(t);
        events.push(InventoryEvent::TargetUpserted(TargetSpec {
            name: name.clone(),
            entity: EntityId::new(format!("e{:03}", entity(t))),
            alias: None,
            portals: vec![Portal::new(
                IpAddr::V4(Ipv4Addr::new(10, entity(t), n, h)),
                3260,
            )],
        }));
        let mut tags = vec![Tag::new(format!("pool-{}", t % 10))];
        if t % 20 == 0 {
            tags.push(Tag::new("ssd"));
        }
        events.push(InventoryEvent::TargetTagged {
            target: name.clone(),
            tags,
        });
        events.push(InventoryEvent::LunsReported {
            target: name,
            luns: (0..LUNS_PER_TARGET)
                .map(|n| LunSpec {
                    number: LunNumber(n),
                    size: Some(lun_size(&mut rng)),
                })
                .collect(),
        });
    }
    for ev in &events {
        e.apply(ev, seen);
    }
    assert_eq!(e.inventory().counts().available, 1_000_000);
    (e, events)
}

fn requests(rng: &mut Rng, n: usize, f: impl Fn(&mut BootRequest, &mut Rng)) -> Vec<BootRequest> {
    (0..n)
        .map(|i| {
            let min = BASES_GIB[rng.below(BASES_GIB.len() - 1)] * GIB + rng.next() % GIB;
            let mut r =
                BootRequest::new(format!("r{i}"), format!("s{i}"), SizeRange::at_least(min));
            f(&mut r, rng);
            r
        })
        .collect()
}

type Shape = fn(&mut BootRequest, &mut Rng);

fn classes() -> Vec<(&'static str, Shape)> {
    vec![
        ("best_fit/unconstrained", |_, _| {}),
        ("best_fit/max_size", |r, _| {
            r.size.max = Some(r.size.min + 4 * GIB);
        }),
        ("best_fit/entity", |r, rng| {
            r.constraints.entities = vec![EntityId::new(format!("e{:03}", rng.below(ENTITIES)))];
        }),
        ("best_fit/tag_ssd_5pct", |r, _| {
            r.constraints.tags = vec![Tag::new("ssd")];
        }),
        ("best_fit/tag_pool_10pct", |r, rng| {
            r.constraints.tags = vec![Tag::new(format!("pool-{}", rng.below(10)))];
        }),
        ("best_fit/subnet", |r, rng| {
            r.constraints.reachable_from = vec![
                format!("10.{}.0.0/16", rng.below(ENTITIES))
                    .parse()
                    .unwrap(),
            ];
        }),
        ("best_fit/pattern_prefix", |r, rng| {
            r.constraints.target_pattern = Some(NamePattern::new(format!(
                "iqn.2026-01.com.example:e{:03}-*",
                rng.below(ENTITIES)
            )));
        }),
        ("best_fit/redundant", |r, _| {
            r.redundancy = Redundancy::SecondaryOnOtherEntity;
        }),
        ("first_fit/unconstrained", |r, _| {
            r.policy = Policy::FirstFit;
        }),
        ("least_loaded/unconstrained", |r, _| {
            r.policy = Policy::LeastLoaded;
        }),
        ("best_fit/worst_unindexed_pattern", |r, rng| {
            // Leading wildcard, one matching target: no index narrows it (documented worst case).
            r.constraints.target_pattern =
                Some(NamePattern::new(format!("*-t{:05}", rng.below(TARGETS))));
        }),
    ]
}

/// Per-call latency distribution of `select`, printed (criterion gives batch means).
fn record_tails(e: &Engine) {
    println!(
        "-- per-call select latency over 1,000,000 LUNs (200,000 calls per class; shared 2-core machine)"
    );
    let mut rng = Rng(42);
    for (name, shape) in classes() {
        let calls = if name.contains("worst") { 200 } else { 200_000 };
        let reqs = requests(&mut rng, 1024, shape);
        let mut d = Vec::with_capacity(calls);
        let mut ok = 0usize;
        for i in 0..calls {
            let t = Instant::now();
            let r = black_box(e.select(black_box(&reqs[i % reqs.len()])));
            d.push(t.elapsed());
            ok += usize::from(r.is_ok());
        }
        d.sort_unstable();
        // Quantile by per-mille index, integer arithmetic only.
        let q = |per_mille: usize| d[(d.len() - 1) * per_mille / 1000];
        println!(
            "{name:36} p50 {:>9.2?}  p99 {:>9.2?}  p99.9 {:>9.2?}  max {:>9.2?}  ({ok}/{calls} served)",
            q(500),
            q(990),
            q(999),
            d[d.len() - 1]
        );
    }
}

/// Per-event apply latency of resizes, each of a distinct LUN touched for the first time since
/// the build ("cold"), then of re-observing the same LUNs unchanged.
fn record_apply(e: &mut Engine) {
    let seen = Provenance::new(Source::IsnsScn, Timestamp::from_millis(2));
    let mut rng = Rng(7);
    let luns = distinct_luns(&mut rng, 200_000);
    let (events, _) = resize_pair(&mut rng, &luns);
    let report = |what: &str, d: &mut Vec<Duration>, changed: usize| {
        d.sort_unstable();
        let total: Duration = d.iter().sum();
        println!(
            "apply LunUpserted ({what:9})          p50 {:>9.2?}  p99 {:>9.2?}  mean {:>9.2?}  ({:.0} events/s, {changed} resized)",
            d[d.len() / 2],
            d[d.len() * 99 / 100],
            total / u32::try_from(d.len()).unwrap(),
            d.len() as f64 / total.as_secs_f64()
        );
    };
    for (what, want_resized) in [("resize", true), ("unchanged", false)] {
        let mut d = Vec::with_capacity(events.len());
        let mut changed = 0usize;
        for ev in &events {
            let t = Instant::now();
            let c = black_box(e.apply(black_box(ev), seen));
            d.push(t.elapsed());
            changed += usize::from(resized(&c));
        }
        // A resize sized differently from what the build reported changes the LUN; the same
        // event again is an unchanged re-observation.
        let expect = if want_resized { events.len() } else { 0 };
        assert!(
            changed.abs_diff(expect) < events.len() / 100,
            "{what}: {changed}"
        );
        report(what, &mut d, changed);
    }
}

fn benches(c: &mut Criterion) {
    let (mut e, events) = build();
    record_tails(&e);
    record_apply(&mut e);
    e.verify().unwrap();

    let mut g = c.benchmark_group("core_select");
    g.throughput(Throughput::Elements(1));
    let mut rng = Rng(99);
    for (name, shape) in classes() {
        if name.contains("worst") {
            continue;
        }
        let reqs = requests(&mut rng, 1024, shape);
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                black_box(e.select(black_box(&reqs[i])))
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("core_ledger");
    g.throughput(Throughput::Elements(1));
    let reqs = requests(&mut rng, 1024, |_, _| {});
    let now = Timestamp::from_millis(10);
    let mut i = 0usize;
    g.bench_function("reserve_then_release", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            let r = &reqs[i];
            let got = e.reserve(r, now);
            black_box(&got);
            e.release(&r.id)
        });
    });
    g.finish();

    let mut g = c.benchmark_group("core_apply");
    g.throughput(Throughput::Elements(1));
    let seen = Provenance::new(Source::IsnsScn, Timestamp::from_millis(3));
    // 4,096 LUNs: their records stay in cache ("warm"); 262,144: they do not ("cold").
    for (name, n) in [
        ("lun_upserted_resize", 4096),
        ("lun_upserted_resize_cold", 262_144),
    ] {
        let luns = distinct_luns(&mut rng, n);
        let (a, b) = resize_pair(&mut rng, &luns);
        // Bring every LUN to its `b` size, so the walk below resizes from the first call.
        for ev in &b {
            e.apply(ev, seen);
        }
        let (mut i, mut calls, mut resizes) = (0usize, 0u64, 0u64);
        g.bench_function(name, |bch| {
            bch.iter(|| {
                let ev = if (i / n) % 2 == 0 {
                    &a[i % n]
                } else {
                    &b[i % n]
                };
                i += 1;
                let c = e.apply(black_box(ev), seen);
                calls += 1;
                resizes += u64::from(resized(&c));
                c
            });
        });
        assert_eq!(resizes, calls, "{name}: every call must resize a LUN");
    }
    let mut i = 0usize;
    let reregs: Vec<&InventoryEvent> = events
        .iter()
        .filter(|e| matches!(e, InventoryEvent::TargetUpserted(_)))
        .collect();
    g.bench_function("target_upserted_unchanged", |b| {
        b.iter(|| {
            i = (i + 1) % reregs.len();
            e.apply(black_box(reregs[i]), seen)
        });
    });
    let reports: Vec<&InventoryEvent> = events
        .iter()
        .filter(|e| matches!(e, InventoryEvent::LunsReported { .. }))
        .collect();
    g.throughput(Throughput::Elements(LUNS_PER_TARGET));
    g.bench_function("luns_reported_50_unchanged", |b| {
        b.iter(|| {
            i = (i + 1) % reports.len();
            e.apply(black_box(reports[i]), seen)
        });
    });
    g.finish();
}

criterion_group!(core, benches);
criterion_main!(core);
