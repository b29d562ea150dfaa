//! What the manager reports: assignments, step accounts, recovery outcomes (serde for
//! `--json` and the HTTP API; never a secret).

use boot_config_core::{Allocation, AllocationState, Engine, Placement, human_bytes};
use serde::Serialize;

/// One boot path of an assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BootPathView {
    /// Target IQN.
    pub target: String,
    /// Portal `ip:port` the server logs in through.
    pub portal: String,
    /// LUN number.
    pub lun: u64,
    /// Size in bytes, when known.
    pub size_bytes: Option<u64>,
    /// Size for people (`64 GiB`).
    pub size: Option<String>,
    /// Why this LUN was chosen: policy, candidates, runner-up (when recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<boot_config_core::Choice>,
    /// The same in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl BootPathView {
    fn of(p: &Placement, engine: &Engine) -> Self {
        // The size recorded at selection; the live inventory only when none was recorded.
        let size = Some(p.size)
            .filter(|s| *s > 0)
            .or_else(|| engine.inventory().lun(&p.lun).and_then(|l| l.size));
        Self {
            target: p.lun.target.as_str().to_owned(),
            portal: p.portal.to_string(),
            lun: p.lun.lun.into(),
            size_bytes: size,
            size: size.map(human_bytes),
            why: p.why.as_ref().map(ToString::to_string),
            choice: p.why.clone(),
        }
    }
}

/// A server's boot disk as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// The provisioning request.
    pub request_id: String,
    /// The server.
    pub server: String,
    /// `reserved` (provisioning in progress) or `committed`.
    pub state: &'static str,
    /// The generated initiator IQN.
    pub initiator: String,
    /// The server's Discovery Domain.
    pub dd_name: String,
    /// The primary boot path.
    pub primary: BootPathView,
    /// The secondary boot path.
    pub secondary: Option<BootPathView>,
    /// CHAP user name, when CHAP is used (the secret is never reported here).
    pub chap_user: Option<String>,
    /// The BMC configured.
    pub bmc: Option<String>,
}

impl Assignment {
    /// The view of one allocation.
    #[must_use]
    pub fn of(a: &Allocation, engine: &Engine) -> Self {
        Self {
            request_id: a.id().as_str().to_owned(),
            server: a.server().as_str().to_owned(),
            state: match a.state {
                AllocationState::Reserved { .. } => "reserved",
                AllocationState::Committed { .. } => "committed",
            },
            initiator: a.initiator.as_str().to_owned(),
            dd_name: a.dd_name.clone(),
            primary: BootPathView::of(&a.selection.primary, engine),
            secondary: a
                .selection
                .secondary
                .as_ref()
                .map(|p| BootPathView::of(p, engine)),
            chap_user: (a.request.auth != boot_config_core::AuthWanted::None)
                .then(|| a.initiator.as_str().to_owned()),
            bmc: a.request.server.bmc.clone(),
        }
    }
}

/// One executed step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// Step name (`create DD`).
    pub step: &'static str,
    /// The action (`create DD bcm-server-a with 2 member(s)`).
    pub description: String,
    /// What it reported.
    pub detail: String,
}

/// The result of a provisioning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProvisionReport {
    /// The assignment.
    pub assignment: Assignment,
    /// Whether this was a replay of a completed request (nothing was done again).
    pub replayed: bool,
    /// The steps executed by this call.
    pub steps: Vec<StepReport>,
}

/// What [`Manager::recover`](super::Manager::recover) did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryOutcome {
    /// Provisionings resumed to completion.
    pub resumed: Vec<String>,
    /// Provisionings rolled back.
    pub rolled_back: Vec<String>,
    /// Releases finished.
    pub released: Vec<String>,
    /// Committed assignments whose DD was repaired.
    pub repaired: Vec<String>,
    /// Orphan DDs removed.
    pub orphans_removed: Vec<String>,
    /// DDs with the manager's prefix that no allocation accounts for but that the store does
    /// not record as created by this manager: left alone.
    pub orphans_left: Vec<String>,
    /// Committed assignments whose target CHAP account a target had lost, set again.
    pub chap_reasserted: Vec<String>,
    /// Assigned LUNs the inventory does not list (yet).
    pub luns_missing: Vec<String>,
    /// Requests that could not be finished now (retried later).
    pub errors: Vec<String>,
}

