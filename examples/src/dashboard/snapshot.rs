//! What the dashboard shows, gathered in one pass from the manager, its store, the
//! configuration and the inventory status. Holds no secret: CHAP secrets, BMC passwords and
//! API tokens are never read into it.

use std::collections::BTreeMap;

use crate::app::InventoryStatus;
use crate::config::Config;
use crate::manager::{Effects, Manager, TargetRow, inventory_rows, with_probe_failures};
use crate::store::{RequestKind, RequestState};

/// How many recent requests the page lists.
pub const RECENT_REQUESTS: u32 = 50;

/// The whole page's data.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Manager health.
    pub health: Health,
    /// Storage systems (iSNS entities), sorted by name, each with its targets.
    pub systems: Vec<StorageSystem>,
    /// Every assignment, sorted by server.
    pub assignments: Vec<AssignmentRow>,
    /// The `[[server]]` entries of the configuration.
    pub servers: Vec<ServerRow>,
    /// The newest requests, newest first.
    pub requests: Vec<RequestRow>,
}

/// iSNS registration, inventory rounds and what is wrong.
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// Registered with the iSNS server now.
    pub registered: bool,
    /// Full inventory rounds finished.
    pub rounds: u64,
    /// Targets after the last round.
    pub targets: usize,
    /// Probing progress of the running round: (probed, total).
    pub probing: Option<(usize, usize)>,
    /// The last warning of the inventory.
    pub last_warning: Option<String>,
    /// Why the manager is degraded (empty when healthy).
    pub reasons: Vec<String>,
}

/// One iSNS entity and its targets.
#[derive(Clone, Debug, Default)]
pub struct StorageSystem {
    /// Entity identifier.
    pub entity: String,
    /// Its targets, sorted by name.
    pub targets: Vec<TargetRow>,
}

/// One assignment.
#[derive(Clone, Debug, Default)]
pub struct AssignmentRow {
    /// The server.
    pub server: String,
    /// Its provisioning request.
    pub request_id: String,
    /// `reserved` (provisioning) or `committed`.
    pub state: &'static str,
    /// The BMC configured.
    pub bmc: Option<String>,
    /// How the manager talks to that BMC.
    pub protocol: &'static str,
    /// Primary target IQN.
    pub target: String,
    /// Portal the server logs in through.
    pub portal: String,
    /// LUN number.
    pub lun: u64,
    /// Size for people.
    pub size: Option<String>,
    /// The secondary path (`target LUN n`), when redundant.
    pub secondary: Option<String>,
    /// Unix milliseconds when the request was stored.
    pub since_ms: Option<i64>,
    /// `oem` or `pxe`.
    pub boot_mode: &'static str,
    /// Whether the server's initiator logged in after fetching its script.
    pub boot_confirmed: bool,
    /// The boot confirmation in words.
    pub boot_summary: String,
}

/// One configured server.
#[derive(Clone, Debug, Default)]
pub struct ServerRow {
    /// The name as configured (may hold anything: shown escaped).
    pub name: String,
    /// Its BMC address.
    pub bmc: String,
    /// How the manager talks to that BMC.
    pub protocol: &'static str,
    /// `oem` or `pxe`.
    pub boot_mode: &'static str,
    /// Whether it holds a boot disk now.
    pub assigned: bool,
}

/// One request.
#[derive(Clone, Debug)]
pub struct RequestRow {
    /// Request ID.
    pub request_id: String,
    /// The server.
    pub server: String,
    /// Provision or release.
    pub kind: RequestKind,
    /// Its state.
    pub state: RequestState,
    /// The failed step's message.
    pub error: Option<String>,
    /// Unix milliseconds of the last state change.
    pub updated_ms: i64,
}

/// The protocol the manager speaks to a server's BMC, as configured.
#[must_use]
pub fn bmc_protocol(config: &Config, server: &str) -> &'static str {
    match config.protocol(server) {
        crate::config::Protocol::Ipmi => "IPMI",
        crate::config::Protocol::Redfish => "Redfish",
        crate::config::Protocol::Auto => "auto (Redfish, else IPMI)",
    }
}

impl Snapshot {
    /// Gathers the page's data: the engine, then the store, each locked once.
    #[must_use]
    pub fn gather<E: Effects>(
        manager: &Manager<E>,
        config: &Config,
        status: &InventoryStatus,
    ) -> Snapshot {
        let rows = manager.with_engine(inventory_rows);
        let rows = with_probe_failures(rows, &status.probe_failures);
        let mut systems: BTreeMap<String, Vec<TargetRow>> = BTreeMap::new();
        for r in rows {
            systems.entry(r.entity.clone()).or_default().push(r);
        }
        let systems = systems
            .into_iter()
            .map(|(entity, targets)| StorageSystem { entity, targets })
            .collect();
        let assignments = manager.assignments();
        let (assignments, requests, counts) = manager.with_store(|st| {
            let rows: Vec<AssignmentRow> = assignments
                .into_iter()
                .map(|a| {
                    let boot = crate::boot::BootStatus::of(config, st, &a.server, &a.request_id);
                    let since_ms = st
                        .request(&a.request_id)
                        .ok()
                        .flatten()
                        .map(|r| r.created_ms);
                    AssignmentRow {
                        protocol: bmc_protocol(config, &a.server),
                        secondary: a
                            .secondary
                            .as_ref()
                            .map(|s| format!("{} LUN {}", s.target, s.lun)),
                        target: a.primary.target,
                        portal: a.primary.portal,
                        lun: a.primary.lun,
                        size: a.primary.size,
                        since_ms,
                        boot_mode: boot.mode,
                        boot_confirmed: boot.logged_in_ms.is_some(),
                        boot_summary: boot.summary,
                        server: a.server,
                        request_id: a.request_id,
                        state: a.state,
                        bmc: a.bmc,
                    }
                })
                .collect();
            let requests: Vec<RequestRow> = st
                .recent(None, RECENT_REQUESTS)
                .unwrap_or_default()
                .into_iter()
                .map(|r| RequestRow {
                    request_id: r.request_id,
                    server: r.server,
                    kind: r.kind,
                    state: r.state,
                    error: r.error,
                    updated_ms: r.updated_ms,
                })
                .collect();
            (rows, requests, st.state_counts().unwrap_or_default())
        });
        let servers = config
            .servers
            .iter()
            .map(|s| ServerRow {
                name: s.name.clone(),
                bmc: s.bmc.to_string(),
                protocol: bmc_protocol(config, &s.name),
                boot_mode: config.boot_mode(&s.name).as_str(),
                assigned: assignments.iter().any(|a| a.server == s.name),
            })
            .collect();
        let rolling_back = crate::api::rolling_back(&counts);
        let reasons = crate::api::health_reasons(status, rolling_back, manager.conflicts().len());
        Snapshot {
            health: Health {
                registered: status.registered,
                rounds: status.rounds,
                targets: status.targets,
                probing: status.progress,
                last_warning: status.last_warning.clone(),
                reasons,
            },
            systems,
            assignments,
            servers,
            requests,
        }
    }
}
