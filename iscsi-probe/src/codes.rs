//! Code points: open newtypes with named constants, generated from one table per registry.
//!
//! Unknown values are not errors: they pass through and `Debug` prints the number.

use core::fmt;

macro_rules! code_table {
    (
        $(#[$meta:meta])*
        $name:ident($ty:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $val:expr, $text:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $ty);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($val); )*

            /// The name the registry gives this value, if it is one we know.
            #[must_use]
            pub fn name(self) -> Option<&'static str> {
                $( if self == Self::$konst { return Some($text); } )*
                None
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({n})", stringify!($name)),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{n} ({:#x})", self.0),
                    None => write!(f, "{:#x}", self.0),
                }
            }
        }
    };
}

code_table! {
    /// iSCSI PDU opcode, the low six bits of BHS byte 0 (RFC 7143 §11.2.1.2).
    Opcode(u8) {
        /// NOP-Out (initiator).
        NOP_OUT = 0x00, "NOP-Out";
        /// SCSI Command (initiator).
        SCSI_COMMAND = 0x01, "SCSI Command";
        /// SCSI Task Management Function Request (initiator).
        TASK_MGMT_REQUEST = 0x02, "Task Management Request";
        /// Login Request (initiator).
        LOGIN_REQUEST = 0x03, "Login Request";
        /// Text Request (initiator).
        TEXT_REQUEST = 0x04, "Text Request";
        /// SCSI Data-Out (initiator).
        DATA_OUT = 0x05, "SCSI Data-Out";
        /// Logout Request (initiator).
        LOGOUT_REQUEST = 0x06, "Logout Request";
        /// SNACK Request (initiator).
        SNACK_REQUEST = 0x10, "SNACK Request";
        /// NOP-In (target).
        NOP_IN = 0x20, "NOP-In";
        /// SCSI Response (target).
        SCSI_RESPONSE = 0x21, "SCSI Response";
        /// SCSI Task Management Function Response (target).
        TASK_MGMT_RESPONSE = 0x22, "Task Management Response";
        /// Login Response (target).
        LOGIN_RESPONSE = 0x23, "Login Response";
        /// Text Response (target).
        TEXT_RESPONSE = 0x24, "Text Response";
        /// SCSI Data-In (target).
        DATA_IN = 0x25, "SCSI Data-In";
        /// Logout Response (target).
        LOGOUT_RESPONSE = 0x26, "Logout Response";
        /// Ready To Transfer (target).
        R2T = 0x31, "R2T";
        /// Asynchronous Message (target).
        ASYNC_MESSAGE = 0x32, "Asynchronous Message";
        /// Reject (target).
        REJECT = 0x3f, "Reject";
    }
}

code_table! {
    /// Login stage, the CSG/NSG two-bit fields (RFC 7143 §11.12.3).
    Stage(u8) {
        /// Security negotiation.
        SECURITY = 0, "SecurityNegotiation";
        /// Login operational negotiation.
        OPERATIONAL = 1, "LoginOperationalNegotiation";
        /// Full feature phase.
        FULL_FEATURE = 3, "FullFeaturePhase";
    }
}

code_table! {
    /// Login Response Status-Class and Status-Detail as one number: `class << 8 | detail`
    /// (RFC 7143 §11.13.5).
    LoginStatus(u16) {
        /// Login is proceeding OK.
        SUCCESS = 0x0000, "Success";
        /// The target has moved temporarily.
        TARGET_MOVED_TEMPORARILY = 0x0101, "Target moved temporarily";
        /// The target has moved permanently.
        TARGET_MOVED_PERMANENTLY = 0x0102, "Target moved permanently";
        /// Miscellaneous initiator error.
        INITIATOR_ERROR = 0x0200, "Initiator error";
        /// The initiator could not be authenticated.
        AUTHENTICATION_FAILURE = 0x0201, "Authentication failure";
        /// The initiator is not allowed access to the target.
        AUTHORIZATION_FAILURE = 0x0202, "Authorization failure";
        /// The requested target name does not exist here (tgtd also answers this when iSNS
        /// access control does not admit the initiator).
        NOT_FOUND = 0x0203, "Not found";
        /// The target has been removed.
        TARGET_REMOVED = 0x0204, "Target removed";
        /// The requested iSCSI version range is not supported.
        UNSUPPORTED_VERSION = 0x0205, "Unsupported version";
        /// Too many connections on this session.
        TOO_MANY_CONNECTIONS = 0x0206, "Too many connections";
        /// A required parameter is missing.
        MISSING_PARAMETER = 0x0207, "Missing parameter";
        /// The target does not support session spanning to this connection.
        CANT_INCLUDE_IN_SESSION = 0x0208, "Can't include in session";
        /// The session type is not supported.
        SESSION_TYPE_NOT_SUPPORTED = 0x0209, "Session type not supported";
        /// Attempt to add a connection to a nonexistent session.
        SESSION_DOES_NOT_EXIST = 0x020a, "Session does not exist";
        /// Invalid request type during login.
        INVALID_DURING_LOGIN = 0x020b, "Invalid during login";
        /// Target hardware or software error.
        TARGET_ERROR = 0x0300, "Target error";
        /// The iSCSI service or target is not currently operational.
        SERVICE_UNAVAILABLE = 0x0301, "Service unavailable";
        /// The target has insufficient session, connection or other resources.
        OUT_OF_RESOURCES = 0x0302, "Out of resources";
    }
}

