//! `key=value` text as carried in Login and Text PDUs (RFC 7143 §6.1).
//!
//! ```text
//! RFC 7143 §6.1: each pair is  key "=" value NUL
//!   key   = 1..=63 bytes of a-z A-Z 0-9 . - + @ _
//!   value = UTF-8, no NUL; 255 bytes unless the key says otherwise,
//!           binary values up to 8192 bytes (we accept up to MAX_VALUE_LEN)
//! ```
//!
//! Parsing is a lazy iterator over the data segment that keeps wire order and duplicates, and
//! stops for good after the first error.

use nom::Parser;
use nom::bytes::complete::{tag, take_till};
use nom::sequence::terminated;

use crate::error::{DecodeError, EncodeError};

/// Longest key RFC 7143 §6.1 allows.
pub const MAX_KEY_LEN: usize = 63;
/// Longest value accepted or written (RFC 7143 §6.1: binary values up to 8192 bytes,
/// hex-encoded that is `0x` plus 16384 digits).
pub const MAX_VALUE_LEN: usize = 2 + 2 * 8192;

/// One `key=value` pair, borrowed from the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPair<'a> {
    /// The key.
    pub key: &'a str,
    /// The value (may be empty).
    pub value: &'a str,
}

/// Iterator over the pairs of a text data segment; see [`pairs`].
#[derive(Debug, Clone)]
pub struct TextPairs<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

/// Parses `data` lazily into pairs.
#[must_use]
pub fn pairs(data: &[u8]) -> TextPairs<'_> {
    TextPairs {
        buf: data,
        pos: 0,
        done: false,
    }
}

fn key_char_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+' | b'@' | b'_')
}

fn check_key(key: &[u8]) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("empty key");
    }
    if key.len() > MAX_KEY_LEN {
        return Err("key longer than 63 bytes");
    }
    if !key.iter().all(|&c| key_char_ok(c)) {
        return Err("key has a character outside a-z A-Z 0-9 . - + @ _");
    }
    Ok(())
}

impl<'a> Iterator for TextPairs<'a> {
    type Item = Result<TextPair<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // Some targets pad the text with extra NULs; empty entries carry nothing.
        while self.buf.get(self.pos) == Some(&0) {
            self.pos += 1;
        }
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let at = self.pos;
        let r = parse_one(rest, at);
        match &r {
            Ok((_, used)) => self.pos += used,
            Err(_) => self.done = true,
        }
        Some(r.map(|(p, _)| p))
    }
}

/// `key "=" value NUL` at the start of `rest` (which starts at byte `at` of the segment):
/// the pair and the bytes it used. nom's error stays here: each step names its own reason.
fn parse_one(rest: &[u8], at: usize) -> Result<(TextPair<'_>, usize), DecodeError> {
    let bad = |reason| DecodeError::BadText { at, reason };
    let Ok((after, entry)) =
        terminated(take_till(|c| c == 0), tag::<_, _, ()>(&b"\0"[..])).parse(rest)
    else {
        return Err(bad("pair is not NUL-terminated"));
    };
    let Ok((value, (key, _))) = (take_till(|c| c == b'='), tag::<_, _, ()>(&b"="[..])).parse(entry)
    else {
        return Err(bad("pair has no '='"));
    };
    let nul = rest.len() - after.len() - 1;
    let eq = key.len();
    check_key(key).map_err(|reason| DecodeError::BadText { at, reason })?;
    if value.len() > MAX_VALUE_LEN {
        return Err(DecodeError::TextValueTooLong {
            at: at + eq + 1,
            len: value.len(),
            limit: MAX_VALUE_LEN,
        });
    }
    // check_key admitted ASCII only, so the key is valid UTF-8.
    let key = core::str::from_utf8(key).map_err(|_| DecodeError::BadText {
        at,
        reason: "key is not ASCII",
    })?;
    let value = core::str::from_utf8(value).map_err(|_| DecodeError::BadText {
        at: at + eq + 1,
        reason: "value is not UTF-8",
    })?;
    Ok((TextPair { key, value }, nul + 1))
}

/// Finds the last value of `key` in `data` (later pairs override earlier ones in a negotiation).
///
/// # Errors
/// The first [`DecodeError`] met while scanning.
pub fn find<'a>(data: &'a [u8], key: &str) -> Result<Option<&'a str>, DecodeError> {
    let mut found = None;
    for p in pairs(data) {
        let p = p?;
        if p.key == key {
            found = Some(p.value);
        }
    }
    Ok(found)
}

/// Builds a text data segment, validating every pair it writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextBuilder {
    buf: Vec<u8>,
}

impl TextBuilder {
    /// An empty text.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key=value\0`.
    ///
    /// # Errors
    /// [`EncodeError::BadKey`] for an invalid key, [`EncodeError::NulInValue`] for a value with a
    /// NUL, [`EncodeError::TooLong`] for a value over [`MAX_VALUE_LEN`].
    pub fn push(&mut self, key: &str, value: &str) -> Result<&mut Self, EncodeError> {
        check_key(key.as_bytes()).map_err(|reason| EncodeError::BadKey { reason })?;
        if value.as_bytes().contains(&0) {
            return Err(EncodeError::NulInValue {
                key: key.to_owned(),
            });
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(EncodeError::TooLong {
                what: "text value",
                len: value.len(),
                limit: MAX_VALUE_LEN,
            });
        }
        self.buf.reserve(key.len() + value.len() + 2);
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.push(b'=');
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        Ok(self)
    }

    /// The text written so far.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the text.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_wire_order_and_duplicates() {
        let t = b"TargetName=a\0TargetAddress=1\0TargetName=a\0";
        let v: Vec<_> = pairs(t)
            .map(Result::unwrap)
            .map(|p| (p.key, p.value))
            .collect();
        assert_eq!(
            v,
            [
                ("TargetName", "a"),
                ("TargetAddress", "1"),
                ("TargetName", "a")
            ]
        );
    }

    #[test]
    fn rejects_unterminated_pair_with_its_offset() {
        let mut it = pairs(b"A=1\0B=2");
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next(),
            Some(Err(DecodeError::BadText {
                at: 4,
                reason: "pair is not NUL-terminated"
            }))
        );
        assert_eq!(it.next(), None);
    }

    #[test]
    fn rejects_pair_without_equals_and_bad_key_characters() {
        assert!(matches!(
            pairs(b"novalue\0").next(),
            Some(Err(DecodeError::BadText { at: 0, .. }))
        ));
        assert!(matches!(
            pairs(b"a b=1\0").next(),
            Some(Err(DecodeError::BadText { .. }))
        ));
        assert!(matches!(
            pairs(b"=1\0").next(),
            Some(Err(DecodeError::BadText { .. }))
        ));
    }

    #[test]
    fn empty_value_and_trailing_nuls_are_accepted() {
        let v: Vec<_> = pairs(b"SendTargets=\0\0\0").collect();
        assert_eq!(
            v,
            [Ok(TextPair {
                key: "SendTargets",
                value: ""
            })]
        );
    }

    #[test]
    fn builder_output_parses_back() {
        let mut b = TextBuilder::new();
        b.push("HeaderDigest", "None")
            .unwrap()
            .push("MaxRecvDataSegmentLength", "65536")
            .unwrap();
        assert_eq!(find(b.as_bytes(), "HeaderDigest"), Ok(Some("None")));
        assert_eq!(find(b.as_bytes(), "Missing"), Ok(None));
        assert!(b.push("bad key", "x").is_err());
        assert!(b.push("K", "a\0b").is_err());
    }
}
