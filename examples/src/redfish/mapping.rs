//! DMTF `NetworkDeviceFunction.iSCSIBoot` ↔ [`IscsiBootParams`], pure and total.
//!
//! The `iSCSIBoot` object (DSP0268 schema `NetworkDeviceFunction.v1_x`, release 2025.4) is a
//! flat list of optional properties: the initiator's address and name, a primary and a
//! secondary target (name, address, TCP port, LUN, VLAN, DNS), and CHAP / mutual CHAP.
//! [`IscsiBoot`] holds each as an `Option` (`null` and absent are the same to us), so
//! decoding JSON never fails on a missing property, only on a wrong type.
//!
//! [`to_iscsi_boot`] and [`from_iscsi_boot`] are total: every input gives a value or a
//! [`MappingError`] naming the property, never a panic. `from_iscsi_boot(to_iscsi_boot(p))
//! == p` for every valid `p` the model holds (proptested), with one normalisation:
//! `allow_any_secret_length` is a manager-side policy Redfish does not carry, so it comes back
//! set exactly when a secret lies outside the recommended 12..=16 bytes.
//!
//! Where it lives: here in `bcm`, not in `ipmi-iscsi` behind a feature. `ipmi-iscsi` is the
//! IPMI wire crate (its renderers and codecs know nothing of HTTP or JSON schemas); this
//! mapping is one half of bcm's Redfish client and changes with it (DMTF schema releases),
//! while imm-sim keeps its own server-side reading, so the two sides check each other.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipmi_iscsi::params::{
    AddressConfig, AuthSummary, Authentication, CHAP_SECRET_LEN, ChapCredentials,
    DEFAULT_ISCSI_PORT, InitiatorNetwork, IscsiBootParams, IscsiName, IscsiTarget, Lun,
    PublicBootParams, Secret,
};
use serde::{Deserialize, Serialize};

/// `iSCSIBoot.IPAddressType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpAddressType {
    /// IPv4 addressing.
    IPv4,
    /// IPv6 addressing.
    IPv6,
}

/// `iSCSIBoot.AuthenticationMethod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthenticationMethod {
    /// No iSCSI authentication.
    None,
    /// One-way CHAP.
    #[serde(rename = "CHAP")]
    Chap,
    /// Mutual CHAP.
    #[serde(rename = "MutualCHAP")]
    MutualChap,
}

/// The DMTF `iSCSIBoot` object. Every property is optional (`null` or absent); unknown
/// properties (OEM, newer schema versions) are ignored. `Debug` never shows the secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // each field is the schema property of the same name
pub struct IscsiBoot {
    #[serde(
        rename = "IPAddressType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub ip_address_type: Option<IpAddressType>,
    #[serde(
        rename = "InitiatorIPAddress",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub initiator_ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator_default_gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator_netmask: Option<String>,
    #[serde(
        rename = "TargetInfoViaDHCP",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub target_info_via_dhcp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub primary_target_name: Option<String>,
    #[serde(
        rename = "PrimaryTargetIPAddress",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub primary_target_ip_address: Option<String>,
    #[serde(
        rename = "PrimaryTargetTCPPort",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub primary_target_tcp_port: Option<u64>,
    #[serde(
        rename = "PrimaryLUN",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub primary_lun: Option<u64>,
    #[serde(
        rename = "PrimaryVLANEnable",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub primary_vlan_enable: Option<bool>,
    #[serde(
        rename = "PrimaryVLANId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub primary_vlan_id: Option<u64>,
    #[serde(
        rename = "PrimaryDNS",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub primary_dns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secondary_target_name: Option<String>,
    #[serde(
        rename = "SecondaryTargetIPAddress",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secondary_target_ip_address: Option<String>,
    #[serde(
        rename = "SecondaryTargetTCPPort",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secondary_target_tcp_port: Option<u64>,
    #[serde(
        rename = "SecondaryLUN",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secondary_lun: Option<u64>,
    #[serde(
        rename = "SecondaryVLANEnable",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secondary_vlan_enable: Option<bool>,
    #[serde(
        rename = "SecondaryVLANId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secondary_vlan_id: Option<u64>,
    #[serde(
        rename = "SecondaryDNS",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secondary_dns: Option<String>,
    #[serde(
        rename = "IPMaskDNSViaDHCP",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub ip_mask_dns_via_dhcp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub router_advertisement_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub authentication_method: Option<AuthenticationMethod>,
    #[serde(
        rename = "CHAPUsername",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub chap_username: Option<String>,
    #[serde(
        rename = "CHAPSecret",
        skip_serializing_if = "Option::is_none",
        default,
        with = "opt_secret"
    )]
    pub chap_secret: Option<Secret>,
    #[serde(
        rename = "MutualCHAPUsername",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub mutual_chap_username: Option<String>,
    #[serde(
        rename = "MutualCHAPSecret",
        skip_serializing_if = "Option::is_none",
        default,
        with = "opt_secret"
    )]
    pub mutual_chap_secret: Option<Secret>,
}

