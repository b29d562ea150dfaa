//! Passwords and keys that never print.

use core::fmt;

use zeroize::Zeroize;

/// Longest IPMI v2.0 password/key: 20 bytes (Kuid and Kg are 20-byte fields).
pub const MAX_PASSWORD_LEN: usize = 20;

/// An IPMI user password (Kuid) or BMC key (Kg): at most 20 bytes, zero-padded on use.
///
/// `Debug` and `Display` print `***`; the bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    bytes: [u8; MAX_PASSWORD_LEN],
    len: u8,
}

/// A password longer than 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ipmi password is {len} bytes, at most 20 are allowed")]
pub struct PasswordTooLong {
    /// Length of the rejected password.
    pub len: usize,
}

impl Password {
    /// Wraps a password of at most 20 bytes.
    ///
    /// # Errors
    /// [`PasswordTooLong`] above 20 bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, PasswordTooLong> {
        let s = secret.as_ref();
        let len = u8::try_from(s.len())
            .ok()
            .filter(|l| usize::from(*l) <= MAX_PASSWORD_LEN)
            .ok_or(PasswordTooLong { len: s.len() })?;
        let mut bytes = [0u8; MAX_PASSWORD_LEN];
        bytes[..s.len()].copy_from_slice(s);
        Ok(Self { bytes, len })
    }

    /// The 20-byte zero-padded key (Kuid/Kg) the RAKP HMACs use.
    #[must_use]
    pub fn padded(&self) -> &[u8; MAX_PASSWORD_LEN] {
        &self.bytes
    }

    /// The password bytes as configured (for the rare caller that must pass them on).
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_prints() {
        let p = Password::new("hunter2").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert_eq!(format!("{p}"), "***");
        assert_eq!(&p.padded()[..8], b"hunter2\0");
    }

    #[test]
    fn rejects_password_over_20_bytes() {
        assert_eq!(Password::new([b'x'; 21]), Err(PasswordTooLong { len: 21 }));
        assert!(Password::new([b'x'; 20]).is_ok());
    }
}
