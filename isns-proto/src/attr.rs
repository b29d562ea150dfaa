//! Attribute views (RFC 4171 §5.5): one TLV, and a lazy iterator over a list of them.
//!
//! ```text
//!  Byte   MSb                                        LSb
//!  Offset 0                                           31
//!         +--------------------------------------------+
//!       0 |                Attribute Tag               | 4 bytes
//!         +--------------------------------------------+
//!       4 |              Attribute Length (N)          | 4 bytes
//!         +--------------------------------------------+
//!       8 |                                            |
//!         |              Attribute Value               | N bytes
//!         |                                            |
//!         +--------------------------------------------+
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{DecodeError, Port, Tag, ValueKind};

/// Size of an attribute's tag and length fields.
pub const ATTR_HEADER_LEN: usize = 8;

/// One attribute, borrowed from the PDU.
///
/// Invariant (checked by [`Attrs`]): the value length is a multiple of 4, lies inside the
/// tag's legal range, and the value is entirely inside the buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    tag: Tag,
    // The table's value type, looked up once while framing.
    kind: ValueKind,
    value: &'a [u8],
    at: usize,
}

/// A decoded attribute value, still borrowing string and opaque bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// No value (zero length: a delimiter, a query for this attribute, or a NULL PGT).
    Empty,
    /// A 4-byte integer.
    U32(u32),
    /// An 8-byte integer.
    U64(u64),
    /// A string, terminator and padding removed.
    Str(&'a str),
    /// An IP address; IPv4-mapped and IPv4-compatible forms are shown as IPv4.
    Ip(IpAddr),
    /// A TCP/UDP port.
    Port(Port),
    /// Bytes without structure (unknown and vendor tags too).
    Opaque(&'a [u8]),
}

impl<'a> Attr<'a> {
    /// The attribute tag.
    #[must_use]
    #[inline]
    pub fn tag(&self) -> Tag {
        self.tag
    }

    /// The raw value bytes (padding included).
    #[must_use]
    #[inline]
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// Offset of this attribute's tag field inside the PDU or message.
    #[must_use]
    #[inline]
    pub fn offset(&self) -> usize {
        self.at
    }

    /// True for a zero-length attribute.
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// True for the delimiter (tag 0).
    #[must_use]
    #[inline]
    pub fn is_delimiter(&self) -> bool {
        self.tag == Tag::DELIMITER
    }

    /// Encoded size: header plus value.
    #[must_use]
    #[inline]
    pub fn encoded_len(&self) -> usize {
        ATTR_HEADER_LEN + self.value.len()
    }

    #[inline]
    fn fixed<const N: usize>(&self, kind: ValueKind) -> Result<[u8; N], DecodeError> {
        match <[u8; N]>::try_from(self.value) {
            Ok(b) => Ok(b),
            Err(_) => Err(self.length_fault(kind, N)),
        }
    }

    // Error construction stays out of line so the accessors inline into callers' loops.
    #[cold]
    #[inline(never)]
    fn length_fault(&self, expected: ValueKind, needed: usize) -> DecodeError {
        DecodeError::ValueLength {
            tag: self.tag.0,
            expected,
            needed,
            actual: self.value.len(),
            at: self.at,
        }
    }

    /// The value as a 4-byte integer.
    ///
    /// # Errors
    /// [`DecodeError::ValueLength`] when the value is not 4 bytes.
    #[inline]
    pub fn as_u32(&self) -> Result<u32, DecodeError> {
        self.fixed::<4>(ValueKind::U32).map(u32::from_be_bytes)
    }

    /// The value as an 8-byte integer.
    ///
    /// # Errors
    /// [`DecodeError::ValueLength`] when the value is not 8 bytes.
    #[inline]
    pub fn as_u64(&self) -> Result<u64, DecodeError> {
        self.fixed::<8>(ValueKind::U64).map(u64::from_be_bytes)
    }

    /// The value as a port (low 16 bits) with its flag bits (UDP).
    ///
    /// # Errors
    /// [`DecodeError::ValueLength`] when the value is not 4 bytes.
    #[inline]
    pub fn as_port(&self) -> Result<Port, DecodeError> {
        self.fixed::<4>(ValueKind::Port)
            .map(|b| Port::from_wire(u32::from_be_bytes(b)))
    }

    /// The value as an IP address. IPv4-mapped (`::ffff:a.b.c.d`, RFC 4171) and the
    /// IPv4-compatible `::a.b.c.d` form that isnsadm sends are both returned as IPv4;
    /// `::` and `::1` stay IPv6.
    ///
    /// # Errors
    /// [`DecodeError::ValueLength`] when the value is not 16 bytes.
    #[inline]
    pub fn as_ip(&self) -> Result<IpAddr, DecodeError> {
        let b = self.fixed::<16>(ValueKind::Ip)?;
        // The upper 96 bits decide the form: `::ffff:0:0/96` is mapped, `::/96` (but not
        // `::` or `::1`) is compatible.
        let head = u128::from_be_bytes(b) >> 32;
        let [.., w, x, y, z] = b;
        let v4 = Ipv4Addr::new(w, x, y, z);
        if head == 0xFFFF || (head == 0 && u32::from(v4) > 1) {
            return Ok(IpAddr::V4(v4));
        }
        Ok(IpAddr::V6(Ipv6Addr::from(b)))
    }

    /// The value as a string: UTF-8 up to the first NUL, which must exist; every byte
    /// after it must be NUL (RFC 4171 §5.5: NUL-terminated, NUL-padded).
    ///
    /// # Errors
    /// [`DecodeError::StringNotTerminated`], [`DecodeError::StringBadPadding`] or
    /// [`DecodeError::StringNotUtf8`].
    #[inline]
    pub fn as_str(&self) -> Result<&'a str, DecodeError> {
        // One forward pass finds the terminator (the first NUL, a word at a time); the
        // padding after it is short (1-4 bytes when the sender pads minimally).
        let (text, padding) = match first_nul(self.value) {
            Some(nul) => self.value.split_at(nul),
            None => return Err(self.string_fault()),
        };
        if padding.iter().any(|&b| b != 0) {
            return Err(self.string_fault());
        }
        match core::str::from_utf8(text) {
            Ok(s) => Ok(s),
            Err(_) => Err(self.utf8_fault()),
        }
    }

    #[cold]
    #[inline(never)]
    fn utf8_fault(&self) -> DecodeError {
        DecodeError::StringNotUtf8 {
            tag: self.tag.0,
            at: self.at,
        }
    }

    /// Slow path: names the first NUL-termination fault.
    #[cold]
    #[inline(never)]
    fn string_fault(&self) -> DecodeError {
        let tag = self.tag.0;
        let Some(nul) = self.value.iter().position(|&b| b == 0) else {
            return DecodeError::StringNotTerminated { tag, at: self.at };
        };
        let bad = self
            .value
            .iter()
            .skip(nul)
            .position(|&b| b != 0)
            .map_or(nul, |i| nul + i);
        DecodeError::StringBadPadding {
            tag,
            at: self.at + ATTR_HEADER_LEN + bad,
        }
    }

    /// The raw value bytes, for opaque attributes.
    #[must_use]
    pub fn as_opaque(&self) -> &'a [u8] {
        self.value
    }

    /// The value decoded by the tag table's type ([`ValueKind::Opaque`] for unknown tags);
    /// a zero-length value is [`Value::Empty`] whatever the tag.
    ///
    /// # Errors
    /// Any error of the typed accessor the table selects.
    #[inline(always)]
    pub fn typed(&self) -> Result<Value<'a>, DecodeError> {
        if self.value.is_empty() {
            return Ok(Value::Empty);
        }
        match self.kind {
            ValueKind::None | ValueKind::Opaque => Ok(Value::Opaque(self.value)),
            ValueKind::U32 => self.as_u32().map(Value::U32),
            ValueKind::U64 => self.as_u64().map(Value::U64),
            ValueKind::String => self.as_str().map(Value::Str),
            ValueKind::Ip => self.as_ip().map(Value::Ip),
            ValueKind::Port => self.as_port().map(Value::Port),
        }
    }

    /// An owned copy.
    #[must_use]
    pub fn to_owned(&self) -> OwnedAttr {
        OwnedAttr {
            tag: self.tag,
            value: self.value.to_vec(),
        }
    }
}

