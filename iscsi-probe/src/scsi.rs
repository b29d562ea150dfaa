//! The few SCSI commands a probe needs: CDB builders and parameter-data views for REPORT LUNS,
//! INQUIRY and READ CAPACITY (10 and 16), plus sense data (SPC-4, SBC-3).

use crate::codes::{DeviceType, SenseKey};
use crate::error::DecodeError;

/// Operation code of REPORT LUNS (SPC-4 §6.33).
pub const REPORT_LUNS: u8 = 0xa0;
/// Operation code of INQUIRY (SPC-4 §6.4).
pub const INQUIRY: u8 = 0x12;
/// Operation code of READ CAPACITY(10) (SBC-3 §5.15).
pub const READ_CAPACITY_10: u8 = 0x25;
/// Operation code of SERVICE ACTION IN(16), which carries READ CAPACITY(16) (SBC-3 §5.16).
pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
/// Service action of READ CAPACITY(16).
pub const SA_READ_CAPACITY_16: u8 = 0x10;

/// REPORT LUNS CDB, SELECT REPORT 0 (SPC-4 §6.33.1).
///
/// ```text
/// byte 0: 0xA0 | 1: reserved | 2: SELECT REPORT | 3..6: reserved
/// 6..10: ALLOCATION LENGTH (>= 16) | 10: reserved | 11: CONTROL
/// ```
#[must_use]
pub fn report_luns_cdb(allocation_len: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = REPORT_LUNS;
    c[6..10].copy_from_slice(&allocation_len.to_be_bytes());
    c
}

/// Standard INQUIRY CDB (EVPD 0, SPC-4 §6.4.1).
///
/// ```text
/// byte 0: 0x12 | 1: EVPD=0 | 2: PAGE CODE=0 | 3..5: ALLOCATION LENGTH | 5: CONTROL
/// ```
#[must_use]
pub fn inquiry_cdb(allocation_len: u16) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = INQUIRY;
    c[3..5].copy_from_slice(&allocation_len.to_be_bytes());
    c
}

/// READ CAPACITY(10) CDB (SBC-3 §5.15.1): all fields zero.
#[must_use]
pub fn read_capacity10_cdb() -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = READ_CAPACITY_10;
    c
}

/// READ CAPACITY(16) CDB (SBC-3 §5.16.1).
///
/// ```text
/// byte 0: 0x9E | 1: SERVICE ACTION 0x10 | 2..10: LBA (0) | 10..14: ALLOCATION LENGTH
/// 14: PMI=0 | 15: CONTROL
/// ```
#[must_use]
pub fn read_capacity16_cdb(allocation_len: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = SERVICE_ACTION_IN_16;
    c[1] = SA_READ_CAPACITY_16;
    c[10..14].copy_from_slice(&allocation_len.to_be_bytes());
    c
}

/// An 8-byte logical unit number as REPORT LUNS lists it and the BHS carries it (SAM-5 §4.7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lun(pub [u8; 8]);

impl Lun {
    /// The single-level LUN for `n`: peripheral addressing below 256, flat space up to 16383.
    #[must_use]
    pub fn from_number(n: u16) -> Option<Self> {
        let [hi, lo] = n.to_be_bytes();
        match n {
            0..=255 => Some(Self([0, lo, 0, 0, 0, 0, 0, 0])),
            256..=0x3fff => Some(Self([0x40 | hi, lo, 0, 0, 0, 0, 0, 0])),
            _ => None,
        }
    }

    /// The LUN number for single-level peripheral (method 00b, bus 0) and flat space (01b)
    /// addressing; `None` for other methods or multi-level LUNs.
    #[must_use]
    pub fn number(&self) -> Option<u16> {
        let b = self.0;
        if b[2..] != [0; 6] {
            return None;
        }
        match b[0] >> 6 {
            0b00 if b[0] == 0 => Some(u16::from(b[1])),
            0b01 => Some(u16::from(b[0] & 0x3f) << 8 | u16::from(b[1])),
            _ => None,
        }
    }
}

impl core::fmt::Debug for Lun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.number() {
            Some(n) => write!(f, "Lun({n})"),
            None => write!(f, "Lun({:02x?})", self.0),
        }
    }
}

/// REPORT LUNS parameter data (SPC-4 §6.33.2).
///
/// ```text
/// 0..4: LUN LIST LENGTH (n-7) | 4..8: reserved | 8..: LUN entries, 8 bytes each
/// ```
///
/// Invariant: the buffer has the 8-byte header; entries are read only from what is present, so a
/// list cut short by the allocation length is reported by [`LunList::is_complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LunList<'a> {
    buf: &'a [u8],
    declared: usize,
}

