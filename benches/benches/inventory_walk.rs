//! A full inventory walk of 2,000 target nodes (200 entities of 10 targets, one portal each)
//! and 2,000 management DDs registered in a real isnsd, side by side with `isnsadm --list
//! nodes` over the same server in the same run:
//!
//! * `isns_client_portal_walk_2000` — the session's walk as it runs by default: DevGetNext
//!   over entities, portals and DDs, one DevAttrQry per portal that returns every node
//!   behind it with its entity and portal groups, one DevAttrQry for every initiator
//!   (2,600 requests here);
//! * `isns_client_getnext_walk_2000` — the walk it replaced (and falls back to for a portal
//!   whose answer isnsd refuses): DevGetNext over entities, portals, portal groups, nodes
//!   and DDs, plus one DevAttrQry per target for its entity and portals (8,400 requests);
//! * `bcm_inventory_resync_2000` — what the manager waits for: `Inventory::resync` to
//!   `Synced` (the walk with its 2,000 management DDs, made up front, the events, 2,000
//!   probes, which fail at once here since nothing listens on the registered portals),
//!   every update applied to a `boot_config_core::Engine`;
//! * `isnsadm_list_nodes_2000` — open-isns' own client listing the same nodes.
//!
//! Before them it prints the first walk of a new session (registration to `Walked`) for
//! both walks and for 1 and 2 requests in flight.
#![allow(missing_docs)]

#[rustfmt::skip]
#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use bcm::inventory::{
    DEFAULT_MANAGEMENT_DD, Inventory, InventoryConfig, InventoryUpdate, apply_update,
    management_dd_name,
};
use boot_config_core::{Engine, EngineConfig};
use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use isns_proto::client::{ClientConfig, EntityId, Event, NodeName};
use isns_proto::client_tokio::IsnsClient;
use isns_proto::{Body, EntityProtocol, Message, NodeType, Pdu, Port, Status, Tag};

const ENTITIES: usize = 200;
const PER_ENTITY: usize = 10;
const NODES: usize = ENTITIES * PER_ENTITY;
const PROBE: &str = "iqn.2026-01.bench:probe";

fn lo() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn read_pdu(s: &mut TcpStream) -> Vec<u8> {
    let mut hdr = [0u8; 12];
    s.read_exact(&mut hdr).unwrap();
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let mut buf = hdr.to_vec();
    buf.resize(12 + len, 0);
    s.read_exact(&mut buf[12..]).unwrap();
    buf
}

/// Registers ENTITIES entities of PER_ENTITY targets with isnsd, one DevAttrReg each, the
/// portals on ports nothing listens on.
fn register_targets(server: SocketAddr) {
    let mut s = TcpStream::connect(server).unwrap();
    for e in 0..ENTITIES {
        let eid = format!("bench-array-{e:03}");
        let names: Vec<String> = (0..PER_ENTITY)
            .map(|t| format!("iqn.2026-01.bench.array{e:03}:target-{t:02}"))
            .collect();
        let port = Port::tcp(u16::try_from(40_000 + e).unwrap());
        let xid = u16::try_from(e + 1).unwrap();
        let mut m = Message::dev_attr_reg(xid, names[0].as_str())
            .key(Tag::ENTITY_IDENTIFIER, eid.as_str())
            .entity(eid.as_str(), EntityProtocol::ISCSI)
            .portal(lo(), port);
        for n in &names {
            m = m.node(n.as_str(), NodeType::TARGET);
        }
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        s.write_all(&out).unwrap();
        let rsp = read_pdu(&mut s);
        let status = u32::from_be_bytes([rsp[12], rsp[13], rsp[14], rsp[15]]);
        assert_eq!(Status(status), Status::SUCCESSFUL, "registering {eid}");
    }
}

