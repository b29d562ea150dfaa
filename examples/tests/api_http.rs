//! `bcm serve`'s HTTP API through a real HTTP client (curl), against real isnsd, tgtd and
//! imm-sim: health, inventory, boot requests (created, replayed, refused with clear 4xx),
//! assignments with and without secrets, metrics, release; and no secret in the logs.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;

use lab::{Lab, LabSpec};
use serde_json::Value;

#[test]
fn the_api_provisions_releases_and_rejects_malformed_requests() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec![
                "iqn.2026-12.api.storage:small=32M".to_owned(),
                "iqn.2026-12.api.storage:large=64M".to_owned(),
            ],
        )],
        bmcs: 2,
        chap: true,
        ..LabSpec::default()
    });
    lab.serve();

    let (code, body) = lab.curl("GET", "/health", None);
    assert_eq!(code, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["isns_registered"], true);

    let (code, body) = lab.curl("GET", "/v1/inventory", None);
    assert_eq!(code, 200);
    let inv: Value = serde_json::from_str(&body).unwrap();
    let sizes: Vec<u64> = inv
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["luns"][0]["size_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sizes,
        [64 << 20, 32 << 20],
        "targets sorted by name: large, small"
    );

    // Malformed requests: 400 with a message naming the problem.
    for (body, needle) in [
        ("{not json", "malformed boot request"),
        (r#"{"server":"server-0"}"#, "missing field `size`"),
        (
            r#"{"server":"server-0","size":"40GiB","colour":"red"}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"server":"server-0","size":"40 parsecs"}"#,
            "unknown unit",
        ),
        (
            r#"{"server":"server-0","size":"10MiB","auth":"kerberos"}"#,
            "mutual-chap",
        ),
        (r#"{"server":"nobody","size":"10MiB"}"#, "no BMC address"),
        (
            r#"{"server":"server-0","size":"10MiB","reachable_from":["10.0.0.0"]}"#,
            "address/prefix",
        ),
    ] {
        let (code, resp) = lab.curl("POST", "/v1/boot-requests", Some(body));
        assert_eq!(code, 400, "{body} -> {resp}");
        let v: Value = serde_json::from_str(&resp).unwrap_or_else(|e| panic!("{resp}: {e}"));
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{body} -> {msg}");
    }
    // Nothing fits: 422 with the engine's explanation.
    let (code, resp) = lab.curl(
        "POST",
        "/v1/boot-requests",
        Some(r#"{"server":"server-0","size":"1GiB"}"#),
    );
    assert_eq!(code, 422, "{resp}");
    assert!(resp.contains("largest available is 64 MiB"), "{resp}");

    // A real provisioning.
    let ask = r#"{"request_id":"api-1","server":"server-0","size":"40MiB"}"#;
    let (code, resp) = lab.curl("POST", "/v1/boot-requests", Some(ask));
    assert_eq!(code, 201, "{resp}\n{}", lab.serve_log());
    let r: Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(
        r["assignment"]["primary"]["target"],
        "iqn.2026-12.api.storage:large"
    );
    assert_eq!(r["replayed"], false);
    assert_eq!(r["steps"].as_array().unwrap().len(), 6, "{resp}");
    // Why it was chosen: the policy and the runner-up that lost.
    let choice = &r["assignment"]["primary"]["choice"];
    assert_eq!(choice["policy"], "BestFit", "{resp}");
    assert_eq!(choice["candidates"], 1, "{resp}");
    assert!(
        r["assignment"]["primary"]["why"]
            .as_str()
            .is_some_and(|w| w.starts_with("best fit among 1 fitting LUN")),
        "{resp}"
    );
    assert!(
        resp.find("secret").is_none(),
        "no secret in the response: {resp}"
    );
    // The same request again: replayed, 200.
    let (code, resp) = lab.curl("POST", "/v1/boot-requests", Some(ask));
    assert_eq!(code, 200, "{resp}");
    assert_eq!(
        serde_json::from_str::<Value>(&resp).unwrap()["replayed"],
        true
    );
    // The same ID for something else: 409.
    let (code, resp) = lab.curl(
        "POST",
        "/v1/boot-requests",
        Some(r#"{"request_id":"api-1","server":"server-0","size":"20MiB"}"#),
    );
    assert_eq!(code, 409, "{resp}");
    // Another disk for the same server: a conflict with what it holds (409), not "no LUN fits".
    let (code, resp) = lab.curl(
        "POST",
        "/v1/boot-requests",
        Some(r#"{"server":"server-0","size":"10MiB"}"#),
    );
    assert_eq!(code, 409, "{resp}");
    assert!(resp.contains("already"), "{resp}");

    // Assignments: the secret only when asked for.
    let (code, resp) = lab.curl("GET", "/v1/assignments/server-0", None);
    assert_eq!(code, 200);
    assert!(!resp.contains("chap_secret"), "{resp}");
    let (code, resp) = lab.curl("GET", "/v1/assignments/server-0?show_secrets=true", None);
    assert_eq!(code, 200);
    let secret = serde_json::from_str::<Value>(&resp).unwrap()["chap_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 16);
    let (code, _) = lab.curl("GET", "/v1/assignments/server-1", None);
    assert_eq!(code, 404);

    // The BMC got it (independent client).
    let (ok, flags) = lab.ipmitool(0, &["chassis", "bootparam", "get", "5"]);
    assert!(ok && flags.contains("Force PXE"), "{flags}");

    let (code, metrics) = lab.curl("GET", "/metrics", None);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("bcm_provisions_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bcm_provisions_total{outcome=\"replayed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bcm_luns{state=\"assigned\"} 1"),
        "{metrics}"
    );

    let (code, resp) = lab.curl("GET", "/v1/requests?server=server-0", None);
    assert_eq!(code, 200);
    assert!(resp.contains("\"state\":\"completed\""), "{resp}");

    // Release, then nothing to release.
    let (code, resp) = lab.curl("DELETE", "/v1/assignments/server-0", None);
    assert_eq!(code, 200, "{resp}");
    assert!(!lab.dds().contains_key("bcm:server-0"));
    let (code, _) = lab.curl("DELETE", "/v1/assignments/server-0", None);
    assert_eq!(code, 404);
    let (code, _) = lab.curl("GET", "/v1/nonexistent", None);
    assert_eq!(code, 404);
    // A release of nothing is not a failed release.
    let (_, metrics) = lab.curl("GET", "/metrics", None);
    assert!(
        metrics.contains("bcm_releases_total{outcome=\"ok\"} 1")
            && metrics.contains("bcm_releases_total{outcome=\"failed\"} 0")
            && metrics.contains("bcm_releases_total{outcome=\"nothing\"} 1"),
        "{metrics}"
    );

    // A body that is not JSON by its content type: 415; a body over the limit: 413.
    let url = format!("{}/v1/boot-requests", lab.api.as_deref().unwrap());
    let ask = r#"{"server":"server-1","size":"10MiB"}"#;
    let (_, out, _) = harness::run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "content-type: text/plain",
            "--data-binary",
            ask,
            &url,
        ],
        &[],
    );
    assert_eq!(out.trim(), "415");
    let big = format!(
        r#"{{"server":"server-1","size":"10MiB","tags":["{}"]}}"#,
        "x".repeat(100_000)
    );
    let body_file = lab.path().join("big.json");
    std::fs::write(&body_file, big).unwrap();
    let at = format!("@{}", body_file.display());
    let (_, out, _) = harness::run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "content-type: application/json",
            "--data-binary",
            &at,
            &url,
        ],
        &[],
    );
    assert_eq!(out.trim(), "413");

    lab.stop_serve();
    let log = lab.serve_log();
    // No [api] tokens on loopback: the API is open (the demo's default), and says so.
    assert!(log.contains("the API is open"), "{log}");
    // One info line per provisioning and release: server, LUN, outcome, duration.
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("INFO")).collect();
    assert!(
        lines.iter().any(|l| l.contains(" provisioning ")
            && l.contains("server=\"server-0\"")
            && l.contains("lun=iqn.2026-12.api.storage:large LUN 1")
            && l.contains("outcome=\"provisioned\"")
            && l.contains("took=")),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" release ") && l.contains("outcome=\"released\"")),
        "{log}"
    );
    // Words for people: no Rust Debug text or colour codes in a log written to a file.
    assert!(
        !log.contains("RecoveryOutcome {") && !log.contains('\x1b'),
        "{log}"
    );
    assert!(!log.contains(&secret), "the CHAP secret reached the log");
    assert!(
        !log.contains(&lab.bmc_password),
        "the BMC password reached the log"
    );
}
