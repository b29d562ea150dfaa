//! The `bcm` binary against real peers, as an operator runs it: how long `discover` takes
//! against a directory agent (pyslp), and what a one-shot command says about the LUNs it
//! found.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

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
