//! Service URLs (RFC 2609 §2) and service types (RFC 2608 §4.1), parsed without copying.
//!
//! ```text
//! service:<abstract-type>[:<concrete-type>][.<naming-authority>]://<addr-spec>[/<path>][;<attrs>]
//! e.g. service:iscsi:sms://[2001:db8::1]:3205
//!      service:iscsi:target://h:3260/iqn.2001-04.com.example:disk
//! ```

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::Parser;
use nom::bytes::complete::{tag, take_until};
use nom::character::complete::{char, digit1};
use nom::sequence::terminated;

use crate::error::{DecodeError, EncodeError};
use crate::grammar::{GrammarError, PResult, fail, finish, till, till_either};
use crate::strings::folded_eq;

/// The host part of a service URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A host name.
    Name(&'a str),
    /// An IPv4 literal.
    V4(Ipv4Addr),
    /// An IPv6 literal (written in `[]`).
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// The address, when the host is a literal.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Name(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }
}

impl From<IpAddr> for Host<'static> {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A service type such as `service:iscsi:sms` (RFC 2608 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceType<'a>(pub &'a str);

impl<'a> ServiceType<'a> {
    /// The type without the `service:` prefix (case-insensitive prefix).
    #[must_use]
    pub fn without_scheme(&self) -> &'a str {
        strip_prefix_ci(self.0, "service:").unwrap_or(self.0)
    }

    /// The abstract type with its naming authority, e.g. `iscsi` for `service:iscsi:sms`.
    #[must_use]
    pub fn abstract_type(&self) -> &'a str {
        let t = self.without_scheme();
        t.split(':').next().unwrap_or(t)
    }

    /// The naming authority, when not IANA (`service:x.auth:y` → `auth`).
    #[must_use]
    pub fn naming_authority(&self) -> Option<&'a str> {
        self.abstract_type().split_once('.').map(|(_, na)| na)
    }

    /// Whether a request for `self` matches a registration of `registered`: equal
    /// (case-insensitive), or `self` is the abstract type of `registered` (RFC 2608 §4.1:
    /// `service:iscsi` matches `service:iscsi:sms`).
    #[must_use]
    pub fn matches(&self, registered: &ServiceType<'_>) -> bool {
        if folded_eq(self.0, registered.0) {
            return true;
        }
        let (want, have) = (self.without_scheme(), registered.without_scheme());
        !want.contains(':')
            && have.len() > want.len()
            && have.as_bytes().get(want.len()) == Some(&b':')
            && have
                .get(..want.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(want))
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A parsed service URL; every part borrows from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceUrl<'a> {
    /// The service type, e.g. `service:iscsi:sms` (for non-`service:` URLs, the scheme).
    pub service_type: ServiceType<'a>,
    /// Host.
    pub host: Host<'a>,
    /// Port, when given.
    pub port: Option<u16>,
    /// Path and URL attributes, including the leading `/` or `;`; may be empty.
    pub path: &'a str,
}

fn url_err(reason: &'static str, at: usize) -> DecodeError {
    DecodeError::Url { reason, at }
}

fn valid_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

impl<'a> ServiceUrl<'a> {
    /// Parses `service:type://host[:port][/path]`.
    ///
    /// # Errors
    /// [`DecodeError::Url`] with the byte offset of the problem.
    pub fn parse(text: &'a str) -> Result<Self, DecodeError> {
        match service_url(text) {
            Ok((_, url)) => Ok(url),
            Err(e) => {
                let g = finish(e, text);
                Err(url_err(g.reason, g.offset(text)))
            }
        }
    }

    /// A URL from parts, checked so that [`ServiceUrl::parse`] accepts its text.
    ///
    /// # Errors
    /// [`EncodeError::Invalid`] for a bad service type, host name or path.
    pub fn new(
        service_type: &'a str,
        host: Host<'a>,
        port: Option<u16>,
        path: &'a str,
    ) -> Result<Self, EncodeError> {
        let invalid = |reason| EncodeError::Invalid {
            what: "service URL",
            reason,
        };
        if service_type.is_empty() || service_type.contains("://") {
            return Err(invalid("bad service type"));
        }
        if let Host::Name(n) = host
            && (n.is_empty() || !n.bytes().all(valid_name_char))
        {
            return Err(invalid("bad host name"));
        }
        if !(path.is_empty() || path.starts_with('/') || path.starts_with(';')) {
            return Err(invalid("path must start with '/' or ';'"));
        }
        let url = ServiceUrl {
            service_type: ServiceType(service_type),
            host,
            port,
            path,
        };
        // The parser is the authority on what is acceptable.
        ServiceUrl::parse(&url.to_string()).map_err(|_| invalid("not a parseable service URL"))?;
        Ok(url)
    }
}

