//! Pure translation of what iSNS walks, SCN re-queries and iSCSI probes report into
//! `boot-config-core` inventory events. No I/O and no clock: the task in `task.rs` feeds it.
//!
//! [`Reported`] remembers what has been told to the engine (which entity holds which
//! targets, which DDs exist) so a full walk can also say what went away: an entity that no
//! longer hosts a target becomes `EntityRemoved`, a DD no longer listed becomes `DdRemoved`.
//! Everything that is still there is re-sent as a full view (`EntitySnapshot`, `DdUpserted`),
//! which the engine applies idempotently, so a re-walk after an isnsd restart neither
//! duplicates nor loses an entry.

use std::collections::{BTreeMap, BTreeSet};

use boot_config_core::{
    DdId, DdSpec, EntityId, InventoryEvent, IscsiName, LunNumber, LunSpec, Portal, TargetSpec,
};
use iscsi_probe::{LunState, ProbeError, TargetReport};
use isns_proto::NodeType;
use isns_proto::client::{DdInfo, NodeInfo, PortalRef, Snapshot};

/// A target as the inventory task tracks it: what it needs to probe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TrackedTarget {
    /// The engine's view of it.
    pub(crate) spec: TargetSpec,
}

/// What has been reported to the engine so far.
#[derive(Debug, Default)]
pub(crate) struct Reported {
    /// Entity -> names of its targets.
    entities: BTreeMap<String, BTreeSet<String>>,
    /// Target -> its entity.
    target_entity: BTreeMap<String, String>,
    /// DD IDs.
    dds: BTreeSet<u32>,
}

fn portal(p: &PortalRef) -> Portal {
    Portal {
        // A PGT above 65535 is not a valid iSCSI TPGT (RFC 7143 §13.9): keep it unknown.
        group_tag: p.tag.and_then(|t| u16::try_from(t).ok()),
        addr: p.ip,
        port: p.port,
    }
}

/// The engine's view of a node, when it is a target whose entity is known.
pub(crate) fn target_spec(n: &NodeInfo) -> Option<TargetSpec> {
    if !n.node_type.contains(NodeType::TARGET) {
        return None;
    }
    let entity = n.entity.as_deref()?;
    // A name outside the RFC 3720 grammar could never be put in a BMC's boot parameters:
    // such a target stays out of the inventory.
    let name = match IscsiName::new(n.name.as_str()) {
        Ok(name) => name,
        Err(error) => {
            tracing::warn!(target = %n.name, %error, "target left out of the inventory");
            return None;
        }
    };
    let mut portals: Vec<Portal> = n.portals.iter().map(portal).collect();
    portals.sort();
    portals.dedup();
    Some(TargetSpec {
        name,
        entity: EntityId::new(entity),
        alias: n.alias.clone(),
        portals,
    })
}

/// The engine's view of a DD (members listed only by index are left out: the engine keys
/// members by name; so are members whose name is not a valid iSCSI name, which the engine
/// cannot hold).
pub(crate) fn dd_spec(d: &DdInfo) -> DdSpec {
    let mut members: Vec<IscsiName> = d
        .member_names()
        .filter_map(|n| IscsiName::new(n).ok())
        .collect();
    members.sort();
    members.dedup();
    DdSpec {
        id: DdId(d.id),
        name: d.name.clone().unwrap_or_default(),
        members,
    }
}

/// The LUNs of a probe report the engine should know. LUNs without block capacity (tgtd's
/// LUN 0 controller, enclosures) are not boot disks and are left out; a block LUN whose
/// READ CAPACITY failed is listed with an unknown size.
pub(crate) fn lun_specs(report: &TargetReport) -> Vec<LunSpec> {
    let mut out: Vec<LunSpec> = report
        .luns
        .iter()
        .filter(|l| l.state() != LunState::NoCapacity)
        .filter_map(|l| {
            Some(LunSpec {
                number: LunNumber::try_from(l.number()?).ok()?,
                size: l.size_bytes(),
            })
        })
        .collect();
    out.sort_by_key(|l| l.number);
    out.dedup_by_key(|l| l.number);
    out
}

