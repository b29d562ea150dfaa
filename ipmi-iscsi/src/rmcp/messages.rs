//! RMCP+ session set-up payloads: Open Session Request/Response and RAKP 1–4
//! (IPMI v2.0 §13.17–13.23).
//!
//! ```text
//! Open Session Request (0x10, 32 bytes)
//!  0    1         2..3  4..7                 8..15        16..23            24..31
//! +----+---------+-----+--------------------+------------+-----------------+-----------------+
//! |tag |max priv |rsvd |console session id  |auth record |integrity record |conf record      |
//! +----+---------+-----+--------------------+------------+-----------------+-----------------+
//! record: type(0/1/2) | rsvd(2) | len=8 | algorithm | rsvd(3)
//!
//! Open Session Response (0x11, 36 bytes; 8 on error)
//! |tag |status |max priv |rsvd |console sid (4) |bmc sid (4) |auth rec |integ rec |conf rec|
//!
//! RAKP 1 (0x12): tag | rsvd(3) | bmc sid(4) | Rm(16) | role | rsvd(2) | ulen | name(ulen<=16)
//! RAKP 2 (0x13): tag | status | rsvd(2) | console sid(4) | Rc(16) | GUIDc(16) | auth code
//! RAKP 3 (0x14): tag | status | rsvd(2) | bmc sid(4) | auth code
//! RAKP 4 (0x15): tag | status | rsvd(2) | console sid(4) | integrity check value
//! ```
//! RAKP 2–4 carry only the first 8 bytes when the status is not 0.

use super::error::{DecodeError, EncodeError};
use crate::ipmi::code_points;

code_points! {
    /// RMCP+ and RAKP message status code (IPMI v2.0 table 13-15).
    pub struct RakpStatus(u8);
    /// No errors.
    OK = 0x00, "no errors";
    /// Insufficient resources to create a session.
    INSUFFICIENT_RESOURCES = 0x01, "insufficient resources to create a session";
    /// Invalid session ID.
    INVALID_SESSION_ID = 0x02, "invalid session id";
    /// Invalid payload type.
    INVALID_PAYLOAD_TYPE = 0x03, "invalid payload type";
    /// Invalid authentication algorithm.
    INVALID_AUTH_ALGORITHM = 0x04, "invalid authentication algorithm";
    /// Invalid integrity algorithm.
    INVALID_INTEGRITY_ALGORITHM = 0x05, "invalid integrity algorithm";
    /// No matching authentication payload.
    NO_MATCHING_AUTH_PAYLOAD = 0x06, "no matching authentication payload";
    /// No matching integrity payload.
    NO_MATCHING_INTEGRITY_PAYLOAD = 0x07, "no matching integrity payload";
    /// Inactive session ID.
    INACTIVE_SESSION_ID = 0x08, "inactive session id";
    /// Invalid role.
    INVALID_ROLE = 0x09, "invalid role";
    /// Unauthorized role or privilege level requested.
    UNAUTHORIZED_ROLE = 0x0a, "unauthorized role or privilege level requested";
    /// Insufficient resources to create a session at the requested role.
    INSUFFICIENT_RESOURCES_FOR_ROLE = 0x0b, "insufficient resources to create a session at the requested role";
    /// Invalid name length.
    INVALID_NAME_LENGTH = 0x0c, "invalid name length";
    /// Unauthorized name.
    UNAUTHORIZED_NAME = 0x0d, "unauthorized name";
    /// Unauthorized GUID.
    UNAUTHORIZED_GUID = 0x0e, "unauthorized guid";
    /// Invalid integrity check value.
    INVALID_INTEGRITY_CHECK_VALUE = 0x0f, "invalid integrity check value";
    /// Invalid confidentiality algorithm.
    INVALID_CONFIDENTIALITY_ALGORITHM = 0x10, "invalid confidentiality algorithm";
    /// No cipher suite match with proposed security algorithms.
    NO_CIPHER_SUITE_MATCH = 0x11, "no cipher suite match with proposed security algorithms";
    /// Illegal or unrecognized parameter.
    ILLEGAL_PARAMETER = 0x12, "illegal or unrecognized parameter";
}

impl RakpStatus {
    /// Whether the status says the offered algorithms were not acceptable (so another
    /// cipher suite may work).
    #[must_use]
    pub const fn is_algorithm_refusal(self) -> bool {
        matches!(self.0, 0x03..=0x07 | 0x10 | 0x11)
    }
}

