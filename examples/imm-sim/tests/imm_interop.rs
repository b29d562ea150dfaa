//! Independent IPMI clients against `imm-sim` on 127.0.0.1: ipmitool lanplus with cipher
//! suites 17 and 3 (boot parameters, the mailbox, raw OEM reads, power), FreeIPMI
//! `ipmi-raw` / `ipmi-chassis`, and the refusals (wrong password, suite 0).

#[path = "../../../scripts/peers/harness.rs"]
mod harness;
mod imm_common;

use imm_common::*;
use imm_sim::persist::decode_state;
use ipmi_iscsi::bootopt::{BootDevice, Dialect, WritePlan, oem};
use ipmi_iscsi::driver::{Client, ClientError};
use ipmi_iscsi::rmcp::{AuthFailure, CipherSuite, SessionError};

fn stored(sim: &ImmSim) -> ipmi_iscsi::store::BootOptionsStore {
    let path = sim.state_file(sim.addr());
    let text = std::fs::read_to_string(&path).unwrap();
    decode_state(&path, &text).unwrap()
}

#[test]
fn ipmitool_suites_17_and_3_set_and_get_boot_parameters_and_the_state_file_follows() {
    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    for (suite, flag, device, data) in [
        (17, "force_pxe", BootDevice::PXE, [0x80, 0x04, 0, 0, 0]),
        (3, "force_disk", BootDevice::DISK, [0x80, 0x08, 0, 0, 0]),
    ] {
        let out = ipmitool_ok(a, suite, &["chassis", "bootparam", "set", "bootflag", flag]);
        assert!(out.contains(&format!("Set Boot Device to {flag}")), "{out}");
        let out = ipmitool_ok(a, suite, &["chassis", "bootparam", "get", "5"]);
        assert_eq!(bootparam_data(&out), data, "{out}");
        assert!(out.contains("Boot Flag Valid"), "{out}");
        // The write went to disk before ipmitool got its answer.
        assert_eq!(stored(&sim).boot_flags().device, device);
    }
    let out = ipmitool_ok(a, 17, &["chassis", "bootparam", "get", "0"]);
    assert!(out.contains("set complete"), "{out}");
    ipmitool_ok(a, 3, &["raw", "0x00", "0x08", "0x03", "0x1f"]);
    let out = ipmitool_ok(a, 17, &["chassis", "bootparam", "get", "3"]);
    assert_eq!(bootparam_data(&out), [0x1f], "{out}");
    let out = ipmitool_ok(a, 3, &["chassis", "bootparam", "get", "4"]);
    assert_eq!(bootparam_data(&out).len(), 2, "{out}");
    let out = ipmitool_ok(a, 17, &["chassis", "bootparam", "get", "6"]);
    assert_eq!(bootparam_data(&out).len(), 9, "{out}");
    // Parameter 8 does not exist: 0x80.
    let (ok, out, err) = ipmitool(
        a,
        17,
        "admin",
        PASSWORD,
        &["raw", "0x00", "0x09", "0x08", "0x00", "0x00"],
    );
    assert!(!ok && err.contains("rsp=0x80"), "{out} {err}");
    assert_eq!(mode(&sim.state_file(a)), 0o600);
}

#[test]
fn ipmitool_bootmbox_set_and_get_round_trip_over_both_suites() {
    let sim = ImmSim::range(1, "--mailbox-blocks 8");
    let a = sim.addr();
    // 20 bytes: block 0 carries the PEN and 13 bytes, block 1 the rest.
    let text = "iscsi-mailbox-hello!";
    ipmitool_ok(a, 17, &["chassis", "bootmbox", "set", "text", "343", text]);
    let out = ipmitool_ok(a, 3, &["chassis", "bootmbox", "get", "text"]);
    assert!(out.contains("IANA PEN       : 343"), "{out}");
    assert!(out.contains("Block   0 Data : 'iscsi-mailbox'"), "{out}");
    assert!(out.contains("Block   1 Data : '-hello!'"), "{out}");
    assert!(out.contains("Block   7 Data"), "{out}");
    assert!(!out.contains("Block   8"), "{out}");
    let out = ipmitool_ok(a, 17, &["chassis", "bootmbox", "get", "block", "1"]);
    assert!(
        out.contains("2d 68 65 6c 6c 6f 21") || out.contains("2d68656c6c6f21"),
        "{out}"
    );
    let (ok, out, err) = ipmitool(
        a,
        3,
        "admin",
        PASSWORD,
        &["chassis", "bootmbox", "get", "block", "8"],
    );
    assert!(
        !ok && format!("{out}{err}").contains("Parameter out of range"),
        "{out} {err}"
    );
    // The store holds exactly those bytes (PEN 343 = 0x000157, LS byte first).
    let s = stored(&sim);
    assert_eq!(s.mailbox().len(), 8);
    assert_eq!(s.mailbox()[0][..3], [0x57, 0x01, 0x00]);
    assert_eq!(&s.mailbox()[0][3..], b"iscsi-mailbox");
    assert_eq!(&s.mailbox()[1][..7], b"-hello!");
    // Another vendor's mailbox is not ours to render.
    assert!(!sim.render_dir(a).join("boot.ipxe").exists());
}

