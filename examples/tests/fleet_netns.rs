//! The fleet topology on a small scale (issue 19): three storage systems, each a tgtd in its
//! own network namespace with its own address (`scripts/peers/netns-storage.sh`), all
//! registered with one isnsd on the namespaces' hub address; six imm-sim BMCs; `bcm serve`
//! provisioning six servers at once and releasing them at once over its API.
//!
//! Checked across the namespaces: each tgtd's iSNS entity and portal carry its namespace
//! address (not 127.0.0.1, which made every tgtd one entity); the manager's probe measured the
//! LUNs behind those portals (a sized request needs them); no LUN and no multi-LUN target is
//! given twice; isnsd's SCNs reach each tgtd (with iSNS access control on, tgtd admits an
//! initiator only after an SCN naming its target), so each server's initiator reads its own
//! LUN with `iscsi-inq` from the root namespace and no LUN of another server's target; after
//! the releases no initiator reads its former LUN and no DD of the manager is left.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::{Lab, LabSpec};
use serde_json::Value;

const SERVERS: u16 = 6;
const INITIATOR: &str = "iqn.2026-12.com.example:";

/// `iscsi-inq` under `initiator` on `target` LUN `lun` at `addr:3260`.
fn inq(initiator: &str, addr: &str, target: &str, lun: u64) -> bool {
    let url = format!("iscsi://{addr}:3260/{target}/{lun}");
    harness::run("iscsi-inq", &["-i", initiator, &url], &[]).0
}

