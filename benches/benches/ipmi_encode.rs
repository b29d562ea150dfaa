//! Mailbox and OEM dialect encodes per second (ipmi-iscsi), plus the full write/read-back
//! exchange against the in-memory BMC store.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipmi_iscsi::bootopt::{Dialect, Pen, WriteExchange, WritePlan, mailbox, oem};
use ipmi_iscsi::ipmi::drive;
use ipmi_iscsi::params::{
    AddressConfig, Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams, IscsiName,
    IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};

/// A realistic configuration: static IPv4 with VLAN, two targets, mutual CHAP.
fn params() -> IscsiBootParams {
    let target = |name: &str, addr: &str| IscsiTarget {
        name: IscsiName::new(name).expect("valid name"),
        address: addr.parse().expect("valid address"),
        port: 3260,
        lun: Lun::new(1).expect("valid lun"),
    };
    IscsiBootParams {
        initiator_name: IscsiName::new("iqn.2024-01.org.example.dc1:rack12-slot07")
            .expect("valid name"),
        network: InitiatorNetwork {
            config: AddressConfig::Static {
                address: "10.20.30.57".parse().expect("addr"),
                prefix_len: 24,
                gateway: Some("10.20.30.1".parse().expect("addr")),
                dns: vec!["10.20.0.53".parse().expect("addr")],
            },
            vlan: Some(120),
        },
        primary: target("iqn.2024-01.org.example.dc1:storage-a.boot", "10.20.40.10"),
        secondary: Some(target(
            "iqn.2024-01.org.example.dc1:storage-b.boot",
            "10.20.40.11",
        )),
        auth: Authentication::MutualChap {
            initiator: ChapCredentials {
                user: "rack12-slot07".into(),
                secret: Secret::new("initiatorSecr1").expect("secret"),
            },
            target: ChapCredentials {
                user: "storage".into(),
                secret: Secret::new("targetSecret99").expect("secret"),
            },
            allow_any_secret_length: false,
        },
    }
}

fn encode(c: &mut Criterion) {
    let p = params();
    let public = p.without_secrets();
    let mut g = c.benchmark_group("ipmi_encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mailbox_blocks", |b| {
        b.iter(|| mailbox::encode_blocks(Pen::EXAMPLE, black_box(&public), 256).expect("fits"));
    });
    g.bench_function("oem_records_and_blocks", |b| {
        b.iter(|| {
            let records = oem::encode_records(black_box(&p), true, true).expect("encodes");
            records
                .iter()
                .map(|(_, r)| oem::record_to_blocks(r).expect("fits").len())
                .sum::<usize>()
        });
    });
    let blocks = mailbox::encode_blocks(Pen::EXAMPLE, &public, 256).expect("fits");
    g.bench_function("mailbox_decode", |b| {
        b.iter(|| mailbox::decode_blocks(Pen::EXAMPLE, black_box(&blocks)).expect("decodes"));
    });
    g.finish();

    let mut g = c.benchmark_group("ipmi_write_exchange");
    g.throughput(Throughput::Elements(1));
    for (name, dialect) in [
        ("mailbox", Dialect::Mailbox { pen: Pen::EXAMPLE }),
        ("oem", Dialect::Oem { confidential: true }),
    ] {
        let plan = WritePlan::new(p.clone(), dialect);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut bmc = BootOptionsStore::new(StoreConfig::default());
                let mut ex = WriteExchange::new(&plan).expect("encodes");
                drive(&mut ex, |r| Ok::<_, ()>(bmc.handle(Duration::ZERO, r))).expect("in memory");
                ex.into_outcome()
                    .expect("finished")
                    .expect("verified")
                    .requests
            });
        });
    }
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
