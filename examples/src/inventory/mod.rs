//! Live target inventory: the iSNS control-node session and iSCSI probes turned into
//! `boot-config-core` inventory events (issue 6).
//!
//! [`Inventory::start`] starts the iSNS session (control node, SCN and ESI listeners) and
//! an owned task. After every full walk (the first follows registration, then one every
//! `reconcile_interval`, and one on [`Inventory::resync`]) the task
//!
//! 1. sends the walk as events: one `EntitySnapshot` per entity hosting targets,
//!    `EntityRemoved` for an entity that hosts none any more, `DdUpserted` for every DD
//!    (the manager's per-server DDs included: recovery reconciles with them) and
//!    `DdRemoved` for a DD gone;
//! 2. makes sure the probe initiator is registered in iSNS as an initiator node and shares
//!    a management DD with every target, one DD per target named
//!    [`management_dd_name`]`(management_dd, target)` (tgtd with `iSNSAccessControl On`
//!    admits only such initiators, about a second after the change: a refused login is
//!    retried for `admission_wait`). The changes run as one chain per storage entity, each
//!    change paced for its entity by [`crate::pacing::Pacer`]; the chains of different
//!    entities run at once;
//! 3. probes every target, at most `probe_concurrency` at once and each within
//!    `probe_timeout`: `LunsReported` with the sizes READ CAPACITY gave, or
//!    `TargetUnreachable` (its LUNs go offline) for a target that fails or stays silent,
//!    which never holds up the others; `Progress` while it runs, `Synced` at the end.
//!
//! Between walks, SCNs make the session re-query the node or DD they name; the task turns
//! the answers into `TargetUpserted` (and probes that target), `TargetRemoved`,
//! `DdUpserted` or `DdRemoved`.
//!
//! What iSNS can and cannot tell (open-isns 0.101 and tgt 1.0.85, seen on the wire):
//! * isnsd sends a Control node object-added/removed SCNs only for nodes it shares a DD
//!   with, and a new tgtd target is in no DD: a new target is found by the next
//!   reconciliation walk (or [`Inventory::resync`]), not by an SCN. DD membership SCNs do
//!   arrive (they carry the management bit) and are applied at once.
//! * tgtd sends nothing to iSNS when a LUN is added to or removed from an existing target:
//!   LUN changes are found only by the probes of the next round.
//! * After an isnsd restart the session reconnects with back-off and re-registers; the walk
//!   that follows replaces each entity's view, so the engine ends with neither duplicates
//!   nor losses.
//!
//! Peer defects the design works around (found by the live tests; see the report of
//! issue 6):
//! * tgt 1.0.85 keeps one global SCN socket and reads it blocking: with SCN connections
//!   open to two targets of one tgtd, an SCN on the older one blocks tgtd for good, and
//!   when they close (isnsd restart) it spins reading a closed descriptor. One management
//!   DD per target, changes to targets behind one portal at least 300 ms apart, keep the
//!   inventory's own changes to one SCN per target; a tgtd with several targets can still
//!   be hit by later DD changes.
//! * isnsd 0.101 sends no SCN for a second DD change that involves the same target (so a
//!   DD the manager makes after the management DD does not reach tgtd); a target that
//!   registers after its DD exists reads its ACL at once.
//! * isnsd 0.101 drops a new DD's member that already belongs to another DD ("Ignoring
//!   duplicate DD registration"): management DDs are created empty, then filled by DD_ID.
//! * isnsd 0.101 answers a pipeline deeper than two requests in ~40 ms steps: the session
//!   runs with [`InventoryConfig::isns_max_in_flight`] (2).
//! * isnsd 0.101 scans its whole database for every request and never answers more than
//!   8 KiB: the walk asks one DevAttrQry per portal (every node behind it) and one for the
//!   initiators rather than one request per node (isns-proto `ClientConfig::detail_by_portal`).
//! * isnsd 0.101 crashed (libisns) after SCNs to a departed listener timed out, and once
//!   during 2,000 back-to-back DD creations: [`Inventory::shutdown`] deregisters the
//!   control node.
//!
//! The manager's own DD operations go through [`Inventory::isns`], the same session; the
//! inventory never undoes them, and never removes anything from iSNS.

mod config;
mod task;
mod translate;
mod update;

pub use config::{DEFAULT_MANAGEMENT_DD, InventoryConfig, ProbeChap};
pub use update::{ConnectionState, InventoryUpdate, InventoryWarning, ProbeFailure, apply_update};

use std::sync::Arc;

use isns_proto::client::{ClientConfig, EntityId, NodeName};
use isns_proto::client_tokio::IsnsClient;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use task::{Control, Task};