/// Polls `inq` until it answers `want` (tgtd acts on an SCN about a second after it):
/// whether it did within 20 s.
fn inq_becomes(want: bool, initiator: &str, addr: &str, target: &str, lun: u64) -> bool {
    let t0 = Instant::now();
    loop {
        if inq(initiator, addr, target, lun) == want {
            return true;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn three_storage_systems_in_namespaces_provision_and_release_six_servers_at_once() {
    harness::require_program("iscsi-inq");
    // Three systems, three two-LUN targets each.
    let tgtds: Vec<(String, Vec<String>)> = (1..=3)
        .map(|s| {
            (
                String::new(),
                (1..=3)
                    .map(|t| format!("iqn.2026-12.fleet.array{s}:disk{t}=16M,32M"))
                    .collect(),
            )
        })
        .collect();
    let mut lab = Lab::start(&LabSpec {
        tgtds,
        bmcs: SERVERS,
        netns: true,
        isns_extra: "scn_pacing = \"250ms\"".to_owned(),
        ..LabSpec::default()
    });
    let systems: Vec<(String, String)> = lab
        .netns
        .as_ref()
        .unwrap()
        .systems
        .iter()
        .map(|(ns, ip)| (ns.clone(), ip.to_string()))
        .collect();
    let array_addr: BTreeMap<String, String> = systems
        .iter()
        .enumerate()
        .map(|(i, (_, ip))| (format!("array{}", i + 1), ip.clone()))
        .collect();

    // Each tgtd registered under its namespace address: three entities, three portals.
    let conf = lab.isnsd.var("ISNSADM_CONF").to_owned();
    let (ok, entities, err) = harness::run("isnsadm", &["-c", &conf, "--list", "entities"], &[]);
    assert!(ok, "isnsadm: {err}");
    let (ok, portals, err) = harness::run("isnsadm", &["-c", &conf, "--list", "portals"], &[]);
    assert!(ok, "isnsadm: {err}");
    for (_, ip) in &systems {
        assert!(
            entities.contains(&format!("Entity identifier   : {ip}"))
                || entities
                    .lines()
                    .any(|l| l.contains("Entity") && l.contains(ip)),
            "no entity named {ip}:\n{entities}"
        );
        assert!(portals.contains(ip), "no portal on {ip}:\n{portals}");
    }
    assert!(
        !entities.contains("127.0.0.1"),
        "a tgtd registered through loopback:\n{entities}"
    );

    lab.serve();
    let lab = Arc::new(lab);

    // Six provisionings at once.
    let posts: Vec<_> = (0..SERVERS)
        .map(|i| {
            let lab = Arc::clone(&lab);
            std::thread::spawn(move || {
                let body =
                    format!(r#"{{"request_id":"fleet-{i}","server":"server-{i}","size":"16MiB"}}"#);
                lab.curl("POST", "/v1/boot-requests", Some(&body))
            })
        })
        .collect();
    let mut given: BTreeMap<u16, (String, u64, String)> = BTreeMap::new();
    for (i, p) in (0..SERVERS).zip(posts) {
        let (code, resp) = p.join().unwrap();
        assert_eq!(code, 201, "server-{i}: {resp}\n{}", lab.serve_log());
        let r: Value = serde_json::from_str(&resp).unwrap();
        let p = &r["assignment"]["primary"];
        let target = p["target"].as_str().unwrap().to_owned();
        let lun = p["lun"].as_u64().unwrap();
        let array = target
            .split(':')
            .next()
            .and_then(|s| s.rsplit('.').next())
            .unwrap()
            .to_owned();
        let addr = array_addr[&array].clone();
        let portal = p["portal"].as_str().unwrap_or_default();
        assert!(
            portal.starts_with(&format!("{addr}:")),
            "server-{i} got {target} through portal {portal}, not its system's address {addr}: {resp}"
        );
        given.insert(i, (target, lun, addr));
    }
    let luns: BTreeSet<(&str, u64)> = given.values().map(|(t, l, _)| (t.as_str(), *l)).collect();
    assert_eq!(
        luns.len(),
        usize::from(SERVERS),
        "a LUN given twice: {given:?}"
    );
    let targets: BTreeSet<&str> = given.values().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        targets.len(),
        usize::from(SERVERS),
        "a target given to two servers: {given:?}"
    );
    let used_systems: BTreeSet<&str> = given.values().map(|(_, _, a)| a.as_str()).collect();
    assert!(
        used_systems.len() >= 2,
        "six servers on one storage system: {given:?}"
    );

    // Each initiator reads its own LUN across the namespaces, and nothing of the others'.
    for (i, (target, lun, addr)) in &given {
        let me = format!("{INITIATOR}server-{i}");
        assert!(
            inq_becomes(true, &me, addr, target, *lun),
            "server-{i} cannot read {target} LUN {lun} at {addr}\n{}",
            lab.serve_log()
        );
        for (j, (other, _, other_addr)) in &given {
            if j == i {
                continue;
            }
            for l in 1..=2 {
                assert!(
                    !inq(&me, other_addr, other, l),
                    "server-{i} reads server-{j}'s {other} LUN {l}"
                );
            }
        }
    }
    let dds = lab.dds();
    for i in 0..SERVERS {
        let members = &dds[&format!("bcm:server-{i}")];
        assert!(
            members.contains(&format!("{INITIATOR}server-{i}")) && members.contains(&given[&i].0),
            "DD of server-{i}: {members:?}"
        );
    }

    // Six releases at once.
    let deletes: Vec<_> = (0..SERVERS)
        .map(|i| {
            let lab = Arc::clone(&lab);
            std::thread::spawn(move || {
                lab.curl("DELETE", &format!("/v1/assignments/server-{i}"), None)
            })
        })
        .collect();
    for (i, d) in (0..SERVERS).zip(deletes) {
        let (code, resp) = d.join().unwrap();
        assert_eq!(
            code,
            200,
            "release of server-{i}: {resp}\n{}",
            lab.serve_log()
        );
    }
    let dds = lab.dds();
    assert!(
        dds.keys().all(|k| !k.starts_with("bcm:server-")),
        "DDs left after the releases: {dds:?}"
    );
    for (i, (target, lun, addr)) in &given {
        assert!(
            inq_becomes(false, &format!("{INITIATOR}server-{i}"), addr, target, *lun),
            "server-{i} still reads {target} LUN {lun} after its release"
        );
    }
}
