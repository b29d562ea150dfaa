//! Wireshark's SRVLOC dissector (tshark) decodes what we put on the wire: a live capture on
//! `lo` of our user agent, our service agent and its SrvReg to pyslp (acting as DA), read
//! back with `-d udp.port==P,srvloc`, must show SrvRqst, SrvRply, SrvReg, SrvAck, AttrRqst,
//! AttrRply and the RFC 3059 extension with no malformed packet and no expert warning.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slp_proto::agent::Timing;
use slp_proto::driver::{DiscoveryOptions, SaOptions, discover, spawn_service_agent};
use slp_proto::sa::{Registration, SaEvent};

/// A running `tshark -i lo -w FILE`, stopped with SIGINT (and reaped) on drop.
struct Capture {
    child: std::process::Child,
}

impl Capture {
    fn start(filter: &str, file: &std::path::Path) -> Capture {
        harness::require_program("tshark");
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-f", filter, "-w"])
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let cap = Capture { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("tshark did not start capturing");
            if line.contains("Capturing on") {
                break;
            }
        }
        // dumpcap announces the interface slightly before its filter is attached.
        std::thread::sleep(Duration::from_millis(1000));
        cap
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tshark_read(file: &std::path::Path, ports: &[u16], extra: &[&str]) -> String {
    let mut args: Vec<String> = vec!["-r".into(), file.to_string_lossy().into_owned()];
    for p in ports {
        args.push("-d".into());
        args.push(format!("udp.port=={p},srvloc"));
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = Command::new("tshark").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_decodes_our_slp_traffic_without_warnings() {
    harness::require_program("python3");
    let da_port = harness::free_udp_port();
    let sa_port = harness::free_udp_port();
    let _da = harness::Peer::start("slp-peer", &[("SLP_PEER_PORT", da_port.to_string())]);
    let dir = std::env::temp_dir().join(format!("slp-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slp.pcapng");
    let mut cap = Capture::start(&format!("udp port {da_port} or udp port {sa_port}"), &file);

    let isns: SocketAddr = "127.0.0.1:3205".parse().unwrap();
    let mut opts = SaOptions::isns_server(isns, SocketAddr::from(([127, 0, 0, 1], sa_port)));
    opts.registrations = vec![Registration::isns_server(isns, Some(0), 600)];
    opts.sa.directory_agents = vec![SocketAddr::from(([127, 0, 0, 1], da_port))];
    let sa = spawn_service_agent(opts).await.unwrap();
    let mut registered = false;
    for _ in 0..100 {
        registered |= sa
            .events()
            .iter()
            .any(|e| matches!(e, SaEvent::Registered { .. }));
        if registered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(registered, "pyslp did not acknowledge our SrvReg");
    for extension in [true, false] {
        let mut ua = DiscoveryOptions::isns();
        ua.bind = "127.0.0.1:0".parse().unwrap();
        ua.multicast_target = sa.local_addr();
        ua.ua.scopes = vec!["DEFAULT".into()];
        ua.ua.attr_list_extension = extension;
        ua.ua.timing = Timing {
            retry: Duration::from_millis(100),
            mc_max: Duration::from_secs(3),
            retry_max: Duration::from_secs(2),
        };
        assert_eq!(discover(ua).await.unwrap().services.len(), 1);
    }
    sa.shutdown().await;
    // Let the last datagrams reach the capture before stopping it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cap.stop();

    let ports = [da_port, sa_port];
    let functions = tshark_read(&file, &ports, &["-T", "fields", "-e", "srvloc.function"]);
    let seen: std::collections::BTreeSet<&str> = functions
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for f in ["1", "2", "3", "5", "6", "7"] {
        assert!(seen.contains(f), "function {f} not decoded; saw {seen:?}");
    }
    let verbose = tshark_read(&file, &ports, &["-V"]);
    assert!(
        !verbose.contains("Malformed"),
        "malformed packet:\n{verbose}"
    );
    assert!(verbose.contains("service:iscsi:sms://127.0.0.1:3205"));
    assert!(verbose.contains("(protocols=isns),(server-priority=0)"));
    let expert = tshark_read(&file, &ports, &["-q", "-z", "expert,warn"]);
    assert!(
        !expert.contains("Warns") && !expert.contains("Errors"),
        "expert infos:\n{expert}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
