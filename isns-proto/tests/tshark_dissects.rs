//! Wireshark's iSNS dissector (`tshark`) reads every request and response our builders
//! produce without a malformed-packet or warning/error expert item. The test writes a pcap
//! itself: one TCP connection (handshake included), one PDU per segment.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use isns_proto::{
    EntityProtocol, FunctionId, Heartbeat, Message, NodeType, Port, ScnBitmap, Status, Tag, Tlv,
    Value, encode_heartbeat,
};

const SERVER_PORT: u16 = 3205;
const CLIENT_PORT: u16 = 40_123;

fn every_message() -> Vec<(bool, BytesMut)> {
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let src = "iqn.2000-01.test.tshark:manager";
    let tgt = "iqn.2000-01.test.tshark:disk1";
    let mut msgs: Vec<(bool, Message<'_>)> = vec![
        (
            true,
            Message::dev_attr_reg(1, src)
                .replace(true)
                .key(Tag::ENTITY_IDENTIFIER, "ent.tshark")
                .entity("ent.tshark", EntityProtocol::ISCSI)
                .op(Tag::REGISTRATION_PERIOD, 900u32)
                .portal(ip, Port::tcp(3260))
                .op(Tag::ESI_INTERVAL, 60u32)
                .op(Tag::ESI_PORT, Port::tcp(4000))
                .op(Tag::SCN_PORT, Port::udp(4001))
                .node(tgt, NodeType::TARGET)
                .op(Tag::ISCSI_ALIAS, "disk one")
                .portal_group(1, ip, Port::tcp(3260))
                .node(src, NodeType::CONTROL),
        ),
        (
            false,
            Message::response(FunctionId::DEV_ATTR_REG, 1, Status::SUCCESSFUL)
                .key(Tag::ENTITY_IDENTIFIER, "ent.tshark")
                .op(Tag::ENTITY_IDENTIFIER, "ent.tshark")
                .op(Tag::REGISTRATION_PERIOD, 900u32)
                .op(Tag::ESI_INTERVAL, 60u32),
        ),
        (
            true,
            Message::dev_attr_qry(2, src)
                .key(Tag::ISCSI_NODE_TYPE, NodeType::TARGET)
                .query(Tag::ISCSI_NAME)
                .query(Tag::ISCSI_ALIAS)
                .query(Tag::PORTAL_IP_ADDRESS)
                .query(Tag::PORTAL_PORT)
                .query(Tag::PG_TAG),
        ),
        (
            false,
            Message::response(FunctionId::DEV_ATTR_QRY, 2, Status::SUCCESSFUL)
                .key(Tag::ISCSI_NODE_TYPE, NodeType::TARGET)
                .op(Tag::ISCSI_NAME, tgt)
                .op(Tag::ISCSI_ALIAS, "disk one")
                .op(Tag::PORTAL_IP_ADDRESS, ip)
                .op(Tag::PORTAL_PORT, Port::tcp(3260))
                .op(Tag::PG_TAG, 1u32),
        ),
        (
            true,
            Message::dev_get_next(3, src).key(Tag::ISCSI_NAME, Value::Empty),
        ),
        (
            false,
            Message::response(FunctionId::DEV_GET_NEXT, 3, Status::NO_SUCH_ENTRY),
        ),
        (
            true,
            Message::scn_reg(4, src, src, ScnBitmap::MANAGEMENT | ScnBitmap::OBJECT_ADDED),
        ),
        (
            false,
            Message::response(FunctionId::SCN_REG, 4, Status::SUCCESSFUL),
        ),
        (true, Message::scn_dereg(5, src, src)),
        (
            false,
            Message::response(FunctionId::SCN_DEREG, 5, Status::SUCCESSFUL),
        ),
        (
            true,
            Message::scn_event(6, src)
                .key(Tag::ISCSI_NAME, tgt)
                .op(Tag::ISCSI_SCN_BITMAP, ScnBitmap::OBJECT_UPDATED),
        ),
        (
            false,
            Message::response(FunctionId::SCN_EVENT, 6, Status::MESSAGE_NOT_SUPPORTED),
        ),
        (
            true,
            Message::dd_reg(7, src, None)
                .op(Tag::DD_SYMBOLIC_NAME, "boot-dd")
                .op(Tag::DD_FEATURES, 1u32)
                .op(Tag::DD_MEMBER_ISCSI_NAME, tgt)
                .op(Tag::DD_MEMBER_ISCSI_NAME, src),
        ),
        (
            false,
            Message::response(FunctionId::DD_REG, 7, Status::SUCCESSFUL)
                .key(Tag::DD_ID, 3u32)
                .op(Tag::DD_ID, 3u32)
                .op(Tag::DD_SYMBOLIC_NAME, "boot-dd"),
        ),
        (
            true,
            Message::dd_dereg(8, src, 3).op(Tag::DD_MEMBER_ISCSI_NAME, tgt),
        ),
        (
            false,
            Message::response(FunctionId::DD_DEREG, 8, Status::SUCCESSFUL),
        ),
        (
            true,
            Message::dds_reg(9, src, None)
                .op(Tag::DD_SET_SYMBOLIC_NAME, "set-a")
                .op(Tag::DD_SET_STATUS, 1u32)
                .op(Tag::DD_ID, 3u32),
        ),
        (
            false,
            Message::response(FunctionId::DDS_REG, 9, Status::MESSAGE_NOT_SUPPORTED),
        ),
        (true, Message::dds_dereg(10, src, 2)),
        (
            false,
            Message::response(FunctionId::DDS_DEREG, 10, Status::MESSAGE_NOT_SUPPORTED),
        ),
        (true, Message::dev_dereg(11, src).op(Tag::ISCSI_NAME, tgt)),
        (
            false,
            Message::response(FunctionId::DEV_DEREG, 11, Status::SUCCESSFUL),
        ),
        (
            false,
            Message::scn(12, src, 1_795_000_000)
                .op(Tag::ISCSI_SCN_BITMAP, ScnBitmap::MEMBER_ADDED)
                .op(Tag::ISCSI_NAME, tgt)
                .op(Tag::DD_ID, 3u32),
        ),
        (true, Message::scn_rsp(12, Status::SUCCESSFUL, src)),
        (
            false,
            Message::esi(13, 1_795_000_001, "ent.tshark", ip, Port::tcp(4000)),
        ),
        (
            true,
            Message::esi_rsp(
                13,
                Status::SUCCESSFUL,
                &[
                    Tlv::new(Tag::ENTITY_IDENTIFIER, "ent.tshark"),
                    Tlv::new(Tag::PORTAL_IP_ADDRESS, ip),
                ],
            ),
        ),
    ];
    // Vendor and unknown tags pass through as opaque values.
    msgs.push((
        true,
        Message::dev_attr_qry(14, src)
            .key(Tag::ISCSI_NAME, tgt)
            .op(Tag(641), &[1u8, 2, 3, 4][..]),
    ));
    let mut out: Vec<(bool, BytesMut)> = msgs
        .into_iter()
        .map(|(from_client, m)| {
            let mut b = BytesMut::new();
            m.encode(&mut b).unwrap();
            (from_client, b)
        })
        .collect();
    let mut hb = BytesMut::new();
    let beat = Heartbeat {
        address: Ipv6Addr::LOCALHOST,
        tcp_port: 3205,
        udp_port: 3205,
        interval: 30,
        counter: 7,
    };
    encode_heartbeat(15, &beat, &mut hb).unwrap();
    out.push((false, hb));
    out
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(u16::try_from(sum).unwrap())
}

