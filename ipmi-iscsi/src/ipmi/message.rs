//! Owned IPMI requests and responses, and their LAN message framing.
//!
//! IPMI v2.0 §13.8 (IPMI LAN message format). A request travelling from the remote
//! console to the BMC:
//!
//! ```text
//!  0        1             2      3        4             5     6 .. n-1   n
//! +--------+-------------+------+--------+-------------+-----+----------+------+
//! | rsAddr | netFn | rsLUN| chk1 | rqAddr | rqSeq | rqLUN| cmd | data ... | chk2 |
//! +--------+-------------+------+--------+-------------+-----+----------+------+
//!            bits 7:2  1:0                  bits 7:2  1:0
//! ```
//!
//! A response swaps the address roles (`rqAddr | netFn+1 | rqLUN | chk1 | rsAddr |
//! rqSeq | rsLUN | cmd | completion code | data | chk2`). `chk1` is the two's complement
//! of `byte0 + byte1`; `chk2` the two's complement of bytes 3 up to the last data byte,
//! so that each checksummed range sums to zero modulo 256.

use bytes::BufMut;

use super::codes::{CompletionCode, NetFn};
use super::error::{DecodeError, EncodeError};

/// Slave address of the BMC on the IPMB (IPMI v2.0 §5.5).
pub const BMC_SLAVE_ADDR: u8 = 0x20;
/// Software ID of a remote console (IPMI v2.0 §5.5, "remote console software 1").
pub const REMOTE_CONSOLE_SWID: u8 = 0x81;
/// Largest request sequence number: the field is 6 bits wide.
pub const MAX_RQ_SEQ: u8 = 0x3f;
/// Largest LUN: the field is 2 bits wide.
pub const MAX_LUN: u8 = 0x03;
/// Bytes a LAN message adds around the command data (6 header bytes and chk2).
pub const FRAME_OVERHEAD: usize = 7;

/// Whether a request's data may carry a secret, so logs and `Debug` must not show it:
/// Set System Boot Options for an OEM parameter (96..=127: vendor records such as the
/// OEM iSCSI dialect's CHAP secrets) and the App commands that carry passwords or keys
/// (Set User Password 0x47, Set Channel Security Keys 0x56).
#[must_use]
pub fn data_may_hold_secret(netfn: NetFn, cmd: u8, data: &[u8]) -> bool {
    let netfn = netfn.request();
    if netfn == NetFn::CHASSIS && cmd == super::codes::chassis::SET_SYSTEM_BOOT_OPTIONS {
        return data
            .first()
            .is_some_and(|p| (96..=127).contains(&(p & 0x7f)));
    }
    netfn == NetFn::APP && matches!(cmd, 0x47 | 0x56)
}

/// Shows request data, or only its length when it may hold a secret.
struct DataShown<'a> {
    secret: bool,
    data: &'a [u8],
}

impl core::fmt::Debug for DataShown<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.secret {
            write!(f, "<{} bytes, may hold a secret: ***>", self.data.len())
        } else {
            core::fmt::Debug::fmt(self.data, f)
        }
    }
}

impl core::fmt::Debug for Request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let secret = data_may_hold_secret(self.netfn, self.cmd, &self.data);
        f.debug_struct("Request")
            .field("netfn", &self.netfn)
            .field("lun", &self.lun)
            .field("cmd", &self.cmd)
            .field(
                "data",
                &DataShown {
                    secret,
                    data: &self.data,
                },
            )
            .finish()
    }
}

impl core::fmt::Debug for RequestFrame<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let secret = data_may_hold_secret(self.netfn, self.cmd, self.data);
        f.debug_struct("RequestFrame")
            .field("addressing", &self.addressing)
            .field("netfn", &self.netfn)
            .field("lun", &self.lun)
            .field("cmd", &self.cmd)
            .field(
                "data",
                &DataShown {
                    secret,
                    data: self.data,
                },
            )
            .finish()
    }
}

/// An IPMI request: what to ask, without transport addressing.
///
/// `Debug` hides the data bytes of requests that may carry secrets (see
/// [`data_may_hold_secret`]), so a request can be logged with `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Network function (a request NetFn, even).
    pub netfn: NetFn,
    /// Responder LUN (0..=3); 0 for the BMC itself.
    pub lun: u8,
    /// Command number within the NetFn.
    pub cmd: u8,
    /// Request data bytes.
    pub data: Vec<u8>,
}

impl Request {
    /// A request to LUN 0.
    #[must_use]
    pub fn new(netfn: NetFn, cmd: u8, data: impl Into<Vec<u8>>) -> Self {
        Self {
            netfn,
            lun: 0,
            cmd,
            data: data.into(),
        }
    }
}

/// An IPMI response: the completion code and the bytes after it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    /// Completion code (a peer's code is data, not a Rust error).
    pub completion: CompletionCode,
    /// Response data after the completion code.
    pub data: Vec<u8>,
}