impl IscsiBoot {
    /// The object that turns iSCSI boot off: every target, address and credential `null`,
    /// DHCP flags off, authentication `None` (what release PATCHes).
    #[must_use]
    pub fn cleared() -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for p in PROPERTIES {
            m.insert(p.to_owned(), serde_json::Value::Null);
        }
        for p in [
            "TargetInfoViaDHCP",
            "IPMaskDNSViaDHCP",
            "RouterAdvertisementEnabled",
        ] {
            m.insert(p.to_owned(), serde_json::Value::Bool(false));
        }
        m.insert("AuthenticationMethod".to_owned(), "None".into());
        serde_json::Value::Object(m)
    }
}

/// Every property of the `iSCSIBoot` object (schema order).
pub const PROPERTIES: [&str; 27] = [
    "IPAddressType",
    "InitiatorIPAddress",
    "InitiatorName",
    "InitiatorDefaultGateway",
    "InitiatorNetmask",
    "TargetInfoViaDHCP",
    "PrimaryTargetName",
    "PrimaryTargetIPAddress",
    "PrimaryTargetTCPPort",
    "PrimaryLUN",
    "PrimaryVLANEnable",
    "PrimaryVLANId",
    "PrimaryDNS",
    "SecondaryTargetName",
    "SecondaryTargetIPAddress",
    "SecondaryTargetTCPPort",
    "SecondaryLUN",
    "SecondaryVLANEnable",
    "SecondaryVLANId",
    "SecondaryDNS",
    "IPMaskDNSViaDHCP",
    "RouterAdvertisementEnabled",
    "AuthenticationMethod",
    "CHAPUsername",
    "CHAPSecret",
    "MutualCHAPUsername",
    "MutualCHAPSecret",
];

