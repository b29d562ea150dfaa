//! The walk's node queries: one DevAttrQry keyed by a portal (IP address and port) tells
//! every node behind that portal, with its entity, its portal group tags and the portal, in
//! one answer; one DevAttrQry keyed by the node type Initiator tells every initiator with
//! its entity (initiators usually sit behind no portal).
//!
//! ```text
//!  DevAttrQry  key: Portal IP Address, Portal Port     (or: iSCSI Node Type = Initiator)
//!              wanted: EID, name, type, alias, index, portal IP/port, PG name/tag/IP/port
//!  answer (open-isns 0.101, query.c): per matching object its entity, the object, then its
//!              related nodes or portals: name, type, …, (PG name, PG tag, PG IP, PG port)
//! ```
//!
//! They replace, in a DevGetNext walk, the node and portal group chains (one DevGetNext
//! per node and per PG) and the DevAttrQry per target that read each target's entity and
//! portals: with open-isns
//! every request costs a scan of the whole database (`isns_object_list_lookup`,
//! `isns_object_match`), so the walk's time is its number of requests. open-isns builds
//! an answer in one 8 KiB buffer and never segments it ("For now, we don't do
//! segmentation", message.c): a portal with more nodes than fit (or more initiators than
//! fit) is answered Internal Error, and the walk then lists the nodes with DevGetNext and
//! reads the targets no answer covered one by one. A portal whose answer names no node
//! (its entity registered nodes without portal groups, as `isnsadm --register` does) makes
//! the walk list the nodes with DevGetNext too. A node that is neither behind a portal nor
//! an initiator (a Control node) in an entity whose portals answer is not listed.

use std::collections::BTreeMap;

use crate::{Attr, DecodeError, Tag};

use super::model::{self, NodeInfo, PortalGroupInfo};

/// The operating attributes asked for, in the order the answer lists them: the name
/// before the type and the PG tag before its portal, as `model::parse_node` reads them.
pub(crate) const WANTED: [Tag; 11] = [
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
];

/// What the answers of one walk said about each node (its portals: the union over the
/// answers).
pub(crate) type Reached = BTreeMap<String, NodeInfo>;

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

