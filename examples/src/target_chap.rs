//! Target-side CHAP accounts through an operator-supplied hook program.
//!
//! iSNS carries no secrets, so a target learns the CHAP account of the initiator it must admit
//! from its own management interface (for tgtd: `tgtadm --mode account`). The manager runs a
//! configured program for each change:
//!
//! ```text
//! environment: BCM_CHAP_ACTION=set|remove|check  BCM_TARGET=<target IQN>  BCM_CHAP_USER=<user>
//!              BCM_TARGET_PORTALS=<ip:port,...> (when known)  [BCM_MUTUAL_USER=<target user>]
//! stdin:       set: the initiator's secret on line 1, the mutual (target) secret on line 2
//! exit status: 0 = done (also when the account already was / was not there);
//!              check: 0 = the account exists and is bound to the target (and the mutual
//!              user bound as its outgoing account), 3 = it is not; anything else = cannot tell
//! ```
//! `check` changes nothing; reconciliation uses it to find accounts a target lost (tgtd keeps
//! them in memory only) and runs `set` for those. A hook without `check` fails it, and then
//! gets `set` every round, which its idempotence makes harmless.
//!
//! Removing must leave the target's other accounts working: tgt 1.0.85 loses the last bound
//! account, and crashes on the next `show`, when an account bound before it is unbound
//! (`scripts/peers/tgt-chap.sh` works around it; docs/PEERS.md).
//! The secret never appears on a command line or in the environment, where other local users
//! could read it (`/proc/*/cmdline`, `/proc/*/environ` of the same user only, but also `ps`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Why the hook failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The program could not be started.
    #[error("target CHAP hook {program}: cannot run it: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It did not finish in time (it was killed).
    #[error("target CHAP hook {program} did not finish within {}", crate::wording::duration(*after))]
    Timeout {
        /// The program.
        program: String,
        /// The bound.
        after: Duration,
    },
    /// It exited unsuccessfully.
    #[error("target CHAP hook {program} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Exit status.
        status: String,
        /// The last lines it wrote to stderr.
        stderr: String,
    },
}

/// One CHAP account change.
pub struct ChapChange<'a> {
    /// `set` or `remove`.
    pub action: &'static str,
    /// Target IQN.
    pub target: &'a str,
    /// Portals of the target (`ip:port`).
    pub portals: &'a [String],
    /// The initiator's CHAP user.
    pub user: &'a str,
    /// The initiator's secret (`set` only).
    pub secret: Option<&'a str>,
    /// Mutual CHAP: the target's user and secret.
    pub mutual: Option<(&'a str, &'a str)>,
}

/// The configured hook.
#[derive(Clone, Debug)]
pub struct ChapHook {
    /// Program and leading arguments.
    pub command: Vec<String>,
    /// Bound for one run.
    pub timeout: Duration,
}

impl ChapHook {
    /// Runs the hook for one change.
    ///
    /// # Errors
    /// [`HookError`].
    pub async fn run(&self, change: &ChapChange<'_>) -> Result<(), HookError> {
        let (program, output) = self.spawn(change).await?;
        if output.status.success() {
            return Ok(());
        }
        Err(failed(program, &output))
    }

    /// Asks the hook whether `user` (and the mutual user, when given) is bound to `target`
    /// (`BCM_CHAP_ACTION=check`): `true` for exit status 0, `false` for 3.
    ///
    /// # Errors
    /// [`HookError`], also for any other exit status (a hook that does not know `check`).
    pub async fn check(
        &self,
        target: &str,
        portals: &[String],
        user: &str,
        mutual_user: Option<&str>,
    ) -> Result<bool, HookError> {
        let (program, output) = self
            .spawn(&ChapChange {
                action: "check",
                target,
                portals,
                user,
                secret: None,
                mutual: mutual_user.map(|u| (u, "")),
            })
            .await?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(failed(program, &output)),
        }
    }

    async fn spawn(
        &self,
        change: &ChapChange<'_>,
    ) -> Result<(String, std::process::Output), HookError> {
        let program = self.command.first().cloned().unwrap_or_default();
        let mut cmd = Command::new(PathBuf::from(&program));
        cmd.args(self.command.iter().skip(1))
            .env("BCM_CHAP_ACTION", change.action)
            .env("BCM_TARGET", change.target)
            .env("BCM_CHAP_USER", change.user)
            .env("BCM_TARGET_PORTALS", change.portals.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some((user, _)) = change.mutual {
            cmd.env("BCM_MUTUAL_USER", user);
        }
        let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
            program: program.clone(),
            source,
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            let mut input = String::new();
            if let Some(s) = change.secret {
                input.push_str(s);
                input.push('\n');
            }
            if let Some((_, s)) = change.mutual.filter(|(_, s)| !s.is_empty()) {
                input.push_str(s);
                input.push('\n');
            }
            // A hook that does not read stdin closes it: not an error.
            let _ = stdin.write_all(input.as_bytes()).await;
            drop(stdin);
        }
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| HookError::Timeout {
                program: program.clone(),
                after: self.timeout,
            })?
            .map_err(|source| HookError::Spawn {
                program: program.clone(),
                source,
            })?;
        Ok((program, output))
    }
}

fn failed(program: String, output: &std::process::Output) -> HookError {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    HookError::Failed {
        program,
        status: output.status.to_string(),
        stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str) -> ChapHook {
        ChapHook {
            command: vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn passes_names_in_the_environment_and_the_secret_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "read -r s; echo \"$BCM_CHAP_ACTION $BCM_TARGET $BCM_CHAP_USER $BCM_TARGET_PORTALS $s\" > {}",
            out.display()
        );
        let portals = ["127.0.0.1:3260".to_owned()];
        hook(&script)
            .run(&ChapChange {
                action: "set",
                target: "iqn.2000-01.t:disk",
                portals: &portals,
                user: "iqn.2026-01.com.example:a",
                secret: Some("s3cretsecret"),
                mutual: None,
            })
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "set iqn.2000-01.t:disk iqn.2026-01.com.example:a 127.0.0.1:3260 s3cretsecret"
        );
    }

    #[tokio::test]
    async fn reports_failure_with_stderr_and_never_the_secret() {
        let err = hook("echo 'no such target' >&2; exit 3")
            .run(&ChapChange {
                action: "set",
                target: "t",
                portals: &[],
                user: "u",
                secret: Some("s3cretsecret"),
                mutual: None,
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no such target") && err.contains("exit status: 3"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn check_maps_exit_0_to_bound_3_to_missing_and_others_to_errors() {
        let script = "[ \"$BCM_CHAP_ACTION\" = check ] || exit 9; \
                      [ \"$BCM_MUTUAL_USER\" = m ] || exit 8; \
                      case $BCM_CHAP_USER in here) exit 0;; gone) exit 3;; *) exit 1;; esac";
        let h = hook(script);
        assert!(h.check("t", &[], "here", Some("m")).await.unwrap());
        assert!(!h.check("t", &[], "gone", Some("m")).await.unwrap());
        let err = h.check("t", &[], "other", Some("m")).await.unwrap_err();
        assert!(matches!(err, HookError::Failed { .. }), "{err}");
    }

    #[tokio::test]
    async fn kills_a_hook_that_hangs() {
        let mut h = hook("sleep 30");
        h.timeout = Duration::from_millis(200);
        let err = h
            .run(&ChapChange {
                action: "remove",
                target: "t",
                portals: &[],
                user: "u",
                secret: None,
                mutual: None,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HookError::Timeout { .. }), "{err}");
    }
}
