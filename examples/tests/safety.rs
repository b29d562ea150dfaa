//! The promises a provisioning tool lives by, against real isnsd, tgtd and imm-sim (issue 14):
//! one store has one authority (a CLI beside `bcm serve` is refused; a store holding a LUN
//! twice is reported and repaired, keeping the older holder); one BMC boots one server; the
//! manager removes only what its store records it created (a target named under the manager's
//! own domain survives recovery); server names that fold to one iSCSI name, or carry control
//! characters, are refused before anything is reserved; a target serving one server is no
//! candidate for another, checked with `iscsi-inq` under the second server's initiator; and an
//! incomplete rollback is retried by the running daemon while `/health` says `degraded`.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lab::{Lab, LabSpec};
use serde_json::Value;

const INITIATOR: &str = "iqn.2026-12.com.example:";

/// Runs `bcm -c <lab config> args`: (exit code, stdout, stderr).
fn bcm(lab: &Lab, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bcm"))
        .arg("-c")
        .arg(&lab.config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn store_of(lab: &Lab) -> std::path::PathBuf {
    lab.path().join("bcm.sqlite")
}

/// Turns the lab's store into one an older `bcm` could have written with a CLI beside the
/// daemon: schema version 1 (no hold tables) and a second allocation, `young` of `server`,
/// holding the same LUN (and BMC) as the allocation of `holder`.
fn write_version_1_double_holder(store: &Path, holder: &str, server: &str) {
    let conn = rusqlite::Connection::open(store).unwrap();
    let (id, json): (String, String) = conn
        .query_row(
            "SELECT a.request_id, a.json FROM allocations a JOIN requests r
             ON r.request_id = a.request_id WHERE r.server = ?1",
            [holder],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut a: Value = serde_json::from_str(&json).unwrap();
    a["request"]["id"] = "young".into();
    a["request"]["server"]["name"] = server.into();
    a["initiator"] = format!("{INITIATOR}{server}").into();
    a["dd_name"] = format!("bcm:{server}").into();
    conn.execute_batch(
        "DROP TABLE lun_holds; DROP TABLE bmc_holds; DROP TABLE owned;
         UPDATE meta SET value = 1 WHERE key = 'schema';",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO requests SELECT 'young', ?2, kind, state, body_json, secret, error,
             created_ms + 1, updated_ms + 1, seq + 1000 FROM requests WHERE request_id = ?1",
        [id.as_str(), server],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO allocations (request_id, json) VALUES ('young', ?1)",
        [a.to_string()],
    )
    .unwrap();
}

fn post(lab: &Lab, body: &str) -> (u16, Value) {
    let (code, resp) = lab.curl("POST", "/v1/boot-requests", Some(body));
    let v = serde_json::from_str(&resp).unwrap_or_else(|e| panic!("{resp}: {e}"));
    (code, v)
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

#[test]
fn a_cli_beside_the_daemon_goes_through_its_api_and_a_store_holding_a_lun_twice_is_repaired() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec![
                "iqn.2026-12.one.storage:a=16M".to_owned(),
                "iqn.2026-12.one.storage:b=16M".to_owned(),
            ],
        )],
        bmcs: 3,
        ..LabSpec::default()
    });
    let api = lab.serve();
    // repair beside the daemon: refused (busy, exit 7), naming its API.
    let (code, _, err) = bcm(&lab, &["repair"]);
    assert_eq!(code, Some(7), "{err}");
    assert!(err.contains("`bcm serve`") && err.contains(&api), "{err}");
    // provision and release beside the daemon go to its API (open on loopback here; see
    // api_auth.rs for tokens): the daemon stays the one authority over the store.
    let (code, out, err) = bcm(
        &lab,
        &["provision", "--server", "server-1", "--size", "8MiB"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        lab.dds().contains_key("bcm:server-1"),
        "the daemon provisioned it"
    );
    assert!(
        lab.serve_log().contains("server=\"server-1\""),
        "{}",
        lab.serve_log()
    );
    let (code, out, err) = bcm(&lab, &["release", "--server", "server-1"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!lab.dds().contains_key("bcm:server-1"), "released");
    // The daemon serves on; read-only status works beside it.
    let (code, r) = post(&lab, r#"{"server":"server-0","size":"8MiB"}"#);
    assert_eq!(code, 201, "{r}\n{}", lab.serve_log());
    let status = lab.status();
    assert_eq!(status["assignments"].as_array().unwrap().len(), 1);
    lab.stop_serve();

    // A store an older bcm left with two holders of one LUN: every command still works.
    write_version_1_double_holder(&store_of(&lab), "server-0", "server-2");
    let status = lab.status();
    let conflicts = status["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{status}");
    assert_eq!(conflicts[0]["request"], "young");
    assert!(
        conflicts[0]["error"]
            .as_str()
            .unwrap()
            .contains("held by both"),
        "{status}"
    );
    let (code, out, err) = bcm(&lab, &["status"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("bcm repair"), "{out}");
    let (code, out, err) = bcm(&lab, &["repair"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("released young"), "{out}");
    let status = lab.status();
    assert_eq!(status["conflicts"], serde_json::json!([]), "{status}");
    let servers: Vec<&str> = status["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["server"].as_str().unwrap())
        .collect();
    assert_eq!(servers, ["server-0"], "the older holder kept its disk");
    let dds = lab.dds();
    assert!(
        dds["bcm:server-0"].contains(&format!("{INITIATOR}server-0")),
        "{dds:?}"
    );
    // The younger copied server-0's BMC: repair left that BMC's boot parameters alone.
    let (ok, flags) = lab.ipmitool(0, &["chassis", "bootparam", "get", "5"]);
    assert!(ok && flags.contains("Force PXE"), "{flags}");
}

#[test]
fn one_bmc_boots_one_server() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec![
                "iqn.2026-12.bmc.storage:a=16M".to_owned(),
                "iqn.2026-12.bmc.storage:b=16M".to_owned(),
            ],
        )],
        bmcs: 1,
        ..LabSpec::default()
    });
    lab.serve();
    let (code, r) = post(&lab, r#"{"server":"server-0","size":"8MiB"}"#);
    assert_eq!(code, 201, "{r}");
    // server-0's BMC, spelled with and without IPMI's port number... and as given.
    let bmc = format!("127.0.0.1:{}", lab.bmc_first);
    let (code, r) = post(
        &lab,
        &format!(r#"{{"server":"s8","size":"8MiB","bmc":"{bmc}"}}"#),
    );
    assert_eq!(code, 409, "{r}");
    assert!(
        error_of(&r).contains("server-0") && error_of(&r).contains(&bmc),
        "{r}"
    );
    assert!(!lab.dds().contains_key("bcm:s8"), "nothing was created");
    lab.stop_serve();
    // The CLI refuses it too, with the conflict code.
    let (code, _, err) = bcm(
        &lab,
        &[
            "provision",
            "--server",
            "s8",
            "--size",
            "8MiB",
            "--bmc",
            &bmc,
        ],
    );
    assert_eq!(code, Some(7), "{err}");
    assert!(err.contains("server-0"), "{err}");
    let status = lab.status();
    assert_eq!(status["assignments"].as_array().unwrap().len(), 1);
    assert_eq!(status["assignments"][0]["state"], "committed");
}

#[test]
fn recovery_removes_only_recorded_objects_and_never_a_target_named_under_our_domain() {
    // A storage array named under the manager's own domain (example.com, IQN date 2026-12):
    // exactly the names the old prefix rule took for the manager's own initiators.
    let array = format!("{INITIATOR}array1.boot");
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![("127.0.0.1".to_owned(), vec![format!("{array}=16M")])],
        bmcs: 1,
        ..LabSpec::default()
    });
    lab.serve();
    let (code, r) = post(
        &lab,
        r#"{"request_id":"r0","server":"server-0","size":"8MiB"}"#,
    );
    assert_eq!(code, 201, "{r}");
    let initiator = format!("{INITIATOR}server-0");
    assert_eq!(
        lab.dds().get("bcm:server-0"),
        Some(&[array.clone(), initiator.clone()].into())
    );
    lab.stop_serve();
    // The allocation is gone from the store (a release that lost its way): the DD and the
    // initiator it recorded as created by r0 are orphans now.
    {
        let conn = rusqlite::Connection::open(store_of(&lab)).unwrap();
        conn.execute("DELETE FROM allocations WHERE request_id = 'r0'", [])
            .unwrap();
        conn.execute(
            "UPDATE requests SET state = 'released' WHERE request_id = 'r0'",
            [],
        )
        .unwrap();
    }
    lab.serve();
    let dds = lab.dds();
    assert!(!dds.contains_key("bcm:server-0"), "orphan removed: {dds:?}");
    let nodes = lab.nodes();
    assert!(!nodes.contains(&initiator), "our initiator went: {nodes:?}");
    assert!(
        nodes.contains(&array),
        "the array's target is still registered: {nodes:?}\n{}",
        lab.serve_log()
    );
    assert!(
        !lab.serve_log().contains(&format!("{array}: deregistered")),
        "{}",
        lab.serve_log()
    );
    // And the target still serves: the next server gets it.
    let (code, r) = post(&lab, r#"{"server":"server-0","size":"8MiB"}"#);
    assert_eq!(code, 201, "{r}");
    assert_eq!(r["assignment"]["primary"]["target"], array.as_str());
}

#[test]
fn names_folding_together_or_with_control_characters_are_refused_before_reserving() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            (0..4)
                .map(|i| format!("iqn.2026-12.names.storage:t{i}=16M"))
                .collect(),
        )],
        bmcs: 4,
        ..LabSpec::default()
    });
    lab.serve();
    let bmc = |i: u16| format!("127.0.0.1:{}", lab.bmc_first + i);
    for (first, second, b1, b2) in [("Q", "q", 0, 1), ("a/b", "a-b", 2, 3)] {
        let (code, r) = post(
            &lab,
            &format!(
                r#"{{"server":"{first}","size":"8MiB","bmc":"{}"}}"#,
                bmc(b1)
            ),
        );
        assert_eq!(code, 201, "{r}");
        let (code, r) = post(
            &lab,
            &format!(
                r#"{{"server":"{second}","size":"8MiB","bmc":"{}"}}"#,
                bmc(b2)
            ),
        );
        assert_eq!(code, 409, "{second}: {r}");
        assert!(error_of(&r).contains(&format!("server {first}")), "{r}");
    }
    // The first holders keep their DDs and initiators.
    let dds = lab.dds();
    assert!(dds["bcm:q"].contains(&format!("{INITIATOR}q")), "{dds:?}");
    assert!(
        dds["bcm:a-b"].contains(&format!("{INITIATOR}a-b")),
        "{dds:?}"
    );
    // Control characters: 400 before anything is reserved.
    for name in ["a\\u0000b", "a\\nb", "tab\\tname"] {
        let (code, r) = post(
            &lab,
            &format!(r#"{{"server":"{name}","size":"8MiB","bmc":"{}"}}"#, bmc(1)),
        );
        assert_eq!(code, 400, "{name}: {r}");
        assert!(error_of(&r).contains("control character"), "{r}");
    }
    let (_, list) = lab.curl("GET", "/v1/assignments", None);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let (_, requests) = lab.curl("GET", "/v1/requests", None);
    assert!(!requests.contains("a\\nb"), "no request stored: {requests}");
    lab.stop_serve();
    let (code, _, err) = bcm(&lab, &["provision", "--server", "a\nb", "--size", "8MiB"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("control character"), "{err}");
}

#[test]
fn a_target_serving_one_server_is_not_opened_to_another() {
    harness::require_program("iscsi-inq");
    let multi = "iqn.2026-12.iso.storage:multi";
    let other = "iqn.2026-12.iso.storage:other";
    let mut lab = Lab::start(&LabSpec {
        // Best fit alone would put server-1 on the multi-LUN target's LUN 3.
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec![format!("{multi}=16M,64M,128M"), format!("{other}=256M")],
        )],
        bmcs: 2,
        ..LabSpec::default()
    });
    lab.serve();
    let (code, r) = post(&lab, r#"{"server":"server-0","size":"60MiB"}"#);
    assert_eq!(code, 201, "{r}");
    assert_eq!(r["assignment"]["primary"]["target"], multi);
    assert_eq!(r["assignment"]["primary"]["lun"], 2);
    let (code, r) = post(
        &lab,
        r#"{"server":"server-1","size":"100MiB","target_pattern":"*multi"}"#,
    );
    assert_eq!(code, 422, "{r}");
    assert!(
        error_of(&r).contains("target already serves another server"),
        "{r}"
    );
    let (code, r) = post(&lab, r#"{"server":"server-1","size":"100MiB"}"#);
    assert_eq!(code, 201, "{r}");
    assert_eq!(r["assignment"]["primary"]["target"], other);
    // Under server-1's initiator name: its own disk answers, no LUN of server-0's target does.
    let port = lab.tgtds[0].var("TGTD_PORT").to_owned();
    let inq = |target: &str, lun: u32| {
        let url = format!("iscsi://127.0.0.1:{port}/{target}/{lun}");
        harness::run(
            "iscsi-inq",
            &["-i", &format!("{INITIATOR}server-1"), &url],
            &[],
        )
        .0
    };
    assert!(inq(other, 1), "server-1 reaches its own disk");
    for lun in 1..=3 {
        assert!(!inq(multi, lun), "server-1 reached {multi} LUN {lun}");
    }
    assert!(
        harness::run(
            "iscsi-inq",
            &[
                "-i",
                &format!("{INITIATOR}server-0"),
                &format!("iscsi://127.0.0.1:{port}/{multi}/2")
            ],
            &[]
        )
        .0,
        "server-0 reaches its disk"
    );
}

#[test]
fn an_incomplete_rollback_is_retried_by_the_daemon_which_reports_degraded_meanwhile() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec!["iqn.2026-12.retry.storage:a=16M".to_owned()],
        )],
        bmcs: 2,
        chap: true,
        ..LabSpec::default()
    });
    // A CHAP hook that, while a flag file exists, fails `set` (the provisioning rolls back)
    // and hangs on `remove` past the hook timeout (the rollback stays incomplete).
    let flag = lab.path().join("hook-breaks");
    std::fs::write(&flag, "").unwrap();
    let hook = lab.path().join("chap-hook.sh");
    let real = lab.path().join("chap-hook-real.sh");
    std::fs::rename(&hook, &real).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh
