//! Typed PDUs: one plain struct per PDU kind this initiator sends or receives, borrowing its data
//! segment. The same struct is the decoded view ([`Message::from_pdu`]) and the builder input
//! (`encode`), so `decode(encode(m)) == m` holds field for field.
//!
//! Reserved fields are written as zero and ignored when decoding. AHS are not used by any of
//! these PDUs; a received AHS stays reachable through [`Pdu::ahs`].

use bytes::{BufMut, BytesMut};

use crate::codes::{
    LoginStatus, LogoutReason, LogoutResponseCode, Opcode, RejectReason, ScsiStatus,
    ServiceResponse, Stage,
};
use crate::error::{DecodeError, EncodeError};
use crate::pdu::{BHS_LEN, MAX_DATA_SEGMENT_LEN, Pdu, padded_len};

bitflags::bitflags! {
    /// Residual flags of SCSI Response byte 1 and SCSI Data-In byte 1 (RFC 7143 §11.4.1, §11.7.5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct ResidualFlags: u8 {
        /// o: bidirectional read residual overflow (SCSI Response only).
        const BIDI_OVERFLOW = 0x10;
        /// u: bidirectional read residual underflow (SCSI Response only).
        const BIDI_UNDERFLOW = 0x08;
        /// O: residual overflow.
        const OVERFLOW = 0x04;
        /// U: residual underflow.
        const UNDERFLOW = 0x02;
    }
}

/// A 48-byte header being written.
struct Header([u8; BHS_LEN]);

impl Header {
    fn new(opcode: Opcode, immediate: bool, flags: u8) -> Self {
        let mut h = [0u8; BHS_LEN];
        h[0] = opcode.0 | if immediate { 0x40 } else { 0 };
        h[1] = flags;
        Header(h)
    }
    fn u8(mut self, at: usize, v: u8) -> Self {
        self.0[at] = v;
        self
    }
    fn bytes(mut self, at: usize, v: &[u8]) -> Self {
        self.0[at..at + v.len()].copy_from_slice(v);
        self
    }
    fn u16(self, at: usize, v: u16) -> Self {
        self.bytes(at, &v.to_be_bytes())
    }
    fn u32(self, at: usize, v: u32) -> Self {
        self.bytes(at, &v.to_be_bytes())
    }

    /// Writes header, data segment and padding; patches DataSegmentLength.
    fn emit(mut self, data: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
        let too_long = EncodeError::TooLong {
            what: "data segment",
            len: data.len(),
            limit: MAX_DATA_SEGMENT_LEN,
        };
        if data.len() > MAX_DATA_SEGMENT_LEN {
            return Err(too_long);
        }
        let len = u32::try_from(data.len()).map_err(|_| too_long.clone())?;
        self.0[5..8].copy_from_slice(&len.to_be_bytes()[1..]);
        let padded = padded_len(data.len()).ok_or(too_long)?;
        out.reserve(BHS_LEN + padded);
        out.put_slice(&self.0);
        out.put_slice(data);
        out.put_bytes(0, padded - data.len());
        Ok(())
    }
}

fn stage_bits(what: &'static str, s: Stage) -> Result<u8, EncodeError> {
    if s.0 > 3 {
        return Err(EncodeError::OutOfRange {
            what,
            value: u32::from(s.0),
            bits: 2,
        });
    }
    Ok(s.0)
}

fn check_opcode(pdu: &Pdu<'_>, opcode: Opcode, expected: &'static str) -> Result<(), DecodeError> {
    if pdu.opcode() == opcode {
        Ok(())
    } else {
        Err(DecodeError::WrongOpcode {
            opcode: pdu.opcode(),
            expected,
        })
    }
}

fn segment_len(data: &[u8]) -> usize {
    BHS_LEN + padded_len(data.len()).unwrap_or(usize::MAX - BHS_LEN)
}

/// Login Request (RFC 7143 §11.12).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|1| 0x03      |T|C|.|.|CSG|NSG| Version-max   | Version-min   |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| ISID                                                          |
///   +                               +---------------+---------------+
/// 12|                               | TSIH                          |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| CID                           | Reserved                      |
///   +---------------+---------------+---------------+---------------+
/// 24| CmdSN                                                         |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpStatSN   or   Reserved                                     |
///   +---------------+---------------+---------------+---------------+
/// 32/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment - Login Parameters in Text Request Format         /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest<'a> {
    /// T: the initiator is ready to transit to `nsg`.
    pub transit: bool,
    /// C: the text is continued in the next PDU.
    pub cont: bool,
    /// Current stage.
    pub csg: Stage,
    /// Next stage (meaningful only with `transit`).
    pub nsg: Stage,
    /// Highest version supported (0).
    pub version_max: u8,
    /// Lowest version supported (0).
    pub version_min: u8,
    /// Initiator Session ID.
    pub isid: [u8; 6],
    /// Target Session Identifying Handle (0 for a new session).
    pub tsih: u16,
    /// Initiator Task Tag.
    pub itt: u32,
    /// Connection ID.
    pub cid: u16,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// Login parameters, text format.
    pub data: &'a [u8],
}