#[test]
fn ipmitool_raw_reads_the_oem_records_our_client_pushed_but_never_a_secret() {
    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    let p = chap_params(
        "iqn.2026-11.org.example.imm:raw-node",
        "iqn.2026-11.org.example.imm:raw-disk",
        "192.0.2.7",
        3260,
        "raw-node",
        "rawSecret12345",
    );
    rt().block_on(async {
        let mut c = connect(a, Some(CipherSuite::SUITE_17)).await;
        let conf = confidential(&c);
        push(
            &mut c,
            &WritePlan::new(p.clone(), Dialect::Oem { confidential: conf }),
        )
        .await;
        c.close().await.unwrap();
    });
    // 0x60 dialect info: version 1, 16 blocks per record, secrets accepted.
    let info = raw_bytes(&ipmitool_ok(
        a,
        17,
        &["raw", "0x00", "0x09", "0x60", "0x00", "0x00"],
    ));
    assert_eq!(
        info[..7],
        [0x01, 0x60, 0x00, 0x03, 0x01, 0x10, 0x01],
        "{info:02x?}"
    );
    for (suite, param, text) in [
        (17, "0x63", p.initiator_name.as_str()),
        (3, "0x66", p.primary.name.as_str()),
    ] {
        let mut record = Vec::new();
        for block in 0..oem::record_blocks(text.len()) {
            let b = block.to_string();
            let got = raw_bytes(&ipmitool_ok(
                a,
                suite,
                &["raw", "0x00", "0x09", param, &b, "0x00"],
            ));
            record.extend_from_slice(&got[3..]);
        }
        assert_eq!(usize::from(record[0]), text.len());
        assert_eq!(&record[1..=text.len()], text.as_bytes());
    }
    let secret = raw_bytes(&ipmitool_ok(
        a,
        3,
        &["raw", "0x00", "0x09", "0x6a", "0x00", "0x00"],
    ));
    assert_eq!(secret[3], 14, "the length is visible");
    assert!(secret[4..].iter().all(|&b| b == 0), "the secret is not");
    let (ok, out, err) = ipmitool(
        a,
        17,
        "admin",
        PASSWORD,
        &["raw", "0x00", "0x08", "0x60", "0x00", "0x01"],
    );
    assert!(!ok && err.contains("rsp=0x82"), "read-only: {out} {err}");
}

#[test]
fn ipmitool_power_status_on_and_cycle_and_the_cycle_boots_the_rendered_target() {
    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    let p = chap_params(
        "iqn.2026-11.org.example.imm:pw-node",
        "iqn.2026-11.org.example.imm:pw-disk",
        "192.0.2.8",
        3261,
        "pw-node",
        "powerSecret123",
    );
    rt().block_on(async {
        let mut c = connect(a, None).await;
        let conf = confidential(&c);
        push(
            &mut c,
            &WritePlan::new(p, Dialect::Oem { confidential: conf }),
        )
        .await;
        c.close().await.unwrap();
    });
    let out = ipmitool_ok(a, 3, &["chassis", "power", "status"]);
    assert!(out.contains("Chassis Power is off"), "{out}");
    ipmitool_ok(a, 17, &["chassis", "power", "on"]);
    let out = ipmitool_ok(a, 17, &["chassis", "power", "status"]);
    assert!(out.contains("Chassis Power is on"), "{out}");
    let out = ipmitool_ok(a, 3, &["chassis", "power", "cycle"]);
    assert!(out.contains("Cycle"), "{out}");
    let log = sim.wait_log("boot: host powered up or reset");
    let boot_lines: Vec<&str> = log.lines().filter(|l| l.contains("boot: host")).collect();
    // Power on (from off) and the cycle are both boots; the network-boot flags were
    // consumed by the first (next boot only).
    assert_eq!(boot_lines.len(), 2, "{log}");
    assert!(
        boot_lines[0]
            .contains("root_path=\"iscsi:192.0.2.8::3261:1:iqn.2026-11.org.example.imm:pw-disk\"")
            && boot_lines[0].contains("device=pxe")
            && boot_lines[0].contains("valid=true"),
        "{}",
        boot_lines[0]
    );
    assert!(boot_lines[1].contains("valid=false"), "{}", boot_lines[1]);
    let out = ipmitool_ok(a, 17, &["chassis", "bootparam", "get", "5"]);
    assert!(out.contains("Boot Flag Invalid"), "consumed: {out}");
    // Reset is a boot too; power off is not, and the status follows.
    ipmitool_ok(a, 3, &["chassis", "power", "reset"]);
    ipmitool_ok(a, 17, &["chassis", "power", "off"]);
    let out = ipmitool_ok(a, 3, &["chassis", "power", "status"]);
    assert!(out.contains("Chassis Power is off"), "{out}");
    let log = sim.log();
    assert_eq!(
        log.matches("boot: host powered up or reset").count(),
        3,
        "{log}"
    );
    assert!(log.contains("action=\"power down\""), "{log}");
}

