//! A multi-BMC imm-sim host (three BMCs, each its own users and store) fed arbitrary
//! datagrams, interleaved with authenticated requests from real client sessions (one per
//! BMC, so the in-session and store paths are reached) and time moving forward.
//! Invariants: no panic; sessions stay within the bound; a datagram for one BMC never
//! changes another BMC's store; every SaveState decodes to its BMC's store.
#![no_main]

use std::time::{Duration, Instant};

use imm_sim::bmc::{BmcCore, Effect, EmulatedBmc, guid_for};
use imm_sim::persist::decode_state;
use imm_sim::spec::BmcName;
use ipmi_iscsi::bootopt::Pen;
use ipmi_iscsi::ipmi::{NetFn, Request};
use ipmi_iscsi::rmcp::{
    CipherSuite, ClientConfig, ClientSession, Password, Privilege, RandomSource, Responder,
    ResponderConfig, User,
};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};
use libfuzzer_sys::fuzz_target;

const MAX_SESSIONS: usize = 3;

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

fn bmc(i: u16, user: &str, password: &str) -> EmulatedBmc {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9001 + i));
    let name = BmcName::of(addr);
    let cfg = ResponderConfig {
        guid: guid_for(&name),
        users: vec![User {
            name: user.as_bytes().to_vec(),
            password: Password::new(password).unwrap(),
            max_privilege: Privilege::ADMINISTRATOR,
        }],
        suites: vec![CipherSuite::SUITE_17, CipherSuite::SUITE_3],
        allow_unauthenticated: false,
        max_sessions: MAX_SESSIONS,
        session_timeout: Duration::from_secs(60),
        bmc_key: None,
        channel: 1,
    };
    let store = BootOptionsStore::new(StoreConfig {
        mailbox_blocks: 5,
        ..StoreConfig::default()
    });
    EmulatedBmc::new(
        addr,
        Responder::new(cfg, rng(u64::from(i) + 11)),
        BmcCore::new(name, store, Pen::EXAMPLE),
    )
}

struct Host {
    bmcs: Vec<EmulatedBmc>,
    now: Instant,
    wall: Duration,
    full: bool,
}

impl Host {
    /// One datagram to BMC `k`; checks isolation and the saved states.
    fn deliver(&mut self, k: usize, datagram: &[u8]) -> Option<Vec<u8>> {
        let others: Vec<BootOptionsStore> = self
            .bmcs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, b)| b.core().store().clone())
            .collect();
        let handled = self.bmcs[k].handle_datagram(self.now, self.wall, datagram);
        let after: Vec<&BootOptionsStore> = self
            .bmcs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, b)| b.core().store())
            .collect();
        assert!(
            others.iter().zip(after).all(|(a, b)| a == b),
            "bmc isolation"
        );
        assert!(self.bmcs[k].responder().session_count() <= MAX_SESSIONS);
        for e in &handled.effects {
            if let (Effect::SaveState(json), true) = (e, self.full) {
                let text = core::str::from_utf8(json).unwrap();
                let back = decode_state(std::path::Path::new("s.json"), text).unwrap();
                assert_eq!(&back, self.bmcs[k].core().store());
            }
        }
        handled.reply
    }

    /// Lets client `k` and BMC `k` exchange everything pending.
    fn pump(&mut self, k: usize, client: &mut ClientSession) {
        for _ in 0..8 {
            let mut moved = false;
            while let Some(d) = client.poll_transmit() {
                moved = true;
                if let Some(reply) = self.deliver(k, &d) {
                    let _ = client.handle_input(self.now, &reply);
                }
            }
            while client.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let creds = [("admin", "pw-zero"), ("alice", "pw-one"), ("bob", "pw-two")];
    let mut host = Host {
        bmcs: (0u16..3)
            .map(|i| bmc(i, creds[usize::from(i)].0, creds[usize::from(i)].1))
            .collect(),
        now: Instant::now(),
        wall: Duration::from_secs(1_800_000_000),
        full: data.len() % 8 == 0,
    };
    let mut clients: Vec<ClientSession> = (0..3)
        .map(|i| {
            let (u, p) = creds[i];
            let mut c = ClientSession::new(
                ClientConfig::new(u, Password::new(p).unwrap()),
                rng(100 + i as u64),
            );
            c.connect(host.now);
            c
        })
        .collect();
    for (k, c) in clients.iter_mut().enumerate() {
        host.pump(k, c);
        // The real handshake completes, so the ops below reach the in-session paths.
        assert_eq!(
            host.bmcs[k].responder().active_sessions(),
            1,
            "bmc {k} session"
        );
    }
    let mut rest = data;
    // Each op: [selector, length, data...]; the selector's low bits pick the BMC.
    while let [sel, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(n);
        rest = next;
        let k = usize::from(sel % 3);
        match (sel / 3) % 4 {
            0 | 1 => {
                // A raw datagram: possibly forged, replayed or for another session.
                let _ = host.deliver(k, body);
            }
            2 => {
                let (netfn, cmd) = match body.first().map(|b| b % 4) {
                    Some(0) => (NetFn::CHASSIS, 0x08),
                    Some(1) => (NetFn::CHASSIS, 0x09),
                    Some(2) => (NetFn::CHASSIS, 0x02),
                    _ => (NetFn::APP, body.get(1).copied().unwrap_or(1)),
                };
                let req = Request::new(netfn, cmd, body.get(2..).unwrap_or(&[]).to_vec());
                let _ = clients[k].send_request(host.now, req);
                host.pump(k, &mut clients[k]);
            }
            _ => {
                let step = Duration::from_millis(u64::from(*len) * 250);
                host.now += step;
                host.wall += step;
                for (j, b) in host.bmcs.iter_mut().enumerate() {
                    let _ = b.handle_timeout(host.now, host.wall);
                    assert!(b.responder().session_count() <= MAX_SESSIONS, "bmc {j}");
                }
                clients[k].handle_timeout(host.now);
                host.pump(k, &mut clients[k]);
            }
        }
    }
});
