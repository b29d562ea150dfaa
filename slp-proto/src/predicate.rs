//! Predicates: LDAPv3 search filters (RFC 2254 §4) evaluated with the SLP matching rules
//! of RFC 2608 §8.1 against an [`AttrList`].
//!
//! ```text
//! filter     = "(" filtercomp ")"
//! filtercomp = and / or / not / item
//! and = "&" 1*filter   or = "|" 1*filter   not = "!" filter
//! item       = attr ("=" / "~=" / ">=" / "<=") value / attr "=*" / attr "=" [initial] "*" *(any "*") [final]
//! ```
//! SLP rules: an empty predicate matches everything; a multi-valued attribute matches when
//! any value does; comparisons are case-insensitive with white space folded; the value's
//! type (integer, boolean, opaque, string) must equal the registered value's type;
//! wildcards are allowed only with `=`; keywords match `(kw=*)`. Extensible matches
//! (`:=`) are LDAP-only and rejected. For leniency a filter without the outer parentheses
//! (as in RFC 4018's example `&(a=b)(c=d)`) is accepted.

use core::cmp::Ordering;

use nom::Parser;
use nom::character::complete::{char, one_of};
use nom::combinator::peek;
use nom::multi::many0;

use crate::attr::{AttrList, AttrValue};
use crate::error::DecodeError;
use crate::grammar::{GrammarError, PResult, expect, fail, finish, till, till_either, ws};
use crate::strings::{Folded, Unescaped, check_escapes, folded_cmp, folded_eq};

/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Equal,
    /// `~=` (approximate; treated as equality, as OpenSLP does)
    Approx,
    /// `>=`
    GreaterOrEqual,
    /// `<=`
    LessOrEqual,
}

/// A typed comparison operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// Integer.
    Int(i32),
    /// Boolean.
    Bool(bool),
    /// Opaque bytes (escaped text after `\FF`).
    Opaque(String),
    /// String (escaped).
    Str(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// All must match.
    And(Vec<Filter>),
    /// Any must match.
    Or(Vec<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// `(tag=*)`: the attribute or keyword is present.
    Present(String),
    /// `(tag op value)`.
    Compare {
        /// Tag (escaped).
        tag: String,
        /// Operator.
        op: CompareOp,
        /// Operand.
        value: Operand,
    },
    /// `(tag=ini*any*fin)`: a wildcard pattern (escaped, `*` unescaped).
    Substring {
        /// Tag (escaped).
        tag: String,
        /// Pattern including the `*`s.
        pattern: String,
    },
}

/// A predicate: empty (matches everything) or a filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Predicate(pub Option<Filter>);

fn err(reason: &'static str, at: usize) -> DecodeError {
    DecodeError::Predicate { reason, at }
}

/// RFC 2254 §4 `filter = "(" filtercomp ")"`.
fn filter(i: &str, depth: usize) -> PResult<'_, Filter> {
    let (i, _) = ws(i)?;
    let (i, _) = expect('(', "expected '('")(i)?;
    let (i, f) = filtercomp(i, depth)?;
    let (i, _) = ws(i)?;
    let (i, _) = expect(')', "expected ')'")(i)?;
    Ok((i, f))
}

/// One operand of `&` / `|`: a recoverable error (ending the list) unless a `(` follows.
fn list_member(i: &str, depth: usize) -> PResult<'_, Filter> {
    let (j, _) = ws(i)?;
    peek(char('(')).parse(j)?;
    filter(j, depth)
}

/// `filtercomp = and / or / not / item`, with the depth bounded before recursing.
fn filtercomp(i: &str, depth: usize) -> PResult<'_, Filter> {
    if depth >= MAX_DEPTH {
        return fail("filter nested too deeply", i);
    }
    let (i, _) = ws(i)?;
    if let Ok((i, c)) = one_of::<_, _, GrammarError<'_>>("&|").parse(i) {
        let (i, list) = many0(|j| list_member(j, depth + 1)).parse(i)?;
        if list.is_empty() {
            return fail("'&' or '|' needs at least one filter", ws(i)?.0);
        }
        return Ok((
            i,
            if c == '&' {
                Filter::And(list)
            } else {
                Filter::Or(list)
            },
        ));
    }
    if let Ok((i, _)) = char::<_, GrammarError<'_>>('!').parse(i) {
        let (i, f) = filter(i, depth + 1)?;
        return Ok((i, Filter::Not(Box::new(f))));
    }
    if i.is_empty() {
        return fail("empty filter", i);
    }
    item(i)
}