fn freeipmi(
    program: &str,
    a: std::net::SocketAddr,
    suite: &str,
    password: &str,
    args: &[&str],
) -> (bool, String, String) {
    harness::require_program(program);
    let host = format!("127.0.0.1:{}", a.port());
    let mut all = vec![
        "-h",
        &host,
        "-u",
        "admin",
        "-p",
        password,
        "-D",
        "LAN_2_0",
        "-I",
        suite,
        "--session-timeout",
        "3000",
        "--retransmission-timeout",
        "500",
    ];
    all.extend_from_slice(args);
    harness::run(program, &all, &[])
}

#[test]
fn freeipmi_raw_and_chassis_talk_to_imm_sim_over_suites_17_and_3() {
    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    ipmitool_ok(a, 17, &["chassis", "bootdev", "pxe"]);
    for suite in ["17", "3"] {
        let (ok, out, err) = freeipmi(
            "ipmi-raw",
            a,
            suite,
            PASSWORD,
            &["-l", "ADMIN", "0", "0x00", "0x09", "0x05", "0x00", "0x00"],
        );
        assert!(ok, "ipmi-raw -I {suite}: {out}\n{err}");
        assert!(
            out.to_uppercase().contains("09 00 01 05 80 04 00 00 00"),
            "{out}"
        );
        let (ok, out, err) = freeipmi("ipmi-chassis", a, suite, PASSWORD, &["--get-boot-flags"]);
        assert!(ok, "ipmi-chassis -I {suite}: {out}\n{err}");
        assert!(out.contains("PXE"), "{out}");
        let (ok, out, err) = freeipmi(
            "ipmi-chassis",
            a,
            suite,
            PASSWORD,
            &["--get-chassis-status"],
        );
        assert!(ok, "{out}\n{err}");
        assert!(
            out.contains("System Power") && out.contains(": off"),
            "{out}"
        );
    }
    // FreeIPMI drives the chassis too (its --set-boot-flags fails client-side with
    // "invalid parameters" after reading parameter 5, against pyghmi's BMC as well).
    let (ok, out, err) = freeipmi(
        "ipmi-chassis",
        a,
        "3",
        PASSWORD,
        &["--chassis-control=POWER-UP"],
    );
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = freeipmi("ipmi-chassis", a, "17", PASSWORD, &["--get-chassis-status"]);
    assert!(ok && out.contains(": on"), "{out}\n{err}");
    sim.wait_log("boot: host powered up or reset");
}

#[test]
fn wrong_password_and_cipher_suite_0_are_refused() {
    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    for suite in [17, 3] {
        let (ok, out, err) = ipmitool(
            a,
            suite,
            "admin",
            "not-the-password",
            &["chassis", "power", "status"],
        );
        assert!(!ok, "wrong password accepted over suite {suite}: {out}");
        assert!(
            err.contains("RAKP") || err.contains("Unable to establish"),
            "{err}"
        );
    }
    let (ok, out, err) = ipmitool(a, 0, "admin", PASSWORD, &["chassis", "power", "status"]);
    assert!(!ok, "suite 0 accepted: {out}");
    assert!(!err.is_empty());
    let (ok, out, _) = ipmitool(a, 17, "nobody", PASSWORD, &["chassis", "power", "status"]);
    assert!(!ok, "unknown user accepted: {out}");
    let (ok, out, err) = freeipmi(
        "ipmi-raw",
        a,
        "17",
        "not-the-password",
        &["0", "0x00", "0x01"],
    );
    assert!(
        !ok && format!("{out}{err}").contains("password invalid"),
        "{out} {err}"
    );
    rt().block_on(async {
        let err = Client::connect(a, client_config("admin", "not-the-password", None), BOUND)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Session(SessionError::Authentication(AuthFailure::Rakp2HmacMismatch))
            ),
            "{err}"
        );
        let mut zero = client_config("admin", PASSWORD, Some(CipherSuite::SUITE_0));
        zero.allow_unauthenticated = true;
        let err = Client::connect(a, zero, BOUND).await.unwrap_err();
        assert!(matches!(err, ClientError::Session(_)), "{err}");
    });
    // imm-sim says why, without the password.
    let log = sim.wait_log("unauthorized name");
    assert!(log.contains("session set-up refused"), "{log}");
    assert!(log.contains("no cipher suite match"), "suite 0: {log}");
    assert!(
        !log.contains("not-the-password") && !log.contains(PASSWORD),
        "{log}"
    );
    // ipmitool's RAKP 3 carries its refusal of our RAKP 2: logged as such.
    assert!(log.contains("refused by the console"), "{log}");
}

