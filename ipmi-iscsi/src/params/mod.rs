//! The iSCSI boot parameter model: what a server's firmware needs to boot from a LUN.
//!
//! [`IscsiBootParams`] is what a boot manager configures and pushes; [`PublicBootParams`] is the
//! same without secrets (what the mailbox carries and what a read-back can show).
//! Field types validate on construction ([`IscsiName`], [`Lun`], [`Secret`]);
//! [`IscsiBootParams::validate`] checks what spans fields (address families, CHAP rules).

mod lun;
mod name;
pub mod secret;

use std::net::IpAddr;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

pub use lun::{Lun, MAX_LUN_NUMBER};
pub use name::{IscsiName, MAX_NAME_LEN, NameFormat};
pub use secret::Secret;

/// The IANA default iSCSI TCP port (RFC 3720 §13.3).
pub const DEFAULT_ISCSI_PORT: u16 = 3260;

/// CHAP secret length RFC 3720 §8.2.1 asks for: at least 12 bytes (96 bits); 16 is the
/// longest many initiators (and iBFT consumers) accept.
pub const CHAP_SECRET_LEN: core::ops::RangeInclusive<usize> = 12..=16;

/// Longest CHAP user name accepted (a one-byte length prefix in both dialects leaves room).
pub const MAX_CHAP_NAME_LEN: usize = 128;

/// Why a parameter set is not acceptable. Messages name the field and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// iSCSI name empty or longer than 223 bytes.
    #[error("iscsi name length {len} is outside 1..={max} bytes")]
    NameLength {
        /// Actual length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// iSCSI name does not follow the iqn./eui./naa. grammar.
    #[error("iscsi name {name:?} is malformed: {reason}")]
    NameFormat {
        /// The name (first 64 characters).
        name: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// A character outside the RFC 3722 ASCII repertoire.
    #[error(
        "iscsi name has character 0x{byte:02x} not allowed at byte {at} (lower-case a-z, 0-9, '-', '.', ':')"
    )]
    NameCharacter {
        /// Byte offset.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// A LUN number outside 0..=16383.
    #[error("lun {value} is out of range 0..={max}")]
    LunRange {
        /// Value given.
        value: u64,
        /// Maximum.
        max: u16,
    },
    /// LUN text that is neither a number nor hex groups.
    #[error("lun {text:?} is not a number or up to four '-'-separated hex groups")]
    LunText {
        /// The text (first 40 characters).
        text: String,
    },
    /// A secret of the wrong length.
    #[error("chap secret length {len} is outside {min}..={max} bytes")]
    SecretLength {
        /// Actual length.
        len: usize,
        /// Minimum.
        min: usize,
        /// Maximum.
        max: usize,
    },
    /// A secret with a character outside printable ASCII.
    #[error("chap secret has a byte outside printable ascii 0x21..=0x7e at byte {at}")]
    SecretCharacters {
        /// Byte offset.
        at: usize,
    },
    /// Mutual CHAP with the same secret both ways (RFC 3720 §8.2.1 forbids it).
    #[error("mutual chap uses the same secret in both directions")]
    SecretReused,
    /// CHAP user name empty, too long, or not printable ASCII.
    #[error("chap name {which} is invalid: {reason}")]
    ChapName {
        /// `"user"` or `"target user"`.
        which: &'static str,
        /// The rule broken.
        reason: &'static str,
    },
    /// A prefix length beyond the address family.
    #[error("prefix length {prefix} is too long for {family}")]
    PrefixLength {
        /// Given prefix.
        prefix: u8,
        /// `"ipv4"` or `"ipv6"`.
        family: &'static str,
    },
    /// Gateway or DNS server of the other family, or unspecified address.
    #[error("{field} address {addr} is not usable with the initiator address {initiator}")]
    AddressFamily {
        /// Which field.
        field: &'static str,
        /// Its value.
        addr: IpAddr,
        /// The initiator address.
        initiator: IpAddr,
    },
    /// An unspecified (all-zero) address where a real one is required.
    #[error("{field} address is unspecified")]
    Unspecified {
        /// Which field.
        field: &'static str,
    },
    /// More than two DNS servers (iBFT carries two).
    #[error("{count} dns servers given; at most 2 are representable")]
    TooManyDns {
        /// Count given.
        count: usize,
    },
    /// VLAN id outside 1..=4094.
    #[error("vlan id {0} is outside 1..=4094")]
    Vlan(u16),
    /// TCP port zero.
    #[error("{which} target tcp port is 0")]
    Port {
        /// `"primary"` or `"secondary"`.
        which: &'static str,
    },
}

