//! Errors of the IPMI message layer.

/// Bytes that are not a valid IPMI LAN message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("{what} needs {need} bytes, got {have}")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A two's-complement checksum does not sum to zero.
    #[error("ipmi message {which} mismatch (at byte {at})")]
    BadChecksum {
        /// `chk1` or `chk2`.
        which: &'static str,
        /// Offset of the checksum byte.
        at: usize,
    },
    /// A request NetFn where a response was expected, or the reverse.
    #[error("unexpected netfn {netfn:#04x} (at byte {at})")]
    UnexpectedNetFn {
        /// The NetFn found.
        netfn: u8,
        /// Offset of the NetFn/LUN byte.
        at: usize,
    },
}

/// A message that cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value does not fit its bit field.
    #[error("{field} value {value:#04x} does not fit its bit field")]
    FieldOutOfRange {
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: u8,
    },
}
