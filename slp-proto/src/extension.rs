//! Extensions chained by offset after the message body (RFC 2608 §9.1) and the
//! Attribute List extension (RFC 3059).
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Extension ID          |       Next Extension Offset   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Offset, contd.|                Extension Data                 \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Attribute List extension data (RFC 3059 §2), after the 5 bytes above:
//! |      Service URL Length       |  Service URL  /
//! |     Attribute List Length     |         Attribute List        /
//! |# of AttrAuths |(if present) Attribute Authentication Blocks.../
//! ```
//! Offsets count from the start of the message. A chain must move forward: an offset that
//! points back at or before the current extension is reported as a loop, so a hostile
//! chain is never followed forever. Unknown extensions pass through byte for byte.

use core::fmt;

use bytes::BufMut;

use crate::code_points::ExtensionId;
use crate::error::{DecodeError, EncodeError};
use crate::url_entry::AuthBlocks;
use crate::wire::{Reader, put_string, put_u24, string_len};

/// Bytes before an extension's data (ID and next offset).
pub const EXTENSION_HEADER_LEN: usize = 5;

/// One extension: its ID and its data (everything after the 5-byte extension header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// Extension ID.
    pub id: ExtensionId,
    /// Extension data, uninterpreted.
    pub data: &'a [u8],
}

impl<'a> Extension<'a> {
    /// The RFC 3059 Attribute List extension carried here, if this is one.
    ///
    /// # Errors
    /// The [`DecodeError`] of malformed extension data (offsets relative to the data).
    pub fn attr_list(&self) -> Option<Result<AttrListExt<'a>, DecodeError>> {
        (self.id == ExtensionId::ATTRIBUTE_LIST).then(|| AttrListExt::decode(self.data))
    }
}

/// The extensions of a message: a validated chain inside the message bytes, or a list to
/// encode.
#[derive(Clone, Copy)]
pub enum Extensions<'a> {
    /// A validated chain inside `message`, starting at `first` (0 = none).
    Wire {
        /// The whole message.
        message: &'a [u8],
        /// Offset of the first extension, 0 for none.
        first: usize,
    },
    /// Extensions to encode, in order.
    List(&'a [Extension<'a>]),
}

impl Default for Extensions<'_> {
    fn default() -> Self {
        Extensions::List(&[])
    }
}

/// Returns the data end of the extension at `at` and its next offset, checking the chain
/// moves forward and stays inside the message.
fn step(message: &[u8], at: usize) -> Result<(usize, usize), DecodeError> {
    let len = message.len();
    let mut r = Reader::new(message.get(at..).unwrap_or(&[]), at);
    r.u16("extension id")?;
    let field = r.at();
    let next = usize::try_from(r.u24("next extension offset")?).unwrap_or(usize::MAX);
    if next == 0 {
        return Ok((len, 0));
    }
    if next < at + EXTENSION_HEADER_LEN {
        return Err(DecodeError::ExtensionLoop {
            offset: next,
            at: field,
        });
    }
    if next + EXTENSION_HEADER_LEN > len {
        return Err(DecodeError::ExtensionOffset {
            offset: next,
            len,
            at: field,
        });
    }
    Ok((next, next))
}

impl<'a> Extensions<'a> {
    /// Validates the chain starting at `first` (0 = none) in `message`, whose body ends no
    /// later than `body_start`... `first` must not point into the header.
    pub(crate) fn decode(
        message: &'a [u8],
        first: usize,
        header_len: usize,
    ) -> Result<Self, DecodeError> {
        if first == 0 {
            return Ok(Extensions::Wire { message, first: 0 });
        }
        if first < header_len {
            return Err(DecodeError::ExtensionLoop {
                offset: first,
                at: 7,
            });
        }
        if first + EXTENSION_HEADER_LEN > message.len() {
            return Err(DecodeError::ExtensionOffset {
                offset: first,
                len: message.len(),
                at: 7,
            });
        }
        let mut at = first;
        // Each step moves forward by at least 5 bytes, so this ends within len/5 steps.
        loop {
            let (_, next) = step(message, at)?;
            if next == 0 {
                break;
            }
            at = next;
        }
        Ok(Extensions::Wire { message, first })
    }

    /// Number of extensions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self {
            Extensions::Wire { first, .. } => *first == 0,
            Extensions::List(l) => l.is_empty(),
        }
    }

    /// The extensions in chain order.
    pub fn iter(&self) -> ExtensionIter<'a> {
        match *self {
            Extensions::Wire { message, first } => ExtensionIter {
                message,
                at: first,
                list: &[],
            },
            Extensions::List(list) => ExtensionIter {
                message: &[],
                at: 0,
                list,
            },
        }
    }

    /// The first extension with `id`.
    #[must_use]
    pub fn find(&self, id: ExtensionId) -> Option<Extension<'a>> {
        self.iter().find(|e| e.id == id)
    }

    /// Encoded size of the whole chain.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.iter()
            .map(|e| EXTENSION_HEADER_LEN + e.data.len())
            .sum()
    }

    /// Writes the chain; the first extension starts at message offset `start`.
    pub(crate) fn encode(&self, buf: &mut impl BufMut, start: usize) -> Result<(), EncodeError> {
        let mut at = start;
        let mut it = self.iter().peekable();
        while let Some(e) = it.next() {
            let end = at + EXTENSION_HEADER_LEN + e.data.len();
            buf.put_u16(e.id.0);
            put_u24(
                buf,
                "next extension offset",
                if it.peek().is_some() { end } else { 0 },
            )?;
            buf.put_slice(e.data);
            at = end;
        }
        Ok(())
    }
}

