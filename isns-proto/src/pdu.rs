//! The iSNSP PDU (RFC 4171 §5.1): a 12-byte header, the payload, and an optional
//! authentication block (§5.5) skipped by its own length.
//!
//! ```text
//!  Byte   MSb                                        LSb
//!  Offset 0                     15 16                 31
//!         +-------------------------+-------------------+
//!       0 |     iSNSP VERSION       |    FUNCTION ID    | 4 Bytes
//!         +-------------------------+-------------------+
//!       4 |      PDU LENGTH         |       FLAGS       | 4 Bytes
//!         +-------------------------+-------------------+
//!       8 |     TRANSACTION ID      |    SEQUENCE ID    | 4 Bytes
//!         +-------------------------+-------------------+
//!      12 |                                             |
//!         |               PDU PAYLOAD                   | N Bytes
//!         |                                             |
//!         +---------------------------------------------+
//!    12+N |  AUTHENTICATION BLOCK (Multicast/Broadcast) | L Bytes
//!         +---------------------------------------------+
//! ```
//!
//! PDU LENGTH counts the payload only. The authentication block, present when the AUTH
//! flag is set, is laid out as (every field twice as wide as SLP's):
//!
//! ```text
//!         +---------------------------------------------+
//!       0 |     Block Structure Descriptor (BSD)        | 4 Bytes
//!         +---------------------------------------------+
//!       4 |     Authentication Block Length (L)         | 4 Bytes
//!         +---------------------------------------------+
//!       8 |     Timestamp                               | 8 Bytes
//!         +---------------------------------------------+
//!      16 |     SPI String Length                       | 4 Bytes
//!         +---------------------------------------------+
//!      20 |     SPI String / Structured Authenticator   | rest
//!         +---------------------------------------------+
//! ```

use crate::message::Body;
use crate::{Attrs, DecodeError, FunctionId, PduFlags, Status};

/// Size of the PDU header.
pub const HEADER_LEN: usize = 12;
/// The only iSNSP version (RFC 4171 §5.1.1).
pub const ISNSP_VERSION: u16 = 1;
/// Largest payload a PDU can declare that is a multiple of 4.
pub const MAX_PAYLOAD_LEN: usize = 65532;
/// Smallest legal authentication block (descriptor, length, timestamp, SPI length).
pub const AUTH_BLOCK_MIN_LEN: usize = 20;

mod field {
    use core::ops::Range;
    pub(super) const VERSION: Range<usize> = 0..2;
    pub(super) const FUNCTION: Range<usize> = 2..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const FLAGS: Range<usize> = 6..8;
    pub(super) const XID: Range<usize> = 8..10;
    pub(super) const SEQ: Range<usize> = 10..12;
}

/// A borrowed view of one complete PDU.
///
/// Invariant (checked by [`Pdu::parse`]): the buffer holds the 12-byte header, a payload
/// of exactly PDU LENGTH bytes (a multiple of 4) and, when flagged, an authentication block
/// whose length fields are consistent. No accessor can panic.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pdu<'a> {
    buf: &'a [u8],
    payload_end: usize,
    auth: Option<AuthBlock<'a>>,
}

/// A borrowed view of an authentication block (RFC 4171 §5.5). Its signature is not checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthBlock<'a> {
    bsd: u32,
    timestamp: u64,
    spi: &'a [u8],
    authenticator: &'a [u8],
}

impl<'a> AuthBlock<'a> {
    /// Block Structure Descriptor (2 = DSA with SHA-1).
    #[must_use]
    pub fn bsd(&self) -> u32 {
        self.bsd
    }
    /// Timestamp (seconds since the epoch).
    #[must_use]
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }
    /// SPI string bytes.
    #[must_use]
    pub fn spi(&self) -> &'a [u8] {
        self.spi
    }
    /// The structured authenticator (signature) bytes.
    #[must_use]
    pub fn authenticator(&self) -> &'a [u8] {
        self.authenticator
    }
}

fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    b.get(r)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .map_or(0, u16::from_be_bytes)
}

fn be32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
}

/// Reads how long the PDU at the start of `buf` is, without trusting more than the header
/// (and the authentication block's length field when the AUTH flag is set).
///
/// Returns `Ok(None)` when more bytes are needed to know ("need more" is not an error).
///
/// # Errors
/// [`DecodeError::BadVersion`], [`DecodeError::PduLengthNotAligned`],
/// [`DecodeError::AuthBlockLength`] or [`DecodeError::PduTooLarge`] when the length is
/// above `max`.
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let version = be16(buf, field::VERSION);
    if version != ISNSP_VERSION {
        return Err(DecodeError::BadVersion {
            version,
            at: field::VERSION.start,
        });
    }
    let len = be16(buf, field::LENGTH);
    if !len.is_multiple_of(4) {
        return Err(DecodeError::PduLengthNotAligned {
            len,
            at: field::LENGTH.start,
        });
    }
    let payload_end = HEADER_LEN + usize::from(len);
    let flags = PduFlags::from_bits_retain(be16(buf, field::FLAGS));
    let total = if flags.contains(PduFlags::AUTH) {
        let Some(auth_len) = be32_at(buf, payload_end + 4) else {
            return Ok(None);
        };
        let n = usize::try_from(auth_len).unwrap_or(usize::MAX);
        if n < AUTH_BLOCK_MIN_LEN || !n.is_multiple_of(4) || n > MAX_PAYLOAD_LEN {
            return Err(DecodeError::AuthBlockLength {
                len: auth_len,
                available: buf.len().saturating_sub(payload_end),
                at: payload_end + 4,
            });
        }
        payload_end + n
    } else {
        payload_end
    };
    if total > max {
        return Err(DecodeError::PduTooLarge {
            len: total,
            max,
            at: 0,
        });
    }
    Ok(Some(total))
}