impl core::fmt::Debug for Attr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.typed() {
            Ok(v) => write!(f, "{:?}={:?}", self.tag, v),
            Err(_) => write!(f, "{:?}=<malformed {} bytes>", self.tag, self.value.len()),
        }
    }
}

impl core::fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Value::Empty => f.write_str("<empty>"),
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Port(p) => write!(f, "{p}"),
            Value::Opaque(b) => {
                f.write_str("0x")?;
                for x in *b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// An owned attribute (tag and raw value bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnedAttr {
    /// Attribute tag.
    pub tag: Tag,
    /// Raw value bytes.
    pub value: Vec<u8>,
}

/// A lazy iterator over a TLV list. Yields attributes in wire order, duplicates included;
/// after the first error it yields that error once and then stops for good.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

impl<'a> Attrs<'a> {
    /// Iterates the TLVs in `buf`; `base` is the offset of `buf[0]` in the PDU or message,
    /// used in error offsets.
    #[must_use]
    #[inline]
    pub fn new(buf: &'a [u8], base: usize) -> Attrs<'a> {
        Attrs {
            buf,
            pos: 0,
            base,
            failed: false,
        }
    }

    /// An iterator that yields nothing.
    #[must_use]
    pub fn empty() -> Attrs<'a> {
        Attrs::new(&[], 0)
    }

