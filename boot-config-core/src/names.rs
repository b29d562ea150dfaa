//! Domain identifiers: names of targets, initiators, entities, servers, requests and tags.
//!
//! These are the engine's own types; the driver converts from whatever the wire carried.

use core::borrow::Borrow;
use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::plan::MAX_ISCSI_NAME as MAX_NAME_LEN;

macro_rules! string_id {
    ($(#[$doc:meta] $name:ident;)*) => {$(
        #[$doc]
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string as this identifier.
            #[must_use]
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The identifier as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    )*};
}

string_id! {
    /// An iSNS network entity identifier (EID): one storage system or host.
    EntityId;
    /// The name of a server that wants to boot (used in its initiator name and its DD name).
    ServerName;
    /// A caller-chosen request identifier; the same ID always gets the same answer.
    RequestId;
    /// An operator-assigned label on a target (pool, media class, rack…).
    Tag;
}

/// A Discovery Domain identifier as iSNS assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DdId(pub u32);

impl fmt::Display for DdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DD {}", self.0)
    }
}

/// Why a text is not an iSCSI name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IscsiNameError {
    /// Empty or longer than [`MAX_ISCSI_NAME`](crate::MAX_ISCSI_NAME) bytes.
    #[error("iscsi name length {len} is outside 1..={max} bytes")]
    Length {
        /// Actual length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// Does not follow the `iqn.` / `eui.` / `naa.` grammar.
    #[error("iscsi name \"{name}\" is malformed: {reason}")]
    Format {
        /// The name (first 64 characters).
        name: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// A character outside the RFC 3722 ASCII repertoire.
    #[error(
        "iscsi name has character 0x{byte:02x} not allowed at byte {at} (lower-case a-z, 0-9, '-', '.', ':')"
    )]
    Character {
        /// Byte offset.
        at: usize,
        /// The byte.
        byte: u8,
    },
}

/// An iSCSI name (`iqn.…`, `eui.…`, `naa.…`) of a target or an initiator, validated on
/// construction (RFC 3720 §3.2.6, RFC 3721, RFC 3980).
///
/// The contract is the one `ipmi_iscsi::params::IscsiName` and `iscsi_probe`'s session
/// configuration apply, so a name the engine holds always fits the boot parameters: the `iqn.`
/// form with a real `yyyy-mm` date and a non-empty reversed-domain naming authority, the `eui.`
/// form (16 hex digits) and the `naa.` form (16 or 32 hex digits), at most 223 bytes, in the
/// ASCII output of RFC 3722 stringprep (lower-case letters, digits, `-`, `.`, `:`; the hex digits
/// of `eui.`/`naa.` may be upper case). Upper case in an `iqn.` name is refused, not folded.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IscsiName(String);

impl IscsiName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`IscsiNameError::Length`], [`IscsiNameError::Format`] or [`IscsiNameError::Character`]
    /// (with the byte offset of the first bad character).
    pub fn new(name: impl Into<String>) -> Result<Self, IscsiNameError> {
        let name = name.into();
        validate_name(&name)?;
        Ok(Self(name))
    }

    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn bad_format(name: &str, reason: &'static str) -> IscsiNameError {
    IscsiNameError::Format {
        // The input may be hostile: quote it bounded.
        name: name.chars().take(64).collect(),
        reason,
    }
}

