//! The bulk walk: the whole database in four DevAttrQry, each keyed by one zero-length
//! attribute of an object type (RFC 4171 §5.6.5.2: "a Message Key with zero-length TLV(s)
//! is scoped to every object of the type indicated"), answered in one multi-PDU message.
//!
//! ```text
//!  Entities  key: Entity Identifier (len 0)        wanted: EID, protocol, period, index
//!  Portals   key: Portal IP (len 0), Port (len 0)  wanted: IP, port, ESI port, SCN port, index
//!  Nodes     key: iSCSI Node Type (len 0)          wanted: EID, name, type, alias, index,
//!                                                          portal IP/port, PG name/tag/IP/port
//!  Dds       key: DD_Symbolic_Name (len 0)         wanted: (none = every attribute)
//! ```
//!
//! What open-isns 0.101 answers (seen on the wire, `query.c`): for each matching object its
//! container (the node's entity), the object, then its related portals and portal groups,
//! each object's attributes in the order the query asked for them. So one Nodes answer holds,
//! per node, `EID, name, type, …, (portal IP, port)*, (PG name, PG tag, PG IP, PG port)*`,
//! what the per-node DevAttrQry of the DevGetNext walk returns for one node. A DD's members
//! are a repeated attribute, and a query naming it gets the first member only: the Dds query
//! names no attribute (RFC 4171 §5.7.5.2: all operating attributes are returned).

use std::collections::BTreeSet;

use core::net::IpAddr;

use crate::{Attr, DecodeError, Tag};

use super::model::{self, Snapshot};

/// One of the four bulk queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Entities,
    Portals,
    Nodes,
    Dds,
}

impl Part {
    pub(crate) const ALL: [Part; 4] = [Part::Entities, Part::Portals, Part::Nodes, Part::Dds];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::Entities => "entities",
            Part::Portals => "portals",
            Part::Nodes => "nodes",
            Part::Dds => "discovery domains",
        }
    }

    /// The zero-length Message Key attributes.
    pub(crate) fn key(self) -> &'static [Tag] {
        match self {
            Part::Entities => &[Tag::ENTITY_IDENTIFIER],
            Part::Portals => &[Tag::PORTAL_IP_ADDRESS, Tag::PORTAL_PORT],
            // Not the name: open-isns compares a key attribute that comes first in the
            // object by value before it looks at its length.
            Part::Nodes => &[Tag::ISCSI_NODE_TYPE],
            Part::Dds => &[Tag::DD_SYMBOLIC_NAME],
        }
    }

    /// The operating attributes asked for, in the order the answer lists them.
    pub(crate) fn wanted(self) -> &'static [Tag] {
        match self {
            Part::Entities => &[
                Tag::ENTITY_IDENTIFIER,
                Tag::ENTITY_PROTOCOL,
                Tag::REGISTRATION_PERIOD,
                Tag::ENTITY_INDEX,
            ],
            Part::Portals => &[
                Tag::PORTAL_IP_ADDRESS,
                Tag::PORTAL_PORT,
                Tag::ESI_PORT,
                Tag::SCN_PORT,
                Tag::PORTAL_INDEX,
            ],
            // The name before the type, the PG tag before its portal: `model::parse_node`
            // reads them in that order.
            Part::Nodes => &[
                Tag::ENTITY_IDENTIFIER,
                Tag::ISCSI_NAME,
                Tag::ISCSI_NODE_TYPE,
                Tag::ISCSI_ALIAS,
                Tag::ISCSI_NODE_INDEX,
                Tag::PORTAL_IP_ADDRESS,
                Tag::PORTAL_PORT,
                Tag::PG_ISCSI_NAME,
                Tag::PG_TAG,
                Tag::PG_PORTAL_IP_ADDR,
                Tag::PG_PORTAL_PORT,
            ],
            Part::Dds => &[],
        }
    }
}

/// The objects one walk has read already: a server that lists one twice (it should not)
/// keeps the first reading.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    nodes: BTreeSet<String>,
    dds: BTreeSet<u32>,
    pgs: BTreeSet<(String, IpAddr, u16)>,
}

