//! Clients against `imm-sim`'s Redfish service: DMTF's `redfish-utilities` tools
//! (`rf_raw_request.py`, `rf_power_reset.py`, `rf_boot_override.py`) and curl, each
//! verifying the BMC's certificate. A Redfish write lands in the same boot-options store
//! as an IPMI write: the state file, the rendered files and an IPMI client see it.

#[path = "../../../scripts/peers/harness.rs"]
mod harness;
mod imm_common;
mod redfish_common;

use imm_common::*;
use imm_sim::persist::decode_state;
use ipmi_iscsi::bootopt::{BootDevice, Dialect, WritePlan};
use ipmi_iscsi::params::Secret;
use ipmi_iscsi::store::BootOptionsStore;
use redfish_common::*;
use serde_json::{Value, json};

fn stored(rf: &RedfishSim) -> BootOptionsStore {
    let path = rf.sim.state_file(rf.sim.addr());
    let text = std::fs::read_to_string(&path).unwrap();
    decode_state(&path, &text).unwrap()
}

fn tool(rf: &RedfishSim, program: &str, args: &[&str]) -> String {
    let mut all = rf.tool_login();
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = rf.python_tool(program, &all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?}: {text}");
    text
}

#[test]
fn dmtf_boot_override_and_power_reset_tools_drive_the_ipmi_boot_flags_and_chassis() {
    let rf = RedfishSim::start();
    tool(&rf, "rf_boot_override.py", &["-t", "Pxe", "-m", "UEFI"]);
    // The same store: the IPMI side answers parameter 5 with PXE, EFI, valid.
    let f = stored(&rf).boot_flags();
    assert!(f.valid && f.efi && !f.persistent, "{f:?}");
    assert_eq!(f.device, BootDevice::PXE);
    let out = ipmitool_ok(rf.sim.addr(), 17, &["chassis", "bootparam", "get", "5"]);
    assert!(out.contains("Force PXE"), "{out}");
    let shown = tool(&rf, "rf_boot_override.py", &[]);
    assert!(
        shown.contains("Target: Pxe") && shown.contains("Mode: UEFI"),
        "{shown}"
    );

    assert_eq!(rf.get("/redfish/v1/Systems/1")["PowerState"], "Off");
    tool(&rf, "rf_power_reset.py", &["-t", "On"]);
    assert_eq!(rf.get("/redfish/v1/Systems/1")["PowerState"], "On");
    let out = ipmitool_ok(rf.sim.addr(), 17, &["chassis", "power", "status"]);
    assert!(out.contains("on"), "{out}");
    assert_eq!(stored(&rf).chassis().boots, 1);
    rf.sim.wait_log("boot: host powered up or reset");
    tool(&rf, "rf_power_reset.py", &["-t", "ForceOff"]);
    assert_eq!(rf.get("/redfish/v1/Systems/1")["PowerState"], "Off");
}