/// `item = attr filtertype value`: everything up to the next parenthesis, split at its
/// first `=`; the character before that `=` picks the operator.
fn item(i: &str) -> PResult<'_, Filter> {
    let (rest, text) = till_either(')', '(')(i)?;
    let Ok((value, (head, _))) = (till('='), char::<_, GrammarError<'_>>('=')).parse(text) else {
        return fail("missing operator", i);
    };
    let at = |n: usize| &i[n..];
    let eq = head.len();
    let (op, tag) = match head.as_bytes().last() {
        Some(b'~') => (CompareOp::Approx, &head[..eq - 1]),
        Some(b'>') => (CompareOp::GreaterOrEqual, &head[..eq - 1]),
        Some(b'<') => (CompareOp::LessOrEqual, &head[..eq - 1]),
        Some(b':') => return fail("extensible match is not supported in SLP", at(eq - 1)),
        _ => (CompareOp::Equal, head),
    };
    let tag = tag.trim();
    if tag.is_empty() {
        return fail("empty attribute tag", i);
    }
    if let Some(p) = tag.find(['*', '<', '>', '~', '!', '&', '|', ':']) {
        // `tag` is trimmed: its offset in `head` is what leading white space it lost.
        let lead = head.len() - head.trim_start().len();
        return fail("reserved character in attribute tag", at(lead + p));
    }
    if check_escapes(tag, "predicate tag").is_err() {
        return fail("bad escape in attribute tag", i);
    }
    let value_at = eq + 1;
    if let Err(e) = check_escapes(value, "predicate value") {
        let off = match e {
            DecodeError::Escape { at, .. } => at,
            _ => 0,
        };
        return fail("bad escape in value", at(value_at + off));
    }
    let trimmed = value.trim();
    if trimmed == "*" {
        if op != CompareOp::Equal {
            return fail("presence test needs '='", at(eq));
        }
        return Ok((rest, Filter::Present(tag.to_owned())));
    }
    if value.contains('*') {
        if op != CompareOp::Equal {
            // RFC 2608 §8.1: wildcards only with `=`, else PARSE_ERROR.
            return fail("wildcard only allowed with '='", at(value_at));
        }
        return Ok((
            rest,
            Filter::Substring {
                tag: tag.to_owned(),
                pattern: value.to_owned(),
            },
        ));
    }
    if trimmed.is_empty() {
        return fail("empty value", at(value_at));
    }
    let value = match AttrValue::classify(value) {
        AttrValue::Int(i) => Operand::Int(i),
        AttrValue::Bool(b) => Operand::Bool(b),
        AttrValue::Opaque(o) => Operand::Opaque(o.to_owned()),
        AttrValue::Str(s) => Operand::Str(s.to_owned()),
    };
    Ok((
        rest,
        Filter::Compare {
            tag: tag.to_owned(),
            op,
            value,
        },
    ))
}

/// A whole predicate: white space, then a filter (with or without its outer parentheses),
/// then white space and the end of the text.
fn predicate(i: &str) -> PResult<'_, Option<Filter>> {
    let (i, _) = ws(i)?;
    if i.is_empty() {
        return Ok((i, None));
    }
    let (i, f) = if i.starts_with('(') {
        filter(i, 0)?
    } else {
        filtercomp(i, 0)?
    };
    let (i, _) = ws(i)?;
    if !i.is_empty() {
        return fail("unexpected text after filter", i);
    }
    Ok((i, Some(f)))
}

impl Predicate {
    /// Parses a predicate; an empty (or all white space) string matches everything.
    ///
    /// # Errors
    /// [`DecodeError::Predicate`] with the byte offset of the problem.
    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        match predicate(text) {
            Ok((_, f)) => Ok(Predicate(f)),
            Err(e) => {
                let g = finish(e, text);
                Err(err(g.reason, g.offset(text)))
            }
        }
    }

    /// Whether the attribute list satisfies the predicate.
    #[must_use]
    pub fn matches(&self, attrs: &AttrList<'_>) -> bool {
        self.0.as_ref().is_none_or(|f| f.matches(attrs))
    }
}

