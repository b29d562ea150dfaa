//! RFC 4173 root path: `iscsi:<servername>:<protocol>:<port>:<LUN>:<targetname>`.
//!
//! ```text
//! iscsi: 192.0.2.10 : : 3260 : 1 : iqn.2024-01.org.example:boot
//!        servername  protocol port LUN targetname (may contain ':')
//! ```
//! RFC 4173 §5; iPXE `iscsi_parse_root_path`: IPv6 literals in brackets, the protocol field
//! is ignored (empty, `6` or `tcp` in practice), empty or 0 port means 3260, the LUN is
//! hexadecimal in up to four `-`-separated 16-bit groups.

use std::net::IpAddr;

use crate::params::{DEFAULT_ISCSI_PORT, IscsiName, IscsiTarget, Lun};

use super::RenderError;

/// The root path for `target`. The protocol field is left empty (TCP by default).
pub fn root_path(target: &IscsiTarget) -> String {
    let server = match target.address {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    format!(
        "iscsi:{server}::{}:{}:{}",
        target.port,
        target.lun.to_hex_groups(),
        target.name
    )
}

/// A parsed root path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootPath {
    /// Server name or address text (brackets removed).
    pub server: String,
    /// TCP port (3260 when the field was empty or 0).
    pub port: u16,
    /// LUN.
    pub lun: Lun,
    /// Target name.
    pub target: IscsiName,
}

impl RootPath {
    /// The server as an IP address, when it is a literal.
    pub fn address(&self) -> Option<IpAddr> {
        self.server.parse().ok()
    }

    /// As an [`IscsiTarget`], when the server is an address literal.
    pub fn to_target(&self) -> Option<IscsiTarget> {
        Some(IscsiTarget {
            name: self.target.clone(),
            address: self.address()?,
            port: self.port,
            lun: self.lun,
        })
    }
}

/// Parses a root path the way iPXE does, but strictly (the target name is validated).
///
/// # Errors
/// [`RenderError::RootPath`] naming the field that failed.
pub fn parse_root_path(text: &str) -> Result<RootPath, RenderError> {
    let bad = |reason: &'static str| RenderError::RootPath { reason };
    let rest = text
        .strip_prefix("iscsi:")
        .ok_or(bad("must start with iscsi:"))?;
    let (server, rest) = if let Some(inner) = rest.strip_prefix('[') {
        let end = inner.find(']').ok_or(bad("unterminated ipv6 literal"))?;
        let after = inner[end + 1..]
            .strip_prefix(':')
            .ok_or(bad("root path too short"))?;
        (&inner[..end], after)
    } else {
        rest.split_once(':').ok_or(bad("root path too short"))?
    };
    let mut fields = rest.splitn(4, ':');
    let (Some(protocol), Some(port), Some(lun), Some(target)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad("root path too short"));
    };
    if !matches!(protocol, "" | "6" | "tcp") {
        return Err(bad("protocol must be empty, 6 or tcp"));
    }
    let port = match port {
        "" | "0" => DEFAULT_ISCSI_PORT,
        p => p
            .parse()
            .map_err(|_| bad("port is not a number 1..=65535"))?,
    };
    if server.is_empty() {
        return Err(bad("server name is empty"));
    }
    Ok(RootPath {
        server: server.to_owned(),
        port,
        lun: Lun::parse_hex_groups(lun).map_err(|_| bad("lun is not hex groups"))?,
        target: IscsiName::new(target).map_err(|_| bad("target name is not a valid iscsi name"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_examples_from_the_wild() {
        // digest §4.2
        let p = parse_root_path("iscsi:192.168.1.10::::iqn.1991-05.com.microsoft:target1").unwrap();
        assert_eq!((p.port, p.lun), (3260, Lun::ZERO));
        assert_eq!(p.target.as_str(), "iqn.1991-05.com.microsoft:target1");
        let p = parse_root_path("iscsi:10.0.2.2:6:3261:1:iqn.2024-01.org.example:disk").unwrap();
        assert_eq!((p.port, p.lun), (3261, Lun::new(1).unwrap()));
        let p = parse_root_path("iscsi:10.0.2.2:tcp:3260:f0:iqn.2024-01.org.example:disk").unwrap();
        assert_eq!(p.lun.to_bytes(), [0, 0xf0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn ipv6_server_is_bracketed_and_round_trips() {
        let t = IscsiTarget {
            name: IscsiName::new("iqn.2024-01.org.example:disk").unwrap(),
            address: "2001:db8::10".parse().unwrap(),
            port: 3260,
            lun: Lun::new(0x123).unwrap(),
        };
        let s = root_path(&t);
        assert_eq!(
            s,
            "iscsi:[2001:db8::10]::3260:4123:iqn.2024-01.org.example:disk"
        );
        assert_eq!(parse_root_path(&s).unwrap().to_target().unwrap(), t);
    }

    #[test]
    fn rejects_short_and_malformed_paths() {
        for s in [
            "iscsi:1.2.3.4:::",
            "nfs:1.2.3.4::::iqn.2024-01.org.example:x",
            "iscsi:[::1::::iqn.2024-01.org.example:x",
            "iscsi:1.2.3.4:udp:::iqn.2024-01.org.example:x",
            "iscsi:1.2.3.4::99999::iqn.2024-01.org.example:x",
            "iscsi:1.2.3.4:::zz:iqn.2024-01.org.example:x",
        ] {
            assert!(parse_root_path(s).is_err(), "{s}");
        }
    }
}