impl<'a> LoginRequest<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::LOGIN_REQUEST, "Login Request")?;
        let f = p.flags();
        Ok(Self {
            transit: f & 0x80 != 0,
            cont: f & 0x40 != 0,
            csg: Stage((f >> 2) & 3),
            nsg: Stage(f & 3),
            version_max: p.u8_at(2),
            version_min: p.u8_at(3),
            isid: p.array(8),
            tsih: p.u16_at(14),
            itt: p.itt(),
            cid: p.u16_at(20),
            cmd_sn: p.u32_at(24),
            exp_stat_sn: p.u32_at(28),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError`] for a stage over 2 bits or an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let flags = u8::from(self.transit) << 7
            | u8::from(self.cont) << 6
            | stage_bits("CSG", self.csg)? << 2
            | stage_bits("NSG", self.nsg)?;
        Header::new(Opcode::LOGIN_REQUEST, true, flags)
            .u8(2, self.version_max)
            .u8(3, self.version_min)
            .bytes(8, &self.isid)
            .u16(14, self.tsih)
            .u32(16, self.itt)
            .u16(20, self.cid)
            .u32(24, self.cmd_sn)
            .u32(28, self.exp_stat_sn)
            .emit(self.data, out)
    }
}

/// Login Response (RFC 7143 §11.13).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|.| 0x23      |T|C|.|.|CSG|NSG| Version-max   |Version-active |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| ISID                                                          |
///   +                               +---------------+---------------+
/// 12|                               | TSIH                          |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| Reserved                                                      |
///   +---------------+---------------+---------------+---------------+
/// 24| StatSN                                                        |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 32| MaxCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 36| Status-Class  | Status-Detail | Reserved                      |
///   +---------------+---------------+---------------+---------------+
/// 40/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment - Login Parameters in Text Request Format         /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResponse<'a> {
    /// T: the target agrees to transit to `nsg`.
    pub transit: bool,
    /// C: the text is continued in the next PDU.
    pub cont: bool,
    /// Current stage.
    pub csg: Stage,
    /// Next stage.
    pub nsg: Stage,
    /// Highest version supported.
    pub version_max: u8,
    /// Version in use.
    pub version_active: u8,
    /// Initiator Session ID, echoed.
    pub isid: [u8; 6],
    /// TSIH, set in the final response.
    pub tsih: u16,
    /// Initiator Task Tag, echoed.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Status-Class and Status-Detail.
    pub status: LoginStatus,
    /// Login parameters, text format.
    pub data: &'a [u8],
}

impl<'a> LoginResponse<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::LOGIN_RESPONSE, "Login Response")?;
        let f = p.flags();
        Ok(Self {
            transit: f & 0x80 != 0,
            cont: f & 0x40 != 0,
            csg: Stage((f >> 2) & 3),
            nsg: Stage(f & 3),
            version_max: p.u8_at(2),
            version_active: p.u8_at(3),
            isid: p.array(8),
            tsih: p.u16_at(14),
            itt: p.itt(),
            stat_sn: p.u32_at(24),
            exp_cmd_sn: p.u32_at(28),
            max_cmd_sn: p.u32_at(32),
            status: LoginStatus(p.u16_at(36)),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out` (used by tests and in-memory targets).
    ///
    /// # Errors
    /// [`EncodeError`] for a stage over 2 bits or an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let flags = u8::from(self.transit) << 7
            | u8::from(self.cont) << 6
            | stage_bits("CSG", self.csg)? << 2
            | stage_bits("NSG", self.nsg)?;
        Header::new(Opcode::LOGIN_RESPONSE, false, flags)
            .u8(2, self.version_max)
            .u8(3, self.version_active)
            .bytes(8, &self.isid)
            .u16(14, self.tsih)
            .u32(16, self.itt)
            .u32(24, self.stat_sn)
            .u32(28, self.exp_cmd_sn)
            .u32(32, self.max_cmd_sn)
            .u16(36, self.status.0)
            .emit(self.data, out)
    }
}