code_points! {
    /// IPMI privilege level (IPMI v2.0 table 6-1); in RAKP 1 the low nibble of the role.
    pub struct Privilege(u8);
    /// Highest level the cipher suite and user allow (Open Session only).
    HIGHEST = 0x00, "highest";
    /// Callback.
    CALLBACK = 0x01, "callback";
    /// User.
    USER = 0x02, "user";
    /// Operator.
    OPERATOR = 0x03, "operator";
    /// Administrator.
    ADMINISTRATOR = 0x04, "administrator";
    /// OEM proprietary.
    OEM = 0x05, "oem";
}

/// RAKP 1 role bit 4: look the user up by name only (ipmitool's default).
pub const ROLE_NAME_ONLY_LOOKUP: u8 = 0x10;
/// Longest user name in RAKP 1.
pub const MAX_USERNAME: usize = 16;

fn need(b: &[u8], n: usize, what: &'static str) -> Result<(), DecodeError> {
    if b.len() < n {
        return Err(DecodeError::Truncated {
            what,
            need: n,
            have: b.len(),
        });
    }
    Ok(())
}

fn exact(b: &[u8], n: usize, what: &'static str) -> Result<(), DecodeError> {
    need(b, n, what)?;
    if b.len() > n {
        return Err(DecodeError::TrailingBytes {
            what,
            count: b.len() - n,
            at: n,
        });
    }
    Ok(())
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn arr16(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

/// The three algorithm numbers of an Open Session request or response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorithms {
    /// Authentication algorithm number.
    pub auth: u8,
    /// Integrity algorithm number.
    pub integrity: u8,
    /// Confidentiality algorithm number.
    pub confidentiality: u8,
}

impl Algorithms {
    fn put(self, dst: &mut Vec<u8>) {
        for (ty, alg) in [
            (0u8, self.auth),
            (1, self.integrity),
            (2, self.confidentiality),
        ] {
            dst.extend_from_slice(&[ty, 0, 0, 8, alg, 0, 0, 0]);
        }
    }

    fn parse(b: &[u8], at: usize) -> Result<Self, DecodeError> {
        let mut algs = [0u8; 3];
        for (i, slot) in algs.iter_mut().enumerate() {
            let r = at + 8 * i;
            let ty = u8::try_from(i).unwrap_or(u8::MAX);
            if b[r] != ty {
                return Err(DecodeError::InvalidField {
                    what: "algorithm record type",
                    value: b[r],
                    at: r,
                });
            }
            // A record length of 0 would mean "any algorithm"; we always require 8.
            if b[r + 3] != 8 {
                return Err(DecodeError::InvalidField {
                    what: "algorithm record length",
                    value: b[r + 3],
                    at: r + 3,
                });
            }
            *slot = b[r + 4] & 0x3f;
        }
        Ok(Self {
            auth: algs[0],
            integrity: algs[1],
            confidentiality: algs[2],
        })
    }
}

/// Open Session Request (payload type 0x10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenSessionRequest {
    /// Message tag echoed by the BMC.
    pub tag: u8,
    /// Requested maximum privilege (0 = highest allowed).
    pub max_privilege: Privilege,
    /// Remote console session ID (SIDm).
    pub console_sid: u32,
    /// Proposed algorithms.
    pub algorithms: Algorithms,
}

impl OpenSessionRequest {
    /// Wire length.
    pub const LEN: usize = 32;

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&[self.tag, self.max_privilege.0 & 0x0f, 0, 0]);
        dst.extend_from_slice(&self.console_sid.to_le_bytes());
        self.algorithms.put(dst);
    }

    /// Decodes the payload.
    ///
    /// # Errors
    /// [`DecodeError`] for a wrong length or a malformed algorithm record.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        exact(b, Self::LEN, "open session request")?;
        Ok(Self {
            tag: b[0],
            max_privilege: Privilege(b[1] & 0x0f),
            console_sid: le_u32(b, 4),
            algorithms: Algorithms::parse(b, 8)?,
        })
    }
}

/// Open Session Response (payload type 0x11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// Message tag from the request.
    pub tag: u8,
    /// Status.
    pub status: RakpStatus,
    /// Maximum privilege granted.
    pub max_privilege: Privilege,
    /// Remote console session ID (SIDm).
    pub console_sid: u32,
    /// BMC session ID (SIDc) and the selected algorithms; present when status is OK.
    pub accepted: Option<(u32, Algorithms)>,
}