impl<'a> Pdu<'a> {
    /// Parses a buffer that holds exactly one PDU.
    ///
    /// # Errors
    /// Any header, length or authentication block fault, [`DecodeError::Truncated`] when
    /// bytes are missing and [`DecodeError::TrailingBytes`] when some are left over.
    pub fn parse(buf: &'a [u8]) -> Result<Pdu<'a>, DecodeError> {
        let (pdu, used) = Self::parse_prefix(buf)?;
        if used != buf.len() {
            return Err(DecodeError::TrailingBytes {
                count: buf.len() - used,
                at: used,
            });
        }
        Ok(pdu)
    }

    /// Parses the PDU at the start of `buf`, returning it and the bytes it used.
    ///
    /// # Errors
    /// As [`Pdu::parse`], except that trailing bytes are allowed.
    pub fn parse_prefix(buf: &'a [u8]) -> Result<(Pdu<'a>, usize), DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "PDU header",
                needed: HEADER_LEN,
                available: buf.len(),
                at: 0,
            });
        }
        let payload_end = HEADER_LEN + usize::from(be16(buf, field::LENGTH));
        let total = match frame_len(buf, usize::MAX)? {
            Some(n) => n,
            // Only an AUTH PDU whose block length field is cut off gets here.
            None => payload_end + 8,
        };
        if buf.len() < total {
            let (what, from) = if buf.len() < payload_end {
                ("PDU payload", HEADER_LEN)
            } else {
                ("authentication block", payload_end)
            };
            return Err(DecodeError::Truncated {
                what,
                needed: total - from,
                available: buf.len() - from,
                at: from,
            });
        }
        let buf = buf.get(..total).unwrap_or(buf);
        let auth = if total > payload_end {
            Some(parse_auth(buf, payload_end)?)
        } else {
            None
        };
        Ok((
            Pdu {
                buf,
                payload_end,
                auth,
            },
            total,
        ))
    }

    /// The whole PDU.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// iSNSP version (always 1 after parsing).
    #[must_use]
    pub fn version(&self) -> u16 {
        be16(self.buf, field::VERSION)
    }
    /// Function ID.
    #[must_use]
    pub fn function(&self) -> FunctionId {
        FunctionId(be16(self.buf, field::FUNCTION))
    }
    /// Payload length (PDU LENGTH field).
    #[must_use]
    pub fn payload_len(&self) -> usize {
        self.payload_end - HEADER_LEN
    }
    /// Flags, unknown bits kept.
    #[must_use]
    pub fn flags(&self) -> PduFlags {
        PduFlags::from_bits_retain(be16(self.buf, field::FLAGS))
    }
    /// Transaction ID.
    #[must_use]
    pub fn xid(&self) -> u16 {
        be16(self.buf, field::XID)
    }
    /// Sequence ID.
    #[must_use]
    pub fn seq(&self) -> u16 {
        be16(self.buf, field::SEQ)
    }
    /// True when FIRST and LAST are both set: the PDU holds a whole message.
    #[must_use]
    pub fn is_whole_message(&self) -> bool {
        self.flags().contains(PduFlags::SINGLE)
    }
    /// The payload bytes.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.buf.get(HEADER_LEN..self.payload_end).unwrap_or(&[])
    }
    /// The authentication block, when the AUTH flag is set.
    #[must_use]
    pub fn auth_block(&self) -> Option<AuthBlock<'a>> {
        self.auth
    }
    /// Every TLV of the payload (for a response this starts after the 4-byte status;
    /// use [`Pdu::body`] for the Source / Key / Operating split).
    #[must_use]
    pub fn attrs(&self) -> Attrs<'a> {
        if self.function().is_response() {
            Attrs::new(self.payload().get(4..).unwrap_or(&[]), HEADER_LEN + 4)
        } else {
            Attrs::new(self.payload(), HEADER_LEN)
        }
    }
    /// The status of a response PDU (`None` for requests or a payload shorter than 4 bytes).
    #[must_use]
    pub fn status(&self) -> Option<Status> {
        if !self.function().is_response() {
            return None;
        }
        be32_at(self.payload(), 0).map(Status)
    }
    /// The message-level view of this PDU's payload, split per its Function ID.
    ///
    /// # Errors
    /// Any attribute framing error, or a missing status or source.
    pub fn body(&self) -> Result<Body<'a>, DecodeError> {
        Body::parse(self.function(), self.payload(), HEADER_LEN)
    }
}