/// Text Request (RFC 7143 §11.10).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|I| 0x04      |F|C| Reserved                                  |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| LUN or Reserved                                               |
///   +                                                               +
/// 12|                                                               |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| Target Transfer Tag or 0xffffffff                             |
///   +---------------+---------------+---------------+---------------+
/// 24| CmdSN                                                         |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpStatSN                                                     |
///   +---------------+---------------+---------------+---------------+
/// 32/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment (Text)                                            /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRequest<'a> {
    /// I: immediate delivery.
    pub immediate: bool,
    /// F: final.
    pub final_: bool,
    /// C: continued.
    pub cont: bool,
    /// LUN or reserved.
    pub lun: [u8; 8],
    /// Initiator Task Tag.
    pub itt: u32,
    /// Target Transfer Tag (0xffffffff for a new request).
    pub ttt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// Text.
    pub data: &'a [u8],
}

impl<'a> TextRequest<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::TEXT_REQUEST, "Text Request")?;
        Ok(Self {
            immediate: p.immediate(),
            final_: p.final_bit(),
            cont: p.flags() & 0x40 != 0,
            lun: p.lun(),
            itt: p.itt(),
            ttt: p.u32_at(20),
            cmd_sn: p.u32_at(24),
            exp_stat_sn: p.u32_at(28),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let flags = u8::from(self.final_) << 7 | u8::from(self.cont) << 6;
        Header::new(Opcode::TEXT_REQUEST, self.immediate, flags)
            .bytes(8, &self.lun)
            .u32(16, self.itt)
            .u32(20, self.ttt)
            .u32(24, self.cmd_sn)
            .u32(28, self.exp_stat_sn)
            .emit(self.data, out)
    }
}

/// Text Response (RFC 7143 §11.11).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|.| 0x24      |F|C| Reserved                                  |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| LUN or Reserved                                               |
///   +                                                               +
/// 12|                                                               |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| Target Transfer Tag or 0xffffffff                             |
///   +---------------+---------------+---------------+---------------+
/// 24| StatSN                                                        |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 32| MaxCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 36/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment (Text)                                            /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextResponse<'a> {
    /// F: final.
    pub final_: bool,
    /// C: continued.
    pub cont: bool,
    /// LUN or reserved.
    pub lun: [u8; 8],
    /// Initiator Task Tag, echoed.
    pub itt: u32,
    /// Target Transfer Tag (not 0xffffffff when more text follows).
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Text.
    pub data: &'a [u8],
}

impl<'a> TextResponse<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::TEXT_RESPONSE, "Text Response")?;
        Ok(Self {
            final_: p.final_bit(),
            cont: p.flags() & 0x40 != 0,
            lun: p.lun(),
            itt: p.itt(),
            ttt: p.u32_at(20),
            stat_sn: p.u32_at(24),
            exp_cmd_sn: p.u32_at(28),
            max_cmd_sn: p.u32_at(32),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let flags = u8::from(self.final_) << 7 | u8::from(self.cont) << 6;
        Header::new(Opcode::TEXT_RESPONSE, false, flags)
            .bytes(8, &self.lun)
            .u32(16, self.itt)
            .u32(20, self.ttt)
            .u32(24, self.stat_sn)
            .u32(28, self.exp_cmd_sn)
            .u32(32, self.max_cmd_sn)
            .emit(self.data, out)
    }
}

/// SCSI Command (RFC 7143 §11.3).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|I| 0x01      |F|R|W|. .|ATTR | Reserved                      |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| Logical Unit Number (LUN)                                     |
///   +                                                               +
/// 12|                                                               |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| Expected Data Transfer Length                                 |
///   +---------------+---------------+---------------+---------------+
/// 24| CmdSN                                                         |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpStatSN                                                     |
///   +---------------+---------------+---------------+---------------+
/// 32/ SCSI Command Descriptor Block (CDB)                           /
///  +/                                                               /
///   +---------------+---------------+---------------+---------------+
/// 48/ AHS (optional) / DataSegment - Command Data (optional)        /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiCommand<'a> {
    /// I: immediate delivery.
    pub immediate: bool,
    /// F: no unsolicited Data-Out follows.
    pub final_: bool,
    /// R: data will be read from the target.
    pub read: bool,
    /// W: data will be written to the target.
    pub write: bool,
    /// Task attributes (3 bits; 1 = simple).
    pub attr: u8,
    /// Logical unit (8 bytes, SAM format).
    pub lun: [u8; 8],
    /// Initiator Task Tag.
    pub itt: u32,
    /// Expected Data Transfer Length.
    pub expected_len: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// CDB, zero-padded to 16 bytes.
    pub cdb: [u8; 16],
    /// Immediate data.
    pub data: &'a [u8],
}

