//! nom glue for the text grammars (predicates, attribute lists, service URLs): nom's error
//! type stays inside the crate; [`GrammarError`] carries the rule broken and the input left
//! where it was broken, which the boundary turns into a byte offset for [`DecodeError`].
//!
//! [`DecodeError`]: crate::error::DecodeError

use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

/// Why a grammar rule failed, and the input that was left when it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrammarError<'s> {
    pub(crate) reason: &'static str,
    pub(crate) rest: &'s str,
}

impl<'s> GrammarError<'s> {
    /// The byte offset of the failure in `whole`, of which `rest` is a suffix.
    pub(crate) fn offset(&self, whole: &str) -> usize {
        whole.len().saturating_sub(self.rest.len())
    }
}

impl<'s> ParseError<&'s str> for GrammarError<'s> {
    fn from_error_kind(rest: &'s str, _: ErrorKind) -> Self {
        Self {
            reason: "syntax error",
            rest,
        }
    }

    fn append(_: &'s str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

/// A parser result over text with [`GrammarError`].
pub(crate) type PResult<'s, T> = IResult<&'s str, T, GrammarError<'s>>;

/// An unrecoverable failure (`nom::Err::Failure`): no alternative is tried after it.
pub(crate) fn fail<'s, T>(reason: &'static str, rest: &'s str) -> PResult<'s, T> {
    Err(nom::Err::Failure(GrammarError { reason, rest }))
}

/// The error inside a finished parse (`Incomplete` cannot happen with `complete` parsers).
pub(crate) fn finish<'s>(e: nom::Err<GrammarError<'s>>, whole: &'s str) -> GrammarError<'s> {
    match e {
        nom::Err::Error(g) | nom::Err::Failure(g) => g,
        nom::Err::Incomplete(_) => GrammarError {
            reason: "syntax error",
            rest: &whole[whole.len()..],
        },
    }
}

/// Optional ASCII white space (RFC 2608 treats it as insignificant between tokens).
pub(crate) fn ws(i: &str) -> PResult<'_, &str> {
    // Bytes, not chars: white space is ASCII, so the split is on a char boundary, and this
    // skips the UTF-8 decoding `take_while` over `&str` does (it is on every hot path).
    let n = i.bytes().take_while(u8::is_ascii_whitespace).count();
    Ok((i.get(n..).unwrap_or(""), i.get(..n).unwrap_or("")))
}

/// The character `c`, or a failure saying `reason` where it was expected.
pub(crate) fn expect(c: char, reason: &'static str) -> impl Fn(&str) -> PResult<'_, char> {
    move |i| match nom::character::complete::char::<_, GrammarError<'_>>(c).parse(i) {
        Ok(ok) => Ok(ok),
        Err(_) => fail(reason, i),
    }
}

/// Everything up to (not including) the first `c`, or all the input when there is none:
/// nom's `take_till` for one delimiter, searched with `str::find(char)` (memchr) rather than
/// nom's per-char loop over `&str`.
pub(crate) fn till(c: char) -> impl Fn(&str) -> PResult<'_, &str> {
    move |i| {
        let n = i.find(c).unwrap_or(i.len());
        Ok((i.get(n..).unwrap_or(""), i.get(..n).unwrap_or("")))
    }
}

/// Everything up to the first of `a` or `b` (or all the input): [`till`] for two delimiters.
pub(crate) fn till_either(a: char, b: char) -> impl Fn(&str) -> PResult<'_, &str> {
    move |i| {
        let n = i.find([a, b]).unwrap_or(i.len());
        Ok((i.get(n..).unwrap_or(""), i.get(..n).unwrap_or("")))
    }
}
