//! The dashboard in a real browser: headless Debian Chromium driven over WebDriver
//! (chromedriver) with fantoccini, against `bcm serve` on real isnsd, tgtd and imm-sim.
//! Log in; the inventory rows equal `GET /v1/inventory`; a boot request through the API
//! appears on the open page without a reload and a release removes it; a reader sees no
//! release control or secret; hostile names from iSNS and the config show as text and run
//! nothing. Chromium and chromedriver are peers: missing, the tests fail (never skip).

#[path = "../../scripts/peers/harness.rs"]
mod harness;
mod lab;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use lab::{Lab, LabSpec};
use serde_json::{Value, json};

/// A chromedriver process and a headless Chromium session through it.
struct Browser {
    client: Option<Client>,
    driver: Child,
}

impl Browser {
    async fn start(dir: &std::path::Path) -> Browser {
        harness::require_program("chromium");
        harness::require_program("chromedriver");
        let port = harness::free_tcp_port();
        let log = std::fs::File::create(dir.join("chromedriver.log")).unwrap();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         "--no-first-run", "--no-default-browser-check",
                         format!("--user-data-dir={}", dir.join("chromium").display())],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        let client = loop {
            let b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await;
            match b {
                Ok(c) => break c,
                // A readiness wait for chromedriver's port, not a measurement.
                Err(e) if t0.elapsed() < Duration::from_secs(60) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        Browser {
            client: Some(client),
            driver,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn js(&self, script: &str) -> Value {
        self.c().execute(script, vec![]).await.unwrap()
    }

    /// Waits (bounded) until `script` returns `true`; returns how long it took.
    async fn until(&self, what: &str, bound: Duration, script: &str) -> Duration {
        let t0 = Instant::now();
        loop {
            if self.js(script).await == Value::Bool(true) {
                return t0.elapsed();
            }
            assert!(t0.elapsed() < bound, "{what}: not within {bound:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The LUN rows of the page as `(target, lun, state, holder, size_bytes)`.
const PAGE_LUNS: &str = "return Array.from(document.querySelectorAll('#live tr.lun')).map(tr => \
     [tr.dataset.target, Number(tr.dataset.lun), tr.dataset.state, tr.dataset.server, \
      tr.dataset.size === '' ? null : Number(tr.dataset.size), \
      tr.querySelector('td.target').textContent]);";

fn api_luns(inventory: &Value) -> Value {
    let mut rows = Vec::new();
    for t in inventory.as_array().unwrap() {
        for l in t["luns"].as_array().unwrap() {
            rows.push(json!([
                t["target"],
                l["lun"],
                l["state"],
                l["server"].as_str().unwrap_or(""),
                l["size_bytes"],
                t["target"],
            ]));
        }
    }
    Value::Array(rows)
}

/// Rows in page order are grouped by storage system; the API sorts by target only.
fn sorted(v: &Value) -> Vec<String> {
    let mut rows: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    rows.sort();
    rows
}

fn demo_lab() -> Lab {
    // The demo's storage: one tgtd with four LUNs of different sizes, CHAP on.
    Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec![
                "iqn.2026-12.com.example.storage:disk1=32M".to_owned(),
                "iqn.2026-12.com.example.storage:disk2=48M".to_owned(),
                "iqn.2026-12.com.example.storage:disk3=64M".to_owned(),
                "iqn.2026-12.com.example.storage:disk4=80M".to_owned(),
            ],
        )],
        bmcs: 3,
        chap: true,
        ..LabSpec::default()
    })
}

#[test]
fn the_page_shows_the_inventory_and_follows_provisioning_live() {
    let mut lab = demo_lab();
    let api = lab.serve();
    let rt = runtime();
    rt.block_on(async {
        let b = Browser::start(lab.path()).await;
        // Log in: with no token configured (loopback), /login leads straight to the page.
        b.c().goto(&format!("{api}/login")).await.unwrap();
        assert_eq!(b.c().current_url().await.unwrap().path(), "/");
        assert_eq!(b.c().title().await.unwrap(), "bcm — iSCSI boot configuration");

        // The inventory rows equal the API's.
        let (code, body) = lab.curl("GET", "/v1/inventory", None);
        assert_eq!(code, 200, "{body}");
        let inventory: Value = serde_json::from_str(&body).unwrap();
        let page = b.js(PAGE_LUNS).await;
        assert_eq!(sorted(&page), sorted(&api_luns(&inventory)));
        assert_eq!(page.as_array().unwrap().len(), 4);
        assert!(
            lab.curl("GET", "/health", None).1.contains("\"isns_registered\":true"),
            "registered"
        );
        assert_eq!(b.js("return document.getElementById('registered').textContent").await, "registered");

        // A marker that a reload would wipe.
        b.js("window.__noReload = 1; return true;").await;
        let (code, body) = lab.curl(
            "POST",
            "/v1/boot-requests",
            Some(r#"{"server":"server-0","size":"40MiB","request_id":"dash-r1"}"#),
        );
        assert_eq!(code, 201, "{body}");
        let took = b
            .until(
                "the new assignment on the open page",
                Duration::from_secs(2),
                "const tr = document.querySelector('#live tr.assignment[data-server=\"server-0\"]'); \
                 return tr !== null && tr.dataset.state === 'committed';",
            )
            .await;
        assert_eq!(b.js("return window.__noReload === 1;").await, true, "the page was reloaded");
        let row = b
            .js("const tr = document.querySelector('#live tr.assignment[data-server=\"server-0\"]'); \
                 return [tr.dataset.target, tr.dataset.state, tr.querySelector('td.boot').textContent];")
            .await;
        assert_eq!(row[0], "iqn.2026-12.com.example.storage:disk2", "{row}");
        assert_eq!(row[1], "committed");
        // The holder shows in the storage table too.
        b.until(
            "the LUN's holder",
            Duration::from_secs(2),
            "const tr = document.querySelector('#live tr.lun[data-target=\"iqn.2026-12.com.example.storage:disk2\"]'); \
             return tr !== null && tr.dataset.server === 'server-0' && tr.dataset.state === 'assigned';",
        )
        .await;
        eprintln!("assignment shown {took:?} after the API answered");

        // Filtering by server hides the other rows; clearing it shows them again.
        let filter = b.c().find(Locator::Id("filter")).await.unwrap();
        filter.send_keys("server-0").await.unwrap();
        let visible = b
            .js("return Array.from(document.querySelectorAll('#live tr.lun')).filter(tr => !tr.hidden).length;")
            .await;
        assert_eq!(visible, 1);
        filter.clear().await.unwrap();
        b.js("document.getElementById('filter').dispatchEvent(new Event('input')); return true;").await;

        // No secret anywhere in the page, even for an operator.
        let (_, secret) = lab.curl("GET", "/v1/assignments/server-0?show_secrets=true", None);
        let secret: Value = serde_json::from_str(&secret).unwrap();
        let secret = secret["chap_secret"].as_str().expect("CHAP secret").to_owned();
        let html = b.c().source().await.unwrap();
        assert!(!html.contains(&secret), "the CHAP secret is on the page");
        assert!(!html.contains(&lab.bmc_password), "the BMC password is on the page");

        // A second server for the screenshot, then the page as the README shows it.
        let (code, body) = lab.curl(
            "POST",
            "/v1/boot-requests",
            Some(r#"{"server":"server-1","size":"60MiB","request_id":"dash-r2"}"#),
        );
        assert_eq!(code, 201, "{body}");
        b.until(
            "the second assignment",
            Duration::from_secs(2),
            "const tr = document.querySelector('#live tr.assignment[data-server=\"server-1\"]'); \
             return tr !== null && tr.dataset.state === 'committed';",
        )
        .await;
        let png = b.c().screenshot().await.unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        if let Ok(path) = std::env::var("BCM_DASHBOARD_SCREENSHOT") {
            std::fs::write(path, &png).unwrap();
        }

        // Released through the API: the row leaves the open page.
        let (code, body) = lab.curl("DELETE", "/v1/assignments/server-0", None);
        assert_eq!(code, 200, "{body}");
        b.until(
            "the released assignment gone",
            Duration::from_secs(2),
            "return document.querySelector('#live tr.assignment[data-server=\"server-0\"]') === null;",
        )
        .await;
        assert_eq!(b.js("return window.__noReload === 1;").await, true, "the page was reloaded");
        // The request list shows both provisionings and the release.
        b.until(
            "the release in the request list",
            Duration::from_secs(2),
            "return Array.from(document.querySelectorAll('#live tr.request')).some(tr => \
             tr.dataset.server === 'server-0' && tr.cells[2].textContent === 'release');",
        )
        .await;
        b.close().await;
    });
}

/// Every dashboard response denies inline script and foreign origins.
#[test]
fn every_dashboard_response_carries_the_content_security_policy() {
    let mut lab = Lab::start(&LabSpec::default());
    let api = lab.serve();
    for path in [
        "/",
        "/ui/live",
        "/ui/dashboard.js",
        "/ui/dashboard.css",
        "/login",
    ] {
        let (ok, out, err) = harness::run(
            "curl",
            &["-sS", "-D", "-", "-o", "/dev/null", &format!("{api}{path}")],
            &[],
        );
        assert!(ok, "{err}");
        let csp = out
            .lines()
            .find_map(|l| l.strip_prefix("content-security-policy: "))
            .unwrap_or_else(|| panic!("{path}: no CSP in\n{out}"));
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}

const MARKER_ALIAS: &str = "\"><script>window.pwned=1</script><img src=x onerror=window.pwned=2>";
const MARKER_NAME: &str =
    "iqn.2026-12.evil:\"><script>window.pwned=3</script><img src=x onerror=window.pwned=4>";
const MARKER_ENTITY: &str = "<b>x</b><script>window.pwned=5</script>";

#[test]
fn hostile_names_from_isns_and_the_config_show_as_text_and_run_nothing() {
    let mut lab = Lab::start(&LabSpec {
        // TOML escapes: the name carries markup, BEL and an ANSI colour sequence.
        extra_config: "\n[[server]]\nname = \"<i>srv</i>\\\"><script>window.pwned=6</script>\\u0007\\u001b[31m\"\nbmc = \"127.0.0.1:9\"\n".to_owned(),
        ..LabSpec::default()
    });
    // Registered straight into isnsd (isnsadm, a client that is not ours): a target with a
    // valid name and a hostile alias, in an entity with a hostile ID, at a portal where
    // nothing listens (so it stays unprobed, with its reason shown); and a target whose
    // iSCSI name itself carries markup, which isnsd accepts.
    let conf = lab.isnsd.var("ISNSADM_CONF").to_owned();
    let good = "iqn.2026-12.evil.example:alias";
    // A port nothing can listen on while the test runs: it is the local end of a connection
    // kept open (a port that was free a moment ago could be taken by a parallel test's peer,
    // and the probe would then not fail at once).
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let holder = std::net::TcpStream::connect(held.local_addr().unwrap()).unwrap();
    let _accepted = held.accept().unwrap();
    drop(held);
    let unused = holder.local_addr().unwrap().port();
    let (ok, out, err) = harness::run(
        "isnsadm",
        &[
            "-c",
            &conf,
            "--register",
            &format!("entity={MARKER_ENTITY}"),
            &format!("target={good},alias={MARKER_ALIAS}"),
            &format!("target={MARKER_NAME},alias={MARKER_ALIAS}"),
            &format!("portal=127.0.0.1:{unused}"),
        ],
        &[],
    );
    assert!(ok, "isnsadm: {out}{err}");
    let api = lab.serve();
    let rt = runtime();
    rt.block_on(async {
        let b = Browser::start(lab.path()).await;
        b.c().goto(&format!("{api}/")).await.unwrap();
        // The unprobed target with its reason (its probe fails: nothing listens).
        b.until(
            "the hostile-alias target, unprobed with its reason",
            Duration::from_secs(30),
            &format!(
                "const tr = document.querySelector('#live tr.unprobed[data-target=\"{good}\"]'); \
                 return tr !== null && tr.querySelector('td.reason').textContent.startsWith('unprobed: ');"
            ),
        )
        .await;
        // Let a few live updates replace the page's content.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(b.js("return typeof window.pwned;").await, "undefined");
        let alias = b
            .js(&format!(
                "return document.querySelector('#live tr[data-target=\"{good}\"] td.alias').textContent;"
            ))
            .await;
        assert_eq!(alias, MARKER_ALIAS);
        let entity = b.js("return Array.from(document.querySelectorAll('#storage h3 .name')).map(e => e.textContent);").await;
        assert!(
            entity.as_array().unwrap().iter().any(|e| e == MARKER_ENTITY),
            "{entity}"
        );
        let server = b
            .js("return Array.from(document.querySelectorAll('#live tr.server td.server')).map(e => e.textContent);")
            .await;
        assert!(
            server
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "<i>srv</i>\"><script>window.pwned=6</script>\\u{7}\\u{1b}[31m"),
            "{server}"
        );
        // No element came from any name: the page's one script, no image, no <i> or <b>.
        assert_eq!(b.js("return document.scripts.length;").await, 1);
        assert_eq!(b.js("return document.images.length;").await, 0);
        assert_eq!(b.js("return document.querySelectorAll('#live i, #live b').length;").await, 0);
        // A name outside the iSCSI grammar never reaches the inventory (bcm leaves such a
        // target out: it could not go into a BMC's boot parameters), nor the page.
        let (_, inv) = lab.curl("GET", "/v1/inventory", None);
        assert!(!inv.contains("pwned=3"), "{inv}");
        assert!(inv.contains(good), "{inv}");
        let source = b.c().source().await.unwrap();
        assert!(!source.contains("pwned=3"));
        // The control characters of the server's name reach the page only as escapes.
        assert!(!source.contains('\u{7}') && !source.contains('\u{1b}'));
        assert_eq!(b.js("return typeof window.pwned;").await, "undefined");
        b.close().await;
    });
}

const OPERATOR_TOKEN: &str = "op-dashboard-0123456789abcdef";
const READER_TOKEN: &str = "rd-dashboard-0123456789abcdef";

/// `curl` with a bearer token: (status, body).
fn curl_as(token: &str, api: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let auth = format!("authorization: Bearer {token}");
    let url = format!("{api}{path}");
    let mut args = vec![
        "-sS",
        "-X",
        method,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-H",
        &auth,
    ];
    if let Some(b) = body {
        args.extend(["-H", "content-type: application/json", "--data-binary", b]);
    }
    args.push(&url);
    let (ok, out, err) = harness::run("curl", &args, &[]);
    assert!(ok, "curl {method} {path}: {err}");
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

/// Clicks the submit button `css` and waits (bounded) until the answer's page has
/// replaced the form's document: a click does not wait for the navigation it starts.
async fn submit_and_wait(b: &Browser, css: &str) {
    b.js("window.bcmSubmitted = 1; return true;").await;
    b.c()
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t0 = Instant::now();
    loop {
        // During the navigation a script may fail to run: try again.
        let gone = b
            .c()
            .execute("return typeof window.bcmSubmitted === 'undefined';", vec![])
            .await;
        if matches!(gone, Ok(Value::Bool(true))) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "{css}: no answer page within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in(b: &Browser, api: &str, token: &str) {
    b.c().goto(&format!("{api}/login")).await.unwrap();
    let field = b.c().find(Locator::Id("token")).await.unwrap();
    field.send_keys(token).await.unwrap();
    submit_and_wait(b, "#login button[type=submit]").await;
}

#[test]
fn a_reader_signs_in_and_sees_no_release_control_or_secret() {
    let mut lab = Lab::start(&LabSpec {
        tgtds: vec![(
            "127.0.0.1".to_owned(),
            vec!["iqn.2026-12.com.example.storage:r1=32M".to_owned()],
        )],
        bmcs: 1,
        chap: true,
        api_extra: format!(
            "tokens = [\n  {{ name = \"ops\", role = \"operator\", secret = {{ value = \"{OPERATOR_TOKEN}\" }} }},\n  {{ name = \"view\", role = \"reader\", secret = {{ value = \"{READER_TOKEN}\" }} }},\n]\n"
        ),
        ..LabSpec::default()
    });
    let api = lab.serve();
    let (code, body) = curl_as(
        OPERATOR_TOKEN,
        &api,
        "POST",
        "/v1/boot-requests",
        Some(r#"{"server":"server-0","size":"16MiB","request_id":"dash-reader"}"#),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = curl_as(
        OPERATOR_TOKEN,
        &api,
        "GET",
        "/v1/assignments/server-0?show_secrets=true",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let secret = serde_json::from_str::<Value>(&body).unwrap()["chap_secret"]
        .as_str()
        .expect("CHAP secret")
        .to_owned();
    // Without a token: the page sends to the form, the live part is refused.
    let (ok, out, _) = harness::run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{api}/ui/live"),
        ],
        &[],
    );
    assert!(ok);
    assert_eq!(out.trim(), "401");

    let rt = runtime();
    rt.block_on(async {
        let b = Browser::start(lab.path()).await;
        b.c().goto(&format!("{api}/")).await.unwrap();
        assert_eq!(b.c().current_url().await.unwrap().path(), "/login");
        sign_in(&b, &api, "not-a-token-at-all-0000").await;
        let msg = b.c().find(Locator::Css("#login .error")).await.unwrap().text().await.unwrap();
        assert_eq!(msg, "That token is not accepted.");

        sign_in(&b, &api, READER_TOKEN).await;
        assert_eq!(b.c().current_url().await.unwrap().path(), "/");
        assert_eq!(b.js("return document.body.dataset.role;").await, "reader");
        b.until(
            "server-0's assignment",
            Duration::from_secs(2),
            "return document.querySelector('#live tr.assignment[data-server=\"server-0\"]') !== null;",
        )
        .await;
        // The cookie is HttpOnly: the page's script cannot read the token.
        assert_eq!(b.js("return document.cookie.includes('bcm_token');").await, false);
        // Let a live update or two pass, then look at everything the browser holds.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(b.js("return document.querySelectorAll('button.release').length;").await, 0);
        let html = b.c().source().await.unwrap();
        assert!(!html.contains("Release"), "a release control for a reader");
        for (what, s) in [
            ("CHAP secret", secret.as_str()),
            ("BMC password", lab.bmc_password.as_str()),
            ("operator token", OPERATOR_TOKEN),
            ("reader token", READER_TOKEN),
        ] {
            assert!(!html.contains(s), "the {what} is on the page");
        }
        // The live part the reader's browser fetches holds none either, and a release
        // attempted with the reader's cookie is refused.
        let fetched = b
            .js("const r = await fetch('/ui/live', {credentials: 'same-origin'}); \
                 const d = await fetch('/v1/assignments/server-0', {method: 'DELETE', credentials: 'same-origin'}); \
                 return [r.status, await r.text(), d.status];")
            .await;
        assert_eq!(fetched[0], 200);
        let live = fetched[1].as_str().unwrap();
        assert!(live.contains("server-0") && !live.contains(&secret) && !live.contains("Release"));
        assert_eq!(fetched[2], 403, "a reader's cookie released a disk");

        // Log out, then in as an operator: the release control is there and works.
        submit_and_wait(&b, "header form button").await;
        assert_eq!(b.c().current_url().await.unwrap().path(), "/login");
        b.c().goto(&format!("{api}/")).await.unwrap();
        assert_eq!(b.c().current_url().await.unwrap().path(), "/login", "logged out");
        sign_in(&b, &api, OPERATOR_TOKEN).await;
        assert_eq!(b.js("return document.body.dataset.role;").await, "operator");
        let release = b
            .c()
            .find(Locator::Css("button.release[data-server=\"server-0\"]"))
            .await
            .unwrap();
        release.click().await.unwrap();
        assert_eq!(release.text().await.unwrap(), "Confirm release");
        release.click().await.unwrap();
        b.until(
            "the released assignment gone",
            Duration::from_secs(30),
            "return document.querySelector('#live tr.assignment[data-server=\"server-0\"]') === null;",
        )
        .await;
        let (code, body) = curl_as(READER_TOKEN, &api, "GET", "/v1/assignments", None);
        assert_eq!((code, body.as_str()), (200, "[]"));
        b.close().await;
    });
}
