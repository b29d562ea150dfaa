//! Building messages: [`Message`] holds a message as typed attribute lists (borrowing its
//! strings), validates it against RFC 4171's layout for its Function ID and the tag table,
//! and encodes it into a [`BytesMut`] with [`Message::encode`]. It is also what
//! [`Message::decode`] returns, so `decode(encode(m)) == m`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use crate::attr::ATTR_HEADER_LEN;
use crate::message::Body;
use crate::pdu::{HEADER_LEN, ISNSP_VERSION, MAX_PAYLOAD_LEN};
use crate::{
    DecodeError, EncodeError, EntityProtocol, FunctionId, Layout, NodeType, Pdu, PduFlags, Port,
    ScnBitmap, Status, Tag, Value, ValueKind,
};

/// One attribute to encode: a tag and its typed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Attribute tag.
    pub tag: Tag,
    /// Value.
    pub value: Value<'a>,
}

impl<'a> Tlv<'a> {
    /// A tag with a value.
    pub fn new(tag: Tag, value: impl Into<Value<'a>>) -> Tlv<'a> {
        Tlv {
            tag,
            value: value.into(),
        }
    }

    /// A zero-length attribute ("return this attribute" in queries, NULL PGT).
    #[must_use]
    pub fn empty(tag: Tag) -> Tlv<'a> {
        Tlv {
            tag,
            value: Value::Empty,
        }
    }

    /// The value's encoded length (padding included), after checking it suits the tag.
    ///
    /// # Errors
    /// [`EncodeError::WrongKind`], [`EncodeError::BadString`],
    /// [`EncodeError::OpaqueNotAligned`] or [`EncodeError::LengthOutOfRange`].
    pub fn value_len(&self) -> Result<usize, EncodeError> {
        let tag = self.tag;
        let kind = tag.kind();
        let known = tag.info().is_some();
        let wrong = || EncodeError::WrongKind {
            tag,
            expected: kind,
        };
        let len = match self.value {
            Value::Empty => 0,
            _ if tag == Tag::DELIMITER => return Err(wrong()),
            Value::U32(_) if !known || matches!(kind, ValueKind::U32 | ValueKind::Port) => 4,
            Value::Port(_) if !known || kind == ValueKind::Port => 4,
            Value::U64(_) if !known || kind == ValueKind::U64 => 8,
            Value::Ip(_) if !known || kind == ValueKind::Ip => 16,
            Value::Str(s) if !known || kind == ValueKind::String => {
                if s.bytes().any(|b| b == 0 || b.is_ascii_control()) {
                    return Err(EncodeError::BadString { tag });
                }
                // RFC 4171 §5.5: NUL-terminated, then NUL-padded to a 4-byte boundary.
                (s.len() + 1).next_multiple_of(4)
            }
            Value::Opaque(b) if !known || kind == ValueKind::Opaque => {
                if !b.len().is_multiple_of(4) {
                    return Err(EncodeError::OpaqueNotAligned { tag, len: b.len() });
                }
                b.len()
            }
            _ => return Err(wrong()),
        };
        let legal = u32::try_from(len).is_ok_and(|l| tag.len_is_legal(l));
        if !legal {
            let (min, max) = tag.info().map_or((0, 0), |i| (i.min_len, i.max_len));
            return Err(EncodeError::LengthOutOfRange { tag, len, min, max });
        }
        Ok(len)
    }

