//! RMCP, IPMI v1.5 and IPMI v2.0 (RMCP+) session framing.
//!
//! RMCP header (ASF 2.0 §3.2.2.1), then an IPMI v1.5 session header (IPMI v2.0 §13.6,
//! used here only session-less, authentication type none):
//!
//! ```text
//!  0         1          2          3        4          5..8        9..12       13       14..
//! +---------+----------+----------+--------+----------+-----------+-----------+--------+---------+
//! | version | reserved | sequence | class  | authtype | session   | session   | msg    | ipmi    |
//! | 0x06    | 0x00     | 0xff     | 0x07   | 0x00     | seq (LE)  | id (LE)   | length | message |
//! +---------+----------+----------+--------+----------+-----------+-----------+--------+---------+
//! ```
//!
//! or an IPMI v2.0 RMCP+ session header and trailer (IPMI v2.0 §13.6, table 13-8):
//!
//! ```text
//!  4          5            6..9         10..13        14..15        16..
//! +----------+------------+------------+-------------+-------------+---------+
//! | authtype | E|A|type   | session id | session seq | payload len | payload |
//! | 0x06     | bit7 bit6  | (LE)       | (LE)        | (LE)        |         |
//! +----------+------------+------------+-------------+-------------+---------+
//! when A is set:
//! +-------------------+---------+-------------+----------------------------+
//! | integrity pad 0xff| pad len | next header | AuthCode (12 or 16 bytes)  |
//! | 0..3 bytes        |         | 0x07        | HMAC_K1(authtype..next hdr)|
//! +-------------------+---------+-------------+----------------------------+
//! ```
//!
//! The pad makes the bytes from authtype through next header a multiple of 4. When E is
//! set the payload is `IV (16) | AES-CBC-128 ciphertext` (see [`SessionKeys`]). Payload
//! type 0x02 (OEM explicit) carries a 4-byte IANA and 2-byte payload ID before the
//! session ID.

use super::crypto::{AES_BLOCK, SessionKeys};
use super::error::{DecodeError, EncodeError, Rejected};
use crate::ipmi::code_points;

/// RMCP version 1.0 as encoded on the wire.
pub const RMCP_VERSION: u8 = 0x06;
/// RMCP sequence number meaning "no RMCP ACK".
pub const RMCP_SEQ_NO_ACK: u8 = 0xff;
/// RMCP message class IPMI.
pub const RMCP_CLASS_IPMI: u8 = 0x07;
/// Session authentication type/format value that announces an RMCP+ header.
pub const AUTH_TYPE_RMCP_PLUS: u8 = 0x06;
/// Next-header value of the integrity trailer.
pub const NEXT_HEADER: u8 = 0x07;
/// Largest RMCP+ payload this crate builds or accepts (UDP datagrams stay well below).
pub const MAX_PAYLOAD: usize = 1024;

const RMCP_HEADER: usize = 4;
const V2_HEADER: usize = 12;
const V15_HEADER: usize = 10;

code_points! {
    /// RMCP+ payload type (6 bits; IPMI v2.0 table 13-16).
    pub struct PayloadType(u8);
    /// IPMI message.
    IPMI = 0x00, "ipmi message";
    /// Serial over LAN.
    SOL = 0x01, "sol";
    /// OEM explicit (IANA and payload ID follow in the header).
    OEM_EXPLICIT = 0x02, "oem explicit";
    /// RMCP+ Open Session Request.
    OPEN_SESSION_REQUEST = 0x10, "open session request";
    /// RMCP+ Open Session Response.
    OPEN_SESSION_RESPONSE = 0x11, "open session response";
    /// RAKP Message 1.
    RAKP1 = 0x12, "rakp 1";
    /// RAKP Message 2.
    RAKP2 = 0x13, "rakp 2";
    /// RAKP Message 3.
    RAKP3 = 0x14, "rakp 3";
    /// RAKP Message 4.
    RAKP4 = 0x15, "rakp 4";
}

/// A checked RMCP datagram carrying IPMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// IPMI v1.5 session wrapper (authentication type none).
    V15(V15Packet<'a>),
    /// IPMI v2.0 RMCP+ session wrapper.
    V2(V2Packet<'a>),
}

/// An IPMI v1.5 session-wrapped message (authentication type none only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V15Packet<'a> {
    /// Session sequence number (0 outside a session).
    pub sequence: u32,
    /// Session ID (0 outside a session).
    pub session_id: u32,
    /// The IPMI LAN message.
    pub message: &'a [u8],
}

