//! SLP strings: `\XX` escaping (RFC 2608 §5, §6.4), comma-separated string lists (scope
//! lists, previous-responder lists, tag lists, service-type lists) and the comparison rules
//! of RFC 2608 §6.4 (case folding, white space folding), all without allocating.

use core::fmt;

use crate::error::DecodeError;

/// Characters that must be escaped in attribute values and tags (RFC 2608 §5), besides CTL.
const RESERVED: &[u8] = b"(),\\!<=>~";
/// Additional characters reserved in scope names (RFC 2608 §6.4.1).
const RESERVED_SCOPE: &[u8] = b";*+";

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks that every `\` in `s` starts a `\XX` escape.
///
/// # Errors
/// [`DecodeError::Escape`] with the offset of the bad backslash.
pub fn check_escapes(s: &str, what: &'static str) -> Result<(), DecodeError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let ok = b.get(i + 1).copied().and_then(hex_val).is_some()
                && b.get(i + 2).copied().and_then(hex_val).is_some();
            if !ok {
                return Err(DecodeError::Escape { what, at: i });
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn needs_escape(b: u8, scope: bool) -> bool {
    b < 0x20 || b == 0x7F || RESERVED.contains(&b) || (scope && RESERVED_SCOPE.contains(&b))
}

/// Escapes an attribute tag or value for an attribute list (`,` becomes `\2c`).
#[must_use]
pub fn escape(s: &str) -> String {
    escape_with(s, false)
}

/// Escapes a scope name (also escapes `;`, `*` and `+`).
#[must_use]
pub fn escape_scope(s: &str) -> String {
    escape_with(s, true)
}

fn escape_with(s: &str, scope: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) if needs_escape(b, scope) => {
                out.push('\\');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xF)]));
            }
            _ => out.push(c),
        }
    }
    out
}

/// Escapes arbitrary bytes as an opaque attribute value: `\FF` followed by `\XX` per byte.
#[must_use]
pub fn escape_opaque(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(3 + 3 * bytes.len());
    out.push_str("\\FF");
    for b in bytes {
        out.push('\\');
        out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xF)]));
    }
    out
}

/// The bytes of an escaped string with every `\XX` restored. Invalid escapes (which
/// [`check_escapes`] rejects beforehand) are passed through literally.
#[derive(Debug, Clone)]
pub struct Unescaped<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Unescaped<'a> {
    /// Unescapes `s` lazily.
    #[must_use]
    pub fn new(s: &'a str) -> Self {
        Unescaped {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }
}

impl Iterator for Unescaped<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        if b == b'\\' {
            let hi = self.bytes.get(self.pos + 1).copied().and_then(hex_val);
            let lo = self.bytes.get(self.pos + 2).copied().and_then(hex_val);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                self.pos += 3;
                return Some(hi << 4 | lo);
            }
        }
        self.pos += 1;
        Some(b)
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The comparison form of a string (RFC 2608 §6.4): unescaped, ASCII case folded,
/// leading and trailing white space dropped, internal runs folded to one space.
#[derive(Debug, Clone)]
pub struct Folded<'a> {
    inner: core::iter::Peekable<Unescaped<'a>>,
    started: bool,
}

impl<'a> Folded<'a> {
    /// Folds the escaped string `s` lazily.
    #[must_use]
    pub fn new(s: &'a str) -> Self {
        Folded {
            inner: Unescaped::new(s).peekable(),
            started: false,
        }
    }
}

impl Iterator for Folded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let mut saw_ws = false;
        loop {
            let b = *self.inner.peek()?;
            if is_ws(b) {
                saw_ws = true;
                self.inner.next();
                continue;
            }
            if saw_ws && self.started {
                // Emit the single folded space; the non-space byte stays peeked.
                return Some(b' ');
            }
            self.started = true;
            self.inner.next();
            return Some(b.to_ascii_lowercase());
        }
    }
}

/// Whether two escaped strings are equal under RFC 2608 §6.4 rules.
#[must_use]
pub fn folded_eq(a: &str, b: &str) -> bool {
    Folded::new(a).eq(Folded::new(b))
}

/// Lexical comparison of two escaped strings under RFC 2608 §6.4 rules.
#[must_use]
pub fn folded_cmp(a: &str, b: &str) -> core::cmp::Ordering {
    Folded::new(a).cmp(Folded::new(b))
}

/// A comma-separated string list exactly as on the wire (items stay escaped, so an
/// escaped comma `\2c` never splits an item).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct StringList<'a>(pub &'a str);

impl<'a> StringList<'a> {
    /// The list text.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Whether the list is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The items, in wire order, white space around each trimmed; empty items skipped.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + Clone + use<'a> {
        self.0.split(',').map(str::trim).filter(|s| !s.is_empty())
    }

    /// Whether an item equals `item` under RFC 2608 §6.4 rules (case-insensitive).
    #[must_use]
    pub fn contains(&self, item: &str) -> bool {
        self.iter().any(|i| folded_eq(i, item))
    }

    /// Whether the two lists share at least one item (case-insensitive).
    #[must_use]
    pub fn intersects(&self, other: &StringList<'_>) -> bool {
        self.iter().any(|i| other.contains(i))
    }
}

impl fmt::Debug for StringList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for StringList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Builds a comma-separated list from already escaped items.
#[must_use]
pub fn join_list<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    let mut out = String::new();
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reserved_characters_as_two_hex_digits() {
        assert_eq!(escape("a,b(c)"), "a\\2Cb\\28c\\29");
        assert_eq!(escape("x\\y"), "x\\5Cy");
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape_scope("a;b*c+d"), "a\\3Bb\\2Ac\\2Bd");
        assert_eq!(escape_opaque(&[0, 0xff]), "\\FF\\00\\FF");
    }

    #[test]
    fn unescape_restores_bytes() {
        let v: Vec<u8> = Unescaped::new("a\\2cb\\2C").collect();
        assert_eq!(v, b"a,b,");
    }

    #[test]
    fn rejects_backslash_without_two_hex_digits() {
        assert_eq!(
            check_escapes("ab\\2", "v"),
            Err(DecodeError::Escape { what: "v", at: 2 })
        );
        assert_eq!(
            check_escapes("\\zz", "v"),
            Err(DecodeError::Escape { what: "v", at: 0 })
        );
        assert!(check_escapes("\\2c\\FF", "v").is_ok());
    }

    #[test]
    fn folding_ignores_case_and_collapses_white_space() {
        // RFC 2608 §6.4 example.
        assert!(folded_eq("  Some String  ", "SOME    STRING"));
        assert!(!folded_eq("SomeString", "Some String"));
        assert!(folded_eq("a\\2cb", "A,B"));
    }

    #[test]
    fn string_list_items_do_not_split_on_escaped_commas() {
        let l = StringList("DEFAULT, initiator-scope-list,a\\2cb");
        let items: Vec<&str> = l.iter().collect();
        assert_eq!(items, ["DEFAULT", "initiator-scope-list", "a\\2cb"]);
        assert!(l.contains("default"));
        assert!(l.intersects(&StringList("x,INITIATOR-SCOPE-LIST")));
        assert!(!l.intersects(&StringList("x")));
    }
}