    /// Encoded size, header included.
    ///
    /// # Errors
    /// As [`Tlv::value_len`].
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(ATTR_HEADER_LEN + self.value_len()?)
    }

    /// Appends the TLV to `out`.
    ///
    /// # Errors
    /// As [`Tlv::value_len`]; nothing is written on error.
    pub fn write(&self, out: &mut impl BufMut) -> Result<usize, EncodeError> {
        let len = self.value_len()?;
        let wire_len = u32::try_from(len).map_err(|_| EncodeError::LengthOutOfRange {
            tag: self.tag,
            len,
            min: 0,
            max: u32::MAX,
        })?;
        out.put_u32(self.tag.0);
        out.put_u32(wire_len);
        match self.value {
            Value::Empty => {}
            Value::U32(v) => out.put_u32(v),
            Value::Port(p) => out.put_u32(p.to_wire()),
            Value::U64(v) => out.put_u64(v),
            Value::Ip(ip) => out.put_slice(&ip_octets(ip)),
            Value::Str(s) => {
                out.put_slice(s.as_bytes());
                out.put_bytes(0, len - s.len());
            }
            Value::Opaque(b) => out.put_slice(b),
        }
        Ok(ATTR_HEADER_LEN + len)
    }
}

/// RFC 4171 §6.3.1: IPv4 travels as an IPv4-mapped IPv6 address.
fn ip_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Value::U32(v)
    }
}
impl From<u64> for Value<'_> {
    fn from(v: u64) -> Self {
        Value::U64(v)
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}
impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Opaque(v)
    }
}
impl From<IpAddr> for Value<'_> {
    fn from(v: IpAddr) -> Self {
        Value::Ip(v)
    }
}
impl From<Ipv4Addr> for Value<'_> {
    fn from(v: Ipv4Addr) -> Self {
        Value::Ip(IpAddr::V4(v))
    }
}
impl From<Ipv6Addr> for Value<'_> {
    fn from(v: Ipv6Addr) -> Self {
        Value::Ip(IpAddr::V6(v))
    }
}
impl From<Port> for Value<'_> {
    fn from(v: Port) -> Self {
        Value::Port(v)
    }
}
impl From<NodeType> for Value<'_> {
    fn from(v: NodeType) -> Self {
        Value::U32(v.bits())
    }
}
impl From<ScnBitmap> for Value<'_> {
    fn from(v: ScnBitmap) -> Self {
        Value::U32(v.bits())
    }
}
impl From<EntityProtocol> for Value<'_> {
    fn from(v: EntityProtocol) -> Self {
        Value::U32(v.0)
    }
}

/// A whole iSNS message as typed attribute lists: the builder for requests and responses
/// and the owned-list form of a decoded message.
///
/// `flags` holds CLIENT / SERVER / REPLACE; FIRST and LAST are set by the encoder and AUTH
/// is never emitted. Requests have a `source`; responses have a `status`; flat messages
/// (SCN, ESI) keep everything in `operating`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Function ID.
    pub function: FunctionId,
    /// Header flags other than FIRST, LAST and AUTH.
    pub flags: PduFlags,
    /// Transaction ID.
    pub xid: u16,
    /// Status (responses only).
    pub status: Option<Status>,
    /// Source attribute (requests only).
    pub source: Option<Tlv<'a>>,
    /// Message Key attributes.
    pub key: Vec<Tlv<'a>>,
    /// Whether the delimiter is written.
    pub delimiter: bool,
    /// Operating attributes.
    pub operating: Vec<Tlv<'a>>,
}

const FLAGS_SET_BY_ENCODER: PduFlags = PduFlags::FIRST_PDU
    .union(PduFlags::LAST_PDU)
    .union(PduFlags::AUTH);

