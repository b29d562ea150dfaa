//! URL entries (RFC 2608 §4.3) and authentication blocks (RFC 2608 §9.2).
//!
//! ```text
//! URL Entry:
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Reserved    |          Lifetime             |   URL Length  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |URL len, contd.|            URL (variable length)              \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |# of URL auths |            Auth. blocks (if any)              \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Authentication Block:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Block Structure Descriptor   |  Authentication Block Length  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     SLP SPI String Length     |         SLP SPI String        \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Structured Authentication Block ...              \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Authentication blocks are parsed and carried, not verified (signing is out of scope).

use core::fmt;

use bytes::BufMut;

use crate::code_points::BlockStructureDescriptor;
use crate::error::{DecodeError, EncodeError};
use crate::wire::{Reader, count_u8, count_u16, put_string, string_len};

/// Fixed bytes of an authentication block before the SPI string.
const AUTH_FIXED: usize = 10;

/// One authentication block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthBlock<'a> {
    /// Block structure descriptor (algorithm).
    pub bsd: BlockStructureDescriptor,
    /// Expiry, seconds since 1970-01-01 UTC.
    pub timestamp: u32,
    /// Security parameter index.
    pub spi: &'a str,
    /// The structured authenticator (e.g. an ASN.1 DSA signature), uninterpreted.
    pub data: &'a [u8],
}

impl<'a> AuthBlock<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.at();
        let bsd = BlockStructureDescriptor(r.u16("auth block descriptor")?);
        let declared = usize::from(r.u16("auth block length")?);
        if declared < AUTH_FIXED {
            return Err(DecodeError::AuthBlockLength { declared, at });
        }
        let timestamp = r.u32("auth block timestamp")?;
        let spi = r.string("auth block SPI")?;
        let used = AUTH_FIXED + spi.len();
        let rest = declared
            .checked_sub(used)
            .ok_or(DecodeError::AuthBlockLength { declared, at })?;
        let data = r.take(rest, "auth block data")?;
        Ok(AuthBlock {
            bsd,
            timestamp,
            spi,
            data,
        })
    }

    /// Encoded size.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        AUTH_FIXED + self.spi.len() + self.data.len()
    }

    /// Writes the block.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] when the block exceeds 65535 bytes.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let len = u16::try_from(self.encoded_len()).map_err(|_| EncodeError::FieldTooLong {
            what: "auth block",
            len: self.encoded_len(),
            max: usize::from(u16::MAX),
        })?;
        buf.put_u16(self.bsd.0);
        buf.put_u16(len);
        buf.put_u32(self.timestamp);
        put_string(buf, "auth block SPI", self.spi)?;
        buf.put_slice(self.data);
        Ok(())
    }
}