/// The event a probe outcome becomes: the full LUN list, or the target's LUNs offline.
pub(crate) fn probe_event(
    target: IscsiName,
    result: &Result<TargetReport, ProbeError>,
) -> InventoryEvent {
    match result {
        Ok(report) => InventoryEvent::LunsReported {
            target,
            luns: lun_specs(report),
        },
        Err(_) => InventoryEvent::TargetUnreachable { target },
    }
}

impl Reported {
    /// Events that bring an engine fed by earlier events in line with a full walk, and the
    /// targets the walk found (by name).
    pub(crate) fn walk(
        &mut self,
        snap: &Snapshot,
    ) -> (Vec<InventoryEvent>, BTreeMap<String, TrackedTarget>) {
        let mut by_entity: BTreeMap<String, Vec<TargetSpec>> = BTreeMap::new();
        let mut targets = BTreeMap::new();
        for spec in snap.nodes.iter().filter_map(target_spec) {
            targets.insert(
                spec.name.as_str().to_owned(),
                TrackedTarget { spec: spec.clone() },
            );
            by_entity
                .entry(spec.entity.as_str().to_owned())
                .or_default()
                .push(spec);
        }
        let mut events = Vec::with_capacity(by_entity.len() + snap.dds.len() + 4);
        for (entity, mut specs) in by_entity.iter().map(|(e, s)| (e, s.clone())) {
            specs.sort_by(|a, b| a.name.cmp(&b.name));
            events.push(InventoryEvent::EntitySnapshot {
                entity: EntityId::new(entity.as_str()),
                targets: specs,
            });
        }
        // After the snapshots, so a target that moved entity is not removed with its old one.
        for gone in self.entities.keys().filter(|e| !by_entity.contains_key(*e)) {
            events.push(InventoryEvent::EntityRemoved {
                entity: EntityId::new(gone.as_str()),
            });
        }
        let mut dds = BTreeSet::new();
        for d in &snap.dds {
            if dds.insert(d.id) {
                events.push(InventoryEvent::DdUpserted(dd_spec(d)));
            }
        }
        for gone in self.dds.difference(&dds) {
            events.push(InventoryEvent::DdRemoved { dd: DdId(*gone) });
        }
        self.dds = dds;
        self.entities = by_entity
            .into_iter()
            .map(|(e, specs)| {
                let names = specs.iter().map(|s| s.name.as_str().to_owned()).collect();
                (e, names)
            })
            .collect();
        self.target_entity = targets
            .values()
            .map(|t: &TrackedTarget| {
                (
                    t.spec.name.as_str().to_owned(),
                    t.spec.entity.as_str().to_owned(),
                )
            })
            .collect();
        (events, targets)
    }

    /// Events for a node a targeted re-query read. `None` target: it is not (or no longer)
    /// a target the inventory tracks.
    pub(crate) fn node_changed(
        &mut self,
        n: &NodeInfo,
    ) -> (Vec<InventoryEvent>, Option<TrackedTarget>) {
        match target_spec(n) {
            Some(spec) => {
                let name = spec.name.as_str().to_owned();
                let entity = spec.entity.as_str().to_owned();
                if let Some(old) = self.target_entity.insert(name.clone(), entity.clone())
                    && old != entity
                {
                    self.forget_in_entity(&old, &name);
                }
                self.entities.entry(entity).or_default().insert(name);
                (
                    vec![InventoryEvent::TargetUpserted(spec.clone())],
                    Some(TrackedTarget { spec }),
                )
            }
            None => (self.node_removed(&n.name), None),
        }
    }

    /// Events for a node found gone.
    pub(crate) fn node_removed(&mut self, name: &str) -> Vec<InventoryEvent> {
        match self.target_entity.remove(name) {
            Some(entity) => {
                self.forget_in_entity(&entity, name);
                // Only names that passed `target_spec` are tracked, so this never drops one.
                IscsiName::new(name)
                    .into_iter()
                    .map(|target| InventoryEvent::TargetRemoved { target })
                    .collect()
            }
            None => Vec::new(),
        }
    }

    fn forget_in_entity(&mut self, entity: &str, name: &str) {
        if let Some(set) = self.entities.get_mut(entity) {
            set.remove(name);
            if set.is_empty() {
                self.entities.remove(entity);
            }
        }
    }

