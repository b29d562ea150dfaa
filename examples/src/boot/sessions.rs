//! Boot confirmation: the initiator of a server that fetched its script is seen logged in
//! to its primary target.
//!
//! What the target side offers decides the source. iPXE's iSCSI initiator does not speak
//! iSNS (it never registers itself; the manager registers the initiator name), so iSNS
//! cannot tell that a login happened. The target's own session list can: tgtd shows each
//! I_T nexus with its initiator name (`tgtadm --lld iscsi --mode target --op show`), as
//! arrays show theirs in their management interfaces. The manager runs a configured
//! program (`[boot] sessions_command`) that prints one `TARGET-IQN INITIATOR-IQN` line per
//! session (`scripts/peers/tgt-sessions.sh` for tgtd); it runs only while some fetched
//! script still awaits its login.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;

use super::{boot_target, now_ms};
use crate::config::{BootMode, Config};
use crate::manager::{Effects, Manager};

/// Longest session list read (a target with thousands of sessions stays far below).
const MAX_OUTPUT: usize = 4 << 20;

/// `(target, initiator)` pairs from `TARGET INITIATOR` lines; other lines are skipped.
#[must_use]
pub fn parse_sessions(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next(), f.next()) {
                (Some(t), Some(i), None) => Some((t.to_owned(), i.to_owned())),
                _ => None,
            }
        })
        .collect()
}

/// Runs the sessions command once.
///
/// # Errors
/// A message when it cannot run, times out or fails.
pub async fn list_sessions(
    command: &[String],
    timeout: Duration,
) -> Result<BTreeSet<(String, String)>, String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| "[boot] sessions_command is empty".to_owned())?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| format!("sessions command {program} did not finish within {timeout:?}"))?
        .map_err(|e| format!("sessions command {program}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "sessions command {program} failed ({}): {}",
            out.status,
            err.trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(MAX_OUTPUT)]);
    Ok(parse_sessions(&text))
}

/// One round: for every `pxe` assignment whose script was fetched and whose login is not
/// yet recorded, looks for its initiator on its primary target. Returns the servers
/// confirmed now.
pub async fn confirm_round<E: Effects>(manager: &Manager<E>, config: &Config) -> Vec<String> {
    let waiting: Vec<(String, String, String, String)> = manager
        .assignments()
        .into_iter()
        .filter(|a| config.boot_mode(&a.server) == BootMode::Pxe)
        .filter(|a| {
            manager
                .with_store(|s| s.boot_confirmation(&a.request_id))
                .is_ok_and(|c| c.script_fetched_ms.is_some() && c.logged_in_ms.is_none())
        })
        .map(|a| (a.server, a.request_id, a.initiator, a.primary.target))
        .collect();
    if waiting.is_empty() || config.boot.sessions_command.is_empty() {
        return Vec::new();
    }
    let sessions = match list_sessions(&config.boot.sessions_command, Duration::from_secs(15)).await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "boot confirmation");
            return Vec::new();
        }
    };
    let mut confirmed = Vec::new();
    for (server, request, initiator, target) in waiting {
        if !sessions.contains(&(target.clone(), initiator.clone())) {
            continue;
        }
        // The assignment may have been released while the command ran.
        if boot_target(manager, &server).is_none_or(|t| t.request_id != request) {
            continue;
        }
        match manager.with_store(|s| s.record_login(&request, now_ms())) {
            Ok(true) => {
                manager.metrics().boot_confirmed();
                tracing::info!(server, %initiator, %target, "boot confirmed: the initiator logged in to its target");
                confirmed.push(server);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(server, error = %e, "recording the boot confirmation"),
        }
    }
    confirmed
}

/// Runs [`confirm_round`] every `[boot] sessions_interval` until the task is aborted.
pub fn spawn_confirmer<E: Effects>(
    manager: Manager<E>,
    config: Arc<Config>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.boot.sessions_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            confirm_round(&manager, &config).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_target_initiator_lines_and_skips_the_rest() {
        let s = parse_sessions(
            "iqn.2026-12.t:disk iqn.2026-12.com.example:server-0\n\
             \n\
             garbage\n\
             too many fields here\n\
             iqn.2026-12.t:disk  iqn.2026-12.com.example:server-1  \n",
        );
        assert_eq!(s.len(), 2);
        assert!(s.contains(&(
            "iqn.2026-12.t:disk".to_owned(),
            "iqn.2026-12.com.example:server-1".to_owned()
        )));
    }

    #[tokio::test]
    async fn a_failing_or_missing_command_is_an_error_not_an_empty_list() {
        let err = list_sessions(&["false".to_owned()], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.contains("failed"), "{err}");
        assert!(
            list_sessions(
                &["/nonexistent/bcm-sessions".to_owned()],
                Duration::from_secs(5)
            )
            .await
            .is_err()
        );
        let ok = list_sessions(
            &[
                "echo".to_owned(),
                "iqn.2026-12.t:a iqn.2026-12.i:b".to_owned(),
            ],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(ok.len(), 1);
    }
}