/// An RMCP+ packet; the payload is still sealed (see [`V2Packet::open`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V2Packet<'a> {
    /// Payload type (bits 5:0).
    pub payload_type: PayloadType,
    /// Bit 7: the payload is encrypted.
    pub encrypted: bool,
    /// Bit 6: the packet carries an integrity trailer.
    pub authenticated: bool,
    /// Receiver's session ID (0 during session set-up).
    pub session_id: u32,
    /// Session sequence number (0 outside an active session).
    pub sequence: u32,
    /// The payload as sent (IV and ciphertext when encrypted).
    pub payload: &'a [u8],
    /// Bytes from authtype through next header (the AuthCode input); empty when not
    /// authenticated.
    pub signed: &'a [u8],
    /// The AuthCode; empty when not authenticated.
    pub auth_code: &'a [u8],
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn need(bytes: &[u8], n: usize, what: &'static str) -> Result<(), DecodeError> {
    if bytes.len() < n {
        return Err(DecodeError::Truncated {
            what,
            need: n,
            have: bytes.len(),
        });
    }
    Ok(())
}

/// Integrity pad length for a header of `header` bytes and a payload of `payload` bytes.
fn integrity_pad(header: usize, payload: usize) -> usize {
    (4 - (header + payload + 2) % 4) % 4
}

impl<'a> Packet<'a> {
    /// Decodes an RMCP datagram carrying IPMI (v1.5 session-less or RMCP+).
    ///
    /// Checks every length and the integrity trailer's framing; AuthCode verification
    /// and decryption need the session keys and happen in [`V2Packet::open`].
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field and offset that failed.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        need(bytes, RMCP_HEADER + 1, "rmcp header")?;
        if bytes[0] != RMCP_VERSION {
            return Err(DecodeError::NotRmcp { version: bytes[0] });
        }
        // ASF 2.0 §3.2.2.1: reserved is 0; IPMI v2.0 §13.1.3: IPMI messages carry RMCP
        // sequence 0xFF (no RMCP ACK). Anything else is not a datagram we would send back.
        if bytes[1] != 0 {
            return Err(DecodeError::InvalidField {
                what: "rmcp reserved byte",
                value: bytes[1],
                at: 1,
            });
        }
        if bytes[2] != RMCP_SEQ_NO_ACK {
            return Err(DecodeError::InvalidField {
                what: "rmcp sequence",
                value: bytes[2],
                at: 2,
            });
        }
        if bytes[3] != RMCP_CLASS_IPMI {
            return Err(DecodeError::UnsupportedClass { class: bytes[3] });
        }
        match bytes[4] {
            AUTH_TYPE_RMCP_PLUS => V2Packet::decode(bytes).map(Packet::V2),
            0x00 => V15Packet::decode(bytes).map(Packet::V15),
            other => Err(DecodeError::UnsupportedAuthType { auth_type: other }),
        }
    }
}

impl<'a> V15Packet<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let hdr = RMCP_HEADER + V15_HEADER;
        need(bytes, hdr, "ipmi v1.5 session header")?;
        let len = usize::from(bytes[13]);
        let available = bytes.len() - hdr;
        if len > available {
            return Err(DecodeError::PayloadLength {
                declared: len,
                available,
                at: 13,
            });
        }
        // ipmitool and others may append one legacy pad byte; anything beyond is junk.
        if available - len > 1 {
            return Err(DecodeError::TrailingBytes {
                what: "ipmi v1.5 message",
                count: available - len,
                at: hdr + len,
            });
        }
        Ok(Self {
            sequence: le_u32(bytes, 5),
            session_id: le_u32(bytes, 9),
            message: &bytes[hdr..hdr + len],
        })
    }

    /// Writes a session-less v1.5 datagram (authentication type none) around `message`.
    ///
    /// # Errors
    /// [`EncodeError::PayloadTooLong`] above 255 bytes.
    pub fn encode(message: &[u8], dst: &mut Vec<u8>) -> Result<(), EncodeError> {
        let len = u8::try_from(message.len()).map_err(|_| EncodeError::PayloadTooLong {
            len: message.len(),
            max: 255,
        })?;
        dst.extend_from_slice(&[RMCP_VERSION, 0, RMCP_SEQ_NO_ACK, RMCP_CLASS_IPMI, 0x00]);
        dst.extend_from_slice(&[0; 8]);
        dst.push(len);
        dst.extend_from_slice(message);
        Ok(())
    }
}