impl Filter {
    /// Whether the attribute list satisfies this filter.
    #[must_use]
    pub fn matches(&self, attrs: &AttrList<'_>) -> bool {
        match self {
            Filter::And(l) => l.iter().all(|f| f.matches(attrs)),
            Filter::Or(l) => l.iter().any(|f| f.matches(attrs)),
            // RFC 2608 §8.1: "(!(Y=0))" matches (y=0,1) "since Y can be nonzero": a negated
            // comparison holds when some value fails the comparison.
            Filter::Not(f) => match &**f {
                Filter::Compare { tag, op, value } => {
                    values_of(attrs, tag).any(|v| !compare(*op, value, &v))
                }
                Filter::Substring { tag, pattern } => values_of(attrs, tag).any(|v| match v {
                    AttrValue::Str(s) => !wildcard_match(s, pattern),
                    _ => true,
                }),
                other => !other.matches(attrs),
            },
            Filter::Present(tag) => attrs.iter().any(|a| a.tag_is(tag)),
            Filter::Compare { tag, op, value } => attrs
                .iter()
                .filter(|a| a.tag_is(tag))
                .flat_map(|a| a.values())
                .any(|v| compare(*op, value, &v)),
            Filter::Substring { tag, pattern } => attrs
                .iter()
                .filter(|a| a.tag_is(tag))
                .flat_map(|a| a.values())
                .any(|v| match v {
                    AttrValue::Str(s) => wildcard_match(s, pattern),
                    _ => false,
                }),
        }
    }
}

fn values_of<'a>(attrs: &AttrList<'a>, tag: &'a str) -> impl Iterator<Item = AttrValue<'a>> {
    attrs
        .iter()
        .filter(move |a| a.tag_is(tag))
        .flat_map(|a| a.values())
}

fn ordered(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Equal | CompareOp::Approx => ord == Ordering::Equal,
        CompareOp::GreaterOrEqual => ord != Ordering::Less,
        CompareOp::LessOrEqual => ord != Ordering::Greater,
    }
}

/// `registered op operand`, only between values of the same type (RFC 2608 §8.1).
fn compare(op: CompareOp, operand: &Operand, registered: &AttrValue<'_>) -> bool {
    match (operand, registered) {
        (Operand::Int(want), AttrValue::Int(have)) => ordered(op, have.cmp(want)),
        (Operand::Bool(want), AttrValue::Bool(have)) => {
            matches!(op, CompareOp::Equal | CompareOp::Approx) && have == want
        }
        (Operand::Opaque(want), AttrValue::Opaque(have)) => {
            ordered(op, Unescaped::new(have).cmp(Unescaped::new(want)))
        }
        (Operand::Str(want), AttrValue::Str(have)) => match op {
            CompareOp::Equal | CompareOp::Approx => folded_eq(have, want),
            _ => ordered(op, folded_cmp(have, want)),
        },
        _ => false,
    }
}

