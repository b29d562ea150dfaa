//! What the session learns, as owned values: walked objects, SCN notices, registration
//! grants and command outcomes; plus the parsers that read them from responses.

use core::net::IpAddr;
use core::time::Duration;

use crate::{Attr, DecodeError, NodeType, Port, ScnBitmap, Tag};

/// What the server granted when the client registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Entity Identifier (the server may have assigned it).
    pub entity_id: String,
    /// Registration Period granted (`None`: the server returned none).
    pub registration_period: Option<Duration>,
    /// ESI Interval granted (`None`: no ESI).
    pub esi_interval: Option<Duration>,
    /// Whether the ESI port was accepted (false after an ESI-not-available refusal).
    pub esi: bool,
}

/// A Network Entity as DevGetNext returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityInfo {
    /// Entity Identifier.
    pub eid: String,
    /// Entity Protocol.
    pub protocol: Option<u32>,
    /// Registration Period.
    pub registration_period: Option<u32>,
    /// Entity Index.
    pub index: Option<u32>,
}

/// A Portal as DevGetNext returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalInfo {
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: Port,
    /// SCN port, if registered.
    pub scn_port: Option<Port>,
    /// ESI port, if registered.
    pub esi_port: Option<Port>,
    /// Portal Index.
    pub index: Option<u32>,
}

/// A Portal Group as DevGetNext returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalGroupInfo {
    /// iSCSI name of the node.
    pub name: String,
    /// Portal address.
    pub ip: IpAddr,
    /// Portal port.
    pub port: Port,
    /// Portal Group Tag (`None`: NULL PGT, the node is not reachable there).
    pub tag: Option<u32>,
}

/// A portal a node is reachable through, with its group tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortalRef {
    /// Address.
    pub ip: IpAddr,
    /// TCP port number.
    pub port: u16,
    /// Portal Group Tag, when registered.
    pub tag: Option<u32>,
}

/// A storage node; `entity` and `portals` are filled by a DevAttrQry of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// iSCSI Name.
    pub name: String,
    /// Node type.
    pub node_type: NodeType,
    /// Alias.
    pub alias: Option<String>,
    /// Node Index.
    pub index: Option<u32>,
    /// The entity it belongs to (known after its DevAttrQry).
    pub entity: Option<String>,
    /// Portals it is reachable through (known after its DevAttrQry).
    pub portals: Vec<PortalRef>,
}

/// A DD member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdMember {
    /// iSCSI name (absent when only an index was listed).
    pub name: Option<String>,
    /// iSCSI node index.
    pub index: Option<u32>,
}

/// A Discovery Domain with its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdInfo {
    /// DD_ID.
    pub id: u32,
    /// Symbolic name.
    pub name: Option<String>,
    /// Members in wire order.
    pub members: Vec<DdMember>,
}

impl DdInfo {
    /// Member names.
    pub fn member_names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().filter_map(|m| m.name.as_deref())
    }
}

/// Everything one full walk found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Network entities.
    pub entities: Vec<EntityInfo>,
    /// Portals.
    pub portals: Vec<PortalInfo>,
    /// Portal groups.
    pub portal_groups: Vec<PortalGroupInfo>,
    /// Storage nodes (targets with entity and portals filled in).
    pub nodes: Vec<NodeInfo>,
    /// Discovery domains.
    pub dds: Vec<DdInfo>,
}

impl Snapshot {
    /// Nodes whose type includes Target.
    pub fn targets(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes
            .iter()
            .filter(|n| n.node_type.contains(NodeType::TARGET))
    }
}

/// One change an SCN announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScnEntry {
    /// What happened.
    pub bitmap: ScnBitmap,
    /// The object's iSCSI name, when the entry names one.
    pub name: Option<String>,
    /// The DD, for membership changes.
    pub dd_id: Option<u32>,
    /// The entity, when the entry names one.
    pub entity: Option<String>,
}

/// A decoded SCN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScnNotice {
    /// The destination node.
    pub destination: Option<String>,
    /// Server timestamp.
    pub timestamp: Option<u64>,
    /// Changes, in wire order.
    pub entries: Vec<ScnEntry>,
}

/// The result of a successful command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpOutcome {
    /// A DD was created with this ID.
    DdCreated {
        /// DD_ID assigned by the server.
        id: u32,
    },
    /// The DD change was accepted.
    DdUpdated {
        /// DD_ID.
        id: u32,
    },
    /// The DD was removed.
    DdRemoved {
        /// DD_ID.
        id: u32,
    },
    /// The node was registered.
    NodeRegistered {
        /// Its entity.
        entity: String,
    },
    /// The node was deregistered.
    NodeDeregistered,
    /// A node query answered (`None`: no such node visible).
    Node(Option<NodeInfo>),
    /// An SCN registration was made or removed.
    ScnUpdated,
}

pub(crate) fn secs(v: u32) -> Duration {
    Duration::from_secs(u64::from(v))
}

pub(crate) fn owned_str(a: &Attr<'_>) -> Result<String, DecodeError> {
    a.as_str().map(str::to_owned)
}

