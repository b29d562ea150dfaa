//! [`Lun`]: the 8-byte SAM logical unit number.

use core::fmt;
use core::str::FromStr;

#[cfg(feature = "serde")]
use serde::de::{self, Visitor};
#[cfg(feature = "serde")]
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ParamsError;

/// Highest LUN a plain number can name: SAM-2 flat space addressing has 14 bits.
pub const MAX_LUN_NUMBER: u16 = 0x3fff;

/// An 8-byte SAM LUN, stored exactly as it travels (iSCSI BHS bytes 8..16, iBFT target LUN).
///
/// ```text
/// byte 0      byte 1      bytes 2..8
/// +-----------+-----------+-----------------+
/// |AM | bus/hi|  LUN / lo | 2nd..4th level  |   AM (bits 7:6): 00 peripheral, 01 flat space
/// +-----------+-----------+-----------------+
/// ```
/// [`Lun::new`] picks peripheral addressing below 256 (what Linux and tgtd report as "LUN n")
/// and flat space addressing up to 16383 (SAM-2 §4.9.6/§4.9.7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Lun([u8; 8]);

impl Lun {
    /// LUN 0.
    pub const ZERO: Lun = Lun([0; 8]);

    /// The SAM encoding of LUN `number`.
    ///
    /// # Errors
    /// [`ParamsError::LunRange`] above 16383.
    pub fn new(number: u16) -> Result<Self, ParamsError> {
        let [hi, lo] = number.to_be_bytes();
        match number {
            0..=0xff => Ok(Self([0, lo, 0, 0, 0, 0, 0, 0])),
            0x100..=MAX_LUN_NUMBER => Ok(Self([0x40 | hi, lo, 0, 0, 0, 0, 0, 0])),
            _ => Err(ParamsError::LunRange {
                value: u64::from(number),
                max: MAX_LUN_NUMBER,
            }),
        }
    }

    /// Any 8-byte LUN, verbatim.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The eight wire bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// The number when this is a single-level peripheral or flat-space LUN.
    pub fn number(self) -> Option<u16> {
        let b = self.0;
        if b[2..].iter().any(|&x| x != 0) {
            return None;
        }
        match b[0] >> 6 {
            0 if b[0] == 0 => Some(u16::from(b[1])),
            1 => Some(u16::from_be_bytes([b[0] & 0x3f, b[1]])),
            _ => None,
        }
    }

    /// iPXE / RFC 4173 text form: up to four 16-bit hexadecimal groups joined by `-`,
    /// trailing zero groups left out (`1`, `4001`, `0-0-0-1`); LUN 0 is `0`.
    pub fn to_hex_groups(self) -> String {
        let groups: [u16; 4] =
            core::array::from_fn(|i| u16::from_be_bytes([self.0[2 * i], self.0[2 * i + 1]]));
        let used = groups.iter().rposition(|&g| g != 0).map_or(1, |i| i + 1);
        groups[..used]
            .iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Parses the hex-group form (`""` is LUN 0, as in iPXE's `scsi_parse_lun`).
    ///
    /// # Errors
    /// [`ParamsError::LunText`] for more than four groups, a group over 4 hex digits, or a
    /// non-hex character.
    pub fn parse_hex_groups(text: &str) -> Result<Self, ParamsError> {
        let mut out = [0u8; 8];
        if text.is_empty() {
            return Ok(Self(out));
        }
        let bad = || ParamsError::LunText {
            text: text.chars().take(40).collect(),
        };
        for (i, group) in text.split('-').enumerate() {
            let slot = out.get_mut(2 * i..2 * i + 2).ok_or_else(bad)?;
            if group.is_empty() || group.len() > 4 || !group.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(bad());
            }
            let v = u16::from_str_radix(group, 16).map_err(|_| bad())?;
            slot.copy_from_slice(&v.to_be_bytes());
        }
        Ok(Self(out))
    }
}

/// The LUN numbered `number` (checked: a boot configuration's `u64` LUN converts with one `?`).
impl TryFrom<u64> for Lun {
    type Error = ParamsError;
    fn try_from(number: u64) -> Result<Self, Self::Error> {
        u16::try_from(number)
            .map_err(|_| ParamsError::LunRange {
                value: number,
                max: MAX_LUN_NUMBER,
            })
            .and_then(Lun::new)
    }
}

/// The LUN numbered `number` (checked, see [`Lun::new`]).
impl TryFrom<u16> for Lun {
    type Error = ParamsError;
    fn try_from(number: u16) -> Result<Self, Self::Error> {
        Lun::new(number)
    }
}

impl fmt::Debug for Lun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number() {
            Some(n) => write!(f, "Lun({n})"),
            None => write!(f, "Lun({})", self.to_hex_groups()),
        }
    }
}

