//! tshark evidence: ipmitool (`-I lanplus -C 2`, integrity without confidentiality, so the
//! IPMI messages are visible) and our client talk to OpenIPMI `ipmi_sim` while tshark
//! captures loopback; the boot-option requests we send must equal ipmitool's byte for
//! byte, and Wireshark's RMCP+ dissector must find nothing malformed in our packets.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipmi_iscsi::bootopt::{
    BootFlags, BootInfoAck, BootParam, Pen, SetInProgress, get_request, set_request,
};
use ipmi_iscsi::driver::Client;
use ipmi_iscsi::ipmi::{Addressing, NetFn, Request, RequestFrame};
use ipmi_iscsi::rmcp::{CipherSuite, ClientConfig, Password};

struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(dir: &std::path::Path, port: u16) -> Capture {
        harness::require_program("tshark");
        let file = dir.join("rmcp.pcapng");
        let child = Command::new("tshark")
            .args(["-i", "lo", "-f", &format!("udp port {port}"), "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tshark");
        // tshark creates the file once the capture runs.
        let t0 = Instant::now();
        while !file.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "tshark did not start capturing"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        Capture { child, file }
    }

    /// Stops the capture; returns (source port, destination port, udp payload) per packet.
    fn finish(mut self, port: u16) -> Vec<(u16, u16, Vec<u8>)> {
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let file = self.file.to_string_lossy().into_owned();
        let decode_as = format!("udp.port=={port},rmcp");
        let (ok, out, err) = harness::run(
            "tshark",
            &[
                "-r",
                &file,
                "-d",
                &decode_as,
                "-T",
                "fields",
                "-e",
                "udp.srcport",
                "-e",
                "udp.dstport",
                "-e",
                "udp.payload",
            ],
            &[],
        );
        assert!(ok, "tshark -r failed: {err}");
        out.lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let s = f.next()?.parse().ok()?;
                let d = f.next()?.parse().ok()?;
                let h = f.next()?;
                let bytes = (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                    .collect();
                Some((s, d, bytes))
            })
            .collect()
    }
}

/// Frames from `src` that Wireshark's dissector matches with `filter` (decoded as RMCP).
fn dissected(file: &std::path::Path, port: u16, src: u16, filter: &str) -> Vec<String> {
    let file = file.to_string_lossy().into_owned();
    let (ok, out, err) = harness::run(
        "tshark",
        &[
            "-r",
            &file,
            "-d",
            &format!("udp.port=={port},rmcp"),
            "-Y",
            &format!("udp.srcport=={src} && ({filter})"),
        ],
        &[],
    );
    assert!(ok, "tshark -r failed: {err}");
    out.lines().map(str::to_owned).collect()
}

/// The plaintext IPMI request messages of authenticated, unencrypted session packets sent
/// from `src` to the BMC.
fn session_requests(packets: &[(u16, u16, Vec<u8>)], src: u16, bmc: u16) -> Vec<Vec<u8>> {
    packets
        .iter()
        .filter(|(s, d, b)| *s == src && *d == bmc && b.len() > 16 && b[4] == 0x06 && b[5] == 0x40)
        .filter(|(_, _, b)| b[10..14] != [0, 0, 0, 0])
        .map(|(_, _, b)| {
            let n = usize::from(u16::from_le_bytes([b[14], b[15]]));
            b[16..16 + n].to_vec()
        })
        .collect()
}

fn chassis_only(msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    msgs.iter()
        .filter(|m| RequestFrame::decode(m).is_ok_and(|f| f.netfn == NetFn::CHASSIS))
        .cloned()
        .collect()
}