/// How the initiator NIC gets its address.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "method", rename_all = "snake_case"))]
pub enum AddressConfig {
    /// DHCP (v4) / autoconfiguration.
    Dhcp,
    /// A fixed address.
    Static {
        /// Initiator address.
        address: IpAddr,
        /// Prefix length (0..=32 for IPv4, 0..=128 for IPv6).
        prefix_len: u8,
        /// Default gateway, same family.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        gateway: Option<IpAddr>,
        /// Up to two DNS servers.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Vec::is_empty")
        )]
        dns: Vec<IpAddr>,
    },
}

/// The initiator's network configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct InitiatorNetwork {
    /// Address assignment.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub config: AddressConfig,
    /// 802.1Q VLAN id (1..=4094), when tagged.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub vlan: Option<u16>,
}

impl InitiatorNetwork {
    /// DHCP on the untagged network.
    pub fn dhcp() -> Self {
        Self {
            config: AddressConfig::Dhcp,
            vlan: None,
        }
    }
}

/// One iSCSI target portal and LUN.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct IscsiTarget {
    /// Target node name.
    pub name: IscsiName,
    /// Portal address.
    pub address: IpAddr,
    /// Portal TCP port.
    #[cfg_attr(feature = "serde", serde(default = "default_port"))]
    pub port: u16,
    /// Logical unit to boot from.
    #[cfg_attr(feature = "serde", serde(default))]
    pub lun: Lun,
}

#[cfg(feature = "serde")]
fn default_port() -> u16 {
    DEFAULT_ISCSI_PORT
}

/// One direction of CHAP: a user name and its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ChapCredentials {
    /// CHAP name (CHAP_N).
    pub user: String,
    /// CHAP secret; Debug/Display/default serde show `***`.
    pub secret: Secret,
}

/// iSCSI login authentication.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "method", rename_all = "snake_case"))]
pub enum Authentication {
    /// No authentication.
    #[default]
    None,
    /// One-way CHAP: the target authenticates the initiator.
    Chap {
        /// Initiator credentials.
        initiator: ChapCredentials,
        /// Accept secrets outside 12..=16 bytes (RFC 3720 only recommends the range).
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "core::ops::Not::not")
        )]
        allow_any_secret_length: bool,
    },
    /// Mutual CHAP: the initiator also authenticates the target.
    MutualChap {
        /// Initiator credentials.
        initiator: ChapCredentials,
        /// Target credentials (reverse CHAP).
        target: ChapCredentials,
        /// Accept secrets outside 12..=16 bytes.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "core::ops::Not::not")
        )]
        allow_any_secret_length: bool,
    },
}

/// What kind of authentication is configured, with user names but never secrets.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "method", rename_all = "snake_case"))]
pub enum AuthSummary {
    /// No authentication.
    #[default]
    None,
    /// One-way CHAP with this initiator user.
    Chap {
        /// Initiator CHAP name.
        user: String,
    },
    /// Mutual CHAP.
    MutualChap {
        /// Initiator CHAP name.
        user: String,
        /// Target CHAP name.
        target_user: String,
    },
}

impl Authentication {
    /// The secret-free summary.
    pub fn summary(&self) -> AuthSummary {
        match self {
            Self::None => AuthSummary::None,
            Self::Chap { initiator, .. } => AuthSummary::Chap {
                user: initiator.user.clone(),
            },
            Self::MutualChap {
                initiator, target, ..
            } => AuthSummary::MutualChap {
                user: initiator.user.clone(),
                target_user: target.user.clone(),
            },
        }
    }

    /// Initiator credentials, when CHAP is used.
    pub fn initiator(&self) -> Option<&ChapCredentials> {
        match self {
            Self::None => None,
            Self::Chap { initiator, .. } | Self::MutualChap { initiator, .. } => Some(initiator),
        }
    }

