//! The README's main command as a test: `bcm demo` against real peers (isnsd, tgtd, pyslp,
//! imm-sim, QEMU), then the facts it reports are asserted here: the DD membership isnsadm
//! listed, the BMC state ipmitool read, the VMs' serial markers and iBFT names, the refusal
//! of the unprovisioned server, the network boot of server-n through bcm's boot listener
//! (bmc-sim as its BMC), the release.
//!
//! A missing peer fails the test (the demo's start scripts fail); never a skip.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_provisions_two_servers_that_boot_and_refuses_the_third() {
    for p in [
        "isnsd",
        "isnsadm",
        "tgtd",
        "tgtadm",
        "ipmitool",
        "qemu-system-x86_64",
        "nasm",
        "python3",
    ] {
        harness::require_program(p);
    }
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_bcm"))
        .args(["--log", "error", "demo", "--repo"])
        .arg(harness::repo_root())
        .arg("--dir")
        .arg(dir.path().join("work"))
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bcm demo failed\n{stdout}\n{stderr}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();

    // SLP pointed at the iSNS server the peers run.
    let isns = r["isns_server"].as_str().unwrap();
    assert_eq!(
        r["discovered"],
        serde_json::json!([format!("service:iscsi:sms://{isns}")])
    );

    // The inventory: four targets, sizes as tgtd serves them.
    let sizes: Vec<(String, u64)> = r["inventory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_owned(),
                t["luns"][0]["size_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let mib = 1u64 << 20;
    assert_eq!(
        sizes,
        [
            ("iqn.2026-12.demo.storage:disk-32m".to_owned(), 32 * mib),
            ("iqn.2026-12.demo.storage:disk-48m".to_owned(), 48 * mib),
            ("iqn.2026-12.demo.storage:disk-64m".to_owned(), 64 * mib),
            ("iqn.2026-12.demo.storage:disk-96m".to_owned(), 96 * mib),
        ]
    );

    // Best fit for 40 MiB and 60 MiB.
    let expect = [
        ("server-a", "iqn.2026-12.demo.storage:disk-48m"),
        ("server-b", "iqn.2026-12.demo.storage:disk-64m"),
    ];
    for (i, (server, target)) in expect.iter().enumerate() {
        let a = &r["provisions"][i]["assignment"];
        assert_eq!(a["server"], *server);
        assert_eq!(a["primary"]["target"], *target);
        assert_eq!(a["state"], "committed");
        assert_eq!(a["chap_user"], a["initiator"], "CHAP was generated");
        let initiator = format!("iqn.2026-12.com.example:{server}");
        assert_eq!(a["initiator"], initiator.as_str());

        // isnsadm: the server's DD holds exactly its target and its initiator.
        let members: std::collections::BTreeSet<&str> = r["isnsadm_dds"][format!("bcm:{server}")]
            .as_array()
            .unwrap_or_else(|| panic!("isnsadm lists no DD bcm:{server}: {}", r["isnsadm_dds"]))
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(members, [*target, initiator.as_str()].into());

        // ipmitool -C 17 read the BMC: network (PXE) boot flags, the pushed initiator name.
        let (flags, name) = (
            r["ipmitool"][server][0].as_str().unwrap(),
            r["ipmitool"][server][1].as_str().unwrap(),
        );
        assert_eq!(name, initiator);
        if *server == "server-b" {
            // server-b's BMC was configured over Redfish: its iSCSI function says so (and
            // the OEM records ipmitool read are the same store's).
            assert_eq!(r["redfish"][server][0], "iSCSI", "{}", r["redfish"]);
            assert_eq!(r["redfish"][server][1], initiator.as_str());
        } else {
            assert!(flags.contains("Force PXE"), "{flags}");
        }

        // The VM booted the server's LUN; iPXE's iBFT names the pushed initiator and target.
        let vm = &r["vms"][i];
        assert_eq!(vm["exit_code"], 33, "{}", vm["serial_tail"]);
        assert_eq!(vm["booted_label"], target.rsplit(':').next().unwrap());
        assert_eq!(vm["ibft_initiator"], initiator.as_str());
        assert_eq!(vm["ibft_target"], *target);
    }

    // server-c was never provisioned: the target refused it, nothing booted.
    let refused = &r["refused"];
    assert_eq!(refused["server"], "server-c");
    assert!(
        refused["booted_label"].is_null(),
        "{}",
        refused["serial_tail"]
    );
    assert_ne!(refused["exit_code"], 33);

    // Network boot: server-n's standard BMC got force PXE only; its VM booted disk-32m
    // through the script bcm's boot listener served, and the login confirmed the boot.
    let nb = &r["netboot"];
    assert_eq!(nb["boot_flags"], "c004000000", "{nb}");
    assert!(
        nb["bmc_step"].as_str().unwrap().contains("power cycled"),
        "{nb}"
    );
    assert_eq!(nb["booted_label"], "disk-32m", "{nb}");
    assert!(
        nb["confirmation"]
            .as_str()
            .unwrap()
            .contains(", logged in at "),
        "{nb}"
    );

    // Released: server-b's DD is gone, server-a's stays.
    let after = r["dds_after_release"].as_object().unwrap();
    assert!(!after.contains_key("bcm:server-b"));
    assert!(after.contains_key("bcm:server-a"));
    assert!(stdout.contains("demo finished"), "{stdout}");
}
