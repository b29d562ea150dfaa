//! bcm's Redfish client against real Redfish services: `imm-sim --redfish` (HTTPS, sessions,
//! ETags, a settings object applied at reset) and, below, OpenStack's `sushy-emulator`.
//! What imm-sim stored is read back through its own Redfish tree (curl, verifying its
//! certificate) and the files it rendered for firmware.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;
mod rf_sim;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bcm::redfish::error::RedfishError;
use bcm::redfish::flow::{self, Endpoint};
use bcm::redfish::tls::{Fingerprint, Trust};
use bcm::redfish::transport::{Bounds, Credentials, Transport};
use ipmi_iscsi::params::{
    Authentication, ChapCredentials, IscsiBootParams, IscsiName, IscsiTarget, Lun, Secret,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use rf_sim::{NDF1, PASSWORD, RedfishSim, SETTINGS, header};

const TARGET: &str = "iqn.2026-12.test.bcm-redfish:disk";
const INITIATOR: &str = "iqn.2026-12.test.bcm-redfish:host";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bounds() -> Bounds {
    Bounds {
        request: Duration::from_secs(20),
        step: Duration::from_secs(90),
        ..Bounds::default()
    }
}

fn creds(password: &str) -> Credentials {
    Credentials {
        user: "admin".into(),
        password: password.into(),
    }
}

fn endpoint(rf: &RedfishSim, trust: Trust) -> Endpoint {
    Endpoint {
        bmc: rf.https.to_string(),
        trust,
        creds: creds(PASSWORD),
        system_uuid: None,
        mac: None,
    }
}

fn cert_fingerprint(rf: &RedfishSim) -> Fingerprint {
    let der = CertificateDer::from_pem_file(rf.cert()).unwrap();
    Fingerprint::of(&der)
}

fn mutual_params() -> IscsiBootParams {
    let mut p = IscsiBootParams::new(
        IscsiName::new(INITIATOR).unwrap(),
        IscsiTarget {
            name: IscsiName::new(TARGET).unwrap(),
            address: "127.0.0.1".parse().unwrap(),
            port: 3260,
            lun: Lun::new(1).unwrap(),
        },
    );
    p.auth = Authentication::MutualChap {
        initiator: ChapCredentials {
            user: "host-user".into(),
            secret: Secret::new("init-secret-01").unwrap(),
        },
        target: ChapCredentials {
            user: "disk-user".into(),
            secret: Secret::new("targ-secret-02").unwrap(),
        },
        allow_any_secret_length: false,
    };
    p
}

#[test]
fn configures_iscsi_boot_resets_and_reads_back_then_release_clears_it() {
    let rf = RedfishSim::start();
    let ep = endpoint(&rf, Trust::CaFile(rf.cert()));
    let rt = rt();
    let report = rt
        .block_on(flow::configure(&ep, &mutual_params(), true, bounds()))
        .unwrap();
    assert_eq!(report.function, NDF1);
    assert_eq!(
        report.patched, SETTINGS,
        "the settings object takes the PATCH"
    );
    assert!(report.session, "a session was used: {report}");
    assert_eq!(report.reset.as_deref(), Some("On"), "the server was off");
    assert_eq!(report.presented, Some(cert_fingerprint(&rf)));

    // The active function (settings applied at the reset) as imm-sim shows it.
    let f = rf.get(NDF1);
    assert_eq!(f["BootMode"], "iSCSI", "{f}");
    assert_eq!(f["iSCSIBoot"]["PrimaryTargetName"], TARGET);
    assert_eq!(f["iSCSIBoot"]["AuthenticationMethod"], "MutualCHAP");
    assert_eq!(f["iSCSIBoot"]["MutualCHAPUsername"], "disk-user");
    assert!(f["iSCSIBoot"]["CHAPSecret"].is_null());
    // What imm-sim renders for firmware carries the secrets bcm sent.
    let ipxe = std::fs::read_to_string(rf.render_dir().join("boot.ipxe")).unwrap();
    assert!(ipxe.contains(TARGET), "{ipxe}");
    assert!(
        ipxe.contains("init-secret-01") && ipxe.contains("targ-secret-02"),
        "{ipxe}"
    );
    // The session was deleted at the end.
    let sessions = rf.get("/redfish/v1/SessionService/Sessions");
    assert_eq!(sessions["Members@odata.count"], 0, "{sessions}");

    let cleared = rt.block_on(flow::clear(&ep, bounds())).unwrap();
    assert_eq!(cleared.function, NDF1);
    let s = rf.get(SETTINGS);
    assert_eq!(s["BootMode"], "Disabled", "{s}");
    assert!(s["iSCSIBoot"]["PrimaryTargetName"].is_null(), "{s}");
}

#[test]
fn trusts_on_first_use_then_refuses_a_changed_certificate_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let (udp, https) = RedfishSim::free_ports();
    let rf = RedfishSim::start_in(tmp.path(), udp, https);
    let rt = rt();
    let first = rt
        .block_on(flow::configure(
            &endpoint(&rf, Trust::FirstUse),
            &mutual_params(),
            false,
            bounds(),
        ))
        .unwrap();
    let pinned = first.presented.unwrap();
    assert_eq!(pinned, cert_fingerprint(&rf));
    assert_eq!(first.applies, "at the server's next reset");
    // Pinned: accepted.
    rt.block_on(flow::clear(&endpoint(&rf, Trust::Pinned(pinned)), bounds()))
        .unwrap();
    let before = rf.get(SETTINGS);

    // The BMC comes back with a new certificate.
    rf.peer.stop();
    drop(rf);
    let rf = RedfishSim::start_in(tmp.path(), udp, https);
    let now = cert_fingerprint(&rf);
    assert_ne!(now, pinned, "imm-sim generates its certificate at start");
    let err = rt
        .block_on(flow::configure(
            &endpoint(&rf, Trust::Pinned(pinned)),
            &mutual_params(),
            true,
            bounds(),
        ))
        .unwrap_err();
    match &err {
        RedfishError::CertificateChanged {
            pinned: p,
            presented,
            ..
        } => {
            assert_eq!((*p, *presented), (pinned, now));
        }
        other => panic!("expected a changed-certificate refusal, got: {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&pinned.to_string())
            && text.contains(&now.to_string())
            && text.contains("redfish_fingerprint"),
        "{text}"
    );
    assert_eq!(rf.get(SETTINGS)["BootMode"], before["BootMode"]);
    // A CA file that is not the BMC's is refused too (verification stays on).
    let other = tempfile::tempdir().unwrap();
    let (u2, h2) = RedfishSim::free_ports();
    let stranger = RedfishSim::start_in(other.path(), u2, h2);
    let err = rt
        .block_on(flow::clear(
            &endpoint(&rf, Trust::CaFile(stranger.cert())),
            bounds(),
        ))
        .unwrap_err();
    assert!(matches!(err, RedfishError::Transport { .. }), "{err}");
}

#[test]
fn a_412_re_reads_the_etag_and_retries_once() {
    let rf = RedfishSim::start();
    // An ETag read now, then another client changes the settings: the ETag is stale.
    let (_, head, _) = rf.curl("GET", SETTINGS, None);
    let stale = header(&head, "ETag").unwrap().to_owned();
    let (s, _, b) = rf.curl(
        "PATCH",
        SETTINGS,
        Some(
            r#"{"BootMode": "iSCSI", "iSCSIBoot": {"InitiatorName": "iqn.2026-12.test:other",
            "IPMaskDNSViaDHCP": true, "PrimaryTargetName": "iqn.2026-12.test:otherdisk",
            "PrimaryTargetIPAddress": "127.0.0.9", "PrimaryLUN": 4}}"#,
        ),
    );
    assert_eq!(s, 200, "{b}");
    let rt = rt();
    let mut t = Transport::new(
        &rf.https.to_string(),
        Trust::CaFile(rf.cert()),
        creds(PASSWORD),
        bounds(),
    )
    .unwrap();
    // The stale ETag really is refused (412) by the service.
    let r = rt
        .block_on(t.send(
            reqwest::Method::PATCH,
            SETTINGS,
            Some(&json!({"BootMode": "Disabled"})),
            Some(&stale),
        ))
        .unwrap();
    assert_eq!(r.status, 412);
    let before = t.requests;
    rt.block_on(flow::patch_if_match(
        &mut t,
        SETTINGS,
        &json!({"BootMode": "Disabled"}),
        Some(stale),
    ))
    .unwrap();
    assert_eq!(t.requests - before, 3, "PATCH (412), GET, PATCH");
    assert_eq!(rf.get(SETTINGS)["BootMode"], "Disabled");
}

