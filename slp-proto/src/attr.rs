//! Attribute lists (RFC 2608 §5): `(protocols=isns),(server-priority=0),transports`.
//!
//! ```text
//! attr-list = attribute / attribute `,' attr-list
//! attribute = `(' attr-tag `=' attr-val-list `)' / attr-tag
//! attr-val  = intval / strval / boolval / opaque     ; opaque = "\FF" 1*escape-val
//! ```
//! [`AttrList::parse`] validates the whole text once; iteration afterwards cannot fail and
//! keeps wire order and duplicates. Tags and values stay escaped; comparisons unescape.

use core::fmt;

use nom::Parser;
use nom::character::complete::char;
use nom::multi::fold_many0;
use nom::sequence::{preceded, terminated};

use crate::error::DecodeError;
use crate::grammar::{GrammarError, PResult, fail, finish, till, ws};
use crate::strings::{Unescaped, check_escapes, escape, escape_opaque, folded_eq};

fn err(reason: &'static str, at: usize) -> DecodeError {
    DecodeError::AttrList { reason, at }
}

/// A validated attribute list (borrowed text).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct AttrList<'a>(&'a str);

/// One attribute: a keyword, or a tag with one or more values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    tag: &'a str,
    values: Option<&'a str>,
    text: &'a str,
}

/// A typed attribute value (RFC 2608 §5 implicit typing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// `[-]1*DIGIT` within the i32 range.
    Int(i32),
    /// `true` / `false` (case-insensitive).
    Bool(bool),
    /// `\FF` followed by escaped bytes: the escaped text after `\FF`.
    Opaque(&'a str),
    /// Anything else, still escaped.
    Str(&'a str),
}

impl<'a> AttrValue<'a> {
    /// Classifies one escaped value token.
    #[must_use]
    pub fn classify(raw: &'a str) -> Self {
        let t = raw.trim();
        // `get`, not `[..3]`: the text may hold multi-byte characters (found by proptest).
        if t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("\\ff")) {
            return AttrValue::Opaque(&t[3..]);
        }
        if t.eq_ignore_ascii_case("true") {
            return AttrValue::Bool(true);
        }
        if t.eq_ignore_ascii_case("false") {
            return AttrValue::Bool(false);
        }
        let digits = t.strip_prefix('-').unwrap_or(t);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(i) = t.parse::<i32>()
        {
            return AttrValue::Int(i);
        }
        AttrValue::Str(raw)
    }

    /// The opaque bytes, unescaped, for an opaque value.
    pub fn opaque_bytes(&self) -> Option<Unescaped<'a>> {
        match self {
            AttrValue::Opaque(s) => Some(Unescaped::new(s)),
            _ => None,
        }
    }

    /// A discriminant for the type-consistency rule (RFC 2608 §5).
    pub(crate) const fn kind(&self) -> u8 {
        match self {
            AttrValue::Int(_) => 0,
            AttrValue::Bool(_) => 1,
            AttrValue::Opaque(_) => 2,
            AttrValue::Str(_) => 3,
        }
    }
}

impl<'a> Attr<'a> {
    /// The tag, escaped and trimmed.
    #[must_use]
    pub const fn tag(&self) -> &'a str {
        self.tag
    }

    /// The attribute exactly as written: `(tag=values)` or `keyword`.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// Whether this is a keyword (a tag without values).
    #[must_use]
    pub const fn is_keyword(&self) -> bool {
        self.values.is_none()
    }

    /// Whether the tag equals `tag` (case-insensitive, escapes restored).
    #[must_use]
    pub fn tag_is(&self, tag: &str) -> bool {
        folded_eq(self.tag, tag)
    }

    /// The raw (escaped) value list text, `None` for a keyword.
    #[must_use]
    pub const fn raw_values(&self) -> Option<&'a str> {
        self.values
    }

    /// The typed values in order (none for a keyword).
    pub fn values(&self) -> impl Iterator<Item = AttrValue<'a>> + Clone + use<'a> {
        self.values
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(AttrValue::classify)
    }
}