/// The shared half of a counted list (`AuthBlocks`, `UrlEntries`): the enum has a `Wire`
/// variant of validated bytes and a `List` variant of a caller's slice; this writes its
/// length, iterator, encoder, equality and Debug. Decoding differs per list and stays with it.
macro_rules! counted_list {
    ($list:ident, $iter:ident, $item:ident, $what:literal, $count_bytes:literal, $put:ident, $to_count:ident) => {
        impl<'a> $list<'a> {
            #[doc = concat!("Number of ", $what, ".")]
            #[must_use]
            pub fn len(&self) -> usize {
                match self {
                    $list::Wire { count, .. } => usize::from(*count),
                    $list::List(l) => l.len(),
                }
            }

            /// Whether there are none.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            #[doc = concat!("The ", $what, " in order.")]
            pub fn iter(&self) -> $iter<'a> {
                match *self {
                    $list::Wire { bytes, count } => $iter {
                        wire: Reader::new(bytes, 0),
                        left: usize::from(count),
                        list: &[],
                    },
                    $list::List(l) => $iter {
                        wire: Reader::new(&[], 0),
                        left: l.len(),
                        list: l,
                    },
                }
            }

            /// Encoded size including the count field.
            #[must_use]
            pub fn encoded_len(&self) -> usize {
                $count_bytes
                    + match self {
                        $list::Wire { bytes, .. } => bytes.len(),
                        $list::List(l) => l.iter().map($item::encoded_len).sum::<usize>(),
                    }
            }

            #[doc = concat!("Writes the count and the ", $what, ".")]
            ///
            /// # Errors
            /// [`EncodeError::TooMany`] when the count does not fit its field, or an item's error.
            pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
                match self {
                    $list::Wire { bytes, count } => {
                        buf.$put(*count);
                        buf.put_slice(bytes);
                    }
                    $list::List(l) => {
                        buf.$put($to_count($what, l.len())?);
                        for item in *l {
                            item.encode(buf)?;
                        }
                    }
                }
                Ok(())
            }
        }

        #[doc = concat!("Iterator over [`", stringify!($list), "`].")]
        #[derive(Debug, Clone)]
        pub struct $iter<'a> {
            wire: Reader<'a>,
            left: usize,
            list: &'a [$item<'a>],
        }

        impl<'a> Iterator for $iter<'a> {
            type Item = $item<'a>;

            fn next(&mut self) -> Option<$item<'a>> {
                if self.left == 0 {
                    return None;
                }
                self.left -= 1;
                if let Some((first, rest)) = self.list.split_first() {
                    self.list = rest;
                    return Some(*first);
                }
                // Invariant: the bytes were validated when the list was decoded, so this
                // cannot fail; should it ever, iteration ends rather than yield garbage.
                match $item::decode(&mut self.wire) {
                    Ok(item) => Some(item),
                    Err(_) => {
                        self.left = 0;
                        None
                    }
                }
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                (self.left, Some(self.left))
            }
        }

        impl PartialEq for $list<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.len() == other.len() && self.iter().eq(other.iter())
            }
        }

        impl Eq for $list<'_> {}

        impl fmt::Debug for $list<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.iter()).finish()
            }
        }
    };
}

/// A counted sequence of authentication blocks: checked wire bytes, or a caller's slice.
#[derive(Clone, Copy)]
pub enum AuthBlocks<'a> {
    /// Validated bytes holding `count` blocks.
    Wire {
        /// The blocks' bytes.
        bytes: &'a [u8],
        /// How many.
        count: u8,
    },
    /// Blocks to encode.
    List(&'a [AuthBlock<'a>]),
}

impl Default for AuthBlocks<'_> {
    fn default() -> Self {
        AuthBlocks::List(&[])
    }
}

impl<'a> AuthBlocks<'a> {
    /// No blocks.
    pub const NONE: AuthBlocks<'static> = AuthBlocks::List(&[]);

    /// Reads `# of auths` and the blocks.
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let count = r.u8("auth block count")?;
        let start = r.clone();
        for _ in 0..count {
            AuthBlock::decode(r)?;
        }
        let len = r.at() - start.at();
        let mut s = start;
        Ok(AuthBlocks::Wire {
            bytes: s.take(len, "auth blocks")?,
            count,
        })
    }
}

counted_list!(
    AuthBlocks,
    AuthBlockIter,
    AuthBlock,
    "auth blocks",
    1,
    put_u8,
    count_u8
);

/// A URL entry: lifetime, URL and its authentication blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlEntry<'a> {
    /// Seconds the URL stays valid (a cache must not keep it longer).
    pub lifetime: u16,
    /// The URL, e.g. `service:iscsi:sms://192.0.2.1:3205`.
    pub url: &'a str,
    /// URL authentication blocks.
    pub auths: AuthBlocks<'a>,
}

