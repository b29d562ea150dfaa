//! What a probe learns: discovered targets, and per target every LUN with its size and state.

use std::net::{IpAddr, SocketAddr};

use crate::codes::{DeviceType, ScsiStatus, SenseKey};
use crate::error::DecodeError;
use crate::scsi::{Capacity, Lun, Sense};

/// The default iSCSI port (RFC 7143 §13.15: 3260).
pub const DEFAULT_PORT: u16 = 3260;

/// One `TargetAddress` value: `domainname[:port][,portal-group-tag]` (RFC 7143 §13.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetAddress {
    /// Host and optional port, as the target wrote it (IPv6 literals in brackets).
    pub address: String,
    /// Target portal group tag.
    pub tpgt: Option<u16>,
}

impl TargetAddress {
    /// Parses a `TargetAddress` value.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        match value.rsplit_once(',') {
            Some((addr, tag)) if !tag.is_empty() && tag.bytes().all(|c| c.is_ascii_digit()) => {
                Self {
                    address: addr.to_owned(),
                    tpgt: tag.parse().ok(),
                }
            }
            _ => Self {
                address: value.to_owned(),
                tpgt: None,
            },
        }
    }

    /// The address as a socket address when it is an IP literal (port 3260 when absent).
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let a = self.address.as_str();
        if let Ok(sa) = a.parse::<SocketAddr>() {
            return Some(sa);
        }
        let bare = a
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(a);
        bare.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, DEFAULT_PORT))
    }
}

/// A target listed by SendTargets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiscoveredTarget {
    /// iSCSI name.
    pub name: String,
    /// Portals the target can be reached at (may be empty: then the discovery portal).
    pub addresses: Vec<TargetAddress>,
}

/// Why a LUN's details are missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LunError {
    /// The command ended with CHECK CONDITION and this sense.
    #[error("{command} failed: CHECK CONDITION, {sense}")]
    Check {
        /// Command name.
        command: &'static str,
        /// Sense data.
        sense: Sense,
    },
    /// The command ended with another status.
    #[error("{command} failed: {status}")]
    Status {
        /// Command name.
        command: &'static str,
        /// SCSI status.
        status: ScsiStatus,
    },
    /// The target reported an iSCSI target failure for the command.
    #[error("{command} failed: target failure")]
    TargetFailure {
        /// Command name.
        command: &'static str,
    },
    /// The parameter data or sense data could not be decoded.
    #[error("{command} returned undecodable data: {error}")]
    BadData {
        /// Command name.
        command: &'static str,
        /// Decode error.
        error: DecodeError,
    },
    /// READ CAPACITY reported a size that does not fit in 64 bits of bytes.
    #[error("capacity overflows 64 bits")]
    CapacityOverflow,
}

/// The state a LUN is in, as far as the probe can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LunState {
    /// A block device whose size is known.
    Ready,
    /// A LUN that has no block capacity (controller, enclosure, well-known LUN ...).
    NoCapacity,
    /// The device reported NOT READY (no medium, becoming ready ...).
    NotReady,
    /// A command failed; see [`LunReport::error`].
    Error,
}

/// Everything learnt about one LUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LunReport {
    /// The LUN as REPORT LUNS listed it.
    pub lun: Lun,
    /// Peripheral qualifier from INQUIRY (0 = connected).
    pub qualifier: u8,
    /// Peripheral device type from INQUIRY.
    pub device_type: DeviceType,
    /// T10 vendor identification.
    pub vendor: String,
    /// Product identification.
    pub product: String,
    /// Product revision level.
    pub revision: String,
    /// Block count and size (block devices whose READ CAPACITY succeeded).
    pub capacity: Option<Capacity>,
    /// The first failure met while probing this LUN.
    pub error: Option<LunError>,
}

impl LunReport {
    /// A report with nothing learnt yet.
    #[must_use]
    pub fn new(lun: Lun) -> Self {
        Self {
            lun,
            qualifier: 0,
            device_type: DeviceType::UNKNOWN,
            vendor: String::new(),
            product: String::new(),
            revision: String::new(),
            capacity: None,
            error: None,
        }
    }

    /// LUN number (single-level peripheral or flat addressing).
    #[must_use]
    pub fn number(&self) -> Option<u16> {
        self.lun.number()
    }

    /// Size in bytes.
    #[must_use]
    pub fn size_bytes(&self) -> Option<u64> {
        self.capacity.and_then(|c| c.bytes())
    }

    /// Logical block size in bytes.
    #[must_use]
    pub fn block_size(&self) -> Option<u32> {
        self.capacity.map(|c| c.block_len)
    }

    /// The LUN's state.
    #[must_use]
    pub fn state(&self) -> LunState {
        match (&self.capacity, &self.error) {
            (Some(_), None) => LunState::Ready,
            (_, Some(LunError::Check { sense, .. })) if sense.key == SenseKey::NOT_READY => {
                LunState::NotReady
            }
            (_, Some(_)) => LunState::Error,
            (None, None) => LunState::NoCapacity,
        }
    }
}

/// The result of probing one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReport {
    /// The target's iSCSI name.
    pub target_name: String,
    /// `TargetAlias` the target declared at login, if any.
    pub alias: Option<String>,
    /// Every LUN REPORT LUNS listed, in its order.
    pub luns: Vec<LunReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_address_with_port_and_tag() {
        let a = TargetAddress::parse("127.0.0.1:3261,1");
        assert_eq!(a.tpgt, Some(1));
        assert_eq!(a.socket_addr(), Some("127.0.0.1:3261".parse().unwrap()));
        let b = TargetAddress::parse("[::1]:3260,7");
        assert_eq!(b.socket_addr(), Some("[::1]:3260".parse().unwrap()));
        let c = TargetAddress::parse("10.0.0.1");
        assert_eq!(c.socket_addr(), Some("10.0.0.1:3260".parse().unwrap()));
        assert_eq!(TargetAddress::parse("host.example,x").tpgt, None);
    }
}
