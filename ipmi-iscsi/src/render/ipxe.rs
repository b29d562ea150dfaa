//! iPXE script: network set-up, initiator name, CHAP credentials and `sanboot`.
//!
//! ```text
//! #!ipxe
//! vcreate --tag 120 net0                         (VLAN only)
//! isset ${net0/ip} || dhcp net0                  (DHCP)   | set net0/ip …, ifopen (static)
//! set initiator-iqn iqn.2024-01.org.example:node7
//! set username node7                             (CHAP)
//! set password ************                      (CHAP)
//! set reverse-username disk                      (mutual CHAP)
//! set reverse-password ************              (mutual CHAP)
//! sanboot [--filename F] iscsi:<primary> [iscsi:<secondary>]
//! ```
//! iPXE expands `${…}` and splits arguments on white space, so values containing white
//! space, `$`, quotes or `\` are refused ([`RenderError::Unrepresentable`]) rather than
//! mangled. Secrets appear in the script (iPXE needs them) and nowhere else.

use core::fmt::Write as _;
use std::net::IpAddr;

use crate::params::{AddressConfig, IscsiBootParams};

use super::RenderError;
use super::root_path::root_path;

/// Options of the iPXE renderer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpxeOptions {
    /// iPXE network device to configure (default `net0`).
    pub interface: String,
    /// `sanboot --filename` (UEFI: the loader inside the SAN disk, e.g. a distro path).
    pub sanboot_filename: Option<String>,
    /// Configure the network (DHCP only when the interface has no address yet, or the
    /// static settings); false leaves the interface as the script found it.
    pub configure_network: bool,
}

impl Default for IpxeOptions {
    fn default() -> Self {
        Self {
            interface: "net0".into(),
            sanboot_filename: None,
            configure_network: true,
        }
    }
}

fn checked<'a>(field: &'static str, value: &'a str) -> Result<&'a str, RenderError> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && !b"$\"'\\".contains(&b));
    if ok {
        Ok(value)
    } else {
        Err(RenderError::Unrepresentable {
            field,
            artefact: "ipxe script",
        })
    }
}

fn netmask_v4(prefix: u8) -> std::net::Ipv4Addr {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    std::net::Ipv4Addr::from(bits)
}

/// Renders the iPXE script for `params`.
///
/// # Errors
/// [`RenderError::Invalid`] for invalid parameters, [`RenderError::Unrepresentable`] for a
/// value iPXE's command line cannot carry.
pub fn ipxe_script(params: &IscsiBootParams, opts: &IpxeOptions) -> Result<String, RenderError> {
    params.validate()?;
    let base = checked("interface", &opts.interface)?;
    let mut s = String::from("#!ipxe\n");
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let iface = match params.network.vlan {
        Some(tag) if opts.configure_network => {
            let _ = writeln!(s, "vcreate --tag {tag} {base}");
            format!("{base}-{tag}")
        }
        _ => base.to_owned(),
    };
    if opts.configure_network {
        match &params.network.config {
            AddressConfig::Dhcp => {
                let _ = writeln!(s, "isset ${{{iface}/ip}} || dhcp {iface}");
            }
            AddressConfig::Static {
                address,
                prefix_len,
                gateway,
                dns,
            } => {
                match address {
                    IpAddr::V4(a) => {
                        let _ = writeln!(s, "set {iface}/ip {a}");
                        let _ = writeln!(s, "set {iface}/netmask {}", netmask_v4(*prefix_len));
                        if let Some(g) = gateway {
                            let _ = writeln!(s, "set {iface}/gateway {g}");
                        }
                        if let Some(d) = dns.first() {
                            let _ = writeln!(s, "set dns {d}");
                        }
                    }
                    IpAddr::V6(a) => {
                        let _ = writeln!(s, "set {iface}/ip6 {a}");
                        let _ = writeln!(s, "set {iface}/len6 {prefix_len}");
                        if let Some(g) = gateway {
                            let _ = writeln!(s, "set {iface}/gateway6 {g}");
                        }
                        if let Some(d) = dns.first() {
                            let _ = writeln!(s, "set dns6 {d}");
                        }
                    }
                }
                let _ = writeln!(s, "ifopen {iface}");
            }
        }
    }
    let _ = writeln!(s, "set initiator-iqn {}", params.initiator_name);
    if let Some(c) = params.auth.initiator() {
        let _ = writeln!(s, "set username {}", checked("chap user", &c.user)?);
        let _ = writeln!(
            s,
            "set password {}",
            checked("chap secret", c.secret.expose())?
        );
    }
    if let Some(c) = params.auth.target() {
        let _ = writeln!(
            s,
            "set reverse-username {}",
            checked("target chap user", &c.user)?
        );
        let _ = writeln!(
            s,
            "set reverse-password {}",
            checked("target chap secret", c.secret.expose())?
        );
    }
    s.push_str("sanboot");
    if let Some(f) = &opts.sanboot_filename {
        let _ = write!(s, " --filename {}", checked("sanboot filename", f)?);
    }
    for t in params.targets() {
        let _ = write!(s, " {}", root_path(t));
    }
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Authentication, ChapCredentials, IscsiName, IscsiTarget, Lun, Secret};

    fn params() -> IscsiBootParams {
        let mut p = IscsiBootParams::new(
            IscsiName::new("iqn.2024-01.org.example:node7").unwrap(),
            IscsiTarget {
                name: IscsiName::new("iqn.2024-01.org.example:boot").unwrap(),
                address: "10.0.2.2".parse().unwrap(),
                port: 3261,
                lun: Lun::new(1).unwrap(),
            },
        );
        p.auth = Authentication::Chap {
            initiator: ChapCredentials {
                user: "node7".into(),
                secret: Secret::new("s3cretS3cret").unwrap(),
            },
            allow_any_secret_length: false,
        };
        p
    }

    #[test]
    fn dhcp_chap_script_has_exact_lines() {
        let s = ipxe_script(&params(), &IpxeOptions::default()).unwrap();
        assert_eq!(
            s,
            "#!ipxe\n\
             isset ${net0/ip} || dhcp net0\n\
             set initiator-iqn iqn.2024-01.org.example:node7\n\
             set username node7\n\
             set password s3cretS3cret\n\
             sanboot iscsi:10.0.2.2::3261:1:iqn.2024-01.org.example:boot\n"
        );
    }

    #[test]
    fn static_vlan_script_configures_the_vlan_device() {
        let mut p = params();
        p.network = crate::params::InitiatorNetwork {
            config: AddressConfig::Static {
                address: "192.0.2.5".parse().unwrap(),
                prefix_len: 24,
                gateway: Some("192.0.2.1".parse().unwrap()),
                dns: vec!["192.0.2.53".parse().unwrap()],
            },
            vlan: Some(120),
        };
        let s = ipxe_script(&p, &IpxeOptions::default()).unwrap();
        assert!(s.contains("vcreate --tag 120 net0\n"));
        assert!(s.contains("set net0-120/netmask 255.255.255.0\n"));
        assert!(s.contains("ifopen net0-120\n"));
    }

    #[test]
    fn refuses_secrets_ipxe_would_expand() {
        let mut p = params();
        p.auth = Authentication::Chap {
            initiator: ChapCredentials {
                user: "node7".into(),
                secret: Secret::new("abc${x}defghij").unwrap(),
            },
            allow_any_secret_length: false,
        };
        assert!(matches!(
            ipxe_script(&p, &IpxeOptions::default()),
            Err(RenderError::Unrepresentable {
                field: "chap secret",
                ..
            })
        ));
    }
}