/// Whether the escaped `value` matches the escaped `pattern`, where an unescaped `*`
/// matches any sequence (RFC 2608 §6.4, §9.4), case-insensitively with white space folded.
#[must_use]
pub fn wildcard_match(value: &str, pattern: &str) -> bool {
    let mut segs = pattern.split('*');
    let first = segs.next().unwrap_or("");
    let mut it = Folded::new(value);
    // Initial segment must be a prefix.
    for b in Folded::new(first) {
        if it.next() != Some(b) {
            return false;
        }
    }
    let Some(mut seg) = segs.next() else {
        // No `*` at all: plain equality.
        return it.next().is_none();
    };
    loop {
        match segs.next() {
            Some(next) => {
                // A middle segment: earliest occurrence is always the best choice.
                if Folded::new(seg).next().is_some() {
                    loop {
                        let mut probe = it.clone();
                        if Folded::new(seg).all(|b| probe.next() == Some(b)) {
                            it = probe;
                            break;
                        }
                        if it.next().is_none() {
                            return false;
                        }
                    }
                }
                seg = next;
            }
            None => {
                // The final segment must be a suffix.
                loop {
                    if it.clone().eq(Folded::new(seg)) {
                        return true;
                    }
                    if it.next().is_none() {
                        return false;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pred: &str, attrs: &str) -> bool {
        Predicate::parse(pred)
            .unwrap()
            .matches(&AttrList::parse(attrs).unwrap())
    }

    #[test]
    fn empty_predicate_matches_everything() {
        assert!(m("", "(a=1)"));
        assert!(m("  ", ""));
    }

    #[test]
    fn open_isns_query_matches_sms_registration() {
        let attrs = "(description=iSNS Server),(protocols=isns)";
        assert!(m("(protocols=isns)", attrs));
        assert!(m("(PROTOCOLS=ISNS)", attrs));
        assert!(!m("(protocols=ipmi)", attrs));
    }

    #[test]
    fn multi_valued_attribute_matches_when_any_value_does() {
        // RFC 2608 §8.1: "(x=3)" matches x=1,2,3.
        assert!(m("(x=3)", "(x=1,2,3)"));
        assert!(!m("(x=4)", "(x=1,2,3)"));
    }

    #[test]
    fn integer_comparison_is_numeric_and_type_strict() {
        assert!(m("(server-priority<=5)", "(server-priority=0)"));
        assert!(!m("(server-priority>=5)", "(server-priority=0)"));
        assert!(m("(n>=10)", "(n=9,100)"));
        assert!(!m("(x=33)", "(x=thirty-three)"));
        assert!(!m("(x=abc)", "(x=33)"));
    }

    #[test]
    fn strings_fold_case_and_white_space() {
        assert!(m("(d=some   STRING)", "(d=  Some String  )"));
        assert!(m("(d>=b)", "(d=C)"));
        assert!(m("(d~=ISNS)", "(d=isns)"));
    }

    #[test]
    fn booleans_only_compare_with_equals() {
        assert!(m("(up=TRUE)", "(up=true)"));
        assert!(!m("(up=false)", "(up=true)"));
        assert!(!m("(up>=true)", "(up=true)"));
    }

    #[test]
    fn wildcards_match_substrings() {
        assert!(m("(d=*bob*)", "(d=some bob I know)"));
        assert!(m("(d=*bob*)", "(d=bigbob)"));
        assert!(m("(d=bob*)", "(d=bobby)"));
        assert!(m("(d=*bob)", "(d=Bob)"));
        assert!(m("(d=a*c*e)", "(d=abcde)"));
        assert!(!m("(d=a*c*e)", "(d=abcdf)"));
        assert!(!m("(n=1*)", "(n=12)"));
    }

    #[test]
    fn presence_matches_keywords_and_attributes() {
        assert!(m("(transports=*)", "(protocols=isns),transports"));
        assert!(m("(protocols=*)", "(protocols=isns)"));
        assert!(!m("(missing=*)", "(protocols=isns)"));
    }

    #[test]
    fn boolean_operators_combine() {
        let a = "(protocols=isns),(server-priority=1)";
        assert!(m("(&(protocols=isns)(server-priority=1))", a));
        assert!(!m("(&(protocols=isns)(server-priority=2))", a));
        assert!(m("(|(protocols=x)(server-priority=1))", a));
        assert!(m("(!(protocols=x))", a));
        assert!(!m("(!(protocols=isns))", a));
        assert!(!m("(!(missing=1))", a));
        assert!(m("(!(missing=*))", a));
        // RFC 4018's example omits the outer parentheses.
        assert!(m("&(protocols=isns)(server-priority=1)", a));
    }

    #[test]
    fn escaped_values_compare_unescaped() {
        assert!(m("(d=a\\2cb)", "(d=a\\2Cb)"));
        assert!(m("(d=a\\2a)", "(d=A\\2A)"));
        assert!(m("(o=\\FF\\00\\01)", "(o=\\FF\\00\\01)"));
    }

    #[test]
    fn rejects_malformed_filters_with_offsets() {
        let e = |s: &str| Predicate::parse(s).unwrap_err();
        assert_eq!(e("(a=1"), err("expected ')'", 4));
        assert_eq!(e("(a>=1*)"), err("wildcard only allowed with '='", 4));
        assert_eq!(
            e("(a:dn:=1)"),
            err("extensible match is not supported in SLP", 5)
        );
        assert_eq!(e("(&)"), err("'&' or '|' needs at least one filter", 2));
        assert_eq!(e("(a=1))"), err("unexpected text after filter", 5));
        assert_eq!(e("(=1)"), err("empty attribute tag", 1));
        assert_eq!(e("(a)"), err("missing operator", 1));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "(!".repeat(10_000) + "(a=1)" + &")".repeat(10_000);
        assert_eq!(
            Predicate::parse(&deep).unwrap_err(),
            err("filter nested too deeply", 65)
        );
    }
}