/// Reads one entity's attributes (a DevGetNext operating list).
pub(crate) fn parse_entity<'a>(
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
) -> Result<Option<EntityInfo>, DecodeError> {
    let mut e: Option<EntityInfo> = None;
    for a in attrs {
        let a = a?;
        match a.tag() {
            Tag::ENTITY_IDENTIFIER if e.is_none() => {
                e = Some(EntityInfo {
                    eid: owned_str(&a)?,
                    protocol: None,
                    registration_period: None,
                    index: None,
                });
            }
            Tag::ENTITY_PROTOCOL => {
                if let Some(e) = e.as_mut() {
                    e.protocol = Some(a.as_u32()?);
                }
            }
            Tag::REGISTRATION_PERIOD => {
                if let Some(e) = e.as_mut() {
                    e.registration_period = Some(a.as_u32()?);
                }
            }
            Tag::ENTITY_INDEX => {
                if let Some(e) = e.as_mut() {
                    e.index = Some(a.as_u32()?);
                }
            }
            _ => {}
        }
    }
    Ok(e)
}

/// Reads one portal's attributes.
pub(crate) fn parse_portal<'a>(
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
) -> Result<Option<PortalInfo>, DecodeError> {
    let mut ip = None;
    let mut p: Option<PortalInfo> = None;
    for a in attrs {
        let a = a?;
        match a.tag() {
            Tag::PORTAL_IP_ADDRESS if ip.is_none() && p.is_none() => ip = Some(a.as_ip()?),
            Tag::PORTAL_PORT if p.is_none() => {
                if let Some(ip) = ip {
                    p = Some(PortalInfo {
                        ip,
                        port: a.as_port()?,
                        scn_port: None,
                        esi_port: None,
                        index: None,
                    });
                }
            }
            Tag::SCN_PORT => {
                if let Some(p) = p.as_mut() {
                    p.scn_port = Some(a.as_port()?);
                }
            }
            Tag::ESI_PORT => {
                if let Some(p) = p.as_mut() {
                    p.esi_port = Some(a.as_port()?);
                }
            }
            Tag::PORTAL_INDEX => {
                if let Some(p) = p.as_mut() {
                    p.index = Some(a.as_u32()?);
                }
            }
            _ => {}
        }
    }
    Ok(p)
}

/// Reads one portal group's attributes.
pub(crate) fn parse_portal_group<'a>(
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
) -> Result<Option<PortalGroupInfo>, DecodeError> {
    let (mut name, mut ip, mut port, mut tag) = (None, None, None, None);
    for a in attrs {
        let a = a?;
        match a.tag() {
            Tag::PG_ISCSI_NAME if name.is_none() => name = Some(owned_str(&a)?),
            Tag::PG_PORTAL_IP_ADDR if ip.is_none() => ip = Some(a.as_ip()?),
            Tag::PG_PORTAL_PORT if port.is_none() => port = Some(a.as_port()?),
            Tag::PG_TAG if tag.is_none() => {
                tag = Some(if a.is_empty() {
                    None
                } else {
                    Some(a.as_u32()?)
                });
            }
            _ => {}
        }
    }
    Ok(match (name, ip, port) {
        (Some(name), Some(ip), Some(port)) => Some(PortalGroupInfo {
            name,
            ip,
            port,
            tag: tag.flatten(),
        }),
        _ => None,
    })
}