impl<'a> V2Packet<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        need(bytes, RMCP_HEADER + 2, "rmcp+ session header")?;
        let pt = bytes[5];
        let payload_type = PayloadType(pt & 0x3f);
        let oem = if payload_type == PayloadType::OEM_EXPLICIT {
            6
        } else {
            0
        };
        let header = V2_HEADER + oem;
        need(bytes, RMCP_HEADER + header, "rmcp+ session header")?;
        let base = RMCP_HEADER + 2 + oem;
        let len_at = base + 8;
        let declared = usize::from(u16::from_le_bytes([bytes[len_at], bytes[len_at + 1]]));
        let body = RMCP_HEADER + header;
        let available = bytes.len() - body;
        if declared > available || declared > MAX_PAYLOAD {
            return Err(DecodeError::PayloadLength {
                declared,
                available,
                at: len_at,
            });
        }
        let authenticated = pt & 0x40 != 0;
        let end = body + declared;
        let (signed, auth_code): (&[u8], &[u8]) = if authenticated {
            let pad = integrity_pad(header, declared);
            let pad_len_at = end + pad;
            need(bytes, pad_len_at + 3, "rmcp+ integrity trailer")?;
            if let Some(i) = bytes[end..pad_len_at].iter().position(|b| *b != 0xff) {
                return Err(DecodeError::Trailer {
                    what: "pad byte is not 0xff",
                    at: end + i,
                });
            }
            if usize::from(bytes[pad_len_at]) != pad {
                return Err(DecodeError::Trailer {
                    what: "pad length mismatch",
                    at: pad_len_at,
                });
            }
            if bytes[pad_len_at + 1] != NEXT_HEADER {
                return Err(DecodeError::Trailer {
                    what: "next header is not 0x07",
                    at: pad_len_at + 1,
                });
            }
            (
                &bytes[RMCP_HEADER..pad_len_at + 2],
                &bytes[pad_len_at + 2..],
            )
        } else {
            if end != bytes.len() {
                return Err(DecodeError::TrailingBytes {
                    what: "rmcp+ payload",
                    count: bytes.len() - end,
                    at: end,
                });
            }
            (&[], &[])
        };
        Ok(Self {
            payload_type,
            encrypted: pt & 0x80 != 0,
            authenticated,
            session_id: le_u32(bytes, base),
            sequence: le_u32(bytes, base + 4),
            payload: &bytes[body..end],
            signed,
            auth_code,
        })
    }

    /// Verifies and decrypts the payload with the session's keys (`None` before the
    /// session is active, when nothing may be protected).
    ///
    /// # Errors
    /// [`Rejected::Unprotected`] when the session requires integrity/confidentiality the
    /// packet lacks (or the packet claims protection without keys),
    /// [`Rejected::AuthCodeLength`]/[`Rejected::BadAuthCode`] when the AuthCode does not
    /// verify, [`Rejected::Decrypt`] when the payload does not decrypt.
    pub fn open(&self, keys: Option<&SessionKeys>) -> Result<Vec<u8>, Rejected> {
        let Some(keys) = keys else {
            if self.authenticated || self.encrypted {
                return Err(Rejected::Unexpected {
                    what: "protected packet",
                    state: "session set-up",
                });
            }
            return Ok(self.payload.to_vec());
        };
        let suite = keys.suite();
        let want = suite.integrity.auth_code_len();
        if want > 0 {
            if !self.authenticated {
                return Err(Rejected::Unprotected {
                    missing: "integrity",
                });
            }
            if self.auth_code.len() != want {
                return Err(Rejected::AuthCodeLength {
                    expected: want,
                    found: self.auth_code.len(),
                });
            }
            if !keys.auth_code(self.signed).matches(self.auth_code) {
                return Err(Rejected::BadAuthCode);
            }
        } else if self.authenticated {
            return Err(Rejected::Unexpected {
                what: "integrity trailer",
                state: "active",
            });
        }
        match suite.confidentiality {
            super::crypto::ConfAlg::AesCbc128 => {
                if !self.encrypted {
                    return Err(Rejected::Unprotected {
                        missing: "confidentiality",
                    });
                }
                Ok(keys.decrypt(self.payload)?)
            }
            super::crypto::ConfAlg::None => {
                if self.encrypted {
                    return Err(Rejected::Unexpected {
                        what: "encrypted payload",
                        state: "active",
                    });
                }
                Ok(self.payload.to_vec())
            }
        }
    }
}