impl<'a> LunList<'a> {
    /// Wraps REPORT LUNS parameter data.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] under 8 bytes; [`DecodeError::BadLength`] when LUN LIST LENGTH
    /// is not a multiple of 8.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let Some(h) = buf.get(..8) else {
            return Err(DecodeError::Truncated {
                what: "REPORT LUNS header",
                at: 0,
                needed: 8,
                available: buf.len(),
            });
        };
        let declared =
            usize::try_from(u32::from_be_bytes([h[0], h[1], h[2], h[3]])).map_err(|_| {
                DecodeError::BadField {
                    field: "LUN LIST LENGTH",
                    at: 0,
                }
            })?;
        if declared % 8 != 0 {
            return Err(DecodeError::BadLength {
                field: "LUN LIST LENGTH",
                at: 0,
                declared,
                available: buf.len() - 8,
            });
        }
        Ok(Self { buf, declared })
    }

    /// LUN LIST LENGTH in bytes, as declared.
    #[must_use]
    pub fn declared_len(&self) -> usize {
        self.declared
    }

    /// Whether every declared entry is present.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.buf.len() - 8 >= self.declared
    }

    /// The entries present (at most the declared number).
    pub fn iter(&self) -> impl Iterator<Item = Lun> + 'a {
        let present = (self.buf.len() - 8).min(self.declared);
        self.buf[8..8 + present].chunks_exact(8).map(|c| {
            let mut l = [0u8; 8];
            l.copy_from_slice(c);
            Lun(l)
        })
    }
}

/// Standard INQUIRY data (SPC-4 §6.4.2).
///
/// ```text
/// 0: PERIPHERAL QUALIFIER (3 bits) | PERIPHERAL DEVICE TYPE (5 bits)
/// 1: RMB | ... 2: VERSION | 3: flags | 4: ADDITIONAL LENGTH (n-4) | 5..8: flags
/// 8..16: T10 VENDOR IDENTIFICATION | 16..32: PRODUCT IDENTIFICATION
/// 32..36: PRODUCT REVISION LEVEL | ...
/// ```
///
/// Invariant: at least 5 bytes; the identification strings are read only if present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InquiryData<'a> {
    buf: &'a [u8],
}

fn ascii_field(b: Option<&[u8]>) -> &[u8] {
    let b = b.unwrap_or(&[]);
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .map_or(0, |i| i + 1);
    &b[..end]
}

impl<'a> InquiryData<'a> {
    /// Wraps standard INQUIRY data.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] under 5 bytes.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < 5 {
            return Err(DecodeError::Truncated {
                what: "standard INQUIRY data",
                at: 0,
                needed: 5,
                available: buf.len(),
            });
        }
        Ok(Self { buf })
    }

    /// Peripheral qualifier: 0 connected, 1 capable but not connected, 3 no device.
    #[must_use]
    pub fn qualifier(&self) -> u8 {
        self.buf[0] >> 5
    }

    /// Peripheral device type.
    #[must_use]
    pub fn device_type(&self) -> DeviceType {
        DeviceType(self.buf[0] & 0x1f)
    }

    /// RMB: removable medium.
    #[must_use]
    pub fn removable(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// VERSION (claimed SPC standard).
    #[must_use]
    pub fn version(&self) -> u8 {
        self.buf[2]
    }

    /// T10 vendor identification, trailing spaces trimmed (empty if absent).
    #[must_use]
    pub fn vendor(&self) -> &'a [u8] {
        ascii_field(self.buf.get(8..16))
    }

    /// Product identification, trailing spaces trimmed.
    #[must_use]
    pub fn product(&self) -> &'a [u8] {
        ascii_field(self.buf.get(16..32))
    }

    /// Product revision level, trailing spaces trimmed.
    #[must_use]
    pub fn revision(&self) -> &'a [u8] {
        ascii_field(self.buf.get(32..36))
    }
}

/// Block count and size from READ CAPACITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capacity {
    /// Address of the last logical block.
    pub last_lba: u64,
    /// Logical block length in bytes.
    pub block_len: u32,
}

impl Capacity {
    /// Number of logical blocks (`last_lba + 1`), `None` on overflow.
    #[must_use]
    pub fn blocks(&self) -> Option<u64> {
        self.last_lba.checked_add(1)
    }

    /// Size in bytes, `None` on overflow.
    #[must_use]
    pub fn bytes(&self) -> Option<u64> {
        self.blocks()?.checked_mul(u64::from(self.block_len))
    }

