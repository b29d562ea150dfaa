//! Parameter selectors and the Set/Get System Boot Options message bodies.

use crate::ipmi::{CompletionCode, NetFn, Request, Response, chassis, code_points};

use super::error::DecodeError;

code_points! {
    /// System Boot Options parameter selector (IPMI v2.0 table 28-14), 7 bits.
    pub struct BootParam(u8);
    /// Set In Progress (volatile).
    SET_IN_PROGRESS = 0x00, "set in progress";
    /// Service partition selector.
    SERVICE_PARTITION_SELECTOR = 0x01, "service partition selector";
    /// Service partition scan.
    SERVICE_PARTITION_SCAN = 0x02, "service partition scan";
    /// BMC boot flag valid bit clearing.
    VALID_BIT_CLEARING = 0x03, "boot flag valid bit clearing";
    /// Boot info acknowledge.
    BOOT_INFO_ACK = 0x04, "boot info acknowledge";
    /// Boot flags.
    BOOT_FLAGS = 0x05, "boot flags";
    /// Boot initiator info.
    BOOT_INITIATOR_INFO = 0x06, "boot initiator info";
    /// Boot initiator mailbox.
    BOOT_INITIATOR_MAILBOX = 0x07, "boot initiator mailbox";
    /// OEM dialect: dialect information (read-only).
    OEM_DIALECT_INFO = 0x60, "oem iscsi dialect info";
    /// OEM dialect: control (commit/enable), written last.
    OEM_CONTROL = 0x62, "oem iscsi control";
    /// OEM dialect: initiator name.
    OEM_INITIATOR_NAME = 0x63, "oem iscsi initiator name";
    /// OEM dialect: initiator network.
    OEM_INITIATOR_NETWORK = 0x64, "oem iscsi initiator network";
    /// OEM dialect: primary target portal and LUN.
    OEM_PRIMARY_PORTAL = 0x65, "oem iscsi primary target portal";
    /// OEM dialect: primary target name.
    OEM_PRIMARY_NAME = 0x66, "oem iscsi primary target name";
    /// OEM dialect: secondary target portal and LUN (empty = none).
    OEM_SECONDARY_PORTAL = 0x67, "oem iscsi secondary target portal";
    /// OEM dialect: secondary target name.
    OEM_SECONDARY_NAME = 0x68, "oem iscsi secondary target name";
    /// OEM dialect: authentication kind and CHAP user names.
    OEM_AUTH = 0x69, "oem iscsi authentication";
    /// OEM dialect: initiator CHAP secret (write-only).
    OEM_CHAP_SECRET = 0x6a, "oem iscsi chap secret";
    /// OEM dialect: target (reverse) CHAP secret (write-only).
    OEM_REVERSE_CHAP_SECRET = 0x6b, "oem iscsi reverse chap secret";
}

impl BootParam {
    /// Largest selector: 7 bits.
    pub const MAX: u8 = 0x7f;
    /// The OEM selector range (IPMI v2.0 table 28-14).
    pub const OEM_RANGE: core::ops::RangeInclusive<u8> = 96..=127;

    /// Whether the selector lies in the OEM range 96..=127.
    pub fn is_oem(self) -> bool {
        Self::OEM_RANGE.contains(&self.0)
    }
}

/// Version nibble of every Get System Boot Options response.
pub const PARAMETER_VERSION: u8 = 1;

/// Bit 7 of the parameter byte: "parameter invalid / locked".
pub const INVALID_BIT: u8 = 0x80;

/// A Set System Boot Options request (NetFn Chassis, cmd 0x08).
///
/// ```text
/// byte 0: [7] mark invalid  [6:0] parameter selector
/// byte 1..: parameter data
/// ```
pub fn set_request(param: BootParam, data: &[u8]) -> Request {
    let mut body = Vec::with_capacity(1 + data.len());
    body.push(param.0 & BootParam::MAX);
    body.extend_from_slice(data);
    Request::new(NetFn::CHASSIS, chassis::SET_SYSTEM_BOOT_OPTIONS, body)
}

