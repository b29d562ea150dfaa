//! The target CHAP hook (`scripts/peers/tgt-chap.sh`) against a real tgtd: removing one
//! CHAP account leaves every other account of the target able to log in (`iscsi-inq` with
//! CHAP as the reference initiator) and tgtd alive, in every release order, also when a run
//! is killed half-way.
//!
//! tgt 1.0.85 keeps a target's incoming accounts in a slot array whose readers trust a
//! count: unbinding any account but the last leaves a hole that hides the last account and
//! makes `tgtadm --op show` dereference NULL (see the hook's header and docs/PEERS.md). The
//! first test shows that trigger with plain tgtadm; the others prove the hook avoids it.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use harness::Peer;

const A: &str = "iqn.2026-12.com.example:server-a";
const B: &str = "iqn.2026-12.com.example:server-b";
const C: &str = "iqn.2026-12.com.example:server-c";
const PROBE: &str = "iqn.2026-12.com.example:bcm-inventory";

fn secret(user: &str) -> String {
    format!("{}-secret-16", user.rsplit(':').next().unwrap())
}

fn target(i: usize) -> String {
    format!("iqn.2026-12.test.chap:t{i}")
}

struct Tgt {
    peer: Peer,
    port: String,
    socket: String,
}

impl Tgt {
    fn start(targets: usize) -> Tgt {
        for p in ["tgtd", "tgtadm", "iscsi-inq", "flock"] {
            harness::require_program(p);
        }
        let names: Vec<String> = (0..targets).map(|i| format!("{}=4M", target(i))).collect();
        let peer = Peer::start(
            "tgtd",
            &[
                ("TGTD_PORT", harness::free_tcp_port().to_string()),
                ("TGTD_TARGETS", names.join(" ")),
            ],
        );
        Tgt {
            port: peer.var("TGTD_PORT").to_owned(),
            socket: peer.var("TGT_IPC_SOCKET").to_owned(),
            peer,
        }
    }

