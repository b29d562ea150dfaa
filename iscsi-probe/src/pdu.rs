//! The iSCSI PDU frame: a borrowed view over one whole PDU (RFC 7143 §11.2).
//!
//! ```text
//! RFC 7143 §11.2.1 Basic Header Segment (BHS), 48 bytes
//! Byte/     0       |       1       |       2       |       3       |
//!    /              |               |               |               |
//!   |7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|
//!   +---------------+---------------+---------------+---------------+
//!  0|.|I| Opcode    |F|  Opcode-specific fields                     |
//!   +---------------+---------------+---------------+---------------+
//!  4|TotalAHSLength | DataSegmentLength                             |
//!   +---------------+---------------+---------------+---------------+
//!  8| LUN or Opcode-specific fields                                 |
//!   +                                                               +
//! 12|                                                               |
//!   +---------------+---------------+---------------+---------------+
//! 16| Initiator Task Tag                                            |
//!   +---------------+---------------+---------------+---------------+
//! 20/ Opcode-specific fields                                        /
//!  +/                                                               /
//!   +---------------+---------------+---------------+---------------+
//! 48| AHS (TotalAHSLength x 4 bytes), optional                      |
//!   +---------------+---------------+---------------+---------------+
//!   | Header digest (none: we negotiate HeaderDigest=None)          |
//!   +---------------+---------------+---------------+---------------+
//!   | Data segment (DataSegmentLength bytes, padded to 4)           |
//!   +---------------+---------------+---------------+---------------+
//!   | Data digest (none: we negotiate DataDigest=None)              |
//!   +---------------+---------------+---------------+---------------+
//! ```
//!
//! This crate always negotiates `HeaderDigest=None` and `DataDigest=None`, so frames carry no
//! digests.

use crate::codes::Opcode;
use crate::error::DecodeError;

/// Length of the Basic Header Segment.
pub const BHS_LEN: usize = 48;
/// Largest AHS a BHS can declare (TotalAHSLength is a count of 4-byte words in one byte).
pub const MAX_AHS_LEN: usize = 255 * 4;
/// Largest value a 24-bit DataSegmentLength can hold.
pub const MAX_DATA_SEGMENT_LEN: usize = 0x00ff_ffff;
/// The reserved task tag value (RFC 7143 §11.2.1.8).
pub const RESERVED_TAG: u32 = 0xffff_ffff;

/// Byte offsets of the fields every BHS shares.
pub(crate) mod field {
    use core::ops::Range;
    pub(crate) const OPCODE: usize = 0;
    pub(crate) const FLAGS: usize = 1;
    pub(crate) const TOTAL_AHS_LEN: usize = 4;
    pub(crate) const DATA_SEGMENT_LEN: Range<usize> = 5..8;
    pub(crate) const LUN: Range<usize> = 8..16;
    pub(crate) const ITT: Range<usize> = 16..20;
}

/// Rounds a length up to the next multiple of 4 (data segments are padded, RFC 7143 §11.2.3).
#[must_use]
pub fn padded_len(len: usize) -> Option<usize> {
    len.checked_add(3).map(|l| l & !3)
}

/// A borrowed view over exactly one PDU: BHS, AHS and padded data segment.
///
/// Invariant (checked by every constructor): the buffer holds at least [`BHS_LEN`] bytes and is
/// exactly `48 + TotalAHSLength*4 + padded(DataSegmentLength)` long, so no accessor can panic.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pdu<'a> {
    buf: &'a [u8],
}

impl core::fmt::Debug for Pdu<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pdu")
            .field("opcode", &self.opcode())
            .field("itt", &format_args!("{:#010x}", self.itt()))
            .field("ahs_len", &self.total_ahs_len())
            .field("data_len", &self.data_segment_len())
            .finish()
    }
}

fn declared_lengths(bhs: &[u8]) -> (usize, usize) {
    let ahs = usize::from(bhs[field::TOTAL_AHS_LEN]) * 4;
    let d = &bhs[field::DATA_SEGMENT_LEN];
    let data = usize::from(d[0]) << 16 | usize::from(d[1]) << 8 | usize::from(d[2]);
    (ahs, data)
}

impl<'a> Pdu<'a> {
    /// How long the PDU at the start of `buf` is, once its header is there.
    ///
    /// `Ok(None)` means fewer than 48 bytes are buffered ("need more" is not an error). The data
    /// segment length is checked against `max_data` here, before anyone buffers the body.
    ///
    /// # Errors
    /// [`DecodeError::DataSegmentTooLong`] when the header claims more than `max_data`.
    pub fn frame_len(buf: &[u8], max_data: usize) -> Result<Option<usize>, DecodeError> {
        let Some(bhs) = buf.get(..BHS_LEN) else {
            return Ok(None);
        };
        let (ahs, data) = declared_lengths(bhs);
        if data > max_data {
            return Err(DecodeError::DataSegmentTooLong {
                declared: data,
                limit: max_data,
            });
        }
        // Both terms are bounded (1020 and 16 MiB), so the sum cannot overflow.
        let padded = (data + 3) & !3;
        Ok(Some(BHS_LEN + ahs + padded))
    }

    /// Splits the first whole PDU off `buf`, returning it and the bytes it used.
    ///
    /// `Ok(None)` means more bytes are needed.
    ///
    /// # Errors
    /// [`DecodeError::DataSegmentTooLong`] as for [`Pdu::frame_len`].
    pub fn parse(buf: &'a [u8], max_data: usize) -> Result<Option<(Pdu<'a>, usize)>, DecodeError> {
        match Self::frame_len(buf, max_data)? {
            Some(len) => Ok(buf.get(..len).map(|b| (Pdu { buf: b }, len))),
            None => Ok(None),
        }
    }