    /// Target (reverse) credentials, with mutual CHAP.
    pub fn target(&self) -> Option<&ChapCredentials> {
        match self {
            Self::MutualChap { target, .. } => Some(target),
            _ => None,
        }
    }

    /// Checks names, secret lengths (12..=16 unless overridden) and secret reuse.
    ///
    /// # Errors
    /// [`ParamsError::ChapName`], [`ParamsError::SecretLength`], [`ParamsError::SecretReused`].
    pub fn validate(&self) -> Result<(), ParamsError> {
        let (allow_any, creds): (bool, &[(&'static str, &ChapCredentials)]) = match self {
            Self::None => return Ok(()),
            Self::Chap {
                initiator,
                allow_any_secret_length,
            } => (*allow_any_secret_length, &[("user", initiator)]),
            Self::MutualChap {
                initiator,
                target,
                allow_any_secret_length,
            } => {
                if initiator.secret == target.secret {
                    return Err(ParamsError::SecretReused);
                }
                (
                    *allow_any_secret_length,
                    &[("user", initiator), ("target user", target)],
                )
            }
        };
        for (which, c) in creds {
            validate_chap_name(which, &c.user)?;
            let len = c.secret.len();
            if !allow_any && !CHAP_SECRET_LEN.contains(&len) {
                return Err(ParamsError::SecretLength {
                    len,
                    min: *CHAP_SECRET_LEN.start(),
                    max: *CHAP_SECRET_LEN.end(),
                });
            }
        }
        Ok(())
    }
}

/// CHAP names: 1..=128 printable ASCII bytes without spaces (they go into iPXE `set` lines).
pub(crate) fn validate_chap_name(which: &'static str, user: &str) -> Result<(), ParamsError> {
    if user.is_empty() || user.len() > MAX_CHAP_NAME_LEN {
        return Err(ParamsError::ChapName {
            which,
            reason: "length must be 1..=128 bytes",
        });
    }
    if !user.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ParamsError::ChapName {
            which,
            reason: "only printable ascii without spaces is allowed",
        });
    }
    Ok(())
}

/// Everything a server's firmware needs to boot from an iSCSI LUN.
///
/// serde: secrets serialize as `"***"`; use `ExposeSecrets` (feature `serde`) to persist them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct IscsiBootParams {
    /// Initiator node name.
    pub initiator_name: IscsiName,
    /// Initiator network configuration.
    pub network: InitiatorNetwork,
    /// Target to boot from.
    pub primary: IscsiTarget,
    /// Optional second path / fallback target.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub secondary: Option<IscsiTarget>,
    /// Login authentication (applies to both targets).
    #[cfg_attr(feature = "serde", serde(default))]
    pub auth: Authentication,
}

/// [`IscsiBootParams`] without secrets: what the mailbox carries and a read-back shows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct PublicBootParams {
    /// Initiator node name.
    pub initiator_name: IscsiName,
    /// Initiator network configuration.
    pub network: InitiatorNetwork,
    /// Target to boot from.
    pub primary: IscsiTarget,
    /// Optional second target.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub secondary: Option<IscsiTarget>,
    /// Authentication kind and user names.
    #[cfg_attr(feature = "serde", serde(default))]
    pub auth: AuthSummary,
}

impl IscsiBootParams {
    /// A minimal configuration: DHCP, one target, no authentication.
    pub fn new(initiator_name: IscsiName, primary: IscsiTarget) -> Self {
        Self {
            initiator_name,
            network: InitiatorNetwork::dhcp(),
            primary,
            secondary: None,
            auth: Authentication::None,
        }
    }

    /// Checks every rule that spans fields.
    ///
    /// # Errors
    /// The first [`ParamsError`] found.
    pub fn validate(&self) -> Result<(), ParamsError> {
        validate_network(&self.network)?;
        validate_target("primary", &self.primary)?;
        if let Some(t) = &self.secondary {
            validate_target("secondary", t)?;
        }
        self.auth.validate()
    }

    /// The secret-free view.
    pub fn without_secrets(&self) -> PublicBootParams {
        PublicBootParams {
            initiator_name: self.initiator_name.clone(),
            network: self.network.clone(),
            primary: self.primary.clone(),
            secondary: self.secondary.clone(),
            auth: self.auth.summary(),
        }
    }

