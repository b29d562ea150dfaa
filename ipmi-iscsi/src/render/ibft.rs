//! iBFT (iSCSI Boot Firmware Table, ACPI signature `iBFT`, revision 1): encoder and
//! decoder.
//!
//! All integers little-endian; every structure starts 16-byte aligned; strings follow the
//! structures, NUL-terminated, referenced as `{u16 length without NUL, u16 offset}`
//! (offset 0 = absent); IP addresses are 16 bytes, IPv4 as `::ffff:a.b.c.d`.
//! ```text
//! off  size  ACPI header: "iBFT" | length (4) | revision = 1 | checksum | OEM ID (6) |
//!             OEM table ID (8) | OEM revision (4) | creator ID (4) | creator revision (4)
//! 36   12    reserved
//! 48   18    control    (id 1): header | extensions (2) | initiator, NIC0, target0,
//!             NIC1, target1 offsets (2 each)
//!      74    initiator  (id 2): header | iSNS IP | SLP IP | primary / secondary RADIUS IP |
//!             initiator name string
//!      102   NIC        (id 3): header | IP | prefix (1) | origin (1) | gateway | DNS 1 |
//!             DNS 2 | DHCP server | VLAN (2) | MAC (6) | PCI bus/dev/fn (2) | hostname
//!      54    target     (id 4): header | IP | port (2) | LUN (8, SAM) | CHAP type (1) |
//!             NIC index (1) | target name | CHAP name | CHAP secret | reverse CHAP name |
//!             reverse CHAP secret
//! header (6): id | version = 1 | length (2) | index | flags
//! ```
//! Linux (`drivers/firmware/iscsi_ibft.c`) refuses a table whose structures' header
//! lengths are not these exact sizes; the whole table sums to zero.

use std::net::{IpAddr, Ipv6Addr};

use crate::params::{AddressConfig, IscsiBootParams, Lun, Secret};

use super::RenderError;

/// ACPI header plus reserved bytes before the control structure.
pub const CONTROL_OFFSET: usize = 48;
/// Control structure size.
pub const CONTROL_LEN: usize = 18;
/// Initiator structure size.
pub const INITIATOR_LEN: usize = 74;
/// NIC structure size.
pub const NIC_LEN: usize = 102;
/// Target structure size.
pub const TARGET_LEN: usize = 54;
/// Structure alignment.
pub const ALIGN: usize = 16;

const ID_CONTROL: u8 = 1;
const ID_INITIATOR: u8 = 2;
const ID_NIC: u8 = 3;
const ID_TARGET: u8 = 4;

/// Structure flag: valid.
pub const FLAG_VALID: u8 = 0x01;
/// Structure flag: selected for boot (firmware boot selected).
pub const FLAG_BOOT: u8 = 0x02;
/// NIC flag: global (not link-local) address.
pub const FLAG_GLOBAL: u8 = 0x04;

/// NIC address origin (RFC 4293 `IpAddressOrigin`).
pub mod origin {
    /// Other.
    pub const OTHER: u8 = 0;
    /// Manual (static).
    pub const MANUAL: u8 = 1;
    /// DHCP.
    pub const DHCP: u8 = 3;
    /// Router advertisement.
    pub const RA: u8 = 4;
}

/// What the iBFT needs besides the parameters: the boot NIC's identity and table IDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IbftOptions {
    /// ACPI OEM ID.
    pub oem_id: [u8; 6],
    /// ACPI OEM table ID.
    pub oem_table_id: [u8; 8],
    /// Boot NIC MAC address.
    pub mac: [u8; 6],
    /// Boot NIC PCI bus/device/function (bus << 8 | dev << 3 | fn).
    pub pci_bdf: u16,
    /// Host name for the NIC structure.
    pub hostname: Option<String>,
    /// Address the NIC got from DHCP, when known (DHCP configurations only).
    pub dhcp_address: Option<(IpAddr, u8)>,
}

