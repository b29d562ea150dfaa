//! proptest strategies for valid iSCSI boot parameters, shared by the bootopt/render tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipmi_iscsi::params::{
    AddressConfig, Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams, IscsiName,
    IscsiTarget, Lun, Secret,
};
use proptest::prelude::*;

pub(crate) fn name() -> impl Strategy<Value = IscsiName> {
    prop_oneof![
        4 => "iqn\\.20[0-2][0-9]-(0[1-9]|1[0-2])\\.[a-z0-9]{1,8}(\\.[a-z0-9-]{1,8}){0,3}(:[a-z0-9.:-]{0,40})?",
        1 => "eui\\.[0-9A-F]{16}",
        1 => "naa\\.[0-9a-f]{16}([0-9a-f]{16})?",
    ]
    .prop_map(|s| IscsiName::new(s).unwrap())
}

pub(crate) fn v4() -> impl Strategy<Value = IpAddr> {
    (1u32..).prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
}

pub(crate) fn v6() -> impl Strategy<Value = IpAddr> {
    (1u128..).prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
}

pub(crate) fn lun() -> impl Strategy<Value = Lun> {
    prop_oneof![
        (0u16..=0x3fff).prop_map(|n| Lun::new(n).unwrap()),
        any::<[u8; 8]>().prop_map(Lun::from_bytes),
    ]
}

pub(crate) fn target() -> impl Strategy<Value = IscsiTarget> {
    (name(), prop_oneof![v4(), v6()], 1u16.., lun()).prop_map(|(name, address, port, lun)| {
        IscsiTarget {
            name,
            address,
            port,
            lun,
        }
    })
}

pub(crate) fn network() -> impl Strategy<Value = InitiatorNetwork> {
    let vlan = proptest::option::of(1u16..=4094);
    let stat = any::<bool>().prop_flat_map(|is_v4| {
        let addr = if is_v4 { v4().boxed() } else { v6().boxed() };
        let max = if is_v4 { 32u8 } else { 128 };
        (
            addr.clone(),
            0..=max,
            proptest::option::of(addr.clone()),
            proptest::collection::vec(addr, 0..=2),
        )
            .prop_map(
                |(address, prefix_len, gateway, dns)| AddressConfig::Static {
                    address,
                    prefix_len,
                    gateway,
                    dns,
                },
            )
    });
    (prop_oneof![Just(AddressConfig::Dhcp), stat], vlan)
        .prop_map(|(config, vlan)| InitiatorNetwork { config, vlan })
}

/// Secrets iPXE can carry (no `$`, quotes, backslash).
pub(crate) fn secret() -> impl Strategy<Value = Secret> {
    "[a-zA-Z0-9!%&()*+,./:;<=>?@^_`{|}~-]{12,16}".prop_map(|s| Secret::new(s).unwrap())
}

pub(crate) fn user() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{1,24}"
}

pub(crate) fn auth() -> impl Strategy<Value = Authentication> {
    prop_oneof![
        Just(Authentication::None),
        (user(), secret()).prop_map(|(user, secret)| Authentication::Chap {
            initiator: ChapCredentials { user, secret },
            allow_any_secret_length: false,
        }),
        (user(), secret(), user(), secret())
            .prop_filter("mutual chap secrets differ", |(_, a, _, b)| a != b)
            .prop_map(|(u1, s1, u2, s2)| Authentication::MutualChap {
                initiator: ChapCredentials {
                    user: u1,
                    secret: s1
                },
                target: ChapCredentials {
                    user: u2,
                    secret: s2
                },
                allow_any_secret_length: false,
            }),
    ]
}

pub(crate) fn params() -> impl Strategy<Value = IscsiBootParams> {
    (
        name(),
        network(),
        target(),
        proptest::option::of(target()),
        auth(),
    )
        .prop_map(|(initiator_name, network, primary, secondary, auth)| {
            let p = IscsiBootParams {
                initiator_name,
                network,
                primary,
                secondary,
                auth,
            };
            p.validate().unwrap();
            p
        })
}
