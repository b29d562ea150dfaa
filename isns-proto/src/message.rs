//! Message-level views (RFC 4171 §5.6): the payload split into Source, Message Key,
//! delimiter and Operating attributes as each Function ID lays it out.
//!
//! ```text
//!  Request:   [Source] [Message Key ...] [Delimiter] [Operating ...]
//!  SCNDereg:  [Source] [Message Key ...]              (a delimiter is tolerated)
//!  SCN, ESI:  [Attribute ...]                         (flat, no Source, no delimiter)
//!  Response:  [Status (4 bytes)] [Message Key ...] [Delimiter] [Operating ...]
//! ```

use core::net::Ipv6Addr;

use crate::{Attr, Attrs, DecodeError, FunctionId, Layout, Status, Tag};

/// A decoded payload, by layout.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Body<'a> {
    /// A client-to-server request with a Source attribute.
    Request(Request<'a>),
    /// A flat message (SCN, ESI).
    Notification(Notification<'a>),
    /// Any response (status first).
    Response(Response<'a>),
    /// A Name Service Heartbeat.
    Heartbeat(Heartbeat),
}

impl<'a> Body<'a> {
    /// Splits `payload` as `function` lays it out; `base` is the payload's offset for errors.
    ///
    /// # Errors
    /// Any attribute framing error; [`DecodeError::Truncated`] for a response without status.
    pub fn parse(
        function: FunctionId,
        payload: &'a [u8],
        base: usize,
    ) -> Result<Body<'a>, DecodeError> {
        Ok(match function.layout() {
            Layout::SourceKeyOperating | Layout::SourceKey => {
                Body::Request(Request::parse(function, payload, base)?)
            }
            Layout::Flat => Body::Notification(Notification::parse(function, payload, base)?),
            Layout::Heartbeat => Body::Heartbeat(Heartbeat::parse(payload, base)?),
            // Layout is non-exhaustive; responses and anything new read as responses.
            _ => Body::Response(Response::parse(function, payload, base)?),
        })
    }

    /// The function this body was parsed as.
    #[must_use]
    pub fn function(&self) -> FunctionId {
        match self {
            Body::Request(r) => r.function,
            Body::Notification(n) => n.function,
            Body::Response(r) => r.function,
            Body::Heartbeat(_) => FunctionId::HEARTBEAT,
        }
    }
}

/// Where the key and operating lists lie, found by one validating walk.
struct Split<'a> {
    first: Option<Attr<'a>>,
    key: Attrs<'a>,
    delimiter: bool,
    operating: Attrs<'a>,
}

/// Walks every attribute (so later iteration cannot fail on framing) and splits the list
/// at the first delimiter. With `take_first`, a leading non-delimiter attribute is returned
/// separately (the Source).
fn split(list: &[u8], base: usize, take_first: bool) -> Result<Split<'_>, DecodeError> {
    let mut first = None;
    let mut key_start = 0;
    let mut delim: Option<(usize, usize)> = None;
    for (i, a) in Attrs::new(list, base).enumerate() {
        let a = a?;
        let rel = a.offset() - base;
        if i == 0 && take_first && !a.is_delimiter() {
            first = Some(a);
            key_start = rel + a.encoded_len();
            continue;
        }
        if delim.is_none() && a.is_delimiter() {
            delim = Some((rel, rel + a.encoded_len()));
        }
    }
    let sub = |from: usize, to: usize| Attrs::new(list.get(from..to).unwrap_or(&[]), base + from);
    Ok(match delim {
        Some((d, after)) => Split {
            first,
            key: sub(key_start, d),
            delimiter: true,
            operating: sub(after, list.len()),
        },
        None => Split {
            first,
            key: sub(key_start, list.len()),
            delimiter: false,
            operating: Attrs::new(&[], base + list.len()),
        },
    })
}

/// A request: Source, Message Key, delimiter, Operating attributes.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    function: FunctionId,
    source: Option<Attr<'a>>,
    key: Attrs<'a>,
    delimiter: bool,
    operating: Attrs<'a>,
}

