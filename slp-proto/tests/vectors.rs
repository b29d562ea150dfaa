//! Test vectors: messages captured from pyslp 0.1.7 and examples from the RFCs
//! (`tests/vectors/`, each file cites its source). Every message vector decodes, re-encodes
//! byte for byte, and every proper prefix of it is rejected.

use std::net::SocketAddr;
use std::time::Instant;

use slp_proto::agent::Via;
use slp_proto::attr::AttrList;
use slp_proto::predicate::Predicate;
use slp_proto::sa::{Registration, SaConfig, ServiceAgent};
use slp_proto::service_url::{Host, ServiceUrl};
use slp_proto::{AttrRqst, Body, ErrorCode, Flags, FunctionId, Header, Message, StringList};

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

fn hex_vectors() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "hex") {
            let text = std::fs::read_to_string(&p).unwrap();
            let hex: String = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<String>()
                .split_whitespace()
                .collect();
            out.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                hex::decode(hex).unwrap(),
            ));
        }
    }
    out.sort();
    assert!(out.len() >= 7, "vectors missing: {out:?}");
    out
}

fn text_rows(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir().join(name))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn every_captured_message_re_encodes_byte_for_byte() {
    for (name, bytes) in hex_vectors() {
        let m = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = match name.as_str() {
            "pyslp-srvrqst.hex" => FunctionId::SRV_RQST,
            "pyslp-srvrply.hex" => FunctionId::SRV_RPLY,
            "pyslp-srvreg.hex" => FunctionId::SRV_REG,
            "pyslp-srvdereg.hex" => FunctionId::SRV_DEREG,
            "pyslp-srvack.hex" => FunctionId::SRV_ACK,
            "pyslp-attrrqst.hex" => FunctionId::ATTR_RQST,
            "pyslp-attrrply.hex" => FunctionId::ATTR_RPLY,
            other => panic!("unexpected vector {other}"),
        };
        assert_eq!(m.function(), expected, "{name}");
        assert_eq!(m.encoded_len(), bytes.len(), "{name}");
        assert_eq!(m.to_vec().unwrap(), bytes, "{name}");
    }
}

#[test]
fn every_proper_prefix_of_every_vector_is_rejected() {
    for (name, bytes) in hex_vectors() {
        for n in 0..bytes.len() {
            assert!(
                Message::parse(&bytes[..n]).is_err(),
                "{name}: prefix of {n} bytes accepted"
            );
        }
    }
}

#[test]
fn pyslp_vectors_carry_the_fields_pyslp_put_there() {
    let v: std::collections::BTreeMap<String, Vec<u8>> = hex_vectors().into_iter().collect();
    let m = Message::parse(&v["pyslp-srvrqst.hex"]).unwrap();
    assert_eq!(m.header.flags, Flags::FRESH);
    assert_eq!(m.header.language_tag, "en");
    let Body::SrvRqst(r) = m.body else { panic!() };
    assert_eq!(
        (r.service_type, r.scopes.as_str(), r.predicate),
        ("service:iscsi:sms", "DEFAULT", "")
    );

    let m = Message::parse(&v["pyslp-srvrply.hex"]).unwrap();
    let Body::SrvRply(r) = m.body else { panic!() };
    let urls: Vec<(u16, &str)> = r.urls.iter().map(|e| (e.lifetime, e.url)).collect();
    assert_eq!(urls, [(300, "service:iscsi:sms://127.0.0.1:3205")]);

    let m = Message::parse(&v["pyslp-attrrqst.hex"]).unwrap();
    assert_eq!(m.header.flags.bits(), 0x3e00, "reserved bits pass through");
    let Body::AttrRqst(r) = m.body else { panic!() };
    assert_eq!(r.url, "service:iscsi:sms://127.0.0.1:3205");

    let m = Message::parse(&v["pyslp-attrrply.hex"]).unwrap();
    let Body::AttrRply(r) = m.body else { panic!() };
    assert_eq!(
        AttrList::parse(r.attrs).unwrap().int("server-priority"),
        Some(1)
    );

    let m = Message::parse(&v["pyslp-srvreg.hex"]).unwrap();
    let Body::SrvReg(r) = m.body else { panic!() };
    assert_eq!(
        (r.url.lifetime, r.service_type, r.attrs),
        (
            300,
            "service:iscsi:sms",
            "(protocols=isns),(server-priority=1)"
        )
    );

    let m = Message::parse(&v["pyslp-srvdereg.hex"]).unwrap();
    let Body::SrvDeReg(r) = m.body else { panic!() };
    assert!(r.tags.is_empty());

    let m = Message::parse(&v["pyslp-srvack.hex"]).unwrap();
    assert_eq!(
        m.body,
        Body::SrvAck(slp_proto::SrvAck {
            error: ErrorCode::OK
        })
    );
}

