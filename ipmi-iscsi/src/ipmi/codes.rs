//! IPMI code points: network functions, completion codes and command numbers.

use super::code_point::code_points;

code_points! {
    /// IPMI network function (6 bits). Requests use even values; the response NetFn is
    /// the request NetFn + 1 (IPMI v2.0 §5.1, table 5-1).
    pub struct NetFn(u8);
    /// Chassis requests (boot options, chassis control, chassis status).
    CHASSIS = 0x00, "chassis";
    /// Chassis responses.
    CHASSIS_RESPONSE = 0x01, "chassis response";
    /// Bridge requests.
    BRIDGE = 0x02, "bridge";
    /// Bridge responses.
    BRIDGE_RESPONSE = 0x03, "bridge response";
    /// Sensor/event requests.
    SENSOR_EVENT = 0x04, "sensor/event";
    /// Sensor/event responses.
    SENSOR_EVENT_RESPONSE = 0x05, "sensor/event response";
    /// Application requests (device ID, sessions, channel info).
    APP = 0x06, "application";
    /// Application responses.
    APP_RESPONSE = 0x07, "application response";
    /// Firmware requests.
    FIRMWARE = 0x08, "firmware";
    /// Firmware responses.
    FIRMWARE_RESPONSE = 0x09, "firmware response";
    /// Storage requests (SEL, SDR, FRU).
    STORAGE = 0x0a, "storage";
    /// Storage responses.
    STORAGE_RESPONSE = 0x0b, "storage response";
    /// Transport requests (LAN/serial configuration, SOL).
    TRANSPORT = 0x0c, "transport";
    /// Transport responses.
    TRANSPORT_RESPONSE = 0x0d, "transport response";
    /// Group extension requests (first data byte is the defining body).
    GROUP_EXTENSION = 0x2c, "group extension";
    /// Group extension responses.
    GROUP_EXTENSION_RESPONSE = 0x2d, "group extension response";
    /// OEM/group requests (first three data bytes are an IANA number).
    OEM_GROUP = 0x2e, "oem/group";
    /// OEM/group responses.
    OEM_GROUP_RESPONSE = 0x2f, "oem/group response";
}

impl NetFn {
    /// Largest NetFn value: the field is 6 bits wide.
    pub const MAX: u8 = 0x3f;

    /// The response NetFn for this request NetFn (sets bit 0).
    #[must_use]
    pub const fn response(self) -> Self {
        Self(self.0 | 1)
    }

    /// The request NetFn for this (request or response) NetFn (clears bit 0).
    #[must_use]
    pub const fn request(self) -> Self {
        Self(self.0 & !1)
    }

    /// Whether this is a response NetFn (odd value).
    #[must_use]
    pub const fn is_response(self) -> bool {
        self.0 & 1 == 1
    }
}

code_points! {
    /// IPMI completion code, the first byte of every response (IPMI v2.0 §5.2, table 5-2).
    ///
    /// 0x80..=0xBE are command-specific; the three named ones here are the System Boot
    /// Options codes (IPMI v2.0 table 28-14), the meaning the chassis boot commands give them.
    pub struct CompletionCode(u8);
    /// Command completed normally.
    OK = 0x00, "command completed normally";
    /// Set/Get System Boot Options: parameter not supported.
    BOOT_PARAM_NOT_SUPPORTED = 0x80, "parameter not supported";
    /// Set System Boot Options: attempt to set "set in progress" while not in "set complete".
    BOOT_PARAM_SET_IN_PROGRESS = 0x81, "attempt to set 'set in progress' when not in 'set complete' state";
    /// Set System Boot Options: attempt to write a read-only parameter.
    BOOT_PARAM_READ_ONLY = 0x82, "attempt to write read-only parameter";
    /// Node busy.
    NODE_BUSY = 0xc0, "node busy";
    /// Invalid command.
    INVALID_COMMAND = 0xc1, "invalid command";
    /// Command invalid for the given LUN.
    INVALID_FOR_LUN = 0xc2, "command invalid for given lun";
    /// Timeout while processing the command.
    TIMEOUT = 0xc3, "timeout while processing command";
    /// Out of space.
    OUT_OF_SPACE = 0xc4, "out of space";
    /// Reservation cancelled or invalid reservation ID.
    RESERVATION_CANCELLED = 0xc5, "reservation cancelled or invalid";
    /// Request data truncated.
    REQUEST_DATA_TRUNCATED = 0xc6, "request data truncated";
    /// Request data length invalid.
    REQUEST_DATA_LENGTH_INVALID = 0xc7, "request data length invalid";
    /// Request data field length limit exceeded.
    DATA_LENGTH_LIMIT_EXCEEDED = 0xc8, "request data field length limit exceeded";
    /// Parameter out of range (ends a mailbox read).
    PARAMETER_OUT_OF_RANGE = 0xc9, "parameter out of range";
    /// Cannot return the number of requested data bytes.
    CANNOT_RETURN_REQUESTED_BYTES = 0xca, "cannot return number of requested data bytes";
    /// Requested sensor, data or record not present.
    NOT_PRESENT = 0xcb, "requested sensor, data, or record not present";
    /// Invalid data field in the request.
    INVALID_DATA_FIELD = 0xcc, "invalid data field in request";
    /// Command illegal for the specified sensor or record type.
    ILLEGAL_FOR_SENSOR_TYPE = 0xcd, "command illegal for specified sensor or record type";
    /// Command response could not be provided.
    RESPONSE_UNAVAILABLE = 0xce, "command response could not be provided";
    /// Cannot execute a duplicated request.
    DUPLICATED_REQUEST = 0xcf, "cannot execute duplicated request";
    /// SDR repository in update mode.
    SDR_UPDATE_MODE = 0xd0, "sdr repository in update mode";
    /// Device in firmware update mode.
    FIRMWARE_UPDATE_MODE = 0xd1, "device firmware in update mode";
    /// BMC initialization in progress.
    BMC_INITIALIZING = 0xd2, "bmc initialization in progress";
    /// Destination unavailable.
    DESTINATION_UNAVAILABLE = 0xd3, "destination unavailable";
    /// Insufficient privilege level.
    INSUFFICIENT_PRIVILEGE = 0xd4, "insufficient privilege level";
    /// Command not supported in the present state.
    NOT_SUPPORTED_IN_STATE = 0xd5, "command not supported in present state";
    /// Command sub-function disabled or unavailable.
    COMMAND_DISABLED = 0xd6, "command sub-function has been disabled or is unavailable";
    /// Unspecified error.
    UNSPECIFIED = 0xff, "unspecified error";
}