impl OpenSessionResponse {
    /// Wire length of a successful response.
    pub const LEN: usize = 36;

    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&[self.tag, self.status.0, self.max_privilege.0, 0]);
        dst.extend_from_slice(&self.console_sid.to_le_bytes());
        if let Some((bmc_sid, algs)) = self.accepted {
            dst.extend_from_slice(&bmc_sid.to_le_bytes());
            algs.put(dst);
        }
    }

    /// Decodes the payload (8 bytes suffice for an error status).
    ///
    /// # Errors
    /// [`DecodeError`] for a wrong length or malformed algorithm record.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        need(b, 2, "open session response")?;
        let status = RakpStatus(b[1]);
        if !status.is_ok() {
            // Some BMCs send only tag + status on error.
            let console_sid = if b.len() >= 8 { le_u32(b, 4) } else { 0 };
            let max_privilege = Privilege(b.get(2).copied().unwrap_or(0));
            return Ok(Self {
                tag: b[0],
                status,
                max_privilege,
                console_sid,
                accepted: None,
            });
        }
        exact(b, Self::LEN, "open session response")?;
        Ok(Self {
            tag: b[0],
            status,
            max_privilege: Privilege(b[2] & 0x0f),
            console_sid: le_u32(b, 4),
            accepted: Some((le_u32(b, 8), Algorithms::parse(b, 12)?)),
        })
    }
}

impl RakpStatus {
    /// Whether the status is 0x00.
    #[must_use]
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }
}

/// RAKP Message 1 (payload type 0x12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rakp1 {
    /// Message tag.
    pub tag: u8,
    /// BMC session ID (SIDc).
    pub bmc_sid: u32,
    /// Remote console random number (Rm).
    pub console_random: [u8; 16],
    /// Requested role: privilege | [`ROLE_NAME_ONLY_LOOKUP`].
    pub role: u8,
    /// User name (at most 16 bytes; empty = anonymous).
    pub username: Vec<u8>,
}

impl Rakp1 {
    /// Appends the payload.
    ///
    /// # Errors
    /// [`EncodeError::UsernameTooLong`] above 16 bytes.
    pub fn encode(&self, dst: &mut Vec<u8>) -> Result<(), EncodeError> {
        let ulen = u8::try_from(self.username.len())
            .ok()
            .filter(|l| usize::from(*l) <= MAX_USERNAME)
            .ok_or(EncodeError::UsernameTooLong {
                len: self.username.len(),
            })?;
        dst.extend_from_slice(&[self.tag, 0, 0, 0]);
        dst.extend_from_slice(&self.bmc_sid.to_le_bytes());
        dst.extend_from_slice(&self.console_random);
        dst.extend_from_slice(&[self.role, 0, 0, ulen]);
        dst.extend_from_slice(&self.username);
        Ok(())
    }

    /// Decodes the payload.
    ///
    /// # Errors
    /// [`DecodeError`] for a short payload, a name length above 16 or not matching.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        need(b, 28, "rakp 1")?;
        let ulen = usize::from(b[27]);
        if ulen > MAX_USERNAME {
            return Err(DecodeError::InvalidField {
                what: "rakp 1 name length",
                value: b[27],
                at: 27,
            });
        }
        exact(b, 28 + ulen, "rakp 1")?;
        Ok(Self {
            tag: b[0],
            bmc_sid: le_u32(b, 4),
            console_random: arr16(b, 8),
            role: b[24],
            username: b[28..].to_vec(),
        })
    }
}

/// RAKP Message 2 (payload type 0x13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rakp2 {
    /// Message tag.
    pub tag: u8,
    /// Status.
    pub status: RakpStatus,
    /// Remote console session ID (SIDm).
    pub console_sid: u32,
    /// BMC random (Rc), GUID (GUIDc) and key exchange auth code; present on success.
    pub accepted: Option<([u8; 16], [u8; 16], Vec<u8>)>,
}

impl Rakp2 {
    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&[self.tag, self.status.0, 0, 0]);
        dst.extend_from_slice(&self.console_sid.to_le_bytes());
        if let Some((rc, guid, code)) = &self.accepted {
            dst.extend_from_slice(rc);
            dst.extend_from_slice(guid);
            dst.extend_from_slice(code);
        }
    }

    /// Decodes the payload; `auth_len` is the authentication algorithm's HMAC length.
    ///
    /// # Errors
    /// [`DecodeError`] for a wrong length.
    pub fn decode(b: &[u8], auth_len: usize) -> Result<Self, DecodeError> {
        need(b, 2, "rakp 2")?;
        let status = RakpStatus(b[1]);
        if !status.is_ok() {
            let console_sid = if b.len() >= 8 { le_u32(b, 4) } else { 0 };
            return Ok(Self {
                tag: b[0],
                status,
                console_sid,
                accepted: None,
            });
        }
        exact(b, 40 + auth_len, "rakp 2")?;
        Ok(Self {
            tag: b[0],
            status,
            console_sid: le_u32(b, 4),
            accepted: Some((arr16(b, 8), arr16(b, 24), b[40..].to_vec())),
        })
    }
}