#[test]
fn a_function_without_iscsi_is_refused_before_anything_is_written() {
    let rf = RedfishSim::start();
    let before = rf.get(SETTINGS);
    let active = rf.get(NDF1);
    // Function 2 (Ethernet only) by its MAC.
    let f2 = rf.get("/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/2");
    let mac = f2["Ethernet"]["MACAddress"].as_str().unwrap().to_owned();
    let mut ep = endpoint(&rf, Trust::CaFile(rf.cert()));
    ep.mac = Some(mac.to_uppercase());
    let err = rt()
        .block_on(flow::configure(&ep, &mutual_params(), true, bounds()))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RedfishError::Unsupported { .. }), "{text}");
    assert!(
        text.contains(&mac.to_uppercase()) && text.contains("nothing was written"),
        "{text}"
    );
    assert_eq!(rf.get(SETTINGS), before, "settings untouched");
    assert_eq!(rf.get(NDF1)["BootMode"], active["BootMode"]);
    assert_eq!(
        rf.get("/redfish/v1/Systems/1")["PowerState"],
        "Off",
        "no reset was posted"
    );
}

#[test]
fn the_services_extended_info_reaches_the_user() {
    let rf = RedfishSim::start();
    let rt = rt();
    // Wrong password: the session login is refused with the service's message.
    let mut ep = endpoint(&rf, Trust::CaFile(rf.cert()));
    ep.creds = creds("not-the-password");
    let err = rt
        .block_on(flow::configure(&ep, &mutual_params(), false, bounds()))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, RedfishError::Status { status: 401, .. }),
        "{text}"
    );
    // A value the service refuses: MessageId, Message and Resolution are all shown.
    let mut t = Transport::new(
        &rf.https.to_string(),
        Trust::CaFile(rf.cert()),
        creds(PASSWORD),
        bounds(),
    )
    .unwrap();
    let r = rt
        .block_on(t.send(
            reqwest::Method::PATCH,
            SETTINGS,
            Some(&json!({"BootMode": "Floppy"})),
            None,
        ))
        .unwrap();
    let err = t.status_error("PATCH", SETTINGS, &r);
    let text = err.to_string();
    assert!(text.contains("PropertyValueNotInList"), "{text}");
    assert!(
        text.contains("Floppy") && text.contains("resolution:"),
        "{text}"
    );
}