/// What to seal into one RMCP+ packet.
#[derive(Clone, Copy, Debug)]
pub struct Seal<'a> {
    /// Payload type (not OEM explicit).
    pub payload_type: PayloadType,
    /// Receiver's session ID.
    pub session_id: u32,
    /// Session sequence number.
    pub sequence: u32,
    /// Plaintext payload.
    pub payload: &'a [u8],
}

impl Seal<'_> {
    /// Writes the packet. With `keys`, the payload is encrypted (when the suite has
    /// confidentiality, using `iv`) and the integrity trailer appended (when it has
    /// integrity); without, the packet is plaintext and unauthenticated.
    ///
    /// # Errors
    /// [`EncodeError::PayloadTooLong`] above [`MAX_PAYLOAD`] bytes.
    pub fn encode(
        &self,
        keys: Option<&SessionKeys>,
        iv: [u8; AES_BLOCK],
        dst: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if self.payload.len() > MAX_PAYLOAD {
            return Err(EncodeError::PayloadTooLong {
                len: self.payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let (encrypt, authenticate) = keys.map_or((false, false), |k| {
            let s = k.suite();
            (
                s.confidentiality != super::crypto::ConfAlg::None,
                s.integrity != super::crypto::IntegrityAlg::None,
            )
        });
        let start = dst.len();
        dst.extend_from_slice(&[RMCP_VERSION, 0, RMCP_SEQ_NO_ACK, RMCP_CLASS_IPMI]);
        let sig_start = dst.len();
        let flags = u8::from(encrypt) << 7 | u8::from(authenticate) << 6;
        dst.push(AUTH_TYPE_RMCP_PLUS);
        dst.push(flags | (self.payload_type.0 & 0x3f));
        dst.extend_from_slice(&self.session_id.to_le_bytes());
        dst.extend_from_slice(&self.sequence.to_le_bytes());
        let len_at = dst.len();
        dst.extend_from_slice(&[0, 0]);
        let body = dst.len();
        match keys {
            Some(k) if encrypt => k.encrypt_into(iv, self.payload, dst),
            _ => dst.extend_from_slice(self.payload),
        }
        let plen = dst.len() - body;
        let plen16 = u16::try_from(plen).map_err(|_| EncodeError::PayloadTooLong {
            len: plen,
            max: usize::from(u16::MAX),
        })?;
        dst[len_at..len_at + 2].copy_from_slice(&plen16.to_le_bytes());
        if let Some(k) = keys.filter(|_| authenticate) {
            let pad = integrity_pad(V2_HEADER, plen);
            dst.extend(core::iter::repeat_n(0xff, pad));
            dst.push(u8::try_from(pad).unwrap_or(0));
            dst.push(NEXT_HEADER);
            let code = k.auth_code(&dst[sig_start..]);
            dst.extend_from_slice(code.as_bytes());
        }
        debug_assert!(dst.len() > start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rmcp::crypto::{CipherSuite, RakpTranscript};

    /// Digest §3.7.1 (github.com/ipmitool/ipmitool/issues/154): pre-session Get Channel
    /// Authentication Capabilities as ipmitool sends it.
    const AUTH_CAPS: [u8; 23] = [
        0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xc8, 0x81, 0x00,
        0x38, 0x8e, 0x04, 0xb5,
    ];

    fn keys(suite: CipherSuite) -> SessionKeys {
        RakpTranscript {
            console_sid: 0xa0a1_a2a3,
            bmc_sid: 0x0102_0304,
            console_random: &[1; 16],
            bmc_random: &[2; 16],
            bmc_guid: &[3; 16],
            role: 0x14,
            username: b"admin",
        }
        .derive_keys(suite, b"password\0\0\0\0\0\0\0\0\0\0\0\0")
    }

    #[test]
    fn v15_session_less_round_trips_the_ipmitool_trace() {
        let Packet::V15(p) = Packet::decode(&AUTH_CAPS).unwrap() else {
            panic!("not v1.5")
        };
        assert_eq!(p.message.len(), 9);
        let mut out = Vec::new();
        V15Packet::encode(p.message, &mut out).unwrap();
        assert_eq!(out, AUTH_CAPS);
    }

    #[test]
    fn suite_17_packet_has_the_captured_shape() {
        // Digest §3.7.2 (kontron/python-ipmi#188): a 7-byte ipmi message becomes 32 payload
        // bytes (IV + one block), type 0xc0, trailer ff ff 02 07 + 16-byte AuthCode.
        let k = keys(CipherSuite::SUITE_17);
        let mut out = Vec::new();
        let msg = [0x20, 0x18, 0xc8, 0x81, 0x04, 0x3b, 0x04, 0x3c];
        Seal {
            payload_type: PayloadType::IPMI,
            session_id: 5,
            sequence: 1,
            payload: &msg[..8],
        }
        .encode(Some(&k), [9; 16], &mut out)
        .unwrap();
        assert_eq!(out[5], 0xc0);
        assert_eq!(u16::from_le_bytes([out[14], out[15]]), 32);
        assert_eq!(&out[48..52], &[0xff, 0xff, 0x02, 0x07]);
        assert_eq!(out.len(), 52 + 16);
        let Packet::V2(p) = Packet::decode(&out).unwrap() else {
            panic!("not v2")
        };
        assert_eq!(p.open(Some(&k)).unwrap(), msg);
    }

    #[test]
    fn rejects_flipped_bit_anywhere_in_an_authenticated_packet() {
        let k = keys(CipherSuite::SUITE_3);
        let mut out = Vec::new();
        Seal {
            payload_type: PayloadType::IPMI,
            session_id: 5,
            sequence: 1,
            payload: b"hello",
        }
        .encode(Some(&k), [9; 16], &mut out)
        .unwrap();
        for i in 4..out.len() {
            let mut b = out.clone();
            b[i] ^= 0x01;
            let ok = matches!(Packet::decode(&b), Ok(Packet::V2(p)) if p.open(Some(&k)).is_ok());
            assert!(!ok, "flip at {i} accepted");
        }
    }

    #[test]
    fn truncation_sweep_never_panics_or_opens() {
        let k = keys(CipherSuite::SUITE_17);
        let mut out = Vec::new();
        Seal {
            payload_type: PayloadType::IPMI,
            session_id: 5,
            sequence: 1,
            payload: b"hello",
        }
        .encode(Some(&k), [9; 16], &mut out)
        .unwrap();
        for n in 0..out.len() {
            if let Ok(Packet::V2(p)) = Packet::decode(&out[..n]) {
                assert!(p.open(Some(&k)).is_err(), "prefix {n} opened");
            }
        }
    }

    /// Found by fuzz target rmcp_packet: a non-zero reserved byte decoded, so the packet
    /// did not re-encode to the same bytes.
    #[test]
    fn rejects_nonzero_rmcp_reserved_byte_and_acked_sequence() {
        let b = [
            0x06, 0xff, 0xff, 0x07, 0x06, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            Packet::decode(&b),
            Err(DecodeError::InvalidField {
                what: "rmcp reserved byte",
                value: 0xff,
                at: 1
            })
        );
        let b = [
            0x06, 0x00, 0x05, 0x07, 0x06, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(matches!(
            Packet::decode(&b),
            Err(DecodeError::InvalidField { at: 2, .. })
        ));
    }

    #[test]
    fn rejects_payload_length_past_the_datagram_with_offset() {
        let mut b = vec![
            0x06, 0, 0xff, 0x07, 0x06, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x00,
        ];
        b.extend_from_slice(&[0; 4]);
        assert_eq!(
            Packet::decode(&b),
            Err(DecodeError::PayloadLength {
                declared: 32,
                available: 4,
                at: 14
            })
        );
    }
}