impl<'a> AttrList<'a> {
    /// Validates `text` (an empty list is valid).
    ///
    /// # Errors
    /// [`DecodeError::AttrList`] or [`DecodeError::Escape`] with the offset in `text`.
    pub fn parse(text: &'a str) -> Result<Self, DecodeError> {
        check_escapes(text, "attribute list")?;
        match attr_list(text) {
            Ok(_) => Ok(AttrList(text)),
            Err(e) => {
                let g = finish(e, text);
                Err(err(g.reason, g.offset(text)))
            }
        }
    }

    /// Wraps text already validated by [`AttrList::parse`] (or an equivalent check).
    #[cfg(feature = "bench-legacy")]
    pub(crate) const fn validated(text: &'a str) -> Self {
        AttrList(text)
    }

    /// The list text.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// The attributes in wire order (duplicates kept).
    pub fn iter(&self) -> AttrIter<'a> {
        AttrIter { rest: self.0 }
    }

    /// The first attribute whose tag equals `tag` (case-insensitive).
    #[must_use]
    pub fn get(&self, tag: &str) -> Option<Attr<'a>> {
        self.iter().find(|a| a.tag_is(tag))
    }

    /// The first integer value of `tag`, e.g. `server-priority`.
    #[must_use]
    pub fn int(&self, tag: &str) -> Option<i32> {
        self.iter()
            .filter(|a| a.tag_is(tag))
            .flat_map(|a| a.values())
            .find_map(|v| match v {
                AttrValue::Int(i) => Some(i),
                _ => None,
            })
    }
}

/// `attr-list = attribute *("," attribute)`, or nothing but white space. Validates only:
/// nothing is collected, so parsing allocates nothing.
fn attr_list(i: &str) -> PResult<'_, ()> {
    let (i, _) = ws(i)?;
    if i.is_empty() {
        return Ok((i, ()));
    }
    let (i, ()) = attribute(i)?;
    let (i, ()) = fold_many0(preceded(char(','), attribute), || (), |(), ()| ()).parse(i)?;
    if !i.is_empty() {
        return fail("expected ',' between attributes", i);
    }
    Ok((i, ()))
}

/// `attribute = "(" attr-tag "=" attr-val-list ")" / attr-tag`.
fn attribute(i: &str) -> PResult<'_, ()> {
    let (i, _) = ws(i)?;
    if i.is_empty() {
        return fail("empty attribute", i);
    }
    if let Ok((inside, _)) = char::<_, GrammarError<'_>>('(').parse(i) {
        let Ok((after, body)) =
            terminated(till(')'), char::<_, GrammarError<'_>>(')')).parse(inside)
        else {
            return fail("unclosed '('", i);
        };
        let Ok((vals, (tag, _))) = (till('='), char::<_, GrammarError<'_>>('=')).parse(body) else {
            return fail("missing '=' in attribute", inside);
        };
        check_tag(tag, inside)?;
        // `vals` starts here in the whole text (a suffix, for error offsets).
        let vals_at = &inside[tag.len() + 1..];
        check_values(vals, vals_at)?;
        let (after, _) = ws(after)?;
        Ok((after, ()))
    } else {
        // A keyword runs to the next ',' or the end of the list.
        let (rest, tag) = till(',')(i)?;
        check_tag(tag, i)?;
        Ok((rest, ()))
    }
}

/// Checks a tag; `at` is the text from the tag's first byte on.
fn check_tag<'s>(tag: &str, at: &'s str) -> PResult<'s, ()> {
    if tag.trim().is_empty() {
        return fail("empty tag", at);
    }
    // RFC 2608 §5: safe-tag excludes reserved, `*` and bad-tag (CR, LF, HTAB, `_`)... but
    // `_` appears in deployed tags; only the characters that would break parsing are refused.
    if let Some(p) = tag.find(['(', ')', '=', '*', '!', '<', '>', '~', '\r', '\n', '\t']) {
        return fail("reserved character in tag", &at[p..]);
    }
    Ok((at, ()))
}