/// Reads a node, either from a DevGetNext operating list (node attributes only) or from a
/// DevAttrQry answer keyed by the node name (entity, node, portals and PGs in the
/// RFC 4171 §5.6.5.2 order). `want` selects which node when several are listed.
pub(crate) fn parse_node<'a>(
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
    want: Option<&str>,
) -> Result<Option<NodeInfo>, DecodeError> {
    let mut entity: Option<String> = None;
    let mut found: Option<NodeInfo> = None;
    let mut current_is_wanted = false;
    let mut entity_portals: Vec<PortalRef> = Vec::new();
    let mut pending_ip: Option<IpAddr> = None;
    let mut pg_tag: Option<Option<u32>> = None;
    let mut pg_ip: Option<IpAddr> = None;
    let mut pg_portals: Vec<PortalRef> = Vec::new();
    for a in attrs {
        let a = a?;
        match a.tag() {
            Tag::ENTITY_IDENTIFIER if found.is_none() => entity = Some(owned_str(&a)?),
            Tag::PORTAL_IP_ADDRESS => pending_ip = Some(a.as_ip()?),
            Tag::PORTAL_PORT => {
                if let Some(ip) = pending_ip.take() {
                    let r = PortalRef {
                        ip,
                        port: a.as_port()?.number,
                        tag: None,
                    };
                    if !entity_portals.contains(&r) && entity_portals.len() < 256 {
                        entity_portals.push(r);
                    }
                }
            }
            Tag::ISCSI_NAME => {
                let name = a.as_str()?;
                if found.is_some() {
                    current_is_wanted = false;
                    continue;
                }
                current_is_wanted = want.is_none_or(|w| w == name);
                if current_is_wanted {
                    found = Some(NodeInfo {
                        name: name.to_owned(),
                        node_type: NodeType::empty(),
                        alias: None,
                        index: None,
                        entity: entity.clone(),
                        portals: Vec::new(),
                    });
                }
            }
            Tag::ISCSI_NODE_TYPE if current_is_wanted => {
                if let Some(n) = found.as_mut() {
                    n.node_type = NodeType::from_bits_retain(a.as_u32()?);
                }
            }
            Tag::ISCSI_ALIAS if current_is_wanted => {
                if let Some(n) = found.as_mut() {
                    n.alias = Some(owned_str(&a)?);
                }
            }
            Tag::ISCSI_NODE_INDEX if current_is_wanted => {
                if let Some(n) = found.as_mut() {
                    n.index = Some(a.as_u32()?);
                }
            }
            Tag::PG_TAG if current_is_wanted => {
                pg_tag = Some(if a.is_empty() {
                    None
                } else {
                    Some(a.as_u32()?)
                });
            }
            Tag::PG_PORTAL_IP_ADDR if current_is_wanted => pg_ip = Some(a.as_ip()?),
            Tag::PG_PORTAL_PORT if current_is_wanted => {
                if let Some(ip) = pg_ip.take() {
                    // A NULL PGT (zero length) says the node is NOT reachable there.
                    if let Some(Some(tag)) = pg_tag {
                        let r = PortalRef {
                            ip,
                            port: a.as_port()?.number,
                            tag: Some(tag),
                        };
                        if !pg_portals.contains(&r) && pg_portals.len() < 256 {
                            pg_portals.push(r);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(n) = found.as_mut() {
        n.portals = if pg_portals.is_empty() {
            entity_portals
        } else {
            pg_portals
        };
        n.portals.sort();
    }
    Ok(found)
}

/// Reads one DD (DevGetNext operating list).
pub(crate) fn parse_dd<'a>(
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
    max_members: usize,
) -> Result<Option<DdInfo>, DecodeError> {
    let mut dd: Option<DdInfo> = None;
    for a in attrs {
        let a = a?;
        let Some(d) = dd.as_mut() else {
            if a.tag() == Tag::DD_ID {
                dd = Some(DdInfo {
                    id: a.as_u32()?,
                    name: None,
                    members: Vec::new(),
                });
            }
            continue;
        };
        match a.tag() {
            Tag::DD_SYMBOLIC_NAME => d.name = Some(owned_str(&a)?),
            // open-isns lists each member as index then name; either may come alone.
            Tag::DD_MEMBER_ISCSI_INDEX => {
                let index = Some(a.as_u32()?);
                let full = d.members.len() >= max_members;
                match d.members.last_mut() {
                    Some(m) if m.index.is_none() && m.name.is_some() => m.index = index,
                    _ if !full => {
                        d.members.push(DdMember { name: None, index });
                    }
                    _ => {}
                }
            }
            Tag::DD_MEMBER_ISCSI_NAME => {
                let name = Some(owned_str(&a)?);
                let full = d.members.len() >= max_members;
                match d.members.last_mut() {
                    Some(m) if m.name.is_none() => m.name = name,
                    _ if !full => {
                        d.members.push(DdMember { name, index: None });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(dd)
}

/// Reads an SCN's flat attribute list: destination, timestamp, then per change a bitmap
/// followed by the object's key (and a DD_ID for membership changes).
pub(crate) fn parse_scn<'a>(
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
    max_entries: usize,
) -> Result<ScnNotice, DecodeError> {
    let mut n = ScnNotice {
        destination: None,
        timestamp: None,
        entries: Vec::new(),
    };
    for a in attrs {
        let a = a?;
        match a.tag() {
            Tag::ISCSI_SCN_BITMAP if n.entries.len() < max_entries => {
                n.entries.push(ScnEntry {
                    bitmap: ScnBitmap::from_bits_retain(a.as_u32()?),
                    name: None,
                    dd_id: None,
                    entity: None,
                });
            }
            Tag::ISCSI_NAME => {
                let s = owned_str(&a)?;
                match n.entries.last_mut() {
                    Some(e) if e.name.is_none() => e.name = Some(s),
                    None if n.destination.is_none() => n.destination = Some(s),
                    _ => {}
                }
            }
            Tag::DD_MEMBER_ISCSI_NAME => {
                if let Some(e) = n.entries.last_mut().filter(|e| e.name.is_none()) {
                    e.name = Some(owned_str(&a)?);
                }
            }
            Tag::DD_ID => {
                if let Some(e) = n.entries.last_mut() {
                    e.dd_id = Some(a.as_u32()?);
                }
            }
            Tag::ENTITY_IDENTIFIER => {
                if let Some(e) = n.entries.last_mut() {
                    e.entity = Some(owned_str(&a)?);
                }
            }
            Tag::TIMESTAMP => {
                n.timestamp = Some(match a.value().len() {
                    4 => u64::from(a.as_u32()?),
                    _ => a.as_u64()?,
                });
            }
            _ => {}
        }
    }
    Ok(n)
}
