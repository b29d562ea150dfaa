//! Replies: SrvRply (RFC 2608 §8.2), SrvAck (§8.4), AttrRply (§10.4), SrvTypeRply (§10.2).
//!
//! RFC 2608 §7: a reply with a non-zero error code may end right after the error code;
//! such a reply decodes with empty remaining fields.

use bytes::BufMut;

use crate::code_points::ErrorCode;
use crate::error::{DecodeError, EncodeError};
use crate::strings::StringList;
use crate::url_entry::{AuthBlocks, UrlEntries};
use crate::wire::{Reader, put_string, string_len};

fn truncated_error_reply(r: &Reader<'_>, error: ErrorCode) -> bool {
    error != ErrorCode::OK && r.remaining() == 0
}

/// Service Reply (function 2), RFC 2608 §8.2.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |        Error Code             |        URL Entry count        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |       <URL Entry 1>          ...       <URL Entry N>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvRply<'a> {
    /// Error code (data, not a Rust error).
    pub error: ErrorCode,
    /// The URL entries.
    pub urls: UrlEntries<'a>,
}

impl<'a> SrvRply<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let error = ErrorCode(r.u16("error code")?);
        if truncated_error_reply(r, error) {
            return Ok(SrvRply {
                error,
                urls: UrlEntries::default(),
            });
        }
        let count = r.u16("URL entry count")?;
        Ok(SrvRply {
            error,
            urls: UrlEntries::decode(r, count)?,
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        2 + self.urls.encoded_len()
    }

    /// Writes the body.
    ///
    /// # Errors
    /// Errors of the URL entries.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        buf.put_u16(self.error.0);
        self.urls.encode(buf)
    }
}

/// Service Acknowledgement (function 5), RFC 2608 §8.4.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Error Code           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvAck {
    /// Error code.
    pub error: ErrorCode,
}

impl SrvAck {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SrvAck {
            error: ErrorCode(r.u16("error code")?),
        })
    }

    /// Encoded body size.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        2
    }

    /// Writes the body.
    ///
    /// # Errors
    /// Never fails; `Result` for symmetry with the other bodies.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        buf.put_u16(self.error.0);
        Ok(())
    }
}

/// Attribute Reply (function 7), RFC 2608 §10.4.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Error Code            |      length of <attr-list>    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         <attr-list>                           \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |# of AttrAuths |  Attribute Authentication Block (if present)  \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttrRply<'a> {
    /// Error code.
    pub error: ErrorCode,
    /// The attribute list.
    pub attrs: &'a str,
    /// Attribute authentication blocks.
    pub auths: AuthBlocks<'a>,
}

impl<'a> AttrRply<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let error = ErrorCode(r.u16("error code")?);
        if truncated_error_reply(r, error) {
            return Ok(AttrRply {
                error,
                ..AttrRply::default()
            });
        }
        Ok(AttrRply {
            error,
            attrs: r.string("attribute list")?,
            auths: AuthBlocks::decode(r)?,
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        2 + string_len(self.attrs) + self.auths.encoded_len()
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] and auth block errors.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        buf.put_u16(self.error.0);
        put_string(buf, "attribute list", self.attrs)?;
        self.auths.encode(buf)
    }
}

/// Service Type Reply (function 10), RFC 2608 §10.2.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Error Code           |    length of <srvType-list>   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       <srvtype--list>                         \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvTypeRply<'a> {
    /// Error code.
    pub error: ErrorCode,
    /// Service types.
    pub types: StringList<'a>,
}

impl<'a> SrvTypeRply<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let error = ErrorCode(r.u16("error code")?);
        if truncated_error_reply(r, error) {
            return Ok(SrvTypeRply {
                error,
                types: StringList::default(),
            });
        }
        Ok(SrvTypeRply {
            error,
            types: StringList(r.string("service type list")?),
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        2 + string_len(self.types.0)
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`].
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        buf.put_u16(self.error.0);
        put_string(buf, "service type list", self.types.0)
    }
}
