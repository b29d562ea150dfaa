//! Advertisements: DAAdvert (RFC 2608 §8.5) and SAAdvert (§8.6).

use bytes::BufMut;

use crate::code_points::ErrorCode;
use crate::error::{DecodeError, EncodeError};
use crate::strings::StringList;
use crate::url_entry::AuthBlocks;
use crate::wire::{Reader, put_string, string_len};

/// Directory Agent Advertisement (function 8), RFC 2608 §8.5.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Error Code           |  DA Stateless Boot Timestamp  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |DA Stateless Boot Time,, contd.|         Length of URL         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// \                              URL                              \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Length of <scope-list>    |         <scope-list>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Length of <attr-list>     |          <attr-list>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |    Length of <SLP SPI List>   |     <SLP SPI List> String     \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | # Auth Blocks |         Authentication block (if any)         \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DaAdvert<'a> {
    /// Error code (non-zero only in replies to unicast requests).
    pub error: ErrorCode,
    /// Seconds since 1970 when the DA last booted statelessly; 0 = going down.
    pub boot_timestamp: u32,
    /// `service:directory-agent://<addr>`.
    pub url: &'a str,
    /// Scopes the DA serves.
    pub scopes: StringList<'a>,
    /// DA attributes.
    pub attrs: &'a str,
    /// SPIs the DA can verify.
    pub spi_list: StringList<'a>,
    /// Authentication blocks.
    pub auths: AuthBlocks<'a>,
}

impl<'a> DaAdvert<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let error = ErrorCode(r.u16("error code")?);
        if error != ErrorCode::OK && r.remaining() == 0 {
            return Ok(DaAdvert {
                error,
                ..DaAdvert::default()
            });
        }
        Ok(DaAdvert {
            error,
            boot_timestamp: r.u32("DA boot timestamp")?,
            url: r.string("URL")?,
            scopes: StringList(r.string("scope list")?),
            attrs: r.string("attribute list")?,
            spi_list: StringList(r.string("SPI list")?),
            auths: AuthBlocks::decode(r)?,
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        6 + string_len(self.url)
            + string_len(self.scopes.0)
            + string_len(self.attrs)
            + string_len(self.spi_list.0)
            + self.auths.encoded_len()
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] and auth block errors.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        buf.put_u16(self.error.0);
        buf.put_u32(self.boot_timestamp);
        put_string(buf, "URL", self.url)?;
        put_string(buf, "scope list", self.scopes.0)?;
        put_string(buf, "attribute list", self.attrs)?;
        put_string(buf, "SPI list", self.spi_list.0)?;
        self.auths.encode(buf)
    }
}

/// Service Agent Advertisement (function 11), RFC 2608 §8.6.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Length of URL         |              URL              \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Length of <scope-list>    |         <scope-list>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Length of <attr-list>     |          <attr-list>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | # auth blocks |        authentication block (if any)          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaAdvert<'a> {
    /// `service:service-agent://<addr>`.
    pub url: &'a str,
    /// Scopes the SA serves.
    pub scopes: StringList<'a>,
    /// SA attributes.
    pub attrs: &'a str,
    /// Authentication blocks.
    pub auths: AuthBlocks<'a>,
}

impl<'a> SaAdvert<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SaAdvert {
            url: r.string("URL")?,
            scopes: StringList(r.string("scope list")?),
            attrs: r.string("attribute list")?,
            auths: AuthBlocks::decode(r)?,
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        string_len(self.url)
            + string_len(self.scopes.0)
            + string_len(self.attrs)
            + self.auths.encoded_len()
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] and auth block errors.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        put_string(buf, "URL", self.url)?;
        put_string(buf, "scope list", self.scopes.0)?;
        put_string(buf, "attribute list", self.attrs)?;
        self.auths.encode(buf)
    }
}
