//! The `bcm` binary as an operator meets it, without peers: how fast and how clearly it
//! fails, what it prints for people and for scripts, and what a read-only command leaves
//! behind. Each test runs the real binary.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BCM: &str = env!("CARGO_BIN_EXE_bcm");

/// A config in `dir` pointing at iSNS `isns`, with its store in `dir`.
fn config(dir: &Path, isns: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("bcm.toml");
    let store = dir.join("store").join("bcm.sqlite");
    std::fs::write(
        &path,
        format!(
            "[isns]\nserver = \"{isns}\"\n[manager]\nstore = \"{}\"\n{extra}",
            store.display()
        ),
    )
    .unwrap();
    path
}

fn bcm(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let out = Command::new(BCM)
        .args(args)
        .env_remove("BCM_CONFIG")
        .env_remove("BCM_ISNS")
        .env_remove("BCM_STORE")
        .env_remove("BCM_LOG")
        .env_remove("BCM_BMC_PASSWORD")
        .output()
        .unwrap();
    (out, t.elapsed())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A TCP port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn inventory_against_a_refused_port_fails_within_seconds_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("127.0.0.1:{}", closed_port()), "");
    let (out, took) = bcm(&["-c", cfg.to_str().unwrap(), "inventory"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(err.contains("connection refused"), "{err}");
    // No BMC password is configured, and inventory never asks for one.
    assert!(!err.contains("BCM_BMC_PASSWORD"), "{err}");
    // A read-only command creates no store.
    assert!(!dir.path().join("store").exists());
    // Not a terminal: no colour codes in the log lines.
    assert!(!err.contains('\x1b'), "{err:?}");
}

#[test]
fn inventory_against_a_server_speaking_garbage_fails_within_seconds_naming_the_cause() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                // An iSNSP version 2 header: frames, but is not a version we speak.
                let _ = s.write_all(&[0, 2, 0x80, 3, 0, 0, 0x8c, 0, 0, 1, 0, 0]);
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &addr.to_string(), "");
    let (out, took) = bcm(&["-c", cfg.to_str().unwrap(), "inventory", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("protocol error"), "{msg}");
    assert!(msg.contains("version"), "{msg}");
    assert_eq!(v["exit_code"], 4);
}

#[test]
fn inventory_timeout_bounds_a_server_that_never_answers() {
    // Accepts and reads, never answers: not a definite cause, so --timeout decides.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &addr.to_string(), "");
    let (out, took) = bcm(&["-c", cfg.to_str().unwrap(), "inventory", "--timeout", "2s"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(err.contains("within 2 s"), "{err}");
}

#[test]
fn logs_are_coloured_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("127.0.0.1:{}", closed_port()), "");
    let cmd = format!("{BCM} -c {} inventory", cfg.display());
    // `script` gives the command a pseudo-terminal.
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("BCM_BMC_PASSWORD")
        .output()
        .expect("script(1) from util-linux");
    let tty = text(&out.stdout);
    assert!(tty.contains("connection refused"), "{tty}");
    assert!(tty.contains("\x1b["), "a terminal gets colour: {tty:?}");
}

#[test]
fn json_failures_are_a_json_object_on_stdout_with_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("127.0.0.1:{}", closed_port()), "");
    for args in [
        vec!["inventory", "--json"],
        vec!["release", "--server", "a", "--json"],
        vec!["status", "--json"],
    ] {
        let mut all = vec!["-c", cfg.to_str().unwrap()];
        all.extend(args.iter());
        let (out, _) = bcm(&all);
        let code = out.status.code().unwrap();
        assert_ne!(code, 0, "{args:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)));
        assert_eq!(v["exit_code"], code, "{args:?}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[test]
fn discover_json_exits_4_when_nothing_is_found() {
    // A "DA" that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let da = silent.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "127.0.0.1:3205",
        "[slp]\ntimeout = \"1s\"\nscopes = [\"a\"]\n",
    );
    for json in [false, true] {
        let mut args = vec!["-c", cfg.to_str().unwrap(), "discover", "--da", &da];
        if json {
            args.push("--json");
        }
        let (out, _) = bcm(&args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "json {json}: {}",
            text(&out.stderr)
        );
        if json {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(
                v["error"].as_str().unwrap().contains("no iSNS server"),
                "{v}"
            );
        }
    }
}

#[test]
fn size_without_a_unit_is_refused() {
    let (out, _) = bcm(&[
        "provision",
        "--server",
        "a",
        "--bmc",
        "127.0.0.1:623",
        "--size",
        "40",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no unit"), "{err}");
    assert!(err.contains("40GiB"), "{err}");
}

#[test]
fn status_without_a_store_creates_none_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("var").join("bcm.sqlite");
    let (out, _) = bcm(&["--store", store.to_str().unwrap(), "status"]);
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains(&format!("no store at {}", store.display())),
        "{err}"
    );
    assert!(!dir.path().join("var").exists(), "status created a store");
}

#[test]
fn provision_help_keeps_global_options_apart() {
    let (out, _) = bcm(&["provision", "--help"]);
    let help = text(&out.stdout);
    let (own, global) = help
        .split_once("Global options:")
        .expect("a Global options heading");
    assert!(own.contains("--size"));
    assert!(!own.contains("--config"), "{own}");
    assert!(global.contains("--config") && global.contains("--log"));
    assert!(own.contains("--timeout"));
}