fn bcm_in(lab: &lab::Lab, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bcm"))
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

fn lab_get(lab: &lab::Lab, https: &str, cert: &Path, path: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(cert)
        .args(["-u", &format!("admin:{}", lab.bmc_password)])
        .arg(format!("https://{https}{path}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A lab whose one server's BMC serves Redfish (imm-sim `--redfish`), with `extra` in its
/// `[[server]]` table; returns the HTTPS address and the BMC's certificate.
fn redfish_lab(extra: &str) -> (lab::Lab, String, PathBuf) {
    let https = format!("127.0.0.1:{}", harness::free_tcp_port());
    let lab = lab::Lab::start(&lab::LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec!["iqn.2026-12.rf.array:disk64=64M".to_owned()],
        )],
        bmcs: 1,
        imm_args: format!("--redfish {https}"),
        server_extra: vec![(0, format!("{extra}\nredfish = \"{https}\""))],
        ..lab::LabSpec::default()
    });
    let cert = PathBuf::from(lab.imm.var("IMM_SIM_STATE_DIR"))
        .join(format!("127.0.0.1_{}", lab.bmc_first))
        .join("redfish.pem");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cert.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "imm-sim wrote no certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (lab, https, cert)
}

/// The BMC step refuses (the configured MAC is the function without iSCSI) before writing
/// anything, and the plan rolls back: no DD, no initiator left in iSNS, the request failed
/// with the reason, the BMC's settings untouched.
#[test]
fn a_refused_redfish_step_rolls_the_plan_back() {
    let (lab, https, cert) = redfish_lab("protocol = \"redfish\"");
    // Name the MAC of imm-sim's function 2 (Ethernet only) as the boot NIC: the server's
    // table is the last one of the config.
    let f2 = lab_get(
        &lab,
        &https,
        &cert,
        "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/2",
    );
    let mac = f2["Ethernet"]["MACAddress"].as_str().unwrap().to_owned();
    let mut config = std::fs::read_to_string(&lab.config).unwrap();
    config.push_str(&format!("mac = \"{mac}\"\n"));
    std::fs::write(&lab.config, config).unwrap();
    let before = lab_get(&lab, &https, &cert, SETTINGS);
    let (code, out, err) = bcm_in(
        &lab,
        &["provision", "--server", "server-0", "--size", "32MiB"],
    );
    assert_ne!(code, 0, "{out}{err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains("no iSCSI-capable NetworkDeviceFunction has MAC")
            && said.contains("nothing was written"),
        "{said}"
    );
    assert_eq!(lab_get(&lab, &https, &cert, SETTINGS), before);
    assert!(
        !lab.dds().contains_key("bcm:server-0"),
        "the DD was rolled back: {:?}",
        lab.dds()
    );
    assert!(
        !lab.nodes().contains("iqn.2026-12.com.example:server-0"),
        "the initiator was deregistered"
    );
}

/// The manager end to end: `bcm provision` and `bcm release` of a server whose BMC is
/// reached over Redfish (`protocol = "auto"` finds its service root), with tgtd and isnsd
/// real; the journal names the protocol and the certificate is pinned in the store.
#[test]
fn bcm_provisions_and_releases_a_server_over_redfish() {
    let https = format!("127.0.0.1:{}", harness::free_tcp_port());
    let lab = lab::Lab::start(&lab::LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec!["iqn.2026-12.rf.array:disk64=64M".to_owned()],
        )],
        bmcs: 1,
        imm_args: format!("--redfish {https}"),
        server_extra: vec![(0, format!("protocol = \"auto\"\nredfish = \"{https}\""))],
        ..lab::LabSpec::default()
    });
    let cert = PathBuf::from(lab.imm.var("IMM_SIM_STATE_DIR"))
        .join(format!("127.0.0.1_{}", lab.bmc_first))
        .join("redfish.pem");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cert.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "imm-sim wrote no certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out, err) = bcm_in(
        &lab,
        &["provision", "--server", "server-0", "--size", "32MiB"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let settings = lab_get(&lab, &https, &cert, SETTINGS);
    assert_eq!(settings["BootMode"], "iSCSI", "{settings}");
    assert_eq!(
        settings["iSCSIBoot"]["PrimaryTargetName"], "iqn.2026-12.rf.array:disk64",
        "{settings}"
    );
    assert_eq!(
        settings["iSCSIBoot"]["InitiatorName"],
        "iqn.2026-12.com.example:server-0"
    );

    let store = rusqlite::Connection::open(lab.dir.path().join("bcm.sqlite")).unwrap();
    let details: Vec<String> = store
        .prepare("SELECT COALESCE(detail, '') FROM journal")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        details
            .iter()
            .any(|d| d.contains(&format!("redfish https://{https}")) && d.contains(NDF1)),
        "{details:#?}"
    );
    let pin: String = store
        .query_row(
            "SELECT sha256 FROM bmc_cert_pins WHERE bmc = ?1",
            [&https],
            |r| r.get(0),
        )
        .unwrap();
    let der = CertificateDer::from_pem_file(&cert).unwrap();
    assert_eq!(pin, Fingerprint::of(&der).to_string());

    let (code, out, err) = bcm_in(&lab, &["release", "--server", "server-0"]);
    assert_eq!(code, 0, "{out}{err}");
    let settings = lab_get(&lab, &https, &cert, SETTINGS);
    assert_eq!(settings["BootMode"], "Disabled", "{settings}");
    assert!(
        settings["iSCSIBoot"]["PrimaryTargetName"].is_null(),
        "{settings}"
    );
}

