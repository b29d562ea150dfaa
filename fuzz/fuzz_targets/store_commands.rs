//! The BMC boot-options store under arbitrary command sequences: never panics, answers
//! Set with no data, Get with version 1 and the parameter asked for, keeps its mailbox
//! size, and survives a serde round trip.
#![no_main]

use std::time::Duration;

use ipmi_iscsi::bootopt::{BootParam, GetResponse};
use ipmi_iscsi::ipmi::{NetFn, Request};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let blocks = u16::from(cfg & 0x1f) + 1;
    let mut s = BootOptionsStore::new(StoreConfig {
        mailbox_blocks: blocks,
        set_in_progress: cfg & 0x20 == 0,
        valid_bit_clearing: cfg & 0x40 == 0,
        ignore_writes: cfg & 0x80 != 0,
        ..StoreConfig::default()
    });
    let mut now = Duration::ZERO;
    // Each command: [netfn/cmd selector, length, data...].
    while let [sel, len, tail @ ..] = rest {
        let n = usize::from(*len % 24).min(tail.len());
        let (body, next) = tail.split_at(n);
        rest = next;
        let (netfn, cmd) = match sel % 6 {
            0 => (NetFn::CHASSIS, 0x08),
            1 => (NetFn::CHASSIS, 0x09),
            2 => (NetFn::CHASSIS, 0x02),
            3 => (NetFn::CHASSIS, 0x01),
            4 => (NetFn(*sel >> 2), *sel),
            _ => {
                now += Duration::from_secs(u64::from(*len));
                s.handle_timeout(now);
                continue;
            }
        };
        let r = s.handle(now, &Request::new(netfn, cmd, body.to_vec()));
        if netfn == NetFn::CHASSIS && cmd == 0x08 {
            assert!(r.data.is_empty());
        }
        if netfn == NetFn::CHASSIS && cmd == 0x09 && r.is_ok() {
            let g = GetResponse::decode(&r.data).expect("store answers decode");
            assert_eq!(g.param, BootParam(body[0] & 0x7f));
        }
        assert_eq!(s.mailbox().len(), usize::from(blocks));
        while s.poll_event().is_some() {}
    }
    let _ = s.oem_params();
    let _ = s.mailbox_params(ipmi_iscsi::bootopt::Pen::EXAMPLE);
    // The serde round trip costs ~20x the commands under ASAN: check one input in eight.
    if data.len() % 8 == 0 {
        let json = serde_json::to_string(&s).unwrap();
        let back: BootOptionsStore = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
});