impl<'a> UrlEntry<'a> {
    /// An entry with no authentication blocks.
    #[must_use]
    pub const fn new(url: &'a str, lifetime: u16) -> Self {
        UrlEntry {
            lifetime,
            url,
            auths: AuthBlocks::List(&[]),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        // The reserved byte is ignored on receipt (RFC 2608 §4.3 says it is 0).
        r.u8("URL entry reserved")?;
        let lifetime = r.u16("URL entry lifetime")?;
        let url = r.string("URL")?;
        let auths = AuthBlocks::decode(r)?;
        Ok(UrlEntry {
            lifetime,
            url,
            auths,
        })
    }

    /// Encoded size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        3 + string_len(self.url) + self.auths.encoded_len()
    }

    /// Writes the entry.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] for a URL over 65535 bytes, or an auth block error.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        buf.put_u8(0);
        buf.put_u16(self.lifetime);
        put_string(buf, "URL", self.url)?;
        self.auths.encode(buf)
    }
}

/// A counted sequence of URL entries: checked wire bytes, or a caller's slice.
#[derive(Clone, Copy)]
pub enum UrlEntries<'a> {
    /// Validated bytes holding `count` entries.
    Wire {
        /// The entries' bytes.
        bytes: &'a [u8],
        /// How many.
        count: u16,
    },
    /// Entries to encode.
    List(&'a [UrlEntry<'a>]),
}

impl Default for UrlEntries<'_> {
    fn default() -> Self {
        UrlEntries::List(&[])
    }
}

impl<'a> UrlEntries<'a> {
    /// Reads `count` entries, reporting a bogus count as [`DecodeError::UrlCount`].
    pub(crate) fn decode(r: &mut Reader<'a>, count: u16) -> Result<Self, DecodeError> {
        let start = r.clone();
        for index in 0..count {
            let at = r.at();
            // Each entry needs at least 6 bytes: a count larger than the body is caught here
            // without walking into garbage.
            if r.remaining() < 6 {
                return Err(DecodeError::UrlCount {
                    declared: count,
                    index,
                    at,
                });
            }
            UrlEntry::decode(r).map_err(|e| match e {
                DecodeError::Truncated { .. } => DecodeError::UrlCount {
                    declared: count,
                    index,
                    at,
                },
                e => e,
            })?;
        }
        let len = r.at() - start.at();
        let mut s = start;
        Ok(UrlEntries::Wire {
            bytes: s.take(len, "URL entries")?,
            count,
        })
    }
}

counted_list!(
    UrlEntries,
    UrlEntryIter,
    UrlEntry,
    "URL entries",
    2,
    put_u16,
    count_u16
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_entry_round_trips_with_an_auth_block() {
        let blocks = [AuthBlock {
            bsd: BlockStructureDescriptor::DSA_SHA1,
            timestamp: 7,
            spi: "spi",
            data: b"sig",
        }];
        let e = UrlEntry {
            lifetime: 300,
            url: "service:x://h",
            auths: AuthBlocks::List(&blocks),
        };
        let mut v = Vec::new();
        e.encode(&mut v).unwrap();
        assert_eq!(v.len(), e.encoded_len());
        let mut r = Reader::new(&v, 0);
        let d = UrlEntry::decode(&mut r).unwrap();
        assert_eq!(d, e);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn rejects_auth_block_shorter_than_its_fixed_part() {
        let v = [1, 0, 2, 0, 9, 0, 0, 0, 0, 0, 0];
        let mut r = Reader::new(&v, 40);
        assert_eq!(
            AuthBlocks::decode(&mut r),
            Err(DecodeError::AuthBlockLength {
                declared: 9,
                at: 41
            })
        );
    }

    #[test]
    fn bogus_url_count_is_a_typed_error() {
        let mut v = Vec::new();
        UrlEntry::new("service:x://h", 10).encode(&mut v).unwrap();
        let mut r = Reader::new(&v, 20);
        assert_eq!(
            UrlEntries::decode(&mut r, 3),
            Err(DecodeError::UrlCount {
                declared: 3,
                index: 1,
                at: 20 + v.len()
            })
        );
    }
}