fn validate_name(name: &str) -> Result<(), IscsiNameError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(IscsiNameError::Length {
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    let bytes = name.as_bytes();
    if let Some(rest) = name.strip_prefix("iqn.") {
        // Characters first: RFC 3722 output restricted to ASCII.
        if let Some((at, &byte)) = bytes
            .iter()
            .enumerate()
            .find(|&(_, &b)| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b)))
        {
            return Err(IscsiNameError::Character { at, byte });
        }
        // RFC 3720 §3.2.6.3.1: "iqn." yyyy "-" mm "." reversed-domain [":" anything].
        let (date, after) = match (rest.get(..7), rest.get(7..)) {
            (Some(d), Some(a)) => (d.as_bytes(), a),
            _ => return Err(bad_format(name, "iqn. needs a yyyy-mm date")),
        };
        let [y0, y1, y2, y3, b'-', m0, m1] = *date else {
            return Err(bad_format(name, "iqn. needs a yyyy-mm date"));
        };
        if ![y0, y1, y2, y3, m0, m1].iter().all(u8::is_ascii_digit) {
            return Err(bad_format(name, "iqn. needs a yyyy-mm date"));
        }
        if !(1..=12).contains(&((m0 - b'0') * 10 + (m1 - b'0'))) {
            return Err(bad_format(name, "iqn. date month must be 01..12"));
        }
        let Some(authority) = after.strip_prefix('.') else {
            return Err(bad_format(
                name,
                "iqn. date must be followed by '.' and a naming authority",
            ));
        };
        let domain = authority.split(':').next().unwrap_or("");
        if domain.is_empty() || domain.split('.').any(str::is_empty) {
            return Err(bad_format(
                name,
                "iqn. naming authority must be a reversed domain name",
            ));
        }
        Ok(())
    } else if let Some(hex) = name.strip_prefix("eui.") {
        check_hex(name, hex, &[16], "eui. needs exactly 16 hex digits")
    } else if let Some(hex) = name.strip_prefix("naa.") {
        check_hex(name, hex, &[16, 32], "naa. needs 16 or 32 hex digits")
    } else {
        Err(bad_format(name, "must start with iqn., eui. or naa."))
    }
}

fn check_hex(
    name: &str,
    hex: &str,
    lens: &[usize],
    reason: &'static str,
) -> Result<(), IscsiNameError> {
    if let Some((i, byte)) = hex
        .bytes()
        .enumerate()
        .find(|(_, b)| !b.is_ascii_hexdigit())
    {
        // The four bytes of the "eui."/"naa." prefix come first.
        return Err(IscsiNameError::Character { at: 4 + i, byte });
    }
    if lens.contains(&hex.len()) {
        Ok(())
    } else {
        Err(bad_format(name, reason))
    }
}