/// Reads one answer: each node (with its entity and portals) joins `reached` (at most
/// `max_nodes` names in all), each portal group joins `groups`. Returns the objects read.
pub(crate) fn read<'a>(
    attrs: impl Iterator<Item = Result<Attr<'a>, DecodeError>>,
    reached: &mut Reached,
    groups: &mut Vec<PortalGroupInfo>,
    max_nodes: usize,
) -> Result<usize, DecodeError> {
    let all: Vec<Attr<'a>> = attrs.collect::<Result<_, _>>()?;
    let mut objects = 0;
    for record in records(&all, |t| t == Tag::ENTITY_IDENTIFIER) {
        // Everything before the first node (the entity, a portal) applies to each node.
        let first_node = record
            .iter()
            .position(|a| a.tag() == Tag::ISCSI_NAME)
            .unwrap_or(record.len());
        let (head, body) = record.split_at(first_node);
        for node in records(body, |t| t == Tag::ISCSI_NAME) {
            let attrs = head.iter().chain(node.iter()).copied().map(Ok);
            let Some(n) = model::parse_node(attrs, None)? else {
                continue;
            };
            for pg in records(node, |t| t == Tag::PG_ISCSI_NAME)
                .into_iter()
                .filter(|g| g.first().is_some_and(|a| a.tag() == Tag::PG_ISCSI_NAME))
            {
                if let Some(g) = model::parse_portal_group(pg.iter().copied().map(Ok))? {
                    groups.push(g);
                    objects += 1;
                }
            }
            objects += 1;
            let full = reached.len() >= max_nodes;
            match reached.get_mut(&n.name) {
                Some(known) => {
                    for p in n.portals {
                        if !known.portals.contains(&p) && known.portals.len() < 256 {
                            known.portals.push(p);
                        }
                    }
                    known.portals.sort();
                }
                None if !full => {
                    reached.insert(n.name.clone(), n);
                }
                None => {}
            }
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FunctionId, Message, Port, Status};
    use bytes::BytesMut;
    use core::net::{IpAddr, Ipv4Addr};

    fn read_answer(payload: &[u8]) -> Result<(Reached, Vec<PortalGroupInfo>), DecodeError> {
        let rsp = crate::Response::parse(
            FunctionId::DEV_ATTR_QRY.response(),
            payload,
            crate::HEADER_LEN,
        )?;
        let (mut reached, mut groups) = (Reached::new(), Vec::new());
        read(rsp.operating(), &mut reached, &mut groups, 100)?;
        Ok((reached, groups))
    }

    fn answer() -> Vec<u8> {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut m = Message::response(FunctionId::DEV_ATTR_QRY, 1, Status::SUCCESSFUL)
            .key(Tag::PORTAL_IP_ADDRESS, ip)
            .key(Tag::PORTAL_PORT, Port::tcp(3260))
            .op(Tag::ENTITY_IDENTIFIER, "array-1")
            .op(Tag::PORTAL_IP_ADDRESS, ip)
            .op(Tag::PORTAL_PORT, Port::tcp(3260));
        for (name, tag) in [("iqn.2026-01.test:t1", 1u32), ("iqn.2026-01.test:t2", 2)] {
            m = m
                .op(Tag::ISCSI_NAME, name)
                .op(Tag::ISCSI_NODE_TYPE, 1u32)
                .op(Tag::PG_ISCSI_NAME, name)
                .op(Tag::PG_TAG, tag)
                .op(Tag::PG_PORTAL_IP_ADDR, ip)
                .op(Tag::PG_PORTAL_PORT, Port::tcp(3260));
        }
        let mut b = BytesMut::new();
        m.encode(&mut b).unwrap();
        b[crate::HEADER_LEN..].to_vec()
    }

    #[test]
    fn reads_each_node_behind_the_portal_with_its_entity_and_group_tag() {
        let (reached, groups) = read_answer(&answer()).unwrap();
        assert_eq!(reached.len(), 2);
        let t2 = &reached["iqn.2026-01.test:t2"];
        assert_eq!(t2.entity.as_deref(), Some("array-1"));
        assert_eq!(t2.portals.len(), 1);
        assert_eq!(t2.portals[0].port, 3260);
        assert_eq!(t2.portals[0].tag, Some(2));
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn every_truncation_is_an_error_or_fewer_nodes_never_a_panic() {
        let full = answer();
        for cut in 0..full.len() {
            if let Ok((reached, _)) = read_answer(&full[..cut]) {
                assert!(reached.len() <= 2);
            }
        }
    }

    #[test]
    fn rejects_a_short_portal_address() {
        let mut p = vec![0, 0, 0, 0];
        for (tag, value) in [
            (Tag::DELIMITER, &b""[..]),
            (Tag::ENTITY_IDENTIFIER, b"e\0\0\0"),
            (Tag::PORTAL_IP_ADDRESS, &[127, 0, 0, 1]),
            (Tag::PORTAL_PORT, &[0, 0, 12, 188]),
            (Tag::ISCSI_NAME, b"iqn.2026-01.test:t\0\0"),
        ] {
            p.extend_from_slice(&tag.0.to_be_bytes());
            p.extend_from_slice(&u32::try_from(value.len()).unwrap().to_be_bytes());
            p.extend_from_slice(value);
        }
        assert!(read_answer(&p).is_err());
    }

    #[test]
    fn stops_adding_names_at_the_cap() {
        let rsp = answer();
        let rsp =
            crate::Response::parse(FunctionId::DEV_ATTR_QRY.response(), &rsp, crate::HEADER_LEN)
                .unwrap();
        let (mut reached, mut groups) = (Reached::new(), Vec::new());
        read(rsp.operating(), &mut reached, &mut groups, 1).unwrap();
        assert_eq!(reached.len(), 1);
    }
}
