//! The `bcm` binary against real peers, as an operator runs it: how long `discover` takes
//! against a directory agent (pyslp), and what a one-shot command says about the LUNs it
//! found.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::Peer;

const BCM: &str = env!("CARGO_BIN_EXE_bcm");

fn slp_peer() -> Peer {
    harness::require_program("python3");
    Peer::start(
        "slp-peer",
        &[
            ("SLP_PEER_PORT", harness::free_udp_port().to_string()),
            (
                "SLP_PEER_REGISTER",
                "service:iscsi:sms://127.0.0.1:3205|service:iscsi:sms|(protocols=isns),(server-priority=1)|300"
                    .to_owned(),
            ),
        ],
    )
}

fn discover(peer: &Peer, slp: &str, json: bool) -> (std::process::Output, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bcm.toml");
    std::fs::write(&cfg, format!("[slp]\n{slp}\n")).unwrap();
    let da = format!("127.0.0.1:{}", peer.var("SLP_PEER_PORT"));
    let mut args = vec!["-c", cfg.to_str().unwrap(), "discover", "--da", &da];
    if json {
        args.push("--json");
    }
    let t = Instant::now();
    let out = Command::new(BCM).args(&args).output().unwrap();
    (out, t.elapsed())
}

#[test]
fn discover_is_bounded_by_the_configured_timeout_across_scopes() {
    let peer = slp_peer();
    // The DA serves DEFAULT and never answers the second scope.
    let (out, took) = discover(
        &peer,
        "timeout = \"2s\"\nscopes = [\"DEFAULT\", \"initiator-scope-list\"]",
        true,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["services"][0]["url"],
        "service:iscsi:sms://127.0.0.1:3205"
    );
    // Notes are words for a person, not Rust debug text.
    for n in v["notes"].as_array().unwrap() {
        let n = n.as_str().unwrap();
        assert!(!n.contains("Unanswered(") && n != "Finished", "{n}");
    }
}

#[test]
fn discover_ends_when_the_directory_agent_has_answered_every_scope() {
    let peer = slp_peer();
    let (out, took) = discover(&peer, "timeout = \"15s\"\nscopes = [\"DEFAULT\"]", false);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("service:iscsi:sms://127.0.0.1:3205"));
}

fn bcm_in(lab: &lab::Lab, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BCM)
        .arg("-c")
        .arg(&lab.config)
        .args(args)
        .env_remove("BCM_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn accounts(tgtd: &Peer) -> String {
    let (_, out, err) = harness::run(
        "tgtadm",
        &["--lld", "iscsi", "--op", "show", "--mode", "account"],
        &[("TGT_IPC_SOCKET", tgtd.var("TGT_IPC_SOCKET"))],
    );
    format!("{out}{err}")
}

/// Two storage systems (tgtd on 127.0.0.1 and on ::1, so two iSNS entities), CHAP through
/// the shipped per-system hook dispatcher, and the one-shot commands an operator runs.
#[test]
fn one_shot_commands_say_why_they_chose_what_failed_and_what_size() {
    let lab = lab::Lab::start(&lab::LabSpec {
        tgtds: vec![
            (
                "127.0.0.1".to_owned(),
                vec!["iqn.2026-12.ops.array1:disk64=64M".to_owned()],
            ),
            (
                "::1".to_owned(),
                vec!["iqn.2026-12.ops.array2:disk48=48M".to_owned()],
            ),
        ],
        bmcs: 2,
        chap: true,
        ..lab::LabSpec::default()
    });

    // Inventory: plain progress lines (stderr is a pipe), no colour, both sizes.
    let (code, out, err) = bcm_in(&lab, &["inventory"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("iqn.2026-12.ops.array1:disk64") && out.contains("64 MiB"),
        "{out}"
    );
    assert!(
        out.contains("iqn.2026-12.ops.array2:disk48") && out.contains("48 MiB"),
        "{out}"
    );
    assert!(err.contains("probing targets: 2/2"), "{err}");
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    // On a terminal (a pty from script(1)): a bar redrawn in place, erased before the table.
    let cmd = format!("{BCM} -c {} inventory", lab.config.display());
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let tty = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.contains("probing targets ["), "{tty:?}");
    let erased = tty.rfind("\r\x1b[2K").expect("the bar is erased");
    assert!(
        tty[erased..].contains("TARGET"),
        "the table follows the erased bar: {tty:?}"
    );
    assert!(
        !tty.contains("probing targets: "),
        "no plain lines on a terminal: {tty:?}"
    );

    // Provisioning says why: best fit, and the runner-up that lost.
    let (code, out, err) = bcm_in(
        &lab,
        &["provision", "--server", "server-0", "--size", "40MiB"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("now boots from: iqn.2026-12.ops.array2:disk48 LUN 1 (48 MiB)"),
        "{out}"
    );
    assert!(
        out.contains("chosen by best fit among 2 fitting LUNs; runner-up iqn.2026-12.ops.array1:disk64 LUN 1 (64 MiB on ")
            && out.contains("lost: it is larger (64 MiB against 48 MiB)"),
        "{out}"
    );
    // The CHAP account went to the ::1 tgtd only, through the dispatcher.
    let initiator = "iqn.2026-12.com.example:server-0";
    assert!(
        accounts(&lab.tgtds[1]).contains(initiator),
        "{}",
        accounts(&lab.tgtds[1])
    );
    assert!(!accounts(&lab.tgtds[0]).contains(initiator));

    // Status: the size recorded at provisioning, and --recent honoured.
    let (code, out, err) = bcm_in(&lab, &["status", "--recent", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("LUN 1 (48 MiB)") && !out.contains("(?)"),
        "{out}"
    );
    assert!(out.contains("1 most recent request(s)"), "{out}");

    // A second disk for the same server: a conflict (exit 7), not "no LUN fits".
    let (code, _, err) = bcm_in(
        &lab,
        &["provision", "--server", "server-0", "--size", "10MiB"],
    );
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("already holds"), "{err}");

    // The target now demands CHAP and the probe has no account: its row says so.
    let (code, out, err) = bcm_in(&lab, &["inventory", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == "iqn.2026-12.ops.array2:disk48")
        .unwrap();
    assert_eq!(row["probe"]["state"], "auth failed", "{row}");
    let (_, table, _) = bcm_in(&lab, &["inventory"]);
    assert!(table.contains("probe auth failed:"), "{table}");

    // A rejection counts the unprobed target with its reason, and is listed as refused.
    let (code, _, err) = bcm_in(
        &lab,
        &["provision", "--server", "server-1", "--size", "100MiB"],
    );
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("1 target could not be probed") && err.contains("auth failed"),
        "{err}"
    );
    let (code, out, err) = bcm_in(&lab, &["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["assignments"][0]["primary"]["size_bytes"], 48 << 20);
    assert!(
        status["recent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["state"] == "refused" && r["server"] == "server-1"),
        "{status}"
    );

    // Release removes the account from the ::1 tgtd again.
    let (code, _, err) = bcm_in(&lab, &["release", "--server", "server-0"]);
    assert_eq!(code, 0, "{err}");
    assert!(!accounts(&lab.tgtds[1]).contains(initiator));
}