    /// The bytes not yet iterated.
    #[must_use]
    #[inline]
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The whole list this iterator walks.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Offset of the list inside the PDU or message.
    #[must_use]
    pub fn base(&self) -> usize {
        self.base
    }

    /// Checks every attribute's framing and, for standard tags, its typed value.
    ///
    /// # Errors
    /// The first framing or value error.
    pub fn validate(&self) -> Result<usize, DecodeError> {
        let mut n = 0;
        for a in self.clone() {
            a?.typed()?;
            n += 1;
        }
        Ok(n)
    }

    #[inline]
    fn step(&mut self) -> Result<Attr<'a>, DecodeError> {
        let at = self.base + self.pos;
        let rest = self.remaining();
        let Some((hdr, body)) = rest.split_first_chunk::<ATTR_HEADER_LEN>() else {
            return Err(DecodeError::Truncated {
                what: "attribute header",
                needed: ATTR_HEADER_LEN,
                available: rest.len(),
                at,
            });
        };
        let [t0, t1, t2, t3, l0, l1, l2, l3] = *hdr;
        let tag = Tag(u32::from_be_bytes([t0, t1, t2, t3]));
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        if !len.is_multiple_of(4) {
            return Err(DecodeError::AttrLengthNotAligned {
                tag: tag.0,
                len,
                at,
            });
        }
        let value = usize::try_from(len)
            .ok()
            .and_then(|n| body.get(..n))
            .ok_or(DecodeError::AttrOverrun {
                tag: tag.0,
                len,
                available: body.len(),
                at,
            })?;
        // Alignment was checked above; here only the table's range (zero is "tag only").
        // One load from the dense tag array; outside the table the rule admits any length.
        let rule = tag.rule();
        if len != 0 && (len < rule.min_len || len > rule.max_len) {
            let (min, max) = (rule.min_len, rule.max_len);
            return Err(DecodeError::AttrLengthOutOfRange {
                tag: tag.0,
                len,
                min,
                max,
                at,
            });
        }
        self.pos += ATTR_HEADER_LEN + value.len();
        Ok(Attr {
            tag,
            kind: rule.kind,
            value,
            at,
        })
    }
}

