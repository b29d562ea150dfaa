//! `bcm`: the iSCSI boot configuration manager (command-line entry point).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bcm::app::{self, BootAsk, StartError, StartOptions};
use bcm::cli::{Cli, Command, LogFormat, exit};
use bcm::config::Config;
use bcm::manager::{ManagerError, Progress, ProgressPhase, inventory_rows, with_probe_failures};
use clap::{CommandFactory, Parser};

/// A failure with its exit code and a message for a person.
struct Failure(u8, String);

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        let code = match &e {
            StartError::Config(_) => exit::CONFIG,
            StartError::NoIsnsServer(_)
            | StartError::NotSynced { .. }
            | StartError::Unreachable { .. } => exit::UNREACHABLE,
            StartError::Manager(m) => return manager_failure(m),
            _ => exit::FAILURE,
        };
        Self(code, e.to_string())
    }
}

fn manager_failure(e: &ManagerError) -> Failure {
    let code = match e {
        ManagerError::Rejected(r)
            if matches!(
                *r.reason,
                boot_config_core::RejectReason::ServerAlreadyHolds { .. }
            ) =>
        {
            exit::CONFLICT
        }
        ManagerError::Rejected(_) => exit::REJECTED,
        ManagerError::StepFailed { .. }
        | ManagerError::ReleaseIncomplete { .. }
        | ManagerError::RolledBackEarlier { .. } => exit::STEP_FAILED,
        ManagerError::Busy { .. } | ManagerError::Conflict(_) => exit::CONFLICT,
        ManagerError::NothingToRelease { .. } => exit::NOTHING,
        _ => exit::FAILURE,
    };
    Failure(code, e.to_string())
}

impl From<ManagerError> for Failure {
    fn from(e: ManagerError) -> Self {
        manager_failure(&e)
    }
}

fn init_logs(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never into a file or a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn config_of(cli: &Cli) -> Result<Config, Failure> {
    let mut config =
        app::load_config(cli.config.as_deref()).map_err(|e| Failure(exit::CONFIG, e))?;
    if let Some(s) = cli.isns {
        config.isns.server = Some(s);
    }
    if let Some(s) = &cli.store {
        config.manager.store.clone_from(s);
    }
    Ok(config)
}

/// Claims the store for a state-changing command (see [`app::StoreLock`]).
fn claim_store(config: &Config, role: &str) -> Result<app::StoreLock, Failure> {
    app::StoreLock::acquire(config, role).map_err(|e| {
        let code = match e {
            app::LockError::Busy { .. } => exit::CONFLICT,
            _ => exit::FAILURE,
        };
        Failure(code, e.to_string())
    })
}

/// The store claimed, or the API of the `bcm serve` that holds it.
enum Claim {
    /// This process holds the store.
    Store(app::StoreLock),
    /// `bcm serve` holds it: send the change to its API.
    Daemon(bcm::api_client::ApiClient),
}

/// Claims the store, or, when `bcm serve` holds it, a client of its API.
fn claim_or_daemon(config: &Config, role: &str) -> Result<Claim, Failure> {
    if let Some(api) = explicit_api(config) {
        return Ok(Claim::Daemon(api_client(&api, config)?));
    }
    match app::StoreLock::acquire(config, role) {
        Ok(lock) => Ok(Claim::Store(lock)),
        Err(app::LockError::Busy { api: Some(api), .. }) => {
            Ok(Claim::Daemon(api_client(&api, config)?))
        }
        Err(e) => Err(Failure(
            match e {
                app::LockError::Busy { .. } => exit::CONFLICT,
                _ => exit::FAILURE,
            },
            e.to_string(),
        )),
    }
}

/// The API the CLI is told to use: `BCM_API`, else `[client] api`.
fn explicit_api(config: &Config) -> Option<String> {
    std::env::var("BCM_API")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| config.client.api.clone())
}