impl Response {
    /// A successful response carrying `data`.
    #[must_use]
    pub fn ok(data: impl Into<Vec<u8>>) -> Self {
        Self {
            completion: CompletionCode::OK,
            data: data.into(),
        }
    }

    /// A response with only a completion code.
    #[must_use]
    pub fn error(completion: CompletionCode) -> Self {
        Self {
            completion,
            data: Vec::new(),
        }
    }

    /// Whether the completion code is 0x00.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.completion.is_ok()
    }
}

/// Addressing of one LAN message: who asks whom, and the request sequence number.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Addressing {
    /// Responder slave address (normally [`BMC_SLAVE_ADDR`]).
    pub rs_addr: u8,
    /// Requester address (normally [`REMOTE_CONSOLE_SWID`]).
    pub rq_addr: u8,
    /// Request sequence number, 0..=63; a response echoes it.
    pub rq_seq: u8,
    /// Requester LUN, 0..=3.
    pub rq_lun: u8,
}

impl Default for Addressing {
    fn default() -> Self {
        Self {
            rs_addr: BMC_SLAVE_ADDR,
            rq_addr: REMOTE_CONSOLE_SWID,
            rq_seq: 0,
            rq_lun: 0,
        }
    }
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, b| acc.wrapping_add(*b))
        .wrapping_neg()
}

fn check_fields(netfn: NetFn, lun: u8, addr: Addressing) -> Result<(), EncodeError> {
    if netfn.0 > NetFn::MAX {
        return Err(EncodeError::FieldOutOfRange {
            field: "netfn",
            value: netfn.0,
        });
    }
    if lun > MAX_LUN {
        return Err(EncodeError::FieldOutOfRange {
            field: "rs lun",
            value: lun,
        });
    }
    if addr.rq_lun > MAX_LUN {
        return Err(EncodeError::FieldOutOfRange {
            field: "rq lun",
            value: addr.rq_lun,
        });
    }
    if addr.rq_seq > MAX_RQ_SEQ {
        return Err(EncodeError::FieldOutOfRange {
            field: "rq seq",
            value: addr.rq_seq,
        });
    }
    Ok(())
}

fn put_frame(
    dst: &mut impl BufMut,
    head: [u8; 6],
    completion: Option<CompletionCode>,
    data: &[u8],
) {
    let chk1 = checksum(&head[..2]);
    let tail = checksum(&head[3..]);
    let cc = completion.map_or(0, |c| c.0);
    let chk2 = tail
        .wrapping_sub(cc)
        .wrapping_sub(data.iter().fold(0u8, |a, b| a.wrapping_add(*b)));
    dst.put_slice(&[head[0], head[1], chk1, head[3], head[4], head[5]]);
    if let Some(c) = completion {
        dst.put_u8(c.0);
    }
    dst.put_slice(data);
    dst.put_u8(chk2);
}

impl Request {
    /// Length of the LAN message [`Request::encode`] writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        FRAME_OVERHEAD + self.data.len()
    }

    /// Writes the LAN message for this request (remote console → BMC).
    ///
    /// # Errors
    /// [`EncodeError::FieldOutOfRange`] when the NetFn, a LUN or the sequence number does
    /// not fit its bit field.
    pub fn encode(&self, addr: Addressing, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        check_fields(self.netfn, self.lun, addr)?;
        let head = [
            addr.rs_addr,
            (self.netfn.0 << 2) | self.lun,
            0,
            addr.rq_addr,
            (addr.rq_seq << 2) | addr.rq_lun,
            self.cmd,
        ];
        put_frame(dst, head, None, &self.data);
        Ok(())
    }
}

impl Response {
    /// Length of the LAN message [`Response::encode`] writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        FRAME_OVERHEAD + 1 + self.data.len()
    }

    /// Writes the LAN message answering `request` (BMC → remote console): the response
    /// NetFn, the request's LUNs, sequence number and command echoed back.
    ///
    /// # Errors
    /// [`EncodeError::FieldOutOfRange`] when a field of `request` does not fit its bit field.
    pub fn encode(
        &self,
        request: &RequestFrame<'_>,
        dst: &mut impl BufMut,
    ) -> Result<(), EncodeError> {
        let addr = request.addressing;
        let netfn = request.netfn.response();
        check_fields(netfn, request.lun, addr)?;
        let head = [
            addr.rq_addr,
            (netfn.0 << 2) | addr.rq_lun,
            0,
            addr.rs_addr,
            (addr.rq_seq << 2) | request.lun,
            request.cmd,
        ];
        put_frame(dst, head, Some(self.completion), &self.data);
        Ok(())
    }
}