if [ -e {flag} ]; then
  [ \"$BCM_CHAP_ACTION\" = remove ] && exec sleep 60
  echo 'array management unreachable' >&2
  exit 1
fi
exec {real}
",
            flag = flag.display(),
            real = real.display()
        ),
    )
    .unwrap();
    lab::run_ok("chmod", &["+x", hook.to_str().unwrap()]);
    let config = std::fs::read_to_string(&lab.config).unwrap();
    std::fs::write(
        &lab.config,
        config.replace("[targets]\n", "[targets]\nhook_timeout = \"2s\"\n"),
    )
    .unwrap();
    lab.serve();
    let (code, r) = post(
        &lab,
        r#"{"request_id":"r-hook","server":"server-1","size":"8MiB"}"#,
    );
    assert_eq!(code, 502, "{r}");
    assert!(
        error_of(&r).contains("rollback is incomplete"),
        "{r}\n{}",
        lab.serve_log()
    );
    let (code, body) = lab.curl("GET", "/health", None);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "degraded", "{body}");
    assert_eq!(code, 503, "{body}");
    assert_eq!(health["pending_rollbacks"], 1, "{body}");
    assert!(body.contains("incomplete rollback"), "{body}");
    // The hook works again: the daemon finishes the rollback on its own, no restart.
    std::fs::remove_file(&flag).unwrap();
    let t0 = Instant::now();
    loop {
        let (code, body) = lab.curl("GET", "/health", None);
        if code == 200 {
            let health: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(health["status"], "ok", "{body}");
            assert_eq!(health["pending_rollbacks"], 0, "{body}");
            break;
        }
        // Back-off doubles from 1 s; the retry after the flag went comes within ~8 s.
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "rollback not retried: {body}\n{}",
            lab.serve_log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, requests) = lab.curl("GET", "/v1/requests?server=server-1", None);
    assert!(requests.contains("\"state\":\"rolled-back\""), "{requests}");
    // The LUN is free again, and the hook works.
    let (code, r) = post(&lab, r#"{"server":"server-0","size":"8MiB"}"#);
    assert_eq!(code, 201, "{r}");
}
