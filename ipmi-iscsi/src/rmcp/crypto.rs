//! Cipher suites and the RMCP+ cryptography: RAKP HMACs, SIK/K1/K2, integrity AuthCodes
//! and AES-CBC-128 confidentiality (IPMI v2.0 §13.28–13.29, §13.31–13.32).

use aes::Aes128;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Largest HMAC output used here (SHA-256).
pub const MAX_MAC_LEN: usize = 32;
/// AES block and IV length.
pub const AES_BLOCK: usize = 16;

/// RAKP authentication algorithm (Open Session algorithm record type 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthAlg {
    /// RAKP-none: no key exchange authentication (suite 0 only).
    None,
    /// RAKP-HMAC-SHA1 (algorithm 1).
    HmacSha1,
    /// RAKP-HMAC-SHA256 (algorithm 3).
    HmacSha256,
}

/// Integrity algorithm (algorithm record type 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntegrityAlg {
    /// No integrity protection.
    None,
    /// HMAC-SHA1-96 (algorithm 1): 12-byte AuthCode.
    HmacSha1_96,
    /// HMAC-SHA256-128 (algorithm 4): 16-byte AuthCode.
    HmacSha256_128,
}

/// Confidentiality algorithm (algorithm record type 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfAlg {
    /// No encryption.
    None,
    /// AES-CBC-128 (algorithm 1).
    AesCbc128,
}

impl AuthAlg {
    /// Algorithm number in an Open Session record.
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::None => 0,
            Self::HmacSha1 => 1,
            Self::HmacSha256 => 3,
        }
    }

    /// HMAC output length (0 for none): the RAKP 2/3 key exchange auth code length.
    #[must_use]
    pub const fn mac_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
        }
    }

    /// RAKP 4 integrity check value length (the HMAC truncated: 12 for SHA1, 16 for SHA256).
    #[must_use]
    pub const fn rakp4_icv_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1 => 12,
            Self::HmacSha256 => 16,
        }
    }

    /// HMAC of the concatenated `parts` under `key`; writes `mac_len()` bytes into the
    /// returned buffer (0 for none).
    #[must_use]
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Mac32 {
        let mut out = Mac32::default();
        match self {
            Self::None => {}
            Self::HmacSha1 => out.set(&hmac_parts::<Hmac<Sha1>>(key, parts)),
            Self::HmacSha256 => out.set(&hmac_parts::<Hmac<Sha256>>(key, parts)),
        }
        out
    }
}

impl IntegrityAlg {
    /// Algorithm number in an Open Session record.
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::None => 0,
            Self::HmacSha1_96 => 1,
            Self::HmacSha256_128 => 4,
        }
    }

    /// AuthCode length in the session trailer.
    #[must_use]
    pub const fn auth_code_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
        }
    }

    /// The truncated AuthCode of `data` under K1.
    #[must_use]
    pub fn auth_code(self, k1: &[u8], data: &[u8]) -> Mac32 {
        let mut full = match self {
            Self::None => Mac32::default(),
            Self::HmacSha1_96 => AuthAlg::HmacSha1.hmac(k1, &[data]),
            Self::HmacSha256_128 => AuthAlg::HmacSha256.hmac(k1, &[data]),
        };
        full.len = self.auth_code_len();
        full
    }
}

impl ConfAlg {
    /// Algorithm number in an Open Session record.
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::None => 0,
            Self::AesCbc128 => 1,
        }
    }
}

fn hmac_parts<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A MAC value of up to 32 bytes, compared in constant time, zeroed on drop.
#[derive(Clone, Default)]
pub struct Mac32 {
    bytes: [u8; MAX_MAC_LEN],
    len: usize,
}

impl Mac32 {
    fn set(&mut self, v: &[u8]) {
        let n = v.len().min(MAX_MAC_LEN);
        self.bytes[..n].copy_from_slice(&v[..n]);
        self.len = n;
    }

    /// The MAC bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The first `n` bytes (a truncated MAC); all of it when shorter.
    #[must_use]
    pub fn truncated(&self, n: usize) -> &[u8] {
        &self.bytes[..n.min(self.len)]
    }

    /// Constant-time comparison of the first `expected.len()` bytes with `expected`;
    /// false when lengths differ.
    #[must_use]
    pub fn matches(&self, expected: &[u8]) -> bool {
        expected.len() <= self.len && bool::from(self.truncated(expected.len()).ct_eq(expected))
    }
}

