//! The client session (tokio driver) against a real open-isns `isnsd` and `tgtd` on
//! 127.0.0.1: registration as a Control node, full walk, DD operations checked with
//! `isnsadm`, initiator registration on a server's behalf, SCN-driven re-queries, and an
//! isnsd restart on the same database. Fails when a peer is missing.

#[rustfmt::skip]
#[path = "../../scripts/peers/harness.rs"]
mod harness;

use harness::Isnsd;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use isns_proto::client::{Backoff, ClientConfig, EntityId, Event, NodeName, Snapshot};
use isns_proto::client_tokio::IsnsClient;
use tokio::sync::mpsc::UnboundedReceiver;

const ME: &str = "iqn.2026-01.test.bcm:manager";

fn lo() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn config() -> ClientConfig {
    let mut c = ClientConfig::new(
        NodeName::new(ME).unwrap(),
        EntityId::new("bcm.manager").unwrap(),
        lo(),
    );
    c.request_timeout = Duration::from_secs(3);
    c.backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
        factor: 2,
    };
    c.reconcile_interval = Some(Duration::from_secs(2));
    c
}

async fn next_walk(ev: &mut UnboundedReceiver<Event>, within: Duration) -> Snapshot {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ev.recv()).await {
            Ok(Some(Event::Walked(s))) => return s,
            Ok(Some(_)) => {}
            Ok(None) => panic!("client stopped"),
            Err(_) => panic!("no walk within {within:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_lists_tgtd_targets_with_entity_and_portals_and_dd_ops_show_in_isnsadm() {
    let isnsd = Isnsd::start();
    harness::require_program("tgtd");
    let tport = harness::free_tcp_port();
    let _tgtd = harness::Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", tport.to_string()),
            (
                "TGTD_TARGETS",
                "iqn.2026-01.test.c:a iqn.2026-01.test.c:b".into(),
            ),
            ("TGTD_LUN_SIZES", "16M".into()),
            ("TGTD_ISNS", format!("127.0.0.1:{}", isnsd.port)),
            ("TGTD_ISNS_ACCESS_CONTROL", "On".into()),
        ],
    );
    let (client, mut ev) = IsnsClient::start(isnsd.addr(), config(), true)
        .await
        .unwrap();
    let t0 = Instant::now();
    let snap = loop {
        let s = next_walk(&mut ev, Duration::from_secs(10)).await;
        if s.targets().count() == 2 {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "targets never seen: {s:?}"
        );
    };
    for t in snap.targets() {
        assert_eq!(t.entity.as_deref(), Some("127.0.0.1"), "{t:?}");
        assert_eq!(t.portals.len(), 1, "{t:?}");
        assert_eq!(t.portals[0].port, tport);
        assert_eq!(t.portals[0].ip, lo());
    }
    assert!(snap.entities.iter().any(|e| e.eid == "bcm.manager"));
    assert!(snap.nodes.iter().any(|n| n.name == ME));

    // DD create / add / remove, as isnsadm sees it.
    isnsd.as_control();
    let id = client
        .create_dd("bcm-test-dd", &["iqn.2026-01.test.c:a"])
        .await
        .unwrap();
    let dds = isnsadm_dds(&isnsd);
    assert!(
        dds.contains("bcm-test-dd") && dds.contains("iqn.2026-01.test.c:a"),
        "{dds}"
    );
    client
        .add_dd_members(
            id,
            &["iqn.2026-01.test.c:b", "iqn.2026-01.test.bcm:server-1"],
        )
        .await
        .unwrap();
    let dds = isnsadm_dds(&isnsd);
    assert!(
        dds.contains("iqn.2026-01.test.c:b") && dds.contains("server-1"),
        "{dds}"
    );
    client
        .remove_dd_members(id, &["iqn.2026-01.test.c:b"])
        .await
        .unwrap();
    let dds = isnsadm_dds(&isnsd);
    assert!(
        !dds.contains("iqn.2026-01.test.c:b") && dds.contains("server-1"),
        "{dds}"
    );
    client.remove_dd(id).await.unwrap();
    assert!(!isnsadm_dds(&isnsd).contains("bcm-test-dd"));

    // Initiator registration on a server's behalf.
    client
        .register_initiator(
            &NodeName::new("iqn.2026-01.test.bcm:server-1").unwrap(),
            &EntityId::new("bcm.server-1").unwrap(),
            Some("server 1"),
        )
        .await
        .unwrap();
    assert!(
        isnsd
            .isnsadm(&["--list", "nodes"])
            .contains("iqn.2026-01.test.bcm:server-1")
    );
    let n = client
        .query_node("iqn.2026-01.test.bcm:server-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.entity.as_deref(), Some("bcm.server-1"));
    client
        .deregister_initiator("iqn.2026-01.test.bcm:server-1")
        .await
        .unwrap();
    assert!(
        !isnsd
            .isnsadm(&["--list", "nodes"])
            .contains("iqn.2026-01.test.bcm:server-1")
    );
    client.shutdown().await;
}

fn isnsadm_dds(isnsd: &Isnsd) -> String {
    isnsd.isnsadm(&["--list", "dds"])
}
