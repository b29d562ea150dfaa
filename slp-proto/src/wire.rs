//! Bounded cursor for decoding and length-checked writers for encoding.
//!
//! Every read checks the remaining length before slicing, so no wire length is ever used
//! to index before it is bounded. Offsets in errors are absolute (from message start).

use bytes::BufMut;

use crate::error::{DecodeError, EncodeError};

/// A forward-only reader over a byte slice that knows its absolute offset.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader whose first byte is at absolute offset `base`.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte.
    pub(crate) fn at(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let available = self.remaining();
        if n > available {
            return Err(DecodeError::Truncated {
                what,
                at: self.at(),
                needed: n,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `u16`-length-prefixed UTF-8 string (RFC 2608 §4: every variable field).
    pub(crate) fn string(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16(what)?);
        let at = self.at();
        let bytes = self.take(len, what)?;
        core::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8 { what, at })
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                what,
                at: self.at(),
                count,
            }),
        }
    }
}

/// Writes a `u16` length and the string.
pub(crate) fn put_string(
    buf: &mut impl BufMut,
    what: &'static str,
    s: &str,
) -> Result<(), EncodeError> {
    let len = u16::try_from(s.len()).map_err(|_| EncodeError::FieldTooLong {
        what,
        len: s.len(),
        max: usize::from(u16::MAX),
    })?;
    buf.put_u16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

/// Writes a 24-bit big-endian value.
pub(crate) fn put_u24(
    buf: &mut impl BufMut,
    what: &'static str,
    v: usize,
) -> Result<(), EncodeError> {
    let v32 =
        u32::try_from(v)
            .ok()
            .filter(|v| *v <= 0x00FF_FFFF)
            .ok_or(EncodeError::FieldTooLong {
                what,
                len: v,
                max: 0x00FF_FFFF,
            })?;
    buf.put_slice(&v32.to_be_bytes()[1..]);
    Ok(())
}

/// Converts a count to `u8`.
pub(crate) fn count_u8(what: &'static str, n: usize) -> Result<u8, EncodeError> {
    u8::try_from(n).map_err(|_| EncodeError::TooMany {
        what,
        count: n,
        max: usize::from(u8::MAX),
    })
}

/// Converts a count to `u16`.
pub(crate) fn count_u16(what: &'static str, n: usize) -> Result<u16, EncodeError> {
    u16::try_from(n).map_err(|_| EncodeError::TooMany {
        what,
        count: n,
        max: usize::from(u16::MAX),
    })
}

/// Encoded size of a length-prefixed string.
pub(crate) const fn string_len(s: &str) -> usize {
    2 + s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_read_reports_absolute_offset() {
        let mut r = Reader::new(&[0, 5, b'a'], 100);
        let e = r.string("scope list").unwrap_err();
        assert_eq!(
            e,
            DecodeError::Truncated {
                what: "scope list",
                at: 102,
                needed: 5,
                available: 1
            }
        );
    }

    #[test]
    fn u24_rejects_values_over_24_bits() {
        let mut v = Vec::new();
        assert!(put_u24(&mut v, "length", 0x0100_0000).is_err());
        put_u24(&mut v, "length", 0x0012_3456).unwrap();
        assert_eq!(v, [0x12, 0x34, 0x56]);
    }
}