impl fmt::Display for Lun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number() {
            Some(n) => write!(f, "{n}"),
            None => f.write_str(&self.to_hex_groups()),
        }
    }
}

impl FromStr for Lun {
    type Err = ParamsError;
    /// Decimal numbers (`"5"`) name a LUN number; anything with a `-` is the hex-group form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.contains('-')
            && let Ok(n) = s.parse::<u64>()
        {
            return Lun::try_from(n);
        }
        Lun::parse_hex_groups(s)
    }
}

/// serde: a plain integer for numbered LUNs, the hex-group string otherwise.
#[cfg(feature = "serde")]
impl Serialize for Lun {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.number() {
            Some(n) if Lun::new(n).ok() == Some(*self) => serializer.serialize_u16(n),
            _ => serializer.serialize_str(&self.to_hex_groups()),
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> Deserialize<'de> for Lun {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Lun;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a LUN number 0..=16383 or a hex-group LUN like \"0-0-0-1\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lun, E> {
                Lun::try_from(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lun, E> {
                let v = u64::try_from(v).map_err(|_| E::custom("a LUN is never negative"))?;
                self.visit_u64(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Lun, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_use_peripheral_then_flat_addressing() {
        assert_eq!(Lun::new(1).unwrap().to_bytes(), [0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Lun::new(0x123).unwrap().to_bytes(),
            [0x41, 0x23, 0, 0, 0, 0, 0, 0]
        );
        assert!(matches!(
            Lun::new(0x4000),
            Err(ParamsError::LunRange { .. })
        ));
    }

    #[test]
    fn try_from_u64_checks_the_same_range_as_new() {
        assert_eq!(Lun::try_from(16383u64).unwrap(), Lun::new(16383).unwrap());
        for bad in [16384u64, 65536, u64::MAX] {
            assert_eq!(
                Lun::try_from(bad),
                Err(ParamsError::LunRange {
                    value: bad,
                    max: MAX_LUN_NUMBER
                })
            );
        }
    }

    #[test]
    fn hex_groups_match_ipxe_scsi_parse_lun() {
        // digest §4.2: "f0" is 0x00F0 in the first group, not decimal.
        assert_eq!(
            Lun::parse_hex_groups("f0").unwrap().to_bytes(),
            [0, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Lun::parse_hex_groups("").unwrap(), Lun::ZERO);
        assert_eq!(Lun::new(1).unwrap().to_hex_groups(), "1");
        assert_eq!(Lun::ZERO.to_hex_groups(), "0");
        assert_eq!(
            Lun::from_bytes([0, 0, 0, 0, 0, 0, 0, 1]).to_hex_groups(),
            "0-0-0-1"
        );
        assert!(Lun::parse_hex_groups("1-2-3-4-5").is_err());
        assert!(Lun::parse_hex_groups("12345").is_err());
        assert!(Lun::parse_hex_groups("1--2").is_err());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_numbers_when_possible() {
        assert_eq!(serde_json::to_string(&Lun::new(3).unwrap()).unwrap(), "3");
        let odd = Lun::from_bytes([0, 0, 0, 0, 0, 0, 0, 1]);
        let text = serde_json::to_string(&odd).unwrap();
        assert_eq!(text, "\"0-0-0-1\"");
        assert_eq!(serde_json::from_str::<Lun>(&text).unwrap(), odd);
        assert!(serde_json::from_str::<Lun>("20000").is_err());
    }
}
