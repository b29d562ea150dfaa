//! Finds iSNS servers with SLP (feature `tokio`): a SrvRqst for `service:iscsi:sms` with the
//! predicate `(protocols=isns)`, multicast to 239.255.255.253:427 by default, or unicast to
//! the address given (a DA or an SA on a known host).
//!
//! `cargo run -p slp-proto --features tokio --example slp_find -- 127.0.0.1:427`

use std::net::SocketAddr;

use slp_proto::driver::{DiscoveryOptions, discover};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = DiscoveryOptions::isns();
    if let Some(target) = std::env::args().nth(1) {
        let target: SocketAddr = target.parse()?;
        opts.multicast_target = target;
        if target.is_ipv4() && target.ip().is_loopback() {
            opts.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        }
    }
    let report = discover(opts).await?;
    if report.services.is_empty() {
        println!("no iSNS server answered");
    }
    for s in &report.services {
        let priority = s.priority.map_or_else(|| "-".to_owned(), |p| p.to_string());
        println!(
            "{} (host {} port {}, priority {priority}, lifetime {} s, from {})",
            s.url, s.host, s.port, s.lifetime, s.responder
        );
    }
    Ok(())
}