impl Drop for Mac32 {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl core::fmt::Debug for Mac32 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Mac32({} bytes)", self.len)
    }
}

/// An IPMI v2.0 cipher suite: the three algorithms negotiated by Open Session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    /// Cipher suite ID (IPMI v2.0 table 22-20).
    pub id: u8,
    /// Authentication algorithm.
    pub auth: AuthAlg,
    /// Integrity algorithm.
    pub integrity: IntegrityAlg,
    /// Confidentiality algorithm.
    pub confidentiality: ConfAlg,
}

impl CipherSuite {
    /// Suite 0: no authentication, integrity or confidentiality (refused unless allowed).
    pub const SUITE_0: Self = Self::new(0, AuthAlg::None, IntegrityAlg::None, ConfAlg::None);
    /// Suite 1: RAKP-HMAC-SHA1, no integrity, no confidentiality.
    pub const SUITE_1: Self = Self::new(1, AuthAlg::HmacSha1, IntegrityAlg::None, ConfAlg::None);
    /// Suite 2: RAKP-HMAC-SHA1, HMAC-SHA1-96, no confidentiality (plaintext captures).
    pub const SUITE_2: Self = Self::new(
        2,
        AuthAlg::HmacSha1,
        IntegrityAlg::HmacSha1_96,
        ConfAlg::None,
    );
    /// Suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128.
    pub const SUITE_3: Self = Self::new(
        3,
        AuthAlg::HmacSha1,
        IntegrityAlg::HmacSha1_96,
        ConfAlg::AesCbc128,
    );
    /// Suite 15: RAKP-HMAC-SHA256, no integrity, no confidentiality.
    pub const SUITE_15: Self =
        Self::new(15, AuthAlg::HmacSha256, IntegrityAlg::None, ConfAlg::None);
    /// Suite 16: RAKP-HMAC-SHA256, HMAC-SHA256-128, no confidentiality.
    pub const SUITE_16: Self = Self::new(
        16,
        AuthAlg::HmacSha256,
        IntegrityAlg::HmacSha256_128,
        ConfAlg::None,
    );
    /// Suite 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128.
    pub const SUITE_17: Self = Self::new(
        17,
        AuthAlg::HmacSha256,
        IntegrityAlg::HmacSha256_128,
        ConfAlg::AesCbc128,
    );

    /// Every suite this crate implements, strongest first.
    pub const ALL: [Self; 7] = [
        Self::SUITE_17,
        Self::SUITE_3,
        Self::SUITE_16,
        Self::SUITE_2,
        Self::SUITE_15,
        Self::SUITE_1,
        Self::SUITE_0,
    ];

    const fn new(id: u8, auth: AuthAlg, integrity: IntegrityAlg, confidentiality: ConfAlg) -> Self {
        Self {
            id,
            auth,
            integrity,
            confidentiality,
        }
    }

    /// The implemented suite with this ID.
    #[must_use]
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id == id)
    }

    /// The implemented suite with these algorithm numbers.
    #[must_use]
    pub fn from_algorithms(auth: u8, integrity: u8, confidentiality: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| {
            s.auth.number() == auth
                && s.integrity.number() == integrity
                && s.confidentiality.number() == confidentiality
        })
    }

    /// Whether the suite authenticates the user at all (suite 0 does not).
    #[must_use]
    pub const fn is_authenticated(self) -> bool {
        !matches!(self.auth, AuthAlg::None)
    }
}

/// Session keys derived after RAKP 2 (IPMI v2.0 §13.31–13.32): SIK, K1 (integrity),
/// K2 (confidentiality; the AES key is its first 16 bytes). Zeroed on drop; never printed.
#[derive(Clone)]
pub struct SessionKeys {
    suite: CipherSuite,
    sik: Mac32,
    k1: Mac32,
    k2: Mac32,
}

impl core::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SessionKeys(suite {}, ***)", self.suite.id)
    }
}

/// Inputs of the RAKP HMACs common to both sides.
#[derive(Clone, Copy, Debug)]
pub struct RakpTranscript<'a> {
    /// Remote console session ID (SIDm).
    pub console_sid: u32,
    /// Managed system (BMC) session ID (SIDc).
    pub bmc_sid: u32,
    /// Remote console random number (Rm).
    pub console_random: &'a [u8; 16],
    /// BMC random number (Rc).
    pub bmc_random: &'a [u8; 16],
    /// BMC GUID (GUIDc).
    pub bmc_guid: &'a [u8; 16],
    /// Requested role byte exactly as sent in RAKP 1 (ROLEm).
    pub role: u8,
    /// User name (UNAMEm; ULENm is its length, at most 16).
    pub username: &'a [u8],
}

