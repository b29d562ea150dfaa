//! Machine identities as firmware reports them: the SMBIOS system UUID (iPXE's `${uuid}`),
//! the BMC's IPMI System GUID and the boot NIC's MAC address.
//!
//! The same 16 bytes travel in three byte orders. RFC 4122 writes every field big-endian;
//! SMBIOS 2.6+ (type 1, offset 08h) stores `time_low`, `time_mid` and
//! `time_hi_and_version` little-endian, and iPXE (like `dmidecode` and QEMU's `-uuid`)
//! prints the SMBIOS bytes back in RFC 4122 text. IPMI v2.0 §22.14 (Get System GUID)
//! refers to the SMBIOS format, but BMCs differ: pyghmi and OpenBMC answer the SMBIOS byte
//! order, some BMCs send the whole 16 bytes reversed ("IPMI" order in ipmitool's
//! `mc guid` encodings), and a few send RFC 4122 order. [`GuidEncoding`] names which one
//! a site's BMCs use.
//! ```text
//! text  01234567-89ab-cdef-0123-456789abcdef
//! smbios 67 45 23 01 ab 89 ef cd 01 23 45 67 89 ab cd ef
//! ipmi   ef cd ab 89 67 45 23 01 ef cd ab 89 67 45 23 01   (all 16 reversed)
//! rfc4122 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef
//! ```

use std::fmt;

/// A system UUID in RFC 4122 byte order (the order its text form is written in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Uuid([u8; 16]);

impl Uuid {
    /// From RFC 4122-ordered bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The RFC 4122-ordered bytes.
    #[must_use]
    pub fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// Parses `01234567-89ab-cdef-0123-456789abcdef` (either case; braces and hyphens
    /// optional, as firmware and operators write it).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let t = t
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .unwrap_or(t);
        if t.len() > 40 {
            return None;
        }
        let digits: Vec<u8> = t.bytes().filter(|b| *b != b'-').collect();
        if digits.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(&digits, &mut out).ok()?;
        Some(Self(out))
    }

    /// Decodes a Get System GUID answer's 16 data bytes sent in `encoding`.
    #[must_use]
    pub fn from_guid(guid: [u8; 16], encoding: GuidEncoding) -> Self {
        let mut b = guid;
        match encoding {
            GuidEncoding::Rfc4122 => {}
            GuidEncoding::Smbios => {
                b[0..4].reverse();
                b[4..6].reverse();
                b[6..8].reverse();
            }
            GuidEncoding::Ipmi => b.reverse(),
        }
        Self(b)
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// Byte order of a BMC's Get System GUID answer (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuidEncoding {
    /// SMBIOS order: the first three fields little-endian (pyghmi, OpenBMC, most BMCs).
    Smbios,
    /// All 16 bytes reversed.
    Ipmi,
    /// RFC 4122 order, as written.
    Rfc4122,
}

/// A MAC address as 12 lower-case hex digits; accepts `52:54:00:12:34:56`,
/// `52-54-00-12-34-56` (iPXE's `${net0/mac:hexhyp}`) and `525400123456`.
#[must_use]
pub fn normalize_mac(text: &str) -> Option<String> {
    let t = text.trim();
    if t.len() > 17 {
        return None;
    }
    let digits: String = t
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "01234567-89ab-cdef-0123-456789abcdef";

    #[test]
    fn decodes_guid_byte_orders_to_the_same_uuid() {
        let smbios = hex::decode("67452301ab89efcd0123456789abcdef").unwrap();
        let ipmi = hex::decode("efcdab8967452301efcdab8967452301").unwrap();
        let rfc = hex::decode("0123456789abcdef0123456789abcdef").unwrap();
        for (bytes, enc) in [
            (smbios, GuidEncoding::Smbios),
            (ipmi, GuidEncoding::Ipmi),
            (rfc, GuidEncoding::Rfc4122),
        ] {
            let guid: [u8; 16] = bytes.try_into().unwrap();
            assert_eq!(Uuid::from_guid(guid, enc).to_string(), TEXT, "{enc:?}");
        }
    }

    #[test]
    fn smbios_order_read_as_rfc4122_gives_another_uuid() {
        let guid: [u8; 16] = hex::decode("67452301ab89efcd0123456789abcdef")
            .unwrap()
            .try_into()
            .unwrap();
        assert_ne!(
            Uuid::from_guid(guid, GuidEncoding::Rfc4122).to_string(),
            TEXT
        );
    }

    #[test]
    fn parses_uuid_text_in_any_case_with_or_without_braces() {
        let u = Uuid::parse(TEXT).unwrap();
        assert_eq!(u.to_string(), TEXT);
        assert_eq!(Uuid::parse(&TEXT.to_uppercase()), Some(u));
        assert_eq!(Uuid::parse(&format!("{{{TEXT}}}")), Some(u));
        assert_eq!(Uuid::parse(&TEXT.replace('-', "")), Some(u));
        for bad in [
            "",
            "0123",
            "zz234567-89ab-cdef-0123-456789abcdef",
            &"0".repeat(200),
        ] {
            assert_eq!(Uuid::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn normalizes_mac_spellings() {
        for m in [
            "52:54:00:12:34:56",
            "52-54-00-12-34-56",
            "525400123456",
            "52:54:00:12:34:56\n",
        ] {
            assert_eq!(normalize_mac(m).as_deref(), Some("525400123456"), "{m}");
        }
        for bad in [
            "",
            "52:54:00:12:34",
            "zz:54:00:12:34:56",
            "52:54:00:12:34:56:78",
        ] {
            assert_eq!(normalize_mac(bad), None, "{bad}");
        }
    }
}