    /// Events for a DD re-read after a membership SCN.
    pub(crate) fn dd_changed(&mut self, d: &DdInfo) -> Vec<InventoryEvent> {
        self.dds.insert(d.id);
        vec![InventoryEvent::DdUpserted(dd_spec(d))]
    }

    /// Events for a DD found gone.
    pub(crate) fn dd_removed(&mut self, id: u32) -> Vec<InventoryEvent> {
        if self.dds.remove(&id) {
            vec![InventoryEvent::DdRemoved { dd: DdId(id) }]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    use boot_config_core::{Engine, EngineConfig, Provenance, Source, Timestamp};
    use iscsi_probe::LunReport;
    use iscsi_probe::codes::DeviceType;
    use iscsi_probe::scsi::{Capacity, Lun};
    use isns_proto::client::{DdMember, EntityInfo};

    fn node(name: &str, entity: &str, port: u16) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            node_type: NodeType::TARGET,
            alias: None,
            index: None,
            entity: Some(entity.into()),
            portals: vec![PortalRef {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
                tag: Some(1),
            }],
        }
    }

    fn snap(nodes: Vec<NodeInfo>, dds: Vec<DdInfo>) -> Snapshot {
        Snapshot {
            entities: vec![EntityInfo {
                eid: "e".into(),
                protocol: Some(2),
                registration_period: None,
                index: None,
            }],
            portals: Vec::new(),
            portal_groups: Vec::new(),
            nodes,
            dds,
        }
    }

    fn dd(id: u32, name: &str, members: &[&str]) -> DdInfo {
        DdInfo {
            id,
            name: Some(name.into()),
            members: members
                .iter()
                .map(|m| DdMember {
                    name: Some((*m).into()),
                    index: None,
                })
                .collect(),
        }
    }

    fn engine() -> Engine {
        Engine::new(EngineConfig::new(2026, 1, "example.com").unwrap())
    }

    fn apply(e: &mut Engine, events: &[InventoryEvent]) {
        let p = Provenance::new(Source::IsnsQuery, Timestamp::from_millis(1));
        for ev in events {
            e.apply(ev, p);
        }
    }

    #[test]
    fn a_rewalk_of_the_same_snapshot_changes_nothing_in_the_engine() {
        let s = snap(
            vec![
                node("iqn.2026-01.t:a", "e1", 3260),
                node("iqn.2026-01.t:b", "e2", 3261),
            ],
            vec![dd(1, "mgmt", &["iqn.2026-01.t:a", "iqn.2026-01.i:probe"])],
        );
        let mut r = Reported::default();
        let mut e = engine();
        let (events, targets) = r.walk(&s);
        assert_eq!(targets.len(), 2);
        apply(&mut e, &events);
        assert_eq!(e.inventory().target_count(), 2);
        assert_eq!(e.inventory().dds().count(), 1);
        let (again, _) = r.walk(&s);
        let p = Provenance::new(Source::IsnsQuery, Timestamp::from_millis(2));
        for ev in &again {
            assert!(e.apply(ev, p).is_empty(), "{ev:?} changed the engine again");
        }
    }

    #[test]
    fn a_walk_without_an_entity_or_dd_removes_it() {
        let mut r = Reported::default();
        let mut e = engine();
        let (ev, _) = r.walk(&snap(
            vec![
                node("iqn.2026-01.t:a", "e1", 3260),
                node("iqn.2026-01.t:b", "e2", 3261),
            ],
            vec![
                dd(1, "x", &["iqn.2026-01.t:a"]),
                dd(2, "y", &["iqn.2026-01.t:b"]),
            ],
        ));
        apply(&mut e, &ev);
        let (ev, _) = r.walk(&snap(
            vec![node("iqn.2026-01.t:a", "e1", 3260)],
            vec![dd(2, "y", &["iqn.2026-01.t:b"])],
        ));
        assert!(ev.contains(&InventoryEvent::EntityRemoved {
            entity: EntityId::new("e2")
        }));
        assert!(ev.contains(&InventoryEvent::DdRemoved { dd: DdId(1) }));
        apply(&mut e, &ev);
        let names: Vec<String> = e
            .inventory()
            .targets()
            .map(|t| t.name.as_str().to_owned())
            .collect();
        assert_eq!(names, ["iqn.2026-01.t:a"]);
        let dds: Vec<u32> = e.inventory().dds().map(|d| d.id.0).collect();
        assert_eq!(dds, [2]);
    }