impl<'a> ScsiCommand<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::SCSI_COMMAND, "SCSI Command")?;
        let f = p.flags();
        Ok(Self {
            immediate: p.immediate(),
            final_: f & 0x80 != 0,
            read: f & 0x40 != 0,
            write: f & 0x20 != 0,
            attr: f & 0x07,
            lun: p.lun(),
            itt: p.itt(),
            expected_len: p.u32_at(20),
            cmd_sn: p.u32_at(24),
            exp_stat_sn: p.u32_at(28),
            cdb: p.array(32),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError`] for `attr` over 3 bits or an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.attr > 7 {
            return Err(EncodeError::OutOfRange {
                what: "ATTR",
                value: u32::from(self.attr),
                bits: 3,
            });
        }
        let flags = u8::from(self.final_) << 7
            | u8::from(self.read) << 6
            | u8::from(self.write) << 5
            | self.attr;
        Header::new(Opcode::SCSI_COMMAND, self.immediate, flags)
            .bytes(8, &self.lun)
            .u32(16, self.itt)
            .u32(20, self.expected_len)
            .u32(24, self.cmd_sn)
            .u32(28, self.exp_stat_sn)
            .bytes(32, &self.cdb)
            .emit(self.data, out)
    }
}

/// SCSI Response (RFC 7143 §11.4).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|.| 0x21      |1|. .|o|u|O|U|.| Response      | Status        |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| Reserved                                                      |
///   +                                                               +
/// 12|                                                               |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| SNACK Tag or Reserved                                         |
///   +---------------+---------------+---------------+---------------+
/// 24| StatSN                                                        |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 32| MaxCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 36| ExpDataSN or Reserved                                         |
///   +---------------+---------------+---------------+---------------+
/// 40| Bidirectional Read Residual Count or Reserved                 |
///   +---------------+---------------+---------------+---------------+
/// 44| Residual Count or Reserved                                    |
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment: SenseLength (2 bytes), Sense Data, Response Data /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiResponse<'a> {
    /// Residual flags.
    pub residual_flags: ResidualFlags,
    /// iSCSI service response.
    pub response: ServiceResponse,
    /// SCSI status (valid when `response` is COMPLETED).
    pub status: ScsiStatus,
    /// Initiator Task Tag, echoed.
    pub itt: u32,
    /// SNACK Tag.
    pub snack_tag: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// ExpDataSN.
    pub exp_data_sn: u32,
    /// Bidirectional read residual count.
    pub bidi_residual: u32,
    /// Residual count.
    pub residual: u32,
    /// Data segment: sense length, sense data, response data.
    pub data: &'a [u8],
}

impl<'a> ScsiResponse<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::SCSI_RESPONSE, "SCSI Response")?;
        Ok(Self {
            residual_flags: ResidualFlags::from_bits_truncate(p.flags()),
            response: ServiceResponse(p.u8_at(2)),
            status: ScsiStatus(p.u8_at(3)),
            itt: p.itt(),
            snack_tag: p.u32_at(20),
            stat_sn: p.u32_at(24),
            exp_cmd_sn: p.u32_at(28),
            max_cmd_sn: p.u32_at(32),
            exp_data_sn: p.u32_at(36),
            bidi_residual: p.u32_at(40),
            residual: p.u32_at(44),
            data: p.data(),
        })
    }

    /// The sense data, if the data segment carries any (RFC 7143 §11.4.7.2).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] for a one-byte segment, [`DecodeError::BadLength`] when
    /// SenseLength runs past the segment.
    pub fn sense(&self) -> Result<Option<&'a [u8]>, DecodeError> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let Some(len) = self.data.get(..2) else {
            return Err(DecodeError::Truncated {
                what: "SenseLength",
                at: 0,
                needed: 2,
                available: self.data.len(),
            });
        };
        let declared = usize::from(u16::from_be_bytes([len[0], len[1]]));
        match self.data.get(2..2 + declared) {
            Some([]) => Ok(None),
            Some(s) => Ok(Some(s)),
            None => Err(DecodeError::BadLength {
                field: "SenseLength",
                at: 0,
                declared,
                available: self.data.len() - 2,
            }),
        }
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        Header::new(
            Opcode::SCSI_RESPONSE,
            false,
            0x80 | self.residual_flags.bits(),
        )
        .u8(2, self.response.0)
        .u8(3, self.status.0)
        .u32(16, self.itt)
        .u32(20, self.snack_tag)
        .u32(24, self.stat_sn)
        .u32(28, self.exp_cmd_sn)
        .u32(32, self.max_cmd_sn)
        .u32(36, self.exp_data_sn)
        .u32(40, self.bidi_residual)
        .u32(44, self.residual)
        .emit(self.data, out)
    }
}

/// SCSI Data-In (RFC 7143 §11.7).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|.| 0x25      |F|A|0 0 0|O|U|S| Reserved      |Status or Rsvd |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| LUN or Reserved                                               |
///   +                                                               +
/// 12|                                                               |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| Target Transfer Tag or 0xffffffff                             |
///   +---------------+---------------+---------------+---------------+
/// 24| StatSN or Reserved                                            |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 32| MaxCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 36| DataSN                                                        |
///   +---------------+---------------+---------------+---------------+
/// 40| Buffer Offset                                                 |
///   +---------------+---------------+---------------+---------------+
/// 44| Residual Count                                                |
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment                                                   /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataIn<'a> {
    /// F: last Data-In of the sequence.
    pub final_: bool,
    /// A: acknowledge requested.
    pub ack: bool,
    /// O and U residual flags (valid with a status).
    pub residual_flags: ResidualFlags,
    /// S set: the SCSI status, carried in this PDU (phase collapse).
    pub status: Option<ScsiStatus>,
    /// LUN or reserved.
    pub lun: [u8; 8],
    /// Initiator Task Tag, echoed.
    pub itt: u32,
    /// Target Transfer Tag.
    pub ttt: u32,
    /// StatSN (valid with a status).
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// DataSN.
    pub data_sn: u32,
    /// Buffer offset of this data.
    pub buffer_offset: u32,
    /// Residual count (valid with a status).
    pub residual: u32,
    /// Data.
    pub data: &'a [u8],
}

impl<'a> DataIn<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::DATA_IN, "SCSI Data-In")?;
        let f = p.flags();
        Ok(Self {
            final_: f & 0x80 != 0,
            ack: f & 0x40 != 0,
            residual_flags: ResidualFlags::from_bits_truncate(f & 0x06),
            status: (f & 0x01 != 0).then(|| ScsiStatus(p.u8_at(3))),
            lun: p.lun(),
            itt: p.itt(),
            ttt: p.u32_at(20),
            stat_sn: p.u32_at(24),
            exp_cmd_sn: p.u32_at(28),
            max_cmd_sn: p.u32_at(32),
            data_sn: p.u32_at(36),
            buffer_offset: p.u32_at(40),
            residual: p.u32_at(44),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let flags = u8::from(self.final_) << 7
            | u8::from(self.ack) << 6
            | (self.residual_flags.bits() & 0x06)
            | u8::from(self.status.is_some());
        Header::new(Opcode::DATA_IN, false, flags)
            .u8(3, self.status.map_or(0, |s| s.0))
            .bytes(8, &self.lun)
            .u32(16, self.itt)
            .u32(20, self.ttt)
            .u32(24, self.stat_sn)
            .u32(28, self.exp_cmd_sn)
            .u32(32, self.max_cmd_sn)
            .u32(36, self.data_sn)
            .u32(40, self.buffer_offset)
            .u32(44, self.residual)
            .emit(self.data, out)
    }
}

/// Logout Request (RFC 7143 §11.14).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|I| 0x06      |1| Reason Code | Reserved                      |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| CID or Reserved               | Reserved                      |
///   +---------------+---------------+---------------+---------------+
/// 24| CmdSN                                                         |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpStatSN                                                     |
///   +---------------+---------------+---------------+---------------+
/// 32/ Reserved                                                      /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// I: immediate delivery.
    pub immediate: bool,
    /// Reason code (7 bits).
    pub reason: LogoutReason,
    /// Initiator Task Tag.
    pub itt: u32,
    /// CID.
    pub cid: u16,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl LogoutRequest {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'_>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::LOGOUT_REQUEST, "Logout Request")?;
        Ok(Self {
            immediate: p.immediate(),
            reason: LogoutReason(p.flags() & 0x7f),
            itt: p.itt(),
            cid: p.u16_at(20),
            cmd_sn: p.u32_at(24),
            exp_stat_sn: p.u32_at(28),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        BHS_LEN
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::OutOfRange`] for a reason code over 7 bits.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.reason.0 > 0x7f {
            return Err(EncodeError::OutOfRange {
                what: "logout reason",
                value: u32::from(self.reason.0),
                bits: 7,
            });
        }
        Header::new(Opcode::LOGOUT_REQUEST, self.immediate, 0x80 | self.reason.0)
            .u32(16, self.itt)
            .u16(20, self.cid)
            .u32(24, self.cmd_sn)
            .u32(28, self.exp_stat_sn)
            .emit(&[], out)
    }
}

