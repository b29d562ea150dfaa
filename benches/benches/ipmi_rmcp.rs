//! RMCP+ packet seal/open per second (suites 17 and 3) and in-memory session set-ups per
//! second (our client against our responder), for ipmi-iscsi.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipmi_iscsi::ipmi::{Addressing, NetFn, Request, Response, chassis};
use ipmi_iscsi::rmcp::{
    CipherSuite, ClientConfig, ClientSession, Event, Packet, Password, PayloadType, RakpTranscript,
    RandomSource, Responder, ResponderConfig, Seal,
};

fn rng(seed: u64) -> RandomSource {
    let mut s = seed | 1;
    Box::new(move |b: &mut [u8]| {
        for x in b {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *x = s.to_le_bytes()[3];
        }
    })
}

/// A Set System Boot Options (parameter 5) request and a mailbox block write, framed.
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let flags = Request::new(
        NetFn::CHASSIS,
        chassis::SET_SYSTEM_BOOT_OPTIONS,
        [0x05, 0xa0, 0x04, 0, 0, 0],
    );
    let mut mbox = vec![0x07, 0x01];
    mbox.extend_from_slice(b"iqn.2026-11.tes:");
    let mbox = Request::new(NetFn::CHASSIS, chassis::SET_SYSTEM_BOOT_OPTIONS, mbox);
    [("boot-flags", flags), ("mailbox-block", mbox)]
        .into_iter()
        .map(|(n, r)| {
            let mut w = Vec::new();
            r.encode(Addressing::default(), &mut w).unwrap();
            (n, w)
        })
        .collect()
}

fn seal_open(c: &mut Criterion) {
    for suite in [CipherSuite::SUITE_17, CipherSuite::SUITE_3] {
        let keys = RakpTranscript {
            console_sid: 0x1122_3344,
            bmc_sid: 0x5566_7788,
            console_random: &[1; 16],
            bmc_random: &[2; 16],
            bmc_guid: &[3; 16],
            role: 0x14,
            username: b"admin",
        }
        .derive_keys(suite, b"password\0\0\0\0\0\0\0\0\0\0\0\0");
        let mut g = c.benchmark_group(format!("rmcp_suite{}", suite.id));
        g.throughput(Throughput::Elements(1));
        for (name, msg) in messages() {
            let seal = Seal {
                payload_type: PayloadType::IPMI,
                session_id: 0x5566_7788,
                sequence: 7,
                payload: &msg,
            };
            g.bench_function(format!("seal/{name}"), |b| {
                let mut out = Vec::with_capacity(128);
                b.iter(|| {
                    out.clear();
                    seal.encode(Some(&keys), [9; 16], &mut out).unwrap();
                    black_box(out.len())
                });
            });
            let mut wire = Vec::new();
            seal.encode(Some(&keys), [9; 16], &mut wire).unwrap();
            g.bench_function(format!("open/{name}"), |b| {
                b.iter(|| {
                    let Ok(Packet::V2(p)) = Packet::decode(black_box(&wire)) else {
                        unreachable!()
                    };
                    black_box(p.open(Some(&keys)).unwrap())
                });
            });
        }
        g.finish();
    }
}

fn session_setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("rmcp_session");
    g.throughput(Throughput::Elements(1));
    for suite in [CipherSuite::SUITE_17, CipherSuite::SUITE_3] {
        let mut cfg = ResponderConfig::new([5; 16], "admin", Password::new("password").unwrap());
        cfg.suites = vec![suite];
        cfg.max_sessions = usize::MAX;
        let mut bmc = Responder::new(cfg, rng(1));
        let mut seed = 10u64;
        g.bench_function(format!("setup_and_close/suite{}", suite.id), |b| {
            b.iter(|| {
                let now = Instant::now();
                seed += 1;
                let mut ccfg = ClientConfig::new("admin", Password::new("password").unwrap());
                ccfg.suites = vec![suite];
                let mut client = ClientSession::new(ccfg, rng(seed));
                client.connect(now);
                let mut connected = false;
                for round in 0..2 {
                    while let Some(d) = client.poll_transmit() {
                        if let Ok(Some(r)) = bmc.handle_datagram(now, &d, |_| Response::ok([])) {
                            let _ = client.handle_input(now, &r);
                        }
                    }
                    while let Some(ev) = client.poll_event() {
                        connected |= matches!(ev, Event::Connected { .. });
                    }
                    if round == 0 {
                        assert!(connected, "handshake failed");
                        client.close(now);
                    }
                }
                assert!(client.is_finished());
            });
        });
    }
    g.finish();
}

criterion_group!(benches, seal_open, session_setup);
criterion_main!(benches);
