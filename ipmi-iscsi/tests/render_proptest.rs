//! Property tests for the firmware renderers: root paths parse back, the iBFT decodes to the
//! parameters it was rendered from, hostile tables never panic the decoder, and secrets
//! appear only where firmware needs them.

mod bootopt_common;
use bootopt_common as common;

use std::net::IpAddr;

use ipmi_iscsi::params::AddressConfig;
use ipmi_iscsi::render::{
    IbftOptions, IpxeOptions, decode_ibft, ibft, ibft_table, ipxe_script, parse_root_path,
    root_path,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn root_path_parses_back_to_the_target(t in common::target()) {
        let s = root_path(&t);
        prop_assert_eq!(parse_root_path(&s).unwrap().to_target().unwrap(), t);
    }

    #[test]
    fn ibft_decodes_to_the_parameters_it_was_rendered_from(p in common::params(), mac in any::<[u8; 6]>(), bdf in any::<u16>()) {
        let opts = IbftOptions { mac, pci_bdf: bdf, hostname: Some("node".into()), ..IbftOptions::default() };
        let t = ibft_table(&p, &opts).unwrap();
        prop_assert_eq!(t.iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        let d = decode_ibft(&t).unwrap();
        prop_assert_eq!(d.initiator_name.as_deref(), Some(p.initiator_name.as_str()));
        prop_assert_eq!(d.nics.len(), 1);
        let nic = &d.nics[0];
        prop_assert_eq!(nic.mac, mac);
        prop_assert_eq!(nic.pci_bdf, bdf);
        prop_assert_eq!(nic.vlan, p.network.vlan.unwrap_or(0));
        if let AddressConfig::Static { address, prefix_len, gateway, dns } = &p.network.config {
            prop_assert_eq!(nic.ip, Some(canonical(*address)));
            prop_assert_eq!(nic.prefix_len, *prefix_len);
            prop_assert_eq!(nic.gateway, gateway.map(canonical));
            prop_assert_eq!(nic.dns[0], dns.first().copied().map(canonical));
            prop_assert_eq!(nic.origin, ibft::origin::MANUAL);
        } else {
            prop_assert_eq!(nic.origin, ibft::origin::DHCP);
        }
        prop_assert_eq!(d.targets.len(), 1 + usize::from(p.secondary.is_some()));
        for (got, want) in d.targets.iter().zip(p.targets()) {
            prop_assert_eq!(got.name.as_deref(), Some(want.name.as_str()));
            prop_assert_eq!(got.ip, Some(canonical(want.address)));
            prop_assert_eq!(got.port, want.port);
            prop_assert_eq!(got.lun, want.lun);
            prop_assert_eq!(got.chap_name.as_deref(), p.auth.initiator().map(|c| c.user.as_str()));
            prop_assert_eq!(got.chap_secret.as_ref().map(ipmi_iscsi::params::Secret::expose), p.auth.initiator().map(|c| c.secret.expose()));
            prop_assert_eq!(got.reverse_chap_secret.as_ref().map(ipmi_iscsi::params::Secret::expose), p.auth.target().map(|c| c.secret.expose()));
        }
        // Secrets never reach Debug output of the decoded table.
        if let Some(c) = p.auth.initiator() {
            let debug = format!("{d:?}");
            prop_assert!(!debug.contains(c.secret.expose()));
        }
        for n in 0..t.len() {
            prop_assert!(decode_ibft(&t[..n]).is_err());
        }
    }

    #[test]
    fn ibft_decoder_never_panics_on_mutated_tables(p in common::params(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut t = ibft_table(&p, &IbftOptions::default()).unwrap();
        for (i, v) in flips {
            let i = i.index(t.len());
            t[i] = v;
        }
        // Fix the checksum so the mutation reaches the structure decoders.
        t[9] = 0;
        let sum = t.iter().fold(0u8, |a, &x| a.wrapping_add(x));
        t[9] = 0u8.wrapping_sub(sum);
        let _ = decode_ibft(&t);
    }

    #[test]
    fn ibft_decoder_never_panics_on_arbitrary_bytes(mut bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_ibft(&bytes);
        if bytes.len() >= 36 {
            bytes[..4].copy_from_slice(b"iBFT");
            let _ = decode_ibft(&bytes);
        }
    }

    #[test]
    fn ipxe_script_carries_secrets_only_on_password_lines(p in common::params()) {
        let s = ipxe_script(&p, &IpxeOptions::default()).unwrap();
        prop_assert!(s.starts_with("#!ipxe\n"));
        let init_line = format!("set initiator-iqn {}\n", p.initiator_name);
        prop_assert!(s.contains(&init_line));
        let sanboot = s.lines().find(|l| l.starts_with("sanboot ")).unwrap();
        for t in p.targets() {
            prop_assert!(sanboot.contains(&root_path(t)));
        }
        for c in p.auth.initiator().into_iter().chain(p.auth.target()) {
            for line in s.lines().filter(|l| l.contains(c.secret.expose())) {
                prop_assert!(line.starts_with("set password ") || line.starts_with("set reverse-password "), "{}", line);
            }
            prop_assert!(!root_path(&p.primary).contains(c.secret.expose()));
        }
    }
}

fn canonical(a: IpAddr) -> IpAddr {
    a.to_canonical()
}
