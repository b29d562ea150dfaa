//! The tokio drivers over real UDP and TCP sockets on 127.0.0.1 (free ports, never 427).

use std::net::SocketAddr;
use std::time::Duration;

use slp_proto::agent::Timing;
use slp_proto::driver::{
    DiscoveryOptions, SaOptions, discover, discover_isns_servers, spawn_service_agent,
};
use slp_proto::sa::Registration;

fn fast() -> Timing {
    Timing {
        retry: Duration::from_millis(100),
        mc_max: Duration::from_secs(3),
        retry_max: Duration::from_secs(2),
    }
}

fn ua_to(target: SocketAddr) -> DiscoveryOptions {
    let mut o = DiscoveryOptions::isns();
    o.bind = "127.0.0.1:0".parse().unwrap();
    o.multicast_target = target;
    o.ua.timing = fast();
    o
}

#[tokio::test]
async fn user_agent_finds_the_isns_server_a_service_agent_advertises() {
    let isns: SocketAddr = "127.0.0.1:3205".parse().unwrap();
    let mut opts = SaOptions::isns_server(isns, "127.0.0.1:0".parse().unwrap());
    opts.registrations[0] = Registration::isns_server(isns, Some(0), 120);
    let sa = spawn_service_agent(opts).await.unwrap();
    let found = discover_isns_servers(ua_to(sa.local_addr())).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].url, "service:iscsi:sms://127.0.0.1:3205");
    assert_eq!(found[0].socket_addr(), Some(isns));
    assert_eq!(found[0].priority, Some(0));
    assert_eq!(found[0].lifetime, 120);
    assert_eq!(found[0].responder, sa.local_addr());
    sa.shutdown().await;
}

#[tokio::test]
async fn a_reply_too_big_for_one_datagram_is_fetched_again_over_tcp() {
    let mut opts = SaOptions::isns_server(
        "127.0.0.1:3205".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    );
    opts.registrations = (0..50u16)
        .map(|i| {
            Registration::isns_server(
                SocketAddr::from(([127, 0, 1, 1], 4000 + i)),
                Some(i32::from(i)),
                300,
            )
        })
        .collect();
    let sa = spawn_service_agent(opts).await.unwrap();
    let mut ua = ua_to(sa.local_addr());
    ua.ua.scopes = vec!["DEFAULT".into()];
    let report = discover(ua).await.unwrap();
    assert_eq!(report.services.len(), 50, "{:?}", report.events);
    let prios: Vec<i32> = report.services.iter().filter_map(|d| d.priority).collect();
    assert_eq!(prios, (0..50).collect::<Vec<i32>>());
    sa.shutdown().await;
}

#[tokio::test]
async fn user_agent_asks_a_configured_directory_agent_by_unicast() {
    let isns: SocketAddr = "127.0.0.1:3205".parse().unwrap();
    let sa = spawn_service_agent(SaOptions::isns_server(isns, "127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let mut ua = ua_to("127.0.0.1:9".parse().unwrap());
    ua.ua.multicast = false;
    ua.ua.directory_agents = vec![sa.local_addr()];
    let found = discover_isns_servers(ua).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].url, "service:iscsi:sms://127.0.0.1:3205");
    sa.shutdown().await;
}

#[tokio::test]
async fn nobody_listening_gives_an_empty_answer_after_convergence() {
    // A bound but silent socket stands in for an empty network.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = std::time::Instant::now();
    let found = discover_isns_servers(ua_to(silent.local_addr().unwrap()))
        .await
        .unwrap();
    assert!(found.is_empty());
    // Two sends (0, 100 ms) then silence until 300 ms.
    assert!(started.elapsed() >= Duration::from_millis(300));
}
