//! CHAP for iSCSI login (RFC 7143 §12.1.3 on top of RFC 1994), MD5 only (`CHAP_A=5`).
//!
//! ```text
//! I -> T: CHAP_A=<A1,A2...>
//! T -> I: CHAP_A=<A>  CHAP_I=<I>  CHAP_C=<C>
//! I -> T: CHAP_N=<N>  CHAP_R=<R>  [CHAP_I=<I'> CHAP_C=<C'>   (mutual)]
//! T -> I:                         [CHAP_N=<N'> CHAP_R=<R'>   (mutual)]
//! R = MD5(I as one byte || secret || C)
//! ```
//!
//! Secrets live in [`Secret`], which prints as `***` and is zeroed on drop.

use md5::{Digest, Md5};
use zeroize::Zeroize;

use crate::error::DecodeError;

/// The CHAP algorithm number of MD5 (RFC 1994, IANA PPP authentication algorithms).
pub const CHAP_MD5: u8 = 5;
/// Largest binary value accepted from a target (RFC 7143 §12.1.3 bounds CHAP_C by 1024 bytes).
pub const MAX_CHALLENGE_LEN: usize = 1024;

/// A CHAP secret. `Debug` and `Display` print `***`; the bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    #[must_use]
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes (for computing a response; never log them).
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("***")
    }
}

impl core::fmt::Display for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("***")
    }
}

/// A CHAP name and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapCredentials {
    /// CHAP name (`CHAP_N`).
    pub name: String,
    /// The shared secret.
    pub secret: Secret,
}

impl ChapCredentials {
    /// Name and secret.
    #[must_use]
    pub fn new(name: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            secret: Secret::new(secret),
        }
    }
}

/// How the initiator authenticates at login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `AuthMethod=None`.
    #[default]
    None,
    /// `AuthMethod=CHAP`; with `target` set, the target must also prove itself (mutual CHAP).
    Chap {
        /// The initiator's name and secret (the target's "incoming" account).
        initiator: ChapCredentials,
        /// For mutual CHAP: the name and secret the target must answer with (its "outgoing"
        /// account).
        target: Option<ChapCredentials>,
    },
}

impl Auth {
    /// One-way CHAP.
    #[must_use]
    pub fn chap(name: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self::Chap {
            initiator: ChapCredentials::new(name, secret),
            target: None,
        }
    }

    /// Mutual CHAP.
    #[must_use]
    pub fn mutual_chap(initiator: ChapCredentials, target: ChapCredentials) -> Self {
        Self::Chap {
            initiator,
            target: Some(target),
        }
    }

    /// Whether the target must prove itself too (mutual CHAP).
    pub(crate) fn is_mutual(&self) -> bool {
        matches!(
            self,
            Self::Chap {
                target: Some(_),
                ..
            }
        )
    }
}

/// `MD5(id || secret || challenge)` (RFC 1994 §4.1).
#[must_use]
pub fn response(id: u8, secret: &Secret, challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret.expose());
    h.update(challenge);
    h.finalize().into()
}

/// Encodes a binary value as `0x` + lower-case hex (RFC 7143 §6.1 binary-value).
#[must_use]
pub fn encode_binary(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn b64_digit(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes a binary value: `0x`/`0X` + hex (odd length allowed, a leading 0 is implied) or
/// `0b`/`0B` + base64 (RFC 7143 §6.1). At most `max` decoded bytes; the length is checked before
/// anything is reserved.
///
/// # Errors
/// [`DecodeError::BadField`] for a malformed value or one over `max` bytes.
pub fn decode_binary(value: &str, max: usize) -> Result<Vec<u8>, DecodeError> {
    let bad = DecodeError::BadField {
        field: "binary value",
        at: 0,
    };
    let v = value.as_bytes();
    let (prefix, body) = (v.get(..2).ok_or(bad.clone())?, &v[2..]);
    match prefix {
        b"0x" | b"0X" => {
            let out_len = body.len().div_ceil(2);
            if body.is_empty() || out_len > max {
                return Err(bad);
            }
            let mut out = Vec::with_capacity(out_len);
            let (head, rest) = body.split_at(body.len() % 2);
            if let Some(&c) = head.first() {
                out.push(hex_digit(c).ok_or(bad.clone())?);
            }
            for pair in rest.chunks_exact(2) {
                let hi = hex_digit(pair[0]).ok_or(bad.clone())?;
                let lo = hex_digit(pair[1]).ok_or(bad.clone())?;
                out.push(hi << 4 | lo);
            }
            Ok(out)
        }
        b"0b" | b"0B" => {
            let trimmed = body
                .strip_suffix(b"==")
                .or_else(|| body.strip_suffix(b"="))
                .unwrap_or(body);
            let out_len = trimmed.len() * 3 / 4;
            if trimmed.is_empty() || out_len > max || body.len() % 4 != 0 || trimmed.len() % 4 == 1
            {
                return Err(bad);
            }
            let mut out = Vec::with_capacity(out_len);
            let mut acc: u32 = 0;
            let mut bits = 0u32;
            for &c in trimmed {
                acc = (acc << 6) | u32::from(b64_digit(c).ok_or(bad.clone())?);
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push(u8::try_from((acc >> bits) & 0xff).map_err(|_| bad.clone())?);
                }
            }
            Ok(out)
        }
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let a = Auth::chap("user", "very-secret-value");
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("very-secret-value"), "{dbg}");
        assert!(dbg.contains("***"));
    }

    #[test]
    fn response_is_md5_of_id_secret_challenge() {
        // RFC 1321 test vector: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72;
        // with id 'a' (0x61), secret "b", challenge "c" the input is "abc".
        let r = response(0x61, &Secret::new("b"), b"c");
        assert_eq!(encode_binary(&r), "0x900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn binary_values_in_hex_and_base64() {
        assert_eq!(decode_binary("0x0aff", 16), Ok(vec![0x0a, 0xff]));
        assert_eq!(decode_binary("0XABC", 16), Ok(vec![0x0a, 0xbc]));
        assert_eq!(decode_binary("0bAQID", 16), Ok(vec![1, 2, 3]));
        assert_eq!(decode_binary("0bAQI=", 16), Ok(vec![1, 2]));
        assert!(decode_binary("0x", 16).is_err());
        assert!(decode_binary("0xzz", 16).is_err());
        assert!(decode_binary("12", 16).is_err());
        assert!(decode_binary("0x0102", 1).is_err());
    }
}
