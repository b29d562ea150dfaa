//! A target's SCN registration renewed from the Control node before each DD change (what
//! `bcm::pacing::Pacer` does) gets every change to tgtd: four server DDs in a row on one
//! target, each admitted by tgtd (`iscsi-inq`). Why the renewal exists is in `bcm::pacing`:
//! isnsd frees a node's SCN connection state at the first notification after the node's entity
//! sent anything (tgtd queries after every SCN) while keeping a pointer into it, so without a
//! fresh registration the outcome depends on what that freed memory holds — delivery, a lost
//! notification, or a crash. That run is shown, not asserted.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::time::Duration;

use bcm::manager::live::TGT_SCN_BITMAP;
use harness::Peer;
use isns_proto::client::{ClientConfig, EntityId, NodeName};
use isns_proto::client_tokio::IsnsClient;

const TARGET: &str = "iqn.2026-12.quirk.storage:disk";
const PROBE: &str = "iqn.2026-12.quirk.example:probe";

fn admitted(port: &str, initiator: &str) -> bool {
    let url = format!("iscsi://127.0.0.1:{port}/{TARGET}/1");
    // tgtd learns of a DD change about a second after its SCN.
    for _ in 0..12 {
        let (ok, _, _) = harness::run("iscsi-inq", &["-i", initiator, &url], &[]);
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

/// The probe's DD, then `rounds` server DDs on the same target; how many initiators tgtd
/// admitted, and whether isnsd is still alive.
async fn scenario(rearm: bool, rounds: u8) -> (usize, bool) {
    let isnsd = Peer::start(
        "isnsd",
        &[
            ("ISNSD_PORT", harness::free_tcp_port().to_string()),
            ("ISNSD_DEBUG", String::new()),
        ],
    );
    let isns = format!("127.0.0.1:{}", isnsd.var("ISNSD_PORT"));
    let tgtd = Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", harness::free_tcp_port().to_string()),
            ("TGTD_TARGETS", format!("{TARGET}=32M")),
            ("TGTD_ISNS", isns.clone()),
            ("TGTD_ISNS_ACCESS_CONTROL", "On".to_owned()),
        ],
    );
    let port = tgtd.var("TGTD_PORT").to_owned();
    let cfg = ClientConfig::new(
        NodeName::new("iqn.2026-12.quirk.example:manager").unwrap(),
        EntityId::new("iqn.2026-12.quirk.example:manager").unwrap(),
        "127.0.0.1".parse().unwrap(),
    );
    // Each initiator registered lives in an entity of its own name.
    let names = |n: &str| (NodeName::new(n).unwrap(), EntityId::new(n).unwrap());
    let (client, mut events) = IsnsClient::start(isns.parse().unwrap(), cfg, false)
        .await
        .unwrap();
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs(2)).await; // tgtd registered, we registered
    let rearm_target = || async {
        if rearm {
            client.scn_dereg(TARGET).await.unwrap();
            client.scn_reg(TARGET, TGT_SCN_BITMAP).await.unwrap();
        }
    };
    // First DD change for the target: the probe initiator's DD.
    let (node, entity) = names(PROBE);
    client
        .register_initiator(&node, &entity, None)
        .await
        .unwrap();
    let mgmt = client.create_dd("quirk-mgmt", &[]).await.unwrap();
    rearm_target().await;
    client.add_dd_members(mgmt, &[PROBE, TARGET]).await.unwrap();
    let mut ok = usize::from(admitted(&port, PROBE));
    for round in 0..rounds {
        // Further DD changes for the same target: one DD per server.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let server = format!("iqn.2026-12.quirk.example:server-{round}");
        let (node, entity) = names(&server);
        if client
            .register_initiator(&node, &entity, None)
            .await
            .is_err()
        {
            break; // isnsd is gone
        }
        let Ok(dd) = client.create_dd(&format!("quirk-{round}"), &[]).await else {
            break;
        };
        rearm_target().await;
        if client.add_dd_members(dd, &[&server, TARGET]).await.is_err() {
            break;
        }
        ok += usize::from(admitted(&port, &server));
    }
    let pid = isnsd.var("ISNSD_PID").to_owned();
    let alive = harness::run("kill", &["-0", &pid], &[]).0;
    client.shutdown().await;
    drop(tgtd);
    drop(isnsd);
    (ok, alive)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tgtd_learns_a_second_dd_change_only_when_its_scn_registration_is_renewed() {
    for p in ["isnsd", "tgtd", "tgtadm", "iscsi-inq"] {
        harness::require_program(p);
    }
    const ROUNDS: u8 = 4;
    let (ok, alive) = scenario(true, ROUNDS).await;
    assert_eq!(
        ok,
        usize::from(ROUNDS) + 1,
        "with the SCN registration renewed before each change, tgtd admits every initiator"
    );
    assert!(alive, "isnsd survived");
    // Without the renewal the outcome depends on what the freed memory holds: lost SCNs,
    // a crash, or (by luck) delivery. Shown, not asserted.
    let (ok, alive) = scenario(false, ROUNDS).await;
    eprintln!(
        "without renewal: {ok} of {} initiators admitted, isnsd {}",
        ROUNDS + 1,
        if alive { "alive" } else { "crashed" }
    );
}
