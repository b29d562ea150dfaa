//! The hand-written text parsers that nom replaced, kept verbatim behind the non-default
//! `bench-legacy` feature so `benches/slp_codec` can time old and new side by side in one run.
//! Not part of the API.
#![allow(missing_docs, clippy::missing_errors_doc)]

use crate::attr::{AttrList, AttrValue};
use crate::error::DecodeError;
use crate::predicate::{CompareOp, Filter, MAX_DEPTH, Operand, Predicate};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::service_url::{Host, ServiceType, ServiceUrl};
use crate::strings::check_escapes;

fn err(reason: &'static str, at: usize) -> DecodeError {
    DecodeError::Predicate { reason, at }
}

fn attr_err(reason: &'static str, at: usize) -> DecodeError {
    DecodeError::AttrList { reason, at }
}

/// The pre-nom `Predicate::parse`.
pub fn parse_predicate(text: &str) -> Result<Predicate, DecodeError> {
    let mut p = Parser { s: text, pos: 0 };
    p.ws();
    if p.peek().is_none() {
        return Ok(Predicate(None));
    }
    let f = if p.peek() == Some(b'(') {
        p.filter(0)?
    } else {
        p.filtercomp(0)?
    };
    p.ws();
    if p.pos != text.len() {
        return Err(err("unexpected text after filter", p.pos));
    }
    Ok(Predicate(Some(f)))
}

struct Parser<'s> {
    s: &'s str,
    pos: usize,
}

impl<'s> Parser<'s> {
    fn ws(&mut self) {
        while self
            .s
            .as_bytes()
            .get(self.pos)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn filter(&mut self, depth: usize) -> Result<Filter, DecodeError> {
        self.ws();
        if self.peek() != Some(b'(') {
            return Err(err("expected '('", self.pos));
        }
        self.pos += 1;
        let f = self.filtercomp(depth)?;
        self.ws();
        if self.peek() != Some(b')') {
            return Err(err("expected ')'", self.pos));
        }
        self.pos += 1;
        Ok(f)
    }

    fn filtercomp(&mut self, depth: usize) -> Result<Filter, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(err("filter nested too deeply", self.pos));
        }
        self.ws();
        match self.peek() {
            Some(c @ (b'&' | b'|')) => {
                self.pos += 1;
                let mut list = Vec::new();
                loop {
                    self.ws();
                    if self.peek() != Some(b'(') {
                        break;
                    }
                    list.push(self.filter(depth + 1)?);
                }
                if list.is_empty() {
                    return Err(err("'&' or '|' needs at least one filter", self.pos));
                }
                Ok(if c == b'&' {
                    Filter::And(list)
                } else {
                    Filter::Or(list)
                })
            }
            Some(b'!') => {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.filter(depth + 1)?)))
            }
            Some(_) => self.item(),
            None => Err(err("empty filter", self.pos)),
        }
    }

    fn item(&mut self) -> Result<Filter, DecodeError> {
        let start = self.pos;
        let rest = &self.s[start..];
        let len = rest.find([')', '(']).unwrap_or(rest.len());
        let text = &rest[..len];
        self.pos += len;
        let eq = text.find('=').ok_or(err("missing operator", start))?;
        let (op, tag_end) = match text.as_bytes()[..eq].last() {
            Some(b'~') => (CompareOp::Approx, eq - 1),
            Some(b'>') => (CompareOp::GreaterOrEqual, eq - 1),
            Some(b'<') => (CompareOp::LessOrEqual, eq - 1),
            Some(b':') => {
                return Err(err(
                    "extensible match is not supported in SLP",
                    start + eq - 1,
                ));
            }
            _ => (CompareOp::Equal, eq),
        };
        let tag = text[..tag_end].trim();
        if tag.is_empty() {
            return Err(err("empty attribute tag", start));
        }
        if let Some(p) = tag.find(['*', '<', '>', '~', '!', '&', '|', ':']) {
            return Err(err("reserved character in attribute tag", start + p));
        }
        check_escapes(tag, "predicate tag")
            .map_err(|_| err("bad escape in attribute tag", start))?;
        let value = &text[eq + 1..];
        let value_at = start + eq + 1;
        check_escapes(value, "predicate value").map_err(|e| match e {
            DecodeError::Escape { at, .. } => err("bad escape in value", value_at + at),
            _ => err("bad escape in value", value_at),
        })?;
        if value.trim() == "*" {
            if op != CompareOp::Equal {
                return Err(err("presence test needs '='", start + eq));
            }
            return Ok(Filter::Present(tag.to_owned()));
        }
        if value.contains('*') {
            if op != CompareOp::Equal {
                // RFC 2608 §8.1: wildcards only with `=`, else PARSE_ERROR.
                return Err(err("wildcard only allowed with '='", value_at));
            }
            return Ok(Filter::Substring {
                tag: tag.to_owned(),
                pattern: value.to_owned(),
            });
        }
        if value.trim().is_empty() {
            return Err(err("empty value", value_at));
        }
        let value = match AttrValue::classify(value) {
            AttrValue::Int(i) => Operand::Int(i),
            AttrValue::Bool(b) => Operand::Bool(b),
            AttrValue::Opaque(o) => Operand::Opaque(o.to_owned()),
            AttrValue::Str(s) => Operand::Str(s.to_owned()),
        };
        Ok(Filter::Compare {
            tag: tag.to_owned(),
            op,
            value,
        })
    }
}

