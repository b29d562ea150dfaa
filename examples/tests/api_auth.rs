//! Who may use `bcm serve`'s API, against real isnsd, tgtd and imm-sim, through real
//! clients (curl, and the `bcm` CLI): every route × {no token, wrong token, reader,
//! operator} answers exactly 401/403/2xx; no reader answer carries a secret; no token
//! reaches the daemon's log; `bcm serve` refuses a non-loopback listener without tokens;
//! HTTPS from a certificate and key file, and the CLI beside the daemon with `BCM_TOKEN`.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bcm::auth::Access;
use lab::{Lab, LabSpec};
use serde_json::Value;

const OPERATOR: &str = "op-5d41402abc4b2a76b9719d911017c592";
const READER: &str = "rd-7d793037a0760186574b0282f2f435e7";
const WRONG: &str = "op-5d41402abc4b2a76b9719d911017c593";

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    Wrong,
    Reader,
    Operator,
}

const EVERYONE: [Who; 4] = [Who::Nobody, Who::Wrong, Who::Reader, Who::Operator];

impl Who {
    fn token(self) -> Option<&'static str> {
        match self {
            Who::Nobody => None,
            Who::Wrong => Some(WRONG),
            Who::Reader => Some(READER),
            Who::Operator => Some(OPERATOR),
        }
    }
}

/// The status `who` must get from a route with `access` (`metrics_public` off): 0 stands
/// for "any 2xx".
fn expected(access: Access, who: Who) -> u16 {
    match (access, who) {
        (Access::Open, _) => 0,
        (_, Who::Nobody | Who::Wrong) => 401,
        (Access::Operator, Who::Reader) => 403,
        _ => 0,
    }
}

/// An answer: status, header lines (lower-case), body.
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

/// curl with a credential as a bearer header, or (`cookie`) as the dashboard's cookie.
fn call(
    base: &str,
    ca: Option<&Path>,
    method: &str,
    path: &str,
    body: Option<&str>,
    who: Who,
    cookie: bool,
) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head");
    let mut args: Vec<String> = [
        "-sS",
        "-X",
        method,
        "-D",
        head.to_str().unwrap(),
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--max-time",
        "120",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(ca) = ca {
        args.extend(["--cacert".to_owned(), ca.display().to_string()]);
    }
    match (who.token(), cookie) {
        (Some(t), false) => args.extend(["-H".to_owned(), format!("Authorization: Bearer {t}")]),
        (Some(t), true) => args.extend(["-H".to_owned(), format!("Cookie: bcm_token={t}")]),
        (None, _) => {}
    }
    if let Some(b) = body {
        args.extend([
            "-H".to_owned(),
            "content-type: application/json".to_owned(),
            "--data-binary".to_owned(),
            b.to_owned(),
        ]);
    }
    args.push(format!("{base}{path}"));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = harness::run("curl", &refs, &[]);
    assert!(ok, "curl {method} {path}: {err}");
    let (body, code) = out.rsplit_once('\n').unwrap();
    Answer {
        status: code.trim().parse().unwrap(),
        headers: std::fs::read_to_string(&head).unwrap().to_lowercase(),
        body: body.to_owned(),
    }
}

/// Adds lines to the lab's `[api]` section (the lab writes it last before the servers).
fn add_api_settings(lab: &Lab, lines: &str) {
    let text = std::fs::read_to_string(&lab.config).unwrap();
    let marker = "[api]\nlisten = \"127.0.0.1:0\"\n";
    assert!(
        text.contains(marker),
        "the lab's [api] section moved:\n{text}"
    );
    std::fs::write(
        &lab.config,
        text.replace(marker, &format!("{marker}{lines}\n")),
    )
    .unwrap();
}

/// Tokens: the operator's in a file named by `[api] tokens`, the reader's in `tokens_file`.
fn token_settings(dir: &Path) -> String {
    let op = dir.join("operator.token");
    std::fs::write(&op, format!("{OPERATOR}\n")).unwrap();
    let file = dir.join("tokens");
    std::fs::write(
        &file,
        format!("# NAME ROLE TOKEN\ngrafana reader {READER}\n"),
    )
    .unwrap();
    format!(
        "tokens = [{{ name = \"ops\", role = \"operator\", secret = {{ file = \"{}\" }} }}]\ntokens_file = \"{}\"",
        op.display(),
        file.display()
    )
}

