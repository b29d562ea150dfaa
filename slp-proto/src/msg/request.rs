//! Requests: SrvRqst (RFC 2608 §8.1), AttrRqst (§10.3), SrvTypeRqst (§10.1).

use bytes::BufMut;

use crate::error::{DecodeError, EncodeError};
use crate::msg::validate;
use crate::strings::StringList;
use crate::wire::{Reader, put_string, string_len};

/// Service Request (function 1), RFC 2608 §8.1.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      length of <PRList>       |        <PRList> String        \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   length of <service-type>    |    <service-type> String      \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |    length of <scope-list>     |     <scope-list> String       \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  length of predicate string   |  Service Request <predicate>  \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  length of <SLP SPI> string   |       <SLP SPI> String        \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvRqst<'a> {
    /// Previous responders (dotted-quad addresses) that must stay silent.
    pub pr_list: StringList<'a>,
    /// Service type, e.g. `service:iscsi:sms`.
    pub service_type: &'a str,
    /// Scopes asked about.
    pub scopes: StringList<'a>,
    /// LDAPv3 search filter (RFC 2254), empty for "all".
    pub predicate: &'a str,
    /// SLP SPI for authentication, usually empty.
    pub spi: &'a str,
}

impl<'a> SrvRqst<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SrvRqst {
            pr_list: StringList(r.string("PRList")?),
            service_type: r.string("service type")?,
            scopes: StringList(r.string("scope list")?),
            predicate: r.string("predicate")?,
            spi: r.string("SLP SPI")?,
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        string_len(self.pr_list.0)
            + string_len(self.service_type)
            + string_len(self.scopes.0)
            + string_len(self.predicate)
            + string_len(self.spi)
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::ServiceType`] for a service type that is not one,
    /// [`EncodeError::Predicate`] for a predicate that is not an RFC 2254 filter (nothing is
    /// written then), [`EncodeError::FieldTooLong`] for a string over 65535 bytes.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        validate::service_type(self.service_type)?;
        validate::predicate(self.predicate)?;
        put_string(buf, "PRList", self.pr_list.0)?;
        put_string(buf, "service type", self.service_type)?;
        put_string(buf, "scope list", self.scopes.0)?;
        put_string(buf, "predicate", self.predicate)?;
        put_string(buf, "SLP SPI", self.spi)
    }
}

/// Attribute Request (function 6), RFC 2608 §10.3.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |       length of PRList        |        <PRList> String        \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         length of URL         |              URL              \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |    length of <scope-list>     |      <scope-list> string      \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  length of <tag-list> string  |       <tag-list> string       \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   length of <SLP SPI> string  |        <SLP SPI> string       \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttrRqst<'a> {
    /// Previous responders.
    pub pr_list: StringList<'a>,
    /// A full service URL or a service type.
    pub url: &'a str,
    /// Scopes.
    pub scopes: StringList<'a>,
    /// Tags wanted (wildcards allowed), empty for all.
    pub tags: StringList<'a>,
    /// SLP SPI.
    pub spi: &'a str,
}

impl<'a> AttrRqst<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(AttrRqst {
            pr_list: StringList(r.string("PRList")?),
            url: r.string("URL")?,
            scopes: StringList(r.string("scope list")?),
            tags: StringList(r.string("tag list")?),
            spi: r.string("SLP SPI")?,
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        string_len(self.pr_list.0)
            + string_len(self.url)
            + string_len(self.scopes.0)
            + string_len(self.tags.0)
            + string_len(self.spi)
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] for a string over 65535 bytes.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        put_string(buf, "PRList", self.pr_list.0)?;
        put_string(buf, "URL", self.url)?;
        put_string(buf, "scope list", self.scopes.0)?;
        put_string(buf, "tag list", self.tags.0)?;
        put_string(buf, "SLP SPI", self.spi)
    }
}

/// The naming authority field of a SrvTypeRqst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamingAuthority<'a> {
    /// Length 0xFFFF: every naming authority.
    #[default]
    All,
    /// Length 0: IANA-registered types only.
    Iana,
    /// A named authority.
    Named(&'a str),
}

/// Service Type Request (function 9), RFC 2608 §10.1.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |        length of PRList       |        <PRList> String        \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   length of Naming Authority  |   <Naming Authority String>   \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     length of <scope-list>    |      <scope-list> String      \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvTypeRqst<'a> {
    /// Previous responders.
    pub pr_list: StringList<'a>,
    /// Which naming authorities.
    pub naming_authority: NamingAuthority<'a>,
    /// Scopes.
    pub scopes: StringList<'a>,
}

impl<'a> SrvTypeRqst<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let pr_list = StringList(r.string("PRList")?);
        let len = r.u16("naming authority")?;
        let naming_authority = match len {
            0xFFFF => NamingAuthority::All,
            0 => NamingAuthority::Iana,
            n => {
                let at = r.at();
                let b = r.take(usize::from(n), "naming authority")?;
                let s = core::str::from_utf8(b).map_err(|_| DecodeError::Utf8 {
                    what: "naming authority",
                    at,
                })?;
                NamingAuthority::Named(s)
            }
        };
        Ok(SrvTypeRqst {
            pr_list,
            naming_authority,
            scopes: StringList(r.string("scope list")?),
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let na = match self.naming_authority {
            NamingAuthority::Named(s) => s.len(),
            _ => 0,
        };
        string_len(self.pr_list.0) + 2 + na + string_len(self.scopes.0)
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] for long strings; [`EncodeError::Invalid`] for a
    /// named authority that is empty or 65535 bytes long (those lengths mean IANA / all).
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        put_string(buf, "PRList", self.pr_list.0)?;
        match self.naming_authority {
            NamingAuthority::All => buf.put_u16(0xFFFF),
            NamingAuthority::Iana => buf.put_u16(0),
            NamingAuthority::Named(s) => {
                if s.is_empty() || s.len() >= 0xFFFF {
                    return Err(EncodeError::Invalid {
                        what: "naming authority",
                        reason: "a named authority must be 1..=65534 bytes",
                    });
                }
                put_string(buf, "naming authority", s)?;
            }
        }
        put_string(buf, "scope list", self.scopes.0)
    }
}
