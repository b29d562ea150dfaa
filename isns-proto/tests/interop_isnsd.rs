//! Live interop against a real open-isns `isnsd` on 127.0.0.1 (started through
//! `scripts/peers/start-isnsd.sh` on a free port): our builders send DevAttrReg, DevAttrQry,
//! DevGetNext, DDReg, SCNReg and DevDereg over a plain TCP socket, the replies are checked
//! through our views, and `isnsadm` confirms what we registered. Fails when isnsd is missing.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use isns_proto::{
    Body, EntityProtocol, Message, NodeType, OPEN_ISNS_MAX_PDU_LEN, Pdu, Port, ScnBitmap, Status,
    Tag, Value, frame_len,
};

const TARGET: &str = "iqn.2000-01.test.interop:disk1";
const CONTROL: &str = "iqn.2000-01.test.interop:manager";
const ENTITY: &str = "interop.entity.a";

struct Conn {
    s: TcpStream,
    xid: u16,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to isnsd");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Conn { s, xid: 100 }
    }

    fn next_xid(&mut self) -> u16 {
        self.xid += 1;
        self.xid
    }

    /// Sends one message and returns the reply PDU bytes (checking the XID echo).
    fn call(&mut self, m: &Message<'_>) -> Vec<u8> {
        let mut out = BytesMut::new();
        let n = m.encode(&mut out).unwrap();
        assert!(n <= OPEN_ISNS_MAX_PDU_LEN);
        self.s.write_all(&out).unwrap();
        let mut buf = vec![0u8; 12];
        self.s.read_exact(&mut buf).expect("isnsd reply header");
        let total = frame_len(&buf, 65_536).unwrap().unwrap();
        buf.resize(total, 0);
        self.s.read_exact(&mut buf[12..]).unwrap();
        let pdu = Pdu::parse(&buf).unwrap();
        assert_eq!(pdu.xid(), m.xid, "reply echoes the transaction ID");
        assert_eq!(pdu.function(), m.function.response());
        buf
    }
}

fn response(buf: &[u8]) -> isns_proto::Response<'_> {
    match Pdu::parse(buf).unwrap().body().unwrap() {
        Body::Response(r) => r,
        other => panic!("response expected, got {other:?}"),
    }
}

fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