/// `bcm serve` with debug logs (every refusal is logged), as the lab starts it otherwise.
fn serve_debug(lab: &mut Lab, scheme: &str) -> String {
    let ready = lab.dir.path().join("serve.ready");
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::File::create(lab.dir.path().join("serve.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bcm"))
        .args(["--log", "debug,isns_proto=info", "-c"])
        .arg(&lab.config)
        .args(["serve", "--ready-file"])
        .arg(&ready)
        .env_remove("BCM_TOKEN")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    lab.serve = Some(child);
    let t0 = Instant::now();
    while !ready.exists() {
        if let Some(c) = lab.serve.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            panic!("bcm serve exited with {status}:\n{}", lab.serve_log());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "bcm serve not ready:\n{}",
            lab.serve_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let api = format!(
        "{scheme}://{}",
        std::fs::read_to_string(&ready).unwrap().trim()
    );
    lab.api = Some(api.clone());
    api
}

/// This test's own statement of each route's access (not read from the code under test)
/// and one concrete request for it. A route in [`bcm::api::ROUTES`] without a case here
/// fails the test, as does a route whose rule differs from what this table states.
fn case_for(method: &str, path: &str) -> (Access, String, Option<&'static str>) {
    let boot = r#"{"server":"server-0","size":"16MiB","request_id":"auth-0"}"#;
    match (method, path) {
        ("GET", "/health") => (Access::Open, path.to_owned(), None),
        ("GET", "/metrics") => (Access::Metrics, path.to_owned(), None),
        ("GET", "/v1/inventory" | "/v1/assignments") => (Access::Reader, path.to_owned(), None),
        ("GET", "/v1/assignments/{server}") => {
            (Access::Reader, "/v1/assignments/server-0".to_owned(), None)
        }
        ("GET", "/v1/requests") => (Access::Reader, "/v1/requests?limit=10".to_owned(), None),
        // The operator's replay of the provisioning below: 200, nothing done again.
        ("POST", "/v1/boot-requests") => {
            (Access::Operator, "/v1/boot-requests".to_owned(), Some(boot))
        }
        ("DELETE", "/v1/assignments/{server}") => (
            Access::Operator,
            "/v1/assignments/server-0".to_owned(),
            None,
        ),
        _ => panic!(
            "route {method} {path} has no case in api_auth.rs: add one, with its expected access"
        ),
    }
}

#[test]
fn every_route_answers_exactly_by_role_and_no_reader_sees_a_secret_or_a_token_in_the_log() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec!["iqn.2026-12.auth.storage:disk=32M".to_owned()],
        )],
        bmcs: 1,
        chap: true,
        ..LabSpec::default()
    });
    add_api_settings(&lab, &token_settings(lab.dir.path()));
    let api = serve_debug(&mut lab, "http");
    let boot = r#"{"server":"server-0","size":"16MiB","request_id":"auth-0"}"#;

    // Provisioning needs an operator: a reader is refused before anything happens.
    let r = call(
        &api,
        None,
        "POST",
        "/v1/boot-requests",
        Some(boot),
        Who::Reader,
        false,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("operator"), "{}", r.body);
    let r = call(
        &api,
        None,
        "POST",
        "/v1/boot-requests",
        Some(boot),
        Who::Operator,
        false,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call(
        &api,
        None,
        "GET",
        "/v1/assignments/server-0?show_secrets=true",
        None,
        Who::Operator,
        false,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    let secret = v["chap_secret"].as_str().expect("CHAP secret").to_owned();
    assert!(secret.len() >= 12, "{secret}");

    // The walk: the DELETEs last, the operator's very last (it releases the disk).
    let mut routes: Vec<_> = bcm::api::ROUTES.to_vec();
    routes.sort_by_key(|r| r.method == "DELETE");
    assert!(routes.len() >= 8, "{routes:?}");
    let mut walked = 0;
    for rule in &routes {
        let (access, path, body) = case_for(rule.method, rule.path);
        assert_eq!(
            rule.access, access,
            "{} {}: the router's rule differs from this test's",
            rule.method, rule.path
        );
        for who in EVERYONE {
            if rule.method == "DELETE" && who == Who::Operator {
                continue;
            }
            for cookie in [false, true] {
                let r = call(&api, None, rule.method, &path, body, who, cookie);
                let want = expected(access, who);
                let what = format!(
                    "{} {} as {who:?} ({}): {} {}",
                    rule.method,
                    rule.path,
                    if cookie { "cookie" } else { "bearer" },
                    r.status,
                    r.body
                );
                if want == 0 {
                    assert!((200..300).contains(&r.status), "{what}");
                } else {
                    assert_eq!(r.status, want, "{what}");
                    let v: Value =
                        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}");
                }
                if r.status == 401 {
                    assert!(
                        r.headers.contains("www-authenticate: bearer"),
                        "{what}\n{}",
                        r.headers
                    );
                }
                if who != Who::Operator {
                    assert!(!r.body.contains(&secret), "a secret in {what}");
                }
                walked += 1;
            }
        }
    }
    assert_eq!(walked, routes.len() * 8 - 2, "every cell walked");

    // show_secrets is an operator's: a reader gets 403, whatever else it may read.
    let q = "/v1/assignments/server-0?show_secrets=true";
    for (who, want) in [(Who::Nobody, 401), (Who::Wrong, 401), (Who::Reader, 403)] {
        let r = call(&api, None, "GET", q, None, who, false);
        assert_eq!(r.status, want, "{who:?}: {}", r.body);
        assert!(!r.body.contains(&secret), "{who:?}: {}", r.body);
    }

    // The reader's refused DELETEs changed nothing; the operator's releases the disk.
    let r = call(
        &api,
        None,
        "GET",
        "/v1/assignments",
        None,
        Who::Reader,
        false,
    );
    assert!(r.body.contains("server-0"), "{}", r.body);
    let r = call(
        &api,
        None,
        "DELETE",
        "/v1/assignments/server-0",
        None,
        Who::Operator,
        false,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &api,
        None,
        "GET",
        "/v1/assignments",
        None,
        Who::Reader,
        true,
    );
    assert_eq!(r.body.trim(), "[]", "{}", r.body);

    lab.stop_serve();
    let log = lab.serve_log();
    assert!(
        log.contains("API request refused"),
        "refusals are logged at debug:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("API change")
            && l.contains("token=\"ops\"")
            && l.contains("method=DELETE")),
        "each change names its token:\n{log}"
    );
    for token in [OPERATOR, READER, WRONG, &secret] {
        assert!(!log.contains(token), "{token} in the daemon's log:\n{log}");
    }
}