#[test]
fn auto_takes_ipmi_when_nothing_answers_https() {
    // A port nothing listens on: the probe says "no Redfish" (not an error), so `auto`
    // goes on with RMCP+.
    let closed = format!("127.0.0.1:{}", harness::free_tcp_port());
    let ep = Endpoint {
        bmc: closed,
        trust: Trust::FirstUse,
        creds: creds(PASSWORD),
        system_uuid: None,
        mac: None,
    };
    assert!(!rt().block_on(flow::probe(&ep, bounds())).unwrap());
    // A Redfish service answers.
    let rf = RedfishSim::start();
    let ep = endpoint(&rf, Trust::CaFile(rf.cert()));
    assert!(rt().block_on(flow::probe(&ep, bounds())).unwrap());
}

/// OpenStack's `sushy-emulator` (fake driver, HTTPS with a certificate made at start): a
/// Redfish service with systems, boot override and power, but no NetworkDeviceFunctions.
/// bcm refuses with a clear message and leaves the system exactly as it was.
#[test]
fn sushy_emulator_is_refused_clearly_and_left_untouched() {
    harness::require_program("sushy-emulator");
    harness::require_program("openssl");
    let sushy = harness::Peer::start(
        "sushy",
        &[("SUSHY_PORT", harness::free_tcp_port().to_string())],
    );
    let cert = PathBuf::from(sushy.var("SUSHY_CERT"));
    let url = sushy.var("SUSHY_URL").to_owned();
    let system = sushy.var("SUSHY_SYSTEM").to_owned();
    let get = |path: &str| -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&cert)
            .arg(format!("{url}{path}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = get(&system);
    let ep = Endpoint {
        bmc: url.trim_start_matches("https://").to_owned(),
        trust: Trust::CaFile(cert.clone()),
        creds: creds("sushy-has-no-auth"),
        system_uuid: None,
        mac: None,
    };
    let rt = rt();
    assert!(
        rt.block_on(flow::probe(&ep, bounds())).unwrap(),
        "sushy is Redfish"
    );
    let err = rt
        .block_on(flow::configure(&ep, &mutual_params(), true, bounds()))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RedfishError::Unsupported { .. }), "{text}");
    assert!(
        text.contains("no NetworkDeviceFunctions") && text.contains("nothing was written"),
        "{text}"
    );
    let after = get(&system);
    assert_eq!(after["Boot"], before["Boot"], "boot override unchanged");
    assert_eq!(after["PowerState"], before["PowerState"], "power unchanged");
    let log = std::fs::read_to_string(sushy.var("SUSHY_LOG")).unwrap();
    assert!(
        !log.contains("\"PATCH ") && !log.contains("Actions/ComputerSystem.Reset"),
        "bcm wrote nothing: {log}"
    );
    // Release against it is a no-op, not a failure (nothing of ours is there).
    let cleared = rt.block_on(flow::clear(&ep, bounds())).unwrap();
    assert_eq!(cleared.applies, "nothing to clear");
}