/// Iterator over [`Extensions`].
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    message: &'a [u8],
    at: usize,
    list: &'a [Extension<'a>],
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        if let Some((first, rest)) = self.list.split_first() {
            self.list = rest;
            return Some(*first);
        }
        if self.at == 0 {
            return None;
        }
        // Invariant: the chain was validated by `Extensions::decode`.
        let at = self.at;
        let (end, next) = step(self.message, at).ok()?;
        let id = self.message.get(at..at + 2)?;
        let data = self.message.get(at + EXTENSION_HEADER_LEN..end)?;
        self.at = next;
        Some(Extension {
            id: ExtensionId(u16::from_be_bytes([id[0], id[1]])),
            data,
        })
    }
}

impl PartialEq for Extensions<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Extensions<'_> {}

impl fmt::Debug for Extensions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The RFC 3059 Attribute List extension: a URL and its whole attribute list.
///
/// A UA sends it empty in a SrvRqst to ask for one per URL entry in the SrvRply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttrListExt<'a> {
    /// Service URL the attributes belong to (empty in a request).
    pub url: &'a str,
    /// The attribute list (empty in a request).
    pub attrs: &'a str,
    /// Attribute authentication blocks.
    pub auths: AuthBlocks<'a>,
}

impl<'a> AttrListExt<'a> {
    /// Parses extension data (offsets in errors are relative to the data).
    ///
    /// # Errors
    /// Truncation, UTF-8 or trailing-byte errors.
    pub fn decode(data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data, 0);
        let url = r.string("attribute list extension URL")?;
        let attrs = r.string("attribute list extension attributes")?;
        let auths = AuthBlocks::decode(&mut r)?;
        r.finish("attribute list extension")?;
        Ok(AttrListExt { url, attrs, auths })
    }

    /// Encoded data size (without the 5-byte extension header).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        string_len(self.url) + string_len(self.attrs) + self.auths.encoded_len()
    }

    /// Writes the extension data (without the extension header).
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] for oversize strings.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        put_string(buf, "attribute list extension URL", self.url)?;
        put_string(buf, "attribute list extension attributes", self.attrs)?;
        self.auths.encode(buf)
    }

    /// The extension data as a new vector (for [`Extension::data`]).
    ///
    /// # Errors
    /// As [`AttrListExt::encode`].
    pub fn to_data(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(exts: &[(u16, usize, &[u8])], prefix: usize) -> Vec<u8> {
        let mut v = vec![0u8; prefix];
        for (id, next, data) in exts {
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&u32::try_from(*next).unwrap().to_be_bytes()[1..]);
            v.extend_from_slice(data);
        }
        v
    }

    #[test]
    fn follows_a_chain_of_two_and_keeps_unknown_ids() {
        let m = chain(&[(0x0002, 23, b"abc"), (0x8123, 0, b"zz")], 15);
        let e = Extensions::decode(&m, 15, 14).unwrap();
        let v: Vec<_> = e.iter().collect();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            Extension {
                id: ExtensionId::ATTRIBUTE_LIST,
                data: b"abc"
            }
        );
        assert_eq!(
            v[1],
            Extension {
                id: ExtensionId(0x8123),
                data: b"zz"
            }
        );
    }

    #[test]
    fn detects_a_chain_that_points_back_at_itself() {
        let m = chain(&[(0x0002, 15, b"")], 15);
        assert_eq!(
            Extensions::decode(&m, 15, 14),
            Err(DecodeError::ExtensionLoop { offset: 15, at: 17 })
        );
    }

    #[test]
    fn detects_a_two_extension_loop() {
        let m = chain(&[(1, 20, b""), (1, 15, b"")], 15);
        assert_eq!(
            Extensions::decode(&m, 15, 14),
            Err(DecodeError::ExtensionLoop { offset: 15, at: 22 })
        );
    }

    #[test]
    fn rejects_offset_past_the_end() {
        let m = chain(&[(1, 400, b"")], 15);
        assert!(matches!(
            Extensions::decode(&m, 15, 14),
            Err(DecodeError::ExtensionOffset { offset: 400, .. })
        ));
    }

    #[test]
    fn attr_list_extension_round_trips() {
        let a = AttrListExt {
            url: "service:iscsi:sms://h",
            attrs: "(protocols=isns)",
            auths: AuthBlocks::NONE,
        };
        let d = a.to_data().unwrap();
        assert_eq!(AttrListExt::decode(&d).unwrap(), a);
        assert_eq!(AttrListExt::default().to_data().unwrap(), [0, 0, 0, 0, 0]);
    }
}