/// `attr-val-list = attr-val *("," attr-val)`, one type throughout; `at` is the text from
/// the first value on.
fn check_values<'s>(vals: &str, at: &'s str) -> PResult<'s, ()> {
    let mut off = 0;
    let mut first_kind = None;
    let mut mixed = false;
    for v in vals.split(',') {
        let here = &at[off..];
        if v.trim().is_empty() {
            return fail("empty value", here);
        }
        if let Some(p) = v.find(['(', '=']) {
            return fail("reserved character in value", &here[p..]);
        }
        let value = AttrValue::classify(v);
        if let AttrValue::Opaque(rest) = value {
            let r = rest.trim().as_bytes();
            // Escapes are already checked hex: only `\XX` triples may follow `\FF`.
            if r.is_empty() || r.len() % 3 != 0 || !r.chunks(3).all(|c| c[0] == b'\\') {
                return fail("opaque value must be \\FF followed by \\XX escapes", here);
            }
        }
        off += v.len() + 1;
        if *first_kind.get_or_insert(value.kind()) != value.kind() {
            // RFC 2608 §5: x=4,true,sue is disallowed (INVALID_REGISTRATION); reported where
            // the values start, once every value is known to be well formed.
            mixed = true;
        }
    }
    if mixed {
        return fail("values of one attribute have mixed types", at);
    }
    Ok((at, ()))
}

/// Iterator over a validated [`AttrList`].
#[derive(Debug, Clone)]
pub struct AttrIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let s = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        if let Some(inner) = s.strip_prefix('(') {
            // Invariant (validated): a ')' and an '=' exist.
            let close = inner.find(')').unwrap_or(inner.len());
            let body = &inner[..close];
            let text = s.get(..close + 2).unwrap_or(s);
            self.rest = inner.get(close + 1..).unwrap_or("");
            let (tag, vals) = body.split_once('=').unwrap_or((body, ""));
            Some(Attr {
                tag: tag.trim(),
                values: Some(vals),
                text,
            })
        } else {
            let end = s.find(',').unwrap_or(s.len());
            self.rest = &s[end..];
            let tag = s[..end].trim();
            Some(Attr {
                tag,
                values: None,
                text: tag,
            })
        }
    }
}

impl fmt::Debug for AttrList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for AttrList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Builds an attribute list text with correct escaping.
#[derive(Debug, Clone, Default)]
pub struct AttrListBuilder {
    out: String,
}