fn packet(from_client: bool, seq: u32, ack: u32, tcp_flags: u8, payload: &[u8]) -> Vec<u8> {
    let (sport, dport) = if from_client {
        (CLIENT_PORT, SERVER_PORT)
    } else {
        (SERVER_PORT, CLIENT_PORT)
    };
    let (sip, dip) = if from_client {
        ([127, 0, 0, 1], [127, 0, 0, 2])
    } else {
        ([127, 0, 0, 2], [127, 0, 0, 1])
    };
    let mut tcp = Vec::new();
    tcp.extend(sport.to_be_bytes());
    tcp.extend(dport.to_be_bytes());
    tcp.extend(seq.to_be_bytes());
    tcp.extend(ack.to_be_bytes());
    tcp.extend([0x50, tcp_flags]);
    tcp.extend(65_535u16.to_be_bytes());
    tcp.extend([0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend(sip);
    pseudo.extend(dip);
    pseudo.extend([0, 6]);
    pseudo.extend(u16::try_from(tcp.len()).unwrap().to_be_bytes());
    pseudo.extend(&tcp);
    let c = checksum(&pseudo);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend(u16::try_from(20 + tcp.len()).unwrap().to_be_bytes());
    ip.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
    ip.extend(sip);
    ip.extend(dip);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
    frame.extend(ip);
    frame.extend(tcp);
    frame
}

fn write_pcap(path: &std::path::Path, pdus: &[(bool, BytesMut)]) {
    let mut frames = Vec::new();
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    frames.push(packet(true, cseq, 0, 0x02, &[]));
    frames.push(packet(false, sseq, cseq + 1, 0x12, &[]));
    cseq += 1;
    sseq += 1;
    frames.push(packet(true, cseq, sseq, 0x10, &[]));
    for (from_client, b) in pdus {
        let len = u32::try_from(b.len()).unwrap();
        if *from_client {
            frames.push(packet(true, cseq, sseq, 0x18, b));
            cseq += len;
        } else {
            frames.push(packet(false, sseq, cseq, 0x18, b));
            sseq += len;
        }
    }
    let mut file = Vec::new();
    for x in [
        0xa1b2_c3d4u32.to_le_bytes(),
        [2, 0, 4, 0],
        [0; 4],
        [0; 4],
        65_535u32.to_le_bytes(),
        1u32.to_le_bytes(),
    ] {
        file.extend(x);
    }
    for (i, f) in frames.iter().enumerate() {
        file.extend(1_795_000_000u32.to_le_bytes());
        file.extend(u32::try_from(i).unwrap().to_le_bytes());
        file.extend(u32::try_from(f.len()).unwrap().to_le_bytes());
        file.extend(u32::try_from(f.len()).unwrap().to_le_bytes());
        file.extend(f);
    }
    std::fs::write(path, file).unwrap();
}

#[test]
fn tshark_dissects_every_builder_message_without_warnings() {
    harness::require_program("tshark");
    let pdus = every_message();
    let dir = std::env::temp_dir().join(format!("isns-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("builders.pcap");
    write_pcap(&pcap, &pdus);
    let pcap_s = pcap.to_str().unwrap();

    // Every PDU is dissected as iSNS with our Function ID and Transaction ID.
    let (ok, out, err) = harness::run(
        "tshark",
        &[
            "-r",
            pcap_s,
            "-Y",
            "isns",
            "-T",
            "fields",
            "-e",
            "isns.functionid",
            "-e",
            "isns.transactionid",
        ],
        &[],
    );
    assert!(ok, "tshark failed: {err}");
    let seen: Vec<(u16, u16)> = out
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let fid = f.next().unwrap();
            let fid = fid.strip_prefix("0x").map_or_else(
                || fid.parse().unwrap(),
                |h| u16::from_str_radix(h, 16).unwrap(),
            );
            (fid, f.next().unwrap().parse().unwrap())
        })
        .collect();
    let want: Vec<(u16, u16)> = pdus
        .iter()
        .map(|(_, b)| {
            (
                u16::from_be_bytes([b[2], b[3]]),
                u16::from_be_bytes([b[8], b[9]]),
            )
        })
        .collect();
    assert_eq!(seen, want, "tshark output:\n{out}");

    // No malformed packet and no warning- or error-level expert item anywhere.
    let (ok, out, err) = harness::run(
        "tshark",
        &[
            "-r",
            pcap_s,
            "-Y",
            "_ws.malformed || _ws.expert.severity >= 6291456",
        ],
        &[],
    );
    assert!(ok, "tshark failed: {err}");
    assert!(out.trim().is_empty(), "tshark flagged packets:\n{out}");
    let (ok, verbose, _) = harness::run("tshark", &["-r", pcap_s, "-V", "-Y", "isns"], &[]);
    assert!(ok);
    assert!(!verbose.contains("Malformed"), "{verbose}");
    assert!(
        verbose.contains("iqn.2000-01.test.tshark:disk1"),
        "names are dissected"
    );
    assert!(
        verbose.contains("192.0.2.10"),
        "mapped IPv4 is dissected as the address"
    );

    // Control: the same check does flag a PDU whose first attribute overruns the payload.
    let mut broken = pdus[0].1.clone();
    broken[18] = 0x01;
    let bad = dir.join("broken.pcap");
    write_pcap(&bad, &[(true, broken)]);
    let (ok, out, _) = harness::run(
        "tshark",
        &[
            "-r",
            bad.to_str().unwrap(),
            "-Y",
            "_ws.malformed || _ws.expert.severity >= 6291456",
        ],
        &[],
    );
    assert!(ok);
    assert!(!out.trim().is_empty(), "the broken PDU was not flagged");
    std::fs::remove_dir_all(&dir).unwrap();
}
