//! Shared helpers of the `redfish_*` tests: `imm-sim` with Redfish on, and clients that
//! verify its certificate (curl with `--cacert`, DMTF's Python tools through
//! `REQUESTS_CA_BUNDLE`), never `--insecure`.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness;
use crate::imm_common::{ImmSim, PASSWORD, free_udp_range};

/// The iSCSI-capable function and its settings object.
pub const NDF1: &str = "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1";
/// The settings object of [`NDF1`].
pub const SETTINGS: &str =
    "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1/Settings";
/// The reset action.
pub const RESET: &str = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";

/// A running `imm-sim` with one BMC serving Redfish.
pub struct RedfishSim {
    /// The IPMI side.
    pub sim: ImmSim,
    /// The Redfish address.
    pub https: SocketAddr,
}

impl RedfishSim {
    /// Free ports for one BMC: (RMCP+ UDP, Redfish TCP).
    pub fn free_ports() -> (SocketAddr, SocketAddr) {
        let udp = SocketAddr::from(([127, 0, 0, 1], free_udp_range(1)));
        let tcp = SocketAddr::from(([127, 0, 0, 1], harness::free_tcp_port()));
        (udp, tcp)
    }

    /// One BMC, Redfish on a free TCP port.
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// One BMC, Redfish on a free TCP port, with more flags.
    pub fn start_with(extra_args: &str) -> Self {
        let base = free_udp_range(1);
        let port = harness::free_tcp_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], base));
        let sim = ImmSim::start(
            &format!("127.0.0.1:{base}"),
            vec![addr],
            &format!("--redfish 127.0.0.1:{port} {extra_args}"),
        );
        Self::wrap(sim, port)
    }

    /// Restarts in `dir` (state kept) with the same ports.
    pub fn start_in(dir: &Path, udp: SocketAddr, https: SocketAddr) -> Self {
        let sim = ImmSim::start_in(
            dir,
            &udp.to_string(),
            vec![udp],
            &format!("--redfish {https}"),
        );
        Self::wrap(sim, https.port())
    }

    fn wrap(sim: ImmSim, port: u16) -> Self {
        let https = SocketAddr::from(([127, 0, 0, 1], port));
        let log = sim.wait_log(&format!("redfish on https://{https}"));
        assert!(log.contains("imm-sim ready"), "{log}");
        Self { sim, https }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.https)
    }

    /// The BMC's certificate (written at start).
    pub fn cert(&self) -> PathBuf {
        PathBuf::from(self.sim.peer.var("IMM_SIM_STATE_DIR"))
            .join(ImmSim::name(self.sim.addr()))
            .join("redfish.pem")
    }

    /// A DMTF Python tool run with the BMC's certificate as the only trusted one.
    pub fn python_tool(&self, program: &str, args: &[&str]) -> Output {
        harness::require_program(program);
        Command::new(program)
            .args(args)
            .env("REQUESTS_CA_BUNDLE", self.cert())
            .env_remove("CURL_CA_BUNDLE")
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// `-r URL -u admin -p PASSWORD`, the DMTF tools' common flags.
    pub fn tool_login(&self) -> Vec<String> {
        vec![
            "-r".into(),
            self.url(),
            "-u".into(),
            "admin".into(),
            "-p".into(),
            PASSWORD.into(),
        ]
    }

    /// curl `method path` with Basic auth (when `auth`), `body` and extra headers; returns
    /// (status, response headers, body).
    pub fn curl_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[&str],
        auth: bool,
    ) -> (u16, String, String) {
        harness::require_program("curl");
        let mut c = Command::new("curl");
        c.args(["-sS", "--cacert"]).arg(self.cert()).args([
            "-X",
            method,
            "-D",
            "-",
            "--max-time",
            "20",
        ]);
        if auth {
            c.args(["-u", &format!("admin:{PASSWORD}")]);
        }
        for h in headers {
            c.args(["-H", h]);
        }
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        c.arg(format!("{}{path}", self.url()));
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "curl {method} {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head}"));
        (status, head.to_owned(), body.to_owned())
    }

    /// curl as `user`:`password` (Basic).
    pub fn curl_as(
        &self,
        user: &str,
        password: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, String, String) {
        let auth = format!(
            "Authorization: Basic {}",
            base64(&format!("{user}:{password}"))
        );
        self.curl_with(method, path, body, &[&auth], false)
    }

    /// curl as the administrator.
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        self.curl_with(method, path, body, &[], true)
    }

    /// GET `path` as JSON, asserting 200.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, _, body) = self.curl("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// One header's value from curl's header block (name case-insensitive).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The `MessageId` of the first `@Message.ExtendedInfo` entry of an error body.
pub fn message_id(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["@Message.ExtendedInfo"][0]["MessageId"]
        .as_str()
        .unwrap_or_else(|| panic!("no MessageId in {body}"))
        .to_owned()
}

/// A settings PATCH body: static initiator, VLAN, two targets, mutual CHAP.
pub fn iscsi_patch(target: &str, port: u16, lun: u16) -> String {
    serde_json::json!({
        "BootMode": "iSCSI",
        "iSCSIBoot": {
            "IPAddressType": "IPv4",
            "InitiatorName": "iqn.2026-12.test.redfish:init",
            "InitiatorIPAddress": "10.0.7.20",
            "InitiatorNetmask": "255.255.255.0",
            "InitiatorDefaultGateway": "10.0.7.1",
            "IPMaskDNSViaDHCP": false,
            "PrimaryDNS": "10.0.7.2",
            "PrimaryTargetName": "iqn.2026-12.test.redfish:disk",
            "PrimaryTargetIPAddress": target,
            "PrimaryTargetTCPPort": port,
            "PrimaryLUN": lun,
            "PrimaryVLANEnable": true,
            "PrimaryVLANId": 70,
            "SecondaryTargetName": "iqn.2026-12.test.redfish:mirror",
            "SecondaryTargetIPAddress": "10.0.7.31",
            "SecondaryTargetTCPPort": 3260,
            "SecondaryLUN": 2,
            "SecondaryVLANEnable": true,
            "SecondaryVLANId": 70,
            "AuthenticationMethod": "MutualCHAP",
            "CHAPUsername": "rf-init",
            "CHAPSecret": "rf-secret-0001",
            "MutualCHAPUsername": "rf-target",
            "MutualCHAPSecret": "rf-mutual-0002",
        }
    })
    .to_string()
}

/// Standard base64 (RFC 4648 §4), for Basic credentials.
pub fn base64(text: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
