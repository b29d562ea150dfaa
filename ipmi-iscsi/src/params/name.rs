//! [`IscsiName`]: a validated iSCSI node name (RFC 3720 §3.2.6, RFC 3721, RFC 3980).

use core::fmt;
use core::str::FromStr;

#[cfg(feature = "serde")]
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ParamsError;

/// RFC 3720 §3.2.6.1: an iSCSI name is at most 223 bytes (UTF-8, without the NUL).
pub const MAX_NAME_LEN: usize = 223;

/// Which of the three name formats a name uses (RFC 3720 §3.2.6.3, RFC 3980).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameFormat {
    /// `iqn.yyyy-mm.reversed.domain[:unique]`.
    Iqn,
    /// `eui.` followed by 16 hexadecimal digits (EUI-64).
    Eui,
    /// `naa.` followed by 16 or 32 hexadecimal digits (RFC 3980).
    Naa,
}

/// A validated iSCSI name.
///
/// Accepted: the `iqn.` form with a real `yyyy-mm` date and a non-empty naming authority, the
/// `eui.` form (16 hex digits) and the `naa.` form (16 or 32 hex digits), at most 223 bytes.
/// Only the output of RFC 3722 stringprep restricted to ASCII is accepted: lower-case letters,
/// digits, `-`, `.` and `:` (hex digits of `eui.`/`naa.` may be upper case, as RFC 3720's own
/// examples are). Upper case in an `iqn.` name is refused rather than folded so that what is
/// configured is what goes on the wire.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IscsiName(String);

impl IscsiName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`ParamsError::NameLength`], [`ParamsError::NameFormat`] or
    /// [`ParamsError::NameCharacter`] (with the byte offset of the first bad character).
    pub fn new(name: impl Into<String>) -> Result<Self, ParamsError> {
        let name = name.into();
        validate(&name)?;
        Ok(Self(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which format the name uses.
    pub fn format(&self) -> NameFormat {
        if self.0.starts_with("eui.") {
            NameFormat::Eui
        } else if self.0.starts_with("naa.") {
            NameFormat::Naa
        } else {
            NameFormat::Iqn
        }
    }
}

fn bad_format(name: &str, reason: &'static str) -> ParamsError {
    ParamsError::NameFormat {
        name: truncate_for_error(name),
        reason,
    }
}

/// Errors quote the name, but bounded: the input may be hostile.
fn truncate_for_error(name: &str) -> String {
    name.chars().take(64).collect()
}

fn validate(name: &str) -> Result<(), ParamsError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ParamsError::NameLength {
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    let bytes = name.as_bytes();
    if let Some(rest) = name.strip_prefix("iqn.") {
        // Characters first: RFC 3722 output restricted to ASCII.
        if let Some(at) = bytes
            .iter()
            .position(|&b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b)))
        {
            return Err(ParamsError::NameCharacter {
                at,
                byte: bytes.get(at).copied().unwrap_or(0),
            });
        }
        // RFC 3720 §3.2.6.3.1: "iqn." yyyy "-" mm "." reversed-domain [":" anything].
        let date = rest
            .get(..7)
            .ok_or_else(|| bad_format(name, "iqn. needs a yyyy-mm date"))?;
        let db = date.as_bytes();
        let digits = |r: core::ops::Range<usize>| {
            db.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit))
        };
        if !(digits(0..4) && db.get(4) == Some(&b'-') && digits(5..7)) {
            return Err(bad_format(name, "iqn. needs a yyyy-mm date"));
        }
        let month = (db[5] - b'0') * 10 + (db[6] - b'0');
        if !(1..=12).contains(&month) {
            return Err(bad_format(name, "iqn. date month must be 01..12"));
        }
        let after = &rest[7..];
        let authority = after.strip_prefix('.').ok_or_else(|| {
            bad_format(
                name,
                "iqn. date must be followed by '.' and a naming authority",
            )
        })?;
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
) -> Result<(), ParamsError> {
    if let Some(i) = hex.bytes().position(|b| !b.is_ascii_hexdigit()) {
        let at = 4 + i;
        return Err(ParamsError::NameCharacter {
            at,
            byte: name.as_bytes().get(at).copied().unwrap_or(0),
        });
    }
    if lens.contains(&hex.len()) {
        Ok(())
    } else {
        Err(bad_format(name, reason))
    }
}

impl fmt::Display for IscsiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IscsiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl FromStr for IscsiName {
    type Err = ParamsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for IscsiName {
    type Error = ParamsError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for IscsiName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "serde")]
impl Serialize for IscsiName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> Deserialize<'de> for IscsiName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc_3720_examples() {
        for n in [
            "iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
            "iqn.2001-04.com.example",
            "iqn.2001-04.com.example:storage.tape1.sys1.xyz",
            "eui.02004567A425678D",
            "naa.52004567BA64678D",
            "naa.62004567BA64678D0123456789ABCDEF",
        ] {
            assert!(IscsiName::new(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_upper_case_iqn_with_offset() {
        assert_eq!(
            IscsiName::new("iqn.2001-04.com.Example").unwrap_err(),
            ParamsError::NameCharacter { at: 16, byte: b'E' }
        );
    }

    #[test]
    fn rejects_bad_dates_prefixes_and_lengths() {
        for n in [
            "iqn.01-04.com.example",
            "iqn.2001-13.com.example",
            "iqn.2001-00.com.example",
            "iqn.2001-04",
            "iqn.2001-04.",
            "iqn.2001-04.com..example",
            "iqn.2001-04:com",
            "eui.0200",
            "naa.0123456789ABCDEF01",
            "IQN.2001-04.com.example",
            "",
        ] {
            assert!(IscsiName::new(n).is_err(), "{n}");
        }
        let long = format!("iqn.2001-04.com.example:{}", "a".repeat(200));
        assert!(matches!(
            IscsiName::new(long),
            Err(ParamsError::NameLength { len: 224, max: 223 })
        ));
        let exact = format!("iqn.2001-04.com.example:{}", "a".repeat(199));
        assert!(IscsiName::new(exact).is_ok());
    }
}
