//! Subnets for portal reachability constraints.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IP subnet, `address/prefix`; the host bits of `address` are cleared on construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    network: IpAddr,
    prefix: u8,
}

/// Why a subnet could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubnetError {
    /// The prefix is longer than the address.
    #[error("prefix length {prefix} exceeds {max} bits")]
    PrefixTooLong {
        /// The prefix given.
        prefix: u8,
        /// The address width.
        max: u8,
    },
    /// The text is not `address/prefix`.
    #[error("subnet {text:?} is not in address/prefix form")]
    Syntax {
        /// The text given.
        text: String,
    },
}

impl Subnet {
    /// The subnet holding `addr` with the given prefix length.
    ///
    /// # Errors
    /// [`SubnetError::PrefixTooLong`] when `prefix` exceeds 32 (IPv4) or 128 (IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, SubnetError> {
        let network = match addr {
            IpAddr::V4(a) => {
                if prefix > 32 {
                    return Err(SubnetError::PrefixTooLong { prefix, max: 32 });
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                if prefix > 128 {
                    return Err(SubnetError::PrefixTooLong { prefix, max: 128 });
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Ok(Self { network, prefix })
    }

    /// The network address.
    #[must_use]
    pub const fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    #[must_use]
    pub const fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The lowest and highest address of the subnet (for range queries over an ordered index).
    #[must_use]
    pub fn bounds(&self) -> (IpAddr, IpAddr) {
        match self.network {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                (
                    self.network,
                    IpAddr::V4(Ipv4Addr::from(u32::from(a) | host)),
                )
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                (
                    self.network,
                    IpAddr::V6(Ipv6Addr::from(u128::from(a) | host)),
                )
            }
        }
    }

    /// Whether `addr` lies inside this subnet (an IPv4-mapped IPv6 address counts as IPv4).
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        let (lo, hi) = self.bounds();
        lo <= addr && addr <= hi
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || SubnetError::Syntax { text: s.to_owned() };
        let (addr, prefix) = s.split_once('/').ok_or_else(syntax)?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        Self::new(addr, prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = SubnetError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> Self {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_clears_host_bits_and_contains_its_addresses() {
        let s: Subnet = "10.1.2.77/24".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert!(s.contains("10.1.2.255".parse().unwrap()));
        assert!(!s.contains("10.1.3.0".parse().unwrap()));
        assert!(s.contains("::ffff:10.1.2.9".parse().unwrap()));
    }

    #[test]
    fn zero_prefix_contains_every_address_of_its_family() {
        let s: Subnet = "0.0.0.0/0".parse().unwrap();
        assert!(s.contains("255.255.255.255".parse().unwrap()));
        assert!(!s.contains("::1".parse().unwrap()));
    }

    #[test]
    fn rejects_prefix_longer_than_address() {
        assert_eq!(
            "10.0.0.0/33".parse::<Subnet>(),
            Err(SubnetError::PrefixTooLong {
                prefix: 33,
                max: 32
            })
        );
        assert!(matches!(
            "10.0.0.0".parse::<Subnet>(),
            Err(SubnetError::Syntax { .. })
        ));
    }
}