/// `service-type "://" [user "@"] host [":" port] [path]` (RFC 2609 §2.1): the service type
/// up to the first `://`, the host and port up to the first `/` or `;`, the rest the path.
fn service_url(text: &str) -> PResult<'_, ServiceUrl<'_>> {
    let Ok((after_sep, (service_type, _))) =
        (take_until("://"), tag::<_, _, GrammarError<'_>>("://")).parse(text)
    else {
        return fail("missing \"://\"", text);
    };
    if service_type.is_empty() || service_type.ends_with(':') {
        return fail("empty service type", text);
    }
    if let Some(i) = service_type
        .bytes()
        .position(|b| !(valid_name_char(b) || b == b':' || b == b'+'))
    {
        return fail("bad character in service type", &text[i..]);
    }
    if let Some(rest) = strip_prefix_ci(service_type, "service:")
        && (rest.is_empty() || rest.split(':').any(str::is_empty))
    {
        return fail("empty service type component", &text[8..]);
    }
    let (path, hostport) = till_either('/', ';')(after_sep)?;
    // An optional user@ prefix is allowed by RFC 2609's addr-spec; skip it.
    let host_at = match hostport.rfind('@') {
        Some(i) => &after_sep[i + 1..],
        None => after_sep,
    };
    let hostport = &host_at[..host_at.len() - path.len()];
    let (port_at, host) = if hostport.starts_with('[') {
        ipv6_literal(host_at, hostport)?
    } else {
        let (port_at, h) = till(':')(hostport)?;
        if h.is_empty() {
            return fail("empty host", host_at);
        }
        if let Some(i) = h.bytes().position(|b| !valid_name_char(b)) {
            return fail("bad character in host", &host_at[i..]);
        }
        let host = match h.parse::<Ipv4Addr>() {
            Ok(a) => Host::V4(a),
            Err(_) => Host::Name(h),
        };
        (port_at, host)
    };
    let port = match port_at.strip_prefix(':') {
        None => None,
        Some(p) => {
            let at = &host_at[hostport.len() - p.len()..];
            match digit1::<_, GrammarError<'_>>(p) {
                Ok(("", digits)) => match digits.parse::<u16>() {
                    Ok(n) => Some(n),
                    Err(_) => return fail("port out of range", at),
                },
                _ => return fail("bad port", at),
            }
        }
    };
    Ok((
        "",
        ServiceUrl {
            service_type: ServiceType(service_type),
            host,
            port,
            path,
        },
    ))
}

/// `"[" IPv6address "]"` at the start of `hostport` (which `host_at` begins with); returns
/// what follows the literal (empty or `:port`) and the host.
fn ipv6_literal<'s>(host_at: &'s str, hostport: &'s str) -> PResult<'s, Host<'s>> {
    let inner = &host_at[1..];
    let Ok((tail, addr)) =
        terminated(till(']'), char::<_, GrammarError<'_>>(']')).parse(&hostport[1..])
    else {
        return fail("unclosed IPv6 literal", host_at);
    };
    let Ok(addr) = addr.parse::<Ipv6Addr>() else {
        return fail("bad IPv6 literal", inner);
    };
    if !(tail.is_empty() || tail.starts_with(':')) {
        return fail(
            "junk after IPv6 literal",
            &host_at[hostport.len() - tail.len()..],
        );
    }
    Ok((tail, Host::V6(addr)))
}

impl fmt::Display for ServiceUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.service_type.0, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sms_url_with_ipv6_literal_and_port() {
        let u = ServiceUrl::parse("service:iscsi:sms://[2001:db8::1]:3205").unwrap();
        assert_eq!(u.service_type.0, "service:iscsi:sms");
        assert_eq!(u.host, Host::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(3205));
        assert_eq!(u.path, "");
        assert_eq!(u.to_string(), "service:iscsi:sms://[2001:db8::1]:3205");
    }

    #[test]
    fn parses_target_url_with_iqn_path() {
        let t = "service:iscsi:target://h:3260/iqn.2001-04.com.example:disk1";
        let u = ServiceUrl::parse(t).unwrap();
        assert_eq!(u.host, Host::Name("h"));
        assert_eq!(u.port, Some(3260));
        assert_eq!(u.path, "/iqn.2001-04.com.example:disk1");
        assert_eq!(u.to_string(), t);
    }

    #[test]
    fn parses_directory_agent_url_without_port() {
        let u = ServiceUrl::parse("service:directory-agent://192.0.2.7").unwrap();
        assert_eq!(u.host, Host::V4(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!(u.port, None);
    }

    #[test]
    fn rejects_bad_urls_with_offsets() {
        assert_eq!(
            ServiceUrl::parse("service:x"),
            Err(url_err("missing \"://\"", 0))
        );
        assert_eq!(
            ServiceUrl::parse("service:x://h:99999"),
            Err(url_err("port out of range", 14))
        );
        assert_eq!(
            ServiceUrl::parse("service:x://[::1"),
            Err(url_err("unclosed IPv6 literal", 12))
        );
        assert_eq!(
            ServiceUrl::parse("service:x://"),
            Err(url_err("empty host", 12))
        );
        assert_eq!(
            ServiceUrl::parse("service:x://h:"),
            Err(url_err("bad port", 14))
        );
        assert!(ServiceUrl::parse("service:://h").is_err());
    }

    #[test]
    fn abstract_type_matches_concrete_registrations() {
        let reg = ServiceType("service:iscsi:sms");
        assert!(ServiceType("service:iscsi").matches(&reg));
        assert!(ServiceType("SERVICE:ISCSI:SMS").matches(&reg));
        assert!(!ServiceType("service:iscsi:target").matches(&reg));
        assert!(!ServiceType("service:isc").matches(&reg));
        assert_eq!(reg.abstract_type(), "iscsi");
        assert_eq!(
            ServiceType("service:x.acme:y").naming_authority(),
            Some("acme")
        );
    }

    #[test]
    fn builder_output_parses_back() {
        let u = ServiceUrl::new(
            "service:iscsi:sms",
            Host::V4(Ipv4Addr::LOCALHOST),
            Some(3205),
            "",
        )
        .unwrap();
        assert_eq!(u.to_string(), "service:iscsi:sms://127.0.0.1:3205");
        assert!(ServiceUrl::new("service:iscsi:sms", Host::Name("bad host"), None, "").is_err());
    }
}
