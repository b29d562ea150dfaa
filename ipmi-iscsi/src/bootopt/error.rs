//! Errors of the boot-option encodings, split by whose fault they are.

use crate::params::ParamsError;

/// Bytes from a BMC (or a client, on the BMC side) that do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the field needs.
    #[error("{what} needs {need} bytes at byte {at}, only {have} left")]
    Truncated {
        /// Field being decoded.
        what: &'static str,
        /// Offset of the field.
        at: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes available from `at`.
        have: usize,
    },
    /// A fixed-size parameter of the wrong size.
    #[error("{what} is {actual} bytes, expected {expected}")]
    Length {
        /// Parameter.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Actual size.
        actual: usize,
    },
    /// Bytes after the end of a structure that must end exactly.
    #[error("{what} has {extra} trailing bytes (at byte {at})")]
    Trailing {
        /// Structure.
        what: &'static str,
        /// Offset of the first extra byte.
        at: usize,
        /// How many.
        extra: usize,
    },
    /// An unknown format or parameter version.
    #[error("{what} version {found} is not supported (expected {expected})")]
    Version {
        /// Structure.
        what: &'static str,
        /// Version found.
        found: u8,
        /// Version understood.
        expected: u8,
    },
    /// A Get System Boot Options answer for another parameter or block.
    #[error("response is for {what} {found}, asked for {expected}")]
    Mismatch {
        /// `"parameter"` or `"block"`.
        what: &'static str,
        /// What was asked.
        expected: u8,
        /// What came back.
        found: u8,
    },
    /// The mailbox belongs to another enterprise number.
    #[error("mailbox enterprise number {found} is not ours ({expected})")]
    Enterprise {
        /// Configured PEN.
        expected: u32,
        /// PEN found in block 0.
        found: u32,
    },
    /// CRC mismatch.
    #[error("{what} crc {actual:#06x} does not match {expected:#06x} (at byte {at})")]
    Crc {
        /// Structure.
        what: &'static str,
        /// Offset of the CRC field.
        at: usize,
        /// CRC stored.
        expected: u16,
        /// CRC computed.
        actual: u16,
    },
    /// A declared length outside what the format allows.
    #[error("{what} declares length {declared}, allowed {min}..={max} (at byte {at})")]
    DeclaredLength {
        /// Field.
        what: &'static str,
        /// Offset of the length field.
        at: usize,
        /// Declared value.
        declared: usize,
        /// Minimum allowed.
        min: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// A field value outside its defined set.
    #[error("{what} value {value:#04x} is invalid (at byte {at})")]
    Value {
        /// Field.
        what: &'static str,
        /// Offset.
        at: usize,
        /// The value.
        value: u8,
    },
    /// Decoded fields that fail parameter validation (bad IQN, LUN, ...).
    #[error("{what} at byte {at}: {source}")]
    Params {
        /// Field.
        what: &'static str,
        /// Offset.
        at: usize,
        /// Validation failure.
        source: ParamsError,
    },
}

/// Parameters that cannot be encoded in the chosen form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The parameters fail validation.
    #[error("invalid boot parameters: {0}")]
    Invalid(#[from] ParamsError),
    /// A value longer than its length field allows.
    #[error("{what} is {len} bytes, at most {max} fit")]
    TooLong {
        /// Field.
        what: &'static str,
        /// Length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The mailbox payload needs more blocks than the BMC offers.
    #[error(
        "mailbox payload needs {needed} blocks ({bytes} bytes) but the bmc offers {capacity}; \
         use the oem dialect (parameters 96-127) instead"
    )]
    MailboxTooSmall {
        /// Blocks needed.
        needed: usize,
        /// Payload bytes including the header and crc.
        bytes: usize,
        /// Blocks the BMC accepted.
        capacity: usize,
    },
    /// CHAP secrets would travel without encryption.
    #[error(
        "chap secrets are only sent over a session with confidentiality (encryption); \
         the caller did not assert one"
    )]
    SecretsNeedConfidentiality,
    /// A value outside its bit field.
    #[error("{what} value {value:#04x} does not fit its bit field")]
    Field {
        /// Field.
        what: &'static str,
        /// Value.
        value: u8,
    },
}
