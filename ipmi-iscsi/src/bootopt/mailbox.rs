//! The mailbox dialect: iSCSI boot parameters (without secrets) in parameter 7.
//!
//! Block layout (IPMI v2.0 table 28-14, parameter 7):
//! ```text
//! block 0:   bytes 0..3  IANA Private Enterprise Number, LS byte first
//!            bytes 3..16 payload bytes 0..13
//! block n>0: bytes 0..16 payload bytes 13+16(n-1) ..
//! ```
//! Payload, format version 1 (all integers LS byte first):
//! ```text
//! off   size  field
//! 0     1     format version = 1
//! 1     2     payload length N, from byte 0 through the CRC
//! 3     1     flags: [0] secondary target present, [2:1] auth 0 none / 1 CHAP / 2 mutual,
//!             [7:3] reserved = 0
//! 4     var   initiator name: len (1) + bytes
//!       var   network: flags ([0] static, [1] VLAN) | VLAN (2, if [1]) | if static:
//!             ip | prefix (1) | gateway ip? | DNS count (1, 0..=2) | ip × count
//!       var   primary target: name len (1) + bytes | ip | port (2) | LUN (8, SAM)
//!       var   secondary target (if flag [0]): same layout
//!       var   CHAP user: len (1) + bytes (auth 1 or 2); target CHAP user (auth 2)
//! N-2   2     CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over bytes 0..N-2
//! ip  = family (1): 4 → 4 address bytes, 6 → 16 address bytes; ip? also allows 0 = absent
//! ```
//! Bytes after the payload up to the end of its last block are zero. No secret is ever
//! written here: the mailbox is readable by any software with BMC access.
//!
//! The spec guarantees 5 blocks (77 payload bytes after the enterprise number); a BMC may
//! offer up to 256. Payloads that do not fit fail with
//! [`EncodeError::MailboxTooSmall`], which names the OEM dialect.

use bytes::BufMut;
#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::params::{AuthSummary, PublicBootParams, validate_chap_name};

use super::error::{DecodeError, EncodeError};
use super::standard::{BLOCK_LEN, Block};
use super::wire::{self, Reader};

/// Mailbox payload format version.
pub const MAILBOX_FORMAT_VERSION: u8 = 1;
/// Payload bytes in block 0 (after the 3-byte enterprise number).
pub const BLOCK0_PAYLOAD: usize = BLOCK_LEN - 3;
/// Blocks every BMC must offer (spec minimum 80 bytes).
pub const MIN_SPEC_BLOCKS: usize = 5;
/// Largest block count addressable with a one-byte selector.
pub const MAX_BLOCKS: usize = 256;
/// Header bytes before the body, and the CRC after it.
const HEADER_LEN: usize = 4;
const CRC_LEN: usize = 2;

/// A 24-bit IANA Private Enterprise Number, written LS byte first in block 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(into = "u32", try_from = "u32"))]
pub struct Pen(u32);

impl From<Pen> for u32 {
    fn from(p: Pen) -> u32 {
        p.0
    }
}

impl TryFrom<u32> for Pen {
    type Error = &'static str;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Pen::new(v).ok_or("an IANA enterprise number here is at most 24 bits (16777215)")
    }
}

impl Pen {
    /// 32473, reserved for documentation (RFC 5612): the default until a deployment
    /// configures its own number.
    pub const EXAMPLE: Pen = Pen(32473);
    /// IBM (2), whose petitboot format also lives in the mailbox.
    pub const IBM: Pen = Pen(2);