/// The pre-nom `AttrList::parse`.
pub fn parse_attr_list(text: &str) -> Result<AttrList<'_>, DecodeError> {
    check_escapes(text, "attribute list")?;
    let b = text.as_bytes();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = skip_ws(i);
    if i == b.len() {
        return Ok(AttrList::validated(text));
    }
    loop {
        i = skip_ws(i);
        if i >= b.len() {
            return Err(attr_err("empty attribute", i));
        }
        if b[i] == b'(' {
            let open = i;
            let close = text[open..]
                .find(')')
                .map(|c| open + c)
                .ok_or(attr_err("unclosed '('", open))?;
            let inner = &text[open + 1..close];
            let eq = inner
                .find('=')
                .ok_or(attr_err("missing '=' in attribute", open + 1))?;
            check_tag(&inner[..eq], open + 1)?;
            let vals = &inner[eq + 1..];
            let mut at = open + 2 + eq;
            for v in vals.split(',') {
                if v.trim().is_empty() {
                    return Err(attr_err("empty value", at));
                }
                if let Some(p) = v.find(['(', '=']) {
                    return Err(attr_err("reserved character in value", at + p));
                }
                if let AttrValue::Opaque(rest) = AttrValue::classify(v) {
                    let r = rest.trim().as_bytes();
                    // Escapes are already checked hex: only `\XX` triples may follow `\FF`.
                    if r.is_empty() || r.len() % 3 != 0 || !r.chunks(3).all(|c| c[0] == b'\\') {
                        return Err(attr_err(
                            "opaque value must be \\FF followed by \\XX escapes",
                            at,
                        ));
                    }
                }
                at += v.len() + 1;
            }
            check_consistent(vals, open + 2 + eq)?;
            i = skip_ws(close + 1);
        } else {
            let end = text[i..].find(',').map_or(b.len(), |c| i + c);
            check_tag(&text[i..end], i)?;
            i = end;
        }
        if i == b.len() {
            return Ok(AttrList::validated(text));
        }
        if b[i] != b',' {
            return Err(attr_err("expected ',' between attributes", i));
        }
        i += 1;
    }
}

fn check_tag(tag: &str, at: usize) -> Result<(), DecodeError> {
    let t = tag.trim();
    if t.is_empty() {
        return Err(attr_err("empty tag", at));
    }
    // RFC 2608 §5: safe-tag excludes reserved, `*` and bad-tag (CR, LF, HTAB, `_`)... but
    // `_` appears in deployed tags; only the characters that would break parsing are refused.
    if let Some(p) = tag.find(['(', ')', '=', '*', '!', '<', '>', '~', '\r', '\n', '\t']) {
        return Err(attr_err("reserved character in tag", at + p));
    }
    Ok(())
}

fn check_consistent(vals: &str, at: usize) -> Result<(), DecodeError> {
    let mut kinds = vals.split(',').map(|v| AttrValue::classify(v).kind());
    let first = kinds.next();
    if kinds.any(|k| Some(k) != first) {
        // RFC 2608 §5: x=4,true,sue is disallowed (INVALID_REGISTRATION).
        return Err(attr_err("values of one attribute have mixed types", at));
    }
    Ok(())
}

/// The pre-nom `ServiceUrl::parse`.
pub fn parse_service_url(text: &str) -> Result<ServiceUrl<'_>, DecodeError> {
    let sep = text.find("://").ok_or(url_err("missing \"://\"", 0))?;
    let service_type = &text[..sep];
    if service_type.is_empty() || service_type.ends_with(':') {
        return Err(url_err("empty service type", 0));
    }
    if let Some(i) = service_type
        .bytes()
        .position(|b| !(valid_name_char(b) || b == b':' || b == b'+'))
    {
        return Err(url_err("bad character in service type", i));
    }
    if let Some(rest) = strip_prefix_ci(service_type, "service:")
        && (rest.is_empty() || rest.split(':').any(str::is_empty))
    {
        return Err(url_err("empty service type component", 8));
    }
    let hp_start = sep + 3;
    let after = &text[hp_start..];
    let hp_len = after.find(['/', ';']).unwrap_or(after.len());
    let hostport = &after[..hp_len];
    let path = &after[hp_len..];
    // An optional user@ prefix is allowed by RFC 2609's addr-spec; skip it.
    let (user_len, hostport) = match hostport.rfind('@') {
        Some(i) => (i + 1, &hostport[i + 1..]),
        None => (0, hostport),
    };
    let host_at = hp_start + user_len;
    let (host, port_text, port_at) = if let Some(v6) = hostport.strip_prefix('[') {
        let close = v6
            .find(']')
            .ok_or(url_err("unclosed IPv6 literal", host_at))?;
        let addr: Ipv6Addr = v6[..close]
            .parse()
            .map_err(|_| url_err("bad IPv6 literal", host_at + 1))?;
        let tail = &v6[close + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err(url_err("junk after IPv6 literal", host_at + close + 2)),
        };
        (Host::V6(addr), port, host_at + close + 3)
    } else {
        let (h, p) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        if h.is_empty() {
            return Err(url_err("empty host", host_at));
        }
        if let Some(i) = h.bytes().position(|b| !valid_name_char(b)) {
            return Err(url_err("bad character in host", host_at + i));
        }
        let host = match h.parse::<Ipv4Addr>() {
            Ok(a) => Host::V4(a),
            Err(_) => Host::Name(h),
        };
        (host, p, host_at + h.len() + 1)
    };
    let port = match port_text {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| url_err("port out of range", port_at))?,
        ),
        Some(_) => return Err(url_err("bad port", port_at)),
    };
    Ok(ServiceUrl {
        service_type: ServiceType(service_type),
        host,
        port,
        path,
    })
}

fn url_err(reason: &'static str, at: usize) -> DecodeError {
    DecodeError::Url { reason, at }
}

fn valid_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}