fn api_client(api: &str, config: &Config) -> Result<bcm::api_client::ApiClient, Failure> {
    tracing::info!(api, "asking the API of bcm serve");
    bcm::api_client::ApiClient::new(api, config).map_err(|e| Failure(exit::CONFIG, e.to_string()))
}

/// Sends one request to the daemon's API; a refusal becomes the matching exit code.
async fn ask_daemon(
    client: &bcm::api_client::ApiClient,
    method: reqwest::Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value, Failure> {
    let answer = client
        .call(method, path, body)
        .await
        .map_err(|e| Failure(exit::UNREACHABLE, e.to_string()))?;
    if answer.is_success() {
        return Ok(answer.body);
    }
    Err(Failure(
        bcm::api_client::exit_code(answer.status),
        format!("bcm serve ({}): {}", client.base(), answer.error()),
    ))
}

/// A server name as one URL path segment.
fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `bcm provision`'s words for a provisioning report (local or from the API).
fn print_provisioned(v: &serde_json::Value, secret: Option<&str>) {
    let x = &v["assignment"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let p = &x["primary"];
    println!(
        "{} {}: {} LUN {} ({}) via {}",
        text(&x["server"]),
        if v["replayed"].as_bool() == Some(true) {
            "already has"
        } else {
            "now boots from"
        },
        text(&p["target"]),
        p["lun"],
        p["size"].as_str().unwrap_or("size unknown"),
        text(&p["portal"])
    );
    if let Some(why) = p["why"].as_str() {
        println!("  chosen by {why}");
    }
    if let Some(why) = x["secondary"]["why"].as_str() {
        println!("  secondary chosen by {why}");
    }
    println!(
        "  initiator {}  DD {}",
        text(&x["initiator"]),
        text(&x["dd_name"])
    );
    if let Some(u) = x["chap_user"].as_str() {
        println!(
            "  CHAP user {u}{}",
            secret.map(|s| format!("  secret {s}")).unwrap_or_default()
        );
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text =
        serde_json::to_string_pretty(v).map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Prints each plan step as it happens (stderr, so `--json` stdout stays clean).
fn step_printer() -> Arc<dyn Fn(&Progress) + Send + Sync> {
    Arc::new(|p: &Progress| {
        let line = match p.phase {
            ProgressPhase::Started => return,
            ProgressPhase::Done => format!(
                "  ✓ {}: {}",
                p.description,
                p.detail.as_deref().unwrap_or("")
            ),
            ProgressPhase::Failed => format!(
                "  ✗ {}: {}",
                p.description,
                p.detail.as_deref().unwrap_or("")
            ),
            ProgressPhase::Compensated => format!(
                "  ↺ {}: {}",
                p.description,
                p.detail.as_deref().unwrap_or("")
            ),
        };
        eprintln!("{line}");
    })
}

/// Probing progress on stderr: a bar redrawn in place on a terminal (erased when the round
/// is done, before the table), otherwise a plain line per tenth of the round.
fn progress_printer() -> Arc<dyn Fn(usize, usize) + Send + Sync> {
    let terminal = std::io::stderr().is_terminal();
    let last_tenth = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    Arc::new(move |probed, total| {
        let mut err = std::io::stderr().lock();
        if terminal {
            const WIDTH: usize = 30;
            let filled = (probed * WIDTH)
                .checked_div(total)
                .unwrap_or(WIDTH)
                .min(WIDTH);
            if probed >= total {
                let _ = write!(err, "\r\x1b[2K");
            } else {
                let _ = write!(
                    err,
                    "\r\x1b[2Kprobing targets [{}{}] {probed}/{total}",
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled)
                );
            }
        } else {
            let tenth = (probed * 10).checked_div(total).unwrap_or(10);
            if last_tenth.swap(tenth, std::sync::atomic::Ordering::Relaxed) != tenth {
                let _ = writeln!(err, "probing targets: {probed}/{total}");
            }
        }
        let _ = err.flush();
    })
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "bcm", &mut std::io::stdout());
            Ok(())
        }
        Command::Discover(a) => {
            let mut config = config_of(&cli)?;
            if a.da.is_some() {
                config.slp.da = a.da;
            }
            let found = bcm::discover::discover(&config.slp)
                .await
                .map_err(|e| Failure(exit::UNREACHABLE, format!("SLP discovery: {e}")))?;
            if a.json && !found.services.is_empty() {
                return print_json(&found);
            }
            if found.services.is_empty() {
                return Err(Failure(
                    exit::UNREACHABLE,
                    format!(
                        "no iSNS server found in scopes {} (is an SLP agent advertising service:iscsi:sms?)",
                        config.slp.scopes.join(", ")
                    ),
                ));
            }
            for s in &found.services {
                println!(
                    "{}  scope {}  priority {}  lifetime {}s  from {}",
                    s.url,
                    s.scope,
                    s.priority.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    s.lifetime,
                    s.responder
                );
            }
            Ok(())
        }
        Command::Inventory(a) => {
            let config = config_of(&cli)?;
            let running = app::start(
                &config,
                StartOptions {
                    on_progress: (!a.json).then(progress_printer),
                    no_recover: true,
                    fail_fast: true,
                    sync_timeout: a.timeout,
                    ..StartOptions::default()
                },
            )
            .await?;
            let rows = with_probe_failures(
                running.manager.with_engine(inventory_rows),
                &running.status.borrow().probe_failures,
            );
            running.shutdown().await;
            if a.json {
                return print_json(&rows);
            }
            println!(
                "{:<52} {:>4} {:>10} {:<10} {:<12} PORTALS",
                "TARGET", "LUN", "SIZE", "STATE", "SERVER"
            );
            for t in &rows {
                if t.luns.is_empty() {
                    println!(
                        "{:<52} {:>4} {:>10} {:<10} {:<12} {}",
                        t.target,
                        "-",
                        "-",
                        t.probe.as_ref().map_or("no LUNs", |p| p.state),
                        "",
                        t.portals.join(" ")
                    );
                }
                for l in &t.luns {
                    println!(
                        "{:<52} {:>4} {:>10} {:<10} {:<12} {}",
                        t.target,
                        l.lun,
                        l.size.as_deref().unwrap_or("?"),
                        l.state,
                        l.server.as_deref().unwrap_or(""),
                        t.portals.join(" ")
                    );
                }
                if let Some(p) = &t.probe {
                    println!("    probe {}: {}", p.state, p.reason);
                }
            }
            Ok(())
        }
        Command::Provision(a) => {
            let config = config_of(&cli)?;
            let ask = BootAsk {
                request_id: a.request_id.clone(),
                server: a.server.clone(),
                bmc: a.bmc.clone(),
                size: a.size.clone(),
                max_size: a.max_size.clone(),
                target_pattern: a.target_pattern.clone(),
                entities: a.entities.clone(),
                reachable_from: a.reachable_from.clone(),
                tags: a.tags.clone(),
                redundant: a.redundant,
                auth: a.auth.clone(),
                policy: a.policy.clone(),
                mac: a.mac.clone(),
                uuid: a.uuid.clone(),
                power_cycle: a.power_cycle.then_some(true),
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let req = ask
                .to_request(&config, now)
                .map_err(|e| Failure(exit::USAGE, e))?;
            if req.boot.server.bmc.is_none() {
                return Err(Failure(
                    exit::USAGE,
                    format!(
                        "server {}: no BMC address; give --bmc or list it in [[server]]",
                        a.server
                    ),
                ));
            }
            let _lock = match claim_or_daemon(&config, "provision")? {
                Claim::Store(lock) => lock,
                Claim::Daemon(client) => {
                    let body = serde_json::to_value(&ask)
                        .map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
                    let mut v = ask_daemon(
                        &client,
                        reqwest::Method::POST,
                        "/v1/boot-requests",
                        Some(&body),
                    )
                    .await?;
                    let secret = if a.show_secrets {
                        let path = format!(
                            "/v1/assignments/{}?show_secrets=true",
                            path_segment(&a.server)
                        );
                        let one = ask_daemon(&client, reqwest::Method::GET, &path, None).await?;
                        one["chap_secret"].as_str().map(str::to_owned)
                    } else {
                        None
                    };
                    if a.json {
                        if let Some(s) = &secret {
                            v["assignment"]["chap_secret"] = serde_json::json!(s);
                        }
                        return print_json(&v);
                    }
                    if let Some(steps) = v["steps"].as_array() {
                        for st in steps {
                            eprintln!(
                                "  ✓ {}: {}",
                                st["description"].as_str().unwrap_or_default(),
                                st["detail"].as_str().unwrap_or_default()
                            );
                        }
                    }
                    print_provisioned(&v, secret.as_deref());
                    return Ok(());
                }
            };
            let running = app::start(
                &config,
                StartOptions {
                    observer: (!a.json).then(step_printer),
                    on_progress: (!a.json).then(progress_printer),
                    fail_fast: true,
                    sync_timeout: a.timeout,
                    ..StartOptions::default()
                },
            )
            .await?;
            if let Some(u) = &a.uuid {
                bcm::boot::remember_request_uuid(&running.manager, &a.server, u)
                    .map_err(|e| Failure(exit::USAGE, e))?;
            }
            let result = running.manager.provision(req).await.map_err(|e| {
                let note = matches!(e, ManagerError::Rejected(_))
                    .then(|| running.status.borrow().unprobed_note())
                    .flatten();
                let mut f = Failure::from(e);
                if let Some(note) = note {
                    f.1 = format!("{}; {note}", f.1);
                }
                f
            });
            let secret = match (&result, a.show_secrets) {
                (Ok(_), true) => running.manager.chap_secret(&a.server)?,
                _ => None,
            };
            running.shutdown().await;
            let report = result?;
            if a.json {
                let mut v = serde_json::to_value(&report)
                    .map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
                if let Some(s) = secret {
                    v["assignment"]["chap_secret"] = serde_json::json!(s);
                }
                return print_json(&v);
            }
            let v =
                serde_json::to_value(&report).map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
            print_provisioned(&v, secret.as_deref());
            Ok(())
        }
        Command::Release(a) => {
            let config = config_of(&cli)?;
            let _lock = match claim_or_daemon(&config, "release")? {
                Claim::Store(lock) => lock,
                Claim::Daemon(client) => {
                    let path = format!("/v1/assignments/{}", path_segment(&a.server));
                    let v = ask_daemon(&client, reqwest::Method::DELETE, &path, None).await?;
                    if a.json {
                        return print_json(&v);
                    }
                    println!("{}: boot disk released", a.server);
                    return Ok(());
                }
            };
            let running = app::start(
                &config,
                StartOptions {
                    observer: (!a.json).then(step_printer),
                    fail_fast: true,
                    sync_timeout: a.timeout,
                    ..StartOptions::default()
                },
            )
            .await?;
            let result = running.manager.release(&a.server).await;
            running.shutdown().await;
            let steps = result?;
            if a.json {
                return print_json(
                    &serde_json::json!({"server": a.server, "released": true, "steps": steps}),
                );
            }
            println!("{}: boot disk released", a.server);
            Ok(())
        }
        Command::Status(a) => {
            let config = config_of(&cli)?;
            // The store is read directly (no token, no network), beside a daemon too; with
            // BCM_API or [client] api, the daemon's API is asked instead.
            if let Some(api) = explicit_api(&config) {
                return status_via_api(&api_client(&api, &config)?, a).await;
            }
            let (store, engine) = app::open_engine_read_only(&config)?;
            let assignments: Vec<_> = engine
                .ledger()
                .iter()
                .map(|x| bcm::manager::Assignment::of(x, &engine))
                .collect();
            let unfinished = store
                .unfinished()
                .map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
            let recent = store
                .recent(None, a.recent)
                .map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
            let conflicts = app::store_conflicts(&store)?;
            if a.json {
                let rows = |v: &[bcm::store::StoredRequest]| -> Vec<serde_json::Value> {
                    v.iter()
                        .map(|r| serde_json::json!({"request_id": r.request_id, "server": r.server, "kind": r.kind, "state": r.state, "error": r.error}))
                        .collect()
                };
                let assignments: Vec<serde_json::Value> = assignments
                    .iter()
                    .map(|x| {
                        let mut v = serde_json::to_value(x).unwrap_or_default();
                        v["boot"] = serde_json::to_value(bcm::boot::BootStatus::of(
                            &config,
                            &store,
                            &x.server,
                            &x.request_id,
                        ))
                        .unwrap_or_default();
                        v
                    })
                    .collect();
                return print_json(&serde_json::json!({
                    "assignments": assignments,
                    "unfinished": rows(&unfinished),
                    "recent": rows(&recent),
                    "conflicts": conflicts,
                }));
            }
            println!("{} assignment(s)", assignments.len());
            for x in &assignments {
                println!(
                    "  {:<16} {:<9} {} LUN {} ({})  {}",
                    x.server,
                    x.state,
                    x.primary.target,
                    x.primary.lun,
                    x.primary.size.as_deref().unwrap_or("?"),
                    x.initiator
                );
                let boot = bcm::boot::BootStatus::of(&config, &store, &x.server, &x.request_id);
                println!("  {:<16} boot {}: {}", "", boot.mode, boot.summary);
            }
            if !conflicts.is_empty() {
                println!(
                    "{} stored allocation(s) conflict with an older holder; `bcm repair` releases them:",
                    conflicts.len()
                );
                for c in &conflicts {
                    println!("  {c}");
                }
            }
            if !unfinished.is_empty() {
                println!(
                    "{} unfinished request(s) (resumed or rolled back at the next start):",
                    unfinished.len()
                );
                for r in &unfinished {
                    println!(
                        "  {} {} of {} — {}",
                        r.state,
                        r.kind.as_str(),
                        r.server,
                        r.error.as_deref().unwrap_or("")
                    );
                }
            }
            if !recent.is_empty() {
                println!("{} most recent request(s), newest first:", recent.len());
                for r in &recent {
                    println!(
                        "  {:<24} {:<9} {:<16} {:<12}{}",
                        r.request_id,
                        r.kind.as_str(),
                        r.server,
                        r.state,
                        r.error
                            .as_deref()
                            .map(|e| format!(" {e}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        Command::Serve(a) => serve(&cli, a).await,
        Command::Repair(a) => {
            let config = config_of(&cli)?;
            let _lock = claim_store(&config, "repair")?;
            let running = app::start(
                &config,
                StartOptions {
                    observer: (!a.json).then(step_printer),
                    ..StartOptions::default()
                },
            )
            .await?;
            let result = running.manager.repair().await;
            running.shutdown().await;
            let repaired = result?;
            if a.json {
                return print_json(&serde_json::json!({ "repaired": repaired }));
            }
            if repaired.is_empty() {
                println!("nothing to repair: no stored allocation conflicts with another");
            }
            for r in &repaired {
                println!("released {r}: it held what an older allocation holds");
            }
            Ok(())
        }
        Command::Demo(a) => bcm::demo::run(a)
            .await
            .map_err(|e| Failure(exit::FAILURE, e)),
    }
}

/// `bcm status` beside a running `bcm serve`: what its API says (assignments with their
/// boot state, recent requests).
async fn status_via_api(
    client: &bcm::api_client::ApiClient,
    a: &bcm::cli::StatusArgs,
) -> Result<(), Failure> {
    let assignments = ask_daemon(client, reqwest::Method::GET, "/v1/assignments", None).await?;
    let recent = ask_daemon(
        client,
        reqwest::Method::GET,
        &format!("/v1/requests?limit={}", a.recent),
        None,
    )
    .await?;
    if a.json {
        return print_json(&serde_json::json!({
            "api": client.base(),
            "assignments": assignments,
            "recent": recent,
        }));
    }
    let rows = assignments.as_array().map_or(&[][..], Vec::as_slice);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    println!(
        "{} assignment(s) (from bcm serve at {})",
        rows.len(),
        client.base()
    );
    for x in rows {
        let p = &x["primary"];
        println!(
            "  {:<16} {:<9} {} LUN {} ({})  {}",
            text(&x["server"]),
            text(&x["state"]),
            text(&p["target"]),
            p["lun"],
            p["size"].as_str().unwrap_or("?"),
            text(&x["initiator"])
        );
        println!(
            "  {:<16} boot {}: {}",
            "",
            text(&x["boot"]["mode"]),
            text(&x["boot"]["summary"])
        );
    }
    let recent = recent.as_array().map_or(&[][..], Vec::as_slice);
    if !recent.is_empty() {
        println!("{} most recent request(s), newest first:", recent.len());
        for r in recent {
            println!(
                "  {:<24} {:<9} {:<16} {:<12}{}",
                text(&r["request_id"]),
                text(&r["kind"]),
                text(&r["server"]),
                text(&r["state"]),
                r["error"]
                    .as_str()
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn serve(cli: &Cli, a: &bcm::cli::ServeArgs) -> Result<(), Failure> {
    let config = config_of(cli)?;
    let listen = a.listen.unwrap_or(config.api.listen);
    let auth = bcm::auth::ApiAuth::from_config(&config.api)
        .map_err(|e| Failure(exit::CONFIG, e.to_string()))?;
    if auth.is_open() && !listen.ip().is_loopback() {
        return Err(Failure(
            exit::CONFIG,
            format!(
                "refusing to serve the API on {listen} with no tokens: anyone who reaches it could \
                 release disks and read CHAP secrets; set [api] tokens (or [api] tokens_file), \
                 or listen on a loopback address such as 127.0.0.1"
            ),
        ));
    }
    let tls = match (&config.api.tls_cert, &config.api.tls_key) {
        (Some(cert), Some(key)) => Some(
            bcm::api_tls::server_config(cert, key)
                .map_err(|e| Failure(exit::CONFIG, e.to_string()))?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut lock = claim_store(&config, "serve")?;
    // A daemon waits for its first inventory round however long it takes (management DDs
    // for many targets are paced); the API listens once the engine knows the storage.
    let running = app::start(
        &config,
        StartOptions {
            sync_timeout: Some(Duration::from_secs(24 * 3600)),
            ..StartOptions::default()
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure(exit::FAILURE, format!("cannot listen on {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
    lock.announce_api_url(&format!("{scheme}://{bound}"))
        .map_err(|e| {
            Failure(
                exit::FAILURE,
                format!("cannot write {}: {e}", lock.path().display()),
            )
        })?;
    tracing::info!(%bound, isns = %running.isns_server, "bcm serve: API listening");
    if auth.is_open() {
        tracing::warn!(%bound, "the API is open: no [api] tokens, so every local user is an operator (allowed on loopback only)");
    } else {
        tracing::info!(tokens = auth.tokens().len(), "the API needs a bearer token");
    }
    eprintln!(
        "bcm serve: API on {scheme}://{bound}, dashboard {scheme}://{bound}/, iSNS {}",
        running.isns_server
    );
    if let Some(f) = &a.ready_file {
        std::fs::write(f, bound.to_string())
            .map_err(|e| Failure(exit::FAILURE, format!("{}: {e}", f.display())))?;
    }
    let boot = start_boot_listener(&config, &running).await?;
    let router = bcm::api::router(bcm::api::ApiState {
        manager: running.manager.clone(),
        config: Arc::new(config.clone()),
        status: running.status.clone(),
        auth: auth.clone(),
    })
    .merge(bcm::dashboard::router(bcm::dashboard::DashboardState {
        manager: running.manager.clone(),
        config: Arc::new(config.clone()),
        status: running.status.clone(),
        auth,
    }));
    // A shared store (PostgreSQL): one leader changes things, the others redirect changes.
    let ha = running
        .manager
        .with_store(bcm::store::Store::lease)
        .map(|lease| Arc::new(bcm::ha::spawn(&running, lease, config.store.lease)));
    let router = match &ha {
        Some(h) => router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(h),
            bcm::ha::route_changes,
        )),
        None => router,
    };
    let leads = {
        let ha = ha.clone();
        move || ha.as_ref().is_none_or(|h| h.may_change())
    };
    // Reservations that lapse without a running operation are rolled back; after each
    // inventory round (a fresh view of iSNS) unfinished work is retried and iSNS reconciled.
    let sweeper = {
        let m = running.manager.clone();
        let mut status = running.status.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            let mut rounds = status.borrow().rounds;
            // Incomplete rollbacks are retried with back-off (1 s doubling to 60 s); with none
            // pending the store is looked at every 5 s.
            let mut backoff = Duration::from_secs(1);
            let mut next_retry = tokio::time::Instant::now() + backoff;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(next_retry), if leads() => {
                        let left = m.retry_rollbacks().await;
                        if left == 0 {
                            backoff = Duration::from_secs(1);
                            next_retry = tokio::time::Instant::now() + Duration::from_secs(5);
                        } else {
                            next_retry = tokio::time::Instant::now() + backoff;
                            backoff = (backoff * 2).min(Duration::from_secs(60));
                        }
                    }
                    _ = tick.tick() => {
                        if !leads() {
                            continue;
                        }
                        let rolled = m.expire_lapsed().await;
                        if !rolled.is_empty() {
                            tracing::warn!(requests = %rolled.join(", "), "rolled back lapsed reservations");
                        }
                    }
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = status.borrow().rounds;
                        if now != rounds && leads() {
                            rounds = now;
                            match m.recover().await {
                                Ok(out) if !out.is_clean() => tracing::info!(outcome = %out, "reconciled after an inventory round"),
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "reconcile after an inventory round"),
                            }
                        }
                    }
                }
            }
        })
    };
    let served = match tls {
        Some(tls) => {
            let listener = bcm::api_tls::TlsListener::new(listener, tls)
                .map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
    };
    served.map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
    sweeper.abort();
    let _ = sweeper.await;
    if let Some(h) = &ha {
        h.step_down().await;
    }
    for task in boot {
        task.abort();
        let _ = task.await;
    }
    running.shutdown().await;
    Ok(())
}

/// The network-boot listener (`[boot] listen`) and the boot confirmer, when configured.
async fn start_boot_listener(
    config: &bcm::config::Config,
    running: &app::Running,
) -> Result<Vec<tokio::task::JoinHandle<()>>, Failure> {
    let Some(listen) = config.boot.listen else {
        return Ok(Vec::new());
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure(exit::FAILURE, format!("[boot] listen {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure(exit::FAILURE, e.to_string()))?;
    tracing::info!(%bound, "bcm serve: boot listener (iPXE) listening");
    eprintln!("bcm serve: iPXE entry script on http://{bound}/boot.ipxe");
    let shared = Arc::new(config.clone());
    let state = bcm::boot::BootState::new(running.manager.clone(), Arc::clone(&shared));
    let server = tokio::spawn(async move {
        if let Err(e) = bcm::boot::serve(listener, state, std::future::pending()).await {
            tracing::error!(error = %e, "boot listener stopped");
        }
    });
    let confirmer = bcm::boot::sessions::spawn_confirmer(running.manager.clone(), shared);
    Ok(vec![server, confirmer])
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logs(&cli);
    let json = cli.command.wants_json();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bcm: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(Failure(code, message)) => {
            if json {
                // A script reads the failure where it reads the answer.
                println!(
                    "{}",
                    serde_json::json!({"error": message, "exit_code": code})
                );
            } else {
                eprintln!("bcm: {message}");
            }
            ExitCode::from(code)
        }
    }
}