/// Serde for `Option<Secret>` in plain text: the PATCH body must carry the secret (a
/// read-back returns `null`). Debug still shows `***`.
mod opt_secret {
    use ipmi_iscsi::params::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(secret) => s.serialize_str(secret.expose()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| Secret::new(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Why a parameter set and an `iSCSIBoot` object do not map onto each other.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A property the model needs is `null` or absent.
    #[error("iSCSIBoot.{property} is required")]
    Missing {
        /// The property.
        property: &'static str,
    },
    /// A property holds a value the model cannot keep.
    #[error("iSCSIBoot.{property}: {reason}")]
    Invalid {
        /// The property.
        property: &'static str,
        /// Why.
        reason: String,
    },
    /// The parameters hold something `iSCSIBoot` has no property for.
    #[error("cannot express in iSCSIBoot: {0}")]
    Unrepresentable(&'static str),
}

fn invalid(property: &'static str, reason: impl fmt::Display) -> MappingError {
    MappingError::Invalid {
        property,
        reason: reason.to_string(),
    }
}

/// The netmask of a prefix, as an address of the same family.
fn netmask(v4: bool, prefix_len: u8) -> String {
    if v4 {
        let bits = u32::MAX
            .checked_shl(32u32.saturating_sub(u32::from(prefix_len)))
            .unwrap_or(0);
        Ipv4Addr::from(bits).to_string()
    } else {
        let bits = u128::MAX
            .checked_shl(128u32.saturating_sub(u32::from(prefix_len)))
            .unwrap_or(0);
        Ipv6Addr::from(bits).to_string()
    }
}

/// The prefix length of a contiguous netmask, or `None`.
fn prefix_of(mask: IpAddr) -> Option<u8> {
    let (ones, rest) = match mask {
        IpAddr::V4(m) => {
            let b = u32::from(m);
            (
                b.leading_ones(),
                b.checked_shl(b.leading_ones()).unwrap_or(0) == 0,
            )
        }
        IpAddr::V6(m) => {
            let b = u128::from(m);
            (
                b.leading_ones(),
                b.checked_shl(b.leading_ones()).unwrap_or(0) == 0,
            )
        }
    };
    rest.then(|| u8::try_from(ones).ok()).flatten()
}

fn lun_number(lun: Lun) -> Result<u64, MappingError> {
    lun.number()
        .map(u64::from)
        .ok_or(MappingError::Unrepresentable(
            "a multi-level or non-flat LUN (iSCSIBoot LUNs are integers)",
        ))
}

/// `iSCSIBoot` for `p`, secrets included (for a PATCH), `BootMode` aside.
///
/// # Errors
/// [`MappingError::Unrepresentable`] for a LUN that is not a single-level number or more
/// than two DNS servers.
pub fn to_iscsi_boot(p: &IscsiBootParams) -> Result<IscsiBoot, MappingError> {
    let mut o = IscsiBoot {
        ip_address_type: Some(if p.primary.address.is_ipv4() {
            IpAddressType::IPv4
        } else {
            IpAddressType::IPv6
        }),
        initiator_name: Some(p.initiator_name.as_str().to_owned()),
        target_info_via_dhcp: Some(false),
        router_advertisement_enabled: Some(false),
        ..IscsiBoot::default()
    };
    match &p.network.config {
        AddressConfig::Dhcp => o.ip_mask_dns_via_dhcp = Some(true),
        AddressConfig::Static {
            address,
            prefix_len,
            gateway,
            dns,
        } => {
            if dns.len() > 2 {
                return Err(MappingError::Unrepresentable("more than two DNS servers"));
            }
            o.ip_mask_dns_via_dhcp = Some(false);
            o.initiator_ip_address = Some(address.to_string());
            o.initiator_netmask = Some(netmask(address.is_ipv4(), *prefix_len));
            o.initiator_default_gateway = gateway.map(|g| g.to_string());
            o.primary_dns = dns.first().map(ToString::to_string);
            o.secondary_dns = dns.get(1).map(ToString::to_string);
        }
    }
    let vlan_enable = Some(p.network.vlan.is_some());
    let vlan_id = p.network.vlan.map(u64::from);
    o.primary_target_name = Some(p.primary.name.as_str().to_owned());
    o.primary_target_ip_address = Some(p.primary.address.to_string());
    o.primary_target_tcp_port = Some(u64::from(p.primary.port));
    o.primary_lun = Some(lun_number(p.primary.lun)?);
    o.primary_vlan_enable = vlan_enable;
    o.primary_vlan_id = vlan_id;
    if let Some(s) = &p.secondary {
        o.secondary_target_name = Some(s.name.as_str().to_owned());
        o.secondary_target_ip_address = Some(s.address.to_string());
        o.secondary_target_tcp_port = Some(u64::from(s.port));
        o.secondary_lun = Some(lun_number(s.lun)?);
        o.secondary_vlan_enable = vlan_enable;
        o.secondary_vlan_id = vlan_id;
    }
    let (method, initiator, target) = match &p.auth {
        Authentication::None => (AuthenticationMethod::None, None, None),
        Authentication::Chap { initiator, .. } => {
            (AuthenticationMethod::Chap, Some(initiator), None)
        }
        Authentication::MutualChap {
            initiator, target, ..
        } => (
            AuthenticationMethod::MutualChap,
            Some(initiator),
            Some(target),
        ),
    };
    o.authentication_method = Some(method);
    o.chap_username = initiator.map(|c| c.user.clone());
    o.chap_secret = initiator.map(|c| c.secret.clone());
    o.mutual_chap_username = target.map(|c| c.user.clone());
    o.mutual_chap_secret = target.map(|c| c.secret.clone());
    Ok(o)
}

fn required<'a>(v: Option<&'a String>, property: &'static str) -> Result<&'a str, MappingError> {
    v.map(String::as_str)
        .ok_or(MappingError::Missing { property })
}

fn ip(v: Option<&String>, property: &'static str) -> Result<Option<IpAddr>, MappingError> {
    v.map(|t| {
        t.parse()
            .map_err(|_| invalid(property, "not an IP address"))
    })
    .transpose()
}

fn vlan(
    enable: Option<bool>,
    id: Option<u64>,
    id_property: &'static str,
) -> Result<Option<u16>, MappingError> {
    if enable != Some(true) {
        return Ok(None);
    }
    let id = id.ok_or(MappingError::Missing {
        property: id_property,
    })?;
    match u16::try_from(id) {
        Ok(v @ 1..=4094) => Ok(Some(v)),
        _ => Err(invalid(
            id_property,
            format_args!("{id} is outside 1..=4094"),
        )),
    }
}

struct TargetKeys {
    name: &'static str,
    address: &'static str,
    port: &'static str,
    lun: &'static str,
}

const PRIMARY: TargetKeys = TargetKeys {
    name: "PrimaryTargetName",
    address: "PrimaryTargetIPAddress",
    port: "PrimaryTargetTCPPort",
    lun: "PrimaryLUN",
};
const SECONDARY: TargetKeys = TargetKeys {
    name: "SecondaryTargetName",
    address: "SecondaryTargetIPAddress",
    port: "SecondaryTargetTCPPort",
    lun: "SecondaryLUN",
};

fn target(
    keys: &TargetKeys,
    name: Option<&String>,
    address: Option<&String>,
    port: Option<u64>,
    lun: Option<u64>,
) -> Result<IscsiTarget, MappingError> {
    let name = IscsiName::new(required(name, keys.name)?).map_err(|e| invalid(keys.name, e))?;
    let address = ip(address, keys.address)?.ok_or(MappingError::Missing {
        property: keys.address,
    })?;
    if address.is_unspecified() {
        return Err(invalid(keys.address, "unspecified address"));
    }
    let port = match port {
        None => DEFAULT_ISCSI_PORT,
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid(keys.port, format_args!("{p} is outside 1..=65535")))?,
    };
    let lun = match lun {
        None => Lun::ZERO,
        Some(n) => u16::try_from(n)
            .map_err(|_| invalid(keys.lun, format_args!("{n} is outside 0..=16383")))
            .and_then(|n| Lun::new(n).map_err(|e| invalid(keys.lun, e)))?,
    };
    Ok(IscsiTarget {
        name,
        address,
        port,
        lun,
    })
}

/// The secret-free parameters an `iSCSIBoot` object describes (what a read-back shows;
/// `CHAPSecret`/`MutualCHAPSecret` are ignored).
///
/// # Errors
/// [`MappingError`] naming the first property that is missing or holds a value the model
/// cannot keep (target info from DHCP, VLANs that differ between the targets, a
/// non-contiguous netmask, ...).
pub fn public_from_iscsi_boot(o: &IscsiBoot) -> Result<PublicBootParams, MappingError> {
    if o.target_info_via_dhcp == Some(true) {
        return Err(invalid(
            "TargetInfoViaDHCP",
            "target information from DHCP is not supported (bcm names the target)",
        ));
    }
    let initiator_name = IscsiName::new(required(o.initiator_name.as_ref(), "InitiatorName")?)
        .map_err(|e| invalid("InitiatorName", e))?;
    let config = if o.ip_mask_dns_via_dhcp == Some(true) {
        AddressConfig::Dhcp
    } else {
        let address = ip(o.initiator_ip_address.as_ref(), "InitiatorIPAddress")?.ok_or(
            MappingError::Missing {
                property: "InitiatorIPAddress",
            },
        )?;
        let mask =
            ip(o.initiator_netmask.as_ref(), "InitiatorNetmask")?.ok_or(MappingError::Missing {
                property: "InitiatorNetmask",
            })?;
        if mask.is_ipv4() != address.is_ipv4() {
            return Err(invalid(
                "InitiatorNetmask",
                "not the initiator's address family",
            ));
        }
        let prefix_len =
            prefix_of(mask).ok_or_else(|| invalid("InitiatorNetmask", "not a contiguous mask"))?;
        let gateway = ip(
            o.initiator_default_gateway.as_ref(),
            "InitiatorDefaultGateway",
        )?;
        let dns: Vec<IpAddr> = [
            ip(o.primary_dns.as_ref(), "PrimaryDNS")?,
            ip(o.secondary_dns.as_ref(), "SecondaryDNS")?,
        ]
        .into_iter()
        .flatten()
        .collect();
        AddressConfig::Static {
            address,
            prefix_len,
            gateway,
            dns,
        }
    };
    let primary_vlan = vlan(o.primary_vlan_enable, o.primary_vlan_id, "PrimaryVLANId")?;
    let primary = target(
        &PRIMARY,
        o.primary_target_name.as_ref(),
        o.primary_target_ip_address.as_ref(),
        o.primary_target_tcp_port,
        o.primary_lun,
    )?;
    let secondary = if o.secondary_target_name.is_some() || o.secondary_target_ip_address.is_some()
    {
        let s = target(
            &SECONDARY,
            o.secondary_target_name.as_ref(),
            o.secondary_target_ip_address.as_ref(),
            o.secondary_target_tcp_port,
            o.secondary_lun,
        )?;
        let secondary_vlan = vlan(
            o.secondary_vlan_enable,
            o.secondary_vlan_id,
            "SecondaryVLANId",
        )?;
        if secondary_vlan != primary_vlan {
            return Err(invalid(
                "SecondaryVLANId",
                "differs from the primary target's VLAN (one initiator NIC, one VLAN)",
            ));
        }
        Some(s)
    } else {
        None
    };
    let user =
        |v: Option<&String>, property: &'static str| required(v, property).map(str::to_owned);
    let auth = match o.authentication_method {
        None | Some(AuthenticationMethod::None) => AuthSummary::None,
        Some(AuthenticationMethod::Chap) => AuthSummary::Chap {
            user: user(o.chap_username.as_ref(), "CHAPUsername")?,
        },
        Some(AuthenticationMethod::MutualChap) => AuthSummary::MutualChap {
            user: user(o.chap_username.as_ref(), "CHAPUsername")?,
            target_user: user(o.mutual_chap_username.as_ref(), "MutualCHAPUsername")?,
        },
    };
    let p = PublicBootParams {
        initiator_name,
        network: InitiatorNetwork {
            config,
            vlan: primary_vlan,
        },
        primary,
        secondary,
        auth,
    };
    p.validate().map_err(|e| invalid("iSCSIBoot", e))?;
    Ok(p)
}

/// The full parameters an `iSCSIBoot` object describes, secrets included.
///
/// # Errors
/// As [`public_from_iscsi_boot`], plus [`MappingError::Missing`] for a secret the
/// authentication method needs.
pub fn from_iscsi_boot(o: &IscsiBoot) -> Result<IscsiBootParams, MappingError> {
    let public = public_from_iscsi_boot(o)?;
    let secret = |v: Option<&Secret>, property: &'static str| {
        v.cloned().ok_or(MappingError::Missing { property })
    };
    let outside = |s: &Secret| !CHAP_SECRET_LEN.contains(&s.len());
    let auth = match &public.auth {
        AuthSummary::None => Authentication::None,
        AuthSummary::Chap { user } => {
            let s = secret(o.chap_secret.as_ref(), "CHAPSecret")?;
            Authentication::Chap {
                allow_any_secret_length: outside(&s),
                initiator: ChapCredentials {
                    user: user.clone(),
                    secret: s,
                },
            }
        }
        AuthSummary::MutualChap { user, target_user } => {
            let s = secret(o.chap_secret.as_ref(), "CHAPSecret")?;
            let t = secret(o.mutual_chap_secret.as_ref(), "MutualCHAPSecret")?;
            Authentication::MutualChap {
                allow_any_secret_length: outside(&s) || outside(&t),
                initiator: ChapCredentials {
                    user: user.clone(),
                    secret: s,
                },
                target: ChapCredentials {
                    user: target_user.clone(),
                    secret: t,
                },
            }
        }
    };
    auth.validate().map_err(|e| invalid("CHAPSecret", e))?;
    public
        .with_auth(auth)
        .ok_or_else(|| invalid("AuthenticationMethod", "does not match the credentials"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = IscsiName> {
        prop_oneof![
            "iqn\\.20[0-2][0-9]-(0[1-9]|1[0-2])\\.[a-z0-9]{1,8}(\\.[a-z0-9-]{1,8}){0,2}(:[a-z0-9.-]{0,30})?",
            "eui\\.[0-9A-F]{16}",
        ]
        .prop_map(|s| IscsiName::new(s).unwrap())
    }

    fn addr(v4: bool) -> BoxedStrategy<IpAddr> {
        if v4 {
            (1u32..).prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))).boxed()
        } else {
            (1u128..)
                .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                .boxed()
        }
    }

