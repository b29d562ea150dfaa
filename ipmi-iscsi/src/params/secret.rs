//! [`Secret`]: a CHAP secret that never prints and is wiped on drop.

use core::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

use super::ParamsError;

/// What `Debug`, `Display` and the default `Serialize` show instead of a secret.
pub const REDACTED: &str = "***";

/// Longest secret accepted at all (the OEM dialect stores it in one length-prefixed record).
pub const MAX_SECRET_LEN: usize = 255;

/// A CHAP secret (RFC 3720 §8.2.1 / RFC 1994).
///
/// * `Debug` and `Display` print `***`.
/// * The default `Serialize` writes `"***"`, so logging or returning a configuration as JSON
///   never leaks it; `Deserialize` accepts the plain text but refuses `"***"` (a redacted
///   document fed back is an error, not an empty password). Persist with
///   `params::ExposeSecrets` or the `expose` field helpers (feature `serde`).
/// * The bytes are zeroed when the value is dropped.
/// * Printable US-ASCII only (0x21..=0x7E): every firmware artefact that carries it (iPXE
///   `set password`, iBFT strings) is a text field.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret after checking its characters and its length (1..=255 bytes).
    ///
    /// # Errors
    /// [`ParamsError::SecretCharacters`] for bytes outside 0x21..=0x7E,
    /// [`ParamsError::SecretLength`] for an empty or over-long secret.
    pub fn new(value: impl Into<String>) -> Result<Self, ParamsError> {
        let mut value = value.into();
        if value.is_empty() || value.len() > MAX_SECRET_LEN {
            let len = value.len();
            value.zeroize();
            return Err(ParamsError::SecretLength {
                len,
                min: 1,
                max: MAX_SECRET_LEN,
            });
        }
        if let Some(at) = value.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            value.zeroize();
            return Err(ParamsError::SecretCharacters { at });
        }
        Ok(Self(value))
    }

    /// The secret itself, for the encoders and renderers that must carry it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (not secret: the OEM dialect reads it back).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false for a constructed secret; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(feature = "serde")]
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(feature = "serde")]
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut text = String::deserialize(deserializer)?;
        if text == REDACTED {
            return Err(serde::de::Error::custom(
                "secret is the redacted placeholder \"***\"; persist with ExposeSecrets",
            ));
        }
        let out = Secret::new(core::mem::take(&mut text)).map_err(serde::de::Error::custom);
        text.zeroize();
        out
    }
}

/// `#[serde(with = "ipmi_iscsi::params::secret::expose")]`: (de)serialize a [`Secret`] in
/// plain text, for a store that must keep it (the caller's storage is then secret itself).
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod expose {
    use super::Secret;
    #[cfg(feature = "serde")]
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the secret in plain text.
    ///
    /// # Errors
    /// Whatever the serializer reports.
    pub fn serialize<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose())
    }

    /// Reads a plain-text secret (same rules as `Deserialize for Secret`).
    ///
    /// # Errors
    /// An invalid or redacted secret.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        Secret::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_display_and_serde_show_stars_only() {
        let s = Secret::new("verysecret12").unwrap();
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        #[cfg(feature = "serde")]
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn rejects_redacted_placeholder_on_deserialize() {
        assert!(serde_json::from_str::<Secret>("\"***\"").is_err());
        let s: Secret = serde_json::from_str("\"verysecret12\"").unwrap();
        assert_eq!(s.expose(), "verysecret12");
    }

    #[test]
    fn rejects_whitespace_and_control_bytes() {
        assert_eq!(
            Secret::new("abc def").unwrap_err(),
            ParamsError::SecretCharacters { at: 3 }
        );
        assert!(Secret::new("").is_err());
        assert!(Secret::new("x".repeat(256)).is_err());
    }
}