    /// Runs the hook (in its own process group, with `path` first on `PATH` when given, and
    /// `env` added); its exit code (`None`: killed) and stderr.
    fn hook_with(
        &self,
        action: &str,
        target: &str,
        user: &str,
        path: Option<&Path>,
        env: &[(&str, String)],
    ) -> (Option<i32>, String) {
        let mut cmd = Command::new("bash");
        cmd.arg(harness::peers_dir().join("tgt-chap.sh"))
            .env("BCM_CHAP_ACTION", action)
            .env("BCM_TARGET", target)
            .env("BCM_CHAP_USER", user)
            .env("TGT_IPC_SOCKET", &self.socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .process_group(0);
        if let Some(dir) = path {
            let old = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{old}", dir.display()));
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if action == "set" {
            writeln!(stdin, "{}", secret(user)).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn hook(&self, action: &str, target: &str, user: &str) -> Option<i32> {
        let (code, err) = self.hook_with(action, target, user, None, &[]);
        assert!(
            code == Some(0) || (action == "check" && code == Some(3)),
            "hook {action} {user} on {target}: {code:?} {err}"
        );
        code
    }

    fn logs_in(&self, target: &str, user: &str) -> bool {
        let url = format!(
            "iscsi://{user}%{}@127.0.0.1:{}/{target}/1",
            secret(user),
            self.port
        );
        harness::run("iscsi-inq", &[&url], &[]).0
    }

    fn logs_in_without_chap(&self, target: &str) -> bool {
        let url = format!("iscsi://127.0.0.1:{}/{target}/1", self.port);
        harness::run("iscsi-inq", &[&url], &[]).0
    }

    fn tgtadm(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["--lld", "iscsi"];
        all.extend_from_slice(args);
        harness::run("tgtadm", &all, &[("TGT_IPC_SOCKET", &self.socket)])
    }

    /// tgtd answers `--op show --mode target` (what crashes it on a hole) and still runs.
    fn healthy(&self) -> bool {
        let (ok, out, _) = self.tgtadm(&["--op", "show", "--mode", "target"]);
        let pid = self.peer.var("TGTD_PID");
        ok && out.contains("Target 1:") && Path::new(&format!("/proc/{pid}/status")).exists()
    }

    fn accounts(&self) -> Vec<String> {
        let (ok, out, err) = self.tgtadm(&["--op", "show", "--mode", "account"]);
        assert!(ok, "{err}");
        out.lines()
            .skip(1)
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// The trigger itself, with plain tgtadm: A and B bound (in that order), A unbound and
/// deleted; B's correct secret is refused and the next `show` kills tgtd.
#[test]
fn tgt_1_0_85_loses_the_last_account_when_an_earlier_one_is_unbound() {
    let t = Tgt::start(1);
    let tgt = target(0);
    for u in [A, B] {
        let s = secret(u);
        assert!(
            t.tgtadm(&[
                "--op",
                "new",
                "--mode",
                "account",
                "--user",
                u,
                "--password",
                &s
            ])
            .0
        );
        assert!(
            t.tgtadm(&[
                "--op", "bind", "--mode", "account", "--tid", "1", "--user", u
            ])
            .0
        );
    }
    assert!(t.logs_in(&tgt, B), "B logs in while A is bound before it");
    assert!(
        t.tgtadm(&[
            "--op", "unbind", "--mode", "account", "--tid", "1", "--user", A
        ])
        .0
    );
    assert!(
        t.tgtadm(&["--op", "delete", "--mode", "account", "--user", A])
            .0
    );
    assert!(
        !t.logs_in(&tgt, B),
        "tgt no longer loses B after A is unbound: the hook's rebinding may be dropped"
    );
    assert!(
        !t.healthy(),
        "tgtd survived `show` with a hole in its account slots"
    );
}

/// Every order of releasing A, B and C, on targets where each server's account was bound
/// followed by the inventory probe's (as the manager does) and on targets with the three
/// servers only. After every release each remaining account logs in, the released one and a
/// login without CHAP are refused while an account remains (with none, tgtd asks for no
/// authentication), and tgtd answers `show`.
/// An account bound to other targets survives until its last target releases it.
#[test]
fn releasing_chap_accounts_in_any_order_keeps_the_others_logging_in() {
    const ORDERS: [[&str; 3]; 6] = [
        [A, B, C],
        [A, C, B],
        [B, A, C],
        [B, C, A],
        [C, A, B],
        [C, B, A],
    ];
    let t = Tgt::start(2 * ORDERS.len());
    // Targets 0..6 get [A, probe, B, C], targets 6..12 [A, B, C].
    let layouts: Vec<(String, Vec<&str>, [&str; 3])> = (0..2 * ORDERS.len())
        .map(|i| {
            let with_probe = i < ORDERS.len();
            let mut bound = vec![A];
            if with_probe {
                bound.push(PROBE);
            }
            bound.extend([B, C]);
            (target(i), bound, ORDERS[i % ORDERS.len()])
        })
        .collect();
    for (tgt, bound, _) in &layouts {
        for u in bound {
            t.hook("set", tgt, u);
        }
        for u in bound {
            assert!(t.logs_in(tgt, u), "{u} on {tgt} right after set");
        }
        assert!(!t.logs_in_without_chap(tgt));
    }
    for step in 0..3 {
        for (tgt, bound, order) in &layouts {
            let gone = order[step];
            t.hook("remove", tgt, gone);
            assert_eq!(t.hook("check", tgt, gone), Some(3), "{gone} still on {tgt}");
            let remaining: Vec<&str> = bound
                .iter()
                .copied()
                .filter(|u| !order[..=step].contains(u))
                .collect();
            for u in &remaining {
                assert!(
                    t.logs_in(tgt, u),
                    "{u} refused on {tgt} after releasing {:?}",
                    &order[..=step]
                );
                assert_eq!(t.hook("check", tgt, u), Some(0));
            }
            if remaining.is_empty() {
                // No account left: tgtd asks for no authentication at all.
                assert!(t.logs_in_without_chap(tgt), "{tgt} with no account bound");
            } else {
                assert!(!t.logs_in(tgt, gone), "{gone} still admitted on {tgt}");
                assert!(
                    !t.logs_in_without_chap(tgt),
                    "{tgt} admits without CHAP while {remaining:?} are bound"
                );
            }
            assert!(t.healthy(), "tgtd after releasing {gone} on {tgt}");
        }
    }
    // Each server account was deleted with its last binding; the probe's stays.
    assert_eq!(t.accounts(), vec![PROBE.to_owned()]);
}

/// A release killed after (or just before) any one of its tgtadm changes is finished by the
/// next run of the hook, before that run reads anything: B and C log in, A does not, tgtd
/// lives. The kill comes from a `tgtadm` wrapper first on `PATH` that kills the hook's
/// process group at the n-th change.
#[test]
fn a_release_killed_half_way_is_finished_by_the_next_run() {
    // Releasing A from [A, B, C] takes 10 changes (see the hook): unbind C, unbind B,
    // new guard, bind guard, unbind A, bind B, unbind guard, delete guard, bind C, delete A.
    const CHANGES: usize = 10;
    let t = Tgt::start(2 * CHANGES);
    let real = harness::run("sh", &["-c", "command -v tgtadm"], &[])
        .1
        .trim()
        .to_owned();
    let shim_dir = tempfile::tempdir().unwrap();
    let count = shim_dir.path().join("count");
    std::fs::write(
        shim_dir.path().join("tgtadm"),
        format!(
            "#!/bin/sh\ncase \" $* \" in *' --op show '*) exec {real} \"$@\";; esac\n\
             n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}\n\
             [ \"$n\" = \"$KILL_AT\" ] && [ \"$KILL_WHEN\" = before ] && kill -KILL 0\n\
             {real} \"$@\"; rc=$?\n\
             [ \"$n\" = \"$KILL_AT\" ] && kill -KILL 0\n\
             exit $rc\n",
            count = count.display()
        ),
    )
    .unwrap();
    harness::run(
        "chmod",
        &["+x", shim_dir.path().join("tgtadm").to_str().unwrap()],
        &[],
    );
    for kill_at in 1..=CHANGES {
        for (n, when) in ["before", "after"].into_iter().enumerate() {
            let tgt = target(2 * (kill_at - 1) + n);
            for u in [A, B, C] {
                t.hook("set", &tgt, u);
            }
            std::fs::write(&count, "0").unwrap();
            let (code, _) = t.hook_with(
                "remove",
                &tgt,
                A,
                Some(shim_dir.path()),
                &[
                    ("KILL_AT", kill_at.to_string()),
                    ("KILL_WHEN", when.to_owned()),
                ],
            );
            assert_eq!(
                code, None,
                "the hook was not killed at change {kill_at} ({when})"
            );
            // The next run (any action) finishes the journal first.
            assert_eq!(
                t.hook("check", &tgt, B),
                Some(0),
                "change {kill_at} ({when})"
            );
            for u in [B, C] {
                assert!(
                    t.logs_in(&tgt, u),
                    "{u} after a kill at change {kill_at} ({when})"
                );
            }
            assert!(
                !t.logs_in(&tgt, A),
                "A after a kill at change {kill_at} ({when})"
            );
            assert!(!t.logs_in_without_chap(&tgt));
            assert!(
                t.healthy(),
                "tgtd after a kill at change {kill_at} ({when})"
            );
        }
    }
    assert!(
        !t.accounts().iter().any(|a| a == "bcm-tgt-chap-guard"),
        "the guard account was left behind: {:?}",
        t.accounts()
    );
}
