//! Real IPv4 multicast (239.255.255.253:427) inside a network namespace created and removed
//! by each test: the test re-runs itself under `ip netns exec` (its body runs only there),
//! so nothing touches the host's port 427. Needs root and `ip` (iproute2).

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use slp_proto::agent::{SLP_MULTICAST_V4, SLP_PORT, Timing};
use slp_proto::driver::{
    DiscoveryOptions, MulticastListen, SaHandle, SaOptions, discover, spawn_service_agent,
};
use slp_proto::sa::{Registration, SaConfig};

const CHILD: &str = "SLP_NETNS_CHILD";

/// A network namespace with `lo` up, multicast-capable and routed; deleted on drop.
struct Netns {
    name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn create(tag: &str) -> Netns {
        harness::require_program("ip");
        let name = format!("slp-{tag}-{}", std::process::id());
        ip(&["netns", "add", &name]);
        // The guard exists before any further step can fail.
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "multicast", "on"]);
        ip(&["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", "lo"]);
        ns
    }

    /// Runs test `test` of this binary inside the namespace; fails unless it ran and passed.
    fn run_test_inside(&self, test: &str) {
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(exe)
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env(CHILD, &self.name)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "inside {}:\n{stdout}\n{stderr}",
            self.name
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn inside() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn v4(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

async fn multicast_sa(last: u8, scope: &str, reg: Registration) -> SaHandle {
    let mut sa = SaConfig::new(IpAddr::V4(v4(last)));
    sa.scopes = vec![scope.to_owned()];
    spawn_service_agent(SaOptions {
        sa,
        registrations: vec![reg],
        bind: SocketAddr::new(IpAddr::V4(v4(last)), SLP_PORT),
        multicast: Some(MulticastListen {
            group: SLP_MULTICAST_V4,
            port: SLP_PORT,
            interface: Ipv4Addr::LOCALHOST,
        }),
        xid_seed: Some(u16::from(last)),
    })
    .await
    .unwrap()
}

fn multicast_ua() -> DiscoveryOptions {
    let mut o = DiscoveryOptions::isns();
    o.bind = "127.0.0.1:0".parse().unwrap();
    o.multicast_interface = Some(Ipv4Addr::LOCALHOST);
    o.ua.timing = Timing {
        retry: Duration::from_millis(150),
        mc_max: Duration::from_secs(5),
        retry_max: Duration::from_secs(2),
    };
    o
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn multicast_convergence_finds_every_matching_sa_in_a_network_namespace() {
    if !inside() {
        return Netns::create("conv").run_test_inside(
            "multicast_convergence_finds_every_matching_sa_in_a_network_namespace",
        );
    }
    runtime().block_on(async {
        let isns = |last: u8, prio| {
            Registration::isns_server(SocketAddr::new(IpAddr::V4(v4(last)), 3205), Some(prio), 300)
        };
        let snmp = Registration {
            url: "service:iscsi:sms://127.0.0.5:161".into(),
            service_type: "service:iscsi:sms".into(),
            attrs: "(protocols=snmp)".into(),
            lifetime: 300,
        };
        let sas = [
            multicast_sa(2, "DEFAULT", isns(2, 2)).await,
            multicast_sa(3, "DEFAULT", isns(3, 0)).await,
            // open-isns registers in the literal scope "initiator-scope-list".
            multicast_sa(4, "initiator-scope-list", isns(4, 1)).await,
            multicast_sa(5, "DEFAULT", snmp).await,
            multicast_sa(6, "elsewhere", isns(6, 0)).await,
        ];
        let report = discover(multicast_ua()).await.unwrap();
        let urls: Vec<&str> = report.services.iter().map(|d| d.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "service:iscsi:sms://127.0.0.3:3205",
                "service:iscsi:sms://127.0.0.4:3205",
                "service:iscsi:sms://127.0.0.2:3205"
            ],
            "{:?}",
            report.events
        );
        let responders: Vec<SocketAddr> = report.services.iter().map(|d| d.responder).collect();
        assert_eq!(
            responders,
            [v4(3), v4(4), v4(2)].map(|a| SocketAddr::new(IpAddr::V4(a), SLP_PORT))
        );
        assert_eq!(report.services[1].scope, "initiator-scope-list");
        for sa in sas {
            sa.shutdown().await;
        }
    });
}

#[test]
fn pyslp_answers_our_multicast_request_in_a_network_namespace() {
    if !inside() {
        return Netns::create("pyslp")
            .run_test_inside("pyslp_answers_our_multicast_request_in_a_network_namespace");
    }
    let peer = harness::Peer::start(
        "slp-peer",
        &[
            ("SLP_PEER_PORT", SLP_PORT.to_string()),
            ("SLP_PEER_BIND", "127.0.0.2".into()),
            ("SLP_PEER_MULTICAST", SLP_MULTICAST_V4.to_string()),
            ("SLP_PEER_REGISTER", "service:iscsi:sms://127.0.0.2:3205|service:iscsi:sms|(protocols=isns),(server-priority=5)|300".into()),
        ],
    );
    runtime().block_on(async {
        let ours = multicast_sa(
            3,
            "DEFAULT",
            Registration::isns_server("127.0.0.3:3205".parse().unwrap(), Some(1), 300),
        )
        .await;
        let mut ua = multicast_ua();
        ua.ua.scopes = vec!["DEFAULT".into()];
        let report = discover(ua).await.unwrap();
        let urls: Vec<&str> = report.services.iter().map(|d| d.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "service:iscsi:sms://127.0.0.3:3205",
                "service:iscsi:sms://127.0.0.2:3205"
            ],
            "{:?}",
            report.events
        );
        // pyslp's attributes came from the AttrRqst our UA sent it.
        assert_eq!(report.services[1].priority, Some(5));
        ours.shutdown().await;
    });
    let log = std::fs::read_to_string(peer.var("SLP_PEER_LOG")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.starts_with("IN ") && l.contains(" 0201")),
        "pyslp saw no SrvRqst:\n{log}"
    );
}
