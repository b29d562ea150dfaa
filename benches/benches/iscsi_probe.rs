//! Probing a real tgtd target (LUN 0 + three disks): `iscsi_probe::probe` (login, REPORT LUNS,
//! INQUIRY and READ CAPACITY per LUN, logout) side by side with libiscsi's `iscsi-ls -s` against
//! the same target in the same run (a process that logs in and lists LUNs with sizes).
#![allow(missing_docs)]

#[rustfmt::skip]
#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iscsi_probe::{Auth, probe};

const TARGET: &str = "iqn.2026-01.bench.tgt:disk";
const INITIATOR: &str = "iqn.2026-01.bench:prober";

fn bench(c: &mut Criterion) {
    harness::require_program("tgtd");
    harness::require_program("iscsi-ls");
    let port = harness::free_tcp_port();
    let _tgtd = harness::Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", port.to_string()),
            ("TGTD_TARGETS", TARGET.to_owned()),
            ("TGTD_LUN_SIZES", "32M 64M 1G".to_owned()),
        ],
    );
    let portal = SocketAddr::from(([127, 0, 0, 1], port));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("iscsi_probe_tgtd");
    g.throughput(Throughput::Elements(1));
    g.bench_function("iscsi_probe_probe_4_luns", |b| {
        b.iter(|| {
            let r = rt
                .block_on(probe(
                    portal,
                    TARGET,
                    INITIATOR,
                    &Auth::None,
                    Duration::from_secs(5),
                ))
                .unwrap();
            assert_eq!(r.luns.len(), 4);
        });
    });
    let url = format!("iscsi://127.0.0.1:{port}");
    g.bench_function("libiscsi_iscsi_ls_s_same_target", |b| {
        b.iter(|| {
            let (ok, out, err) = harness::run("iscsi-ls", &["-i", INITIATOR, "-s", &url], &[]);
            assert!(ok && out.contains("Lun:3"), "{out} {err}");
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