    fn target(v4: bool) -> impl Strategy<Value = IscsiTarget> {
        (name(), addr(v4), 1u16.., 0u16..=0x3fff).prop_map(|(name, address, port, lun)| {
            IscsiTarget {
                name,
                address,
                port,
                lun: Lun::new(lun).unwrap(),
            }
        })
    }

    fn secret() -> impl Strategy<Value = Secret> {
        "[!-~]{1,40}".prop_map(|s| Secret::new(s).unwrap())
    }

    fn creds() -> impl Strategy<Value = ChapCredentials> {
        ("[!-~]{1,32}", secret()).prop_map(|(user, secret)| ChapCredentials { user, secret })
    }

    fn auth() -> impl Strategy<Value = Authentication> {
        prop_oneof![
            Just(Authentication::None),
            creds().prop_map(|c| {
                let any = !CHAP_SECRET_LEN.contains(&c.secret.len());
                Authentication::Chap {
                    initiator: c,
                    allow_any_secret_length: any,
                }
            }),
            (creds(), creds())
                .prop_filter("distinct secrets", |(a, b)| a.secret != b.secret)
                .prop_map(|(a, b)| {
                    let any = !CHAP_SECRET_LEN.contains(&a.secret.len())
                        || !CHAP_SECRET_LEN.contains(&b.secret.len());
                    Authentication::MutualChap {
                        initiator: a,
                        target: b,
                        allow_any_secret_length: any,
                    }
                }),
        ]
    }