fn bcm_cli(config: &Path, token: Option<&str>, args: &[&str]) -> Output {
    bcm_cli_api(config, token, None, args)
}

/// The CLI with `BCM_TOKEN` and `BCM_API` as given (and no other BCM_ variable).
fn bcm_cli_api(config: &Path, token: Option<&str>, api: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bcm"));
    cmd.arg("-c").arg(config).args(args);
    if let Some(api) = api {
        cmd.env("BCM_API", api);
    } else {
        cmd.env_remove("BCM_API");
    }
    cmd.env_remove("BCM_TOKEN")
        .env_remove("BCM_CA_FILE")
        .env_remove("BCM_CONFIG")
        .env_remove("BCM_STORE")
        .env_remove("BCM_LOG");
    if let Some(t) = token {
        cmd.env("BCM_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn serve_refuses_a_non_loopback_listener_without_tokens_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bcm.toml");
    let store = dir.path().join("bcm.sqlite");
    std::fs::write(
        &cfg,
        format!(
            "[manager]\nstore = \"{}\"\n[isns]\nserver = \"127.0.0.1:9\"\n[api]\nlisten = \"0.0.0.0:0\"\n",
            store.display()
        ),
    )
    .unwrap();
    for extra in [&[][..], &["--listen", "[::]:0"][..]] {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let t0 = Instant::now();
        let out = bcm_cli(&cfg, None, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("[api] tokens") && err.contains("loopback"),
            "{err}"
        );
        assert!(t0.elapsed() < Duration::from_secs(10), "refused at once");
        assert!(!store.exists(), "nothing opened before the refusal");
    }
    // A tokens file with a bad line: refused, naming the line, never echoing the token.
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("ops admin {OPERATOR}\n")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[manager]\nstore = \"{}\"\n[api]\nlisten = \"0.0.0.0:0\"\ntokens_file = \"{}\"\n",
            store.display(),
            tokens.display()
        ),
    )
    .unwrap();
    let out = bcm_cli(&cfg, None, &["serve"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("line 1") && err.contains("admin"), "{err}");
    assert!(!err.contains(OPERATOR), "{err}");
}

/// A CA and a certificate it signed for 127.0.0.1, as PEM files: (ca, cert, key).
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bcm test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &*ca).unwrap();
    let paths = (dir.join("ca.pem"), dir.join("api.pem"), dir.join("api.key"));
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