#[test]
fn our_builders_register_query_walk_dd_and_deregister_against_real_isnsd() {
    let isnsd = harness::Isnsd::start();
    let isnsadm = |args: &[&str]| isnsd.isnsadm(args);
    let mut c = Conn::open(isnsd.port);

    // 1. DevAttrReg: a new entity with a portal (SCN port too) and a target with a PG;
    //    the Source is the node being registered.
    let x = c.next_xid();
    let reg = Message::dev_attr_reg(x, TARGET)
        .replace(true)
        .key(Tag::ENTITY_IDENTIFIER, ENTITY)
        .entity(ENTITY, EntityProtocol::ISCSI)
        .op(Tag::REGISTRATION_PERIOD, 900u32)
        .portal(localhost(), Port::tcp(3260))
        .op(Tag::SCN_PORT, Port::tcp(3999))
        .node(TARGET, NodeType::TARGET)
        .op(Tag::ISCSI_ALIAS, "interop disk")
        .portal_group(7, localhost(), Port::tcp(3260));
    let b = c.call(&reg);
    let r = response(&b);
    assert_eq!(r.status(), Status::SUCCESSFUL);
    assert_eq!(r.key().next().unwrap().unwrap().as_str().unwrap(), ENTITY);
    // The server tells us the registration period it granted.
    let period = r
        .find(Tag::REGISTRATION_PERIOD)
        .expect("period read back")
        .as_u32()
        .unwrap();
    assert!(period > 0);

    // 2. A control node in its own entity (server-assigned EID) sees the whole database.
    let x = c.next_xid();
    let b = c.call(
        &Message::dev_attr_reg(x, CONTROL)
            .key(Tag::ENTITY_IDENTIFIER, Value::Empty)
            .node(CONTROL, NodeType::CONTROL),
    );
    let r = response(&b);
    assert_eq!(r.status(), Status::SUCCESSFUL);
    let control_eid = r
        .find(Tag::ENTITY_IDENTIFIER)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!control_eid.is_empty() && control_eid != ENTITY);

    // 3. DevAttrQry for the target's attributes.
    let x = c.next_xid();
    let q = Message::dev_attr_qry(x, CONTROL)
        .key(Tag::ISCSI_NAME, TARGET)
        .query(Tag::ISCSI_NAME)
        .query(Tag::ISCSI_NODE_TYPE)
        .query(Tag::ISCSI_ALIAS)
        .query(Tag::PORTAL_IP_ADDRESS)
        .query(Tag::PORTAL_PORT)
        .query(Tag::PG_TAG);
    let b = c.call(&q);
    let r = response(&b);
    assert_eq!(r.status(), Status::SUCCESSFUL);
    assert_eq!(
        r.find(Tag::ISCSI_NODE_TYPE).unwrap().as_u32().unwrap(),
        NodeType::TARGET.bits()
    );
    assert_eq!(
        r.find(Tag::ISCSI_ALIAS).unwrap().as_str().unwrap(),
        "interop disk"
    );
    assert_eq!(
        r.find(Tag::PORTAL_IP_ADDRESS).unwrap().as_ip().unwrap(),
        localhost()
    );
    assert_eq!(
        r.find(Tag::PORTAL_PORT).unwrap().as_port().unwrap(),
        Port::tcp(3260)
    );
    assert_eq!(r.find(Tag::PG_TAG).unwrap().as_u32().unwrap(), 7);

    // 4. SCNReg: the target's entity has an SCN port, so isnsd accepts it.
    let x = c.next_xid();
    let b = c.call(&Message::scn_reg(
        x,
        TARGET,
        TARGET,
        ScnBitmap::OBJECT_ADDED | ScnBitmap::OBJECT_REMOVED,
    ));
    assert_eq!(response(&b).status(), Status::SUCCESSFUL);

    // 5. DevGetNext walk over storage nodes finds both nodes, then No Such Entry.
    let mut names = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let x = c.next_xid();
        let m = Message::dev_get_next(x, CONTROL);
        let m = match &last {
            Some(n) => m.key(Tag::ISCSI_NAME, n.as_str()),
            None => m.key(Tag::ISCSI_NAME, Value::Empty),
        };
        let b = c.call(&m);
        let r = response(&b);
        if r.status() == Status::NO_SUCH_ENTRY {
            break;
        }
        assert_eq!(r.status(), Status::SUCCESSFUL);
        let name = r
            .key()
            .next()
            .unwrap()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        names.push(name.clone());
        last = Some(name);
        assert!(names.len() < 10, "walk does not terminate: {names:?}");
    }
    names.sort();
    assert_eq!(names, [TARGET, CONTROL]);

    // 6. DDReg: a new DD holding the target; isnsd assigns the DD_ID.
    let x = c.next_xid();
    let b = c.call(
        &Message::dd_reg(x, CONTROL, None)
            .op(Tag::DD_SYMBOLIC_NAME, "interop-dd")
            .op(Tag::DD_MEMBER_ISCSI_NAME, TARGET),
    );
    let r = response(&b);
    assert_eq!(r.status(), Status::SUCCESSFUL);
    let dd_id = r.find(Tag::DD_ID).unwrap().as_u32().unwrap();
    assert!(dd_id > 0);

    // isnsadm sees what we registered (as a control node, which sees every node and DD).
    isnsd.as_control();
    let nodes = isnsadm(&["--list", "nodes"]);
    assert!(
        nodes.contains(TARGET) && nodes.contains(CONTROL),
        "isnsadm --list nodes:\n{nodes}"
    );
    let q = isnsadm(&["--query", &format!("iscsi-name={TARGET}")]);
    assert!(
        q.contains("interop disk") && q.contains(ENTITY),
        "isnsadm --query:\n{q}"
    );
    let dds = isnsadm(&["--list", "dds"]);
    assert!(
        dds.contains("interop-dd") && dds.contains(TARGET),
        "isnsadm --list dds:\n{dds}"
    );

    // 7. DDDereg removes the DD; DevDereg removes the target; isnsadm no longer lists it.
    let x = c.next_xid();
    assert_eq!(
        response(&c.call(&Message::dd_dereg(x, CONTROL, dd_id))).status(),
        Status::SUCCESSFUL
    );
    let x = c.next_xid();
    let b = c.call(&Message::dev_dereg(x, TARGET).op(Tag::ISCSI_NAME, TARGET));
    assert_eq!(response(&b).status(), Status::SUCCESSFUL);
    let nodes = isnsadm(&["--list", "nodes"]);
    assert!(
        !nodes.contains(TARGET) && nodes.contains(CONTROL),
        "after DevDereg:\n{nodes}"
    );
    let dds = isnsadm(&["--list", "dds"]);
    assert!(!dds.contains("interop-dd"), "after DDDereg:\n{dds}");
}

#[test]
fn isnsd_answers_unsupported_dd_set_registration_with_status_15() {
    let isnsd = harness::Isnsd::start();
    let mut c = Conn::open(isnsd.port);
    let x = c.next_xid();
    let b = c.call(&Message::dds_reg(x, CONTROL, None).op(Tag::DD_SET_SYMBOLIC_NAME, "set"));
    assert_eq!(response(&b).status(), Status::MESSAGE_NOT_SUPPORTED);
}
