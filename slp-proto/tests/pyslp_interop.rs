//! Interop with pyslp 0.1.7 (an independent SLPv2 implementation) through our peer script
//! `scripts/peers/slp-peer.py`: pyslp answering our user agent (as SA and as DA), storing
//! our service agent's SrvReg, and querying our service agent as a user agent.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use slp_proto::agent::Timing;
use slp_proto::driver::{DiscoveryOptions, SaOptions, discover, spawn_service_agent};
use slp_proto::sa::{Registration, SaEvent};

const REGISTRATIONS: &str = "service:iscsi:sms://127.0.0.1:3205|service:iscsi:sms|(protocols=isns),(server-priority=1)|300
service:iscsi:sms://192.0.2.10:3205|service:iscsi:sms|(protocols=isns),(server-priority=0)|600
service:iscsi:sms://192.0.2.99:161|service:iscsi:sms|(protocols=snmp)|300
service:iscsi:target://127.0.0.1:3260/iqn.2001-04.com.example:d0|service:iscsi:target|(iscsi-name=iqn.2001-04.com.example:d0)|300";

fn pyslp(port: u16, register: &str) -> harness::Peer {
    harness::require_program("python3");
    harness::Peer::start(
        "slp-peer",
        &[
            ("SLP_PEER_PORT", port.to_string()),
            ("SLP_PEER_REGISTER", register.to_owned()),
        ],
    )
}

fn ua_to(target: SocketAddr) -> DiscoveryOptions {
    let mut o = DiscoveryOptions::isns();
    o.bind = "127.0.0.1:0".parse().unwrap();
    o.multicast_target = target;
    o.ua.timing = Timing {
        retry: Duration::from_millis(200),
        mc_max: Duration::from_secs(5),
        retry_max: Duration::from_secs(3),
    };
    o
}

#[tokio::test]
async fn our_user_agent_finds_isns_servers_pyslp_serves_and_filters_by_fetched_attributes() {
    let port = harness::free_udp_port();
    let peer = pyslp(port, REGISTRATIONS);
    let target: SocketAddr = ([127, 0, 0, 1], port).into();
    // Scopes DEFAULT and open-isns' initiator-scope-list; pyslp ignores the second.
    let report = discover(ua_to(target)).await.unwrap();
    let urls: Vec<&str> = report.services.iter().map(|d| d.url.as_str()).collect();
    // pyslp ignores predicates: the snmp entry comes back, and is dropped once the
    // AttrRqst our UA sends shows protocols=snmp.
    assert_eq!(
        urls,
        [
            "service:iscsi:sms://192.0.2.10:3205",
            "service:iscsi:sms://127.0.0.1:3205"
        ],
        "{:?}",
        report.events
    );
    assert_eq!(report.services[0].priority, Some(0));
    assert_eq!(report.services[0].lifetime, 600);
    assert_eq!(
        report.services[1].attrs.as_deref(),
        Some("(protocols=isns),(server-priority=1)")
    );
    let log = std::fs::read_to_string(peer.var("SLP_PEER_LOG")).unwrap();
    assert!(
        !log.contains("HANDLER-ERROR"),
        "pyslp failed on our messages:\n{log}"
    );
    // pyslp saw our SrvRqst (function 1) and our AttrRqsts (function 6).
    assert!(log.lines().any(
        |l| l.starts_with("IN ") && l.split(' ').nth(2).is_some_and(|h| h.starts_with("0201"))
    ));
    assert!(log.lines().any(
        |l| l.starts_with("IN ") && l.split(' ').nth(2).is_some_and(|h| h.starts_with("0206"))
    ));
}

#[tokio::test]
async fn our_user_agent_asks_pyslp_as_a_directory_agent() {
    let port = harness::free_udp_port();
    let _peer = pyslp(port, REGISTRATIONS);
    let mut o = ua_to(([127, 0, 0, 1], 9).into());
    o.ua.multicast = false;
    o.ua.scopes = vec!["DEFAULT".into()];
    o.ua.directory_agents = vec![([127, 0, 0, 1], port).into()];
    let report = discover(o).await.unwrap();
    assert_eq!(report.services.len(), 2, "{report:?}");
    assert_eq!(report.services[0].host, "192.0.2.10");
}

#[tokio::test]
async fn pyslp_stores_our_service_agents_registration_and_serves_it_back() {
    let port = harness::free_udp_port();
    let peer = pyslp(port, "");
    let da: SocketAddr = ([127, 0, 0, 1], port).into();
    let isns: SocketAddr = "127.0.0.1:3205".parse().unwrap();
    let mut opts = SaOptions::isns_server(isns, "127.0.0.1:0".parse().unwrap());
    opts.registrations = vec![Registration::isns_server(isns, Some(3), 900)];
    opts.sa.directory_agents = vec![da];
    let sa = spawn_service_agent(opts).await.unwrap();
    let mut acked = Vec::new();
    for _ in 0..50 {
        acked.extend(sa.events());
        if acked
            .iter()
            .any(|e| matches!(e, SaEvent::Registered { .. }))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        acked.contains(&SaEvent::Registered {
            da,
            url: "service:iscsi:sms://127.0.0.1:3205".into(),
            error: slp_proto::ErrorCode::OK
        }),
        "{acked:?}\n{}",
        std::fs::read_to_string(peer.var("SLP_PEER_LOG")).unwrap()
    );
    sa.shutdown().await;
    // Our SA is gone: the answer now comes from pyslp's store of our SrvReg.
    let mut o = ua_to(([127, 0, 0, 1], 9).into());
    o.ua.multicast = false;
    o.ua.scopes = vec!["DEFAULT".into()];
    o.ua.directory_agents = vec![da];
    let report = discover(o).await.unwrap();
    assert_eq!(report.services.len(), 1, "{report:?}");
    assert_eq!(report.services[0].url, "service:iscsi:sms://127.0.0.1:3205");
    assert_eq!(report.services[0].priority, Some(3));
    assert_eq!(report.services[0].lifetime, 900);
}

#[tokio::test]
async fn pyslp_as_a_user_agent_finds_what_our_service_agent_advertises() {
    harness::require_program("python3");
    let isns: SocketAddr = "127.0.0.1:3205".parse().unwrap();
    let mut opts = SaOptions::isns_server(isns, "127.0.0.1:0".parse().unwrap());
    opts.registrations = vec![Registration::isns_server(isns, Some(0), 1200)];
    let sa = spawn_service_agent(opts).await.unwrap();
    let port = sa.local_addr().port().to_string();
    let script = harness::peers_dir().join("slp-peer.py");
    let out = tokio::task::spawn_blocking(move || {
        harness::run(
            "python3",
            &[
                script.to_str().unwrap(),
                "query",
                "--port",
                &port,
                "--type",
                "service:iscsi:sms",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    let (ok, stdout, stderr) = out;
    assert!(ok, "pyslp query failed:\n{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "ERROR 0",
            "URL 1200 service:iscsi:sms://127.0.0.1:3205",
            "ATTRS service:iscsi:sms://127.0.0.1:3205 (protocols=isns),(server-priority=0)"
        ],
        "{stderr}"
    );
    sa.shutdown().await;
}
