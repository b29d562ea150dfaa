//! Error types, split by whose fault they are: [`DecodeError`] (the bytes or text we
//! received are bad), [`EncodeError`] (we were asked to build something the wire cannot
//! carry) and [`ProtocolError`] (well-formed, but not acceptable now).

/// The received bytes (or text field) are malformed. Offsets are from the start of the
/// message (or of the text being parsed for URL, attribute-list and predicate errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A field runs past the end of the data.
    #[error("{what} needs {needed} bytes but only {available} remain (at byte {at})")]
    Truncated {
        /// Field being read.
        what: &'static str,
        /// Offset of the field.
        at: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The version byte is not 2.
    #[error("SLP version {version} is not supported (at byte 0)")]
    Version {
        /// Version received.
        version: u8,
    },
    /// The 24-bit header length disagrees with the bytes received.
    #[error("header length {declared} disagrees with the {actual} bytes received (at byte 2)")]
    LengthMismatch {
        /// Length in the header.
        declared: usize,
        /// Bytes actually present.
        actual: usize,
    },
    /// A string field is not UTF-8.
    #[error("{what} is not valid UTF-8 (at byte {at})")]
    Utf8 {
        /// Field being read.
        what: &'static str,
        /// Offset of the string.
        at: usize,
    },
    /// Bytes left over after a complete structure.
    #[error("{count} unexpected bytes after {what} (at byte {at})")]
    TrailingBytes {
        /// Structure that ended.
        what: &'static str,
        /// Offset of the first extra byte.
        at: usize,
        /// Number of extra bytes.
        count: usize,
    },
    /// A URL-entry count claims more entries than the body holds.
    #[error("URL count {declared} but entry {index} is missing or cut short (at byte {at})")]
    UrlCount {
        /// Count in the message.
        declared: u16,
        /// Index of the first entry that does not fit.
        index: u16,
        /// Offset where it should start.
        at: usize,
    },
    /// An authentication block's length field is impossible.
    #[error("authentication block length {declared} is invalid (at byte {at})")]
    AuthBlockLength {
        /// Declared block length.
        declared: usize,
        /// Offset of the block.
        at: usize,
    },
    /// An extension chain points backwards or at itself.
    #[error("extension offset {offset} does not move forward: the chain loops (at byte {at})")]
    ExtensionLoop {
        /// Offset found in the chain.
        offset: usize,
        /// Offset of the field holding it.
        at: usize,
    },
    /// An extension offset points outside the message.
    #[error("extension offset {offset} is outside the {len}-byte message (at byte {at})")]
    ExtensionOffset {
        /// Offset found.
        offset: usize,
        /// Message length.
        len: usize,
        /// Offset of the field holding it.
        at: usize,
    },
    /// A service URL is malformed.
    #[error("service URL: {reason} (at byte {at})")]
    Url {
        /// What is wrong.
        reason: &'static str,
        /// Offset in the URL text.
        at: usize,
    },
    /// An attribute list is malformed.
    #[error("attribute list: {reason} (at byte {at})")]
    AttrList {
        /// What is wrong.
        reason: &'static str,
        /// Offset in the attribute list text.
        at: usize,
    },
    /// A predicate (RFC 2254 filter) is malformed.
    #[error("predicate: {reason} (at byte {at})")]
    Predicate {
        /// What is wrong.
        reason: &'static str,
        /// Offset in the predicate text.
        at: usize,
    },
    /// A string contains a bad `\XX` escape.
    #[error("{what}: bad escape sequence (at byte {at})")]
    Escape {
        /// Field being read.
        what: &'static str,
        /// Offset of the backslash.
        at: usize,
    },
}

/// A message or text cannot be built as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A length-prefixed field is longer than its length field can say.
    #[error("{what} is {len} bytes, more than the {max} its length field allows")]
    FieldTooLong {
        /// Field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A count field would overflow.
    #[error("{what}: {count} items, more than the {max} the count field allows")]
    TooMany {
        /// Field.
        what: &'static str,
        /// Items given.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// The language tag is not RFC 1766 `1*8ALPHA *("-" 1*8ALPHA)`.
    #[error("language tag {0:?} is not an RFC 1766 tag")]
    LanguageTag(String),
    /// A value is not acceptable for the field.
    #[error("{what}: {reason}")]
    Invalid {
        /// Field.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The service type is neither `service:<type>[:<type>]` (each type an RFC 2608 §4.1
    /// `resname`, optionally `.naming-authority`) nor a URL scheme.
    #[error("service type \"{0}\" is not an RFC 2608 service type")]
    ServiceType(String),
    /// The predicate is not an RFC 2254 search filter (RFC 2608 §8.1).
    #[error("predicate \"{text}\" is not an RFC 2254 filter: {cause}")]
    Predicate {
        /// The predicate as given.
        text: String,
        /// What the predicate parser reported.
        cause: DecodeError,
    },
}

/// A well-formed message that is not acceptable in the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reply's XID matches no outstanding request.
    #[error("reply XID {xid} matches no outstanding request")]
    UnknownXid {
        /// XID received.
        xid: u16,
    },
    /// A reply carries an unknown mandatory extension and must be discarded (RFC 2608 §9.1).
    #[error("reply carries unknown mandatory extension 0x{id:04x}")]
    MandatoryExtension {
        /// Extension ID.
        id: u16,
    },
    /// A message of this kind was not expected here.
    #[error("unexpected {function} message")]
    Unexpected {
        /// Function name.
        function: &'static str,
    },
}