impl Default for IbftOptions {
    fn default() -> Self {
        Self {
            oem_id: *b"IPMIIS",
            oem_table_id: *b"IMMSIM  ",
            mac: [0; 6],
            pci_bdf: 0,
            hostname: None,
            dhcp_address: None,
        }
    }
}

/// A decoded NIC structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IbftNic {
    /// Structure index.
    pub index: u8,
    /// Flags.
    pub flags: u8,
    /// Address (`None` when all zero).
    pub ip: Option<IpAddr>,
    /// Prefix length.
    pub prefix_len: u8,
    /// Address origin.
    pub origin: u8,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// DNS servers.
    pub dns: [Option<IpAddr>; 2],
    /// DHCP server.
    pub dhcp: Option<IpAddr>,
    /// VLAN (0 = none).
    pub vlan: u16,
    /// MAC address.
    pub mac: [u8; 6],
    /// PCI bus/device/function.
    pub pci_bdf: u16,
    /// Host name.
    pub hostname: Option<String>,
}

/// A decoded target structure (secrets stay [`Secret`]s: Debug shows `***`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IbftTarget {
    /// Structure index.
    pub index: u8,
    /// Flags.
    pub flags: u8,
    /// Portal address.
    pub ip: Option<IpAddr>,
    /// Portal port.
    pub port: u16,
    /// LUN.
    pub lun: Lun,
    /// CHAP type: 0 none, 1 one-way, 2 mutual.
    pub chap_type: u8,
    /// Index of the NIC used.
    pub nic_index: u8,
    /// Target name.
    pub name: Option<String>,
    /// CHAP name.
    pub chap_name: Option<String>,
    /// CHAP secret.
    pub chap_secret: Option<Secret>,
    /// Reverse CHAP name.
    pub reverse_chap_name: Option<String>,
    /// Reverse CHAP secret.
    pub reverse_chap_secret: Option<Secret>,
}

/// A decoded iBFT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ibft {
    /// ACPI OEM ID.
    pub oem_id: [u8; 6],
    /// ACPI OEM table ID.
    pub oem_table_id: [u8; 8],
    /// Initiator structure flags (0 when absent).
    pub initiator_flags: u8,
    /// Initiator name.
    pub initiator_name: Option<String>,
    /// NIC0, NIC1 (present ones, in order).
    pub nics: Vec<IbftNic>,
    /// Target0, target1 (present ones, in order).
    pub targets: Vec<IbftTarget>,
}

fn ip16(ip: Option<&IpAddr>) -> [u8; 16] {
    match ip {
        None => [0; 16],
        Some(IpAddr::V4(a)) => a.to_ipv6_mapped().octets(),
        Some(IpAddr::V6(a)) => a.octets(),
    }
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

struct Builder {
    buf: Vec<u8>,
    strings: Vec<u8>,
    strings_at: usize,
}

impl Builder {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        self.put(at, &v.to_le_bytes());
    }

    fn header(
        &mut self,
        at: usize,
        id: u8,
        len: usize,
        index: u8,
        flags: u8,
    ) -> Result<(), RenderError> {
        let len = u16::try_from(len).map_err(|_| RenderError::TooLarge)?;
        self.put(at, &[id, 1]);
        self.put_u16(at + 2, len);
        self.put(at + 4, &[index, flags]);
        Ok(())
    }

    fn string(&mut self, at: usize, s: Option<&str>) -> Result<(), RenderError> {
        let Some(s) = s.filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        let off = self.strings_at + self.strings.len();
        let len = u16::try_from(s.len()).map_err(|_| RenderError::TooLarge)?;
        let off16 = u16::try_from(off).map_err(|_| RenderError::TooLarge)?;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.put_u16(at, len);
        self.put_u16(at + 2, off16);
        Ok(())
    }
}

