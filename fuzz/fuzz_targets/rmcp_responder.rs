//! The RMCP+ responder fed arbitrary datagrams (length-prefixed chunks) with time moving
//! forward; it must never panic and never hold more sessions than its bound.
#![no_main]

use std::time::{Duration, Instant};

use ipmi_iscsi::ipmi::Response;
use ipmi_iscsi::rmcp::{CipherSuite, Password, Responder, ResponderConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut cfg = ResponderConfig::new([7; 16], "admin", Password::new("password").unwrap());
    cfg.suites = vec![
        CipherSuite::SUITE_17,
        CipherSuite::SUITE_3,
        CipherSuite::SUITE_0,
    ];
    cfg.allow_unauthenticated = data.first().is_some_and(|b| b & 1 == 1);
    cfg.max_sessions = 4;
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut r = Responder::new(
        cfg,
        Box::new(move |b: &mut [u8]| {
            for x in b {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *x = s.to_le_bytes()[2];
            }
        }),
    );
    let mut now = Instant::now();
    let mut rest = data.get(1..).unwrap_or(&[]);
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (dgram, next) = tail.split_at(n);
        let _ = r.handle_datagram(now, dgram, |_| Response::ok([]));
        assert!(r.session_count() <= 4);
        now += Duration::from_millis(u64::from(len) * 100);
        rest = next;
    }
});
