//! SLP code points as open newtypes, each generated from one table: function IDs, error
//! codes, extension IDs and authentication block structure descriptors.

use core::fmt;

/// Generates an open newtype over an integer with named constants and display names.
macro_rules! code_points {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $val:literal => $disp:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($val); )*

            /// Every named value, in table order.
            pub const KNOWN: &'static [$name] = &[$($name::$konst),*];

            /// The registry name of this value, if it is a known one.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($disp),)*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

code_points! {
    /// SLPv2 Function-ID (RFC 2608 §8; SLPv2 header byte 1).
    FunctionId(u8) {
        /// Service Request.
        SRV_RQST = 1 => "SrvRqst",
        /// Service Reply.
        SRV_RPLY = 2 => "SrvRply",
        /// Service Registration.
        SRV_REG = 3 => "SrvReg",
        /// Service Deregistration.
        SRV_DEREG = 4 => "SrvDeReg",
        /// Service Acknowledge.
        SRV_ACK = 5 => "SrvAck",
        /// Attribute Request.
        ATTR_RQST = 6 => "AttrRqst",
        /// Attribute Reply.
        ATTR_RPLY = 7 => "AttrRply",
        /// DA Advertisement.
        DA_ADVERT = 8 => "DAAdvert",
        /// Service Type Request.
        SRV_TYPE_RQST = 9 => "SrvTypeRqst",
        /// Service Type Reply.
        SRV_TYPE_RPLY = 10 => "SrvTypeRply",
        /// SA Advertisement.
        SA_ADVERT = 11 => "SAAdvert",
    }
}

code_points! {
    /// SLPv2 error code (RFC 2608 §7). A peer's error code is data, not a Rust error.
    ErrorCode(u16) {
        /// No error.
        OK = 0 => "OK",
        /// No data in the requested language.
        LANGUAGE_NOT_SUPPORTED = 1 => "LANGUAGE_NOT_SUPPORTED",
        /// The message could not be parsed.
        PARSE_ERROR = 2 => "PARSE_ERROR",
        /// The registration is invalid.
        INVALID_REGISTRATION = 3 => "INVALID_REGISTRATION",
        /// None of the scopes is supported.
        SCOPE_NOT_SUPPORTED = 4 => "SCOPE_NOT_SUPPORTED",
        /// Unknown SPI.
        AUTHENTICATION_UNKNOWN = 5 => "AUTHENTICATION_UNKNOWN",
        /// Authentication block expected but missing.
        AUTHENTICATION_ABSENT = 6 => "AUTHENTICATION_ABSENT",
        /// Authentication failed.
        AUTHENTICATION_FAILED = 7 => "AUTHENTICATION_FAILED",
        /// Version not supported.
        VER_NOT_SUPPORTED = 9 => "VER_NOT_SUPPORTED",
        /// Internal error.
        INTERNAL_ERROR = 10 => "INTERNAL_ERROR",
        /// DA busy, retry later.
        DA_BUSY_NOW = 11 => "DA_BUSY_NOW",
        /// A mandatory extension was not understood.
        OPTION_NOT_UNDERSTOOD = 12 => "OPTION_NOT_UNDERSTOOD",
        /// Incremental registration without a prior one.
        INVALID_UPDATE = 13 => "INVALID_UPDATE",
        /// The message type is not supported.
        MSG_NOT_SUPPORTED = 14 => "MSG_NOT_SUPPORTED",
        /// Re-registration faster than the DA's min-refresh-interval.
        REFRESH_REJECTED = 15 => "REFRESH_REJECTED",
    }
}

code_points! {
    /// SLPv2 extension ID (RFC 2608 §9.1 and later RFCs).
    ExtensionId(u16) {
        /// Required Attribute Missing (RFC 2608 App. D.1).
        REQUIRED_ATTRIBUTE_MISSING = 0x0001 => "RequiredAttributeMissing",
        /// Attribute List extension (RFC 3059).
        ATTRIBUTE_LIST = 0x0002 => "AttributeList",
        /// Vendor Opaque extension (RFC 3224).
        VENDOR_OPAQUE = 0x0003 => "VendorOpaque",
        /// Subscribe (RFC 3082, experimental).
        SUBSCRIBE = 0x0004 => "Subscribe",
        /// NotifyAt (RFC 3082, experimental).
        NOTIFY_AT = 0x0005 => "NotifyAt",
        /// OpenSLP private registration PID watch (in the mandatory range).
        OPENSLP_PID_WATCH = 0x4001 => "OpenSlpPidWatch",
        /// Select (RFC 3421, experimental).
        SELECT = 0x4002 => "Select",
        /// Sort (RFC 3421, experimental).
        SORT = 0x4003 => "Sort",
    }
}

impl ExtensionId {
    /// RFC 2608 §9.1: 0x4000-0x7FFF are mandatory to understand.
    #[must_use]
    pub const fn is_mandatory(self) -> bool {
        self.0 >= 0x4000 && self.0 <= 0x7FFF
    }
}

impl Default for ErrorCode {
    fn default() -> Self {
        ErrorCode::OK
    }
}

code_points! {
    /// Authentication block structure descriptor (RFC 2608 §9.2).
    BlockStructureDescriptor(u16) {
        /// DSA with SHA-1 (mandatory to implement in RFC 2608).
        DSA_SHA1 = 0x0002 => "DSA-SHA1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_name_when_known_and_number_otherwise() {
        assert_eq!(format!("{:?}", FunctionId::SRV_RQST), "SrvRqst");
        assert_eq!(format!("{:?}", FunctionId(99)), "FunctionId(99)");
        assert_eq!(
            format!("{}", ErrorCode::SCOPE_NOT_SUPPORTED),
            "SCOPE_NOT_SUPPORTED"
        );
        assert_eq!(ErrorCode(8).name(), None);
    }

    #[test]
    fn every_function_id_from_rfc_2608_is_named() {
        assert_eq!(FunctionId::KNOWN.len(), 11);
        for (i, f) in FunctionId::KNOWN.iter().enumerate() {
            assert_eq!(usize::from(f.0), i + 1);
        }
    }

    #[test]
    fn mandatory_extension_range_is_0x4000_to_0x7fff() {
        assert!(!ExtensionId::ATTRIBUTE_LIST.is_mandatory());
        assert!(ExtensionId(0x4000).is_mandatory());
        assert!(ExtensionId(0x7FFF).is_mandatory());
        assert!(!ExtensionId(0x8000).is_mandatory());
    }
}
