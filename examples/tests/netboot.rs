//! Network boot served by `bcm serve` (issue 18), end to end against real peers: isnsd,
//! tgtd (iSNS access control, CHAP through the hook), the pyghmi-based `bmc-sim.py` as a
//! BMC that implements nothing of ours, and QEMU VMs (TCG) whose iPXE ROM is pointed by
//! QEMU's DHCP at the boot listener's entry script.
//!
//! The BMC step in boot mode `pxe` writes only the standard boot flags (force PXE) and a
//! chassis power cycle. bmc-sim has no host behind it: it accepts the chassis control, and
//! the test starting the VM afterwards stands in for the power-on. The VM's SMBIOS UUID
//! (`-uuid`) is the GUID bmc-sim reports; the manager is told neither, so the boot script
//! is found only through the UUID it decoded from Get System GUID (SMBIOS byte order),
//! which proves that byte order against what iPXE prints as `${uuid}`.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipmi_iscsi::render::decode_ibft;
use lab::{Lab, LabSpec, curl};
use serde_json::Value;

const TARGET: &str = "iqn.2026-12.netboot.storage:disk";
/// Field bytes chosen so that any byte-order mistake gives another UUID.
const VM_UUID: &str = "5a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const STRANGER_UUID: &str = "0badc0de-1111-4222-8333-444455556666";
const BMC_PASSWORD: &str = "netbootBmcPw";

struct Vm {
    child: Child,
    serial: PathBuf,
}

impl Vm {
    fn start(boot_url: &str, uuid: &str, serial: PathBuf) -> Vm {
        let _ = std::fs::remove_file(&serial);
        let child = Command::new("bash")
            .arg(harness::repo_root().join("scripts/vm/run-netboot-vm.sh"))
            .args([boot_url, uuid])
            .arg(&serial)
            // No bound in the script: the test bounds every wait, and QEMU is then the
            // child itself, ended by its own process ID.
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Vm { child, serial }
    }

    fn serial(&self) -> String {
        std::fs::read_to_string(&self.serial).unwrap_or_default()
    }

