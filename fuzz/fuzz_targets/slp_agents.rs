//! Command sequence against the agents: the input is cut into datagrams fed to a user
//! agent and a service agent, with time advancing; nothing may panic or stall.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use slp_proto::agent::Via;
use slp_proto::sa::{Registration, SaConfig, ServiceAgent};
use slp_proto::ua::{UaConfig, UserAgent};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut ua = UserAgent::new(UaConfig::isns(), t0, 1).unwrap();
    let mut sa = ServiceAgent::new(SaConfig::new("10.0.0.1".parse().unwrap()), t0, 2);
    sa.register(t0, Registration::isns_server("10.0.0.1:3205".parse().unwrap(), Some(0), 60)).unwrap();
    let peer: SocketAddr = "10.0.0.1:427".parse().unwrap();
    let mut now = t0;
    for chunk in data.split(|b| *b == 0xA5) {
        let Some((&op, rest)) = chunk.split_first() else { continue };
        now += Duration::from_millis(u64::from(op));
        let via = if op & 1 == 0 { Via::Unicast } else { Via::Multicast };
        ua.handle_input(now, peer, rest, via);
        if let Some(reply) = sa.handle_input(now, peer, rest, via) {
            ua.handle_input(now, peer, &reply, Via::Unicast);
        }
        ua.handle_timeout(now);
        sa.handle_timeout(now);
        while ua.poll_transmit().is_some() {}
        while sa.poll_transmit().is_some() {}
        let _ = ua.results(now);
    }
});
