//! Command-sequence target for both state machines: a real client and responder talk in
//! memory while the fuzzer drops, duplicates, corrupts and injects datagrams, advances
//! time, queues requests and closes. Nothing may panic; the responder stays bounded.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ipmi_iscsi::ipmi::{NetFn, Request, Response};
use ipmi_iscsi::rmcp::{
    CipherSuite, ClientConfig, ClientSession, Password, RandomSource, Responder, ResponderConfig,
};
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
    let suite = if data.first().is_some_and(|b| b & 1 == 1) {
        CipherSuite::SUITE_3
    } else {
        CipherSuite::SUITE_17
    };
    let mut rcfg = ResponderConfig::new([7; 16], "admin", Password::new("password").unwrap());
    rcfg.suites = vec![suite];
    rcfg.max_sessions = 2;
    let mut bmc = Responder::new(rcfg, rng(1));
    let mut client = ClientSession::new(
        ClientConfig::new("admin", Password::new("password").unwrap()),
        rng(2),
    );
    let mut now = Instant::now();
    client.connect(now);
    let mut to_bmc: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_client: VecDeque<Vec<u8>> = VecDeque::new();
    let mut ops = data.get(1..).unwrap_or(&[]).iter().copied();
    while let Some(op) = ops.next() {
        while let Some(d) = client.poll_transmit() {
            to_bmc.push_back(d);
        }
        while client.poll_event().is_some() {}
        match op % 10 {
            0 | 1 => {
                if let Some(d) = to_bmc.pop_front() {
                    if let Ok(Some(reply)) =
                        bmc.handle_datagram(now, &d, |i| Response::ok(i.request.data.clone()))
                    {
                        to_client.push_back(reply);
                    }
                }
            }
            2 | 3 => {
                if let Some(d) = to_client.pop_front() {
                    let _ = client.handle_input(now, &d);
                }
            }
            4 => {
                to_bmc.pop_front();
            }
            5 => {
                if let Some(d) = to_client.front().cloned() {
                    to_client.push_back(d);
                }
            }
            6 => {
                let at = usize::from(ops.next().unwrap_or(0));
                let bit = ops.next().unwrap_or(0) % 8;
                if let Some(d) = to_client.front_mut().or(to_bmc.front_mut()) {
                    if !d.is_empty() {
                        let i = at % d.len();
                        d[i] ^= 1 << bit;
                    }
                }
            }
            7 => {
                now += Duration::from_millis(u64::from(ops.next().unwrap_or(0)) * 50);
                client.handle_timeout(now);
                bmc.expire(now);
            }
            8 => {
                let cmd = ops.next().unwrap_or(0);
                let _ = client.send_request(now, Request::new(NetFn::CHASSIS, cmd, [cmd]));
            }
            _ => {
                if ops.next().unwrap_or(0) == 0 {
                    client.close(now);
                } else {
                    let n = usize::from(ops.next().unwrap_or(0) % 64);
                    let junk: Vec<u8> = ops.by_ref().take(n).collect();
                    let _ = client.handle_input(now, &junk);
                    let _ = bmc.handle_datagram(now, &junk, |_| Response::ok([]));
                }
            }
        }
        assert!(bmc.session_count() <= 2);
    }
});