impl<'a> Request<'a> {
    /// Splits a request payload. A payload that starts with the delimiter has no Source
    /// (the receiver should answer Source Absent).
    ///
    /// # Errors
    /// Any attribute framing error.
    pub fn parse(
        function: FunctionId,
        payload: &'a [u8],
        base: usize,
    ) -> Result<Request<'a>, DecodeError> {
        let s = split(payload, base, true)?;
        Ok(Request {
            function,
            source: s.first,
            key: s.key,
            delimiter: s.delimiter,
            operating: s.operating,
        })
    }
    /// Function ID.
    #[must_use]
    pub fn function(&self) -> FunctionId {
        self.function
    }
    /// The Source attribute (normally an iSCSI Name), if present.
    #[must_use]
    pub fn source(&self) -> Option<Attr<'a>> {
        self.source
    }
    /// The Source attribute as a string.
    ///
    /// # Errors
    /// [`DecodeError::MissingSource`] or a string fault.
    pub fn source_name(&self) -> Result<&'a str, DecodeError> {
        self.source
            .ok_or(DecodeError::MissingSource {
                function: self.function,
                at: self.key.base(),
            })?
            .as_str()
    }
    /// Message Key attributes.
    #[must_use]
    pub fn key(&self) -> Attrs<'a> {
        self.key.clone()
    }
    /// True when the delimiter was present.
    #[must_use]
    pub fn has_delimiter(&self) -> bool {
        self.delimiter
    }
    /// Operating attributes (empty without a delimiter).
    #[must_use]
    pub fn operating(&self) -> Attrs<'a> {
        self.operating.clone()
    }
}

/// A flat message (SCN, ESI): attributes without Source or delimiter.
#[derive(Clone, Debug)]
pub struct Notification<'a> {
    function: FunctionId,
    attrs: Attrs<'a>,
}

impl<'a> Notification<'a> {
    /// Validates the framing of a flat payload.
    ///
    /// # Errors
    /// Any attribute framing error.
    pub fn parse(
        function: FunctionId,
        payload: &'a [u8],
        base: usize,
    ) -> Result<Notification<'a>, DecodeError> {
        let attrs = Attrs::new(payload, base);
        for a in attrs.clone() {
            a?;
        }
        Ok(Notification { function, attrs })
    }
    /// Function ID.
    #[must_use]
    pub fn function(&self) -> FunctionId {
        self.function
    }
    /// All attributes in wire order.
    #[must_use]
    pub fn attrs(&self) -> Attrs<'a> {
        self.attrs.clone()
    }
    /// The first attribute with `tag`.
    #[must_use]
    pub fn find(&self, tag: Tag) -> Option<Attr<'a>> {
        self.attrs
            .clone()
            .filter_map(Result::ok)
            .find(|a| a.tag() == tag)
    }
}

/// A response: status, then Message Key, delimiter, Operating attributes. A response
/// without a delimiter (SCNRsp, ESIRsp, error replies) has every attribute in
/// [`Response::operating`] and an empty key.
#[derive(Clone, Debug)]
pub struct Response<'a> {
    function: FunctionId,
    status: Status,
    key: Attrs<'a>,
    delimiter: bool,
    operating: Attrs<'a>,
}

impl<'a> Response<'a> {
    /// Splits a response payload.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] without a 4-byte status; any attribute framing error.
    pub fn parse(
        function: FunctionId,
        payload: &'a [u8],
        base: usize,
    ) -> Result<Response<'a>, DecodeError> {
        let Some((status, rest)) = payload.split_first_chunk::<4>() else {
            return Err(DecodeError::Truncated {
                what: "response status",
                needed: 4,
                available: payload.len(),
                at: base,
            });
        };
        let status = Status(u32::from_be_bytes(*status));
        let s = split(rest, base + 4, false)?;
        let (key, operating) = if s.delimiter {
            (s.key, s.operating)
        } else {
            (s.operating, s.key)
        };
        Ok(Response {
            function,
            status,
            key,
            delimiter: s.delimiter,
            operating,
        })
    }
    /// Function ID.
    #[must_use]
    pub fn function(&self) -> FunctionId {
        self.function
    }
    /// The status code.
    #[must_use]
    pub fn status(&self) -> Status {
        self.status
    }
    /// Message Key attributes.
    #[must_use]
    pub fn key(&self) -> Attrs<'a> {
        self.key.clone()
    }
    /// True when the delimiter was present.
    #[must_use]
    pub fn has_delimiter(&self) -> bool {
        self.delimiter
    }
    /// Operating attributes (everything after the status when there is no delimiter).
    #[must_use]
    pub fn operating(&self) -> Attrs<'a> {
        self.operating.clone()
    }
    /// The first operating attribute with `tag`.
    #[must_use]
    pub fn find(&self, tag: Tag) -> Option<Attr<'a>> {
        self.operating
            .clone()
            .filter_map(Result::ok)
            .find(|a| a.tag() == tag)
    }
}