/// Checks the framing and both checksums of a LAN message; returns the body
/// (bytes 6..n-1).
fn check_frame(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    if bytes.len() < FRAME_OVERHEAD {
        return Err(DecodeError::Truncated {
            what: "ipmi message",
            need: FRAME_OVERHEAD,
            have: bytes.len(),
        });
    }
    if checksum(&bytes[..2]) != bytes[2] {
        return Err(DecodeError::BadChecksum {
            which: "chk1",
            at: 2,
        });
    }
    let last = bytes.len() - 1;
    if checksum(&bytes[3..last]) != bytes[last] {
        return Err(DecodeError::BadChecksum {
            which: "chk2",
            at: last,
        });
    }
    Ok(&bytes[6..last])
}

/// A decoded request LAN message, borrowing its data (what a BMC receives).
///
/// `Debug` hides secret-bearing data like [`Request`]'s does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestFrame<'a> {
    /// Addresses, sequence number and requester LUN.
    pub addressing: Addressing,
    /// Request NetFn.
    pub netfn: NetFn,
    /// Responder LUN.
    pub lun: u8,
    /// Command number.
    pub cmd: u8,
    /// Request data.
    pub data: &'a [u8],
}

impl<'a> RequestFrame<'a> {
    /// Decodes and checks a request LAN message.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] below 7 bytes, [`DecodeError::BadChecksum`] when a
    /// checksum does not match, [`DecodeError::UnexpectedNetFn`] for a response NetFn.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let data = check_frame(bytes)?;
        let netfn = NetFn(bytes[1] >> 2);
        if netfn.is_response() {
            return Err(DecodeError::UnexpectedNetFn {
                netfn: netfn.0,
                at: 1,
            });
        }
        Ok(Self {
            addressing: Addressing {
                rs_addr: bytes[0],
                rq_addr: bytes[3],
                rq_seq: bytes[4] >> 2,
                rq_lun: bytes[4] & MAX_LUN,
            },
            netfn,
            lun: bytes[1] & MAX_LUN,
            cmd: bytes[5],
            data,
        })
    }

    /// The owned request.
    #[must_use]
    pub fn to_request(&self) -> Request {
        Request {
            netfn: self.netfn,
            lun: self.lun,
            cmd: self.cmd,
            data: self.data.to_vec(),
        }
    }
}

/// A decoded response LAN message, borrowing its data (what a remote console receives).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ResponseFrame<'a> {
    /// Addresses (in request terms), echoed sequence number and requester LUN.
    pub addressing: Addressing,
    /// Response NetFn (odd).
    pub netfn: NetFn,
    /// Responder LUN.
    pub lun: u8,
    /// Command number echoed from the request.
    pub cmd: u8,
    /// Completion code.
    pub completion: CompletionCode,
    /// Response data after the completion code.
    pub data: &'a [u8],
}