    /// Iterates the configured targets, primary first.
    pub fn targets(&self) -> impl Iterator<Item = &IscsiTarget> {
        core::iter::once(&self.primary).chain(self.secondary.as_ref())
    }
}

impl PublicBootParams {
    /// Checks every rule that spans fields (the authentication part: names only).
    ///
    /// # Errors
    /// The first [`ParamsError`] found.
    pub fn validate(&self) -> Result<(), ParamsError> {
        validate_network(&self.network)?;
        validate_target("primary", &self.primary)?;
        if let Some(t) = &self.secondary {
            validate_target("secondary", t)?;
        }
        match &self.auth {
            AuthSummary::None => Ok(()),
            AuthSummary::Chap { user } => validate_chap_name("user", user),
            AuthSummary::MutualChap { user, target_user } => {
                validate_chap_name("user", user)?;
                validate_chap_name("target user", target_user)
            }
        }
    }

    /// Adds the secrets back, when `auth` matches the summary (same kind, same user names).
    /// Returns `None` on a mismatch.
    pub fn with_auth(self, auth: Authentication) -> Option<IscsiBootParams> {
        (auth.summary() == self.auth).then_some(IscsiBootParams {
            initiator_name: self.initiator_name,
            network: self.network,
            primary: self.primary,
            secondary: self.secondary,
            auth,
        })
    }
}

fn validate_network(net: &InitiatorNetwork) -> Result<(), ParamsError> {
    if let Some(v) = net.vlan
        && !(1..=4094).contains(&v)
    {
        return Err(ParamsError::Vlan(v));
    }
    if let AddressConfig::Static {
        address,
        prefix_len,
        gateway,
        dns,
    } = &net.config
    {
        if address.is_unspecified() {
            return Err(ParamsError::Unspecified { field: "initiator" });
        }
        let (max, family) = if address.is_ipv4() {
            (32, "ipv4")
        } else {
            (128, "ipv6")
        };
        if *prefix_len > max {
            return Err(ParamsError::PrefixLength {
                prefix: *prefix_len,
                family,
            });
        }
        if dns.len() > 2 {
            return Err(ParamsError::TooManyDns { count: dns.len() });
        }
        let fields = gateway
            .iter()
            .map(|g| ("gateway", g))
            .chain(dns.iter().map(|d| ("dns", d)));
        for (field, addr) in fields {
            if addr.is_ipv4() != address.is_ipv4() || addr.is_unspecified() {
                return Err(ParamsError::AddressFamily {
                    field,
                    addr: *addr,
                    initiator: *address,
                });
            }
        }
    }
    Ok(())
}

fn validate_target(which: &'static str, t: &IscsiTarget) -> Result<(), ParamsError> {
    if t.port == 0 {
        return Err(ParamsError::Port { which });
    }
    if t.address.is_unspecified() {
        return Err(ParamsError::Unspecified { field: which });
    }
    Ok(())
}

/// Serializes [`IscsiBootParams`] with the secrets in plain text, for a manager's own
/// (protected) store. Deserialize the output as `IscsiBootParams` as usual.
#[derive(Clone, Copy, Debug)]
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub struct ExposeSecrets<'a>(pub &'a IscsiBootParams);