#[test]
fn boot_option_requests_equal_ipmitools_bytes_in_a_tshark_capture() {
    harness::require_program("ipmi_sim");
    harness::require_program("ipmitool");
    let port = harness::free_udp_port();
    let peer = harness::Peer::start("ipmi-sim", &[("IPMI_SIM_PORT", port.to_string())]);
    let cap = Capture::start(&peer.dir, port);

    // ipmi_sim refuses parameters 4-7 with 0xCC; the requests are what we compare.
    let tool = |args: &[&str]| harness::ipmitool_lan(port, "admin", "password", Some(2), args);
    tool(&["chassis", "bootparam", "get", "5"]);
    tool(&["chassis", "bootdev", "pxe", "options=efiboot"]);
    tool(&["chassis", "bootmbox", "set", "text", "343", "hello"]);

    // Our client, same requests, suite 2 so the capture shows plaintext.
    // The same requests built with the crate's boot-option encoders.
    let mut mailbox_block0 = vec![0x00];
    mailbox_block0.extend_from_slice(&Pen::new(343).unwrap().to_bytes());
    mailbox_block0.extend_from_slice(b"hello\0");
    let ours: Vec<Request> = vec![
        get_request(BootParam::BOOT_FLAGS, 0, 0),
        set_request(
            BootParam::SET_IN_PROGRESS,
            &SetInProgress::InProgress.encode(),
        ),
        set_request(
            BootParam::BOOT_INFO_ACK,
            &BootInfoAck::IPMITOOL_CLEAR_BIOS.encode(),
        ),
        set_request(
            BootParam::BOOT_FLAGS,
            &BootFlags::network_boot(false, true).encode(),
        ),
        set_request(
            BootParam::SET_IN_PROGRESS,
            &SetInProgress::InProgress.encode(),
        ),
        set_request(BootParam::BOOT_INITIATOR_MAILBOX, &mailbox_block0),
    ];
    let our_port = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut cfg = ClientConfig::new("admin", Password::new("password").unwrap());
            cfg.suites = vec![CipherSuite::SUITE_2];
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut c = Client::connect(addr, cfg, Duration::from_secs(10))
                .await
                .unwrap();
            for r in &ours {
                c.execute(r.clone()).await.unwrap();
            }
            let local = c.local_addr().unwrap().port();
            c.close().await.unwrap();
            local
        });
    let file = cap.file.clone();
    let packets = cap.finish(port);

    let mut sources: Vec<u16> = packets
        .iter()
        .filter(|(_, d, _)| *d == port)
        .map(|(s, _, _)| *s)
        .collect();
    sources.dedup();
    sources.retain(|s| *s != our_port);
    let theirs: Vec<Vec<u8>> = sources
        .iter()
        .flat_map(|s| chassis_only(&session_requests(&packets, *s, port)))
        .collect();
    let mine = chassis_only(&session_requests(&packets, our_port, port));
    assert_eq!(mine.len(), ours.len(), "our requests in the capture");
    assert_eq!(
        theirs.len(),
        ours.len(),
        "ipmitool's chassis requests: {theirs:02x?}"
    );
    for (t, m) in theirs.iter().zip(&mine) {
        let tf = RequestFrame::decode(t).unwrap();
        let mf = RequestFrame::decode(m).unwrap();
        assert_eq!(
            (tf.netfn, tf.lun, tf.cmd, tf.data),
            (mf.netfn, mf.lun, mf.cmd, mf.data)
        );
        // Same framing byte for byte once the request sequence number is aligned.
        let mut re = Vec::new();
        mf.to_request()
            .encode(
                Addressing {
                    rq_seq: tf.addressing.rq_seq,
                    ..mf.addressing
                },
                &mut re,
            )
            .unwrap();
        assert_eq!(&re, t);
    }
    // Wireshark's RMCP+ dissector recognises our session set-up and finds nothing wrong.
    let rakp = dissected(&file, port, our_port, "rmcp");
    assert!(
        rakp.iter().any(|l| l.contains("RAKP Message 1")),
        "{rakp:?}"
    );
    assert!(
        rakp.iter().any(|l| l.contains("RAKP Message 3")),
        "{rakp:?}"
    );
    let flagged = dissected(
        &file,
        port,
        our_port,
        "_ws.malformed || _ws.expert.severity >= warning",
    );
    assert!(
        flagged.is_empty(),
        "wireshark flags our packets: {flagged:?}"
    );
}