#[test]
fn rfc_2608_predicate_examples_match_as_the_rfc_says() {
    let rows = text_rows("rfc2608-predicates.txt");
    assert!(rows.len() >= 10);
    for row in rows {
        let [pred, attrs, want] = &row[..] else {
            panic!("bad row {row:?}")
        };
        let got = Predicate::parse(pred)
            .unwrap()
            .matches(&AttrList::parse(attrs).unwrap());
        assert_eq!(got, want == "match", "{pred} against {attrs}");
    }
}

#[test]
fn rfc_service_urls_parse_into_their_parts_and_print_back() {
    for row in text_rows("rfc-urls.txt") {
        let [url, stype, host, port, path] = &row[..] else {
            panic!("bad row {row:?}")
        };
        let u = ServiceUrl::parse(url).unwrap();
        assert_eq!(u.service_type.0, stype);
        let h = match u.host {
            Host::Name(n) => n.to_owned(),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => a.to_string(),
        };
        assert_eq!(&h, host);
        assert_eq!(u.port.map_or("-".to_owned(), |p| p.to_string()), *port);
        assert_eq!(u.path, path);
        assert_eq!(&u.to_string(), url);
    }
}

#[test]
fn rfc_2608_section_10_5_attribute_request_examples() {
    let lists = text_rows("rfc2608-attr-lists.txt");
    let now = Instant::now();
    let mut cfg = SaConfig::new("192.0.2.1".parse().unwrap());
    cfg.scopes = vec!["Development".into()];
    let mut sa = ServiceAgent::new(cfg, now, 1);
    for (url, attrs) in [
        (
            "service:printer:lpr://igore.wco.ftp.com/draft",
            &lists[0][0],
        ),
        (
            "service:printer:http://not.wco.ftp.com/cgi-bin/pub-prn",
            &lists[1][0],
        ),
    ] {
        AttrList::parse(attrs).unwrap();
        sa.register(
            now,
            Registration {
                url: url.into(),
                service_type: String::new(),
                attrs: attrs.clone(),
                lifetime: 300,
            },
        )
        .unwrap();
    }
    let ask = |sa: &mut ServiceAgent, url: &str, tags: &str| {
        let rq = Message::new(
            Header::new(42, "en"),
            Body::AttrRqst(AttrRqst {
                url,
                scopes: StringList("Development"),
                tags: StringList(tags),
                ..AttrRqst::default()
            }),
        )
        .to_vec()
        .unwrap();
        let from: SocketAddr = "192.0.2.50:40000".parse().unwrap();
        let reply = sa.handle_input(now, from, &rq, Via::Unicast).unwrap();
        let m = Message::parse(&reply).unwrap();
        assert_eq!(m.header.xid, 42);
        let Body::AttrRply(r) = m.body else { panic!() };
        r.attrs.to_owned()
    };
    // By instance with tag-list "resolution,loc*" (the RFC shows the German registration).
    assert_eq!(
        ask(
            &mut sa,
            "service:printer:lpr://igore.wco.ftp.com/draft",
            "resolution,loc*"
        ),
        "(location-description=12th floor),(resolution=res-600)"
    );
    // By abstract type: values from both printers.
    let both = ask(&mut sa, "service:printer", "x-*,resolution,protocol");
    let list = AttrList::parse(&both).unwrap();
    let tags: Vec<&str> = list.iter().map(|a| a.tag()).collect();
    assert_eq!(
        tags,
        [
            "Protocol",
            "resolution",
            "x-OK",
            "Protocol",
            "resolution",
            "x-BUSY"
        ]
    );
}