#[test]
fn suite_0_works_only_when_allowed_explicitly() {
    let sim = ImmSim::range(1, "--suites 17,3,0 --allow-suite-0");
    let out = ipmitool_ok(sim.addr(), 0, &["chassis", "power", "status"]);
    assert!(out.contains("Chassis Power is off"), "{out}");
    // Listing suite 0 without the explicit flag is a start-up error.
    let state = sim.peer.dir.join("refused-state");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imm-sim"))
        .args(["--bmc", "127.0.0.1:9", "--state-dir"])
        .arg(&state)
        .args([
            "--user",
            "admin",
            "--password-env",
            "IMM_TEST_PW",
            "--suites",
            "17,0",
        ])
        .env("IMM_TEST_PW", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--suites 0 needs --allow-suite-0"), "{err}");
}

/// Strangers cannot lock consoles out: 1,000 unauthenticated Open Session Requests from our
/// own UDP socket (half with ipmitool's fixed console session ID 0xA0A2A3A4 and suite-3
/// algorithms, half with other IDs), each answered, and right after them `ipmitool -C 17`
/// and FreeIPMI `ipmi-raw -I 17` log in, before any of the flood's half-open sessions could
/// have expired.
#[test]
fn a_flood_of_open_session_requests_locks_out_neither_ipmitool_nor_freeipmi() {
    use ipmi_iscsi::rmcp::{
        Algorithms, OpenSessionRequest, OpenSessionResponse, Packet, PayloadType, Privilege,
        RakpStatus, Seal,
    };
    use std::time::{Duration, Instant};

    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let suite = CipherSuite::SUITE_3;
    let mut buf = [0u8; 512];
    let mut opened = 0;
    for i in 0..1000u32 {
        let mut payload = Vec::new();
        OpenSessionRequest {
            tag: 0,
            max_privilege: Privilege(0),
            console_sid: if i % 2 == 0 { 0xa0a2_a3a4 } else { i },
            algorithms: Algorithms {
                auth: suite.auth.number(),
                integrity: suite.integrity.number(),
                confidentiality: suite.confidentiality.number(),
            },
        }
        .encode(&mut payload);
        let mut datagram = Vec::new();
        Seal {
            payload_type: PayloadType::OPEN_SESSION_REQUEST,
            session_id: 0,
            sequence: 0,
            payload: &payload,
        }
        .encode(None, [0; 16], &mut datagram)
        .unwrap();
        // One at a time, each answer awaited: every request reaches imm-sim (a burst would
        // overflow the socket buffers and test less).
        socket.send_to(&datagram, a).unwrap();
        let n = socket
            .recv(&mut buf)
            .expect("imm-sim answers every request");
        let Ok(Packet::V2(p)) = Packet::decode(&buf[..n]) else {
            panic!("not an RMCP+ answer");
        };
        if OpenSessionResponse::decode(p.payload).unwrap().status == RakpStatus::OK {
            opened += 1;
        }
    }
    let t0 = Instant::now();
    let out = ipmitool_ok(a, 17, &["chassis", "bootparam", "get", "5"]);
    assert!(out.contains("Boot Flag"), "{out}");
    let (ok, out, err) = freeipmi(
        "ipmi-raw",
        a,
        "17",
        PASSWORD,
        &["-l", "ADMIN", "0", "0x00", "0x09", "0x05", "0x00", "0x00"],
    );
    assert!(ok, "ipmi-raw -I 17 after the flood: {out}\n{err}");
    assert!(out.to_uppercase().contains("09 00 01 05"), "{out}");
    // The flood's half-open sessions live 5 s: both logins happened while they were there.
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the two logins took {:?}",
        t0.elapsed()
    );
    // Strangers are answered too (each with a short-lived session), never refused.
    assert_eq!(opened, 1000, "every request of the flood got a session");
}
