//! Registration: SrvReg (RFC 2608 §8.3) and SrvDeReg (§10.6).

use bytes::BufMut;

use crate::error::{DecodeError, EncodeError};
use crate::msg::validate;
use crate::strings::StringList;
use crate::url_entry::{AuthBlocks, UrlEntry};
use crate::wire::{Reader, put_string, string_len};

/// Service Registration (function 3), RFC 2608 §8.3.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          <URL-Entry>                          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | length of service type string |        <service-type>         \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     length of <scope-list>    |         <scope-list>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  length of attr-list string   |          <attr-list>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |# of AttrAuths |(if present) Attribute Authentication Blocks...\
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvReg<'a> {
    /// The URL being registered, with its lifetime.
    pub url: UrlEntry<'a>,
    /// Its service type.
    pub service_type: &'a str,
    /// Scopes it is registered in.
    pub scopes: StringList<'a>,
    /// Its attribute list.
    pub attrs: &'a str,
    /// Attribute authentication blocks.
    pub attr_auths: AuthBlocks<'a>,
}

impl<'a> SrvReg<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SrvReg {
            url: UrlEntry::decode(r)?,
            service_type: r.string("service type")?,
            scopes: StringList(r.string("scope list")?),
            attrs: r.string("attribute list")?,
            attr_auths: AuthBlocks::decode(r)?,
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.url.encoded_len()
            + string_len(self.service_type)
            + string_len(self.scopes.0)
            + string_len(self.attrs)
            + self.attr_auths.encoded_len()
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::ServiceType`] for a service type that is not one (nothing is written
    /// then), [`EncodeError::FieldTooLong`] and auth block errors.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        validate::service_type(self.service_type)?;
        self.url.encode(buf)?;
        put_string(buf, "service type", self.service_type)?;
        put_string(buf, "scope list", self.scopes.0)?;
        put_string(buf, "attribute list", self.attrs)?;
        self.attr_auths.encode(buf)
    }
}

/// Service Deregistration (function 4), RFC 2608 §10.6.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |    Length of <scope-list>     |         <scope-list>          \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           URL Entry                           \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Length of <tag-list>     |            <tag-list>         \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvDeReg<'a> {
    /// Scopes the URL was registered in.
    pub scopes: StringList<'a>,
    /// The URL.
    pub url: UrlEntry<'a>,
    /// Tags to remove; empty removes the whole registration.
    pub tags: StringList<'a>,
}

impl<'a> SrvDeReg<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SrvDeReg {
            scopes: StringList(r.string("scope list")?),
            url: UrlEntry::decode(r)?,
            tags: StringList(r.string("tag list")?),
        })
    }

    /// Encoded body size.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        string_len(self.scopes.0) + self.url.encoded_len() + string_len(self.tags.0)
    }

    /// Writes the body.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`].
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        put_string(buf, "scope list", self.scopes.0)?;
        self.url.encode(buf)?;
        put_string(buf, "tag list", self.tags.0)
    }
}
