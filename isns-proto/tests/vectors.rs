//! Vectors captured from real open-isns traffic (`isnsadm` <-> `isnsd`, `tgtd` <-> `isnsd`,
//! and an SCN from `isnsd` to `tgtd`) by `scripts/peers/capture-isns.sh`: each decodes to the
//! values the capture carried and re-encodes byte for byte where the message is canonical.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;
use common::{load_vectors, vector};
use isns_proto::{
    Body, DecodeError, FunctionId, Message, NodeType, Pdu, PduFlags, Port, ScnBitmap, Status, Tag,
    Value, frame_len,
};

fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// isnsadm writes IPv4 as `::a.b.c.d`; the canonical form (RFC 4171) is `::ffff:a.b.c.d`.
/// Rewrites every IPv4-compatible 16-byte IP value of the PDU to the mapped form.
fn canonical_ips(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let pdu = Pdu::parse(bytes).unwrap();
    for a in pdu.attrs() {
        let a = a.unwrap();
        let v = a.value();
        if a.tag().kind() == isns_proto::ValueKind::Ip
            && v.len() == 16
            && v[..12].iter().all(|&b| b == 0)
        {
            let at = a.offset() + 8;
            out[at + 10] = 0xff;
            out[at + 11] = 0xff;
        }
    }
    out
}