impl fmt::Debug for IscsiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for IscsiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for IscsiName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for IscsiName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl core::str::FromStr for IscsiName {
    type Err = IscsiNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for IscsiName {
    type Error = IscsiNameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for IscsiName {
    type Error = IscsiNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<IscsiName> for String {
    fn from(n: IscsiName) -> Self {
        n.0
    }
}

impl Serialize for IscsiName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A stored name is validated again: a ledger cannot smuggle in what `new` refuses.
impl<'de> Deserialize<'de> for IscsiName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Highest LUN a plain number can name: SAM-2 flat space addressing has 14 bits (§4.9.7), the
/// same bound as `ipmi_iscsi::params::MAX_LUN_NUMBER` and `iscsi_probe::Lun::from_number`.
pub const MAX_LUN_NUMBER: u16 = 0x3fff;

/// Why a number is not a LUN number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LunNumberError {
    /// Above [`MAX_LUN_NUMBER`].
    #[error("lun {value} is out of range 0..={max}")]
    Range {
        /// Value given.
        value: u64,
        /// Maximum.
        max: u16,
    },
}

/// A logical unit number on a target: a single-level SAM LUN in `0..=16383` (peripheral
/// addressing below 256, flat space addressing above), the LUNs a boot firmware can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
// Crate code reads the number as `.0`; only `new` (and the checked conversions) build one.
pub struct LunNumber(pub(crate) u64);

impl LunNumber {
    /// LUN 0.
    pub const ZERO: Self = Self(0);

    /// Checks `number` is a LUN number.
    ///
    /// # Errors
    /// [`LunNumberError::Range`] above [`MAX_LUN_NUMBER`].
    pub fn new(number: u64) -> Result<Self, LunNumberError> {
        if number <= u64::from(MAX_LUN_NUMBER) {
            Ok(Self(number))
        } else {
            Err(LunNumberError::Range {
                value: number,
                max: MAX_LUN_NUMBER,
            })
        }
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u16 {
        // `new` bounds it to 14 bits, so the fallback is never taken.
        u16::try_from(self.0).unwrap_or(MAX_LUN_NUMBER)
    }
}

impl TryFrom<u64> for LunNumber {
    type Error = LunNumberError;
    fn try_from(n: u64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl TryFrom<u16> for LunNumber {
    type Error = LunNumberError;
    fn try_from(n: u16) -> Result<Self, Self::Error> {
        Self::new(u64::from(n))
    }
}

impl From<LunNumber> for u64 {
    fn from(n: LunNumber) -> Self {
        n.0
    }
}

impl From<LunNumber> for u16 {
    fn from(n: LunNumber) -> Self {
        n.get()
    }
}

impl fmt::Display for LunNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for LunNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for LunNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(u64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A LUN identified across restarts: its target's name and its number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LunRef {
    /// The target that exports the LUN.
    pub target: IscsiName,
    /// The LUN number on that target.
    pub lun: LunNumber,
}

impl LunRef {
    /// A LUN reference from a target name and a number.
    #[must_use]
    pub fn new(target: IscsiName, lun: LunNumber) -> Self {
        Self { target, lun }
    }
}

impl fmt::Display for LunRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} LUN {}", self.target, self.lun)
    }
}

/// Formats a byte count for people: `40 GiB`, `1.5 TiB`, `512 bytes`.
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut unit = 0;
    let mut scale: u64 = 1024;
    while unit + 1 < UNITS.len() && bytes / scale >= 1024 {
        scale *= 1024;
        unit += 1;
    }
    let whole = bytes / scale;
    // One decimal, truncated, shown only when not zero: "1.5 TiB", "40 GiB".
    let tenth = u128::from(bytes % scale) * 10 / u128::from(scale);
    if tenth == 0 {
        format!("{whole} {}", UNITS[unit])
    } else {
        format!("{whole}.{tenth} {}", UNITS[unit])
    }
}

/// One gibibyte, for callers writing sizes.
pub const GIB: u64 = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_uses_binary_units_with_one_decimal() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(40 * GIB), "40 GiB");
        assert_eq!(human_bytes(1536 * GIB), "1.5 TiB");
        assert_eq!(human_bytes(u64::MAX), "15.9 EiB");
    }

    #[test]
    fn rejects_names_outside_the_rfc_3720_grammar_with_typed_errors() {
        assert_eq!(
            IscsiName::new("bad name with spaces"),
            Err(IscsiNameError::Format {
                name: "bad name with spaces".into(),
                reason: "must start with iqn., eui. or naa."
            })
        );
        assert_eq!(
            IscsiName::new("iqn.2001-04.com.Example"),
            Err(IscsiNameError::Character { at: 16, byte: b'E' })
        );
        assert_eq!(
            IscsiName::new("eui.02004567A425678G"),
            Err(IscsiNameError::Character { at: 19, byte: b'G' })
        );
        assert_eq!(
            IscsiName::new(""),
            Err(IscsiNameError::Length { len: 0, max: 223 })
        );
        let long = format!("iqn.2001-04.com.example:{}", "a".repeat(200));
        assert_eq!(
            IscsiName::new(long),
            Err(IscsiNameError::Length { len: 224, max: 223 })
        );
        for bad in [
            "iqn.x:t1",
            "iqn.2001-13.com.example",
            "iqn.2001-04.com..x",
            "naa.01",
        ] {
            assert!(
                matches!(IscsiName::new(bad), Err(IscsiNameError::Format { .. })),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<IscsiName>("\"iqn.x:t1\"").is_err());
        assert!(IscsiName::new("iqn.2001-04.com.example:storage:diskarrays-sn-a8675309").is_ok());
    }

    #[test]
    fn lun_numbers_stop_at_flat_space_addressing() {
        assert_eq!(LunNumber::new(16383).map(LunNumber::get), Ok(16383));
        assert_eq!(
            LunNumber::new(16384),
            Err(LunNumberError::Range {
                value: 16384,
                max: MAX_LUN_NUMBER
            })
        );
        assert!(serde_json::from_str::<LunNumber>("16384").is_err());
        assert_eq!(serde_json::to_string(&LunNumber::ZERO).unwrap(), "0");
    }

    #[test]
    fn identifiers_display_as_their_text() {
        let lun = LunRef::new(
            IscsiName::new("iqn.2024-01.com.example:t1").unwrap(),
            LunNumber::new(3).unwrap(),
        );
        assert_eq!(lun.to_string(), "iqn.2024-01.com.example:t1 LUN 3");
    }
}