/// Logout Response (RFC 7143 §11.15).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|.| 0x26      |1| Reserved    | Response      | Reserved      |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag                                            |
///   +---------------+---------------+---------------+---------------+
/// 20| Reserved                                                      |
///   +---------------+---------------+---------------+---------------+
/// 24| StatSN                                                        |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 32| MaxCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 36| Reserved                                                      |
///   +---------------------------------------------------------------+
/// 40| Time2Wait                     | Time2Retain                   |
///   +---------------+---------------+---------------+---------------+
/// 44| Reserved                                                      |
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    /// Response code.
    pub response: LogoutResponseCode,
    /// Initiator Task Tag, echoed.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Time2Wait.
    pub time2wait: u16,
    /// Time2Retain.
    pub time2retain: u16,
}

impl LogoutResponse {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'_>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::LOGOUT_RESPONSE, "Logout Response")?;
        Ok(Self {
            response: LogoutResponseCode(p.u8_at(2)),
            itt: p.itt(),
            stat_sn: p.u32_at(24),
            exp_cmd_sn: p.u32_at(28),
            max_cmd_sn: p.u32_at(32),
            time2wait: p.u16_at(40),
            time2retain: p.u16_at(42),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        BHS_LEN
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// Never in practice; the signature matches the other builders.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        Header::new(Opcode::LOGOUT_RESPONSE, false, 0x80)
            .u8(2, self.response.0)
            .u32(16, self.itt)
            .u32(24, self.stat_sn)
            .u32(28, self.exp_cmd_sn)
            .u32(32, self.max_cmd_sn)
            .u16(40, self.time2wait)
            .u16(42, self.time2retain)
            .emit(&[], out)
    }
}

/// NOP-Out (RFC 7143 §11.18).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|I| 0x00      |1| Reserved                                    |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| LUN or Reserved                                               |
///   +                                                               +
/// 12|                                                               |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag or 0xffffffff                              |
///   +---------------+---------------+---------------+---------------+
/// 20| Target Transfer Tag or 0xffffffff                             |
///   +---------------+---------------+---------------+---------------+
/// 24| CmdSN                                                         |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpStatSN                                                     |
///   +---------------+---------------+---------------+---------------+
/// 32/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment - Ping Data (optional)                            /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NopOut<'a> {
    /// I: immediate delivery.
    pub immediate: bool,
    /// LUN or reserved.
    pub lun: [u8; 8],
    /// Initiator Task Tag (0xffffffff when answering a target's ping).
    pub itt: u32,
    /// Target Transfer Tag (copied from the NOP-In being answered).
    pub ttt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// Ping data.
    pub data: &'a [u8],
}

