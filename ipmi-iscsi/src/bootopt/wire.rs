//! Field codecs shared by the mailbox payload and the OEM records: a bounded reader, the
//! address/portal/network records, CRC-16.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BufMut;

use crate::params::{AddressConfig, InitiatorNetwork, IscsiName, IscsiTarget, Lun, ParamsError};

use super::error::{DecodeError, EncodeError};

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor).
pub(crate) fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A cursor that never reads past its slice; offsets are reported relative to `base`.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        let out = self
            .buf
            .get(self.pos..)
            .and_then(|rest| rest.get(..n))
            .ok_or(DecodeError::Truncated {
                what,
                at: self.offset(),
                need: n,
                have: self.remaining(),
            })?;
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(what, 1)?[0])
    }

    pub(crate) fn u16_le(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(what, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// A one-byte length, then that many bytes.
    pub(crate) fn str8(&mut self, what: &'static str) -> Result<(usize, &'a [u8]), DecodeError> {
        let at = self.offset();
        let len = self.u8(what)?;
        Ok((at, self.take(what, usize::from(len))?))
    }

    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::Trailing {
                what,
                at: self.offset(),
                extra: self.remaining(),
            })
        }
    }
}

pub(crate) fn text<'a>(
    what: &'static str,
    at: usize,
    bytes: &'a [u8],
) -> Result<&'a str, DecodeError> {
    core::str::from_utf8(bytes).map_err(|e| DecodeError::Value {
        what,
        at: at + e.valid_up_to(),
        value: bytes.get(e.valid_up_to()).copied().unwrap_or(0),
    })
}

pub(crate) fn name(what: &'static str, at: usize, bytes: &[u8]) -> Result<IscsiName, DecodeError> {
    IscsiName::new(text(what, at, bytes)?).map_err(|source| DecodeError::Params {
        what,
        at,
        source,
    })
}

pub(crate) fn put_str8(dst: &mut Vec<u8>, what: &'static str, s: &[u8]) -> Result<(), EncodeError> {
    let len = u8::try_from(s.len()).map_err(|_| EncodeError::TooLong {
        what,
        len: s.len(),
        max: 255,
    })?;
    dst.put_u8(len);
    dst.put_slice(s);
    Ok(())
}

/// `ip`: family byte 4 then 4 bytes, or 6 then 16 bytes. `ip?`: also 0 = absent.
pub(crate) fn put_ip(dst: &mut Vec<u8>, ip: Option<&IpAddr>) {
    match ip {
        None => dst.put_u8(0),
        Some(IpAddr::V4(a)) => {
            dst.put_u8(4);
            dst.put_slice(&a.octets());
        }
        Some(IpAddr::V6(a)) => {
            dst.put_u8(6);
            dst.put_slice(&a.octets());
        }
    }
}

pub(crate) fn get_ip(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<Option<IpAddr>, DecodeError> {
    let at = r.offset();
    match r.u8(what)? {
        0 => Ok(None),
        4 => {
            let b = r.take(what, 4)?;
            Ok(Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))))
        }
        6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(r.take(what, 16)?);
            Ok(Some(IpAddr::V6(Ipv6Addr::from(a))))
        }
        value => Err(DecodeError::Value { what, at, value }),
    }
}

fn required_ip(r: &mut Reader<'_>, what: &'static str) -> Result<IpAddr, DecodeError> {
    let at = r.offset();
    get_ip(r, what)?.ok_or(DecodeError::Value { what, at, value: 0 })
}

/// Portal record: `ip | port u16 LE | LUN (8, SAM)`.
pub(crate) fn put_portal(dst: &mut Vec<u8>, t: &IscsiTarget) {
    put_ip(dst, Some(&t.address));
    dst.put_u16_le(t.port);
    dst.put_slice(&t.lun.to_bytes());
}

pub(crate) fn get_portal(r: &mut Reader<'_>) -> Result<(IpAddr, u16, Lun), DecodeError> {
    let ip = required_ip(r, "target address")?;
    let port = r.u16_le("target port")?;
    let mut lun = [0u8; 8];
    lun.copy_from_slice(r.take("target lun", 8)?);
    Ok((ip, port, Lun::from_bytes(lun)))
}

pub(crate) fn target(name: IscsiName, (address, port, lun): (IpAddr, u16, Lun)) -> IscsiTarget {
    IscsiTarget {
        name,
        address,
        port,
        lun,
    }
}

const NET_STATIC: u8 = 0x01;
const NET_VLAN: u8 = 0x02;

/// Network record:
/// `flags (bit0 static, bit1 VLAN) | [VLAN u16 LE] | [static: ip, prefix, ip? gateway,
/// DNS count (0..=2), ip × count]`.
pub(crate) fn put_network(dst: &mut Vec<u8>, net: &InitiatorNetwork) -> Result<(), EncodeError> {
    let is_static = matches!(net.config, AddressConfig::Static { .. });
    dst.put_u8(
        if is_static { NET_STATIC } else { 0 } | if net.vlan.is_some() { NET_VLAN } else { 0 },
    );
    if let Some(v) = net.vlan {
        dst.put_u16_le(v);
    }
    if let AddressConfig::Static {
        address,
        prefix_len,
        gateway,
        dns,
    } = &net.config
    {
        put_ip(dst, Some(address));
        dst.put_u8(*prefix_len);
        put_ip(dst, gateway.as_ref());
        let count =
            u8::try_from(dns.len())
                .ok()
                .filter(|&c| c <= 2)
                .ok_or(EncodeError::Invalid(ParamsError::TooManyDns {
                    count: dns.len(),
                }))?;
        dst.put_u8(count);
        for d in dns {
            put_ip(dst, Some(d));
        }
    }
    Ok(())
}

pub(crate) fn get_network(r: &mut Reader<'_>) -> Result<InitiatorNetwork, DecodeError> {
    let at = r.offset();
    let flags = r.u8("network flags")?;
    if flags & !(NET_STATIC | NET_VLAN) != 0 {
        return Err(DecodeError::Value {
            what: "network flags",
            at,
            value: flags,
        });
    }
    let vlan = if flags & NET_VLAN != 0 {
        Some(r.u16_le("vlan")?)
    } else {
        None
    };
    let config = if flags & NET_STATIC != 0 {
        let address = required_ip(r, "initiator address")?;
        let prefix_len = r.u8("prefix length")?;
        let gateway = get_ip(r, "gateway")?;
        let at = r.offset();
        let count = r.u8("dns count")?;
        if count > 2 {
            return Err(DecodeError::DeclaredLength {
                what: "dns count",
                at,
                declared: usize::from(count),
                min: 0,
                max: 2,
            });
        }
        let mut dns = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            dns.push(required_ip(r, "dns server")?);
        }
        AddressConfig::Static {
            address,
            prefix_len,
            gateway,
            dns,
        }
    } else {
        AddressConfig::Dhcp
    };
    Ok(InitiatorNetwork { config, vlan })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_ccitt_false_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29b1);
    }
}
