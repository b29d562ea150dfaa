//! Typed errors: [`DecodeError`] for bad bytes from the peer, [`EncodeError`] for a message
//! this side cannot build. Every decode error names the byte offset inside the PDU (or the
//! reassembled message) where the fault lies.

use crate::{FunctionId, Tag, ValueKind};

/// The bytes received are not a valid iSNSP PDU or message (the peer's fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than a fixed-size field or a declared length needs.
    #[error("{what} needs {needed} bytes but only {available} remain (at byte {at})")]
    Truncated {
        /// The field or layer that is cut short.
        what: &'static str,
        /// Bytes needed from `at`.
        needed: usize,
        /// Bytes present from `at`.
        available: usize,
        /// Offset of the field.
        at: usize,
    },
    /// The iSNSP version is not 1.
    #[error("iSNSP version {version} is not supported (at byte {at})")]
    BadVersion {
        /// Version received.
        version: u16,
        /// Offset of the version field.
        at: usize,
    },
    /// The PDU payload length is not a multiple of 4.
    #[error("PDU length {len} is not a multiple of 4 (at byte {at})")]
    PduLengthNotAligned {
        /// Declared payload length.
        len: u16,
        /// Offset of the length field.
        at: usize,
    },
    /// A PDU is larger than the receiver's cap.
    #[error("PDU of {len} bytes exceeds the limit of {max} bytes (at byte {at})")]
    PduTooLarge {
        /// Total PDU length (header, payload, authentication block).
        len: usize,
        /// The cap in force.
        max: usize,
        /// Offset of the PDU.
        at: usize,
    },
    /// Bytes follow the PDU in a buffer that must hold exactly one.
    #[error("{count} trailing bytes after the PDU (at byte {at})")]
    TrailingBytes {
        /// Number of extra bytes.
        count: usize,
        /// Offset of the first extra byte.
        at: usize,
    },
    /// An attribute length is not a multiple of 4.
    #[error("attribute {tag} length {len} is not a multiple of 4 (at byte {at})")]
    AttrLengthNotAligned {
        /// Attribute tag.
        tag: u32,
        /// Declared value length.
        len: u32,
        /// Offset of the attribute.
        at: usize,
    },
    /// An attribute's value runs past the end of the payload.
    #[error(
        "attribute {tag} length {len} overruns the payload ({available} bytes left, at byte {at})"
    )]
    AttrOverrun {
        /// Attribute tag.
        tag: u32,
        /// Declared value length.
        len: u32,
        /// Bytes left after the attribute header.
        available: usize,
        /// Offset of the attribute.
        at: usize,
    },
    /// A standard attribute's length is outside the range RFC 4171 allows for it.
    #[error("attribute {tag} length {len} is outside {min}..={max} (at byte {at})")]
    AttrLengthOutOfRange {
        /// Attribute tag.
        tag: u32,
        /// Declared value length.
        len: u32,
        /// Smallest legal non-zero length.
        min: u32,
        /// Largest legal length.
        max: u32,
        /// Offset of the attribute.
        at: usize,
    },
    /// A typed accessor was used on a value of the wrong length.
    #[error("attribute {tag} holds {actual} bytes, {expected:?} needs {needed} (at byte {at})")]
    ValueLength {
        /// Attribute tag.
        tag: u32,
        /// The type asked for.
        expected: ValueKind,
        /// Length that type needs.
        needed: usize,
        /// Length present.
        actual: usize,
        /// Offset of the attribute.
        at: usize,
    },
    /// A string value has no NUL terminator.
    #[error("attribute {tag} string has no NUL terminator (at byte {at})")]
    StringNotTerminated {
        /// Attribute tag.
        tag: u32,
        /// Offset of the attribute.
        at: usize,
    },
    /// Non-NUL bytes follow a string's terminator.
    #[error("attribute {tag} string has non-NUL padding (at byte {at})")]
    StringBadPadding {
        /// Attribute tag.
        tag: u32,
        /// Offset of the first bad padding byte.
        at: usize,
    },
    /// A string value is not UTF-8.
    #[error("attribute {tag} string is not UTF-8 (at byte {at})")]
    StringNotUtf8 {
        /// Attribute tag.
        tag: u32,
        /// Offset of the attribute.
        at: usize,
    },
    /// The authentication block's own length is impossible.
    #[error(
        "authentication block length {len} is invalid ({available} bytes present, at byte {at})"
    )]
    AuthBlockLength {
        /// Declared block length.
        len: u32,
        /// Bytes present from the block start.
        available: usize,
        /// Offset of the block's length field.
        at: usize,
    },
    /// The SPI string length inside an authentication block overruns the block.
    #[error("authentication block SPI length {len} overruns the block (at byte {at})")]
    AuthSpiLength {
        /// Declared SPI length.
        len: u32,
        /// Offset of the SPI length field.
        at: usize,
    },
    /// A message that needs a Source attribute has none.
    #[error("{function} message has no source attribute (at byte {at})")]
    MissingSource {
        /// Function of the message.
        function: FunctionId,
        /// Offset where the source was expected.
        at: usize,
    },
    /// A fragment arrived whose sequence ID is not the next one expected.
    #[error("PDU sequence {got} of transaction {xid} arrived, {expected} expected")]
    UnexpectedSequence {
        /// Transaction ID.
        xid: u16,
        /// Sequence ID expected next.
        expected: u16,
        /// Sequence ID received.
        got: u16,
    },
    /// A non-first fragment arrived for a transaction with no message in progress.
    #[error("PDU of transaction {xid} continues a message that never started")]
    MissingFirstPdu {
        /// Transaction ID.
        xid: u16,
    },
    /// A fragment's function ID differs from the first fragment's.
    #[error("PDU of transaction {xid} has function {got}, the message started as {expected}")]
    FunctionMismatch {
        /// Transaction ID.
        xid: u16,
        /// Function of the first fragment.
        expected: FunctionId,
        /// Function of this fragment.
        got: FunctionId,
    },
    /// Reassembly would exceed the configured memory cap.
    #[error("reassembling transaction {xid} would exceed the {cap}-byte cap")]
    ReassemblyCapExceeded {
        /// Transaction ID.
        xid: u16,
        /// The cap in force.
        cap: usize,
    },
    /// More messages are being reassembled at once than allowed.
    #[error("more than {max} messages are being reassembled at once")]
    TooManyPartialMessages {
        /// The limit in force.
        max: usize,
    },
    /// The Heartbeat payload has the wrong size.
    #[error("heartbeat payload is {len} bytes, 28 expected (at byte {at})")]
    HeartbeatLength {
        /// Payload length.
        len: usize,
        /// Offset of the payload.
        at: usize,
    },
}