impl<'a> Message<'a> {
    fn bare(function: FunctionId, flags: PduFlags, xid: u16) -> Message<'a> {
        Message {
            function,
            flags,
            xid,
            status: None,
            source: None,
            key: Vec::new(),
            delimiter: false,
            operating: Vec::new(),
        }
    }

    /// A client request with an iSCSI Name as Source and the delimiter its layout needs.
    #[must_use]
    pub fn request(function: FunctionId, xid: u16, source: &'a str) -> Message<'a> {
        let mut m = Self::bare(function, PduFlags::CLIENT, xid);
        m.source = Some(Tlv::new(Tag::ISCSI_NAME, source));
        m.delimiter = function.layout() == Layout::SourceKeyOperating;
        m
    }

    /// DevAttrReg; add the entity key with [`Message::key`] and objects with
    /// [`Message::op`] (entity, then each portal, then each node with its PGs).
    #[must_use]
    pub fn dev_attr_reg(xid: u16, source: &'a str) -> Message<'a> {
        Self::request(FunctionId::DEV_ATTR_REG, xid, source)
    }
    /// DevAttrQry; key = attributes to match, operating = [`Message::query`] tags wanted.
    #[must_use]
    pub fn dev_attr_qry(xid: u16, source: &'a str) -> Message<'a> {
        Self::request(FunctionId::DEV_ATTR_QRY, xid, source)
    }
    /// DevGetNext; key = last seen key (or a zero-length key to start).
    #[must_use]
    pub fn dev_get_next(xid: u16, source: &'a str) -> Message<'a> {
        Self::request(FunctionId::DEV_GET_NEXT, xid, source)
    }
    /// DevDereg; empty key, operating = what to remove (EID, portal, iSCSI Name...).
    #[must_use]
    pub fn dev_dereg(xid: u16, source: &'a str) -> Message<'a> {
        Self::request(FunctionId::DEV_DEREG, xid, source)
    }
    /// SCNReg for `node` with `bitmap`.
    #[must_use]
    pub fn scn_reg(xid: u16, source: &'a str, node: &'a str, bitmap: ScnBitmap) -> Message<'a> {
        Self::request(FunctionId::SCN_REG, xid, source)
            .key(Tag::ISCSI_NAME, node)
            .op(Tag::ISCSI_SCN_BITMAP, bitmap)
    }
    /// SCNDereg for `node` (no delimiter, as open-isns sends it).
    #[must_use]
    pub fn scn_dereg(xid: u16, source: &'a str, node: &'a str) -> Message<'a> {
        Self::request(FunctionId::SCN_DEREG, xid, source).key(Tag::ISCSI_NAME, node)
    }
    /// SCNEvent.
    #[must_use]
    pub fn scn_event(xid: u16, source: &'a str) -> Message<'a> {
        Self::request(FunctionId::SCN_EVENT, xid, source)
    }
    /// DDReg; `dd_id` `None` creates a new DD.
    #[must_use]
    pub fn dd_reg(xid: u16, source: &'a str, dd_id: Option<u32>) -> Message<'a> {
        let m = Self::request(FunctionId::DD_REG, xid, source);
        match dd_id {
            Some(id) => m.key(Tag::DD_ID, id),
            None => m,
        }
    }
    /// DDDereg of `dd_id`; without operating members the whole DD is removed.
    #[must_use]
    pub fn dd_dereg(xid: u16, source: &'a str, dd_id: u32) -> Message<'a> {
        Self::request(FunctionId::DD_DEREG, xid, source).key(Tag::DD_ID, dd_id)
    }
    /// DDSReg; `dds_id` `None` creates a new DD Set.
    #[must_use]
    pub fn dds_reg(xid: u16, source: &'a str, dds_id: Option<u32>) -> Message<'a> {
        let m = Self::request(FunctionId::DDS_REG, xid, source);
        match dds_id {
            Some(id) => m.key(Tag::DD_SET_ID, id),
            None => m,
        }
    }
    /// DDSDereg of `dds_id`.
    #[must_use]
    pub fn dds_dereg(xid: u16, source: &'a str, dds_id: u32) -> Message<'a> {
        Self::request(FunctionId::DDS_DEREG, xid, source).key(Tag::DD_SET_ID, dds_id)
    }
    /// SCN to `destination` with its timestamp; add `{bitmap, object key}` groups with
    /// [`Message::op`].
    #[must_use]
    pub fn scn(xid: u16, destination: &'a str, timestamp: u64) -> Message<'a> {
        Self::bare(FunctionId::SCN, PduFlags::SERVER, xid)
            .op(Tag::ISCSI_NAME, destination)
            .op(Tag::TIMESTAMP, timestamp)
    }
    /// ESI for the entity `eid` through the portal `ip`:`port`.
    #[must_use]
    pub fn esi(xid: u16, timestamp: u64, eid: &'a str, ip: IpAddr, port: Port) -> Message<'a> {
        Self::bare(FunctionId::ESI, PduFlags::SERVER, xid)
            .op(Tag::TIMESTAMP, timestamp)
            .op(Tag::ENTITY_IDENTIFIER, eid)
            .op(Tag::PORTAL_IP_ADDRESS, ip)
            .op(Tag::PORTAL_PORT, port)
    }
    /// A response to `request` (its Function ID, request or response form) with `status`.
    /// Responses to SCN and ESI come from the client; every other one from the server.
    /// Add a key with [`Message::key`] (which turns the delimiter on) and operating
    /// attributes with [`Message::op`].
    #[must_use]
    pub fn response(request: FunctionId, xid: u16, status: Status) -> Message<'a> {
        let function = request.response();
        let from = if function.request().layout() == Layout::Flat {
            PduFlags::CLIENT
        } else {
            PduFlags::SERVER
        };
        let mut m = Self::bare(function, from, xid);
        m.status = Some(status);
        m
    }
    /// SCNRsp: status and the destination name echoed.
    #[must_use]
    pub fn scn_rsp(xid: u16, status: Status, destination: &'a str) -> Message<'a> {
        Self::response(FunctionId::SCN, xid, status).op(Tag::ISCSI_NAME, destination)
    }
    /// ESIRsp: status and the ESI's attributes echoed.
    #[must_use]
    pub fn esi_rsp(xid: u16, status: Status, echo: &[Tlv<'a>]) -> Message<'a> {
        let mut m = Self::response(FunctionId::ESI, xid, status);
        m.operating.extend_from_slice(echo);
        m
    }

    /// Sets or clears the Replace flag (DevAttrReg).
    #[must_use]
    pub fn replace(mut self, on: bool) -> Message<'a> {
        self.flags.set(PduFlags::REPLACE, on);
        self
    }
    /// Appends a Message Key attribute (a response gets its delimiter turned on).
    #[must_use]
    pub fn key(mut self, tag: Tag, value: impl Into<Value<'a>>) -> Message<'a> {
        self.key.push(Tlv::new(tag, value));
        if self.status.is_some() {
            self.delimiter = true;
        }
        self
    }
    /// Appends an Operating attribute.
    #[must_use]
    pub fn op(mut self, tag: Tag, value: impl Into<Value<'a>>) -> Message<'a> {
        self.operating.push(Tlv::new(tag, value));
        self
    }
    /// Appends a zero-length Operating attribute (ask for this attribute in a query).
    #[must_use]
    pub fn query(mut self, tag: Tag) -> Message<'a> {
        self.operating.push(Tlv::empty(tag));
        self
    }
    /// Appends an Entity: EID and Entity Protocol.
    #[must_use]
    pub fn entity(self, eid: &'a str, protocol: EntityProtocol) -> Message<'a> {
        self.op(Tag::ENTITY_IDENTIFIER, eid)
            .op(Tag::ENTITY_PROTOCOL, protocol)
    }
    /// Appends a Portal key: IP address and port.
    #[must_use]
    pub fn portal(self, ip: IpAddr, port: Port) -> Message<'a> {
        self.op(Tag::PORTAL_IP_ADDRESS, ip)
            .op(Tag::PORTAL_PORT, port)
    }
    /// Appends an iSCSI Storage Node: name and node type.
    #[must_use]
    pub fn node(self, name: &'a str, node_type: NodeType) -> Message<'a> {
        self.op(Tag::ISCSI_NAME, name)
            .op(Tag::ISCSI_NODE_TYPE, node_type)
    }
    /// Appends a Portal Group for the preceding node: PGT then its portal.
    #[must_use]
    pub fn portal_group(self, pgt: u32, ip: IpAddr, port: Port) -> Message<'a> {
        self.op(Tag::PG_TAG, pgt)
            .op(Tag::PG_PORTAL_IP_ADDR, ip)
            .op(Tag::PG_PORTAL_PORT, port)
    }

    fn layout_error(&self, reason: &'static str) -> EncodeError {
        EncodeError::Layout {
            function: self.function,
            reason,
        }
    }

    /// Checks the message against RFC 4171's layout for its Function ID.
    ///
    /// # Errors
    /// [`EncodeError::Layout`] naming what is wrong.
    pub fn check_layout(&self) -> Result<(), EncodeError> {
        let f = self.function;
        let only = |list: &[Tlv<'_>], tags: &[Tag]| list.len() == 1 && tags.contains(&list[0].tag);
        match f.layout() {
            Layout::Response => {
                if self.status.is_none() {
                    return Err(self.layout_error("a response needs a status"));
                }
                if self.source.is_some() {
                    return Err(self.layout_error("a response carries no source"));
                }
                if !self.delimiter && !self.key.is_empty() {
                    return Err(self.layout_error("key attributes need the delimiter"));
                }
                return Ok(());
            }
            Layout::Heartbeat => {
                return Err(self.layout_error("use Heartbeat::write for heartbeats"));
            }
            Layout::Flat => {
                if self.source.is_some() || self.delimiter || !self.key.is_empty() {
                    return Err(self.layout_error("a flat message has no source, key or delimiter"));
                }
            }
            _ => {
                let Some(src) = &self.source else {
                    return Err(self.layout_error("a request needs a source attribute"));
                };
                if ![Tag::ISCSI_NAME, Tag::FC_PORT_NAME_WWPN].contains(&src.tag) {
                    return Err(
                        self.layout_error("the source must be an iSCSI Name or FC Port Name")
                    );
                }
                // RFC 4171 §5.6.1: the Source names the node making the request; isnsd
                // answers an empty one with "Source Unauthorized".
                if matches!(src.value, Value::Empty | Value::Str("") | Value::Opaque([])) {
                    return Err(EncodeError::EmptySource { function: f });
                }
                if !self.delimiter && !self.operating.is_empty() {
                    return Err(self.layout_error("operating attributes need the delimiter"));
                }
            }
        }
        if self.status.is_some() {
            return Err(self.layout_error("a request carries no status"));
        }
        match f {
            FunctionId::DEV_DEREG if !self.key.is_empty() => {
                Err(self.layout_error("DevDereg has an empty message key"))
            }
            FunctionId::SCN_REG if !only(&self.key, &[Tag::ISCSI_NAME, Tag::FC_PORT_NAME_WWPN]) => {
                Err(self.layout_error("SCNReg keys exactly one node name"))
            }
            FunctionId::SCN_REG
                if !only(
                    &self.operating,
                    &[Tag::ISCSI_SCN_BITMAP, Tag::IFCP_SCN_BITMAP],
                ) =>
            {
                Err(self.layout_error("SCNReg operates on exactly one SCN bitmap"))
            }
            FunctionId::SCN_DEREG
                if !only(&self.key, &[Tag::ISCSI_NAME, Tag::FC_PORT_NAME_WWPN]) =>
            {
                Err(self.layout_error("SCNDereg keys exactly one node name"))
            }
            FunctionId::SCN_DEREG if !self.operating.is_empty() => {
                Err(self.layout_error("SCNDereg carries no operating attributes"))
            }
            FunctionId::DD_REG if !(self.key.is_empty() || only(&self.key, &[Tag::DD_ID])) => {
                Err(self.layout_error("DDReg keys at most one DD_ID"))
            }
            FunctionId::DD_DEREG if !only(&self.key, &[Tag::DD_ID]) => {
                Err(self.layout_error("DDDereg keys exactly one DD_ID"))
            }
            FunctionId::DDS_REG if !(self.key.is_empty() || only(&self.key, &[Tag::DD_SET_ID])) => {
                Err(self.layout_error("DDSReg keys at most one DD_Set ID"))
            }
            FunctionId::DDS_DEREG if !only(&self.key, &[Tag::DD_SET_ID]) => {
                Err(self.layout_error("DDSDereg keys exactly one DD_Set ID"))
            }
            _ => Ok(()),
        }
    }

    fn items(&self) -> impl Iterator<Item = &Tlv<'a>> {
        self.source
            .iter()
            .chain(self.key.iter())
            .chain(self.operating.iter())
    }

    /// Payload length after validation.
    ///
    /// # Errors
    /// Layout and attribute errors.
    pub fn payload_len(&self) -> Result<usize, EncodeError> {
        self.check_layout()?;
        let mut n = if self.status.is_some() { 4 } else { 0 };
        if self.delimiter {
            n += ATTR_HEADER_LEN;
        }
        for t in self.items() {
            n += t.encoded_len()?;
        }
        Ok(n)
    }

    /// Length of the single PDU [`Message::encode`] writes.
    ///
    /// # Errors
    /// As [`Message::encode`].
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let n = self.payload_len()?;
        if n > MAX_PAYLOAD_LEN {
            return Err(EncodeError::PayloadTooLarge {
                len: n,
                max: HEADER_LEN + MAX_PAYLOAD_LEN,
            });
        }
        Ok(HEADER_LEN + n)
    }

    /// Writes the message as one PDU (FIRST and LAST set), returning the bytes written.
    /// Keep it at or under [`crate::OPEN_ISNS_MAX_PDU_LEN`] when talking to open-isns, or
    /// use [`crate::Segmenter`].
    ///
    /// # Errors
    /// [`EncodeError::Layout`], any attribute error, or [`EncodeError::PayloadTooLarge`]
    /// past 65532 payload bytes. Nothing is written on error.
    pub fn encode(&self, out: &mut BytesMut) -> Result<usize, EncodeError> {
        let total = self.encoded_len()?;
        let payload =
            u16::try_from(total - HEADER_LEN).map_err(|_| EncodeError::PayloadTooLarge {
                len: total,
                max: HEADER_LEN + MAX_PAYLOAD_LEN,
            })?;
        out.reserve(total);
        self.write_header(out, payload, PduFlags::SINGLE, 0);
        self.write_payload(out)?;
        Ok(total)
    }

    pub(crate) fn write_header(
        &self,
        out: &mut impl BufMut,
        payload_len: u16,
        position: PduFlags,
        seq: u16,
    ) {
        let flags = (self.flags - FLAGS_SET_BY_ENCODER) | position;
        out.put_u16(ISNSP_VERSION);
        out.put_u16(self.function.0);
        out.put_u16(payload_len);
        out.put_u16(flags.bits());
        out.put_u16(self.xid);
        out.put_u16(seq);
    }

    /// Writes the payload, calling `boundary` after each unit (status, attribute,
    /// delimiter) with the bytes written so far; used by the segmenter.
    pub(crate) fn write_payload_marked(
        &self,
        out: &mut impl BufMut,
        mut boundary: impl FnMut(usize, Tag),
    ) -> Result<usize, EncodeError> {
        let mut n = 0;
        if let Some(s) = self.status {
            out.put_u32(s.0);
            n += 4;
            boundary(n, Tag::DELIMITER);
        }
        for t in self.source.iter().chain(self.key.iter()) {
            n += t.write(out)?;
            boundary(n, t.tag);
        }
        if self.delimiter {
            n += Tlv::empty(Tag::DELIMITER).write(out)?;
            boundary(n, Tag::DELIMITER);
        }
        for t in &self.operating {
            n += t.write(out)?;
            boundary(n, t.tag);
        }
        Ok(n)
    }

    fn write_payload(&self, out: &mut impl BufMut) -> Result<usize, EncodeError> {
        self.write_payload_marked(out, |_, _| {})
    }

    /// Reads a single-PDU message back into typed lists (values decoded per the tag table,
    /// unknown tags as opaque bytes).
    ///
    /// # Errors
    /// Any framing or value error of the payload.
    pub fn decode(pdu: &Pdu<'a>) -> Result<Message<'a>, DecodeError> {
        Self::decode_parts(
            pdu.function(),
            pdu.flags(),
            pdu.xid(),
            pdu.payload(),
            HEADER_LEN,
        )
    }

    /// Reads a message from its parts (for a reassembled multi-PDU message); `base` is the
    /// payload's offset for error reports.
    ///
    /// # Errors
    /// Any framing or value error of the payload.
    pub fn decode_parts(
        function: FunctionId,
        flags: PduFlags,
        xid: u16,
        payload: &'a [u8],
        base: usize,
    ) -> Result<Message<'a>, DecodeError> {
        let mut m = Self::bare(function, flags - FLAGS_SET_BY_ENCODER, xid);
        let collect =
            |attrs: crate::Attrs<'a>, into: &mut Vec<Tlv<'a>>| -> Result<(), DecodeError> {
                for a in attrs {
                    let a = a?;
                    into.push(Tlv {
                        tag: a.tag(),
                        value: a.typed()?,
                    });
                }
                Ok(())
            };
        match Body::parse(function, payload, base)? {
            Body::Request(r) => {
                m.source = r
                    .source()
                    .map(|a| {
                        a.typed().map(|value| Tlv {
                            tag: a.tag(),
                            value,
                        })
                    })
                    .transpose()?;
                collect(r.key(), &mut m.key)?;
                m.delimiter = r.has_delimiter();
                collect(r.operating(), &mut m.operating)?;
            }
            Body::Notification(n) => collect(n.attrs(), &mut m.operating)?,
            Body::Response(r) => {
                m.status = Some(r.status());
                collect(r.key(), &mut m.key)?;
                m.delimiter = r.has_delimiter();
                collect(r.operating(), &mut m.operating)?;
            }
            Body::Heartbeat(_) => {}
        }
        Ok(m)
    }
}

/// Writes a Heartbeat PDU (server multicast; no response is expected).
///
/// # Errors
/// Never in practice; kept fallible for symmetry with [`Message::encode`].
pub fn encode_heartbeat(
    xid: u16,
    hb: &crate::Heartbeat,
    out: &mut BytesMut,
) -> Result<usize, EncodeError> {
    let len = u16::try_from(crate::Heartbeat::LEN).map_err(|_| EncodeError::PayloadTooLarge {
        len: crate::Heartbeat::LEN,
        max: MAX_PAYLOAD_LEN,
    })?;
    out.reserve(HEADER_LEN + crate::Heartbeat::LEN);
    Message::bare(FunctionId::HEARTBEAT, PduFlags::SERVER, xid).write_header(
        out,
        len,
        PduFlags::SINGLE,
        0,
    );
    hb.write(out);
    Ok(HEADER_LEN + crate::Heartbeat::LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_is_nul_terminated_and_padded() {
        let mut b = BytesMut::new();
        Tlv::new(Tag::ISCSI_NAME, "abc").write(&mut b).unwrap();
        assert_eq!(&b[..], &[0, 0, 0, 32, 0, 0, 0, 4, b'a', b'b', b'c', 0]);
        b.clear();
        Tlv::new(Tag::ISCSI_NAME, "abcd").write(&mut b).unwrap();
        assert_eq!(b.len(), 16);
    }

    #[test]
    fn ipv4_is_written_mapped() {
        let mut b = BytesMut::new();
        Tlv::new(Tag::PORTAL_IP_ADDRESS, Ipv4Addr::new(127, 0, 0, 1))
            .write(&mut b)
            .unwrap();
        assert_eq!(
            &b[8..],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]
        );
    }

    #[test]
    fn rejects_name_too_long_and_nul_inside() {
        let long = "a".repeat(224);
        assert!(matches!(
            Tlv::new(Tag::ISCSI_NAME, long.as_str()).value_len(),
            Err(EncodeError::LengthOutOfRange { len: 228, .. })
        ));
        assert_eq!(
            Tlv::new(Tag::ISCSI_NAME, "a\0b").value_len(),
            Err(EncodeError::BadString {
                tag: Tag::ISCSI_NAME
            })
        );
    }

    #[test]
    fn rejects_an_empty_source() {
        let mut b = BytesMut::new();
        for m in [
            Message::dev_attr_qry(1, ""),
            Message::dev_get_next(2, "").key(Tag::ISCSI_NAME, ""),
            Message::dd_reg(3, "", None),
        ] {
            assert_eq!(
                m.encode(&mut b),
                Err(EncodeError::EmptySource {
                    function: m.function
                })
            );
            assert_eq!(m.encoded_len(), m.encode(&mut b).map(|_| 0));
        }
        assert!(b.is_empty(), "nothing written");
        assert_eq!(
            Message::dev_attr_qry(1, "")
                .encode(&mut b)
                .map_err(|e| e.to_string()),
            Err("DevAttrQry request: the source attribute is empty".to_owned())
        );
        // A zero-length key is still fine: DevGetNext starts a walk with one.
        assert!(
            Message::dev_get_next(4, "iqn.2026-01.example:m")
                .key(Tag::ISCSI_NAME, "")
                .encode(&mut b)
                .is_ok()
        );
    }

    #[test]
    fn rejects_value_of_wrong_kind() {
        assert_eq!(
            Tlv::new(Tag::ISCSI_NAME, 5u32).value_len(),
            Err(EncodeError::WrongKind {
                tag: Tag::ISCSI_NAME,
                expected: ValueKind::String
            })
        );
    }

    #[test]
    fn scn_reg_needs_exactly_one_bitmap() {
        let m = Message::scn_reg(1, "iqn.a", "iqn.a", ScnBitmap::OBJECT_ADDED)
            .op(Tag::ISCSI_SCN_BITMAP, 1u32);
        assert!(matches!(m.encoded_len(), Err(EncodeError::Layout { .. })));
    }

    #[test]
    fn encoded_len_equals_written_and_nothing_written_on_error() {
        let m = Message::dev_attr_reg(7, "iqn.2000-01.test:a")
            .key(Tag::ENTITY_IDENTIFIER, "ent")
            .entity("ent", EntityProtocol::ISCSI)
            .portal(Ipv4Addr::LOCALHOST.into(), Port::tcp(3260))
            .node("iqn.2000-01.test:a", NodeType::TARGET);
        let mut b = BytesMut::new();
        assert_eq!(m.encode(&mut b).unwrap(), m.encoded_len().unwrap());
        assert_eq!(b.len(), m.encoded_len().unwrap());
        let bad = Message::dev_dereg(1, "x").key(Tag::ENTITY_IDENTIFIER, "e");
        let mut b = BytesMut::new();
        assert!(bad.encode(&mut b).is_err());
        assert!(b.is_empty());
    }

    #[test]
    fn decode_of_encode_is_identity() {
        let m = Message::response(FunctionId::DEV_ATTR_QRY, 9, Status::SUCCESSFUL)
            .key(Tag::ISCSI_NODE_TYPE, NodeType::TARGET)
            .op(Tag::ISCSI_NAME, "iqn.x")
            .op(Tag::PG_TAG, Value::Empty);
        let mut b = BytesMut::new();
        m.encode(&mut b).unwrap();
        let pdu = Pdu::parse(&b).unwrap();
        assert_eq!(Message::decode(&pdu).unwrap(), m);
    }
}