impl AttrListBuilder {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        AttrListBuilder::default()
    }

    fn sep(&mut self) {
        if !self.out.is_empty() {
            self.out.push(',');
        }
    }

    /// Adds a keyword.
    #[must_use]
    pub fn keyword(mut self, tag: &str) -> Self {
        self.sep();
        self.out.push_str(&escape(tag));
        self
    }

    /// Adds string values (escaped here).
    #[must_use]
    pub fn strings(mut self, tag: &str, values: &[&str]) -> Self {
        self.sep();
        self.out.push('(');
        self.out.push_str(&escape(tag));
        self.out.push('=');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(&escape(v));
        }
        self.out.push(')');
        self
    }

    /// Adds an integer value.
    #[must_use]
    pub fn int(mut self, tag: &str, value: i32) -> Self {
        self.sep();
        self.out.push_str(&format!("({}={value})", escape(tag)));
        self
    }

    /// Adds a boolean value.
    #[must_use]
    pub fn boolean(mut self, tag: &str, value: bool) -> Self {
        self.sep();
        self.out.push_str(&format!("({}={value})", escape(tag)));
        self
    }

    /// Adds an opaque value.
    #[must_use]
    pub fn opaque(mut self, tag: &str, value: &[u8]) -> Self {
        self.sep();
        self.out
            .push_str(&format!("({}={})", escape(tag), escape_opaque(value)));
        self
    }

    /// The list text.
    #[must_use]
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_isns_sms_attribute_list() {
        let l = AttrList::parse("(protocols=isns),(server-priority=0),transports").unwrap();
        let v: Vec<Attr<'_>> = l.iter().collect();
        assert_eq!(v.len(), 3);
        assert!(v[0].tag_is("PROTOCOLS"));
        assert_eq!(v[0].values().collect::<Vec<_>>(), [AttrValue::Str("isns")]);
        assert_eq!(l.int("server-priority"), Some(0));
        assert!(v[2].is_keyword());
        assert_eq!(v[2].tag(), "transports");
    }

    #[test]
    fn values_get_rfc_2608_types() {
        assert_eq!(AttrValue::classify("-42"), AttrValue::Int(-42));
        assert_eq!(
            AttrValue::classify("2147483648"),
            AttrValue::Str("2147483648")
        );
        assert_eq!(AttrValue::classify("TRUE"), AttrValue::Bool(true));
        assert_eq!(AttrValue::classify("\\FF\\00"), AttrValue::Opaque("\\00"));
        assert_eq!(AttrValue::classify("sue"), AttrValue::Str("sue"));
        // Regression (proptest): a multi-byte character across byte 3 is a string.
        assert_eq!(AttrValue::classify("?.¥H"), AttrValue::Str("?.¥H"));
    }

    #[test]
    fn keeps_duplicates_and_order() {
        let l = AttrList::parse("(a=1),(a=2),b,(a=3)").unwrap();
        let tags: Vec<&str> = l.iter().map(|a| a.tag()).collect();
        assert_eq!(tags, ["a", "a", "b", "a"]);
    }

    #[test]
    fn rejects_mixed_types_in_one_attribute() {
        // RFC 2608 §5 example.
        assert!(matches!(
            AttrList::parse("(x=4,true,sue,\\ff\\00\\00)"),
            Err(DecodeError::AttrList {
                reason: "values of one attribute have mixed types",
                ..
            })
        ));
    }

    #[test]
    fn rejects_malformed_lists_with_offsets() {
        assert_eq!(AttrList::parse("(a=1"), Err(err("unclosed '('", 0)));
        assert_eq!(
            AttrList::parse("(a)"),
            Err(err("missing '=' in attribute", 1))
        );
        assert_eq!(
            AttrList::parse("(a=1)x"),
            Err(err("expected ',' between attributes", 5))
        );
        assert_eq!(AttrList::parse("(a=1,,2)"), Err(err("empty value", 5)));
        assert_eq!(AttrList::parse("(=1)"), Err(err("empty tag", 1)));
        assert!(matches!(
            AttrList::parse("(a=\\zz)"),
            Err(DecodeError::Escape { at: 3, .. })
        ));
        assert_eq!(AttrList::parse(""), Ok(AttrList("")));
    }

    #[test]
    fn builder_escapes_and_parses_back() {
        let s = AttrListBuilder::new()
            .strings("description", &["iSNS Server, primary"])
            .strings("protocols", &["isns"])
            .int("server-priority", 0)
            .boolean("x-up", true)
            .opaque("x-blob", &[0, 0x2c])
            .keyword("transports")
            .finish();
        assert_eq!(
            s,
            "(description=iSNS Server\\2C primary),(protocols=isns),(server-priority=0),(x-up=true),(x-blob=\\FF\\00\\2C),transports"
        );
        let l = AttrList::parse(&s).unwrap();
        assert_eq!(l.iter().count(), 6);
        let blob: Vec<u8> = l
            .get("x-blob")
            .unwrap()
            .values()
            .next()
            .unwrap()
            .opaque_bytes()
            .unwrap()
            .collect();
        assert_eq!(blob, [0, 0x2c]);
    }
}
