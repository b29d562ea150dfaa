//! The nom text parsers agree with the hand-written ones they replaced: on arbitrary text
//! built from the grammar's own characters both accept the same inputs with the same result,
//! and refuse the same inputs with the same reason. Needs the `bench-legacy` feature:
//! `cargo test -p slp-proto --features bench-legacy --test grammar_nom_vs_legacy`.
#![cfg(feature = "bench-legacy")]

use proptest::prelude::*;
use slp_proto::attr::AttrList;
use slp_proto::error::DecodeError;
use slp_proto::legacy;
use slp_proto::predicate::Predicate;
use slp_proto::service_url::ServiceUrl;

/// Text over the characters that matter to both grammars.
fn grammar_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec![
            "(", ")", "&", "|", "!", "=", "*", "<", ">", "~", ":", ",", " ", "\t", "a", "b", "1",
            "-", "\\", "FF", "2c", "true", "x=", "(a=1)", "é",
        ]),
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

/// The reason of an error (offsets may differ where the old parser ignored leading white
/// space inside a tag; the kind of fault may not).
fn reason(e: &DecodeError) -> String {
    match e {
        DecodeError::Predicate { reason, .. } | DecodeError::AttrList { reason, .. } => {
            (*reason).to_owned()
        }
        other => other.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn predicates_parse_the_same(text in grammar_text()) {
        match (Predicate::parse(&text), legacy::parse_predicate(&text)) {
            (Ok(new), Ok(old)) => prop_assert_eq!(new, old),
            (Err(new), Err(old)) => prop_assert_eq!(reason(&new), reason(&old)),
            (new, old) => prop_assert!(false, "{:?}: nom {:?}, legacy {:?}", text, new, old),
        }
    }

    #[test]
    fn attribute_lists_parse_the_same(text in grammar_text()) {
        match (AttrList::parse(&text), legacy::parse_attr_list(&text)) {
            (Ok(new), Ok(old)) => prop_assert_eq!(new.as_str(), old.as_str()),
            (Err(new), Err(old)) => prop_assert_eq!(new, old),
            (new, old) => prop_assert!(false, "{:?}: nom {:?}, legacy {:?}", text, new, old),
        }
    }
}

fn url_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec![
            "service:", "iscsi", ":", "//", "/", ";", "@", "[", "]", "::1", "h", "10.0.0.1",
            "3260", "99999", "+", " ", "é", "x.y",
        ]),
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn service_urls_parse_the_same(text in url_text()) {
        prop_assert_eq!(ServiceUrl::parse(&text), legacy::parse_service_url(&text));
    }
}

#[test]
fn corpus_of_known_inputs_parses_the_same() {
    for text in [
        "",
        "(protocols=isns)",
        "(&(protocols=isns)(server-priority<=5)(description=*server)(x-boot=*))",
        "&(a=b)(c=d)",
        "(a=1",
        "(a>=1*)",
        "(a:dn:=1)",
        "(&)",
        "(a=1))",
        "(=1)",
        "(a)",
        "( a b =1)",
    ] {
        assert_eq!(
            Predicate::parse(text),
            legacy::parse_predicate(text),
            "{text:?}"
        );
    }
    for text in [
        "",
        "(protocols=isns),(server-priority=3),(transports=tcp,udp),(description=iSNS Server),x-boot",
        "(a=1",
        "(a1)",
        "(a=1) x",
        "(a=1,,2)",
        "(=1)",
        "(x=4,true,sue)",
        "(o=\\FF\\00\\01)",
        "(o=\\FFx)",
    ] {
        assert_eq!(
            AttrList::parse(text).map(|l| l.as_str()),
            legacy::parse_attr_list(text).map(|l| l.as_str()),
            "{text:?}"
        );
    }
}