/// Position of the first NUL in `v`, scanning eight bytes at a time.
#[inline]
fn first_nul(v: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = v.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let Ok(c) = <[u8; 8]>::try_from(c) else {
            break;
        };
        let w = u64::from_le_bytes(c);
        // Exact for the lowest zero byte: a borrow only travels upward from a zero byte,
        // so the lowest set marker bit is the first NUL in memory order.
        let zero = w.wrapping_sub(LO) & !w & HI;
        if zero != 0 {
            let byte = usize::try_from(zero.trailing_zeros() / 8).unwrap_or(0);
            return Some(base + byte);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == 0)
        .map(|i| base + i)
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl core::iter::FusedIterator for Attrs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u32, value: &[u8]) -> Vec<u8> {
        let mut v = tag.to_be_bytes().to_vec();
        v.extend_from_slice(&u32::try_from(value.len()).unwrap().to_be_bytes());
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn keeps_order_and_duplicates() {
        let mut b = tlv(2068, b"a\0\0\0");
        b.extend(tlv(2068, b"b\0\0\0"));
        b.extend(tlv(2067, &7u32.to_be_bytes()));
        let tags: Vec<_> = Attrs::new(&b, 0).map(|a| a.unwrap().tag().0).collect();
        assert_eq!(tags, [2068, 2068, 2067]);
    }

    #[test]
    fn rejects_attr_len_not_multiple_of_4_and_stops() {
        let mut b = tlv(32, b"abc");
        b.extend(tlv(33, &1u32.to_be_bytes()));
        let mut it = Attrs::new(&b, 12);
        assert_eq!(
            it.next(),
            Some(Err(DecodeError::AttrLengthNotAligned {
                tag: 32,
                len: 3,
                at: 12
            }))
        );
        assert_eq!(it.next(), None);
    }

    #[test]
    fn rejects_attr_overrunning_payload() {
        let mut b = tlv(32, b"abcd");
        b.truncate(10);
        let e = Attrs::new(&b, 12).next().unwrap().unwrap_err();
        assert_eq!(
            e,
            DecodeError::AttrOverrun {
                tag: 32,
                len: 4,
                available: 2,
                at: 12
            }
        );
    }

    #[test]
    fn rejects_huge_claimed_length_without_allocating() {
        let mut b = 32u32.to_be_bytes().to_vec();
        b.extend(0xFFFF_FFFCu32.to_be_bytes());
        let e = Attrs::new(&b, 0).next().unwrap().unwrap_err();
        assert!(matches!(
            e,
            DecodeError::AttrOverrun {
                len: 0xFFFF_FFFC,
                ..
            }
        ));
    }

    #[test]
    fn rejects_string_without_nul() {
        let b = tlv(32, b"abcd");
        let a = Attrs::new(&b, 20).next().unwrap().unwrap();
        assert_eq!(
            a.as_str(),
            Err(DecodeError::StringNotTerminated { tag: 32, at: 20 })
        );
    }

    #[test]
    fn rejects_string_with_garbage_after_nul() {
        let b = tlv(32, b"ab\0x");
        let a = Attrs::new(&b, 0).next().unwrap().unwrap();
        assert_eq!(
            a.as_str(),
            Err(DecodeError::StringBadPadding { tag: 32, at: 11 })
        );
    }

    #[test]
    fn rejects_name_longer_than_table_allows() {
        let b = tlv(32, &[b'a'; 228]);
        let e = Attrs::new(&b, 0).next().unwrap().unwrap_err();
        assert!(matches!(
            e,
            DecodeError::AttrLengthOutOfRange {
                tag: 32,
                len: 228,
                ..
            }
        ));
    }

    #[test]
    fn reads_ipv4_mapped_and_compatible_forms_as_ipv4() {
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[10, 0, 0, 1]);
        let mut compat = [0u8; 16];
        compat[12..].copy_from_slice(&[127, 0, 0, 1]);
        let loopback6 = Ipv6Addr::LOCALHOST.octets();
        for (bytes, want) in [
            (mapped, "10.0.0.1"),
            (compat, "127.0.0.1"),
            (loopback6, "::1"),
            ([0u8; 16], "::"),
        ] {
            let b = tlv(16, &bytes);
            let a = Attrs::new(&b, 0).next().unwrap().unwrap();
            assert_eq!(a.as_ip().unwrap().to_string(), want);
        }
    }

    #[test]
    fn first_nul_agrees_with_a_byte_scan() {
        for len in 0..40 {
            for nul in 0..=len {
                for fill in [b'a', 0x80, 0xFF, 0x01] {
                    let mut v = vec![fill; len];
                    if nul < len {
                        v[nul] = 0;
                        // A second NUL later must not move the answer.
                        if nul + 3 < len {
                            v[nul + 3] = 0;
                        }
                    }
                    assert_eq!(
                        first_nul(&v),
                        v.iter().position(|&b| b == 0),
                        "len {len} nul {nul}"
                    );
                }
            }
        }
    }

    #[test]
    fn string_faults_are_found_at_every_position() {
        // Every 12-byte value NUL-filled from `nul`, with one junk byte at `junk`: junk in
        // the text or right over the only NUL moves the terminator; junk after it is bad
        // padding.
        for nul in 0..12 {
            for junk in 0..12 {
                let mut v = [b'x'; 12];
                v[nul..].fill(0);
                v[junk] = b'j';
                let b = tlv(32, &v);
                let a = Attrs::new(&b, 0).next().unwrap().unwrap();
                let got = a.as_str();
                if junk < nul {
                    assert_eq!(got.unwrap().len(), nul);
                } else if junk == nul && nul == 11 {
                    assert_eq!(
                        got,
                        Err(DecodeError::StringNotTerminated { tag: 32, at: 0 })
                    );
                } else if junk == nul {
                    assert_eq!(got.unwrap().len(), nul + 1);
                } else {
                    assert_eq!(
                        got,
                        Err(DecodeError::StringBadPadding {
                            tag: 32,
                            at: ATTR_HEADER_LEN + junk
                        })
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_non_utf8_string() {
        let b = tlv(34, b"a\xff\0\0");
        let a = Attrs::new(&b, 4).next().unwrap().unwrap();
        assert_eq!(
            a.as_str(),
            Err(DecodeError::StringNotUtf8 { tag: 34, at: 4 })
        );
    }

    #[test]
    fn unknown_tag_is_opaque() {
        let b = tlv(0x0000_0999, &[1, 2, 3, 4]);
        let a = Attrs::new(&b, 0).next().unwrap().unwrap();
        assert_eq!(a.typed().unwrap(), Value::Opaque(&[1, 2, 3, 4]));
    }

    #[test]
    fn wrong_length_for_u32_is_typed_error() {
        let b = tlv(0x0000_0999, &[0; 8]);
        let a = Attrs::new(&b, 4).next().unwrap().unwrap();
        assert!(matches!(
            a.as_u32(),
            Err(DecodeError::ValueLength {
                needed: 4,
                actual: 8,
                at: 4,
                ..
            })
        ));
    }
}