#[cfg(feature = "serde")]
impl Serialize for ExposeSecrets<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[cfg_attr(feature = "serde", derive(Serialize))]
        struct Creds<'a> {
            user: &'a str,
            #[cfg_attr(feature = "serde", serde(with = "secret::expose"))]
            secret: &'a Secret,
        }
        #[cfg_attr(feature = "serde", derive(Serialize))]
        #[cfg_attr(feature = "serde", serde(tag = "method", rename_all = "snake_case"))]
        enum Auth<'a> {
            None,
            Chap {
                initiator: Creds<'a>,
                #[cfg_attr(feature = "serde", serde(skip_serializing_if = "core::ops::Not::not"))]
                allow_any_secret_length: bool,
            },
            MutualChap {
                initiator: Creds<'a>,
                target: Creds<'a>,
                #[cfg_attr(feature = "serde", serde(skip_serializing_if = "core::ops::Not::not"))]
                allow_any_secret_length: bool,
            },
        }
        #[cfg_attr(feature = "serde", derive(Serialize))]
        struct Exposed<'a> {
            initiator_name: &'a IscsiName,
            network: &'a InitiatorNetwork,
            primary: &'a IscsiTarget,
            #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
            secondary: &'a Option<IscsiTarget>,
            auth: Auth<'a>,
        }
        fn creds(c: &ChapCredentials) -> Creds<'_> {
            Creds {
                user: &c.user,
                secret: &c.secret,
            }
        }
        let p = self.0;
        let auth = match &p.auth {
            Authentication::None => Auth::None,
            Authentication::Chap {
                initiator,
                allow_any_secret_length,
            } => Auth::Chap {
                initiator: creds(initiator),
                allow_any_secret_length: *allow_any_secret_length,
            },
            Authentication::MutualChap {
                initiator,
                target,
                allow_any_secret_length,
            } => Auth::MutualChap {
                initiator: creds(initiator),
                target: creds(target),
                allow_any_secret_length: *allow_any_secret_length,
            },
        };
        Exposed {
            initiator_name: &p.initiator_name,
            network: &p.network,
            primary: &p.primary,
            secondary: &p.secondary,
            auth,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IscsiBootParams {
        let mut p = IscsiBootParams::new(
            IscsiName::new("iqn.2024-01.org.example:node1").unwrap(),
            IscsiTarget {
                name: IscsiName::new("iqn.2024-01.org.example:disk1").unwrap(),
                address: "192.0.2.10".parse().unwrap(),
                port: 3260,
                lun: Lun::new(1).unwrap(),
            },
        );
        p.auth = Authentication::MutualChap {
            initiator: ChapCredentials {
                user: "node1".into(),
                secret: Secret::new("initsecret123").unwrap(),
            },
            target: ChapCredentials {
                user: "disk1".into(),
                secret: Secret::new("targetsecret12").unwrap(),
            },
            allow_any_secret_length: false,
        };
        p
    }

    #[cfg(feature = "serde")]
    #[test]
    fn default_serde_redacts_and_expose_round_trips() {
        let p = sample();
        let redacted = serde_json::to_string(&p).unwrap();
        assert!(!redacted.contains("initsecret123"), "{redacted}");
        assert!(redacted.contains("***"));
        assert!(serde_json::from_str::<IscsiBootParams>(&redacted).is_err());
        let exposed = serde_json::to_string(&ExposeSecrets(&p)).unwrap();
        let back: IscsiBootParams = serde_json::from_str(&exposed).unwrap();
        assert_eq!(back, p);
        assert!(!format!("{p:?}").contains("initsecret123"));
    }

    #[test]
    fn enforces_chap_secret_length_unless_overridden() {
        let mut p = sample();
        p.auth = Authentication::Chap {
            initiator: ChapCredentials {
                user: "u".into(),
                secret: Secret::new("short").unwrap(),
            },
            allow_any_secret_length: false,
        };
        assert_eq!(
            p.validate().unwrap_err(),
            ParamsError::SecretLength {
                len: 5,
                min: 12,
                max: 16
            }
        );
        if let Authentication::Chap {
            allow_any_secret_length,
            ..
        } = &mut p.auth
        {
            *allow_any_secret_length = true;
        }
        assert!(p.validate().is_ok());
    }

    #[test]
    fn rejects_reused_mutual_secret_and_mixed_families() {
        let mut p = sample();
        if let Authentication::MutualChap { target, .. } = &mut p.auth {
            target.secret = Secret::new("initsecret123").unwrap();
        }
        assert_eq!(p.validate().unwrap_err(), ParamsError::SecretReused);
        let mut p = sample();
        p.network.config = AddressConfig::Static {
            address: "10.0.0.5".parse().unwrap(),
            prefix_len: 24,
            gateway: Some("fe80::1".parse().unwrap()),
            dns: vec![],
        };
        assert!(matches!(
            p.validate(),
            Err(ParamsError::AddressFamily {
                field: "gateway",
                ..
            })
        ));
        p.network.vlan = Some(4095);
        assert_eq!(p.validate().unwrap_err(), ParamsError::Vlan(4095));
    }
}