impl<'a> ResponseFrame<'a> {
    /// Decodes and checks a response LAN message.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] below 8 bytes, [`DecodeError::BadChecksum`] when a
    /// checksum does not match, [`DecodeError::UnexpectedNetFn`] for a request NetFn.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let body = check_frame(bytes)?;
        let Some((&cc, data)) = body.split_first() else {
            return Err(DecodeError::Truncated {
                what: "ipmi response",
                need: FRAME_OVERHEAD + 1,
                have: bytes.len(),
            });
        };
        let netfn = NetFn(bytes[1] >> 2);
        if !netfn.is_response() {
            return Err(DecodeError::UnexpectedNetFn {
                netfn: netfn.0,
                at: 1,
            });
        }
        Ok(Self {
            addressing: Addressing {
                rs_addr: bytes[3],
                rq_addr: bytes[0],
                rq_seq: bytes[4] >> 2,
                rq_lun: bytes[1] & MAX_LUN,
            },
            netfn,
            lun: bytes[4] & MAX_LUN,
            cmd: bytes[5],
            completion: CompletionCode(cc),
            data,
        })
    }

    /// The owned response.
    #[must_use]
    pub fn to_response(&self) -> Response {
        Response {
            completion: self.completion,
            data: self.data.to_vec(),
        }
    }

    /// Whether this frame answers a request with `netfn`, `cmd` and `rq_seq`.
    #[must_use]
    pub fn answers(&self, netfn: NetFn, cmd: u8, rq_seq: u8) -> bool {
        self.netfn == netfn.response() && self.cmd == cmd && self.addressing.rq_seq == rq_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::codes::app;

    /// Digest §3.7.1, from the trace in github.com/ipmitool/ipmitool/issues/154: the
    /// IPMI message inside a pre-session Get Channel Authentication Capabilities.
    const GET_CHANNEL_AUTH_CAPS: [u8; 9] = [0x20, 0x18, 0xc8, 0x81, 0x00, 0x38, 0x8e, 0x04, 0xb5];

    #[test]
    fn encodes_get_channel_auth_caps_like_the_ipmitool_trace() {
        let req = Request::new(NetFn::APP, app::GET_CHANNEL_AUTH_CAPABILITIES, [0x8e, 0x04]);
        let mut out = Vec::new();
        req.encode(Addressing::default(), &mut out).unwrap();
        assert_eq!(out, GET_CHANNEL_AUTH_CAPS);
        assert_eq!(out.len(), req.encoded_len());
    }

    #[test]
    fn decodes_get_channel_auth_caps_trace() {
        let f = RequestFrame::decode(&GET_CHANNEL_AUTH_CAPS).unwrap();
        assert_eq!(f.netfn, NetFn::APP);
        assert_eq!(f.cmd, 0x38);
        assert_eq!(f.data, &[0x8e, 0x04]);
        assert_eq!(f.addressing, Addressing::default());
    }

    #[test]
    fn rejects_bad_chk1_and_chk2_with_offsets() {
        let mut b = GET_CHANNEL_AUTH_CAPS;
        b[2] ^= 1;
        assert_eq!(
            RequestFrame::decode(&b),
            Err(DecodeError::BadChecksum {
                which: "chk1",
                at: 2
            })
        );
        let mut b = GET_CHANNEL_AUTH_CAPS;
        b[7] ^= 1;
        assert_eq!(
            RequestFrame::decode(&b),
            Err(DecodeError::BadChecksum {
                which: "chk2",
                at: 8
            })
        );
    }

    #[test]
    fn response_echoes_request_addressing_and_round_trips() {
        let req = Request::new(NetFn::CHASSIS, 0x09, [0x05, 0, 0]);
        let addr = Addressing {
            rq_seq: 17,
            ..Addressing::default()
        };
        let mut wire = Vec::new();
        req.encode(addr, &mut wire).unwrap();
        let frame = RequestFrame::decode(&wire).unwrap();
        let resp = Response::ok([1, 5, 0x80, 0, 0, 0, 0]);
        let mut rwire = Vec::new();
        resp.encode(&frame, &mut rwire).unwrap();
        assert_eq!(rwire.len(), resp.encoded_len());
        let r = ResponseFrame::decode(&rwire).unwrap();
        assert!(r.answers(NetFn::CHASSIS, 0x09, 17));
        assert_eq!(r.addressing, addr);
        assert_eq!(r.to_response(), resp);
    }

    #[test]
    fn truncation_sweep_never_accepts_a_prefix() {
        for n in 0..GET_CHANNEL_AUTH_CAPS.len() {
            assert!(RequestFrame::decode(&GET_CHANNEL_AUTH_CAPS[..n]).is_err());
            assert!(ResponseFrame::decode(&GET_CHANNEL_AUTH_CAPS[..n]).is_err());
        }
    }

    #[test]
    fn refuses_to_encode_out_of_range_fields() {
        let req = Request::new(NetFn(0x40), 1, []);
        assert!(matches!(
            req.encode(Addressing::default(), &mut Vec::new()),
            Err(EncodeError::FieldOutOfRange { field: "netfn", .. })
        ));
        let req = Request::new(NetFn::APP, 1, []);
        let addr = Addressing {
            rq_seq: 64,
            ..Addressing::default()
        };
        assert!(req.encode(addr, &mut Vec::new()).is_err());
    }

    #[test]
    fn completion_code_debug_names_known_and_numbers_unknown() {
        assert_eq!(
            format!("{:?}", CompletionCode(0xc9)),
            "CompletionCode(0xc9 parameter out of range)"
        );
        assert_eq!(
            format!("{:?}", CompletionCode(0x90)),
            "CompletionCode(0x90)"
        );
        assert_eq!(CompletionCode::BOOT_PARAM_READ_ONLY.0, 0x82);
    }

    #[test]
    fn debug_hides_data_of_secret_bearing_requests() {
        // OEM parameter 0x6A (CHAP secret record), block 0, secret "topsecret!!!".
        let mut data = vec![0x6a, 0x00];
        data.extend_from_slice(b"topsecret!!!");
        let shown = format!("{:?}", Request::new(NetFn::CHASSIS, 0x08, data.clone()));
        assert!(!shown.contains("116, 111, 112"), "{shown}"); // "top" as bytes
        assert!(shown.contains("may hold a secret"), "{shown}");
        // Standard parameter 5 stays visible for debugging.
        let flags = format!(
            "{:?}",
            Request::new(NetFn::CHASSIS, 0x08, [5u8, 0xa0, 4, 0, 0, 0])
        );
        assert!(flags.contains("[5, 160, 4, 0, 0, 0]"), "{flags}");
        // Set User Password.
        let pw = format!("{:?}", Request::new(NetFn::APP, 0x47, *b"\x02\x02hunter2"));
        assert!(pw.contains("***") && !pw.contains("104, 117"), "{pw}");
    }
}