/// A BMC that accepts the connection and never says a word (a hostile or hung service):
/// the request bound ends the push, and so does the step bound when it is the shorter.
#[test]
fn a_silent_bmc_is_bounded_per_request_and_per_step() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    let ep = Endpoint {
        bmc: addr.to_string(),
        trust: Trust::FirstUse,
        creds: creds(PASSWORD),
        system_uuid: None,
        mac: None,
    };
    let rt = rt();
    for (request, step, what) in [(1, 30, "GET /redfish/v1/"), (30, 1, "configure iscsi boot")] {
        let t0 = std::time::Instant::now();
        let err = rt
            .block_on(flow::configure(
                &ep,
                &mutual_params(),
                false,
                Bounds {
                    request: Duration::from_secs(request),
                    step: Duration::from_secs(step),
                    ..Bounds::default()
                },
            ))
            .unwrap_err();
        assert!(
            matches!(&err, RedfishError::Timeout { what: w, .. } if w == what),
            "{err}"
        );
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        assert!(err.is_transient());
    }
}

/// A scripted service for what neither imm-sim nor sushy-emulator does: no session service
/// (405: Basic), the function under the system's NetworkInterfaces, no settings object
/// (PATCH the function itself), and a 202 whose task monitor says Running once, then
/// Completed. Served over HTTPS by bcm's own TLS listener; bcm pins its certificate.
#[test]
fn basic_auth_network_interfaces_and_a_202_task_are_followed() {
    use axum::Json;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use std::sync::{Arc, Mutex};

    harness::require_program("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    const NDF: &str = "/redfish/v1/Systems/1/NetworkInterfaces/1/NetworkDeviceFunctions/1";
    #[derive(Default)]
    struct State {
        iscsi: serde_json::Value,
        mode: String,
        polls: u32,
        basic: u32,
        patches: u32,
    }
    let state = Arc::new(Mutex::new(State {
        mode: "Disabled".into(),
        ..State::default()
    }));
    let link = |p: &str| json!({"@odata.id": p});
    let members = |p: &str| json!({"Members": [{"@odata.id": p}]});
    let (s1, s2, s3, s4) = (state.clone(), state.clone(), state.clone(), state.clone());
    let app = axum::Router::new()
        .route("/redfish/v1/", get(move || async move { Json(json!({"Systems": link("/redfish/v1/Systems")})) }))
        .route("/redfish/v1/SessionService/Sessions", post(|| async { StatusCode::METHOD_NOT_ALLOWED }))
        .route("/redfish/v1/Systems", get(move || async move { Json(members("/redfish/v1/Systems/1")) }))
        .route("/redfish/v1/Systems/1", get(move |h: HeaderMap| async move {
            if h.get(header::AUTHORIZATION).is_some() {
                s4.lock().unwrap().basic += 1;
            }
            Json(json!({"UUID": "00000000-0000-4000-8000-000000000001", "PowerState": "On",
                "NetworkInterfaces": link("/redfish/v1/Systems/1/NetworkInterfaces")}))
        }))
        .route("/redfish/v1/Systems/1/NetworkInterfaces", get(move || async move {
            Json(members("/redfish/v1/Systems/1/NetworkInterfaces/1"))
        }))
        .route("/redfish/v1/Systems/1/NetworkInterfaces/1", get(move || async move {
            Json(json!({"NetworkDeviceFunctions": link("/redfish/v1/Systems/1/NetworkInterfaces/1/NetworkDeviceFunctions")}))
        }))
        .route("/redfish/v1/Systems/1/NetworkInterfaces/1/NetworkDeviceFunctions", get(move || async move {
            Json(members(NDF))
        }))
        .route(NDF, get(move || async move {
            let s = s1.lock().unwrap();
            let mut iscsi = s.iscsi.clone();
            if let Some(o) = iscsi.as_object_mut() {
                o.insert("CHAPSecret".into(), serde_json::Value::Null);
                o.insert("MutualCHAPSecret".into(), serde_json::Value::Null);
            }
            ([(header::ETAG, format!("\"v{}\"", s.patches))],
             Json(json!({"NetDevFuncCapabilities": ["Ethernet", "iSCSI"], "BootMode": s.mode,
                 "iSCSIBoot": iscsi})))
        }).patch(move |h: HeaderMap, Json(b): Json<serde_json::Value>| async move {
            let mut s = s2.lock().unwrap();
            let want = format!("\"v{}\"", s.patches);
            if h.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
                return StatusCode::PRECONDITION_FAILED.into_response();
            }
            s.patches += 1;
            s.mode = b["BootMode"].as_str().unwrap_or("?").to_owned();
            s.iscsi = b["iSCSIBoot"].clone();
            (StatusCode::ACCEPTED, [(header::LOCATION, "/redfish/v1/TaskService/Tasks/1")]).into_response()
        }))
        .route("/redfish/v1/TaskService/Tasks/1", get(move || async move {
            let mut s = s3.lock().unwrap();
            s.polls += 1;
            if s.polls == 1 {
                StatusCode::ACCEPTED.into_response()
            } else {
                Json(json!({"TaskState": "Completed"})).into_response()
            }
        }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = bcm::api_tls::server_config(&cert, &key).unwrap();
    let addr = rt.block_on(async {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = bcm::api_tls::TlsListener::new(tcp, config).unwrap();
        let addr = axum::serve::Listener::local_addr(&listener).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    let der = CertificateDer::from_pem_file(&cert).unwrap();
    let ep = Endpoint {
        bmc: addr.to_string(),
        trust: Trust::Pinned(Fingerprint::of(&der)),
        creds: creds("basic-pw"),
        system_uuid: Some("00000000-0000-4000-8000-000000000001".into()),
        mac: None,
    };
    let report = rt
        .block_on(flow::configure(&ep, &mutual_params(), false, bounds()))
        .unwrap();
    assert!(!report.session, "no session service: Basic");
    assert_eq!(report.function, NDF);
    assert_eq!(
        report.patched, NDF,
        "no settings object: the function itself"
    );
    assert_eq!(report.applies, "immediately");
    let s = state.lock().unwrap();
    assert_eq!(
        (s.patches, s.polls),
        (1, 2),
        "the task monitor was polled until Completed"
    );
    assert!(s.basic > 0, "Basic credentials were sent");
    assert_eq!(s.mode, "iSCSI");
    assert_eq!(
        s.iscsi["CHAPSecret"], "init-secret-01",
        "the PATCH carried the secret"
    );
}

/// The journal's step details, oldest first.
fn journal_details(lab: &lab::Lab) -> Vec<String> {
    let store = rusqlite::Connection::open(lab.dir.path().join("bcm.sqlite")).unwrap();
    store
        .prepare("SELECT COALESCE(detail, '') FROM journal ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Boot mode `pxe` with the BMC reached over Redfish (imm-sim `--redfish`): `bcm provision
/// --power-cycle` sets the ComputerSystem's boot source override to Pxe (Continuous, the
/// default persistent boot flags; Legacy, EFI off) and resets the server; the system's UUID
/// reaches the network-boot identity; `bcm release` sets the override back to Disabled.
/// Read back through imm-sim's own Redfish tree (curl, its certificate verified).
#[test]
fn bcm_network_boots_a_server_over_redfish_on_imm_sim_and_release_disables_it() {
    let (lab, https, cert) = redfish_lab("protocol = \"redfish\"\nboot = \"pxe\"");
    let system = "/redfish/v1/Systems/1";
    let before = lab_get(&lab, &https, &cert, system);
    assert_eq!(before["PowerState"], "Off", "{before}");
    assert_eq!(
        before["Boot"]["BootSourceOverrideEnabled"], "Disabled",
        "{before}"
    );
    let (code, out, err) = bcm_in(
        &lab,
        &[
            "provision",
            "--server",
            "server-0",
            "--size",
            "32MiB",
            "--power-cycle",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let after = lab_get(&lab, &https, &cert, system);
    let boot = &after["Boot"];
    assert_eq!(boot["BootSourceOverrideTarget"], "Pxe", "{after}");
    assert_eq!(boot["BootSourceOverrideEnabled"], "Continuous", "{after}");
    assert_eq!(boot["BootSourceOverrideMode"], "Legacy", "{after}");
    assert_eq!(
        after["PowerState"], "On",
        "the reset powered it on: {after}"
    );
    // Nothing of the iSCSI path was written: the function's settings are untouched.
    let settings = lab_get(&lab, &https, &cert, SETTINGS);
    assert!(
        settings["iSCSIBoot"]["PrimaryTargetName"].is_null(),
        "{settings}"
    );
    let uuid = after["UUID"].as_str().unwrap().to_ascii_lowercase();
    let details = journal_details(&lab);
    assert!(
        details
            .iter()
            .any(|d| d.contains(&format!("redfish https://{https}"))
                && d.contains("boot override Pxe Continuous Legacy")
                && d.contains("reset On")
                && d.contains(&format!("system uuid {uuid}"))),
        "{details:#?}"
    );

    let (code, out, err) = bcm_in(&lab, &["release", "--server", "server-0"]);
    assert_eq!(code, 0, "{out}{err}");
    let released = lab_get(&lab, &https, &cert, system);
    assert_eq!(
        released["Boot"]["BootSourceOverrideEnabled"], "Disabled",
        "{released}"
    );
    let details = journal_details(&lab);
    assert!(
        details
            .iter()
            .any(|d| d.contains("redfish https://") && d.contains("override cleared")),
        "{details:#?}"
    );
}

fn sushy_get(url: &str, cert: &Path, path: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(cert)
        .arg(format!("{url}{path}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Boot mode `pxe` against OpenStack's `sushy-emulator` (fake driver): `bcm provision
/// --power-cycle` sets the Pxe override and powers the system on, both read back from sushy
/// by curl (DMTF's `rf_boot_override.py` needs a session service, which sushy without auth
/// lacks: 404); `bcm release` ends the override. sushy
/// refuses a `Boot` PATCH without a target (400) and keeps `BootSourceOverrideEnabled` at
/// `Continuous`, so the clear falls back to target `None` there.
#[test]
fn bcm_network_boots_a_server_over_redfish_on_sushy_and_release_clears_the_override() {
    harness::require_program("sushy-emulator");
    harness::require_program("openssl");
    // sushy keeps its fake systems' state in $TMPDIR/sushy-emulator (SQLite) across
    // processes, keyed by UUID: this run gets its own.
    let state = tempfile::tempdir().unwrap();
    let sushy = harness::Peer::start(
        "sushy",
        &[
            ("SUSHY_PORT", harness::free_tcp_port().to_string()),
            ("TMPDIR", state.path().to_string_lossy().into_owned()),
        ],
    );
    let cert = PathBuf::from(sushy.var("SUSHY_CERT"));
    let url = sushy.var("SUSHY_URL").to_owned();
    let system = sushy.var("SUSHY_SYSTEM").to_owned();
    let https = url.trim_start_matches("https://").to_owned();
    let before = sushy_get(&url, &cert, &system);
    assert_eq!(before["PowerState"], "Off", "{before}");
    assert_ne!(
        before["Boot"]["BootSourceOverrideTarget"], "Pxe",
        "{before}"
    );
    let lab = lab::Lab::start(&lab::LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec!["iqn.2026-12.rf.array:disk64=64M".to_owned()],
        )],
        bmcs: 1,
        server_extra: vec![(
            0,
            format!(
                "protocol = \"redfish\"\nboot = \"pxe\"\nredfish = \"{https}\"\nredfish_ca_file = \"{}\"",
                cert.display()
            ),
        )],
        ..lab::LabSpec::default()
    });
    let (code, out, err) = bcm_in(
        &lab,
        &[
            "provision",
            "--server",
            "server-0",
            "--size",
            "32MiB",
            "--power-cycle",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let after = sushy_get(&url, &cert, &system);
    assert_eq!(after["Boot"]["BootSourceOverrideTarget"], "Pxe", "{after}");
    assert_eq!(
        after["Boot"]["BootSourceOverrideEnabled"], "Continuous",
        "{after}"
    );
    assert_eq!(after["Boot"]["BootSourceOverrideMode"], "Legacy", "{after}");
    let log = std::fs::read_to_string(sushy.var("SUSHY_LOG")).unwrap();
    assert!(
        log.contains("Actions/ComputerSystem.Reset HTTP/1.1\" 204"),
        "the reset was accepted: {log}"
    );
    // sushy's fake driver applies a power change 1 to 11 seconds after the request
    // ("hardware actions are not immediate").
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let power = sushy_get(&url, &cert, &system)["PowerState"].clone();
        if power == "On" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reset did not power the system on: {power}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let uuid = after["UUID"].as_str().unwrap().to_ascii_lowercase();
    let details = journal_details(&lab);
    assert!(
        details
            .iter()
            .any(|d| d.contains(&format!("redfish https://{https}"))
                && d.contains("boot override Pxe Continuous")
                && d.contains(&format!("system uuid {uuid}"))),
        "{details:#?}"
    );

    let (code, out, err) = bcm_in(&lab, &["release", "--server", "server-0"]);
    assert_eq!(code, 0, "{out}{err}");
    let released = sushy_get(&url, &cert, &system);
    assert_eq!(
        released["Boot"]["BootSourceOverrideTarget"], "None",
        "the override ended: {released}"
    );
}

/// A scripted service for the checks neither peer exercises: a system whose
/// `BootSourceOverrideTarget@Redfish.AllowableValues` lacks `Pxe` is refused naming what it
/// offers, with nothing written; once `Pxe` is offered, the PATCH carries `If-Match` with
/// the system's ETag (a stale one is answered 412 and retried once), `Once` (not
/// persistent) and `UEFI` (EFI), and the read-back passes.
#[test]
fn a_pxe_override_the_system_does_not_offer_is_refused_and_the_patch_uses_if_match() {
    use axum::Json;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use bcm::redfish::netboot::{self, NetbootSettings};
    use std::sync::{Arc, Mutex};

    harness::require_program("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success());

    struct State {
        targets: Vec<&'static str>,
        boot: serde_json::Value,
        version: u32,
        patches: u32,
        stale_once: bool,
        if_match: Vec<String>,
    }
    let state = Arc::new(Mutex::new(State {
        targets: vec!["Hdd", "Cd"],
        boot: json!({"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None",
            "BootSourceOverrideMode": "Legacy"}),
        version: 0,
        patches: 0,
        stale_once: true,
        if_match: Vec::new(),
    }));
    let (s1, s2) = (state.clone(), state.clone());
    let app = axum::Router::new()
        .route("/redfish/v1/", get(|| async { Json(json!({"Systems": {"@odata.id": "/redfish/v1/Systems"}})) }))
        .route("/redfish/v1/Systems", get(|| async { Json(json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]})) }))
        .route("/redfish/v1/Systems/1", get(move || async move {
            let s = s1.lock().unwrap();
            let mut boot = s.boot.clone();
            boot["BootSourceOverrideTarget@Redfish.AllowableValues"] = json!(s.targets);
            boot["BootSourceOverrideMode@Redfish.AllowableValues"] = json!(["Legacy", "UEFI"]);
            ([(header::ETAG, format!("\"s{}\"", s.version))],
             Json(json!({"UUID": "00000000-0000-4000-8000-0000000000aa", "PowerState": "On", "Boot": boot})))
        }).patch(move |h: HeaderMap, Json(b): Json<serde_json::Value>| async move {
            let mut s = s2.lock().unwrap();
            let got = h.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            s.if_match.push(got.clone());
            if s.stale_once {
                // Someone else changed the system between bcm's read and its PATCH.
                s.stale_once = false;
                s.version += 1;
            }
            if got != format!("\"s{}\"", s.version) {
                return StatusCode::PRECONDITION_FAILED.into_response();
            }
            s.patches += 1;
            s.version += 1;
            for (k, v) in b["Boot"].as_object().unwrap() {
                s.boot[k] = v.clone();
            }
            StatusCode::NO_CONTENT.into_response()
        }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = bcm::api_tls::server_config(&cert, &key).unwrap();
    let addr = rt.block_on(async {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = bcm::api_tls::TlsListener::new(tcp, config).unwrap();
        let addr = axum::serve::Listener::local_addr(&listener).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    let ep = Endpoint {
        bmc: addr.to_string(),
        trust: Trust::CaFile(cert.clone()),
        creds: creds("scripted-pw"),
        system_uuid: None,
        mac: None,
    };
    let settings = NetbootSettings {
        persistent: false,
        efi: true,
    };
    let err = rt
        .block_on(netboot::network_boot(&ep, settings, false, bounds()))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RedfishError::Unsupported { .. }), "{text}");
    assert!(
        text.contains("does not offer a Pxe boot override")
            && text.contains("AllowableValues: Hdd, Cd")
            && text.contains("nothing was written"),
        "{text}"
    );
    assert!(
        state.lock().unwrap().if_match.is_empty(),
        "no PATCH was sent"
    );

    state.lock().unwrap().targets = vec!["Hdd", "Pxe"];
    let report = rt
        .block_on(netboot::network_boot(&ep, settings, false, bounds()))
        .unwrap();
    assert_eq!(report.target, "Pxe");
    assert_eq!(report.enabled, "Once");
    assert_eq!(report.mode, Some("UEFI"));
    assert_eq!(
        report.uuid.as_deref(),
        Some("00000000-0000-4000-8000-0000000000aa")
    );
    let s = state.lock().unwrap();
    assert_eq!(s.patches, 1);
    assert_eq!(
        s.if_match,
        ["\"s0\"", "\"s1\""],
        "If-Match the ETag read, then the re-read one after the 412"
    );
    assert_eq!(s.boot["BootSourceOverrideEnabled"], "Once");
    assert_eq!(s.boot["BootSourceOverrideMode"], "UEFI");
    drop(s);

    let cleared = rt
        .block_on(netboot::clear_network_boot(&ep, bounds()))
        .unwrap();
    assert_eq!(cleared.enabled, "Disabled");
    assert_eq!(state.lock().unwrap().patches, 2);
}