    fn params() -> impl Strategy<Value = IscsiBootParams> {
        any::<(bool, bool)>().prop_flat_map(|(v4, net_v4)| {
            let max = if net_v4 { 32u8 } else { 128 };
            let stat = (
                addr(net_v4),
                0..=max,
                proptest::option::of(addr(net_v4)),
                proptest::collection::vec(addr(net_v4), 0..=2),
            )
                .prop_map(|(address, prefix_len, gateway, dns)| {
                    AddressConfig::Static {
                        address,
                        prefix_len,
                        gateway,
                        dns,
                    }
                });
            (
                name(),
                prop_oneof![Just(AddressConfig::Dhcp), stat],
                proptest::option::of(1u16..=4094),
                target(v4),
                proptest::option::of(target(v4)),
                auth(),
            )
                .prop_map(
                    |(initiator_name, config, vlan, primary, secondary, auth)| {
                        let p = IscsiBootParams {
                            initiator_name,
                            network: InitiatorNetwork { config, vlan },
                            primary,
                            secondary,
                            auth,
                        };
                        p.validate().unwrap();
                        p
                    },
                )
        })
    }

    fn opt<T: Strategy>(s: T) -> impl Strategy<Value = Option<T::Value>> {
        proptest::option::of(s)
    }

    /// Any object the schema allows (types right, values anything of that type).
    fn any_object() -> impl Strategy<Value = IscsiBoot> {
        let text = || opt(".{0,40}");
        let int = || opt(any::<u64>());
        let flag = || opt(any::<bool>());
        (
            (
                opt(prop_oneof![
                    Just(IpAddressType::IPv4),
                    Just(IpAddressType::IPv6)
                ]),
                text(),
                text(),
                text(),
                text(),
                flag(),
                text(),
                text(),
                int(),
                int(),
            ),
            (
                int(),
                flag(),
                text(),
                text(),
                text(),
                int(),
                int(),
                flag(),
                int(),
                text(),
            ),
            (
                flag(),
                flag(),
                opt(prop_oneof![
                    Just(AuthenticationMethod::None),
                    Just(AuthenticationMethod::Chap),
                    Just(AuthenticationMethod::MutualChap)
                ]),
                text(),
                opt(secret()),
                text(),
                opt(secret()),
            ),
        )
            .prop_map(|(a, b, c)| IscsiBoot {
                ip_address_type: a.0,
                initiator_ip_address: a.1,
                initiator_name: a.2,
                initiator_default_gateway: a.3,
                initiator_netmask: a.4,
                target_info_via_dhcp: a.5,
                primary_target_name: a.6,
                primary_target_ip_address: a.7,
                primary_target_tcp_port: a.8,
                primary_lun: a.9,
                primary_vlan_id: b.0,
                primary_vlan_enable: b.1,
                primary_dns: b.2,
                secondary_target_name: b.3,
                secondary_target_ip_address: b.4,
                secondary_target_tcp_port: b.5,
                secondary_lun: b.6,
                secondary_vlan_enable: b.7,
                secondary_vlan_id: b.8,
                secondary_dns: b.9,
                ip_mask_dns_via_dhcp: c.0,
                router_advertisement_enabled: c.1,
                authentication_method: c.2,
                chap_username: c.3,
                chap_secret: c.4,
                mutual_chap_username: c.5,
                mutual_chap_secret: c.6,
            })
    }