/// The inventory's own setup, done up front by a plain client: the probe initiator and
/// one management DD per target. Done by the inventory itself, the 2,000 DD creations
/// raise 2,000 management SCNs to its control node, and isnsd 0.101 segfaulted (in
/// libisns) during them here; nobody is registered for SCNs yet when this runs.
fn create_management_dds(server: SocketAddr) {
    let mut s = TcpStream::connect(server).unwrap();
    // Sends one request and returns the DD_ID of a DDReg answer (0 for others).
    let mut call = |m: Message<'_>| -> u32 {
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        s.write_all(&out).unwrap();
        let rsp = read_pdu(&mut s);
        let pdu = Pdu::parse(&rsp).unwrap();
        let Ok(Body::Response(r)) = pdu.body() else {
            panic!("not a response")
        };
        assert_eq!(r.status(), Status::SUCCESSFUL);
        r.find(Tag::DD_ID)
            .and_then(|a| a.as_u32().ok())
            .unwrap_or(0)
    };
    let _ = call(
        Message::dev_attr_reg(1, PROBE)
            .key(Tag::ENTITY_IDENTIFIER, PROBE)
            .entity(PROBE, EntityProtocol::ISCSI)
            .node(PROBE, NodeType::INITIATOR),
    );
    let mut xid = 1u16;
    for e in 0..ENTITIES {
        for t in 0..PER_ENTITY {
            let target = format!("iqn.2026-01.bench.array{e:03}:target-{t:02}");
            let name = management_dd_name(DEFAULT_MANAGEMENT_DD, &target);
            // As the inventory does it: created empty, filled by DD_ID (isnsd 0.101 drops a
            // new DD's member that already belongs to another DD).
            xid = xid.wrapping_add(1);
            let id =
                call(Message::dd_reg(xid, PROBE, None).op(Tag::DD_SYMBOLIC_NAME, name.as_str()));
            xid = xid.wrapping_add(1);
            let _ = call(
                Message::dd_reg(xid, PROBE, Some(id))
                    .op(Tag::DD_MEMBER_ISCSI_NAME, PROBE)
                    .op(Tag::DD_MEMBER_ISCSI_NAME, target.as_str()),
            );
        }
    }
}

