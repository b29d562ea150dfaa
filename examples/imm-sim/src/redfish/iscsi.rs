//! DMTF `NetworkDeviceFunction.iSCSIBoot` ↔ the library's parameter model.
//!
//! Reading turns what the store makes firmware boot ([`PublicBootParams`]) into the
//! `iSCSIBoot` object, `CHAPSecret`/`MutualCHAPSecret` always `null` (DSP0268: the service
//! never returns them). Writing merges a PATCH into the pending object and builds
//! [`IscsiBootParams`] from it, refusing what the model cannot keep with the property named.

use std::net::{IpAddr, Ipv4Addr};

use ipmi_iscsi::params::{
    AddressConfig, AuthSummary, Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams,
    IscsiName, IscsiTarget, Lun, PublicBootParams, Secret,
};
use serde_json::{Map, Value, json};

use super::error::RedfishError;

/// Every `iSCSIBoot` property this service keeps; all are writable.
pub(crate) const PROPERTIES: [&str; 27] = [
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

/// The object with nothing configured.
#[must_use]
pub(crate) fn empty() -> Map<String, Value> {
    let mut m: Map<String, Value> = PROPERTIES
        .iter()
        .map(|p| ((*p).to_owned(), Value::Null))
        .collect();
    m.insert("AuthenticationMethod".into(), json!("None"));
    m.insert("TargetInfoViaDHCP".into(), json!(false));
    m.insert("IPMaskDNSViaDHCP".into(), json!(false));
    m.insert("RouterAdvertisementEnabled".into(), json!(false));
    m
}

fn netmask_v4(prefix_len: u8) -> Option<String> {
    let bits = u32::MAX
        .checked_shl(32u32.checked_sub(u32::from(prefix_len))?)
        .unwrap_or(0);
    Some(Ipv4Addr::from(bits).to_string())
}

fn prefix_of_v4(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0)
        .then(|| u8::try_from(ones).ok())
        .flatten()
}

fn put_target(m: &mut Map<String, Value>, which: &str, t: Option<&IscsiTarget>, vlan: Option<u16>) {
    let v = |f: &dyn Fn(&IscsiTarget) -> Value| t.map_or(Value::Null, f);
    m.insert(format!("{which}TargetName"), v(&|t| json!(t.name.as_str())));
    m.insert(
        format!("{which}TargetIPAddress"),
        v(&|t| json!(t.address.to_string())),
    );
    m.insert(format!("{which}TargetTCPPort"), v(&|t| json!(t.port)));
    m.insert(
        format!("{which}LUN"),
        v(&|t| t.lun.number().map_or(Value::Null, |n| json!(n))),
    );
    m.insert(
        format!("{which}VLANEnable"),
        t.map_or(Value::Null, |_| json!(vlan.is_some())),
    );
    m.insert(
        format!("{which}VLANId"),
        t.map_or(Value::Null, |_| vlan.map_or(Value::Null, |id| json!(id))),
    );
}

/// The `iSCSIBoot` object for `p` (secrets `null`).
#[must_use]
pub(crate) fn to_json(p: &PublicBootParams) -> Map<String, Value> {
    let mut m = empty();
    let v6 = p.primary.address.is_ipv6();
    m.insert(
        "IPAddressType".into(),
        json!(if v6 { "IPv6" } else { "IPv4" }),
    );
    m.insert("InitiatorName".into(), json!(p.initiator_name.as_str()));
    match &p.network.config {
        AddressConfig::Dhcp => {
            m.insert("IPMaskDNSViaDHCP".into(), json!(true));
        }
        AddressConfig::Static {
            address,
            prefix_len,
            gateway,
            dns,
        } => {
            m.insert("InitiatorIPAddress".into(), json!(address.to_string()));
            if address.is_ipv4() {
                m.insert(
                    "InitiatorNetmask".into(),
                    netmask_v4(*prefix_len).map_or(Value::Null, Value::from),
                );
            }
            m.insert(
                "InitiatorDefaultGateway".into(),
                gateway.map_or(Value::Null, |g| json!(g.to_string())),
            );
            m.insert(
                "PrimaryDNS".into(),
                dns.first().map_or(Value::Null, |d| json!(d.to_string())),
            );
            m.insert(
                "SecondaryDNS".into(),
                dns.get(1).map_or(Value::Null, |d| json!(d.to_string())),
            );
        }
    }
    put_target(&mut m, "Primary", Some(&p.primary), p.network.vlan);
    put_target(&mut m, "Secondary", p.secondary.as_ref(), p.network.vlan);
    let (method, chap, mutual) = match &p.auth {
        AuthSummary::None => ("None", None, None),
        AuthSummary::Chap { user } => ("CHAP", Some(user), None),
        AuthSummary::MutualChap { user, target_user } => {
            ("MutualCHAP", Some(user), Some(target_user))
        }
    };
    m.insert("AuthenticationMethod".into(), json!(method));
    m.insert(
        "CHAPUsername".into(),
        chap.map_or(Value::Null, |u| json!(u)),
    );
    m.insert(
        "MutualCHAPUsername".into(),
        mutual.map_or(Value::Null, |u| json!(u)),
    );
    m
}

