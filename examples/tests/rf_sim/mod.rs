//! `imm-sim` with Redfish on, for bcm's Redfish tests: started through the peer scripts,
//! read back with curl verifying its certificate.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness;

pub const PASSWORD: &str = "bcm-rf-Pw-31";
pub const NDF1: &str = "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1";
pub const SETTINGS: &str =
    "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1/Settings";

/// `imm-sim` with one BMC serving Redfish on HTTPS; stopped on drop.
pub struct RedfishSim {
    pub peer: harness::Peer,
    pub udp: SocketAddr,
    pub https: SocketAddr,
}

impl RedfishSim {
    pub fn free_ports() -> (SocketAddr, SocketAddr) {
        let udp = SocketAddr::from(([127, 0, 0, 1], harness::free_udp_port()));
        let tcp = SocketAddr::from(([127, 0, 0, 1], harness::free_tcp_port()));
        (udp, tcp)
    }

    pub fn start() -> Self {
        let tmp = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let (udp, https) = Self::free_ports();
        Self::start_in(tmp.path(), udp, https)
    }

    pub fn start_in(dir: &Path, udp: SocketAddr, https: SocketAddr) -> Self {
        let env = vec![
            (
                "IMM_SIM_BIN",
                harness::workspace_bin("imm-sim", "imm-sim")
                    .display()
                    .to_string(),
            ),
            ("IMM_SIM_BMCS", udp.to_string()),
            ("IMM_SIM_PASSWORD", PASSWORD.to_owned()),
            ("IMM_SIM_ARGS", format!("--redfish {https}")),
        ];
        let peer = harness::Peer::start_in_dir("imm-sim", dir, &env);
        let sim = Self { peer, udp, https };
        sim.wait_log(&format!("redfish on https://{https}"));
        sim
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.peer.var("IMM_SIM_LOG")).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("imm-sim log never showed {needle:?}:\n{}", self.log());
    }

    pub fn name(&self) -> String {
        format!("{}_{}", self.udp.ip(), self.udp.port())
    }

    pub fn cert(&self) -> PathBuf {
        PathBuf::from(self.peer.var("IMM_SIM_STATE_DIR"))
            .join(self.name())
            .join("redfish.pem")
    }

    pub fn render_dir(&self) -> PathBuf {
        PathBuf::from(self.peer.var("IMM_SIM_RENDER_DIR")).join(self.name())
    }

    /// curl with Basic auth, verifying the certificate: (status, headers, body).
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        harness::require_program("curl");
        let mut c = Command::new("curl");
        c.args(["-sS", "--cacert"]).arg(self.cert()).args([
            "-X",
            method,
            "-D",
            "-",
            "--max-time",
            "20",
            "-u",
            &format!("admin:{PASSWORD}"),
        ]);
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        c.arg(format!("https://{}{path}", self.https));
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, _, body) = self.curl("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