impl LoginStatus {
    /// Status-Class: 0 success, 1 redirection, 2 initiator error, 3 target error.
    #[must_use]
    pub fn class(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// Status-Detail within the class.
    #[must_use]
    pub fn detail(self) -> u8 {
        self.0.to_be_bytes()[1]
    }
}

code_table! {
    /// Reject reason (RFC 7143 §11.17.1).
    RejectReason(u8) {
        /// Data (payload) digest error.
        DATA_DIGEST_ERROR = 0x02, "Data digest error";
        /// SNACK reject.
        SNACK_REJECT = 0x03, "SNACK reject";
        /// Protocol error.
        PROTOCOL_ERROR = 0x04, "Protocol error";
        /// Command not supported.
        COMMAND_NOT_SUPPORTED = 0x05, "Command not supported";
        /// Immediate command rejected: too many immediate commands.
        IMMEDIATE_COMMAND_REJECT = 0x06, "Immediate command reject";
        /// Task in progress.
        TASK_IN_PROGRESS = 0x07, "Task in progress";
        /// Invalid data ack.
        INVALID_DATA_ACK = 0x08, "Invalid data ack";
        /// Invalid PDU field.
        INVALID_PDU_FIELD = 0x09, "Invalid PDU field";
        /// Long op reject: out of resources to generate a target transfer tag.
        LONG_OP_REJECT = 0x0a, "Long op reject";
        /// Deprecated "negotiation reset".
        NEGOTIATION_RESET = 0x0b, "Negotiation reset";
        /// Waiting for logout.
        WAITING_FOR_LOGOUT = 0x0c, "Waiting for logout";
    }
}

code_table! {
    /// Logout reason code (RFC 7143 §11.14.1).
    LogoutReason(u8) {
        /// Close the session.
        CLOSE_SESSION = 0, "Close session";
        /// Close the connection.
        CLOSE_CONNECTION = 1, "Close connection";
        /// Remove the connection for recovery.
        REMOVE_CONNECTION_FOR_RECOVERY = 2, "Remove connection for recovery";
    }
}

code_table! {
    /// Logout Response code (RFC 7143 §11.15.1).
    LogoutResponseCode(u8) {
        /// Connection or session closed successfully.
        CLOSED = 0, "Closed successfully";
        /// CID not found.
        CID_NOT_FOUND = 1, "CID not found";
        /// Connection recovery is not supported.
        RECOVERY_NOT_SUPPORTED = 2, "Recovery not supported";
        /// Cleanup failed for various reasons.
        CLEANUP_FAILED = 3, "Cleanup failed";
    }
}

code_table! {
    /// iSCSI service response in a SCSI Response (RFC 7143 §11.4.3).
    ServiceResponse(u8) {
        /// Command completed at target (see the SCSI status).
        COMPLETED = 0x00, "Command completed at target";
        /// Target failure.
        TARGET_FAILURE = 0x01, "Target failure";
    }
}

code_table! {
    /// SCSI status byte (SAM-5 §5.3.1).
    ScsiStatus(u8) {
        /// GOOD.
        GOOD = 0x00, "GOOD";
        /// CHECK CONDITION: sense data follows.
        CHECK_CONDITION = 0x02, "CHECK CONDITION";
        /// CONDITION MET.
        CONDITION_MET = 0x04, "CONDITION MET";
        /// BUSY.
        BUSY = 0x08, "BUSY";
        /// RESERVATION CONFLICT.
        RESERVATION_CONFLICT = 0x18, "RESERVATION CONFLICT";
        /// TASK SET FULL.
        TASK_SET_FULL = 0x28, "TASK SET FULL";
        /// ACA ACTIVE.
        ACA_ACTIVE = 0x30, "ACA ACTIVE";
        /// TASK ABORTED.
        TASK_ABORTED = 0x40, "TASK ABORTED";
    }
}

code_table! {
    /// Sense key (SPC-4 §4.5.6, table 51).
    SenseKey(u8) {
        /// NO SENSE.
        NO_SENSE = 0x0, "NO SENSE";
        /// RECOVERED ERROR.
        RECOVERED_ERROR = 0x1, "RECOVERED ERROR";
        /// NOT READY.
        NOT_READY = 0x2, "NOT READY";
        /// MEDIUM ERROR.
        MEDIUM_ERROR = 0x3, "MEDIUM ERROR";
        /// HARDWARE ERROR.
        HARDWARE_ERROR = 0x4, "HARDWARE ERROR";
        /// ILLEGAL REQUEST (e.g. an unsupported opcode).
        ILLEGAL_REQUEST = 0x5, "ILLEGAL REQUEST";
        /// UNIT ATTENTION (reset, power on, parameters changed ...).
        UNIT_ATTENTION = 0x6, "UNIT ATTENTION";
        /// DATA PROTECT.
        DATA_PROTECT = 0x7, "DATA PROTECT";
        /// BLANK CHECK.
        BLANK_CHECK = 0x8, "BLANK CHECK";
        /// VENDOR SPECIFIC.
        VENDOR_SPECIFIC = 0x9, "VENDOR SPECIFIC";
        /// COPY ABORTED.
        COPY_ABORTED = 0xa, "COPY ABORTED";
        /// ABORTED COMMAND.
        ABORTED_COMMAND = 0xb, "ABORTED COMMAND";
        /// VOLUME OVERFLOW.
        VOLUME_OVERFLOW = 0xd, "VOLUME OVERFLOW";
        /// MISCOMPARE.
        MISCOMPARE = 0xe, "MISCOMPARE";
    }
}

code_table! {
    /// Peripheral device type from standard INQUIRY byte 0 (SPC-4 §6.4.2, table 141).
    DeviceType(u8) {
        /// Direct access block device (SBC): a disk.
        DIRECT_ACCESS = 0x00, "direct access block device";
        /// Sequential access device (tape).
        SEQUENTIAL_ACCESS = 0x01, "sequential access device";
        /// Printer.
        PRINTER = 0x02, "printer";
        /// Processor.
        PROCESSOR = 0x03, "processor";
        /// Write-once device.
        WRITE_ONCE = 0x04, "write-once device";
        /// CD/DVD device (MMC).
        CD_DVD = 0x05, "CD/DVD device";
        /// Optical memory device.
        OPTICAL_MEMORY = 0x07, "optical memory device";
        /// Media changer.
        MEDIUM_CHANGER = 0x08, "medium changer";
        /// Storage array controller (tgtd's LUN 0).
        STORAGE_ARRAY_CONTROLLER = 0x0c, "storage array controller";
        /// Enclosure services device.
        ENCLOSURE_SERVICES = 0x0d, "enclosure services device";
        /// Simplified direct-access device (RBC).
        SIMPLIFIED_DIRECT_ACCESS = 0x0e, "simplified direct-access device";
        /// Optical card reader/writer.
        OPTICAL_CARD = 0x0f, "optical card reader/writer";
        /// Object-based storage device.
        OBJECT_STORAGE = 0x11, "object-based storage device";
        /// Host managed zoned block device.
        HOST_MANAGED_ZONED = 0x14, "host managed zoned block device";
        /// Well known logical unit.
        WELL_KNOWN_LUN = 0x1e, "well known logical unit";
        /// Unknown or no device type.
        UNKNOWN = 0x1f, "unknown or no device type";
    }
}

impl DeviceType {
    /// Whether this device type answers READ CAPACITY with a block count and block size.
    #[must_use]
    pub fn has_block_capacity(self) -> bool {
        matches!(
            self,
            Self::DIRECT_ACCESS
                | Self::SIMPLIFIED_DIRECT_ACCESS
                | Self::CD_DVD
                | Self::OPTICAL_MEMORY
                | Self::WRITE_ONCE
                | Self::HOST_MANAGED_ZONED
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_name_when_known_and_number_otherwise() {
        assert_eq!(
            format!("{:?}", Opcode::LOGIN_RESPONSE),
            "Opcode(Login Response)"
        );
        assert_eq!(format!("{:?}", Opcode(0x3a)), "Opcode(0x3a)");
        assert_eq!(LoginStatus::NOT_FOUND.class(), 2);
        assert_eq!(LoginStatus::NOT_FOUND.detail(), 3);
    }
}
