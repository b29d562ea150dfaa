//! Builders refuse what RFC 2608 forbids instead of writing it: a service type that is not
//! one (§4.1) and a predicate that is not an RFC 2254 filter (§8.1).

use slp_proto::*;

fn srv_rqst<'a>(service_type: &'a str, predicate: &'a str) -> Message<'a> {
    Message::new(
        Header::new(7, "en"),
        Body::SrvRqst(SrvRqst {
            service_type,
            scopes: StringList("DEFAULT"),
            predicate,
            ..SrvRqst::default()
        }),
    )
}

#[test]
fn srv_rqst_with_a_bad_service_type_is_refused() {
    let err = srv_rqst("not a service type", "").to_vec().unwrap_err();
    assert_eq!(err, EncodeError::ServiceType("not a service type".into()));
    assert_eq!(
        err.to_string(),
        "service type \"not a service type\" is not an RFC 2608 service type"
    );
}

#[test]
fn srv_rqst_with_an_unbalanced_predicate_is_refused() {
    let err = srv_rqst("service:iscsi:sms", "(protocols=isns")
        .to_vec()
        .unwrap_err();
    let EncodeError::Predicate { text, cause } = &err else {
        panic!("{err}")
    };
    assert_eq!(text, "(protocols=isns");
    assert!(matches!(cause, DecodeError::Predicate { .. }), "{cause}");
}

#[test]
fn srv_rqst_with_a_good_type_and_predicate_round_trips() {
    let m = srv_rqst("service:iscsi:sms", "(protocols=isns)");
    let bytes = m.to_vec().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap(), m);
}

#[test]
fn srv_reg_with_a_bad_service_type_is_refused() {
    let m = Message::new(
        Header::new(8, "en"),
        Body::SrvReg(SrvReg {
            url: UrlEntry {
                lifetime: 60,
                url: "service:iscsi:sms://192.0.2.1:3205",
                ..UrlEntry::default()
            },
            service_type: "iscsi sms",
            scopes: StringList("DEFAULT"),
            attrs: "",
            attr_auths: AuthBlocks::default(),
        }),
    );
    assert_eq!(
        m.to_vec().unwrap_err(),
        EncodeError::ServiceType("iscsi sms".into())
    );
}