#[test]
fn system_uuid_is_the_guid_the_bmc_reports_over_ipmi() {
    let rf = RedfishSim::start();
    let raw = raw_bytes(&ipmitool_ok(rf.sim.addr(), 17, &["raw", "0x06", "0x37"]));
    let guid: [u8; 16] = raw.try_into().unwrap();
    let uuid = rf.get("/redfish/v1/Systems/1")["UUID"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(uuid, imm_sim::redfish::uuid_text(&guid));
    // SMBIOS byte order: the first three fields little-endian.
    assert_eq!(&uuid[..2], &format!("{:02x}", guid[3]));
}

#[test]
fn dmtf_raw_request_patches_iscsi_settings_applied_at_reset_into_the_same_renderers() {
    let rf = RedfishSim::start();
    let before = rf.get(NDF1);
    assert_eq!(before["BootMode"], "Disabled");
    assert_eq!(
        before["@Redfish.Settings"]["SupportedApplyTimes"],
        json!(["OnReset"])
    );
    assert!(
        before["NetDevFuncCapabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("iSCSI"))
    );
    let patch = iscsi_patch("10.0.7.30", 3262, 5);
    let out = tool(
        &rf,
        "rf_raw_request.py",
        &["-m", "PATCH", "-req", SETTINGS, "-b", &patch],
    );
    assert!(
        !out.contains("rf-secret-0001") && !out.contains("rf-mutual-0002"),
        "{out}"
    );
    // Pending until a reset: nothing rendered, the function unchanged, the settings
    // object shows the values with the secrets null.
    assert!(!rf.sim.render_dir(rf.sim.addr()).join("root-path").exists());
    assert_eq!(rf.get(NDF1)["BootMode"], "Disabled");
    let pending = rf.get(SETTINGS);
    assert_eq!(pending["iSCSIBoot"]["PrimaryTargetTCPPort"], 3262);
    assert_eq!(pending["iSCSIBoot"]["CHAPSecret"], Value::Null);
    // A reset that does not boot the host applies nothing.
    tool(&rf, "rf_power_reset.py", &["-t", "ForceOff"]);
    assert_eq!(rf.get(NDF1)["BootMode"], "Disabled");
    tool(&rf, "rf_power_reset.py", &["-t", "On"]);

    let after = rf.get(NDF1);
    assert_eq!(after["BootMode"], "iSCSI");
    let want: Value = serde_json::from_str(&patch).unwrap();
    for (k, v) in want["iSCSIBoot"].as_object().unwrap() {
        let expect = if k.ends_with("CHAPSecret") {
            &Value::Null
        } else {
            v
        };
        assert_eq!(&after["iSCSIBoot"][k], expect, "{k}");
    }
    // The same store and renderers as IPMI: state file, root path, iPXE script, iBFT.
    let p = stored(&rf).oem_params().unwrap();
    assert_eq!(p.primary.port, 3262);
    assert_eq!(
        p.auth.initiator().unwrap().secret,
        Secret::new("rf-secret-0001").unwrap()
    );
    assert_eq!(
        p.auth.target().unwrap().secret,
        Secret::new("rf-mutual-0002").unwrap()
    );
    let dir = rf.sim.render_dir(rf.sim.addr());
    assert_eq!(
        std::fs::read_to_string(dir.join("root-path")).unwrap(),
        "iscsi:10.0.7.30::3262:5:iqn.2026-12.test.redfish:disk\n"
    );
    assert!(
        std::fs::read_to_string(dir.join("boot.ipxe"))
            .unwrap()
            .contains("rf-init")
    );
    assert!(
        std::fs::read(dir.join("ibft.bin"))
            .unwrap()
            .starts_with(b"iBFT")
    );
    let log = rf.sim.wait_log("redfish reset");
    assert!(
        !log.contains("rf-secret-0001") && !log.contains("rf-mutual-0002"),
        "{log}"
    );

    // BootMode Disabled through the settings object clears it at the next reset.
    let (s, _, b) = rf.curl("PATCH", SETTINGS, Some(r#"{"BootMode":"Disabled"}"#));
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = rf.curl("POST", RESET, Some(r#"{"ResetType":"ForceRestart"}"#));
    assert_eq!(s, 204, "{b}");
    assert_eq!(rf.get(NDF1)["BootMode"], "Disabled");
    assert!(!stored(&rf).oem_enabled());
    assert!(!dir.join("root-path").exists());
}

#[test]
fn ipmi_written_parameters_read_back_over_redfish_without_secrets() {
    let rf = RedfishSim::start();
    let params = chap_params(
        "iqn.2026-12.test:ipmi-init",
        "iqn.2026-12.test:ipmi-disk",
        "10.0.8.9",
        3260,
        "ipmi-user",
        "ipmi-secret-01",
    );
    rt().block_on(async {
        let mut c = connect(rf.sim.addr(), None).await;
        let plan = WritePlan::new(
            params.clone(),
            Dialect::Oem {
                confidential: confidential(&c),
            },
        );
        push(&mut c, &plan).await;
    });
    let f = rf.get(NDF1);
    assert_eq!(f["BootMode"], "iSCSI");
    let i = &f["iSCSIBoot"];
    assert_eq!(i["InitiatorName"], "iqn.2026-12.test:ipmi-init");
    assert_eq!(i["PrimaryTargetIPAddress"], "10.0.8.9");
    assert_eq!(i["PrimaryLUN"], 1);
    assert_eq!(i["AuthenticationMethod"], "CHAP");
    assert_eq!(i["CHAPUsername"], "ipmi-user");
    assert_eq!(i["CHAPSecret"], Value::Null);
    assert!(!f.to_string().contains("ipmi-secret-01"));
    // A settings PATCH of one field keeps the IPMI-written secret.
    let (s, _, b) = rf.curl("PATCH", SETTINGS, Some(r#"{"iSCSIBoot":{"PrimaryLUN":7}}"#));
    assert_eq!(s, 200, "{b}");
    let (s, _, _) = rf.curl("POST", RESET, Some(r#"{"ResetType":"PowerCycle"}"#));
    assert_eq!(s, 204);
    let p = stored(&rf).oem_params().unwrap();
    assert_eq!(p.primary.lun.number(), Some(7));
    // (The OEM read-back cannot know the write's secret-length policy flag: compare the
    // credentials.)
    assert_eq!(p.auth.initiator(), params.auth.initiator());
}

#[test]
fn sessions_log_in_and_out_and_basic_works_beside_them() {
    let rf = RedfishSim::start();
    let (s, head, _) = rf.curl_with("GET", "/redfish/v1/Systems/1", None, &[], false);
    assert_eq!(s, 401);
    assert!(header(&head, "www-authenticate").is_some(), "{head}");
    let (s, _, b) = rf.curl_with("GET", "/redfish/v1/", None, &[], false);
    assert_eq!(s, 200, "service root is public: {b}");
    let login = format!(r#"{{"UserName":"admin","Password":"{PASSWORD}"}}"#);
    let (s, _, b) = rf.curl_with(
        "POST",
        "/redfish/v1/SessionService/Sessions",
        Some(r#"{"UserName":"admin","Password":"wrong-password"}"#),
        &[],
        false,
    );
    assert_eq!(
        (s, message_id(&b).as_str()),
        (401, "Base.1.16.0.NoValidSession")
    );
    let (s, head, b) = rf.curl_with(
        "POST",
        "/redfish/v1/SessionService/Sessions",
        Some(&login),
        &[],
        false,
    );
    assert_eq!(s, 201, "{b}");
    assert!(!b.contains(PASSWORD));
    let token = header(&head, "x-auth-token").unwrap().to_owned();
    let location = header(&head, "location").unwrap().to_owned();
    assert!(
        location.starts_with("/redfish/v1/SessionService/Sessions/"),
        "{location}"
    );
    let auth = format!("X-Auth-Token: {token}");
    let (s, _, b) = rf.curl_with("GET", &location, None, &[&auth], false);
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["UserName"],
        "admin"
    );
    let (s, _, _) = rf.curl_with("DELETE", &location, None, &[&auth], false);
    assert_eq!(s, 204);
    let (s, _, _) = rf.curl_with("GET", "/redfish/v1/Systems/1", None, &[&auth], false);
    assert_eq!(s, 401, "the token died with its session");
}

#[test]
fn etag_mismatch_is_412_and_errors_carry_base_registry_extended_info() {
    let rf = RedfishSim::start();
    let (s, head, _) = rf.curl("GET", SETTINGS, None);
    assert_eq!(s, 200);
    let etag = header(&head, "etag").unwrap().to_owned();
    let body = r#"{"iSCSIBoot":{"InitiatorName":"iqn.2026-12.test:x"}}"#;
    let (s, _, b) = rf.curl_with(
        "PATCH",
        SETTINGS,
        Some(body),
        &["If-Match: W/\"0000000000000000\""],
        true,
    );
    assert_eq!(
        (s, message_id(&b).as_str()),
        (412, "Base.1.16.0.PreconditionFailed")
    );
    let (s, _, b) = rf.curl_with(
        "PATCH",
        SETTINGS,
        Some(body),
        &[&format!("If-Match: {etag}")],
        true,
    );
    assert_eq!(s, 200, "{b}");
    // The ETag moved with the write: the old one is refused now.
    let (s, _, _) = rf.curl_with(
        "PATCH",
        SETTINGS,
        Some(body),
        &[&format!("If-Match: {etag}")],
        true,
    );
    assert_eq!(s, 412);

    let v: Value = {
        let (s, _, b) = rf.curl("PATCH", SETTINGS, Some(r#"{"iSCSIBoot":{"Bogus":1}}"#));
        assert_eq!(s, 400);
        serde_json::from_str(&b).unwrap()
    };
    let info = &v["error"]["@Message.ExtendedInfo"][0];
    assert_eq!(info["MessageId"], "Base.1.16.0.PropertyUnknown");
    assert!(
        info["Message"]
            .as_str()
            .unwrap()
            .contains("/iSCSIBoot/Bogus")
    );
    assert!(!info["Resolution"].as_str().unwrap().is_empty());
    for (body, status, id) in [
        (
            r#"{"BootMode":"iSCSI","iSCSIBoot":{"InitiatorName":"iqn.2026-12.test:x","PrimaryTargetName":"iqn.2026-12.test:t","PrimaryTargetIPAddress":"10.0.0.1","PrimaryLUN":99999,"IPMaskDNSViaDHCP":true}}"#,
            400,
            "PropertyValueFormatError",
        ),
        (r#"{"BootMode":"PXE"}"#, 400, "PropertyValueNotInList"),
        (
            r#"{"NetDevFuncType":"FibreChannel"}"#,
            400,
            "PropertyNotWritable",
        ),
        (
            r#"{"iSCSIBoot":{"PrimaryLUN":"one"}}"#,
            400,
            "PropertyValueTypeError",
        ),
        ("{not json", 400, "MalformedJSON"),
    ] {
        let (s, _, b) = rf.curl("PATCH", SETTINGS, Some(body));
        assert_eq!(
            (s, message_id(&b)),
            (status, format!("Base.1.16.0.{id}")),
            "{body}"
        );
    }
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    let (s, _, b) = rf.curl("PATCH", SETTINGS, Some(&deep));
    assert_eq!(
        (s, message_id(&b).as_str()),
        (400, "Base.1.16.0.MalformedJSON")
    );
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(20_000));
    let (s, _, b) = rf.curl("PATCH", SETTINGS, Some(&big));
    assert_eq!(
        (s, message_id(&b).as_str()),
        (413, "Base.1.16.0.GeneralError")
    );
    let (s, _, b) = rf.curl("POST", RESET, Some(r#"{"ResetType":"Nmi"}"#));
    assert_eq!(
        (s, message_id(&b).as_str()),
        (400, "Base.1.16.0.ActionParameterValueNotInList")
    );
    let (s, _, b) = rf.curl("GET", "/redfish/v1/Nowhere", None);
    assert_eq!(
        (s, message_id(&b).as_str()),
        (404, "Base.1.16.0.ResourceMissingAtURI")
    );
}

#[test]
fn pending_settings_survive_a_restart_and_apply_at_the_next_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (udp, https) = RedfishSim::free_ports();
    let rf = RedfishSim::start_in(dir, udp, https);
    let (s, _, b) = rf.curl("PATCH", SETTINGS, Some(&iscsi_patch("10.0.7.50", 3260, 3)));
    assert_eq!(s, 200, "{b}");
    let pending = dir
        .join("imm-sim/state")
        .join(ImmSim::name(udp))
        .join("redfish-pending.json");
    assert_eq!(mode(&pending) & 0o777, 0o600, "it holds the CHAP secrets");
    rf.sim.peer.stop();
    drop(rf);
    let rf = RedfishSim::start_in(dir, udp, https);
    assert_eq!(
        rf.get(SETTINGS)["iSCSIBoot"]["PrimaryTargetIPAddress"],
        "10.0.7.50"
    );
    let (s, _, _) = rf.curl("POST", RESET, Some(r#"{"ResetType":"On"}"#));
    assert_eq!(s, 204);
    let p = stored(&rf).oem_params().unwrap();
    assert_eq!(p.primary.address.to_string(), "10.0.7.50");
    assert_eq!(
        p.auth.initiator().unwrap().secret,
        Secret::new("rf-secret-0001").unwrap()
    );
    assert!(!pending.exists(), "applied settings are no longer pending");
}

#[test]
fn roles_follow_ipmi_privileges_read_only_users_cannot_write() {
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users.toml");
    std::fs::write(
        &users,
        concat!(
            "[[user]]\nname = \"viewer\"\npassword = { value = \"viewer-pass-1\" }\nprivilege = \"user\"\n",
            "[[user]]\nname = \"op\"\npassword = { value = \"op-pass-1\" }\nprivilege = \"operator\"\n",
        ),
    )
    .unwrap();
    let rf = RedfishSim::start_with(&format!("--users-file {}", users.display()));
    let roles: Vec<String> = (1..=3)
        .map(|i| {
            let a = rf.get(&format!("/redfish/v1/AccountService/Accounts/{i}"));
            assert_eq!(a["Password"], Value::Null);
            format!(
                "{}={}",
                a["UserName"].as_str().unwrap(),
                a["RoleId"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        roles,
        ["admin=Administrator", "viewer=ReadOnly", "op=Operator"]
    );
    let (s, _, _) = rf.curl_as("viewer", "viewer-pass-1", "GET", NDF1, None);
    assert_eq!(s, 200);
    let body = r#"{"BootMode":"Disabled"}"#;
    let (s, _, b) = rf.curl_as("viewer", "viewer-pass-1", "PATCH", SETTINGS, Some(body));
    assert_eq!(
        (s, message_id(&b).as_str()),
        (403, "Base.1.16.0.InsufficientPrivilege")
    );
    let (s, _, _) = rf.curl_as(
        "viewer",
        "viewer-pass-1",
        "POST",
        RESET,
        Some(r#"{"ResetType":"On"}"#),
    );
    assert_eq!(s, 403);
    assert_eq!(rf.get("/redfish/v1/Systems/1")["PowerState"], "Off");
    // A read-only user may still log in and out (Login, ConfigureSelf).
    let login = r#"{"UserName":"viewer","Password":"viewer-pass-1"}"#;
    let (s, head, _) = rf.curl_with(
        "POST",
        "/redfish/v1/SessionService/Sessions",
        Some(login),
        &[],
        false,
    );
    assert_eq!(s, 201);
    let token = format!("X-Auth-Token: {}", header(&head, "x-auth-token").unwrap());
    let location = header(&head, "location").unwrap().to_owned();
    let (s, _, _) = rf.curl_with("PATCH", SETTINGS, Some(body), &[&token], false);
    assert_eq!(s, 403);
    let (s, _, _) = rf.curl_with("DELETE", &location, None, &[&token], false);
    assert_eq!(s, 204);
    let (s, _, b) = rf.curl_as("op", "op-pass-1", "PATCH", SETTINGS, Some(body));
    assert_eq!(s, 200, "{b}");
    let (s, _, _) = rf.curl_as("op", "wrong-pass-1", "GET", NDF1, None);
    assert_eq!(s, 401);
}

#[test]
fn redfish_addresses_must_match_the_bmcs_one_to_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imm-sim"))
        .args(["--bmc", "127.0.0.1:1-2", "--redfish", "127.0.0.1:3"])
        .args(["--user", "admin", "--password-env", "RF_PW"])
        .env("RF_PW", PASSWORD)
        .arg("--state-dir")
        .arg(tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("1 redfish addresses for 2 bmcs"), "{err}");
}