/// What one answer added to the snapshot.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Added {
    /// Objects read (entities, portals, nodes, portal groups or DDs).
    pub(crate) objects: usize,
}

/// Splits `attrs` into records, a new one at every attribute `starts` accepts.
fn records<'a>(attrs: &'a [Attr<'a>], starts: impl Fn(Tag) -> bool) -> Vec<&'a [Attr<'a>]> {
    let mut out = Vec::new();
    let mut from = 0;
    for (i, a) in attrs.iter().enumerate() {
        if i > from && starts(a.tag()) {
            out.push(&attrs[from..i]);
            from = i;
        }
    }
    if from < attrs.len() {
        out.push(&attrs[from..]);
    }
    out
}

/// Reads one answer's operating attributes into `snap`; stops at `max_objects` objects
/// (the caller then aborts the walk) and at `max_members` members per DD.
pub(crate) fn read<'a>(
    part: Part,
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
    snap: &mut Snapshot,
    seen: &mut Seen,
    max_objects: usize,
    max_members: usize,
) -> Result<Added, DecodeError> {
    let all: Vec<Attr<'a>> = attrs.collect::<Result<_, _>>()?;
    let mut added = Added::default();
    match part {
        Part::Entities => {
            for r in records(&all, |t| t == Tag::ENTITY_IDENTIFIER) {
                if added.objects >= max_objects {
                    break;
                }
                if let Some(e) = model::parse_entity(r.iter().copied().map(Ok))? {
                    snap.entities.push(e);
                    added.objects += 1;
                }
            }
        }
        Part::Portals => {
            for r in records(&all, |t| t == Tag::PORTAL_IP_ADDRESS) {
                if added.objects >= max_objects {
                    break;
                }
                if let Some(p) = model::parse_portal(r.iter().copied().map(Ok))? {
                    snap.portals.push(p);
                    added.objects += 1;
                }
            }
        }
        Part::Nodes => read_nodes(&all, snap, seen, max_objects, &mut added)?,
        Part::Dds => {
            for r in records(&all, |t| t == Tag::DD_ID) {
                if added.objects >= max_objects {
                    break;
                }
                if let Some(d) = model::parse_dd(r.iter().copied().map(Ok), max_members)? {
                    if seen.dds.insert(d.id) {
                        snap.dds.push(d);
                    }
                    added.objects += 1;
                }
            }
        }
    }
    Ok(added)
}

/// Node records: each starts at the container's Entity Identifier, or at a second node name
/// within one record (a server that names the container once for several nodes); such a
/// node inherits the record's entity.
fn read_nodes(
    all: &[Attr<'_>],
    snap: &mut Snapshot,
    seen: &mut Seen,
    max_objects: usize,
    added: &mut Added,
) -> Result<(), DecodeError> {
    for r in records(all, |t| t == Tag::ENTITY_IDENTIFIER) {
        let entity = r.first().filter(|a| a.tag() == Tag::ENTITY_IDENTIFIER);
        let body = if entity.is_some() { &r[1..] } else { r };
        for node in records(body, |t| t == Tag::ISCSI_NAME) {
            if added.objects >= max_objects {
                return Ok(());
            }
            let attrs = entity.into_iter().chain(node.iter()).copied().map(Ok);
            let Some(n) = model::parse_node(attrs, None)? else {
                continue;
            };
            for pg in records(node, |t| t == Tag::PG_ISCSI_NAME)
                .into_iter()
                .filter(|g| g.first().is_some_and(|a| a.tag() == Tag::PG_ISCSI_NAME))
            {
                if let Some(g) = model::parse_portal_group(pg.iter().copied().map(Ok))? {
                    if seen.pgs.insert((g.name.clone(), g.ip, g.port.number)) {
                        snap.portal_groups.push(g);
                    }
                    added.objects += 1;
                }
            }
            if seen.nodes.insert(n.name.clone()) {
                snap.nodes.push(n);
            }
            added.objects += 1;
        }
    }
    Ok(())
}