impl<'a> NopOut<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::NOP_OUT, "NOP-Out")?;
        Ok(Self {
            immediate: p.immediate(),
            lun: p.lun(),
            itt: p.itt(),
            ttt: p.u32_at(20),
            cmd_sn: p.u32_at(24),
            exp_stat_sn: p.u32_at(28),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        Header::new(Opcode::NOP_OUT, self.immediate, 0x80)
            .bytes(8, &self.lun)
            .u32(16, self.itt)
            .u32(20, self.ttt)
            .u32(24, self.cmd_sn)
            .u32(28, self.exp_stat_sn)
            .emit(self.data, out)
    }
}

/// NOP-In (RFC 7143 §11.19).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|.| 0x20      |1| Reserved                                    |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8| LUN or Reserved                                               |
///   +                                                               +
/// 12|                                                               |
///   +---------------+---------------+---------------+---------------+
/// 16| Initiator Task Tag or 0xffffffff                              |
///   +---------------+---------------+---------------+---------------+
/// 20| Target Transfer Tag or 0xffffffff                             |
///   +---------------+---------------+---------------+---------------+
/// 24| StatSN                                                        |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 32| MaxCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 36/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment - Return Ping Data                                /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NopIn<'a> {
    /// LUN or reserved.
    pub lun: [u8; 8],
    /// Initiator Task Tag (0xffffffff for a target-initiated ping).
    pub itt: u32,
    /// Target Transfer Tag (not 0xffffffff when the target wants an answer).
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Ping data.
    pub data: &'a [u8],
}

impl<'a> NopIn<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::NOP_IN, "NOP-In")?;
        Ok(Self {
            lun: p.lun(),
            itt: p.itt(),
            ttt: p.u32_at(20),
            stat_sn: p.u32_at(24),
            exp_cmd_sn: p.u32_at(28),
            max_cmd_sn: p.u32_at(32),
            data: p.data(),
        })
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        Header::new(Opcode::NOP_IN, false, 0x80)
            .bytes(8, &self.lun)
            .u32(16, self.itt)
            .u32(20, self.ttt)
            .u32(24, self.stat_sn)
            .u32(28, self.exp_cmd_sn)
            .u32(32, self.max_cmd_sn)
            .emit(self.data, out)
    }
}