fn bench(c: &mut Criterion) {
    harness::require_program("isnsd");
    harness::require_program("isnsadm");
    let port = harness::free_tcp_port();
    // No protocol trace and an in-memory database: with either, isnsd spends most of each
    // request writing (its file database stores objects again on queries), and that would
    // be measured instead of the walk.
    let isnsd = harness::Peer::start(
        "isnsd",
        &[
            ("ISNSD_PORT", port.to_string()),
            ("ISNSD_DEBUG", String::new()),
            ("ISNSD_DATABASE", String::new()),
        ],
    );
    let server = SocketAddr::new(lo(), port);
    register_targets(server);
    create_management_dds(server);
    let conf = isnsd.var("ISNSADM_CONF").to_owned();
    let src = isnsd.var("ISNSADM_SOURCE").to_owned();
    let (ok, out, err) = harness::run(
        "isnsadm",
        &["-c", &conf, "--register", &format!("control={src}")],
        &[],
    );
    assert!(ok, "{out} {err}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("inventory_walk_isnsd");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(NODES as u64));

    // The first walk of a new session, each walk at 1 and 2 requests in flight (isnsd
    // 0.101 answers a deeper pipeline far more slowly: 50.3 s for the DevGetNext walk at 8
    // in flight, 2026-12-01).
    for (by_portal, depth) in [(false, 1), (false, 2), (true, 1), (true, 2)] {
        let (total, walk) = rt.block_on(async {
            let name = format!("iqn.2026-01.bench:walker-{by_portal}-{depth}");
            let mut cfg = ClientConfig::new(
                NodeName::new(name.as_str()).unwrap(),
                EntityId::new(format!("bench.walker.{by_portal}.{depth}")).unwrap(),
                lo(),
            );
            cfg.reconcile_interval = None;
            cfg.max_in_flight = depth;
            cfg.detail_by_portal = by_portal;
            let t0 = std::time::Instant::now();
            let (client, mut events) = IsnsClient::start(server, cfg, false).await.unwrap();
            let mut registered = t0;
            loop {
                match events.recv().await {
                    Some(Event::Registered(_)) => registered = std::time::Instant::now(),
                    Some(Event::Walked(s)) => {
                        assert!(s.targets().count() >= NODES);
                        assert!(s.dds.len() >= NODES);
                        assert!(s.entities.len() >= ENTITIES);
                        assert!(s.portals.len() >= ENTITIES);
                        break;
                    }
                    Some(_) => {}
                    None => panic!("client stopped"),
                }
            }
            let times = (t0.elapsed(), registered.elapsed());
            client.deregister_initiator(&name).await.unwrap();
            client.shutdown().await;
            times
        });
        println!(
            "inventory_walk: first {} walk of {NODES} nodes and {NODES} DDs, {depth} request(s) in flight: {:.3} s ({:.3} s with the registration)",
            if by_portal {
                "per-portal"
            } else {
                "per-target"
            },
            walk.as_secs_f64(),
            total.as_secs_f64()
        );
    }

    for by_portal in [true, false] {
        let (client, mut events) = rt.block_on(async {
            let mut cfg = ClientConfig::new(
                NodeName::new("iqn.2026-01.bench:walker").unwrap(),
                EntityId::new("bench.walker").unwrap(),
                lo(),
            );
            cfg.reconcile_interval = None;
            // As the inventory runs it (see InventoryConfig::isns_max_in_flight).
            cfg.max_in_flight = 2;
            cfg.detail_by_portal = by_portal;
            IsnsClient::start(server, cfg, false).await.unwrap()
        });
        let walk = |client: &IsnsClient,
                    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>| {
            rt.block_on(async {
                client.walk();
                loop {
                    match events.recv().await {
                        Some(Event::Walked(s)) => return s,
                        Some(_) => {}
                        None => panic!("client stopped"),
                    }
                }
            })
        };
        // The walk after registration.
        let first = walk(&client, &mut events);
        assert!(
            first.targets().count() >= NODES,
            "{}",
            first.targets().count()
        );
        let id = if by_portal {
            "isns_client_portal_walk_2000"
        } else {
            "isns_client_getnext_walk_2000"
        };
        g.bench_function(id, |b| {
            b.iter(|| {
                let s = walk(&client, &mut events);
                assert_eq!(s.targets().count(), NODES);
            });
        });
        // isnsd 0.101 segfaulted after an SCN to a departed listener timed out: deregister.
        rt.block_on(async {
            client
                .deregister_initiator("iqn.2026-01.bench:walker")
                .await
                .unwrap();
            client.shutdown().await;
        });
    }

    g.bench_function("isnsadm_list_nodes_2000", |b| {
        b.iter(|| {
            let (ok, out, err) = harness::run("isnsadm", &["-c", &conf, "--list", "nodes"], &[]);
            assert!(ok, "{err}");
            assert!(out.matches("iqn.2026-01.bench.array").count() >= NODES);
        });
    });

    let (inv, mut rx, mut engine) = rt.block_on(async {
        let mut cfg = InventoryConfig::new(server, "iqn.2026-01.bench:manager", lo(), PROBE);
        cfg.reconcile_interval = Duration::from_secs(3600);
        cfg.probe_timeout = Duration::from_secs(1);
        cfg.update_capacity = 8192;
        let (inv, rx) = Inventory::start(cfg).await.unwrap();
        let engine = Engine::new(EngineConfig::new(2026, 1, "bench.example").unwrap());
        (inv, rx, engine)
    });
    let synced = |rx: &mut tokio::sync::mpsc::Receiver<InventoryUpdate>, engine: &mut Engine| {
        rt.block_on(async {
            loop {
                let u = rx.recv().await.expect("inventory stopped");
                apply_update(engine, &u);
                if let InventoryUpdate::Synced { targets, .. } = u {
                    return targets;
                }
            }
        })
    };
    // The round after registration (everything already in place).
    assert_eq!(synced(&mut rx, &mut engine), NODES);
    g.bench_function("bcm_inventory_resync_2000", |b| {
        b.iter(|| {
            inv.resync();
            assert_eq!(synced(&mut rx, &mut engine), NODES);
        });
    });
    assert_eq!(engine.inventory().target_count(), NODES);
    rt.block_on(inv.shutdown());
    g.finish();
    drop(isnsd);
}

criterion_group!(benches, bench);
criterion_main!(benches);