    /// A PEN; `None` above 24 bits.
    pub fn new(value: u32) -> Option<Self> {
        (value <= 0x00ff_ffff).then_some(Self(value))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The three wire bytes, LS first.
    pub fn to_bytes(self) -> [u8; 3] {
        let [a, b, c, _] = self.0.to_le_bytes();
        [a, b, c]
    }

    /// From three wire bytes, LS first.
    pub fn from_bytes(b: [u8; 3]) -> Self {
        Self(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }
}

impl Default for Pen {
    fn default() -> Self {
        Self::EXAMPLE
    }
}

/// Blocks needed for a payload of `len` bytes.
pub fn blocks_for(len: usize) -> usize {
    if len <= BLOCK0_PAYLOAD {
        1
    } else {
        1 + (len - BLOCK0_PAYLOAD).div_ceil(BLOCK_LEN)
    }
}

/// Encodes the payload (header, body, CRC) for `params`.
///
/// # Errors
/// [`EncodeError::Invalid`] when the parameters fail validation; [`EncodeError::TooLong`]
/// when the payload exceeds what 256 blocks hold.
pub fn encode_payload(params: &PublicBootParams) -> Result<Vec<u8>, EncodeError> {
    params.validate()?;
    let mut out = Vec::with_capacity(128);
    out.put_u8(MAILBOX_FORMAT_VERSION);
    out.put_u16_le(0); // patched below
    let auth_kind: u8 = match params.auth {
        AuthSummary::None => 0,
        AuthSummary::Chap { .. } => 1,
        AuthSummary::MutualChap { .. } => 2,
    };
    out.put_u8(u8::from(params.secondary.is_some()) | (auth_kind << 1));
    wire::put_str8(
        &mut out,
        "initiator name",
        params.initiator_name.as_str().as_bytes(),
    )?;
    wire::put_network(&mut out, &params.network)?;
    for t in core::iter::once(&params.primary).chain(params.secondary.as_ref()) {
        wire::put_str8(&mut out, "target name", t.name.as_str().as_bytes())?;
        wire::put_portal(&mut out, t);
    }
    match &params.auth {
        AuthSummary::None => {}
        AuthSummary::Chap { user } => wire::put_str8(&mut out, "chap user", user.as_bytes())?,
        AuthSummary::MutualChap { user, target_user } => {
            wire::put_str8(&mut out, "chap user", user.as_bytes())?;
            wire::put_str8(&mut out, "target chap user", target_user.as_bytes())?;
        }
    }
    let total = out.len() + CRC_LEN;
    let max = BLOCK0_PAYLOAD + (MAX_BLOCKS - 1) * BLOCK_LEN;
    let len16 = u16::try_from(total)
        .ok()
        .filter(|_| total <= max)
        .ok_or(EncodeError::TooLong {
            what: "mailbox payload",
            len: total,
            max,
        })?;
    out[1..3].copy_from_slice(&len16.to_le_bytes());
    let crc = wire::crc16(&out);
    out.put_u16_le(crc);
    Ok(out)
}

/// Splits a payload into mailbox blocks under `pen`.
pub fn payload_to_blocks(pen: Pen, payload: &[u8]) -> Vec<Block> {
    let mut stream = Vec::with_capacity(3 + payload.len());
    stream.extend_from_slice(&pen.to_bytes());
    stream.extend_from_slice(payload);
    stream
        .chunks(BLOCK_LEN)
        .zip(0u8..=u8::MAX)
        .map(|(chunk, index)| {
            let mut data = [0u8; BLOCK_LEN];
            data[..chunk.len()].copy_from_slice(chunk);
            Block { index, data }
        })
        .collect()
}

/// Encodes `params` as mailbox blocks, checking them against `capacity` blocks.
///
/// # Errors
/// As [`encode_payload`], plus [`EncodeError::MailboxTooSmall`].
pub fn encode_blocks(
    pen: Pen,
    params: &PublicBootParams,
    capacity: usize,
) -> Result<Vec<Block>, EncodeError> {
    let payload = encode_payload(params)?;
    let needed = blocks_for(payload.len());
    if needed > capacity {
        return Err(EncodeError::MailboxTooSmall {
            needed,
            bytes: payload.len(),
            capacity,
        });
    }
    Ok(payload_to_blocks(pen, &payload))
}

/// From block 0: the enterprise number check and the total block count the payload needs.
///
/// # Errors
/// [`DecodeError::Enterprise`] for another PEN, [`DecodeError::Version`] for an unknown
/// format, [`DecodeError::DeclaredLength`] for an impossible length.
pub fn blocks_declared(pen: Pen, block0: &Block) -> Result<usize, DecodeError> {
    let found = Pen::from_bytes([block0.data[0], block0.data[1], block0.data[2]]);
    if found != pen {
        return Err(DecodeError::Enterprise {
            expected: pen.get(),
            found: found.get(),
        });
    }
    let version = block0.data[3];
    if version != MAILBOX_FORMAT_VERSION {
        return Err(DecodeError::Version {
            what: "mailbox payload",
            found: version,
            expected: MAILBOX_FORMAT_VERSION,
        });
    }
    let declared = usize::from(u16::from_le_bytes([block0.data[4], block0.data[5]]));
    let max = BLOCK0_PAYLOAD + (MAX_BLOCKS - 1) * BLOCK_LEN;
    if !(HEADER_LEN + CRC_LEN..=max).contains(&declared) {
        return Err(DecodeError::DeclaredLength {
            what: "mailbox payload length",
            at: 4,
            declared,
            min: HEADER_LEN + CRC_LEN,
            max,
        });
    }
    Ok(blocks_for(declared))
}

/// Decodes mailbox blocks (in order, starting at block 0) under `pen`.
///
/// Offsets in errors count from the start of block 0 (the PEN is bytes 0..3).
///
/// # Errors
/// Any [`DecodeError`]: wrong PEN, version, length, CRC, or a malformed field.
pub fn decode_blocks(pen: Pen, blocks: &[Block]) -> Result<PublicBootParams, DecodeError> {
    let Some(first) = blocks.first() else {
        return Err(DecodeError::Truncated {
            what: "mailbox block 0",
            at: 0,
            need: BLOCK_LEN,
            have: 0,
        });
    };
    let needed = blocks_declared(pen, first)?;
    if blocks.len() < needed {
        return Err(DecodeError::Truncated {
            what: "mailbox blocks",
            at: blocks.len() * BLOCK_LEN,
            need: needed * BLOCK_LEN,
            have: blocks.len() * BLOCK_LEN,
        });
    }
    for (i, b) in blocks.iter().take(needed).enumerate() {
        if usize::from(b.index) != i {
            return Err(DecodeError::Mismatch {
                what: "block",
                expected: u8::try_from(i).unwrap_or(u8::MAX),
                found: b.index,
            });
        }
    }
    let mut stream = Vec::with_capacity(needed * BLOCK_LEN);
    for b in &blocks[..needed] {
        stream.extend_from_slice(&b.data);
    }
    decode_payload(&stream[3..], 3)
}

/// Decodes a payload (starting at the format version byte); `base` is its offset for
/// error messages. Bytes after the declared length are ignored (block padding).
///
/// # Errors
/// Any [`DecodeError`].
pub fn decode_payload(bytes: &[u8], base: usize) -> Result<PublicBootParams, DecodeError> {
    let mut head = Reader::new(bytes, base);
    let version = head.u8("mailbox version")?;
    if version != MAILBOX_FORMAT_VERSION {
        return Err(DecodeError::Version {
            what: "mailbox payload",
            found: version,
            expected: MAILBOX_FORMAT_VERSION,
        });
    }
    let declared = usize::from(head.u16_le("mailbox length")?);
    if declared < HEADER_LEN + CRC_LEN {
        return Err(DecodeError::DeclaredLength {
            what: "mailbox payload length",
            at: base + 1,
            declared,
            min: HEADER_LEN + CRC_LEN,
            max: usize::from(u16::MAX),
        });
    }
    let payload = bytes.get(..declared).ok_or(DecodeError::Truncated {
        what: "mailbox payload",
        at: base,
        need: declared,
        have: bytes.len(),
    })?;
    let (body, crc) = payload.split_at(declared - CRC_LEN);
    let stored = u16::from_le_bytes([crc[0], crc[1]]);
    let computed = wire::crc16(body);
    if stored != computed {
        return Err(DecodeError::Crc {
            what: "mailbox payload",
            at: base + declared - CRC_LEN,
            expected: stored,
            actual: computed,
        });
    }
    let mut r = Reader::new(&body[3..], base + 3);
    let flags_at = r.offset();
    let flags = r.u8("mailbox flags")?;
    let auth_kind = (flags >> 1) & 0x03;
    if flags & 0xf8 != 0 || auth_kind == 3 {
        return Err(DecodeError::Value {
            what: "mailbox flags",
            at: flags_at,
            value: flags,
        });
    }
    let (at, n) = r.str8("initiator name")?;
    let initiator_name = wire::name("initiator name", at + 1, n)?;
    let network = wire::get_network(&mut r)?;
    let read_target = |r: &mut Reader<'_>| {
        let (at, n) = r.str8("target name")?;
        let name = wire::name("target name", at + 1, n)?;
        Ok::<_, DecodeError>(wire::target(name, wire::get_portal(r)?))
    };
    let primary = read_target(&mut r)?;
    let secondary = if flags & 1 != 0 {
        Some(read_target(&mut r)?)
    } else {
        None
    };
    let user = |r: &mut Reader<'_>, what: &'static str| {
        let (at, u) = r.str8(what)?;
        let s = wire::text(what, at + 1, u)?;
        validate_chap_name(what, s).map_err(|source| DecodeError::Params { what, at, source })?;
        Ok::<_, DecodeError>(s.to_owned())
    };
    let auth = match auth_kind {
        0 => AuthSummary::None,
        1 => AuthSummary::Chap {
            user: user(&mut r, "chap user")?,
        },
        _ => AuthSummary::MutualChap {
            user: user(&mut r, "chap user")?,
            target_user: user(&mut r, "target chap user")?,
        },
    };
    r.finish("mailbox payload")?;
    Ok(PublicBootParams {
        initiator_name,
        network,
        primary,
        secondary,
        auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{IscsiName, IscsiTarget, Lun};

    fn small() -> PublicBootParams {
        PublicBootParams {
            initiator_name: IscsiName::new("iqn.2024-01.org.example:n1").unwrap(),
            network: crate::params::InitiatorNetwork::dhcp(),
            primary: IscsiTarget {
                name: IscsiName::new("iqn.2024-01.org.example:d1").unwrap(),
                address: "192.0.2.10".parse().unwrap(),
                port: 3260,
                lun: Lun::new(1).unwrap(),
            },
            secondary: None,
            auth: AuthSummary::None,
        }
    }

    #[test]
    fn pen_is_written_ls_byte_first() {
        let blocks = encode_blocks(Pen::new(0x01_0203).unwrap(), &small(), 5).unwrap();
        assert_eq!(
            blocks[0].data[..4],
            [0x03, 0x02, 0x01, MAILBOX_FORMAT_VERSION]
        );
    }

    #[test]
    fn small_configuration_fits_the_spec_minimum_and_round_trips() {
        let p = small();
        let payload = encode_payload(&p).unwrap();
        assert!(
            payload.len() <= BLOCK0_PAYLOAD + 4 * BLOCK_LEN,
            "{}",
            payload.len()
        );
        let blocks = encode_blocks(Pen::EXAMPLE, &p, MIN_SPEC_BLOCKS).unwrap();
        assert_eq!(decode_blocks(Pen::EXAMPLE, &blocks).unwrap(), p);
    }

    #[test]
    fn too_small_mailbox_names_the_oem_dialect() {
        let err = encode_blocks(Pen::EXAMPLE, &small(), 2).unwrap_err();
        assert!(matches!(
            err,
            EncodeError::MailboxTooSmall { capacity: 2, .. }
        ));
        assert!(err.to_string().contains("oem dialect"), "{err}");
    }

    #[test]
    fn rejects_corrupted_crc_and_foreign_pen() {
        let mut blocks = encode_blocks(Pen::EXAMPLE, &small(), 16).unwrap();
        assert!(matches!(
            decode_blocks(Pen::IBM, &blocks),
            Err(DecodeError::Enterprise { .. })
        ));
        blocks[1].data[0] ^= 0x20;
        assert!(matches!(
            decode_blocks(Pen::EXAMPLE, &blocks),
            Err(DecodeError::Crc { .. }) | Err(DecodeError::Params { .. })
        ));
    }
}