/// Reject (RFC 7143 §11.17).
///
/// ```text
/// Byte/     0       |       1       |       2       |       3       |
///   +---------------+---------------+---------------+---------------+
///  0|.|.| 0x3f      |1| Reserved    | Reason        | Reserved      |
///   +---------------+---------------+---------------+---------------+
///  4| TotalAHSLength| DataSegmentLength                             |
///   +---------------+---------------+---------------+---------------+
///  8/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 16| 0xffffffff                                                    |
///   +---------------+---------------+---------------+---------------+
/// 20| Reserved                                                      |
///   +---------------+---------------+---------------+---------------+
/// 24| StatSN                                                        |
///   +---------------+---------------+---------------+---------------+
/// 28| ExpCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 32| MaxCmdSN                                                      |
///   +---------------+---------------+---------------+---------------+
/// 36| DataSN/R2TSN or Reserved                                      |
///   +---------------+---------------+---------------+---------------+
/// 40/ Reserved                                                      /
///   +---------------+---------------+---------------+---------------+
/// 48/ DataSegment: complete header of the bad PDU                   /
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject<'a> {
    /// Reject reason.
    pub reason: RejectReason,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// DataSN/R2TSN.
    pub data_sn: u32,
    /// The rejected PDU's header.
    pub data: &'a [u8],
}

impl<'a> Reject<'a> {
    /// Decodes from a PDU view.
    ///
    /// # Errors
    /// [`DecodeError::WrongOpcode`] for another opcode.
    pub fn from_pdu(p: &Pdu<'a>) -> Result<Self, DecodeError> {
        check_opcode(p, Opcode::REJECT, "Reject")?;
        Ok(Self {
            reason: RejectReason(p.u8_at(2)),
            stat_sn: p.u32_at(24),
            exp_cmd_sn: p.u32_at(28),
            max_cmd_sn: p.u32_at(32),
            data_sn: p.u32_at(36),
            data: p.data(),
        })
    }

    /// The Initiator Task Tag of the rejected PDU, when its header is included.
    #[must_use]
    pub fn rejected_itt(&self) -> Option<u32> {
        self.data
            .get(16..20)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        segment_len(self.data)
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] for an over-long data segment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        Header::new(Opcode::REJECT, false, 0x80)
            .u8(2, self.reason.0)
            .u32(16, crate::pdu::RESERVED_TAG)
            .u32(24, self.stat_sn)
            .u32(28, self.exp_cmd_sn)
            .u32(32, self.max_cmd_sn)
            .u32(36, self.data_sn)
            .emit(self.data, out)
    }
}

