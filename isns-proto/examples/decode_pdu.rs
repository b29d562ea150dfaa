//! Decodes one iSNS PDU given as hex (e.g. copied from a capture) and prints its header and
//! attributes in wire order; a malformed PDU is reported with the offset at fault.
//!
//! `cargo run -p isns-proto --example decode_pdu -- 0001000300240001...`
//! (without an argument it decodes a DevAttrQry it builds itself).

use bytes::BytesMut;
use isns_proto::{Attrs, Body, Message, NodeType, Pdu, Tag};

fn hex_to_bytes(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".to_owned());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("\"{s}\" is not a hex byte"))
        })
        .collect()
}

fn print_attrs(what: &str, attrs: Attrs<'_>) -> Result<(), Box<dyn std::error::Error>> {
    for attr in attrs {
        let attr = attr?;
        println!("  {what} {}: {}", attr.tag(), attr.typed()?);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bytes = match std::env::args().nth(1) {
        Some(text) => hex_to_bytes(&text)?,
        None => {
            let mut wire = BytesMut::new();
            Message::dev_attr_qry(7, "iqn.2026-01.org.example:manager")
                .key(Tag::ISCSI_NODE_TYPE, NodeType::TARGET)
                .query(Tag::ISCSI_NAME)
                .query(Tag::ISCSI_ALIAS)
                .encode(&mut wire)?;
            wire.to_vec()
        }
    };
    let pdu = Pdu::parse(&bytes)?;
    println!(
        "{} transaction {} flags 0x{:04x}, {} payload bytes",
        pdu.function(),
        pdu.xid(),
        pdu.flags().bits(),
        pdu.payload().len()
    );
    match pdu.body()? {
        Body::Request(req) => {
            println!("  source: {}", req.source_name()?);
            print_attrs("key", req.key())?;
            print_attrs("operating", req.operating())?;
        }
        Body::Response(rsp) => {
            println!("  status: {}", rsp.status());
            print_attrs("key", rsp.key())?;
            print_attrs("operating", rsp.operating())?;
        }
        // Heartbeats and server notifications have layouts of their own (see `Body`).
        _ => println!("  not a request or response"),
    }
    Ok(())
}
