//! Wireshark's iSCSI dissector (tshark) reads every PDU a probe and a discovery exchange with
//! real tgtd: our requests decode as the opcodes and SCSI commands we meant, and no frame
//! carries a warning or error from the dissectors. The capture also shows tgtd's UNIT ATTENTION
//! on the first READ CAPACITY per LUN, which the probe retries.

#[rustfmt::skip]
#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use iscsi_probe::{Auth, discover, probe};

const TARGET: &str = "iqn.2026-01.test.tgt:wire";
const INITIATOR: &str = "iqn.2026-01.test.bcm:wire";

fn tshark_fields(file: &str, port: u16, filter: &str, field: &str) -> Vec<String> {
    let decode_as = format!("tcp.port=={port},iscsi");
    let (ok, out, err) = harness::run(
        "tshark",
        &[
            "-r", file, "-d", &decode_as, "-Y", filter, "-T", "fields", "-e", field,
        ],
        &[],
    );
    assert!(ok, "tshark failed: {err}");
    out.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn tshark_decodes_every_pdu_of_a_probe_and_a_discovery_without_warnings() {
    harness::require_program("tshark");
    harness::require_program("tgtd");
    let port = harness::free_tcp_port();
    let tgtd = harness::Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", port.to_string()),
            ("TGTD_TARGETS", TARGET.to_owned()),
            ("TGTD_LUN_SIZES", "32M 1G".to_owned()),
        ],
    );
    let file = tgtd.dir.join("probe.pcapng").to_string_lossy().into_owned();
    let mut capture = Command::new("tshark")
        .args([
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port}"),
            "-w",
            &file,
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    // tshark prints "Capturing on 'Loopback: lo'" once the capture runs.
    let mut stderr = capture.stderr.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while stderr.read(&mut byte).unwrap_or(0) == 1 {
            seen.push(byte[0]);
            if String::from_utf8_lossy(&seen).contains("Capturing on") {
                return (true, stderr);
            }
        }
        (false, stderr)
    });
    let (started, _stderr) = tokio::time::timeout(Duration::from_secs(20), ready)
        .await
        .expect("tshark did not start capturing")
        .unwrap();
    assert!(started, "tshark exited before capturing");
    // dumpcap announces the interface a moment before packets are really recorded.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let portal = SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_secs(10);
    let report = probe(portal, TARGET, INITIATOR, &Auth::None, timeout)
        .await
        .unwrap();
    assert_eq!(report.luns.len(), 3);
    let targets = discover(portal, INITIATOR, &Auth::None, timeout)
        .await
        .unwrap();
    assert_eq!(targets.len(), 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // tshark flushes what it has captured when terminated.
    let _ = Command::new("kill").arg(capture.id().to_string()).status();
    let _ = capture.wait();

    let ours = format!("iscsi and tcp.dstport == {port}");
    let mut opcodes = tshark_fields(&file, port, &ours, "iscsi.opcode");
    opcodes.sort();
    opcodes.dedup();
    // Login, SCSI Command, Text (SendTargets), Logout.
    assert_eq!(opcodes, ["0x01", "0x03", "0x04", "0x06"], "{opcodes:?}");
    let mut cdbs = tshark_fields(&file, port, &ours, "scsi.spc.opcode");
    cdbs.extend(tshark_fields(&file, port, &ours, "scsi_sbc.opcode"));
    let has = |op: &str| cdbs.iter().any(|c| c == op);
    assert!(
        has("0xa0") && has("0x12") && has("0x9e"),
        "CDB opcodes seen: {cdbs:?}"
    );
    // tgtd answers the first READ CAPACITY on each LUN of a new I_T nexus with UNIT ATTENTION
    // (POWER ON, RESET: 29h/00h); the probe retried and still learnt every size.
    let ua = tshark_fields(&file, port, "scsi.sns.key == 0x06", "scsi.sns.asc");
    assert!(
        ua.iter().all(|asc| asc == "0x29") && !ua.is_empty(),
        "UA sense seen: {ua:?}"
    );
    assert!(
        report.luns[1..].iter().all(|l| l.size_bytes().is_some()),
        "{report:?}"
    );
    let warnings = tshark_fields(
        &file,
        port,
        "_ws.malformed or _ws.expert.severity >= 0x00600000",
        "_ws.expert.message",
    );
    assert!(warnings.is_empty(), "tshark warnings: {warnings:?}");
}