/// Any PDU, typed where this crate knows the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// Login Request.
    LoginRequest(LoginRequest<'a>),
    /// Login Response.
    LoginResponse(LoginResponse<'a>),
    /// Text Request.
    TextRequest(TextRequest<'a>),
    /// Text Response.
    TextResponse(TextResponse<'a>),
    /// SCSI Command.
    ScsiCommand(ScsiCommand<'a>),
    /// SCSI Response.
    ScsiResponse(ScsiResponse<'a>),
    /// SCSI Data-In.
    DataIn(DataIn<'a>),
    /// Logout Request.
    LogoutRequest(LogoutRequest),
    /// Logout Response.
    LogoutResponse(LogoutResponse),
    /// NOP-Out.
    NopOut(NopOut<'a>),
    /// NOP-In.
    NopIn(NopIn<'a>),
    /// Reject.
    Reject(Reject<'a>),
    /// Any other opcode, passed through untouched.
    Other(Pdu<'a>),
}

impl<'a> Message<'a> {
    /// Types a PDU by its opcode. Never fails: unknown opcodes become [`Message::Other`].
    #[must_use]
    pub fn from_pdu(p: Pdu<'a>) -> Self {
        let typed = match p.opcode() {
            Opcode::LOGIN_REQUEST => LoginRequest::from_pdu(&p).map(Self::LoginRequest),
            Opcode::LOGIN_RESPONSE => LoginResponse::from_pdu(&p).map(Self::LoginResponse),
            Opcode::TEXT_REQUEST => TextRequest::from_pdu(&p).map(Self::TextRequest),
            Opcode::TEXT_RESPONSE => TextResponse::from_pdu(&p).map(Self::TextResponse),
            Opcode::SCSI_COMMAND => ScsiCommand::from_pdu(&p).map(Self::ScsiCommand),
            Opcode::SCSI_RESPONSE => ScsiResponse::from_pdu(&p).map(Self::ScsiResponse),
            Opcode::DATA_IN => DataIn::from_pdu(&p).map(Self::DataIn),
            Opcode::LOGOUT_REQUEST => LogoutRequest::from_pdu(&p).map(Self::LogoutRequest),
            Opcode::LOGOUT_RESPONSE => LogoutResponse::from_pdu(&p).map(Self::LogoutResponse),
            Opcode::NOP_OUT => NopOut::from_pdu(&p).map(Self::NopOut),
            Opcode::NOP_IN => NopIn::from_pdu(&p).map(Self::NopIn),
            Opcode::REJECT => Reject::from_pdu(&p).map(Self::Reject),
            _ => Ok(Self::Other(p)),
        };
        typed.unwrap_or(Self::Other(p))
    }

    /// Bytes `encode` writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::LoginRequest(m) => m.encoded_len(),
            Self::LoginResponse(m) => m.encoded_len(),
            Self::TextRequest(m) => m.encoded_len(),
            Self::TextResponse(m) => m.encoded_len(),
            Self::ScsiCommand(m) => m.encoded_len(),
            Self::ScsiResponse(m) => m.encoded_len(),
            Self::DataIn(m) => m.encoded_len(),
            Self::LogoutRequest(m) => m.encoded_len(),
            Self::LogoutResponse(m) => m.encoded_len(),
            Self::NopOut(m) => m.encoded_len(),
            Self::NopIn(m) => m.encoded_len(),
            Self::Reject(m) => m.encoded_len(),
            Self::Other(p) => p.as_bytes().len(),
        }
    }

    /// Appends the PDU to `out`.
    ///
    /// # Errors
    /// [`EncodeError`] as the typed builders return.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::LoginRequest(m) => m.encode(out),
            Self::LoginResponse(m) => m.encode(out),
            Self::TextRequest(m) => m.encode(out),
            Self::TextResponse(m) => m.encode(out),
            Self::ScsiCommand(m) => m.encode(out),
            Self::ScsiResponse(m) => m.encode(out),
            Self::DataIn(m) => m.encode(out),
            Self::LogoutRequest(m) => m.encode(out),
            Self::LogoutResponse(m) => m.encode(out),
            Self::NopOut(m) => m.encode(out),
            Self::NopIn(m) => m.encode(out),
            Self::Reject(m) => m.encode(out),
            Self::Other(p) => {
                out.extend_from_slice(p.as_bytes());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_request_flags_and_fields_land_where_rfc_7143_puts_them() {
        let m = LoginRequest {
            transit: true,
            cont: false,
            csg: Stage::SECURITY,
            nsg: Stage::OPERATIONAL,
            version_max: 0,
            version_min: 0,
            isid: [0x80, 0, 1, 2, 3, 4],
            tsih: 0,
            itt: 0x0102_0304,
            cid: 7,
            cmd_sn: 9,
            exp_stat_sn: 0,
            data: b"AuthMethod=None\0",
        };
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        assert_eq!(out.len(), m.encoded_len());
        assert_eq!(out[0], 0x43);
        assert_eq!(out[1], 0x81);
        assert_eq!(&out[5..8], &[0, 0, 16]);
        assert_eq!(&out[8..14], &[0x80, 0, 1, 2, 3, 4]);
        assert_eq!(&out[16..20], &[1, 2, 3, 4]);
        assert_eq!(&out[20..22], &[0, 7]);
        let p = Pdu::new_checked(&out).unwrap();
        assert_eq!(Message::from_pdu(p), Message::LoginRequest(m));
    }

    #[test]
    fn data_in_status_only_with_s_bit() {
        let mut b = [0u8; 48];
        b[0] = 0x25;
        b[1] = 0x80;
        b[3] = 0x02;
        let p = Pdu::new_checked(&b).unwrap();
        let Message::DataIn(d) = Message::from_pdu(p) else {
            panic!("not data-in")
        };
        assert_eq!(d.status, None);
        b[1] = 0x81;
        let p = Pdu::new_checked(&b).unwrap();
        let Message::DataIn(d) = Message::from_pdu(p) else {
            panic!("not data-in")
        };
        assert_eq!(d.status, Some(ScsiStatus::CHECK_CONDITION));
    }

    #[test]
    fn sense_length_past_the_segment_is_a_typed_error() {
        let r = ScsiResponse {
            residual_flags: ResidualFlags::empty(),
            response: ServiceResponse::COMPLETED,
            status: ScsiStatus::CHECK_CONDITION,
            itt: 1,
            snack_tag: 0,
            stat_sn: 0,
            exp_cmd_sn: 0,
            max_cmd_sn: 0,
            exp_data_sn: 0,
            bidi_residual: 0,
            residual: 0,
            data: &[0, 20, 0x70, 0],
        };
        assert_eq!(
            r.sense(),
            Err(DecodeError::BadLength {
                field: "SenseLength",
                at: 0,
                declared: 20,
                available: 2
            })
        );
    }

    #[test]
    fn unknown_opcode_passes_through_byte_for_byte() {
        let mut b = [0u8; 52];
        b[0] = 0x31;
        b[7] = 4;
        b[48..].copy_from_slice(&[1, 2, 3, 4]);
        let p = Pdu::new_checked(&b).unwrap();
        let m = Message::from_pdu(p);
        assert!(matches!(m, Message::Other(_)));
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        assert_eq!(&out[..], &b[..]);
    }
}