impl std::fmt::Display for RecoveryOutcome {
    /// `resumed r-1; rolled back r-2, r-3` — only what happened, for a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            ("resumed", &self.resumed),
            ("rolled back", &self.rolled_back),
            ("released", &self.released),
            ("repaired the DD of", &self.repaired),
            ("removed orphan DD", &self.orphans_removed),
            ("LUN not in the inventory yet:", &self.luns_missing),
            ("unfinished, retried later:", &self.errors),
        ];
        let mut first = true;
        for (what, items) in parts.into_iter().filter(|(_, v)| !v.is_empty()) {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{what} {}", items.join(", "))?;
        }
        if first {
            f.write_str("nothing to do")?;
        }
        Ok(())
    }
}

impl RecoveryOutcome {
    /// Whether nothing needed doing.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.resumed.is_empty()
            && self.rolled_back.is_empty()
            && self.released.is_empty()
            && self.repaired.is_empty()
            && self.orphans_removed.is_empty()
            && self.chap_reasserted.is_empty()
            && self.errors.is_empty()
    }
}

/// One LUN in an inventory listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LunRow {
    /// LUN number.
    pub lun: u64,
    /// Size in bytes, when probed.
    pub size_bytes: Option<u64>,
    /// Size for people.
    pub size: Option<String>,
    /// `available`, `reserved`, `assigned` or `offline`.
    pub state: String,
    /// The server holding it.
    pub server: Option<String>,
}

/// One target in an inventory listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetRow {
    /// Target IQN.
    pub target: String,
    /// Owning entity.
    pub entity: String,
    /// Alias.
    pub alias: Option<String>,
    /// Portals (`ip:port,tag`).
    pub portals: Vec<String>,
    /// Operator tags.
    pub tags: Vec<String>,
    /// Its LUNs.
    pub luns: Vec<LunRow>,
    /// Why its last probe failed (`null` when it answered or was not probed yet).
    pub probe: Option<crate::inventory::ProbeFailure>,
}

/// Marks the rows of targets whose last probe failed with the failure.
#[must_use]
pub fn with_probe_failures(
    mut rows: Vec<TargetRow>,
    failures: &std::collections::BTreeMap<String, crate::inventory::ProbeFailure>,
) -> Vec<TargetRow> {
    for r in &mut rows {
        r.probe = failures.get(&r.target).cloned();
    }
    rows
}

/// The inventory as `bcm inventory` and `GET /v1/inventory` show it, sorted by target.
#[must_use]
pub fn inventory_rows(engine: &Engine) -> Vec<TargetRow> {
    let inv = engine.inventory();
    let mut rows: Vec<TargetRow> = inv
        .targets()
        .map(|t| TargetRow {
            luns: inv
                .luns_of(t.name.as_str())
                .map(|l| LunRow {
                    lun: l.lun.lun.into(),
                    size_bytes: l.size,
                    size: l.size.map(human_bytes),
                    state: l.state.to_string(),
                    server: engine
                        .ledger()
                        .holder_of(&l.lun)
                        .and_then(|id| engine.ledger().get(id))
                        .map(|a| a.server().as_str().to_owned()),
                })
                .collect(),
            target: t.name.as_str().to_owned(),
            entity: t.entity.as_str().to_owned(),
            alias: t.alias.clone(),
            portals: t.portals.iter().map(ToString::to_string).collect(),
            tags: t.tags.iter().map(|x| x.as_str().to_owned()).collect(),
            probe: None,
        })
        .collect();
    rows.sort_by(|a, b| a.target.cmp(&b.target));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_outcome_reads_as_words_not_debug() {
        let out = RecoveryOutcome {
            resumed: vec!["r-1".into()],
            rolled_back: vec!["r-2".into(), "r-3".into()],
            ..RecoveryOutcome::default()
        };
        assert_eq!(out.to_string(), "resumed r-1; rolled back r-2, r-3");
        assert_eq!(RecoveryOutcome::default().to_string(), "nothing to do");
    }
}