/// The name of the management DD of `target`: `<prefix>:<target>`.
#[must_use]
pub fn management_dd_name(prefix: &str, target: &str) -> String {
    format!("{prefix}:{target}")
}

/// Why the inventory could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The SCN/ESI listeners could not be bound on the listen address.
    #[error("cannot listen for isns notifications on {ip}: {source}")]
    Listen {
        /// The address.
        ip: std::net::IpAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A setting cannot work.
    #[error("inventory config: {0}")]
    Invalid(String),
}

/// A running inventory: the handle to its task and to the iSNS session it uses.
#[derive(Debug)]
pub struct Inventory {
    isns: Arc<IsnsClient>,
    control_node: String,
    control: mpsc::UnboundedSender<Control>,
    task: JoinHandle<()>,
}

/// The control node's name, also its entity's name.
fn session_config(cfg: &InventoryConfig, node: NodeName, entity: EntityId) -> ClientConfig {
    let mut c = ClientConfig::new(node, entity, cfg.listen_ip);
    c.request_timeout = cfg.request_timeout;
    c.reconcile_interval = Some(cfg.reconcile_interval);
    c.backoff = cfg.backoff;
    c.max_in_flight = cfg.isns_max_in_flight.max(1);
    // The inventory needs the targets; the manager registers one initiator per assigned
    // server, and listing them (more than isnsd answers at once past ~100) would bring
    // back a DevGetNext per node. The probe initiator is looked up by name instead.
    c.walk_initiators = false;
    c
}

impl Inventory {
    /// Binds the SCN/ESI listeners, starts the iSNS session and the inventory task.
    /// Updates arrive on the returned channel (capacity `update_capacity`); events must be
    /// applied in the order received.
    ///
    /// # Errors
    /// [`InventoryError::Invalid`] for an empty name or a zero capacity,
    /// [`InventoryError::Listen`] when the listeners cannot be bound.
    pub async fn start(
        cfg: InventoryConfig,
    ) -> Result<(Inventory, mpsc::Receiver<InventoryUpdate>), InventoryError> {
        for (what, v) in [
            ("control_node", &cfg.control_node),
            ("probe_initiator", &cfg.probe_initiator),
            ("management_dd", &cfg.management_dd),
        ] {
            if v.is_empty() {
                return Err(InventoryError::Invalid(format!("{what} is empty")));
            }
        }
        if cfg.update_capacity == 0 || cfg.probe_concurrency == 0 {
            return Err(InventoryError::Invalid(
                "update_capacity and probe_concurrency must be at least 1".to_owned(),
            ));
        }
        // The control node and the probe initiator each live in an entity of their own name.
        let names = |what: &str, name: &str| {
            let invalid = |e| InventoryError::Invalid(format!("{what}: {e}"));
            Ok::<_, InventoryError>((
                NodeName::new(name).map_err(invalid)?,
                EntityId::new(name).map_err(invalid)?,
            ))
        };
        let (control_name, control_entity) = names("control_node", &cfg.control_node)?;
        let probe_names = names("probe_initiator", &cfg.probe_initiator)?;
        let session = session_config(&cfg, control_name, control_entity);
        let (client, isns_events) =
            IsnsClient::start(cfg.server, session, true)
                .await
                .map_err(|source| InventoryError::Listen {
                    ip: cfg.listen_ip,
                    source,
                })?;
        let isns = Arc::new(client);
        let control_node = cfg.control_node.clone();
        let (tx, rx) = mpsc::channel(cfg.update_capacity);
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = Task::spawn(
            cfg,
            probe_names,
            Arc::clone(&isns),
            tx,
            isns_events,
            control_rx,
        );
        Ok((
            Inventory {
                isns,
                control_node,
                control,
                task,
            },
            rx,
        ))
    }

    /// The control-node iSNS session, for the manager's DD and initiator operations.
    #[must_use]
    pub fn isns(&self) -> &IsnsClient {
        &self.isns
    }

    /// Walks iSNS and probes every target now (the result ends with
    /// [`InventoryUpdate::Synced`]).
    pub fn resync(&self) {
        let _ = self.control.send(Control::Resync);
    }

    /// Stops the task and the iSNS session (probes in flight are abandoned).
    ///
    /// The control node is deregistered first (best effort): isnsd 0.101 keeps sending
    /// management SCNs to a registered node whose listener is gone, and it segfaulted here
    /// (in libisns) after such an SCN timed out.
    pub async fn shutdown(self) {
        let _ = self.control.send(Control::Stop);
        let _ = self.task.await;
        let _ = self.isns.deregister_initiator(&self.control_node).await;
        // The task held the only other reference; it is gone now.
        if let Ok(client) = Arc::try_unwrap(self.isns) {
            client.shutdown().await;
        }
    }
}