/// A Get System Boot Options request (NetFn Chassis, cmd 0x09).
///
/// ```text
/// byte 0: [6:0] parameter selector   byte 1: set selector   byte 2: block selector
/// ```
pub fn get_request(param: BootParam, set: u8, block: u8) -> Request {
    Request::new(
        NetFn::CHASSIS,
        chassis::GET_SYSTEM_BOOT_OPTIONS,
        [param.0 & BootParam::MAX, set, block],
    )
}

/// Borrowed view of a Get System Boot Options response body (after the completion code).
///
/// ```text
/// byte 0: [3:0] parameter version (1)
/// byte 1: [7] parameter invalid/locked  [6:0] parameter selector
/// byte 2..: parameter data
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetResponse<'a> {
    /// Parameter selector echoed.
    pub param: BootParam,
    /// Bit 7 of byte 1: the parameter is marked invalid/locked.
    pub invalid: bool,
    /// The parameter data.
    pub data: &'a [u8],
}

impl<'a> GetResponse<'a> {
    /// Decodes a response body.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] below two bytes, [`DecodeError::Version`] when the version
    /// nibble is not 1.
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let [version, sel, data @ ..] = body else {
            return Err(DecodeError::Truncated {
                what: "get system boot options response",
                at: 0,
                need: 2,
                have: body.len(),
            });
        };
        if version & 0x0f != PARAMETER_VERSION {
            return Err(DecodeError::Version {
                what: "boot option parameter",
                found: version & 0x0f,
                expected: PARAMETER_VERSION,
            });
        }
        Ok(Self {
            param: BootParam(sel & BootParam::MAX),
            invalid: sel & INVALID_BIT != 0,
            data,
        })
    }

    /// Decodes and checks that it answers `param`.
    ///
    /// # Errors
    /// As [`GetResponse::decode`], plus [`DecodeError::Mismatch`].
    pub fn decode_for(body: &'a [u8], param: BootParam) -> Result<Self, DecodeError> {
        let r = Self::decode(body)?;
        if r.param != param {
            return Err(DecodeError::Mismatch {
                what: "parameter",
                expected: param.0,
                found: r.param.0,
            });
        }
        Ok(r)
    }

    /// Encodes a response body (BMC side).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.data.len());
        out.push(PARAMETER_VERSION);
        out.push((self.param.0 & BootParam::MAX) | if self.invalid { INVALID_BIT } else { 0 });
        out.extend_from_slice(self.data);
        out
    }

    /// A complete successful [`Response`] carrying this body.
    pub fn to_response(&self) -> Response {
        Response::ok(self.encode())
    }
}

/// Whether a completion code means "this BMC does not implement the parameter".
pub fn is_unsupported(cc: CompletionCode) -> bool {
    cc == CompletionCode::BOOT_PARAM_NOT_SUPPORTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_flags_request_matches_openbmc_issue_2192_vector() {
        // digest §3.3: `0x00 0x08 0x05 0x80 0x18 0x00 0x00 0x00` (raw form: netfn, cmd, data).
        let r = set_request(BootParam::BOOT_FLAGS, &[0x80, 0x18, 0x00, 0x00, 0x00]);
        assert_eq!(r.netfn, NetFn::CHASSIS);
        assert_eq!(r.cmd, 0x08);
        assert_eq!(r.data, [0x05, 0x80, 0x18, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn get_response_rejects_short_and_wrong_version() {
        assert!(matches!(
            GetResponse::decode(&[1]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            GetResponse::decode(&[2, 5]),
            Err(DecodeError::Version { found: 2, .. })
        ));
        let r = GetResponse::decode(&[0x01, 0x85, 1, 2]).unwrap();
        assert!(r.invalid);
        assert_eq!(r.param, BootParam::BOOT_FLAGS);
        assert_eq!(r.data, [1, 2]);
        assert_eq!(r.encode(), [0x01, 0x85, 1, 2]);
    }
}