    #[test]
    fn a_target_that_moves_entity_is_kept() {
        let mut r = Reported::default();
        let mut e = engine();
        let (ev, _) = r.walk(&snap(vec![node("iqn.2026-01.t:a", "e1", 3260)], vec![]));
        apply(&mut e, &ev);
        let (ev, _) = r.walk(&snap(vec![node("iqn.2026-01.t:a", "e2", 3260)], vec![]));
        apply(&mut e, &ev);
        let t = e.inventory().target("iqn.2026-01.t:a").unwrap();
        assert_eq!(t.entity.as_str(), "e2");
        assert_eq!(e.inventory().target_count(), 1);
    }

    #[test]
    fn nodes_that_are_not_targets_or_lack_an_entity_are_not_targets() {
        let mut init = node("iqn.2026-01.i:x", "e", 1);
        init.node_type = NodeType::INITIATOR;
        let mut orphan = node("iqn.2026-01.t:orphan", "e", 2);
        orphan.entity = None;
        assert!(target_spec(&init).is_none());
        assert!(target_spec(&orphan).is_none());
        let t = target_spec(&node("iqn.2026-01.t:a", "e", 3260)).unwrap();
        assert_eq!(t.portals[0].group_tag, Some(1));
    }

    #[test]
    fn scn_updates_track_removal_and_entity_moves() {
        let mut r = Reported::default();
        let (ev, t) = r.node_changed(&node("iqn.2026-01.t:a", "e1", 3260));
        assert!(t.is_some());
        assert!(matches!(ev[0], InventoryEvent::TargetUpserted(_)));
        let _ = r.node_changed(&node("iqn.2026-01.t:a", "e2", 3260));
        assert_eq!(r.entities.get("e1"), None);
        assert_eq!(
            r.node_removed("iqn.2026-01.t:a"),
            [InventoryEvent::TargetRemoved {
                target: IscsiName::new("iqn.2026-01.t:a").unwrap()
            }]
        );
        assert!(r.node_removed("iqn.2026-01.t:a").is_empty());
        assert!(r.entities.is_empty());
    }

    #[test]
    fn probe_reports_keep_block_luns_and_drop_the_controller_lun() {
        let lun = |n: u16, cap: Option<u64>, dt: DeviceType| {
            let mut l = LunReport::new(Lun::from_number(n).unwrap());
            l.device_type = dt;
            l.capacity = cap.map(|blocks| Capacity {
                last_lba: blocks - 1,
                block_len: 512,
            });
            l
        };
        let report = TargetReport {
            target_name: "iqn.2026-01.t:a".into(),
            alias: None,
            luns: vec![
                lun(2, Some(2048), DeviceType::DIRECT_ACCESS),
                lun(0, None, DeviceType::UNKNOWN),
                lun(1, Some(4096), DeviceType::DIRECT_ACCESS),
            ],
        };
        let ev = probe_event(IscsiName::new("iqn.2026-01.t:a").unwrap(), &Ok(report));
        let InventoryEvent::LunsReported { luns, .. } = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            luns,
            [
                LunSpec {
                    number: LunNumber::new(1).unwrap(),
                    size: Some(4096 * 512)
                },
                LunSpec {
                    number: LunNumber::new(2).unwrap(),
                    size: Some(2048 * 512)
                }
            ]
        );
        let err = probe_event(
            IscsiName::new("iqn.2026-01.t:a").unwrap(),
            &Err(ProbeError::NoResult {
                portal: "127.0.0.1:1".parse().unwrap(),
            }),
        );
        assert!(matches!(err, InventoryEvent::TargetUnreachable { .. }));
    }

    #[test]
    fn names_outside_the_iscsi_grammar_stay_out_of_the_inventory() {
        assert!(target_spec(&node("target with spaces", "e1", 3260)).is_none());
        assert!(target_spec(&node("iqn.2026-01.t:Upper", "e1", 3260)).is_none());
        let d = dd(1, "mixed", &["iqn.2026-01.t:a", "not a name"]);
        let members = dd_spec(&d).members;
        assert_eq!(members, [IscsiName::new("iqn.2026-01.t:a").unwrap()]);
    }
}