fn parse_auth(buf: &[u8], start: usize) -> Result<AuthBlock<'_>, DecodeError> {
    // `frame_len` already bounded the block by its own length field; `buf` ends there.
    let block = buf.get(start..).unwrap_or(&[]);
    let field = |at: usize| be32_at(block, at).unwrap_or(0);
    let bsd = field(0);
    let timestamp = (u64::from(field(8)) << 32) | u64::from(field(12));
    let spi_len = field(16);
    let spi = usize::try_from(spi_len)
        .ok()
        .and_then(|n| block.get(AUTH_BLOCK_MIN_LEN..AUTH_BLOCK_MIN_LEN.checked_add(n)?))
        .ok_or(DecodeError::AuthSpiLength {
            len: spi_len,
            at: start + 16,
        })?;
    let authenticator = block.get(AUTH_BLOCK_MIN_LEN + spi.len()..).unwrap_or(&[]);
    Ok(AuthBlock {
        bsd,
        timestamp,
        spi,
        authenticator,
    })
}

impl core::fmt::Debug for Pdu<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pdu")
            .field("function", &self.function())
            .field("flags", &self.flags())
            .field("xid", &self.xid())
            .field("seq", &self.seq())
            .field("payload_len", &self.payload_len())
            .field("auth", &self.auth.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(function: u16, len: u16, flags: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [1u16, function, len, flags, 7, 0] {
            v.extend(x.to_be_bytes());
        }
        v
    }

    #[test]
    fn rejects_bad_version_at_offset_0() {
        let mut b = header(1, 0, 0x8c00);
        b[1] = 2;
        assert_eq!(
            Pdu::parse(&b),
            Err(DecodeError::BadVersion { version: 2, at: 0 })
        );
    }

    #[test]
    fn rejects_pdu_length_not_multiple_of_4() {
        let mut b = header(1, 6, 0x8c00);
        b.extend([0; 6]);
        assert_eq!(
            Pdu::parse(&b),
            Err(DecodeError::PduLengthNotAligned { len: 6, at: 4 })
        );
    }

    #[test]
    fn rejects_truncated_payload() {
        let mut b = header(1, 8, 0x8c00);
        b.extend([0; 4]);
        assert_eq!(
            Pdu::parse(&b),
            Err(DecodeError::Truncated {
                what: "PDU payload",
                needed: 8,
                available: 4,
                at: 12
            })
        );
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut b = header(1, 0, 0x8c00);
        b.extend([0; 4]);
        assert_eq!(
            Pdu::parse(&b),
            Err(DecodeError::TrailingBytes { count: 4, at: 12 })
        );
    }

    #[test]
    fn skips_auth_block_by_its_own_length() {
        let mut b = header(2, 4, 0xAC00);
        b.extend([0, 0, 0, 0]);
        b.extend(2u32.to_be_bytes());
        b.extend(28u32.to_be_bytes());
        b.extend(1_700_000_000u64.to_be_bytes());
        b.extend(4u32.to_be_bytes());
        b.extend(b"spi1");
        b.extend([9, 9, 9, 9]);
        let p = Pdu::parse(&b).unwrap();
        assert_eq!(p.payload(), &[0, 0, 0, 0]);
        let a = p.auth_block().unwrap();
        assert_eq!(
            (a.bsd(), a.timestamp(), a.spi(), a.authenticator()),
            (2, 1_700_000_000, &b"spi1"[..], &[9u8, 9, 9, 9][..])
        );
    }

    #[test]
    fn rejects_auth_block_shorter_than_its_fixed_fields() {
        let mut b = header(2, 0, 0xAC00);
        b.extend(2u32.to_be_bytes());
        b.extend(8u32.to_be_bytes());
        assert_eq!(
            Pdu::parse(&b),
            Err(DecodeError::AuthBlockLength {
                len: 8,
                available: 8,
                at: 16
            })
        );
    }

    #[test]
    fn rejects_auth_spi_overrunning_block() {
        let mut b = header(2, 0, 0xAC00);
        b.extend(2u32.to_be_bytes());
        b.extend(20u32.to_be_bytes());
        b.extend(0u64.to_be_bytes());
        b.extend(4u32.to_be_bytes());
        assert_eq!(
            Pdu::parse(&b),
            Err(DecodeError::AuthSpiLength { len: 4, at: 28 })
        );
    }

    #[test]
    fn frame_len_needs_more_is_not_an_error() {
        assert_eq!(frame_len(&[0, 1, 0], 8192), Ok(None));
        let b = header(1, 8, 0x8c00);
        assert_eq!(frame_len(&b, 8192), Ok(Some(20)));
        assert_eq!(
            frame_len(&b, 16),
            Err(DecodeError::PduTooLarge {
                len: 20,
                max: 16,
                at: 0
            })
        );
    }
}