/// Encodes the iBFT for `params` (one NIC, one or two targets, both via NIC 0).
///
/// # Errors
/// [`RenderError::Invalid`] for invalid parameters, [`RenderError::TooLarge`] when the
/// strings overflow 16-bit offsets.
pub fn ibft_table(params: &IscsiBootParams, opts: &IbftOptions) -> Result<Vec<u8>, RenderError> {
    params.validate()?;
    let initiator_at = align(CONTROL_OFFSET + CONTROL_LEN);
    let nic_at = align(initiator_at + INITIATOR_LEN);
    let target0_at = align(nic_at + NIC_LEN);
    let target1_at = params
        .secondary
        .as_ref()
        .map(|_| align(target0_at + TARGET_LEN));
    let end = align(target1_at.unwrap_or(target0_at) + TARGET_LEN);
    let mut b = Builder {
        buf: vec![0; end],
        strings: Vec::new(),
        strings_at: end,
    };

    // ACPI header (length and checksum patched at the end).
    b.put(0, b"iBFT");
    b.buf[8] = 1;
    b.put(10, &opts.oem_id);
    b.put(16, &opts.oem_table_id);

    b.header(CONTROL_OFFSET, ID_CONTROL, CONTROL_LEN, 0, 0)?;
    let off = |v: usize| u16::try_from(v).map_err(|_| RenderError::TooLarge);
    b.put_u16(CONTROL_OFFSET + 8, off(initiator_at)?);
    b.put_u16(CONTROL_OFFSET + 10, off(nic_at)?);
    b.put_u16(CONTROL_OFFSET + 12, off(target0_at)?);
    if let Some(t1) = target1_at {
        b.put_u16(CONTROL_OFFSET + 16, off(t1)?);
    }

    b.header(
        initiator_at,
        ID_INITIATOR,
        INITIATOR_LEN,
        0,
        FLAG_VALID | FLAG_BOOT,
    )?;
    b.string(initiator_at + 70, Some(params.initiator_name.as_str()))?;

    let (ip, prefix, org, gw, dns): (Option<IpAddr>, u8, u8, Option<IpAddr>, Vec<IpAddr>) =
        match &params.network.config {
            AddressConfig::Dhcp => {
                let (ip, p) = opts.dhcp_address.map_or((None, 0), |(a, p)| (Some(a), p));
                (ip, p, origin::DHCP, None, Vec::new())
            }
            AddressConfig::Static {
                address,
                prefix_len,
                gateway,
                dns,
            } => (
                Some(*address),
                *prefix_len,
                origin::MANUAL,
                *gateway,
                dns.clone(),
            ),
        };
    let global = ip.is_some_and(|a| match a {
        IpAddr::V4(v4) => !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    });
    let nic_flags = FLAG_VALID | FLAG_BOOT | if global { FLAG_GLOBAL } else { 0 };
    b.header(nic_at, ID_NIC, NIC_LEN, 0, nic_flags)?;
    b.put(nic_at + 6, &ip16(ip.as_ref()));
    b.put(nic_at + 22, &[prefix, org]);
    b.put(nic_at + 24, &ip16(gw.as_ref()));
    b.put(nic_at + 40, &ip16(dns.first()));
    b.put(nic_at + 56, &ip16(dns.get(1)));
    // DHCP server (72..88) unknown to the BMC: left zero.
    b.put_u16(nic_at + 88, params.network.vlan.unwrap_or(0));
    b.put(nic_at + 90, &opts.mac);
    b.put_u16(nic_at + 96, opts.pci_bdf);
    b.string(nic_at + 98, opts.hostname.as_deref())?;

    let chap_type = match (params.auth.initiator(), params.auth.target()) {
        (None, _) => 0,
        (Some(_), None) => 1,
        (Some(_), Some(_)) => 2,
    };
    for (i, (at, t)) in core::iter::once((target0_at, &params.primary))
        .chain(target1_at.zip(params.secondary.as_ref()))
        .enumerate()
    {
        let flags = if i == 0 {
            FLAG_VALID | FLAG_BOOT
        } else {
            FLAG_VALID
        };
        let index = u8::try_from(i).map_err(|_| RenderError::TooLarge)?;
        b.header(at, ID_TARGET, TARGET_LEN, index, flags)?;
        b.put(at + 6, &ip16(Some(&t.address)));
        b.put_u16(at + 22, t.port);
        b.put(at + 24, &t.lun.to_bytes());
        b.put(at + 32, &[chap_type, 0]);
        b.string(at + 34, Some(t.name.as_str()))?;
        let ini = params.auth.initiator();
        let tgt = params.auth.target();
        b.string(at + 38, ini.map(|c| c.user.as_str()))?;
        b.string(at + 42, ini.map(|c| c.secret.expose()))?;
        b.string(at + 46, tgt.map(|c| c.user.as_str()))?;
        b.string(at + 50, tgt.map(|c| c.secret.expose()))?;
    }

    let mut out = b.buf;
    out.extend_from_slice(&b.strings);
    let total = u32::try_from(out.len()).map_err(|_| RenderError::TooLarge)?;
    out[4..8].copy_from_slice(&total.to_le_bytes());
    let sum = out.iter().fold(0u8, |a, &x| a.wrapping_add(x));
    out[9] = 0u8.wrapping_sub(sum);
    Ok(out)
}

