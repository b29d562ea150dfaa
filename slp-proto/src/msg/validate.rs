//! What the builders check before writing a field the peer would refuse: a service type
//! (RFC 2608 §4.1) and a predicate (RFC 2608 §8.1, an RFC 2254 filter).

use crate::error::EncodeError;
use crate::predicate::Predicate;

/// `service:<type>[:<type>]`, each `<type>` a `resname` with an optional
/// `.naming-authority`, or a bare URL scheme (RFC 2608 §4.1, §8.1).
pub(crate) fn service_type(text: &str) -> Result<(), EncodeError> {
    let ok = match text.get(..8) {
        Some(head) if head.eq_ignore_ascii_case("service:") => {
            let rest = &text[8..];
            let parts = rest.split(':').count();
            (1..=2).contains(&parts) && rest.split(':').all(type_name)
        }
        _ => scheme(text),
    };
    if ok {
        Ok(())
    } else {
        Err(EncodeError::ServiceType(text.to_owned()))
    }
}

/// An empty predicate (match everything) or one the predicate parser accepts.
pub(crate) fn predicate(text: &str) -> Result<(), EncodeError> {
    Predicate::parse(text)
        .map(drop)
        .map_err(|cause| EncodeError::Predicate {
            text: text.to_owned(),
            cause,
        })
}

/// `resname ["." naming-authority]`.
fn type_name(s: &str) -> bool {
    match s.split_once('.') {
        Some((name, authority)) => resname(name) && resname(authority),
        None => resname(s),
    }
}

/// RFC 2608 §4.1 (via RFC 2609): `ALPHA *(ALPHA / DIGIT / "+" / "-")`.
fn resname(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
}

/// RFC 3986 §3.1: `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`.
fn scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_service_types_of_rfc_2608_and_rfc_4018() {
        for t in [
            "service:iscsi:sms",
            "service:iscsi:target",
            "service:directory-agent",
            "service:service-agent",
            "SERVICE:iscsi",
            "service:x.example:y",
            "nfs",
        ] {
            assert_eq!(service_type(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_service_type() {
        for t in [
            "not a service type",
            "",
            "service:",
            "service:iscsi:",
            "service:a:b:c",
            "service:1abc",
            "service:iscsi:sms://h",
            "service:a.:b",
        ] {
            assert_eq!(
                service_type(t),
                Err(EncodeError::ServiceType(t.to_owned())),
                "{t}"
            );
        }
    }

    #[test]
    fn refuses_an_unbalanced_predicate_and_accepts_empty_and_valid_ones() {
        assert!(matches!(
            predicate("(protocols=isns"),
            Err(EncodeError::Predicate { text, .. }) if text == "(protocols=isns"
        ));
        assert_eq!(predicate(""), Ok(()));
        assert_eq!(predicate("(protocols=isns)"), Ok(()));
        assert_eq!(predicate("(&(a=1)(b>=2))"), Ok(()));
    }
}