/// Checks the JSON type of every property of `m` (and the enumerations), whatever the
/// `BootMode`: the settings object must never hold a value its schema does not allow.
///
/// # Errors
/// [`RedfishError`] naming the first property of the wrong type or value.
pub(crate) fn check_types(m: &Map<String, Value>) -> Result<(), RedfishError> {
    for (k, v) in m {
        let pointer = ptr(k);
        let ok = match (k.as_str(), v) {
            (_, Value::Null) => true,
            ("IPAddressType", Value::String(s)) => {
                if !matches!(s.as_str(), "IPv4" | "IPv6") {
                    return Err(RedfishError::not_in_list(&pointer, s));
                }
                true
            }
            ("AuthenticationMethod", Value::String(s)) => {
                if !matches!(s.as_str(), "None" | "CHAP" | "MutualCHAP") {
                    return Err(RedfishError::not_in_list(&pointer, s));
                }
                true
            }
            (
                "TargetInfoViaDHCP"
                | "PrimaryVLANEnable"
                | "SecondaryVLANEnable"
                | "IPMaskDNSViaDHCP"
                | "RouterAdvertisementEnabled",
                v,
            ) => v.is_boolean(),
            (
                "PrimaryTargetTCPPort"
                | "PrimaryLUN"
                | "PrimaryVLANId"
                | "SecondaryTargetTCPPort"
                | "SecondaryLUN"
                | "SecondaryVLANId",
                v,
            ) => {
                if v.is_number() && v.as_u64().is_none() {
                    return Err(RedfishError::format_error(
                        &pointer,
                        "not a non-negative integer",
                    ));
                }
                v.is_number()
            }
            (_, v) => v.is_string(),
        };
        if !ok {
            let want = match k.as_str() {
                k if k.ends_with("Enable") || k.ends_with("DHCP") || k.ends_with("Enabled") => {
                    "boolean"
                }
                k if k.ends_with("Port") || k.ends_with("LUN") || k.ends_with("Id") => "integer",
                _ => "string",
            };
            return Err(RedfishError::type_error(&pointer, want));
        }
    }
    Ok(())
}

fn ptr(name: &str) -> String {
    format!("/iSCSIBoot/{name}")
}

fn text<'a>(m: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, RedfishError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RedfishError::type_error(&ptr(name), "string")),
    }
}

fn flag(m: &Map<String, Value>, name: &str) -> Result<bool, RedfishError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(RedfishError::type_error(&ptr(name), "boolean")),
    }
}

fn int(m: &Map<String, Value>, name: &str) -> Result<Option<u64>, RedfishError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| RedfishError::format_error(&ptr(name), "not a non-negative integer")),
        Some(_) => Err(RedfishError::type_error(&ptr(name), "integer")),
    }
}

fn ip(m: &Map<String, Value>, name: &str) -> Result<Option<IpAddr>, RedfishError> {
    text(m, name)?
        .map(|s| {
            s.parse()
                .map_err(|_| RedfishError::format_error(&ptr(name), "not an IP address"))
        })
        .transpose()
}

fn required<T>(v: Option<T>, name: &str) -> Result<T, RedfishError> {
    v.ok_or_else(|| RedfishError::format_error(&ptr(name), "required when BootMode is iSCSI"))
}