    /// READ CAPACITY(10) parameter data (SBC-3 §5.15.2).
    ///
    /// ```text
    /// 0..4: RETURNED LOGICAL BLOCK ADDRESS | 4..8: LOGICAL BLOCK LENGTH IN BYTES
    /// ```
    /// A returned address of 0xFFFFFFFF means "too large, use READ CAPACITY(16)"; it is
    /// returned as is (see [`Capacity::needs_16`]).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] under 8 bytes.
    pub fn parse10(buf: &[u8]) -> Result<Self, DecodeError> {
        let Some(b) = buf.get(..8) else {
            return Err(DecodeError::Truncated {
                what: "READ CAPACITY(10) data",
                at: 0,
                needed: 8,
                available: buf.len(),
            });
        };
        Ok(Self {
            last_lba: u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            block_len: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Whether a READ CAPACITY(10) answer says the device is too large for it.
    #[must_use]
    pub fn needs_16(&self) -> bool {
        self.last_lba == u64::from(u32::MAX)
    }

    /// READ CAPACITY(16) parameter data (SBC-3 §5.16.2).
    ///
    /// ```text
    /// 0..8: RETURNED LOGICAL BLOCK ADDRESS | 8..12: LOGICAL BLOCK LENGTH IN BYTES
    /// 12: P_TYPE, PROT_EN | 13: P_I_EXPONENT, LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT
    /// 14..16: LBPME, LBPRZ, LOWEST ALIGNED LBA | 16..32: reserved
    /// ```
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] under 12 bytes.
    pub fn parse16(buf: &[u8]) -> Result<Self, DecodeError> {
        let Some(b) = buf.get(..12) else {
            return Err(DecodeError::Truncated {
                what: "READ CAPACITY(16) data",
                at: 0,
                needed: 12,
                available: buf.len(),
            });
        };
        let mut lba = [0u8; 8];
        lba.copy_from_slice(&b[..8]);
        Ok(Self {
            last_lba: u64::from_be_bytes(lba),
            block_len: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }
}

/// Sense data: key, additional sense code and qualifier (SPC-4 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sense {
    /// Sense key.
    pub key: SenseKey,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
}

impl Sense {
    /// Parses fixed (0x70/0x71) or descriptor (0x72/0x73) format sense data.
    ///
    /// ```text
    /// fixed:      0: RESPONSE CODE | 2: SENSE KEY (low 4 bits) | 7: ADDITIONAL LENGTH
    ///             12: ASC | 13: ASCQ
    /// descriptor: 0: RESPONSE CODE | 1: SENSE KEY | 2: ASC | 3: ASCQ
    /// ```
    ///
    /// # Errors
    /// [`DecodeError::BadField`] for another response code, [`DecodeError::Truncated`] when the
    /// fields are missing.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let code = buf.first().map(|c| c & 0x7f);
        let (need, key_at, asc_at) = match code {
            Some(0x70 | 0x71) => (3, 2, 12),
            Some(0x72 | 0x73) => (4, 1, 2),
            _ => {
                return Err(DecodeError::BadField {
                    field: "sense response code",
                    at: 0,
                });
            }
        };
        if buf.len() < need {
            return Err(DecodeError::Truncated {
                what: "sense data",
                at: 0,
                needed: need,
                available: buf.len(),
            });
        }
        // Fixed format may be cut before ASC/ASCQ (ADDITIONAL LENGTH < 6): treat them as 0.
        Ok(Self {
            key: SenseKey(buf[key_at] & 0x0f),
            asc: buf.get(asc_at).copied().unwrap_or(0),
            ascq: buf.get(asc_at + 1).copied().unwrap_or(0),
        })
    }
}

impl core::fmt::Display for Sense {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} asc {:#04x} ascq {:#04x}",
            self.key, self.asc, self.ascq
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lun_numbers_use_peripheral_then_flat_addressing() {
        assert_eq!(Lun::from_number(1).unwrap().0, [0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Lun::from_number(300).unwrap().0,
            [0x41, 0x2c, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Lun::from_number(300).unwrap().number(), Some(300));
        assert_eq!(Lun([0x80, 1, 0, 0, 0, 0, 0, 0]).number(), None);
    }

    #[test]
    fn report_luns_list_cut_short_is_incomplete_not_an_error() {
        let mut d = vec![0, 0, 0, 24, 0, 0, 0, 0];
        d.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        let l = LunList::parse(&d).unwrap();
        assert!(!l.is_complete());
        assert_eq!(
            l.iter().filter_map(|l| l.number()).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(LunList::parse(&[0, 0, 0, 9, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn read_capacity_16_gives_bytes() {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&(65_535u64).to_be_bytes());
        d[8..12].copy_from_slice(&512u32.to_be_bytes());
        let c = Capacity::parse16(&d).unwrap();
        assert_eq!(c.bytes(), Some(32 * 1024 * 1024));
        assert_eq!(
            Capacity {
                last_lba: u64::MAX,
                block_len: 512
            }
            .bytes(),
            None
        );
    }

    #[test]
    fn sense_fixed_and_descriptor_formats() {
        let mut fixed = [0u8; 18];
        fixed[0] = 0x70;
        fixed[2] = 0x06;
        fixed[7] = 10;
        fixed[12] = 0x29;
        let s = Sense::parse(&fixed).unwrap();
        assert_eq!((s.key, s.asc, s.ascq), (SenseKey::UNIT_ATTENTION, 0x29, 0));
        let d = Sense::parse(&[0x72, 0x05, 0x20, 0x00]).unwrap();
        assert_eq!(d.key, SenseKey::ILLEGAL_REQUEST);
        assert!(Sense::parse(&[0x00, 0x05]).is_err());
    }

    #[test]
    fn inquiry_strings_are_trimmed() {
        let mut d = [b' '; 36];
        d[0] = 0x00;
        d[4] = 31;
        d[8..11].copy_from_slice(b"IET");
        d[16..20].copy_from_slice(b"VIRT");
        let i = InquiryData::parse(&d).unwrap();
        assert_eq!(i.vendor(), b"IET");
        assert_eq!(i.product(), b"VIRT");
        assert_eq!(i.device_type(), DeviceType::DIRECT_ACCESS);
        assert!(InquiryData::parse(&[0; 4]).is_err());
    }
}
