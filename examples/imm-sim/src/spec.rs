//! Which BMCs one `imm-sim` process emulates: `--bmc` values and the BMC names derived
//! from them.
//!
//! ```text
//! --bmc 127.0.0.1:9001-9003        three BMCs, ports 9001, 9002, 9003
//! --bmc 127.0.0.1:9100,10.0.0.1:623 a list (also: repeat --bmc)
//! --bmc [::1]:9200                  IPv6 in brackets
//! ```
//! Each BMC is named by its address as `ip_port` (`127.0.0.1_9001`): the name of its state
//! and render directories, of its `[bmc."…"]` table in the users file, and of its log field.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Most BMCs one process hosts (every port of one address).
pub const MAX_BMCS: usize = 65_535;

/// Why a `--bmc` value does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The item is not `ip:port` or `ip:first-last`.
    #[error(
        "--bmc {item:?}: {reason} (expected ip:port or ip:first-last, e.g. 127.0.0.1:9001-9003)"
    )]
    Syntax {
        /// The offending item.
        item: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// The same address listed twice.
    #[error("--bmc {addr} is listed more than once")]
    Duplicate {
        /// The address.
        addr: SocketAddr,
    },
    /// No BMC at all.
    #[error("no --bmc given: name at least one address to emulate")]
    Empty,
    /// More than [`MAX_BMCS`] addresses.
    #[error("--bmc lists {count} addresses; one process hosts at most {MAX_BMCS}")]
    TooMany {
        /// Addresses listed.
        count: usize,
    },
}

/// A BMC's name: its address as `ip_port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BmcName(String);

impl BmcName {
    /// The name of the BMC listening on `addr`.
    #[must_use]
    pub fn of(addr: SocketAddr) -> Self {
        Self(format!("{}_{}", addr.ip(), addr.port()))
    }

    /// The name as text (safe as one path component: digits, dots, colons, `_`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BmcName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn syntax(item: &str, reason: &'static str) -> SpecError {
    SpecError::Syntax {
        item: item.to_owned(),
        reason,
    }
}

fn parse_port(item: &str, text: &str) -> Result<u16, SpecError> {
    match text.parse::<u16>() {
        Ok(0) => Err(syntax(item, "port 0 is not a fixed address")),
        Ok(p) => Ok(p),
        Err(_) => Err(syntax(item, "port is not a number in 1..=65535")),
    }
}

/// Parses one item (`ip:port` or `ip:first-last`) into its addresses, in port order.
fn parse_item(item: &str) -> Result<Vec<SocketAddr>, SpecError> {
    let (host, ports) = if let Some(rest) = item.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| syntax(item, "unclosed '[' around an IPv6 address"))?;
        let ports = tail
            .strip_prefix(':')
            .ok_or_else(|| syntax(item, "missing ':port' after ']'"))?;
        (host, ports)
    } else {
        item.rsplit_once(':')
            .ok_or_else(|| syntax(item, "missing ':port'"))?
    };
    let ip: IpAddr = host
        .parse()
        .map_err(|_| syntax(item, "not an IP address (host names are not resolved)"))?;
    if ip.is_ipv6() && !item.starts_with('[') {
        return Err(syntax(item, "write IPv6 addresses in brackets"));
    }
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (parse_port(item, a)?, parse_port(item, b)?),
        None => {
            let p = parse_port(item, ports)?;
            (p, p)
        }
    };
    if first > last {
        return Err(syntax(item, "range goes downwards"));
    }
    Ok((first..=last).map(|p| SocketAddr::new(ip, p)).collect())
}

/// Expands `--bmc` values (each a comma-separated list of items) into the addresses to
/// emulate, in the order given.
///
/// # Errors
/// [`SpecError`] for a malformed item, a duplicate address, no address, or more than
/// [`MAX_BMCS`].
pub fn parse_bmcs<S: AsRef<str>>(values: &[S]) -> Result<Vec<SocketAddr>, SpecError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for value in values {
        for item in value.as_ref().split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            for addr in parse_item(item)? {
                if !seen.insert(addr) {
                    return Err(SpecError::Duplicate { addr });
                }
                out.push(addr);
                if out.len() > MAX_BMCS {
                    return Err(SpecError::TooMany { count: out.len() });
                }
            }
        }
    }
    if out.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn expands_ranges_and_lists_in_order() {
        let got = parse_bmcs(&["127.0.0.1:9001-9003", "127.0.0.1:9100,[::1]:9200"]).unwrap();
        assert_eq!(
            got,
            [
                addr("127.0.0.1:9001"),
                addr("127.0.0.1:9002"),
                addr("127.0.0.1:9003"),
                addr("127.0.0.1:9100"),
                addr("[::1]:9200"),
            ]
        );
        assert_eq!(BmcName::of(got[0]).as_str(), "127.0.0.1_9001");
        assert_eq!(BmcName::of(got[4]).as_str(), "::1_9200");
    }

    #[test]
    fn rejects_malformed_items_with_the_item_named() {
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            "127.0.0.1:9003-9001",
            "localhost:9001",
            "::1:9001",
            "[::1:9001",
            "127.0.0.1:9001-",
        ] {
            let e = parse_bmcs(&[bad]).unwrap_err();
            assert!(
                matches!(&e, SpecError::Syntax { item, .. } if item == bad),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn rejects_duplicates_and_nothing() {
        assert_eq!(
            parse_bmcs(&["127.0.0.1:9001-9002", "127.0.0.1:9002"]),
            Err(SpecError::Duplicate {
                addr: addr("127.0.0.1:9002")
            })
        );
        assert_eq!(parse_bmcs::<&str>(&[]), Err(SpecError::Empty));
        assert_eq!(parse_bmcs(&[" , "]), Err(SpecError::Empty));
    }
}