fn vlan(m: &Map<String, Value>, which: &str) -> Result<Option<u16>, RedfishError> {
    if !flag(m, &format!("{which}VLANEnable"))? {
        return Ok(None);
    }
    let name = format!("{which}VLANId");
    let id = required(int(m, &name)?, &name)?;
    match u16::try_from(id) {
        Ok(id @ 1..=4094) => Ok(Some(id)),
        _ => Err(RedfishError::format_error(&ptr(&name), "outside 1..=4094")),
    }
}

fn target(m: &Map<String, Value>, which: &str) -> Result<Option<IscsiTarget>, RedfishError> {
    let name_key = format!("{which}TargetName");
    let addr_key = format!("{which}TargetIPAddress");
    let (Some(name), Some(address)) = (text(m, &name_key)?, ip(m, &addr_key)?) else {
        if which == "Primary" {
            required(text(m, &name_key)?, &name_key)?;
            required(ip(m, &addr_key)?, &addr_key)?;
        }
        return Ok(None);
    };
    let name = IscsiName::new(name)
        .map_err(|e| RedfishError::format_error(&ptr(&name_key), &e.to_string()))?;
    let port_key = format!("{which}TargetTCPPort");
    let port = match int(m, &port_key)? {
        None => ipmi_iscsi::params::DEFAULT_ISCSI_PORT,
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| RedfishError::format_error(&ptr(&port_key), "outside 1..=65535"))?,
    };
    let lun_key = format!("{which}LUN");
    let lun = match int(m, &lun_key)? {
        None => Lun::ZERO,
        Some(n) => u16::try_from(n)
            .ok()
            .and_then(|n| Lun::new(n).ok())
            .ok_or_else(|| RedfishError::format_error(&ptr(&lun_key), "outside 0..=16383"))?,
    };
    Ok(Some(IscsiTarget {
        name,
        address,
        port,
        lun,
    }))
}

fn chap(
    m: &Map<String, Value>,
    user_key: &str,
    secret_key: &str,
    secret: Option<&Secret>,
) -> Result<ChapCredentials, RedfishError> {
    let user = required(text(m, user_key)?, user_key)?.to_owned();
    let secret = secret.cloned().ok_or_else(|| {
        RedfishError::format_error(
            &ptr(secret_key),
            "required by the AuthenticationMethod (write it with the other properties)",
        )
    })?;
    Ok(ChapCredentials { user, secret })
}

