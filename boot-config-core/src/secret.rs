//! CHAP secrets: generated from caller-supplied random bytes, never printed.

use core::fmt;

use zeroize::Zeroize;

/// Length of a generated CHAP secret in characters (and random bytes consumed). RFC 3720 §8.2.1
/// asks for at least 96 bits of randomness; 16 characters of a 64-symbol alphabet give 96 bits
/// and stay within the 12–16 byte window some initiators (Microsoft's) enforce.
pub const CHAP_SECRET_LEN: usize = 16;

// 64 symbols: a random byte masked to 6 bits picks one without bias.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A CHAP secret. `Debug` prints `***`; there is no `Display` and no `Serialize`: read it with
/// [`ChapSecret::expose_secret`] only where it is sent. Zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ChapSecret(String);

/// Not enough random bytes for the secrets a plan needs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{needed} random bytes needed for CHAP secrets, {given} supplied")]
pub struct NotEnoughRandomness {
    /// Bytes needed.
    pub needed: usize,
    /// Bytes given.
    pub given: usize,
}

impl ChapSecret {
    /// A secret of [`CHAP_SECRET_LEN`] characters from the first [`CHAP_SECRET_LEN`] bytes of
    /// `random` (which the caller draws from a CSPRNG).
    ///
    /// # Errors
    /// [`NotEnoughRandomness`] when fewer bytes are supplied.
    pub fn from_random(random: &[u8]) -> Result<Self, NotEnoughRandomness> {
        let bytes = random.get(..CHAP_SECRET_LEN).ok_or(NotEnoughRandomness {
            needed: CHAP_SECRET_LEN,
            given: random.len(),
        })?;
        let s = bytes
            .iter()
            .map(|&b| char::from(ALPHABET[usize::from(b & 63)]))
            .collect();
        Ok(Self(s))
    }

    /// The secret text, for the one place that sends it (BMC parameter, target account).
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ChapSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChapSecret(***)")
    }
}

impl Drop for ChapSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// CHAP credentials for a boot path: the initiator's, and the target's for mutual CHAP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChapCredentials {
    /// Name the initiator authenticates with (its IQN).
    pub user: String,
    /// The initiator's secret.
    pub secret: ChapSecret,
    /// For mutual CHAP: the target's name and secret.
    pub mutual: Option<(String, ChapSecret)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chap_secret_never_appears_in_debug_output() {
        let s = ChapSecret::from_random(&[7u8; 16]).unwrap();
        let creds = ChapCredentials {
            user: "iqn.x:y".into(),
            secret: s.clone(),
            mutual: Some(("iqn.t".into(), s.clone())),
        };
        let dbg = format!("{creds:?}");
        assert!(!dbg.contains(s.expose_secret()), "{dbg}");
        assert!(dbg.contains("***"));
    }

    #[test]
    fn chap_secret_is_sixteen_printable_characters_from_the_random_bytes() {
        let s = ChapSecret::from_random(&(0u8..32).collect::<Vec<_>>()).unwrap();
        assert_eq!(s.expose_secret(), "ABCDEFGHIJKLMNOP");
        let t = ChapSecret::from_random(&[255u8; 16]).unwrap();
        assert_eq!(t.expose_secret(), "________________");
    }

    #[test]
    fn rejects_fewer_random_bytes_than_the_secret_needs() {
        assert_eq!(
            ChapSecret::from_random(&[1u8; 15]),
            Err(NotEnoughRandomness {
                needed: 16,
                given: 15
            })
        );
    }
}