#[test]
fn https_listener_and_the_cli_beside_the_daemon_with_bcm_token() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec!["iqn.2026-12.auth.storage:tls=32M".to_owned()],
        )],
        bmcs: 1,
        chap: true,
        ..LabSpec::default()
    });
    let (ca, cert, key) = certificates(lab.dir.path());
    add_api_settings(
        &lab,
        &format!(
            "{}\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            token_settings(lab.dir.path()),
            cert.display(),
            key.display()
        ),
    );
    // The CLI trusts the CA through [client] ca_file.
    let mut text_cfg = std::fs::read_to_string(&lab.config).unwrap();
    text_cfg.push_str(&format!("\n[client]\nca_file = \"{}\"\n", ca.display()));
    std::fs::write(&lab.config, text_cfg).unwrap();
    let api = serve_debug(&mut lab, "https");
    assert!(api.starts_with("https://127.0.0.1:"), "{api}");

    let r = call(&api, Some(&ca), "GET", "/health", None, Who::Nobody, false);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &api,
        Some(&ca),
        "GET",
        "/v1/inventory",
        None,
        Who::Reader,
        false,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Not trusted without the CA; no plain HTTP on the TLS port.
    let (ok, _, _) = harness::run(
        "curl",
        &["-sS", "--max-time", "20", &format!("{api}/health")],
        &[],
    );
    assert!(!ok, "curl trusted a certificate it has no CA for");
    let plain = api.replacen("https://", "http://", 1);
    let (ok, code, _, _) = lab::curl(&format!("{plain}/health"), "GET", None);
    assert!(
        !ok || code == 0 || code == 400,
        "plain HTTP answered {code}"
    );

    // The daemon holds the store: the CLI sends its changes to the API with BCM_TOKEN.
    let cfg = lab.config.clone();
    let out = bcm_cli(
        &cfg,
        None,
        &["provision", "--server", "server-0", "--size", "16MiB"],
    );
    assert_eq!(
        out.status.code(),
        Some(9),
        "no token: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("needs a token"),
        "{}",
        text(&out.stderr)
    );
    let out = bcm_cli(
        &cfg,
        Some(READER),
        &["provision", "--server", "server-0", "--size", "16MiB"],
    );
    assert_eq!(out.status.code(), Some(9), "reader: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("operator"),
        "{}",
        text(&out.stderr)
    );
    let out = bcm_cli(
        &cfg,
        Some(OPERATOR),
        &[
            "provision",
            "--server",
            "server-0",
            "--size",
            "16MiB",
            "--json",
            "--show-secrets",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["assignment"]["server"], "server-0", "{v}");
    assert!(
        v["assignment"]["chap_secret"]
            .as_str()
            .is_some_and(|s| s.len() >= 12),
        "{v}"
    );

    // status reads the store itself, beside the daemon too (no token needed)...
    let out = bcm_cli(&cfg, None, &["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["assignments"][0]["server"], "server-0", "{v}");
    assert!(v.get("api").is_none(), "{v}");
    // ...and with BCM_API it asks the API, as from another host: a reader may.
    let out = bcm_cli_api(&cfg, None, Some(&api), &["status", "--json"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    let out = bcm_cli_api(&cfg, Some(READER), Some(&api), &["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["api"].as_str(), Some(api.as_str()), "{v}");
    assert_eq!(v["assignments"][0]["server"], "server-0", "{v}");
    assert!(!v.to_string().contains("chap_secret"), "{v}");
    let out = bcm_cli_api(&cfg, Some(READER), Some(&api), &["status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("server-0") && text(&out.stdout).contains("from bcm serve"),
        "{}",
        text(&out.stdout)
    );

    let out = bcm_cli(&cfg, Some(WRONG), &["release", "--server", "server-0"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    let out = bcm_cli(&cfg, Some(OPERATOR), &["release", "--server", "server-0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("server-0: boot disk released"),
        "{}",
        text(&out.stdout)
    );
    let out = bcm_cli(&cfg, Some(OPERATOR), &["release", "--server", "server-0"]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "nothing left: {}",
        text(&out.stderr)
    );

    // Without the CA the CLI says why it cannot trust the daemon.
    let no_ca = lab.dir.path().join("no-ca.toml");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    let cfg_text = cfg_text.replace(&format!("ca_file = \"{}\"", ca.display()), "");
    std::fs::write(&no_ca, cfg_text).unwrap();
    let out = bcm_cli_api(&no_ca, Some(READER), Some(&api), &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ca_file"),
        "{}",
        text(&out.stderr)
    );

    lab.stop_serve();
    let log = lab.serve_log();
    for token in [OPERATOR, READER, WRONG] {
        assert!(!log.contains(token), "{token} in the daemon's log:\n{log}");
    }
}
