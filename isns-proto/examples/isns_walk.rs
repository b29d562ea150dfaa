//! Walks an iSNS server's database: registers a control node, then pages through every
//! entity, storage node, portal and Discovery Domain with DevGetNext and prints what the
//! server returned, decoded.
//!
//! Usage: `isns_walk HOST:PORT [CONTROL-NODE-NAME]` — a plain blocking TCP client built on
//! the crate's builders and views.

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::BytesMut;
use isns_proto::{
    Attr, Body, Message, NodeType, Pdu, ScnBitmap, Status, Tag, Tlv, Value, frame_len,
};

type Error = Box<dyn std::error::Error>;

struct Client {
    stream: TcpStream,
    xid: u16,
}

impl Client {
    fn call(&mut self, build: impl FnOnce(u16) -> Message<'static>) -> Result<Vec<u8>, Error> {
        self.xid = self.xid.wrapping_add(1);
        let msg = build(self.xid);
        let mut out = BytesMut::new();
        msg.encode(&mut out)?;
        self.stream.write_all(&out)?;
        let mut buf = vec![0u8; 12];
        self.stream.read_exact(&mut buf)?;
        let total = frame_len(&buf, 65_536)?.ok_or("short header")?;
        buf.resize(total, 0);
        self.stream.read_exact(&mut buf[12..])?;
        Ok(buf)
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn describe(a: &Attr<'_>) -> Result<String, Error> {
    Ok(match a.tag() {
        Tag::ISCSI_NODE_TYPE => format!("{:?}", NodeType::from_bits_retain(a.as_u32()?)),
        Tag::ISCSI_SCN_BITMAP => format!("{:?}", ScnBitmap::from_bits_retain(a.as_u32()?)),
        _ => a.typed()?.to_string(),
    })
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let server = args
        .next()
        .ok_or("usage: isns_walk HOST:PORT [CONTROL-NODE-NAME]")?;
    let me: &'static str = leak(
        args.next()
            .unwrap_or_else(|| "iqn.2000-01.example:isns-walk".into()),
    );
    let mut c = Client {
        stream: TcpStream::connect(&server)?,
        xid: 0,
    };

    // A control node sees every node and DD regardless of DD membership.
    let rsp = c.call(|xid| {
        Message::dev_attr_reg(xid, me)
            .key(Tag::ENTITY_IDENTIFIER, Value::Empty)
            .node(me, NodeType::CONTROL)
    })?;
    let pdu = Pdu::parse(&rsp)?;
    println!(
        "register control node {me}: {}",
        pdu.status().ok_or("no status")?
    );
    if let Ok(Body::Response(r)) = pdu.body() {
        for a in r.operating() {
            let a = a?;
            println!("    {:<26} {}", a.tag().to_string(), describe(&a)?);
        }
    }

    for (what, start) in [
        ("entity", &[Tag::ENTITY_IDENTIFIER][..]),
        ("storage node", &[Tag::ISCSI_NAME][..]),
        ("portal", &[Tag::PORTAL_IP_ADDRESS, Tag::PORTAL_PORT][..]),
        ("discovery domain", &[Tag::DD_ID][..]),
    ] {
        // DevGetNext: a zero-length key starts the walk, then the last object's key.
        let mut last: Vec<Tlv<'static>> = start.iter().map(|&t| Tlv::empty(t)).collect();
        let mut count = 0;
        loop {
            let rsp = c.call(|xid| {
                let mut m = Message::dev_get_next(xid, me);
                m.key.extend_from_slice(&last);
                m
            })?;
            let pdu = Pdu::parse(&rsp)?;
            let Body::Response(r) = pdu.body()? else {
                return Err("not a response".into());
            };
            if r.status() == Status::NO_SUCH_ENTRY {
                break;
            }
            if r.status() != Status::SUCCESSFUL {
                println!("{what}: DevGetNext answered {}", r.status());
                break;
            }
            count += 1;
            println!("{what} #{count}:");
            for a in r.operating() {
                let a = a?;
                println!("    {:<26} {}", a.tag().to_string(), describe(&a)?);
            }
            // The next call's key is this object's key, owned for the next message.
            last.clear();
            for k in r.key() {
                let k = k?;
                let value = match k.typed()? {
                    Value::Str(s) => Value::Str(leak(s.to_owned())),
                    Value::Opaque(_) => return Err("opaque key".into()),
                    Value::U32(v) => Value::U32(v),
                    Value::U64(v) => Value::U64(v),
                    Value::Ip(v) => Value::Ip(v),
                    Value::Port(v) => Value::Port(v),
                    Value::Empty => Value::Empty,
                    _ => return Err("unsupported key type".into()),
                };
                last.push(Tlv {
                    tag: k.tag(),
                    value,
                });
            }
        }
        println!("{count} {what}(s)\n");
    }
    Ok(())
}
