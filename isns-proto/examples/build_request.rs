//! Builds the registration an iSCSI target sends its iSNS server (DevAttrReg: entity, portal,
//! target node) and prints it as hex, then reads it back with the zero-copy views.
//!
//! `cargo run -p isns-proto --example build_request -- iqn.2026-01.org.example:disk1 192.0.2.10`

use std::net::IpAddr;

use bytes::BytesMut;
use isns_proto::{Body, EntityProtocol, Message, NodeType, Pdu, Port};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .unwrap_or_else(|| "iqn.2026-01.org.example:disk1".to_owned());
    let ip: IpAddr = args.next().as_deref().unwrap_or("192.0.2.10").parse()?;

    // RFC 4171 §5.6.5.1: Source, Key (the entity), delimiter, then the operating attributes
    // in the order the server expects (entity, its portals, its nodes).
    let request = Message::dev_attr_reg(1, &name)
        .replace(true)
        .key(isns_proto::Tag::ENTITY_IDENTIFIER, "array1.example")
        .entity("array1.example", EntityProtocol::ISCSI)
        .portal(ip, Port::tcp(3260))
        .node(&name, NodeType::TARGET);
    let mut wire = BytesMut::new();
    let written = request.encode(&mut wire)?;
    println!("{written} bytes:");
    for line in wire.chunks(16) {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {}", hex.join(" "));
    }

    let pdu = Pdu::parse(&wire)?;
    let Body::Request(req) = pdu.body()? else {
        return Err("not a request".into());
    };
    println!("{} from {}", pdu.function(), req.source_name()?);
    for attr in req.operating() {
        let attr = attr?;
        println!("  {}: {}", attr.tag(), attr.typed()?);
    }
    Ok(())
}