    proptest! {
        #[test]
        fn params_round_trip_through_iscsi_boot_json(p in params()) {
            let o = to_iscsi_boot(&p).unwrap();
            let json = serde_json::to_string(&o).unwrap();
            let back: IscsiBoot = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &o);
            prop_assert_eq!(from_iscsi_boot(&back).unwrap(), p.clone());
            prop_assert_eq!(public_from_iscsi_boot(&back).unwrap(), p.without_secrets());
        }

        #[test]
        fn every_schema_object_round_trips_through_json(o in any_object()) {
            let json = serde_json::to_value(&o).unwrap();
            let back: IscsiBoot = serde_json::from_value(json).unwrap();
            prop_assert_eq!(&back, &o);
        }

        #[test]
        fn every_schema_object_maps_to_params_or_an_error(o in any_object()) {
            // Total: a value or a typed error, never a panic; a value maps back onto itself.
            if let Ok(p) = from_iscsi_boot(&o) {
                let again = to_iscsi_boot(&p).unwrap();
                prop_assert_eq!(from_iscsi_boot(&again).unwrap(), p);
            }
            let _ = public_from_iscsi_boot(&o);
        }
    }

    #[test]
    fn read_back_with_null_secrets_gives_the_public_view() {
        let json = serde_json::json!({
            "IPAddressType": "IPv4", "InitiatorName": "iqn.2026-01.test:host",
            "IPMaskDNSViaDHCP": true, "TargetInfoViaDHCP": false,
            "PrimaryTargetName": "iqn.2026-01.test:disk", "PrimaryTargetIPAddress": "192.0.2.7",
            "PrimaryTargetTCPPort": 3260, "PrimaryLUN": 1, "PrimaryVLANEnable": false,
            "AuthenticationMethod": "CHAP", "CHAPUsername": "host", "CHAPSecret": null,
            "Oem": {"Vendor": {"x": 1}}
        });
        let o: IscsiBoot = serde_json::from_value(json).unwrap();
        let p = public_from_iscsi_boot(&o).unwrap();
        assert_eq!(p.primary.lun.number(), Some(1));
        assert_eq!(
            p.auth,
            AuthSummary::Chap {
                user: "host".into()
            }
        );
        assert_eq!(
            from_iscsi_boot(&o),
            Err(MappingError::Missing {
                property: "CHAPSecret"
            })
        );
    }

    #[test]
    fn debug_never_shows_chap_secrets() {
        let o = IscsiBoot {
            chap_secret: Some(Secret::new("init-secret-123").unwrap()),
            mutual_chap_secret: Some(Secret::new("targ-secret-456").unwrap()),
            ..IscsiBoot::default()
        };
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("init-secret") && !shown.contains("targ-secret"),
            "{shown}"
        );
        // The PATCH body does carry them.
        let body = serde_json::to_string(&o).unwrap();
        assert!(body.contains("init-secret-123"), "{body}");
    }

    #[test]
    fn names_the_property_of_a_value_the_model_cannot_keep() {
        let mut o = IscsiBoot {
            initiator_name: Some("iqn.2026-01.test:h".into()),
            ip_mask_dns_via_dhcp: Some(true),
            primary_target_name: Some("iqn.2026-01.test:d".into()),
            primary_target_ip_address: Some("192.0.2.1".into()),
            ..IscsiBoot::default()
        };
        assert!(public_from_iscsi_boot(&o).is_ok());
        o.primary_lun = Some(70_000);
        assert!(matches!(
            public_from_iscsi_boot(&o),
            Err(MappingError::Invalid {
                property: "PrimaryLUN",
                ..
            })
        ));
        o.primary_lun = None;
        o.primary_vlan_enable = Some(true);
        assert_eq!(
            public_from_iscsi_boot(&o),
            Err(MappingError::Missing {
                property: "PrimaryVLANId"
            })
        );
        o.primary_vlan_enable = None;
        o.primary_target_ip_address = Some("not an address".into());
        assert!(matches!(
            public_from_iscsi_boot(&o),
            Err(MappingError::Invalid {
                property: "PrimaryTargetIPAddress",
                ..
            })
        ));
        let wrong_type = serde_json::json!({"PrimaryLUN": "one"});
        assert!(serde_json::from_value::<IscsiBoot>(wrong_type).is_err());
    }

    #[test]
    fn cleared_object_names_every_property() {
        let v = IscsiBoot::cleared();
        let o: IscsiBoot = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(o.authentication_method, Some(AuthenticationMethod::None));
        assert_eq!(v.as_object().unwrap().len(), PROPERTIES.len());
    }
}