/// Builds the parameters `m` describes, the CHAP secrets coming from `secrets`
/// (`CHAPSecret`, `MutualCHAPSecret`), which the object itself never holds.
///
/// # Errors
/// [`RedfishError`] naming the property that is missing, of the wrong type, or invalid.
pub(crate) fn to_params(
    m: &Map<String, Value>,
    secrets: (Option<&Secret>, Option<&Secret>),
) -> Result<IscsiBootParams, RedfishError> {
    if flag(m, "TargetInfoViaDHCP")? {
        return Err(RedfishError::format_error(
            &ptr("TargetInfoViaDHCP"),
            "this service boots the targets it is given; set it to false",
        ));
    }
    let initiator_name = IscsiName::new(required(text(m, "InitiatorName")?, "InitiatorName")?)
        .map_err(|e| RedfishError::format_error(&ptr("InitiatorName"), &e.to_string()))?;
    let primary = required(target(m, "Primary")?, "PrimaryTargetName")?;
    let secondary = target(m, "Secondary")?;
    let vlan = vlan(m, "Primary")?;
    if secondary.is_some() && self::vlan(m, "Secondary")?.is_some_and(|v| Some(v) != vlan) {
        return Err(RedfishError::format_error(
            &ptr("SecondaryVLANId"),
            "this service has one initiator VLAN: it must equal PrimaryVLANId",
        ));
    }
    let config = if flag(m, "IPMaskDNSViaDHCP")? {
        AddressConfig::Dhcp
    } else {
        let address = required(ip(m, "InitiatorIPAddress")?, "InitiatorIPAddress")?;
        let prefix_len = match (address, text(m, "InitiatorNetmask")?) {
            (IpAddr::V4(_), Some(mask)) => mask
                .parse::<Ipv4Addr>()
                .ok()
                .and_then(prefix_of_v4)
                .ok_or_else(|| {
                    RedfishError::format_error(
                        &ptr("InitiatorNetmask"),
                        "not a contiguous IPv4 netmask",
                    )
                })?,
            (IpAddr::V4(_), None) => required(None, "InitiatorNetmask")?,
            (IpAddr::V6(_), _) => 64,
        };
        let gateway = ip(m, "InitiatorDefaultGateway")?;
        let dns = [ip(m, "PrimaryDNS")?, ip(m, "SecondaryDNS")?]
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
    let auth = match text(m, "AuthenticationMethod")?.unwrap_or("None") {
        "None" => Authentication::None,
        "CHAP" => Authentication::Chap {
            initiator: chap(m, "CHAPUsername", "CHAPSecret", secrets.0)?,
            allow_any_secret_length: false,
        },
        "MutualCHAP" => Authentication::MutualChap {
            initiator: chap(m, "CHAPUsername", "CHAPSecret", secrets.0)?,
            target: chap(m, "MutualCHAPUsername", "MutualCHAPSecret", secrets.1)?,
            allow_any_secret_length: false,
        },
        other => {
            return Err(RedfishError::not_in_list(
                &ptr("AuthenticationMethod"),
                other,
            ));
        }
    };
    let params = IscsiBootParams {
        initiator_name,
        network: InitiatorNetwork { config, vlan },
        primary,
        secondary,
        auth,
    };
    params
        .validate()
        .map_err(|e| RedfishError::format_error("/iSCSIBoot", &e.to_string()))?;
    if let Some(t) = text(m, "IPAddressType")? {
        let want = if params.primary.address.is_ipv6() {
            "IPv6"
        } else {
            "IPv4"
        };
        if t != want {
            return Err(RedfishError::format_error(
                &ptr("IPAddressType"),
                "does not match the address family of the addresses",
            ));
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Map<String, Value> {
        let mut m = empty();
        for (k, v) in [
            ("InitiatorName", json!("iqn.2026-01.test:init")),
            ("InitiatorIPAddress", json!("10.0.0.5")),
            ("InitiatorNetmask", json!("255.255.255.0")),
            ("InitiatorDefaultGateway", json!("10.0.0.1")),
            ("PrimaryDNS", json!("10.0.0.2")),
            ("PrimaryTargetName", json!("iqn.2026-01.test:tgt")),
            ("PrimaryTargetIPAddress", json!("10.0.0.9")),
            ("PrimaryTargetTCPPort", json!(3261)),
            ("PrimaryLUN", json!(3)),
            ("PrimaryVLANEnable", json!(true)),
            ("PrimaryVLANId", json!(100)),
            ("AuthenticationMethod", json!("MutualCHAP")),
            ("CHAPUsername", json!("alice")),
            ("MutualCHAPUsername", json!("tgt")),
        ] {
            m.insert(k.into(), v);
        }
        m
    }

    #[test]
    fn json_to_params_and_back_keeps_every_field_but_secrets() {
        let s1 = Secret::new("0123456789abcdef").unwrap();
        let s2 = Secret::new("fedcba9876543210").unwrap();
        let p = to_params(&sample(), (Some(&s1), Some(&s2))).unwrap();
        assert_eq!(p.auth.initiator().unwrap().secret, s1);
        assert_eq!(p.auth.target().unwrap().secret, s2);
        let back = to_json(&p.without_secrets());
        let mut want = sample();
        want.insert("IPAddressType".into(), json!("IPv4"));
        assert_eq!(back, want);
        assert_eq!(back["CHAPSecret"], Value::Null);
        assert_eq!(back["MutualCHAPSecret"], Value::Null);
    }

    #[test]
    fn refusals_name_the_property() {
        let s = Secret::new("0123456789abcdef").unwrap();
        let mut m = sample();
        m.insert("PrimaryLUN".into(), json!(20000));
        let e = to_params(&m, (Some(&s), Some(&s))).unwrap_err();
        assert_eq!(e.related, ["/iSCSIBoot/PrimaryLUN"]);
        let e = to_params(&sample(), (Some(&s), None)).unwrap_err();
        assert_eq!(e.related, ["/iSCSIBoot/MutualCHAPSecret"]);
        let mut m = sample();
        m.insert("InitiatorNetmask".into(), json!("255.0.255.0"));
        assert!(to_params(&m, (Some(&s), Some(&s))).is_err());
        let mut m = sample();
        m.insert("PrimaryTargetTCPPort".into(), json!("3260"));
        assert_eq!(
            to_params(&m, (Some(&s), Some(&s))).unwrap_err().message_key,
            "PropertyValueTypeError"
        );
    }
}