impl CompletionCode {
    /// Whether the command completed normally (0x00).
    #[must_use]
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Whether the code lies in the command-specific range 0x80..=0xBE.
    #[must_use]
    pub const fn is_command_specific(self) -> bool {
        matches!(self.0, 0x80..=0xbe)
    }
}

/// Command numbers of the Chassis NetFn (IPMI v2.0 §28).
pub mod chassis {
    /// Get Chassis Capabilities.
    pub const GET_CHASSIS_CAPABILITIES: u8 = 0x00;
    /// Get Chassis Status.
    pub const GET_CHASSIS_STATUS: u8 = 0x01;
    /// Chassis Control (power down/up/cycle, hard reset, ...).
    pub const CHASSIS_CONTROL: u8 = 0x02;
    /// Chassis Reset.
    pub const CHASSIS_RESET: u8 = 0x03;
    /// Chassis Identify.
    pub const CHASSIS_IDENTIFY: u8 = 0x04;
    /// Set System Boot Options.
    pub const SET_SYSTEM_BOOT_OPTIONS: u8 = 0x08;
    /// Get System Boot Options.
    pub const GET_SYSTEM_BOOT_OPTIONS: u8 = 0x09;
}

/// Command numbers of the Application NetFn (IPMI v2.0 §20, §22).
pub mod app {
    /// Get Device ID.
    pub const GET_DEVICE_ID: u8 = 0x01;
    /// Cold Reset.
    pub const COLD_RESET: u8 = 0x02;
    /// Warm Reset.
    pub const WARM_RESET: u8 = 0x03;
    /// Get Self Test Results.
    pub const GET_SELF_TEST_RESULTS: u8 = 0x04;
    /// Get Device GUID.
    pub const GET_DEVICE_GUID: u8 = 0x08;
    /// Get System GUID.
    pub const GET_SYSTEM_GUID: u8 = 0x37;
    /// Get Channel Authentication Capabilities.
    pub const GET_CHANNEL_AUTH_CAPABILITIES: u8 = 0x38;
    /// Get Session Challenge (IPMI v1.5 sessions).
    pub const GET_SESSION_CHALLENGE: u8 = 0x39;
    /// Activate Session (IPMI v1.5 sessions).
    pub const ACTIVATE_SESSION: u8 = 0x3a;
    /// Set Session Privilege Level.
    pub const SET_SESSION_PRIVILEGE_LEVEL: u8 = 0x3b;
    /// Close Session.
    pub const CLOSE_SESSION: u8 = 0x3c;
    /// Get Session Info.
    pub const GET_SESSION_INFO: u8 = 0x3d;
    /// Get Channel Info.
    pub const GET_CHANNEL_INFO: u8 = 0x42;
    /// Get Channel Cipher Suites.
    pub const GET_CHANNEL_CIPHER_SUITES: u8 = 0x54;
}