/// A message could not be built (this side's fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value's encoded length is outside the tag's legal range.
    #[error("attribute {tag} value of {len} bytes is outside {min}..={max}")]
    LengthOutOfRange {
        /// Attribute tag.
        tag: Tag,
        /// Encoded value length.
        len: usize,
        /// Smallest legal length.
        min: u32,
        /// Largest legal length.
        max: u32,
    },
    /// A string contains a NUL or an ASCII control character.
    #[error("attribute {tag} string contains a NUL or control character")]
    BadString {
        /// Attribute tag.
        tag: Tag,
    },
    /// A value's type does not match the tag's type in the table.
    #[error("attribute {tag} needs a {expected:?} value")]
    WrongKind {
        /// Attribute tag.
        tag: Tag,
        /// The type the table requires.
        expected: ValueKind,
    },
    /// An opaque value's length is not a multiple of 4.
    #[error("attribute {tag} opaque value of {len} bytes is not a multiple of 4")]
    OpaqueNotAligned {
        /// Attribute tag.
        tag: Tag,
        /// Value length.
        len: usize,
    },
    /// The payload does not fit one PDU (or the PDU size limit).
    #[error("payload of {len} bytes does not fit a PDU of at most {max} bytes")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// Largest PDU allowed.
        max: usize,
    },
    /// One attribute alone does not fit a PDU of the chosen size.
    #[error("attribute {tag} of {len} bytes does not fit a PDU of at most {max} bytes")]
    AttrTooLarge {
        /// Attribute tag.
        tag: Tag,
        /// Encoded attribute length (header included).
        len: usize,
        /// Largest PDU allowed.
        max: usize,
    },
    /// A request's Source attribute is empty (RFC 4171 §5.6.1: it names the requesting node).
    #[error("{function} request: the source attribute is empty")]
    EmptySource {
        /// Function of the request.
        function: FunctionId,
    },
    /// The message breaks the layout RFC 4171 prescribes for its function.
    #[error("{function} message: {reason}")]
    Layout {
        /// Function of the message.
        function: FunctionId,
        /// What is wrong.
        reason: &'static str,
    },
}
