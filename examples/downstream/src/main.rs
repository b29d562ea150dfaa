//! Uses each library crate from outside the workspace: default features give the codecs and
//! the sans-IO state machines; the `tokio` feature adds the drivers.

use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;

fn isns() -> Result<(), Box<dyn std::error::Error>> {
    use isns_proto::client::{ClientConfig, EntityId, NodeName, Session, Transmit};
    use isns_proto::{Message, Pdu, Tag};

    let mut wire = BytesMut::new();
    Message::dev_attr_qry(1, "iqn.2026-01.org.example:downstream")
        .query(Tag::ISCSI_NAME)
        .encode(&mut wire)?;
    let pdu = Pdu::parse(&wire)?;
    assert_eq!(Message::decode(&pdu)?.xid, 1);
    let cfg = ClientConfig::new(
        NodeName::new("iqn.2026-01.org.example:downstream")?,
        EntityId::new("downstream")?,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    let mut session = Session::new(cfg, std::time::Instant::now());
    assert_eq!(session.poll_transmit(), Some(Transmit::Connect));
    Ok(())
}

fn slp() -> Result<(), Box<dyn std::error::Error>> {
    use slp_proto::{Body, Header, Message, SrvRqst, StringList};

    let rqst = Message::new(
        Header::new(1, "en"),
        Body::SrvRqst(SrvRqst {
            service_type: "service:iscsi:sms",
            scopes: StringList("DEFAULT"),
            predicate: "(protocols=isns)",
            ..SrvRqst::default()
        }),
    );
    let bytes = rqst.to_vec()?;
    assert_eq!(Message::parse(&bytes)?, rqst);
    Ok(())
}

fn ipmi() -> Result<(), Box<dyn std::error::Error>> {
    use ipmi_iscsi::bootopt::{Pen, mailbox};
    use ipmi_iscsi::params::{IscsiBootParams, IscsiName, IscsiTarget, Lun};

    let params = IscsiBootParams::new(
        IscsiName::new("iqn.2026-01.org.example:server-a")?,
        IscsiTarget {
            name: IscsiName::new("iqn.2026-01.org.example:disk1")?,
            address: "192.0.2.10".parse()?,
            port: 3260,
            lun: Lun::new(1)?,
        },
    );
    let blocks = mailbox::encode_blocks(Pen::EXAMPLE, &params.without_secrets(), 16)?;
    assert_eq!(
        mailbox::decode_blocks(Pen::EXAMPLE, &blocks)?,
        params.without_secrets()
    );
    Ok(())
}

fn core() -> Result<(), Box<dyn std::error::Error>> {
    use boot_config_core::{Engine, EngineConfig};

    let engine = Engine::new(EngineConfig::new(2026, 1, "example.com")?);
    assert_eq!(engine.inventory().targets().count(), 0);
    Ok(())
}

fn probe() -> Result<(), Box<dyn std::error::Error>> {
    use iscsi_probe::text::TextBuilder;

    let mut text = TextBuilder::new();
    text.push("SessionType", "Discovery")?;
    assert!(!text.as_bytes().is_empty());
    Ok(())
}

/// The drivers exist with the feature.
#[cfg(feature = "tokio")]
fn drivers() {
    let _ = isns_proto::client_tokio::IsnsClient::start;
    let _ = slp_proto::driver::discover_isns_servers;
    let _ = ipmi_iscsi::driver::os_random;
    let _ = iscsi_probe::probe;
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    isns()?;
    slp()?;
    ipmi()?;
    core()?;
    probe()?;
    #[cfg(feature = "tokio")]
    drivers();
    println!("downstream: every crate used");
    Ok(())
}