/// The Name Service Heartbeat payload (RFC 4171 §5.6.5.14), a fixed 28-byte layout.
///
/// ```text
///         +---------------------------------------------+
///       0 |        Heartbeat IP Address (IPv6)          | 16 Bytes
///         +----------------------+----------------------+
///      16 |   Heartbeat TCP Port | Heartbeat UDP Port   | 4 Bytes
///         +----------------------+----------------------+
///      20 |        Heartbeat Interval (seconds)         | 4 Bytes
///         +---------------------------------------------+
///      24 |        Heartbeat Counter                    | 4 Bytes
///         +---------------------------------------------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Server address.
    pub address: Ipv6Addr,
    /// Server TCP port.
    pub tcp_port: u16,
    /// Server UDP port.
    pub udp_port: u16,
    /// Interval in seconds.
    pub interval: u32,
    /// Counter.
    pub counter: u32,
}

impl Heartbeat {
    /// Size of the payload.
    pub const LEN: usize = 28;

    /// Reads a heartbeat payload.
    ///
    /// # Errors
    /// [`DecodeError::HeartbeatLength`] unless the payload is exactly 28 bytes.
    pub fn parse(payload: &[u8], base: usize) -> Result<Heartbeat, DecodeError> {
        let b =
            <&[u8; Self::LEN]>::try_from(payload).map_err(|_| DecodeError::HeartbeatLength {
                len: payload.len(),
                at: base,
            })?;
        let (addr, rest) = b
            .split_first_chunk::<16>()
            .ok_or(DecodeError::HeartbeatLength { len: 0, at: base })?;
        let w = |i: usize| {
            rest.get(i..i + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .unwrap_or_default()
        };
        let ports = w(0);
        Ok(Heartbeat {
            address: Ipv6Addr::from(*addr),
            tcp_port: u16::from_be_bytes([ports[0], ports[1]]),
            udp_port: u16::from_be_bytes([ports[2], ports[3]]),
            interval: u32::from_be_bytes(w(4)),
            counter: u32::from_be_bytes(w(8)),
        })
    }

    /// Writes the payload.
    pub fn write(&self, out: &mut impl bytes::BufMut) {
        out.put_slice(&self.address.octets());
        out.put_u16(self.tcp_port);
        out.put_u16(self.udp_port);
        out.put_u32(self.interval);
        out.put_u32(self.counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Pdu};

    fn encoded(m: &Message<'_>) -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        m.encode(&mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn scn_dereg_parses_with_and_without_trailing_delimiter() {
        let without = Message::scn_dereg(1, "iqn.a", "iqn.b");
        let mut with = without.clone();
        with.delimiter = true;
        for m in [without, with] {
            let b = encoded(&m);
            let Body::Request(r) = Pdu::parse(&b).unwrap().body().unwrap() else {
                panic!()
            };
            assert_eq!(r.source_name().unwrap(), "iqn.a");
            let key: Vec<_> = r.key().map(Result::unwrap).collect();
            assert_eq!(key.len(), 1);
            assert_eq!(key[0].as_str().unwrap(), "iqn.b");
            assert_eq!(r.operating().count(), 0);
        }
    }

    #[test]
    fn request_starting_with_delimiter_has_no_source() {
        let mut m = Message::dev_attr_qry(1, "x");
        m.source = None;
        // Built by hand: the builder refuses a request without source.
        let mut b = encoded(&Message::dev_attr_qry(1, "x"));
        // Drop the 12-byte source TLV ("x" + NUL padded to 4).
        b.drain(12..24);
        let len = u16::try_from(b.len() - 12).unwrap();
        b[4..6].copy_from_slice(&len.to_be_bytes());
        let Body::Request(r) = Pdu::parse(&b).unwrap().body().unwrap() else {
            panic!()
        };
        assert!(r.source().is_none());
        assert!(matches!(
            r.source_name(),
            Err(DecodeError::MissingSource { .. })
        ));
        assert!(m.encode(&mut bytes::BytesMut::new()).is_err());
    }

    #[test]
    fn response_without_status_is_truncated_error() {
        let e = Response::parse(FunctionId::DEV_ATTR_QRY_RSP, &[0, 0], 12).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Truncated {
                what: "response status",
                needed: 4,
                available: 2,
                at: 12
            }
        );
    }

    #[test]
    fn heartbeat_round_trips() {
        let hb = Heartbeat {
            address: Ipv6Addr::LOCALHOST,
            tcp_port: 3205,
            udp_port: 3206,
            interval: 30,
            counter: 9,
        };
        let mut b = bytes::BytesMut::new();
        crate::encode_heartbeat(4, &hb, &mut b).unwrap();
        let Body::Heartbeat(back) = Pdu::parse(&b).unwrap().body().unwrap() else {
            panic!()
        };
        assert_eq!(back, hb);
        assert!(matches!(
            Heartbeat::parse(&[0; 8], 12),
            Err(DecodeError::HeartbeatLength { len: 8, at: 12 })
        ));
    }
}