/// RAKP Message 3 (0x14) or 4 (0x15): tag, status, a session ID and an auth code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RakpTail {
    /// Message tag.
    pub tag: u8,
    /// Status.
    pub status: RakpStatus,
    /// BMC session ID (RAKP 3) or console session ID (RAKP 4).
    pub session_id: u32,
    /// Auth code (RAKP 3) or integrity check value (RAKP 4); empty on error.
    pub code: Vec<u8>,
}

impl RakpTail {
    /// Appends the payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&[self.tag, self.status.0, 0, 0]);
        dst.extend_from_slice(&self.session_id.to_le_bytes());
        dst.extend_from_slice(&self.code);
    }

    /// Decodes the payload; `code_len` is the expected code length on success.
    ///
    /// # Errors
    /// [`DecodeError`] for a wrong length.
    pub fn decode(b: &[u8], code_len: usize, what: &'static str) -> Result<Self, DecodeError> {
        need(b, 2, what)?;
        let status = RakpStatus(b[1]);
        if !status.is_ok() {
            let session_id = if b.len() >= 8 { le_u32(b, 4) } else { 0 };
            return Ok(Self {
                tag: b[0],
                status,
                session_id,
                code: Vec::new(),
            });
        }
        exact(b, 8 + code_len, what)?;
        Ok(Self {
            tag: b[0],
            status,
            session_id: le_u32(b, 4),
            code: b[8..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_session_request_for_suite_17_matches_the_captured_records() {
        // Digest §3.7.2 (kontron/python-ipmi#188): records 00 0000 08 03 000000 |
        // 01 0000 08 04 000000 | 02 0000 08 01 000000, payload length 0x20.
        let r = OpenSessionRequest {
            tag: 0,
            max_privilege: Privilege::ADMINISTRATOR,
            console_sid: 0x1234_5678,
            algorithms: Algorithms {
                auth: 3,
                integrity: 4,
                confidentiality: 1,
            },
        };
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(out.len(), 0x20);
        assert_eq!(
            &out[8..],
            &[
                0, 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 8, 4, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0
            ]
        );
        assert_eq!(OpenSessionRequest::decode(&out).unwrap(), r);
    }

    #[test]
    fn rakp_lengths_match_the_suite_17_capture() {
        let r1 = Rakp1 {
            tag: 1,
            bmc_sid: 7,
            console_random: [5; 16],
            role: 0x14,
            username: b"ADMIN12345".to_vec(),
        };
        let mut out = Vec::new();
        r1.encode(&mut out).unwrap();
        assert_eq!(out.len(), 0x26);
        assert_eq!(Rakp1::decode(&out).unwrap(), r1);
        let r2 = Rakp2 {
            tag: 1,
            status: RakpStatus::OK,
            console_sid: 9,
            accepted: Some(([1; 16], [2; 16], vec![3; 32])),
        };
        let mut out = Vec::new();
        r2.encode(&mut out);
        assert_eq!(out.len(), 0x48);
        assert_eq!(Rakp2::decode(&out, 32).unwrap(), r2);
        assert!(Rakp2::decode(&out, 20).is_err());
    }

    #[test]
    fn rejects_rakp1_name_longer_than_16() {
        let mut b = vec![0u8; 28 + 17];
        b[27] = 17;
        assert!(matches!(
            Rakp1::decode(&b),
            Err(DecodeError::InvalidField { at: 27, .. })
        ));
        let long = Rakp1 {
            tag: 0,
            bmc_sid: 0,
            console_random: [0; 16],
            role: 4,
            username: vec![b'a'; 17],
        };
        assert_eq!(
            long.encode(&mut Vec::new()),
            Err(EncodeError::UsernameTooLong { len: 17 })
        );
    }

    #[test]
    fn error_status_responses_decode_short() {
        let r = OpenSessionResponse::decode(&[0, 0x11, 0, 0, 1, 0, 0, 0]).unwrap();
        assert_eq!(r.status, RakpStatus::NO_CIPHER_SUITE_MATCH);
        assert!(r.accepted.is_none());
        assert!(r.status.is_algorithm_refusal());
    }
}
