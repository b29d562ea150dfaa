//! A whole SLPv2 message: header, body by function, and the extension chain.

use bytes::BufMut;

use crate::code_points::FunctionId;
use crate::error::{DecodeError, EncodeError};
use crate::extension::Extensions;
use crate::header::{
    FIXED_HEADER_LEN, Header, MAX_MESSAGE_LEN, RawHeader, VERSION, check_language_tag,
};
use crate::msg::{
    AttrRply, AttrRqst, DaAdvert, SaAdvert, SrvAck, SrvDeReg, SrvReg, SrvRply, SrvRqst,
    SrvTypeRply, SrvTypeRqst,
};
use crate::wire::{Reader, put_string, put_u24};

/// The body of a message, by function ID. Unknown functions pass through as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body<'a> {
    /// Service Request.
    SrvRqst(SrvRqst<'a>),
    /// Service Reply.
    SrvRply(SrvRply<'a>),
    /// Service Registration.
    SrvReg(SrvReg<'a>),
    /// Service Deregistration.
    SrvDeReg(SrvDeReg<'a>),
    /// Service Acknowledgement.
    SrvAck(SrvAck),
    /// Attribute Request.
    AttrRqst(AttrRqst<'a>),
    /// Attribute Reply.
    AttrRply(AttrRply<'a>),
    /// DA Advertisement.
    DaAdvert(DaAdvert<'a>),
    /// Service Type Request.
    SrvTypeRqst(SrvTypeRqst<'a>),
    /// Service Type Reply.
    SrvTypeRply(SrvTypeRply<'a>),
    /// SA Advertisement.
    SaAdvert(SaAdvert<'a>),
    /// A function this crate does not know; the body bytes as received.
    Unknown {
        /// Function ID.
        function: FunctionId,
        /// Body bytes.
        bytes: &'a [u8],
    },
}

impl<'a> Body<'a> {
    /// The function ID this body is sent with.
    #[must_use]
    pub fn function(&self) -> FunctionId {
        match self {
            Body::SrvRqst(_) => FunctionId::SRV_RQST,
            Body::SrvRply(_) => FunctionId::SRV_RPLY,
            Body::SrvReg(_) => FunctionId::SRV_REG,
            Body::SrvDeReg(_) => FunctionId::SRV_DEREG,
            Body::SrvAck(_) => FunctionId::SRV_ACK,
            Body::AttrRqst(_) => FunctionId::ATTR_RQST,
            Body::AttrRply(_) => FunctionId::ATTR_RPLY,
            Body::DaAdvert(_) => FunctionId::DA_ADVERT,
            Body::SrvTypeRqst(_) => FunctionId::SRV_TYPE_RQST,
            Body::SrvTypeRply(_) => FunctionId::SRV_TYPE_RPLY,
            Body::SaAdvert(_) => FunctionId::SA_ADVERT,
            Body::Unknown { function, .. } => *function,
        }
    }

    fn decode(function: FunctionId, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(match function {
            FunctionId::SRV_RQST => Body::SrvRqst(SrvRqst::decode(r)?),
            FunctionId::SRV_RPLY => Body::SrvRply(SrvRply::decode(r)?),
            FunctionId::SRV_REG => Body::SrvReg(SrvReg::decode(r)?),
            FunctionId::SRV_DEREG => Body::SrvDeReg(SrvDeReg::decode(r)?),
            FunctionId::SRV_ACK => Body::SrvAck(SrvAck::decode(r)?),
            FunctionId::ATTR_RQST => Body::AttrRqst(AttrRqst::decode(r)?),
            FunctionId::ATTR_RPLY => Body::AttrRply(AttrRply::decode(r)?),
            FunctionId::DA_ADVERT => Body::DaAdvert(DaAdvert::decode(r)?),
            FunctionId::SRV_TYPE_RQST => Body::SrvTypeRqst(SrvTypeRqst::decode(r)?),
            FunctionId::SRV_TYPE_RPLY => Body::SrvTypeRply(SrvTypeRply::decode(r)?),
            FunctionId::SA_ADVERT => Body::SaAdvert(SaAdvert::decode(r)?),
            function => Body::Unknown {
                function,
                bytes: r.rest(),
            },
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::SrvRqst(b) => b.encoded_len(),
            Body::SrvRply(b) => b.encoded_len(),
            Body::SrvReg(b) => b.encoded_len(),
            Body::SrvDeReg(b) => b.encoded_len(),
            Body::SrvAck(b) => b.encoded_len(),
            Body::AttrRqst(b) => b.encoded_len(),
            Body::AttrRply(b) => b.encoded_len(),
            Body::DaAdvert(b) => b.encoded_len(),
            Body::SrvTypeRqst(b) => b.encoded_len(),
            Body::SrvTypeRply(b) => b.encoded_len(),
            Body::SaAdvert(b) => b.encoded_len(),
            Body::Unknown { bytes, .. } => bytes.len(),
        }
    }

    fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        match self {
            Body::SrvRqst(b) => b.encode(buf),
            Body::SrvRply(b) => b.encode(buf),
            Body::SrvReg(b) => b.encode(buf),
            Body::SrvDeReg(b) => b.encode(buf),
            Body::SrvAck(b) => b.encode(buf),
            Body::AttrRqst(b) => b.encode(buf),
            Body::AttrRply(b) => b.encode(buf),
            Body::DaAdvert(b) => b.encode(buf),
            Body::SrvTypeRqst(b) => b.encode(buf),
            Body::SrvTypeRply(b) => b.encode(buf),
            Body::SaAdvert(b) => b.encode(buf),
            Body::Unknown { bytes, .. } => {
                buf.put_slice(bytes);
                Ok(())
            }
        }
    }
}

/// A complete SLPv2 message (RFC 2608 §8): header, body and extensions.
///
/// [`Message::parse`] borrows everything from the input and allocates nothing; the same
/// struct, filled with the caller's borrowed fields, is what [`Message::encode`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Flags, XID and language tag.
    pub header: Header<'a>,
    /// The body.
    pub body: Body<'a>,
    /// Extensions after the body.
    pub extensions: Extensions<'a>,
}

impl<'a> Message<'a> {
    /// A message with no extensions.
    #[must_use]
    pub fn new(header: Header<'a>, body: Body<'a>) -> Self {
        Message {
            header,
            body,
            extensions: Extensions::default(),
        }
    }

    /// Parses exactly one message; `buf` must be exactly as long as the header says.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field and byte offset that failed.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let raw = RawHeader::parse(buf)?;
        if raw.length != buf.len() {
            return Err(DecodeError::LengthMismatch {
                declared: raw.length,
                actual: buf.len(),
            });
        }
        let extensions = Extensions::decode(buf, raw.next_ext_offset, raw.header_len)?;
        let body_end = if raw.next_ext_offset == 0 {
            buf.len()
        } else {
            raw.next_ext_offset
        };
        let body_bytes = buf.get(raw.header_len..body_end).unwrap_or(&[]);
        let mut r = Reader::new(body_bytes, raw.header_len);
        let body = Body::decode(raw.function, &mut r)?;
        r.finish("message body")?;
        Ok(Message {
            header: raw.header,
            body,
            extensions,
        })
    }

    /// The function ID.
    #[must_use]
    pub fn function(&self) -> FunctionId {
        self.body.function()
    }

    /// Encoded size of the whole message.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.header.encoded_len() + self.body.encoded_len() + self.extensions.encoded_len()
    }

    /// Writes the message (header lengths and extension offsets computed here).
    ///
    /// # Errors
    /// [`EncodeError`] when a field is too long, the message exceeds the 24-bit length, or
    /// the language tag is not RFC 1766.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        check_language_tag(self.header.language_tag)?;
        let len = self.encoded_len();
        if len > MAX_MESSAGE_LEN {
            return Err(EncodeError::FieldTooLong {
                what: "message",
                len,
                max: MAX_MESSAGE_LEN,
            });
        }
        let header_len = FIXED_HEADER_LEN + self.header.language_tag.len();
        let body_end = header_len + self.body.encoded_len();
        buf.put_u8(VERSION);
        buf.put_u8(self.function().0);
        put_u24(buf, "message length", len)?;
        buf.put_u16(self.header.flags.bits());
        put_u24(
            buf,
            "next extension offset",
            if self.extensions.is_empty() {
                0
            } else {
                body_end
            },
        )?;
        buf.put_u16(self.header.xid);
        put_string(buf, "language tag", self.header.language_tag)?;
        self.body.encode(buf)?;
        self.extensions.encode(buf, body_end)
    }

    /// Encodes into a new vector.
    ///
    /// # Errors
    /// As [`Message::encode`].
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v)?;
        Ok(v)
    }
}