    /// Waits until the serial log contains `needle` (true) or QEMU exits (false).
    fn wait_for(&mut self, needle: &str, bound: Duration) -> bool {
        let t0 = Instant::now();
        loop {
            if self.serial().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.serial().contains(needle);
            }
            assert!(
                t0.elapsed() < bound,
                "the vm neither showed {needle:?} nor stopped within {bound:?}:\n{}",
                self.serial()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for QEMU to exit by itself (a failed boot ends it: `-no-reboot`).
    fn wait_exit(&mut self, bound: Duration) {
        let t0 = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            assert!(
                t0.elapsed() < bound,
                "qemu still running after {bound:?}:\n{}",
                self.serial()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn bmc_state(bmc: &harness::Peer) -> Value {
    serde_json::from_str(&std::fs::read_to_string(bmc.var("BMC_SIM_STATE")).unwrap()).unwrap()
}

fn assignment(lab: &Lab) -> Value {
    let (code, body) = lab.curl("GET", "/v1/assignments/server-0", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_standard_bmc_force_pxe_boots_the_vm_from_its_lun_through_bcm_serve() {
    for p in ["qemu-system-x86_64", "nasm", "python3"] {
        harness::require_program(p);
    }
    let bmc_port = harness::free_udp_port();
    let boot_port = harness::free_tcp_port();
    let sessions_hook = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![("127.0.0.1".to_owned(), vec![format!("{TARGET}=32M")])],
        bmcs: 1,
        chap: true,
        bmc_overrides: vec![(0, format!("127.0.0.1:{bmc_port}"))],
        // Appended right after `[[server]] server-0`: its keys first, then `[boot]`.
        extra_config: format!(
            "boot = \"pxe\"\nportal_address = \"10.0.2.2\"\nbmc_password = {{ value = \"{BMC_PASSWORD}\" }}\n\n\
             [boot]\nlisten = \"127.0.0.1:{boot_port}\"\nkeep_san = true\nrate = 20\nburst = 40\n\
             sessions_command = [\"{}\"]\nsessions_interval = \"300ms\"\n",
            sessions_hook.display()
        ),
        ..LabSpec::default()
    });
    // The sessions command: every tgtd's I_T nexus list (one tgtd here).
    std::fs::write(
        &sessions_hook,
        format!(
            "#!/bin/sh\nTGT_IPC_SOCKET={} exec {}\n",
            lab.tgtds[0].var("TGT_IPC_SOCKET"),
            harness::repo_root()
                .join("scripts/peers/tgt-sessions.sh")
                .display()
        ),
    )
    .unwrap();
    lab::run_ok("chmod", &["+x", sessions_hook.to_str().unwrap()]);
    harness::write_boot_sector(&lab.tgtds[0].dir, "netboot-disk");
    let bmc = harness::Peer::start(
        "bmc-sim",
        &[
            ("BMC_PORT", bmc_port.to_string()),
            ("BMC_PASSWORD", BMC_PASSWORD.to_owned()),
            ("BMC_GUID", VM_UUID.to_owned()),
        ],
    );
    lab.serve();
    let boot = format!("http://127.0.0.1:{boot_port}");
    // What the VM's DHCP names; inside the VM the host's loopback is 10.0.2.2.
    let vm_url = format!("http://10.0.2.2:{boot_port}/boot.ipxe");

    // The boot listener serves no API and no metrics.
    for path in ["/health", "/metrics", "/v1/assignments"] {
        let (ok, code, _, err) = curl(&format!("{boot}{path}"), "GET", None);
        assert!(ok, "{err}");
        assert_eq!(code, 404, "{path} on the boot listener");
    }
    let (_, code, entry, _) = curl(&format!("{boot}/boot.ipxe"), "GET", None);
    assert_eq!(code, 200);
    assert!(entry.starts_with("#!ipxe\n"), "{entry}");
    assert!(entry.contains("machine.ipxe?uuid=${uuid}&mac=${net0/mac:hexhyp}"));

    // Provision: the BMC step is force PXE and a power cycle, nothing of ours.
    let (code, resp) = lab.curl(
        "POST",
        "/v1/boot-requests",
        Some(r#"{"request_id":"nb-1","server":"server-0","size":"16MiB","power_cycle":true}"#),
    );
    assert_eq!(code, 201, "{resp}\n{}", lab.serve_log());
    let report: Value = serde_json::from_str(&resp).unwrap();
    let bmc_step = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "configure BMC")
        .unwrap_or_else(|| panic!("no BMC step: {resp}"))
        .to_string();
    assert!(
        bmc_step.contains("force PXE boot")
            && bmc_step.contains("power cycled")
            && bmc_step.contains(&format!("system uuid {VM_UUID}")),
        "{bmc_step}"
    );
    let state = bmc_state(&bmc);
    // Parameter 5: valid + persistent, device PXE (IPMI v2.0 table 28-14).
    assert_eq!(state["params"]["5"], "c004000000", "{state}");
    let written: Vec<String> = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["data"].as_str().unwrap()[..2].to_owned())
        .collect();
    assert_eq!(written, ["05"], "only the boot flags were written: {state}");
    let a = assignment(&lab);
    assert_eq!(a["boot"]["mode"], "pxe");
    assert_eq!(a["boot"]["summary"], "not booted yet");
    let initiator = a["initiator"].as_str().unwrap().to_owned();

    // A curl with the VM's identity sees the full script (as the VM will).
    let (_, code, script, _) = curl(
        &format!("{boot}/machine.ipxe?uuid={VM_UUID}&mac=52-54-00-12-34-56"),
        "GET",
        None,
    );
    assert_eq!(code, 200);
    assert!(
        script.contains(&format!("set initiator-iqn {initiator}"))
            && script.contains("set username ")
            && script.contains("set password ")
            && script.contains("set keep-san 1\nsanboot iscsi:10.0.2.2::")
            && script.contains(&format!(":1:{TARGET}\n")),
        "{script}"
    );
    let secret_line = script
        .lines()
        .find(|l| l.starts_with("set password "))
        .unwrap()
        .to_owned();
    let secret = secret_line.trim_start_matches("set password ").to_owned();

    // The power-on: the VM boots from the network.
    let mut vm = Vm::start(&vm_url, VM_UUID, lab.path().join("vm1-serial.log"));
    assert!(
        vm.wait_for("BCM-BOOT-OK label=netboot-disk", Duration::from_secs(150)),
        "the vm did not boot its LUN:\n{}\n--- bcm serve:\n{}",
        vm.serial(),
        lab.serve_log()
    );
    let serial = vm.serial();
    let published = serial
        .lines()
        .find_map(|l| l.trim().strip_prefix("IBFT-HEX "))
        .unwrap_or_else(|| panic!("no IBFT-HEX line:\n{serial}"));
    let ibft = decode_ibft(&hex(published.trim())).expect("iPXE's iBFT decodes");
    assert_eq!(ibft.initiator_name.as_deref(), Some(initiator.as_str()));
    let t = &ibft.targets[0];
    assert_eq!(t.name.as_deref(), Some(TARGET));
    assert_eq!(t.lun.to_bytes(), [0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(t.ip, Some("10.0.2.2".parse().unwrap()));
    assert_eq!(t.chap_name.as_deref(), a["chap_user"].as_str());

    // bcm confirms the boot: the script fetch, then the login tgtd lists.
    let t0 = Instant::now();
    let confirmed = loop {
        let a = assignment(&lab);
        if a["boot"]["logged_in_ms"].is_i64() {
            break a;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no boot confirmation: {a}\n{}",
            lab.serve_log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let summary = confirmed["boot"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("script fetched at ") && summary.contains(", logged in at "),
        "{summary}"
    );
    let status = lab.status();
    let row = &status["assignments"][0];
    assert_eq!(
        row["boot"]["summary"], summary,
        "bcm status agrees: {status}"
    );
    drop(vm);

    // A stranger: the entry script, then nothing.
    let mut stranger = Vm::start(&vm_url, STRANGER_UUID, lab.path().join("vm2-serial.log"));
    stranger.wait_exit(Duration::from_secs(150));
    let serial2 = stranger.serial();
    assert!(
        serial2.contains("bcm: no boot disk is assigned to this machine"),
        "{serial2}"
    );
    assert!(!serial2.contains("BCM-BOOT-OK"), "{serial2}");
    assert!(!serial2.contains(&secret), "{serial2}");
    let (_, code, nothing, _) = curl(
        &format!("{boot}/machine.ipxe?uuid={STRANGER_UUID}&mac=52-54-00-12-34-56"),
        "GET",
        None,
    );
    assert_eq!(code, 200);
    assert!(
        !nothing.contains("sanboot")
            && !nothing.contains("set ")
            && !nothing.contains("server-0")
            && !nothing.contains(&secret),
        "{nothing}"
    );

    let (_, metrics) = lab.curl("GET", "/metrics", None);
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    assert!(value("bcm_boot_script_fetches_total{machine=\"assigned\"}") >= 2);
    assert!(value("bcm_boot_script_fetches_total{machine=\"unknown\"}") >= 2);
    assert_eq!(value("bcm_boot_confirmations_total"), 1);

    // Release: the BMC's flags are cleared and the next boot gets nothing.
    let (code, resp) = lab.curl("DELETE", "/v1/assignments/server-0", None);
    assert_eq!(code, 200, "{resp}");
    assert_eq!(bmc_state(&bmc)["params"]["5"], "0000000000");
    let mut again = Vm::start(&vm_url, VM_UUID, lab.path().join("vm3-serial.log"));
    again.wait_exit(Duration::from_secs(150));
    let serial3 = again.serial();
    assert!(
        !serial3.contains("BCM-BOOT-OK"),
        "booted after release:\n{serial3}"
    );
    assert!(
        serial3.contains("bcm: no boot disk is assigned to this machine"),
        "{serial3}"
    );

    // Every fetch logged, never the secret.
    let log = lab.serve_log();
    assert!(log.contains("boot script served"), "{log}");
    assert!(log.contains("unknown or unassigned machine"), "{log}");
    assert!(!log.contains(&secret), "the CHAP secret is in the log");
}

/// OpenIPMI's `ipmi_sim` as the BMC: it implements boot flags only through its
/// `chassis_control` program, which here records what it is told (the power and boot
/// device of a host that does not exist). The manager's BMC step in mode `pxe` must need
/// nothing else; the GUID ipmi_sim reports (bytes as configured) identifies the machine.
#[test]
fn ipmi_sim_takes_force_pxe_and_a_power_cycle_and_names_the_machine_by_its_guid() {
    harness::require_program("ipmi_sim");
    let bmc_port = harness::free_udp_port();
    let boot_port = harness::free_tcp_port();
    let control_dir = tempfile::tempdir().unwrap();
    let calls = control_dir.path().join("calls.log");
    let control = control_dir.path().join("chassis-control.sh");
    std::fs::write(
        &control,
        format!(
            "#!/bin/sh\necho \"$*\" >> {calls}\n[ \"$2\" = get ] || exit 0\nshift 2\nfor p in \"$@\"; do\n  case \"$p\" in power) echo power:1;; boot) echo boot:none;; esac\ndone\n",
            calls = calls.display()
        ),
    )
    .unwrap();
    lab::run_ok("chmod", &["+x", control.to_str().unwrap()]);
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![("127.0.0.1".to_owned(), vec![format!("{TARGET}=32M")])],
        bmcs: 1,
        bmc_overrides: vec![(0, format!("127.0.0.1:{bmc_port}"))],
        extra_config: format!(
            "boot = \"pxe\"\nbmc_password = {{ value = \"{BMC_PASSWORD}\" }}\n\n\
             [boot]\nlisten = \"127.0.0.1:{boot_port}\"\n"
        ),
        ..LabSpec::default()
    });
    let _sim = harness::Peer::start(
        "ipmi-sim",
        &[
            ("IPMI_SIM_PORT", bmc_port.to_string()),
            ("IPMI_SIM_PASSWORD", BMC_PASSWORD.to_owned()),
            (
                "IPMI_SIM_GUID",
                "00112233445566778899aabbccddeeff".to_owned(),
            ),
            (
                "IPMI_SIM_CHASSIS_CONTROL",
                control.to_str().unwrap().to_owned(),
            ),
        ],
    );
    lab.serve();
    let (code, resp) = lab.curl(
        "POST",
        "/v1/boot-requests",
        Some(&format!(
            r#"{{"server":"server-0","size":"16MiB","power_cycle":true,"uuid":"{STRANGER_UUID}"}}"#
        )),
    );
    assert_eq!(code, 201, "{resp}\n{}", lab.serve_log());
    // The UUID the request named identifies the machine too (the BMC's does not replace it).
    let (_, _, by_request, _) = curl(
        &format!("http://127.0.0.1:{boot_port}/machine.ipxe?uuid={STRANGER_UUID}"),
        "GET",
        None,
    );
    assert!(by_request.contains("sanboot iscsi:"), "{by_request}");
    // ipmi_sim sends the configured bytes as they are; read in SMBIOS order (the default
    // `[bmc] guid_encoding`) the first three fields swap.
    let uuid = "33221100-5544-7766-8899-aabbccddeeff";
    assert!(
        resp.contains("force PXE boot")
            && resp.contains("power cycled")
            && resp.contains(&format!("system uuid {uuid}")),
        "{resp}"
    );
    let told = std::fs::read_to_string(&calls).unwrap();
    assert!(told.contains("0x20 set boot pxe"), "{told}");
    assert!(told.contains("0x20 set power 0"), "power cycle: {told}");
    let (_, code, script, _) = curl(
        &format!("http://127.0.0.1:{boot_port}/machine.ipxe?uuid={uuid}"),
        "GET",
        None,
    );
    assert_eq!(code, 200);
    assert!(script.contains(&format!(":1:{TARGET}\n")), "{script}");
    assert!(script.contains("sanboot iscsi:127.0.0.1::"), "{script}");

    let (code, resp) = lab.curl("DELETE", "/v1/assignments/server-0", None);
    assert_eq!(code, 200, "{resp}");
    let told = std::fs::read_to_string(&calls).unwrap();
    assert!(told.contains("0x20 set boot none"), "{told}");
    let (_, _, script, _) = curl(
        &format!("http://127.0.0.1:{boot_port}/machine.ipxe?uuid={uuid}"),
        "GET",
        None,
    );
    assert!(!script.contains("sanboot"), "{script}");

    // The per-source token bucket (defaults: 2/s, burst 10): a quick run of requests from
    // one address is cut off with 429 and Retry-After, counted on the admin API only.
    let mut refused = 0;
    for _ in 0..25 {
        let (ok, out, err) = harness::run(
            "curl",
            &[
                "-sS",
                "-o",
                "/dev/null",
                "-D",
                "-",
                &format!("http://127.0.0.1:{boot_port}/boot.ipxe"),
            ],
            &[],
        );
        assert!(ok, "{err}");
        if out.starts_with("HTTP/1.1 429") {
            assert!(out.to_ascii_lowercase().contains("retry-after: "), "{out}");
            refused += 1;
        }
    }
    assert!(refused >= 5, "only {refused} of 25 quick requests refused");
    let (_, metrics) = lab.curl("GET", "/metrics", None);
    assert!(
        metrics.contains(&format!(
            "bcm_boot_script_fetches_total{{machine=\"rate_limited\"}} {refused}"
        )),
        "{metrics}"
    );
}

/// imm-sim reports the system GUID given with `--guid ADDR=UUID` (SMBIOS byte order), and
/// the manager's network-boot BMC step reads it back as that UUID while setting force PXE.
#[test]
fn imm_sim_reports_the_configured_system_guid_to_the_network_boot_step() {
    let port = lab::free_udp_run(1);
    let password = "immGuidPw42";
    let _imm = harness::Peer::start(
        "imm-sim",
        &[
            ("IMM_SIM_BMCS", format!("127.0.0.1:{port}")),
            ("IMM_SIM_PASSWORD", password.to_owned()),
            (
                "IMM_SIM_BIN",
                harness::workspace_bin("imm-sim", "imm-sim")
                    .to_string_lossy()
                    .into_owned(),
            ),
            (
                "IMM_SIM_ARGS",
                format!("--log-level warn --guid 127.0.0.1:{port}={VM_UUID}"),
            ),
        ],
    );
    let pusher = bcm::bmc::BmcPusher::new(bcm::bmc::PusherConfig::default(), &[]);
    let login = bcm::bmc::BmcLogin {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        user: "admin".to_owned(),
        password: ipmi_iscsi::rmcp::Password::new(password).unwrap(),
    };
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(pusher.network_boot(&login, false))
        .unwrap();
    let guid = report.system_guid.expect("imm-sim answers Get System GUID");
    assert_eq!(
        bcm::boot::Uuid::from_guid(guid, bcm::boot::GuidEncoding::Smbios).to_string(),
        VM_UUID
    );
    assert!(!report.power_cycled);
}

/// The tap device the inner run of the namespace test boots its VM on.
const NETNS_ENV: &str = "BCM_NETBOOT_NETNS_TAP";
const NETNS_HOST: &str = "10.213.0.1";

/// Removes the network namespace (and with it the tap device) however the test ends.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// dnsmasq as the DHCP server (docs/NETBOOT.md's configuration, iPXE user-class branch),
/// in a network namespace this test creates, with the VM on a tap device there: no QEMU
/// user networking. Everything (isnsd, tgtd, bmc-sim, `bcm serve`, dnsmasq, QEMU) runs
/// inside the namespace; the test re-runs itself there (`ip netns exec`), and the outer run
/// only creates and removes the namespace and checks the inner run's verdict.
#[test]
fn dnsmasq_in_a_network_namespace_points_ipxe_at_the_entry_script() {
    for p in ["ip", "dnsmasq", "qemu-system-x86_64", "nasm", "python3"] {
        harness::require_program(p);
    }
    match std::env::var(NETNS_ENV) {
        Ok(tap) => netns_inner(&tap),
        Err(_) => netns_outer(),
    }
}

fn netns_outer() {
    let name = format!("bcmnb{}", std::process::id());
    let tap = "tapnb0";
    let ns = Netns(name.clone());
    let ip = |args: &[&str]| {
        let (ok, out, err) = harness::run("ip", args, &[]);
        assert!(ok, "ip {args:?}: {out} {err}");
    };
    ip(&["netns", "add", &ns.0]);
    ip(&["-n", &name, "link", "set", "lo", "up"]);
    ip(&["-n", &name, "tuntap", "add", "dev", tap, "mode", "tap"]);
    ip(&[
        "-n",
        &name,
        "addr",
        "add",
        &format!("{NETNS_HOST}/24"),
        "dev",
        tap,
    ]);
    ip(&["-n", &name, "link", "set", tap, "up"]);
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(&exe)
        .args([
            "--exact",
            "dnsmasq_in_a_network_namespace_points_ipxe_at_the_entry_script",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(NETNS_ENV, tap)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the run inside {name} failed:\n{text}"
    );
    assert!(text.contains("1 passed"), "{text}");
}

fn netns_inner(tap: &str) {
    let bmc_port = harness::free_udp_port();
    let boot_port = harness::free_tcp_port();
    let mut lab = Lab::start(&LabSpec {
        // The portal the VM logs in to is on the tap device's network.
        tgtds: vec![(NETNS_HOST.to_owned(), vec![format!("{TARGET}=32M")])],
        bmcs: 1,
        bmc_overrides: vec![(0, format!("127.0.0.1:{bmc_port}"))],
        extra_config: format!(
            "boot = \"pxe\"\nbmc_password = {{ value = \"{BMC_PASSWORD}\" }}\n\n\
             [boot]\nlisten = \"{NETNS_HOST}:{boot_port}\"\n"
        ),
        ..LabSpec::default()
    });
    harness::write_boot_sector(&lab.tgtds[0].dir, "netns-disk");
    let _bmc = harness::Peer::start(
        "bmc-sim",
        &[
            ("BMC_PORT", bmc_port.to_string()),
            ("BMC_PASSWORD", BMC_PASSWORD.to_owned()),
            ("BMC_GUID", VM_UUID.to_owned()),
        ],
    );
    let dhcp = harness::Peer::start(
        "dnsmasq",
        &[
            ("DNSMASQ_IFACE", tap.to_owned()),
            ("DNSMASQ_RANGE", "10.213.0.100,10.213.0.150".to_owned()),
            (
                "DNSMASQ_BOOT_URL",
                format!("http://{NETNS_HOST}:{boot_port}/boot.ipxe"),
            ),
        ],
    );
    lab.serve();
    let (code, resp) = lab.curl(
        "POST",
        "/v1/boot-requests",
        Some(r#"{"server":"server-0","size":"16MiB","power_cycle":true}"#),
    );
    assert_eq!(code, 201, "{resp}\n{}", lab.serve_log());
    let serial = lab.path().join("vm-netns-serial.log");
    let _ = std::fs::remove_file(&serial);
    let child = Command::new("bash")
        .arg(harness::repo_root().join("scripts/vm/run-netboot-vm.sh"))
        .args(["unused", VM_UUID])
        .arg(&serial)
        .arg("0")
        .env("NETBOOT_TAP", tap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut vm = Vm {
        child,
        serial: serial.clone(),
    };
    let booted = vm.wait_for("BCM-BOOT-OK label=netns-disk", Duration::from_secs(150));
    let dhcp_log = std::fs::read_to_string(dhcp.var("DNSMASQ_LOG")).unwrap_or_default();
    assert!(
        booted,
        "the vm did not boot:\n{}\n--- dnsmasq:\n{dhcp_log}\n--- bcm serve:\n{}",
        vm.serial(),
        lab.serve_log()
    );
    let console = vm.serial();
    // iPXE asked dnsmasq (not QEMU's DHCP) and got the entry script's URL as its boot file.
    assert!(
        console.contains(&format!(
            "Filename: http://{NETNS_HOST}:{boot_port}/boot.ipxe"
        )),
        "{console}"
    );
    assert!(
        dhcp_log.contains("DHCPACK(tapnb0) 10.213.0.1"),
        "{dhcp_log}"
    );
    assert!(dhcp_log.contains("user class: iPXE"), "{dhcp_log}");
}

/// Boot mode `pxe` with the BMC reached over Redfish: imm-sim `--redfish` takes the Pxe boot
/// source override and the reset from bcm's BMC step; a QEMU VM running with the UUID that
/// imm-sim's ComputerSystem reports (bcm is told no UUID: it learnt it over Redfish) fetches
/// its script from `bcm serve` and boots the tgtd LUN with CHAP (serial marker, iBFT). Release
/// sets the override back to Disabled.
#[test]
fn a_redfish_bmc_pxe_override_boots_the_vm_from_its_lun_through_bcm_serve() {
    for p in ["qemu-system-x86_64", "nasm", "python3", "curl"] {
        harness::require_program(p);
    }
    let https = format!("127.0.0.1:{}", harness::free_tcp_port());
    let boot_port = harness::free_tcp_port();
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![("127.0.0.1".to_owned(), vec![format!("{TARGET}=32M")])],
        bmcs: 1,
        chap: true,
        imm_args: format!("--redfish {https}"),
        // Appended right after `[[server]] server-0`: its keys first, then `[boot]`.
        extra_config: format!(
            "protocol = \"redfish\"\nredfish = \"{https}\"\nboot = \"pxe\"\nportal_address = \"10.0.2.2\"\n\n\
             [boot]\nlisten = \"127.0.0.1:{boot_port}\"\nkeep_san = true\nrate = 20\nburst = 40\n"
        ),
        ..LabSpec::default()
    });
    let cert = PathBuf::from(lab.imm.var("IMM_SIM_STATE_DIR"))
        .join(format!("127.0.0.1_{}", lab.bmc_first))
        .join("redfish.pem");
    let t0 = Instant::now();
    while !cert.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "imm-sim wrote no certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let password = lab.bmc_password.clone();
    let system = || -> Value {
        let (ok, out, err) = harness::run(
            "curl",
            &[
                "-sS",
                "--max-time",
                "20",
                "--cacert",
                cert.to_str().unwrap(),
                "-u",
                &format!("admin:{password}"),
                &format!("https://{https}/redfish/v1/Systems/1"),
            ],
            &[],
        );
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let vm_uuid = system()["UUID"].as_str().unwrap().to_ascii_lowercase();
    harness::write_boot_sector(&lab.tgtds[0].dir, "redfish-netboot");
    lab.serve();
    let vm_url = format!("http://10.0.2.2:{boot_port}/boot.ipxe");

    let (code, resp) = lab.curl(
        "POST",
        "/v1/boot-requests",
        Some(r#"{"request_id":"rf-nb-1","server":"server-0","size":"16MiB","power_cycle":true}"#),
    );
    assert_eq!(code, 201, "{resp}\n{}", lab.serve_log());
    let report: Value = serde_json::from_str(&resp).unwrap();
    let bmc_step = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "configure BMC")
        .unwrap_or_else(|| panic!("no BMC step: {resp}"))
        .to_string();
    assert!(
        bmc_step.contains(&format!("redfish https://{https}"))
            && bmc_step.contains("boot override Pxe Continuous")
            && bmc_step.contains("reset On")
            && bmc_step.contains(&format!("system uuid {vm_uuid}")),
        "{bmc_step}"
    );
    let s = system();
    assert_eq!(s["Boot"]["BootSourceOverrideTarget"], "Pxe", "{s}");
    assert_eq!(s["PowerState"], "On", "{s}");
    let initiator = assignment(&lab)["initiator"].as_str().unwrap().to_owned();

    // The power-on the reset stands for: the VM boots from the network.
    let mut vm = Vm::start(&vm_url, &vm_uuid, lab.path().join("rf-vm-serial.log"));
    assert!(
        vm.wait_for(
            "BCM-BOOT-OK label=redfish-netboot",
            Duration::from_secs(150)
        ),
        "the vm did not boot its LUN:\n{}\n--- bcm serve:\n{}",
        vm.serial(),
        lab.serve_log()
    );
    let serial = vm.serial();
    let published = serial
        .lines()
        .find_map(|l| l.trim().strip_prefix("IBFT-HEX "))
        .unwrap_or_else(|| panic!("no IBFT-HEX line:\n{serial}"));
    let ibft = decode_ibft(&hex(published.trim())).expect("iPXE's iBFT decodes");
    assert_eq!(ibft.initiator_name.as_deref(), Some(initiator.as_str()));
    assert_eq!(ibft.targets[0].name.as_deref(), Some(TARGET));
    drop(vm);

    let (code, resp) = lab.curl("DELETE", "/v1/assignments/server-0", None);
    assert_eq!(code, 200, "{resp}");
    let s = system();
    assert_eq!(s["Boot"]["BootSourceOverrideEnabled"], "Disabled", "{s}");
}
