//! iSNS response status codes (RFC 4171 §6.4). A status is data, not a Rust error.

code_points! {
    /// The status that opens every iSNS response payload (RFC 4171 §6.4). Open newtype.
    pub struct Status(u32);
    /// Successful.
    SUCCESSFUL = 0, "Successful";
    /// Unknown Error.
    UNKNOWN_ERROR = 1, "Unknown Error";
    /// Message Format Error.
    MESSAGE_FORMAT_ERROR = 2, "Message Format Error";
    /// Invalid Registration.
    INVALID_REGISTRATION = 3, "Invalid Registration";
    /// Invalid Query.
    INVALID_QUERY = 5, "Invalid Query";
    /// Source Unknown.
    SOURCE_UNKNOWN = 6, "Source Unknown";
    /// Source Absent.
    SOURCE_ABSENT = 7, "Source Absent";
    /// Source Unauthorized.
    SOURCE_UNAUTHORIZED = 8, "Source Unauthorized";
    /// No Such Entry.
    NO_SUCH_ENTRY = 9, "No Such Entry";
    /// Version Not Supported.
    VERSION_NOT_SUPPORTED = 10, "Version Not Supported";
    /// Internal Error.
    INTERNAL_ERROR = 11, "Internal Error";
    /// Busy.
    BUSY = 12, "Busy";
    /// Option Not Understood.
    OPTION_NOT_UNDERSTOOD = 13, "Option Not Understood";
    /// Invalid Update.
    INVALID_UPDATE = 14, "Invalid Update";
    /// Message (Function ID) Not Supported.
    MESSAGE_NOT_SUPPORTED = 15, "Message Not Supported";
    /// SCN Event Rejected.
    SCN_EVENT_REJECTED = 16, "SCN Event Rejected";
    /// SCN Registration Rejected.
    SCN_REGISTRATION_REJECTED = 17, "SCN Registration Rejected";
    /// Attribute Not Implemented.
    ATTRIBUTE_NOT_IMPLEMENTED = 18, "Attribute Not Implemented";
    /// FC_DOMAIN_ID Not Available.
    FC_DOMAIN_ID_NOT_AVAILABLE = 19, "FC_DOMAIN_ID Not Available";
    /// FC_DOMAIN_ID Not Allocated.
    FC_DOMAIN_ID_NOT_ALLOCATED = 20, "FC_DOMAIN_ID Not Allocated";
    /// ESI Not Available.
    ESI_NOT_AVAILABLE = 21, "ESI Not Available";
    /// Invalid Deregistration.
    INVALID_DEREGISTRATION = 22, "Invalid Deregistration";
    /// Registration Feature Not Supported.
    REGISTRATION_FEATURE_NOT_SUPPORTED = 23, "Registration Feature Not Supported";
}

impl Status {
    /// True for status 0 (Successful).
    #[must_use]
    pub const fn is_success(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_prints_its_number() {
        assert_eq!(Status(4).to_string(), "4");
        assert_eq!(Status::NO_SUCH_ENTRY.to_string(), "No Such Entry");
        assert!(Status::SUCCESSFUL.is_success());
    }
}
