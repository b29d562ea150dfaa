//! The SLPv2 message header (RFC 2608 §8).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Version    |  Function-ID  |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Length, contd.|O|F|R|       reserved          |Next Ext Offset|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Extension Offset, contd.|              XID              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Language Tag Length      |         Language Tag          \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::code_points::FunctionId;
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

/// SLP protocol version carried in byte 0.
pub const VERSION: u8 = 2;

/// Fixed part of the header, before the language tag.
pub const FIXED_HEADER_LEN: usize = 14;

/// Largest value of the 24-bit length and offset fields.
pub const MAX_MESSAGE_LEN: usize = 0x00FF_FFFF;

bitflags::bitflags! {
    /// Header flags (16-bit field at byte 5). Unknown (reserved) bits are kept as received.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Flags: u16 {
        /// The reply did not fit in a datagram and was truncated (retry over TCP).
        const OVERFLOW = 0x8000;
        /// A new (not incremental) registration.
        const FRESH = 0x4000;
        /// The request was sent by multicast or broadcast.
        const REQUEST_MCAST = 0x2000;
    }
}

/// The semantic header fields a message carries besides its function ID and lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Flags (reserved bits are passed through).
    pub flags: Flags,
    /// Transaction ID: replies echo the request's; retransmissions reuse it.
    pub xid: u16,
    /// RFC 1766 language tag, e.g. `en`.
    pub language_tag: &'a str,
}

impl<'a> Header<'a> {
    /// A header with no flags.
    #[must_use]
    pub const fn new(xid: u16, language_tag: &'a str) -> Self {
        Header {
            flags: Flags::empty(),
            xid,
            language_tag,
        }
    }

    /// Encoded size of this header.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        FIXED_HEADER_LEN + self.language_tag.len()
    }
}

/// Every header field exactly as on the wire, after [`RawHeader::parse`] checked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    /// Function-ID.
    pub function: FunctionId,
    /// Total message length from the header.
    pub length: usize,
    /// Offset of the first extension, 0 for none.
    pub next_ext_offset: usize,
    /// Flags, XID and language tag.
    pub header: Header<'a>,
    /// Bytes the header occupies (14 + language tag).
    pub header_len: usize,
}

impl<'a> RawHeader<'a> {
    /// Parses the header at the start of `buf` (which may hold more than the header).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`], [`DecodeError::Version`] or [`DecodeError::Utf8`].
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, 0);
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(DecodeError::Version { version });
        }
        let function = FunctionId(r.u8("function id")?);
        let length = usize::try_from(r.u24("length")?).unwrap_or(usize::MAX);
        let flags = Flags::from_bits_retain(r.u16("flags")?);
        let next_ext_offset =
            usize::try_from(r.u24("next extension offset")?).unwrap_or(usize::MAX);
        let xid = r.u16("xid")?;
        let language_tag = r.string("language tag")?;
        Ok(RawHeader {
            function,
            length,
            next_ext_offset,
            header: Header {
                flags,
                xid,
                language_tag,
            },
            header_len: r.at(),
        })
    }
}

/// Length of the SLP message starting at `buf[0]`, for framing a TCP stream.
///
/// `Ok(None)` means more bytes are needed to tell (not an error).
///
/// # Errors
/// [`DecodeError::Version`] when byte 0 is not 2, [`DecodeError::LengthMismatch`] when
/// the length is smaller than a header.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != VERSION {
        return Err(DecodeError::Version { version });
    }
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = usize::from(buf[2]) << 16 | usize::from(buf[3]) << 8 | usize::from(buf[4]);
    if len < FIXED_HEADER_LEN {
        return Err(DecodeError::LengthMismatch {
            declared: len,
            actual: FIXED_HEADER_LEN,
        });
    }
    Ok(Some(len))
}

/// Checks an RFC 1766 language tag: `1*8ALPHA *("-" 1*8ALPHA)`.
///
/// # Errors
/// [`EncodeError::LanguageTag`] when it is not one.
pub fn check_language_tag(tag: &str) -> Result<(), EncodeError> {
    let ok = !tag.is_empty()
        && tag
            .split('-')
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    if ok {
        Ok(())
    } else {
        Err(EncodeError::LanguageTag(tag.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_header_field() {
        let b = [
            2, 1, 0, 0, 0x20, 0x20, 0, 0, 0, 0, 0x12, 0x34, 0, 2, b'e', b'n',
        ];
        let h = RawHeader::parse(&b).unwrap();
        assert_eq!(h.function, FunctionId::SRV_RQST);
        assert_eq!(h.length, 0x20);
        assert_eq!(h.header.flags, Flags::REQUEST_MCAST);
        assert_eq!(h.header.xid, 0x1234);
        assert_eq!(h.header.language_tag, "en");
        assert_eq!(h.header_len, 16);
    }

    #[test]
    fn rejects_slpv1() {
        assert_eq!(
            RawHeader::parse(&[1, 1]),
            Err(DecodeError::Version { version: 1 })
        );
    }

    #[test]
    fn reserved_flag_bits_are_kept() {
        // pyslp 0.1.7 sends flags 0x3e00 on AttrRqst.
        let b = [2, 6, 0, 0, 16, 0x3e, 0, 0, 0, 0, 0, 1, 0, 0];
        let h = RawHeader::parse(&b).unwrap();
        assert_eq!(h.header.flags.bits(), 0x3e00);
    }

    #[test]
    fn frame_len_needs_five_bytes() {
        assert_eq!(frame_len(&[2, 1, 0, 0]), Ok(None));
        assert_eq!(frame_len(&[2, 1, 0, 1, 0]), Ok(Some(256)));
        assert!(frame_len(&[2, 1, 0, 0, 3]).is_err());
    }

    #[test]
    fn language_tags_follow_rfc_1766() {
        assert!(check_language_tag("en").is_ok());
        assert!(check_language_tag("en-US").is_ok());
        assert!(check_language_tag("").is_err());
        assert!(check_language_tag("e1").is_err());
        assert!(check_language_tag("toolonglang").is_err());
    }
}