    /// Wraps a buffer that must hold exactly one PDU.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] under 48 bytes, [`DecodeError::LengthMismatch`] when the
    /// buffer length differs from what the header declares.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let Some(bhs) = buf.get(..BHS_LEN) else {
            return Err(DecodeError::Truncated {
                what: "basic header segment",
                at: 0,
                needed: BHS_LEN,
                available: buf.len(),
            });
        };
        let (ahs, data) = declared_lengths(bhs);
        let declared = BHS_LEN + ahs + ((data + 3) & !3);
        if declared != buf.len() {
            return Err(DecodeError::LengthMismatch {
                declared,
                actual: buf.len(),
            });
        }
        Ok(Pdu { buf })
    }

    /// The whole PDU, as on the wire.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The 48-byte Basic Header Segment.
    #[must_use]
    pub fn bhs(&self) -> &'a [u8] {
        &self.buf[..BHS_LEN]
    }

    /// Opcode (low six bits of byte 0).
    #[must_use]
    pub fn opcode(&self) -> Opcode {
        Opcode(self.buf[field::OPCODE] & 0x3f)
    }

    /// The I (immediate delivery) bit.
    #[must_use]
    pub fn immediate(&self) -> bool {
        self.buf[field::OPCODE] & 0x40 != 0
    }

    /// Byte 1: the F bit and opcode-specific flags.
    #[must_use]
    pub fn flags(&self) -> u8 {
        self.buf[field::FLAGS]
    }

    /// The F (final) bit.
    #[must_use]
    pub fn final_bit(&self) -> bool {
        self.flags() & 0x80 != 0
    }

    /// TotalAHSLength in bytes.
    #[must_use]
    pub fn total_ahs_len(&self) -> usize {
        declared_lengths(self.bhs()).0
    }

    /// DataSegmentLength in bytes (without padding).
    #[must_use]
    pub fn data_segment_len(&self) -> usize {
        declared_lengths(self.bhs()).1
    }

    /// Bytes 8..16: the LUN, or opcode-specific fields.
    #[must_use]
    pub fn lun(&self) -> [u8; 8] {
        self.array(field::LUN.start)
    }

    /// Initiator Task Tag.
    #[must_use]
    pub fn itt(&self) -> u32 {
        self.u32_at(field::ITT.start)
    }

    /// The Additional Header Segments, undecoded.
    #[must_use]
    pub fn ahs(&self) -> &'a [u8] {
        &self.buf[BHS_LEN..BHS_LEN + self.total_ahs_len()]
    }

    /// The data segment without its padding.
    #[must_use]
    pub fn data(&self) -> &'a [u8] {
        let start = BHS_LEN + self.total_ahs_len();
        &self.buf[start..start + self.data_segment_len()]
    }

    /// Byte `at` of the BHS (`at` < 48, a constant at every call site).
    pub(crate) fn u8_at(&self, at: usize) -> u8 {
        self.bhs()[at % BHS_LEN]
    }

    /// Big-endian u16 at BHS offset `at` (≤ 46).
    pub(crate) fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes(self.array(at))
    }

    /// Big-endian u32 at BHS offset `at` (≤ 44).
    pub(crate) fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.array(at))
    }

    /// `N` bytes at BHS offset `at`; zeros if the range leaves the BHS (never for our constants).
    pub(crate) fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.bhs().get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ahs_words: u8, data_len: u32) -> Vec<u8> {
        let mut h = vec![0u8; BHS_LEN];
        h[0] = 0x23;
        h[4] = ahs_words;
        h[5..8].copy_from_slice(&data_len.to_be_bytes()[1..]);
        h
    }

    #[test]
    fn need_more_below_48_bytes_is_not_an_error() {
        assert_eq!(Pdu::frame_len(&[0u8; 47], 8192), Ok(None));
    }

    #[test]
    fn frame_len_adds_ahs_and_padding() {
        assert_eq!(Pdu::frame_len(&header(2, 5), 8192), Ok(Some(48 + 8 + 8)));
    }

    #[test]
    fn rejects_data_segment_over_the_limit_before_buffering() {
        assert_eq!(
            Pdu::frame_len(&header(0, 0x00ff_ffff), 8192),
            Err(DecodeError::DataSegmentTooLong {
                declared: 0x00ff_ffff,
                limit: 8192
            })
        );
    }

    #[test]
    fn new_checked_rejects_length_mismatch() {
        let mut b = header(0, 4);
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            Pdu::new_checked(&b),
            Err(DecodeError::LengthMismatch {
                declared: 52,
                actual: 51
            })
        );
        b.push(4);
        let p = Pdu::new_checked(&b).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4]);
        assert_eq!(p.opcode(), Opcode::LOGIN_RESPONSE);
    }

    #[test]
    fn data_excludes_padding() {
        let mut b = header(1, 2);
        b.extend_from_slice(&[9, 9, 9, 9, 7, 8, 0, 0]);
        let (p, used) = Pdu::parse(&b, 8192).unwrap().unwrap();
        assert_eq!(used, 56);
        assert_eq!(p.ahs(), &[9, 9, 9, 9]);
        assert_eq!(p.data(), &[7, 8]);
    }
}