impl RakpTranscript<'_> {
    fn ulen(&self) -> [u8; 1] {
        [u8::try_from(self.username.len()).unwrap_or(u8::MAX)]
    }

    /// RAKP 2 key exchange auth code: HMAC_Kuid(SIDm | SIDc | Rm | Rc | GUIDc | ROLEm |
    /// ULENm | UNAMEm).
    #[must_use]
    pub fn rakp2_auth_code(&self, alg: AuthAlg, kuid: &[u8]) -> Mac32 {
        alg.hmac(
            kuid,
            &[
                &self.console_sid.to_le_bytes(),
                &self.bmc_sid.to_le_bytes(),
                self.console_random,
                self.bmc_random,
                self.bmc_guid,
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// RAKP 3 key exchange auth code: HMAC_Kuid(Rc | SIDm | ROLEm | ULENm | UNAMEm).
    #[must_use]
    pub fn rakp3_auth_code(&self, alg: AuthAlg, kuid: &[u8]) -> Mac32 {
        alg.hmac(
            kuid,
            &[
                self.bmc_random,
                &self.console_sid.to_le_bytes(),
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// Derives SIK = HMAC_Kg(Rm | Rc | ROLEm | ULENm | UNAMEm), K1 = HMAC_SIK(20 × 0x01),
    /// K2 = HMAC_SIK(20 × 0x02).
    #[must_use]
    pub fn derive_keys(&self, suite: CipherSuite, kg: &[u8]) -> SessionKeys {
        let alg = suite.auth;
        let sik = alg.hmac(
            kg,
            &[
                self.console_random,
                self.bmc_random,
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        );
        let k1 = alg.hmac(sik.as_bytes(), &[&[0x01; 20]]);
        let k2 = alg.hmac(sik.as_bytes(), &[&[0x02; 20]]);
        SessionKeys { suite, sik, k1, k2 }
    }
}

impl SessionKeys {
    /// The negotiated suite.
    #[must_use]
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// RAKP 4 integrity check value: HMAC_SIK(Rm | SIDc | GUIDc), truncated.
    #[must_use]
    pub fn rakp4_icv(&self, t: &RakpTranscript<'_>) -> Mac32 {
        let mut m = self.suite.auth.hmac(
            self.sik.as_bytes(),
            &[t.console_random, &t.bmc_sid.to_le_bytes(), t.bmc_guid],
        );
        m.len = self.suite.auth.rakp4_icv_len();
        m
    }

    /// The integrity AuthCode over `data` (authtype through next header).
    #[must_use]
    pub fn auth_code(&self, data: &[u8]) -> Mac32 {
        self.suite.integrity.auth_code(self.k1.as_bytes(), data)
    }

    fn aes(&self) -> Aes128 {
        let mut key = [0u8; AES_BLOCK];
        key.copy_from_slice(self.k2.truncated(AES_BLOCK));
        let cipher = Aes128::new(&Array::from(key));
        key.zeroize();
        cipher
    }

    /// Appends `IV | AES-CBC-128(K2, IV, plaintext | 1, 2, .., n | n)` to `dst` (IPMI
    /// v2.0 §13.29): the pad makes plaintext + pad + pad-length a multiple of 16.
    pub fn encrypt_into(&self, iv: [u8; AES_BLOCK], plaintext: &[u8], dst: &mut Vec<u8>) {
        let aes = self.aes();
        let pad = (AES_BLOCK - (plaintext.len() + 1) % AES_BLOCK) % AES_BLOCK;
        dst.extend_from_slice(&iv);
        let start = dst.len();
        dst.extend_from_slice(plaintext);
        // pad <= 15, so the casts below cannot truncate.
        dst.extend((1..=pad).map(|i| u8::try_from(i).unwrap_or(0)));
        dst.push(u8::try_from(pad).unwrap_or(0));
        let mut prev = iv;
        for chunk in dst[start..].chunks_exact_mut(AES_BLOCK) {
            let mut block = [0u8; AES_BLOCK];
            for ((b, p), c) in block.iter_mut().zip(prev.iter()).zip(chunk.iter()) {
                *b = p ^ c;
            }
            let mut arr = Array::from(block);
            aes.encrypt_block(&mut arr);
            chunk.copy_from_slice(&arr);
            prev.copy_from_slice(&arr);
        }
    }

    /// Decrypts `IV | ciphertext` and checks and strips the confidentiality pad.
    ///
    /// # Errors
    /// [`CryptError`] when the length is not IV + a positive multiple of 16, or the pad
    /// bytes are not 1, 2, 3, ...
    pub fn decrypt(&self, payload: &[u8]) -> Result<Vec<u8>, CryptError> {
        if payload.len() < 2 * AES_BLOCK || !payload.len().is_multiple_of(AES_BLOCK) {
            return Err(CryptError::Length { len: payload.len() });
        }
        let aes = self.aes();
        let (iv, ct) = payload.split_at(AES_BLOCK);
        let mut out = Vec::with_capacity(ct.len());
        let mut prev = [0u8; AES_BLOCK];
        prev.copy_from_slice(iv);
        for chunk in ct.chunks_exact(AES_BLOCK) {
            let mut block = [0u8; AES_BLOCK];
            block.copy_from_slice(chunk);
            let mut arr = Array::from(block);
            aes.decrypt_block(&mut arr);
            out.extend(arr.iter().zip(prev.iter()).map(|(a, p)| a ^ p));
            prev.copy_from_slice(chunk);
        }
        let pad = usize::from(out.last().copied().unwrap_or(0));
        if pad >= AES_BLOCK || pad + 1 > out.len() {
            return Err(CryptError::Pad);
        }
        let body = out.len() - pad - 1;
        let ok = out[body..body + pad]
            .iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i + 1);
        if !ok {
            return Err(CryptError::Pad);
        }
        out.truncate(body);
        Ok(out)
    }
}

/// An encrypted payload that does not decrypt to a well-formed plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptError {
    /// Not an IV followed by whole AES blocks.
    #[error("encrypted payload length {len} is not a 16-byte iv plus whole aes blocks")]
    Length {
        /// Payload length.
        len: usize,
    },
    /// The confidentiality pad bytes are not 1, 2, 3, ... followed by the pad length.
    #[error("aes-cbc confidentiality pad is malformed")]
    Pad,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript() -> ([u8; 16], [u8; 16], [u8; 16]) {
        ([0x11; 16], [0x22; 16], [0x33; 16])
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        let m = AuthAlg::HmacSha256.hmac(b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            m.as_bytes()[..8],
            [0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e]
        );
    }

    #[test]
    fn aes_cbc_round_trips_every_length_with_valid_pad() {
        let (rm, rc, guid) = transcript();
        let t = RakpTranscript {
            console_sid: 1,
            bmc_sid: 2,
            console_random: &rm,
            bmc_random: &rc,
            bmc_guid: &guid,
            role: 0x14,
            username: b"admin",
        };
        let keys = t.derive_keys(CipherSuite::SUITE_17, &[0u8; 20]);
        for n in 0..40 {
            let pt: Vec<u8> = (0..n).map(|i| u8::try_from(i).unwrap()).collect();
            let mut ct = Vec::new();
            keys.encrypt_into([7; 16], &pt, &mut ct);
            assert_eq!(ct.len() % 16, 0);
            assert_eq!(keys.decrypt(&ct).unwrap(), pt);
        }
    }

    #[test]
    fn aes_cbc_rejects_bad_pad_and_length() {
        let (rm, rc, guid) = transcript();
        let t = RakpTranscript {
            console_sid: 1,
            bmc_sid: 2,
            console_random: &rm,
            bmc_random: &rc,
            bmc_guid: &guid,
            role: 0x14,
            username: b"admin",
        };
        let keys = t.derive_keys(CipherSuite::SUITE_3, &[0u8; 20]);
        assert_eq!(keys.decrypt(&[0; 17]), Err(CryptError::Length { len: 17 }));
        let mut ct = Vec::new();
        keys.encrypt_into([7; 16], b"abc", &mut ct);
        ct[20] ^= 0x55; // corrupts the last plaintext block, pad included
        assert!(keys.decrypt(&ct).is_err());
    }

    #[test]
    fn suites_map_to_their_algorithm_numbers() {
        assert_eq!(
            CipherSuite::from_algorithms(3, 4, 1),
            Some(CipherSuite::SUITE_17)
        );
        assert_eq!(
            CipherSuite::from_algorithms(1, 1, 1),
            Some(CipherSuite::SUITE_3)
        );
        assert_eq!(CipherSuite::from_id(11), None);
    }
}