/// Why an iBFT does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IbftError {
    /// Fewer bytes than a field needs.
    #[error("ibft {what} needs {need} bytes at byte {at}, table has {have}")]
    Truncated {
        /// Field.
        what: &'static str,
        /// Offset.
        at: usize,
        /// Bytes needed from `at`.
        need: usize,
        /// Table length.
        have: usize,
    },
    /// Not an iBFT.
    #[error("signature is not iBFT")]
    Signature,
    /// ACPI revision other than 1.
    #[error("ibft revision {0} is not 1")]
    Revision(u8),
    /// Bytes do not sum to zero.
    #[error("ibft checksum does not sum to zero (sum {0:#04x})")]
    Checksum(u8),
    /// A structure header with the wrong id, version or exact length.
    #[error("ibft {what} header at byte {at} has {field} {found}, expected {expected}")]
    Header {
        /// Structure.
        what: &'static str,
        /// Offset.
        at: usize,
        /// Header field.
        field: &'static str,
        /// Value found.
        found: usize,
        /// Value required.
        expected: usize,
    },
    /// A string that is not NUL-terminated text.
    #[error("ibft {what} string at byte {at} is not nul-terminated text")]
    String {
        /// Field.
        what: &'static str,
        /// String offset.
        at: usize,
    },
    /// A secret string that is not a valid [`Secret`].
    #[error("ibft {what} is not a printable-ascii secret")]
    Secret {
        /// Field.
        what: &'static str,
    },
}

/// Borrowed view over a whole table whose declared length has been checked.
struct View<'a>(&'a [u8]);