#[test]
fn every_vector_decodes_and_reencodes_byte_identically_up_to_ip_form() {
    let mut identical = 0;
    for v in load_vectors() {
        let pdu = Pdu::parse(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert!(pdu.is_whole_message(), "{}", v.name);
        for a in pdu.attrs() {
            a.unwrap()
                .typed()
                .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        }
        let m = Message::decode(&pdu).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let mut out = BytesMut::new();
        let n = m
            .encode(&mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(n, out.len());
        if out[..] == v.bytes[..] {
            identical += 1;
        } else {
            // Only isnsadm's IPv4-compatible addresses are non-canonical.
            assert!(
                v.name.starts_with("isnsadm-"),
                "{} re-encodes differently",
                v.name
            );
            assert_eq!(out[..], canonical_ips(&v.bytes)[..], "{}", v.name);
        }
    }
    assert!(
        identical >= 35,
        "only {identical} vectors re-encode byte for byte"
    );
}

#[test]
fn isnsadm_register_target_decodes_to_entity_node_and_portal() {
    let b = vector("isnsadm-register-target-1-devattrreg.hex");
    let pdu = Pdu::parse(&b).unwrap();
    assert_eq!(pdu.function(), FunctionId::DEV_ATTR_REG);
    assert_eq!(pdu.flags(), PduFlags::CLIENT | PduFlags::SINGLE);
    let Body::Request(r) = pdu.body().unwrap() else {
        panic!("request expected")
    };
    assert_eq!(r.source_name().unwrap(), "iqn.2000-01.test.capture:t1");
    let key: Vec<_> = r.key().map(Result::unwrap).collect();
    assert_eq!(key.len(), 1);
    assert_eq!(key[0].tag(), Tag::ENTITY_IDENTIFIER);
    assert_eq!(key[0].as_str().unwrap(), "ent.capture.a");
    let op: Vec<_> = r.operating().map(|a| a.unwrap()).collect();
    let tags: Vec<_> = op.iter().map(isns_proto::Attr::tag).collect();
    assert_eq!(
        tags,
        [
            Tag::ISCSI_NAME,
            Tag::ISCSI_NODE_TYPE,
            Tag::PORTAL_IP_ADDRESS,
            Tag::PORTAL_PORT
        ]
    );
    assert_eq!(op[1].as_u32().unwrap(), NodeType::TARGET.bits());
    // isnsadm sends the IPv4-compatible form ::127.0.0.1.
    assert_eq!(&op[2].value()[..12], &[0; 12]);
    assert_eq!(op[2].as_ip().unwrap(), localhost());
    assert_eq!(op[3].as_port().unwrap(), Port::tcp(3260));
}

#[test]
fn isnsd_query_response_carries_entity_node_portal_and_portal_group() {
    let b = vector("isnsadm-query-target-2-devattrqry-rsp.hex");
    let pdu = Pdu::parse(&b).unwrap();
    assert_eq!(pdu.flags(), PduFlags::SERVER | PduFlags::SINGLE);
    let Body::Response(r) = pdu.body().unwrap() else {
        panic!("response expected")
    };
    assert_eq!(r.status(), Status::SUCCESSFUL);
    assert_eq!(r.find(Tag::ENTITY_PROTOCOL).unwrap().as_u32().unwrap(), 2);
    assert_eq!(
        r.find(Tag::REGISTRATION_PERIOD).unwrap().as_u32().unwrap(),
        3600
    );
    assert_eq!(
        r.find(Tag::PORTAL_IP_ADDRESS).unwrap().as_ip().unwrap(),
        localhost()
    );
    assert_eq!(
        r.find(Tag::PG_PORTAL_PORT).unwrap().as_port().unwrap(),
        Port::tcp(3260)
    );
    assert_eq!(r.find(Tag::PG_TAG).unwrap().as_u32().unwrap(), 1);
    assert!(r.find(Tag::TIMESTAMP).unwrap().as_u64().unwrap() > 1_700_000_000);
    assert_eq!(r.operating().count(), 16);
}

#[test]
fn isnsd_get_next_walk_ends_with_no_such_entry() {
    let first = vector("isnsadm-list-nodes-1-devgetnext.hex");
    let Body::Request(q) = Pdu::parse(&first).unwrap().body().unwrap() else {
        panic!()
    };
    let k = q.key().next().unwrap().unwrap();
    assert_eq!((k.tag(), k.is_empty()), (Tag::ISCSI_NAME, true));
    let last = vector("isnsadm-list-nodes-6-devgetnext-rsp.hex");
    let pdu = Pdu::parse(&last).unwrap();
    assert_eq!(pdu.status(), Some(Status::NO_SUCH_ENTRY));
    let Body::Response(r) = pdu.body().unwrap() else {
        panic!()
    };
    assert!(!r.has_delimiter());
    assert_eq!(r.operating().count(), 0);
}

#[test]
fn isnsd_dd_register_response_returns_dd_id_and_member_index() {
    let b = vector("isnsadm-dd-create-2-ddreg-rsp.hex");
    let Body::Response(r) = Pdu::parse(&b).unwrap().body().unwrap() else {
        panic!()
    };
    assert_eq!(r.status(), Status::SUCCESSFUL);
    assert_eq!(r.find(Tag::DD_ID).unwrap().as_u32().unwrap(), 1);
    assert_eq!(
        r.find(Tag::DD_SYMBOLIC_NAME).unwrap().as_str().unwrap(),
        "capture-dd"
    );
    assert_eq!(
        r.find(Tag::DD_MEMBER_ISCSI_INDEX)
            .unwrap()
            .as_u32()
            .unwrap(),
        4
    );
    assert_eq!(
        r.find(Tag::DD_MEMBER_ISCSI_NAME).unwrap().as_str().unwrap(),
        "iqn.2000-01.test.capture:t1"
    );
}

#[test]
fn isnsadm_dd_deregister_keys_the_dd_id() {
    let b = vector("isnsadm-dd-remove-member-1-dddereg.hex");
    let m = Message::decode(&Pdu::parse(&b).unwrap()).unwrap();
    assert_eq!(m.key, [isns_proto::Tlv::new(Tag::DD_ID, 1u32)]);
    assert_eq!(
        m.operating[0].value,
        Value::Str("iqn.2000-01.test.capture:t1")
    );
}

#[test]
fn isnsd_scn_is_flat_with_client_flag_and_member_added_bitmap() {
    let b = vector("isnsd-scn-to-tgtd-1-scn.hex");
    let pdu = Pdu::parse(&b).unwrap();
    assert_eq!(pdu.function(), FunctionId::SCN);
    // isnsd sets the client bit, not the server bit, on SCNs it originates.
    assert_eq!(pdu.flags(), PduFlags::CLIENT | PduFlags::SINGLE);
    let Body::Notification(n) = pdu.body().unwrap() else {
        panic!("flat SCN expected")
    };
    let a: Vec<_> = n.attrs().map(Result::unwrap).collect();
    assert_eq!(a[0].as_str().unwrap(), "iqn.2000-01.test.capture:tgt");
    assert_eq!(a[1].tag(), Tag::TIMESTAMP);
    assert_eq!(
        ScnBitmap::from_bits_retain(a[2].as_u32().unwrap()),
        ScnBitmap::MEMBER_ADDED
    );
    assert_eq!(a[3].as_str().unwrap(), "iqn.2000-01.test.capture:i1");
    let rsp = vector("isnsd-scn-to-tgtd-2-scn-rsp.hex");
    // Our builder produces exactly what tgtd answered.
    let ours = Message::scn_rsp(
        pdu.xid(),
        Status::SUCCESSFUL,
        "iqn.2000-01.test.capture:tgt",
    );
    let mut out = BytesMut::new();
    ours.encode(&mut out).unwrap();
    assert_eq!(out[..], rsp[..]);
}

#[test]
fn tgtd_registration_uses_replace_mapped_ipv4_and_scn_port() {
    let b = vector("tgtd-register-1-devattrreg.hex");
    let pdu = Pdu::parse(&b).unwrap();
    assert!(pdu.flags().contains(PduFlags::REPLACE));
    let Body::Request(r) = pdu.body().unwrap() else {
        panic!()
    };
    let ip = r
        .operating()
        .map(Result::unwrap)
        .find(|a| a.tag() == Tag::PORTAL_IP_ADDRESS)
        .unwrap();
    assert_eq!(&ip.value()[10..12], &[0xff, 0xff]);
    assert_eq!(ip.as_ip().unwrap(), localhost());
    let scn = r
        .operating()
        .map(Result::unwrap)
        .find(|a| a.tag() == Tag::SCN_PORT)
        .unwrap();
    assert!(!scn.as_port().unwrap().is_udp());
    let reg = vector("tgtd-register-3-scnreg.hex");
    let m = Message::decode(&Pdu::parse(&reg).unwrap()).unwrap();
    let bitmap = ScnBitmap::OBJECT_UPDATED
        | ScnBitmap::OBJECT_ADDED
        | ScnBitmap::OBJECT_REMOVED
        | ScnBitmap::INITIATOR_AND_SELF_ONLY;
    assert_eq!(
        m.operating,
        [isns_proto::Tlv::new(Tag::ISCSI_SCN_BITMAP, bitmap)]
    );
}

#[test]
fn every_prefix_of_every_vector_is_an_error_or_needs_more_never_ok() {
    for v in load_vectors() {
        for cut in 0..v.bytes.len() {
            let prefix = &v.bytes[..cut];
            match Pdu::parse(prefix) {
                Err(DecodeError::Truncated { .. }) => {}
                other => panic!("{} cut at {cut}: {other:?}", v.name),
            }
            assert_eq!(
                frame_len(prefix, usize::MAX),
                if cut < 12 {
                    Ok(None)
                } else {
                    Ok(Some(v.bytes.len()))
                }
            );
            // The payload alone, cut short, must fail framing or leave fewer attributes.
            if cut > 12 {
                let _ = Body::parse(
                    Pdu::parse(&v.bytes).unwrap().function(),
                    &v.bytes[12..cut],
                    12,
                );
            }
        }
    }
}

#[test]
fn every_cut_payload_either_fails_or_parses_a_shorter_attribute_list() {
    for v in load_vectors() {
        let pdu = Pdu::parse(&v.bytes).unwrap();
        let full = pdu.attrs().count();
        let start = if pdu.function().is_response() { 16 } else { 12 };
        for cut in start..v.bytes.len() {
            let attrs = isns_proto::Attrs::new(&v.bytes[start..cut], start);
            let mut n = 0;
            let mut failed = false;
            for a in attrs {
                match a {
                    Ok(_) => n += 1,
                    Err(_) => failed = true,
                }
            }
            assert!(failed || n < full, "{} cut at {cut}", v.name);
        }
    }
}