impl<'a> View<'a> {
    fn bytes(&self, what: &'static str, at: usize, n: usize) -> Result<&'a [u8], IbftError> {
        self.0
            .get(at..)
            .and_then(|r| r.get(..n))
            .ok_or(IbftError::Truncated {
                what,
                at,
                need: n,
                have: self.0.len(),
            })
    }

    fn u8(&self, what: &'static str, at: usize) -> Result<u8, IbftError> {
        Ok(self.bytes(what, at, 1)?[0])
    }

    fn u16(&self, what: &'static str, at: usize) -> Result<u16, IbftError> {
        let b = self.bytes(what, at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn ip(&self, what: &'static str, at: usize) -> Result<Option<IpAddr>, IbftError> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.bytes(what, at, 16)?);
        if a == [0; 16] {
            return Ok(None);
        }
        let v6 = Ipv6Addr::from(a);
        Ok(Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)))
    }

    fn string(&self, what: &'static str, at: usize) -> Result<Option<&'a str>, IbftError> {
        let len = usize::from(self.u16(what, at)?);
        let off = usize::from(self.u16(what, at + 2)?);
        if off == 0 {
            return Ok(None);
        }
        let raw = self.bytes(what, off, len + 1)?;
        if raw[len] != 0 {
            return Err(IbftError::String { what, at: off });
        }
        core::str::from_utf8(&raw[..len])
            .map(Some)
            .map_err(|_| IbftError::String { what, at: off })
    }

    fn secret(&self, what: &'static str, at: usize) -> Result<Option<Secret>, IbftError> {
        self.string(what, at)?
            .map(|s| Secret::new(s).map_err(|_| IbftError::Secret { what }))
            .transpose()
    }

    fn header(
        &self,
        what: &'static str,
        at: usize,
        id: u8,
        len: usize,
    ) -> Result<(u8, u8), IbftError> {
        let h = self.bytes(what, at, 6)?;
        let check = |field: &'static str, found: usize, expected: usize| {
            if found == expected {
                Ok(())
            } else {
                Err(IbftError::Header {
                    what,
                    at,
                    field,
                    found,
                    expected,
                })
            }
        };
        check("id", usize::from(h[0]), usize::from(id))?;
        check("version", usize::from(h[1]), 1)?;
        check("length", usize::from(u16::from_le_bytes([h[2], h[3]])), len)?;
        // The whole structure must be inside the table.
        self.bytes(what, at, len)?;
        Ok((h[4], h[5]))
    }
}

/// Decodes an iBFT (e.g. from the memory iPXE published it in, starting at the signature).
/// Bytes after the declared table length are ignored.
///
/// # Errors
/// [`IbftError`] for every deviation Linux's `iscsi_ibft` would refuse, plus malformed
/// strings.
pub fn decode_ibft(bytes: &[u8]) -> Result<Ibft, IbftError> {
    let head = bytes.get(..36).ok_or(IbftError::Truncated {
        what: "acpi header",
        at: 0,
        need: 36,
        have: bytes.len(),
    })?;
    if &head[..4] != b"iBFT" {
        return Err(IbftError::Signature);
    }
    let declared = usize::try_from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]))
        .unwrap_or(usize::MAX);
    let table = bytes.get(..declared).ok_or(IbftError::Truncated {
        what: "table",
        at: 0,
        need: declared,
        have: bytes.len(),
    })?;
    if declared < CONTROL_OFFSET + CONTROL_LEN {
        return Err(IbftError::Truncated {
            what: "control structure",
            at: CONTROL_OFFSET,
            need: CONTROL_LEN,
            have: declared,
        });
    }
    if head[8] != 1 {
        return Err(IbftError::Revision(head[8]));
    }
    let sum = table.iter().fold(0u8, |a, &x| a.wrapping_add(x));
    if sum != 0 {
        return Err(IbftError::Checksum(sum));
    }
    let v = View(table);
    v.header("control", CONTROL_OFFSET, ID_CONTROL, CONTROL_LEN)?;
    let off = |i: usize| {
        v.u16("control offsets", CONTROL_OFFSET + 8 + 2 * i)
            .map(usize::from)
    };
    let (ini, nic0, tgt0, nic1, tgt1) = (off(0)?, off(1)?, off(2)?, off(3)?, off(4)?);
    let mut oem_id = [0u8; 6];
    oem_id.copy_from_slice(&head[10..16]);
    let mut oem_table_id = [0u8; 8];
    oem_table_id.copy_from_slice(&head[16..24]);
    let mut out = Ibft {
        oem_id,
        oem_table_id,
        initiator_flags: 0,
        initiator_name: None,
        nics: Vec::new(),
        targets: Vec::new(),
    };
    if ini != 0 {
        let (_, flags) = v.header("initiator", ini, ID_INITIATOR, INITIATOR_LEN)?;
        out.initiator_flags = flags;
        out.initiator_name = v.string("initiator name", ini + 70)?.map(str::to_owned);
    }
    for at in [nic0, nic1].into_iter().filter(|&a| a != 0) {
        let (index, flags) = v.header("nic", at, ID_NIC, NIC_LEN)?;
        let mut mac = [0u8; 6];
        mac.copy_from_slice(v.bytes("nic mac", at + 90, 6)?);
        out.nics.push(IbftNic {
            index,
            flags,
            ip: v.ip("nic ip", at + 6)?,
            prefix_len: v.u8("nic prefix", at + 22)?,
            origin: v.u8("nic origin", at + 23)?,
            gateway: v.ip("nic gateway", at + 24)?,
            dns: [v.ip("nic dns", at + 40)?, v.ip("nic dns", at + 56)?],
            dhcp: v.ip("nic dhcp", at + 72)?,
            vlan: v.u16("nic vlan", at + 88)?,
            mac,
            pci_bdf: v.u16("nic pci", at + 96)?,
            hostname: v.string("nic hostname", at + 98)?.map(str::to_owned),
        });
    }
    for at in [tgt0, tgt1].into_iter().filter(|&a| a != 0) {
        let (index, flags) = v.header("target", at, ID_TARGET, TARGET_LEN)?;
        let mut lun = [0u8; 8];
        lun.copy_from_slice(v.bytes("target lun", at + 24, 8)?);
        out.targets.push(IbftTarget {
            index,
            flags,
            ip: v.ip("target ip", at + 6)?,
            port: v.u16("target port", at + 22)?,
            lun: Lun::from_bytes(lun),
            chap_type: v.u8("chap type", at + 32)?,
            nic_index: v.u8("nic index", at + 33)?,
            name: v.string("target name", at + 34)?.map(str::to_owned),
            chap_name: v.string("chap name", at + 38)?.map(str::to_owned),
            chap_secret: v.secret("chap secret", at + 42)?,
            reverse_chap_name: v.string("reverse chap name", at + 46)?.map(str::to_owned),
            reverse_chap_secret: v.secret("reverse chap secret", at + 50)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{IscsiName, IscsiTarget};

    fn params() -> IscsiBootParams {
        IscsiBootParams::new(
            IscsiName::new("iqn.2024-01.org.example:node7").unwrap(),
            IscsiTarget {
                name: IscsiName::new("iqn.2024-01.org.example:boot").unwrap(),
                address: "10.0.2.2".parse().unwrap(),
                port: 3261,
                lun: Lun::new(1).unwrap(),
            },
        )
    }

    #[test]
    fn table_has_exact_structure_sizes_revision_1_and_zero_sum() {
        let t = ibft_table(&params(), &IbftOptions::default()).unwrap();
        assert_eq!(&t[..4], b"iBFT");
        assert_eq!(t[8], 1);
        assert_eq!(t.iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        assert_eq!(
            u32::from_le_bytes([t[4], t[5], t[6], t[7]]) as usize,
            t.len()
        );
        assert_eq!(t[48..52], [1, 1, 18, 0]);
        let ini = usize::from(u16::from_le_bytes([t[56], t[57]]));
        assert_eq!(ini % 16, 0);
        assert_eq!(t[ini..ini + 4], [2, 1, 74, 0]);
        let d = decode_ibft(&t).unwrap();
        assert_eq!(
            d.initiator_name.as_deref(),
            Some("iqn.2024-01.org.example:node7")
        );
        assert_eq!(d.targets[0].ip, Some("10.0.2.2".parse().unwrap()));
        assert_eq!(d.targets[0].port, 3261);
        assert_eq!(d.nics[0].origin, origin::DHCP);
    }

    #[test]
    fn decoder_rejects_bad_checksum_revision_and_lengths() {
        let t = ibft_table(&params(), &IbftOptions::default()).unwrap();
        let mut bad = t.clone();
        bad[20] ^= 1;
        assert!(matches!(decode_ibft(&bad), Err(IbftError::Checksum(_))));
        let mut bad = t.clone();
        bad[8] = 2;
        bad[9] = bad[9].wrapping_sub(1);
        assert_eq!(decode_ibft(&bad), Err(IbftError::Revision(2)));
        let mut bad = t.clone();
        bad[50] = 19; // control length
        bad[9] = bad[9].wrapping_sub(1);
        assert!(matches!(
            decode_ibft(&bad),
            Err(IbftError::Header {
                field: "length",
                ..
            })
        ));
        for n in 0..t.len() {
            assert!(decode_ibft(&t[..n]).is_err(), "prefix {n}");
        }
    }
}
