//! The OEM dialect: iSCSI boot parameters in OEM boot-option parameters 96–127.
//!
//! Every OEM parameter holds one *record* of 0..=255 bytes, carried as a length byte
//! followed by the record, zero-padded to a multiple of 16 and split into 16-byte blocks
//! addressed by the set selector (at most 16 blocks):
//! ```text
//! Set System Boot Options:  [param] [block#] [16 bytes of (len | record | zero pad)]
//! Get System Boot Options:  [param] [block#] [0x00]
//!   response:               [0x01] [param | invalid bit] [block#] [16 bytes]
//! block# past the record area (>= 16) → completion code 0xC9
//! ```
//! Parameters (numbers chosen to stay clear of OpenPOWER's 0x61 network override):
//! ```text
//! 0x60  dialect info (read-only): version = 1 | max blocks per record = 16 | flags
//!       ([0] secrets accepted)
//! 0x62  control, written LAST: version = 1 | flags ([0] iSCSI boot enabled). The BMC
//!       validates all records on this write and answers 0xCC when they are inconsistent.
//! 0x63  initiator name (text, 1..=223 bytes)
//! 0x64  initiator network: flags ([0] static, [1] VLAN) | VLAN (2, LS first, if [1]) |
//!       if static: ip | prefix (1) | gateway ip? | DNS count (1, 0..=2) | ip × count
//! 0x65  primary target portal: ip | TCP port (2, LS first) | LUN (8, SAM)
//! 0x66  primary target name (text)
//! 0x67  secondary target portal (empty record = no secondary target)
//! 0x68  secondary target name (text; empty when no secondary)
//! 0x69  authentication: kind (1: 0 none, 1 CHAP, 2 mutual) | user len (1) + user |
//!       target user len (1) + target user   (absent parts omitted)
//! 0x6A  CHAP secret (write-only; Get returns the length byte and zeros)
//! 0x6B  reverse (target) CHAP secret (write-only, as 0x6A)
//! ip = family (1): 4 → 4 bytes, 6 → 16 bytes; ip? also allows 0 = absent.
//! ```
//! Secrets are only encoded when the caller asserts that the session encrypts its payloads
//! (RMCP+ confidentiality); otherwise [`EncodeError::SecretsNeedConfidentiality`].

use bytes::BufMut;

use crate::params::{
    AuthSummary, Authentication, IscsiBootParams, PublicBootParams, validate_chap_name,
};

use super::error::{DecodeError, EncodeError};
use super::param::BootParam;
use super::standard::{BLOCK_LEN, Block};
use super::wire::{self, Reader};

/// Version of this OEM dialect.
pub const OEM_DIALECT_VERSION: u8 = 1;
/// Longest record.
pub const MAX_RECORD_LEN: usize = 255;
/// Blocks per record (1 length byte + 255 bytes = 256 = 16 × 16).
pub const MAX_RECORD_BLOCKS: usize = 16;
/// Control flag: iSCSI boot enabled.
pub const CONTROL_ENABLE: u8 = 0x01;
/// Dialect info flag: the BMC accepts CHAP secrets.
pub const INFO_SECRETS_ACCEPTED: u8 = 0x01;

/// Parameters holding records, in the order the writer sends them (control excluded).
pub const RECORD_PARAMS: [BootParam; 9] = [
    BootParam::OEM_INITIATOR_NAME,
    BootParam::OEM_INITIATOR_NETWORK,
    BootParam::OEM_PRIMARY_PORTAL,
    BootParam::OEM_PRIMARY_NAME,
    BootParam::OEM_SECONDARY_PORTAL,
    BootParam::OEM_SECONDARY_NAME,
    BootParam::OEM_AUTH,
    BootParam::OEM_CHAP_SECRET,
    BootParam::OEM_REVERSE_CHAP_SECRET,
];

/// Whether Get on `param` must hide the record contents.
pub fn is_write_only(param: BootParam) -> bool {
    param == BootParam::OEM_CHAP_SECRET || param == BootParam::OEM_REVERSE_CHAP_SECRET
}

/// Blocks a record of `len` bytes occupies.
pub fn record_blocks(len: usize) -> usize {
    (1 + len).div_ceil(BLOCK_LEN)
}

/// Frames a record as blocks.
///
/// # Errors
/// [`EncodeError::TooLong`] above 255 bytes.
pub fn record_to_blocks(record: &[u8]) -> Result<Vec<Block>, EncodeError> {
    let len = u8::try_from(record.len()).map_err(|_| EncodeError::TooLong {
        what: "oem record",
        len: record.len(),
        max: MAX_RECORD_LEN,
    })?;
    let mut stream = Vec::with_capacity(1 + record.len());
    stream.push(len);
    stream.extend_from_slice(record);
    Ok(stream
        .chunks(BLOCK_LEN)
        .zip(0u8..)
        .map(|(chunk, index)| {
            let mut data = [0u8; BLOCK_LEN];
            data[..chunk.len()].copy_from_slice(chunk);
            Block { index, data }
        })
        .collect())
}

/// Joins blocks 0.. of a record and returns the record bytes.
///
/// # Errors
/// [`DecodeError::Truncated`] when blocks are missing, [`DecodeError::Mismatch`] when a
/// block is out of order.
pub fn record_from_blocks(blocks: &[Block]) -> Result<Vec<u8>, DecodeError> {
    let first = blocks.first().ok_or(DecodeError::Truncated {
        what: "oem record block 0",
        at: 0,
        need: 1,
        have: 0,
    })?;
    let len = usize::from(first.data[0]);
    let needed = record_blocks(len);
    if blocks.len() < needed {
        return Err(DecodeError::Truncated {
            what: "oem record",
            at: blocks.len() * BLOCK_LEN,
            need: needed * BLOCK_LEN,
            have: blocks.len() * BLOCK_LEN,
        });
    }
    let mut stream = Vec::with_capacity(needed * BLOCK_LEN);
    for (i, b) in blocks.iter().take(needed).enumerate() {
        if usize::from(b.index) != i {
            return Err(DecodeError::Mismatch {
                what: "block",
                expected: u8::try_from(i).unwrap_or(u8::MAX),
                found: b.index,
            });
        }
        stream.extend_from_slice(&b.data);
    }
    Ok(stream[1..=len].to_vec())
}

/// The records for `params`, in write order, ending with the control record.
///
/// # Errors
/// [`EncodeError::Invalid`] for invalid parameters, [`EncodeError::SecretsNeedConfidentiality`]
/// when CHAP is configured and `confidential` is false.
pub fn encode_records(
    params: &IscsiBootParams,
    confidential: bool,
    enable: bool,
) -> Result<Vec<(BootParam, Vec<u8>)>, EncodeError> {
    params.validate()?;
    if !matches!(params.auth, Authentication::None) && !confidential {
        return Err(EncodeError::SecretsNeedConfidentiality);
    }
    let public = params.without_secrets();
    let mut out = public_records(&public)?;
    if let Some(c) = params.auth.initiator() {
        out.push((
            BootParam::OEM_CHAP_SECRET,
            c.secret.expose().as_bytes().to_vec(),
        ));
    } else {
        out.push((BootParam::OEM_CHAP_SECRET, Vec::new()));
    }
    if let Some(c) = params.auth.target() {
        out.push((
            BootParam::OEM_REVERSE_CHAP_SECRET,
            c.secret.expose().as_bytes().to_vec(),
        ));
    } else {
        out.push((BootParam::OEM_REVERSE_CHAP_SECRET, Vec::new()));
    }
    out.push((BootParam::OEM_CONTROL, control_record(enable).to_vec()));
    Ok(out)
}

/// The control record.
pub fn control_record(enable: bool) -> [u8; 2] {
    [OEM_DIALECT_VERSION, if enable { CONTROL_ENABLE } else { 0 }]
}

/// The dialect-info record a BMC answers for parameter 0x60.
pub fn info_record() -> [u8; 3] {
    [
        OEM_DIALECT_VERSION,
        u8::try_from(MAX_RECORD_BLOCKS).unwrap_or(u8::MAX),
        INFO_SECRETS_ACCEPTED,
    ]
}

fn public_records(p: &PublicBootParams) -> Result<Vec<(BootParam, Vec<u8>)>, EncodeError> {
    let mut net = Vec::new();
    wire::put_network(&mut net, &p.network)?;
    let mut primary = Vec::new();
    wire::put_portal(&mut primary, &p.primary);
    let mut secondary = Vec::new();
    if let Some(t) = &p.secondary {
        wire::put_portal(&mut secondary, t);
    }
    let mut auth = Vec::new();
    match &p.auth {
        AuthSummary::None => auth.put_u8(0),
        AuthSummary::Chap { user } => {
            auth.put_u8(1);
            wire::put_str8(&mut auth, "chap user", user.as_bytes())?;
        }
        AuthSummary::MutualChap { user, target_user } => {
            auth.put_u8(2);
            wire::put_str8(&mut auth, "chap user", user.as_bytes())?;
            wire::put_str8(&mut auth, "target chap user", target_user.as_bytes())?;
        }
    }
    Ok(vec![
        (
            BootParam::OEM_INITIATOR_NAME,
            p.initiator_name.as_str().as_bytes().to_vec(),
        ),
        (BootParam::OEM_INITIATOR_NETWORK, net),
        (BootParam::OEM_PRIMARY_PORTAL, primary),
        (
            BootParam::OEM_PRIMARY_NAME,
            p.primary.name.as_str().as_bytes().to_vec(),
        ),
        (BootParam::OEM_SECONDARY_PORTAL, secondary),
        (
            BootParam::OEM_SECONDARY_NAME,
            p.secondary
                .as_ref()
                .map(|t| t.name.as_str().as_bytes().to_vec())
                .unwrap_or_default(),
        ),
        (BootParam::OEM_AUTH, auth),
    ])
}

/// What the OEM parameters hold, as a manager reads it back (no secret contents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OemReadBack {
    /// The parameters.
    pub params: PublicBootParams,
    /// Length of the stored CHAP secret (0 = none).
    pub chap_secret_len: usize,
    /// Length of the stored reverse CHAP secret (0 = none).
    pub reverse_secret_len: usize,
    /// Whether iSCSI boot is enabled (control record).
    pub enabled: bool,
}

/// Decodes the control record; returns the enable flag.
///
/// # Errors
/// [`DecodeError::Length`], [`DecodeError::Version`], [`DecodeError::Value`].
pub fn decode_control(record: &[u8]) -> Result<bool, DecodeError> {
    let [version, flags] = record else {
        return Err(DecodeError::Length {
            what: "oem control record",
            expected: 2,
            actual: record.len(),
        });
    };
    if *version != OEM_DIALECT_VERSION {
        return Err(DecodeError::Version {
            what: "oem control record",
            found: *version,
            expected: OEM_DIALECT_VERSION,
        });
    }
    if flags & !CONTROL_ENABLE != 0 {
        return Err(DecodeError::Value {
            what: "oem control flags",
            at: 1,
            value: *flags,
        });
    }
    Ok(flags & CONTROL_ENABLE != 0)
}

/// Decodes the public records (everything but secrets and control) given a lookup from
/// parameter to record bytes. Offsets in errors are within the failing record.
///
/// # Errors
/// [`DecodeError`] naming the field that failed; a missing record is `Truncated`.
pub fn decode_public<'a>(
    mut record: impl FnMut(BootParam) -> Option<&'a [u8]>,
) -> Result<PublicBootParams, DecodeError> {
    let mut get = |p: BootParam, what: &'static str| {
        record(p).ok_or(DecodeError::Truncated {
            what,
            at: 0,
            need: 1,
            have: 0,
        })
    };
    let initiator_name = wire::name(
        "initiator name",
        0,
        get(BootParam::OEM_INITIATOR_NAME, "initiator name")?,
    )?;
    let mut r = Reader::new(
        get(BootParam::OEM_INITIATOR_NETWORK, "initiator network")?,
        0,
    );
    let network = wire::get_network(&mut r)?;
    r.finish("initiator network record")?;
    let mut r = Reader::new(get(BootParam::OEM_PRIMARY_PORTAL, "primary portal")?, 0);
    let portal = wire::get_portal(&mut r)?;
    r.finish("primary portal record")?;
    let name = wire::name(
        "primary target name",
        0,
        get(BootParam::OEM_PRIMARY_NAME, "primary target name")?,
    )?;
    let primary = wire::target(name, portal);
    let sec_portal = get(BootParam::OEM_SECONDARY_PORTAL, "secondary portal")?;
    let sec_name = get(BootParam::OEM_SECONDARY_NAME, "secondary target name")?;
    let secondary = if sec_portal.is_empty() {
        if !sec_name.is_empty() {
            return Err(DecodeError::Length {
                what: "secondary target name without portal",
                expected: 0,
                actual: sec_name.len(),
            });
        }
        None
    } else {
        let mut r = Reader::new(sec_portal, 0);
        let portal = wire::get_portal(&mut r)?;
        r.finish("secondary portal record")?;
        Some(wire::target(
            wire::name("secondary target name", 0, sec_name)?,
            portal,
        ))
    };
    let mut r = Reader::new(get(BootParam::OEM_AUTH, "authentication")?, 0);
    let user = |r: &mut Reader<'_>, what: &'static str| {
        let (at, u) = r.str8(what)?;
        let s = wire::text(what, at + 1, u)?;
        validate_chap_name(what, s).map_err(|source| DecodeError::Params { what, at, source })?;
        Ok::<_, DecodeError>(s.to_owned())
    };
    let auth = match r.u8("auth kind")? {
        0 => AuthSummary::None,
        1 => AuthSummary::Chap {
            user: user(&mut r, "chap user")?,
        },
        2 => AuthSummary::MutualChap {
            user: user(&mut r, "chap user")?,
            target_user: user(&mut r, "target chap user")?,
        },
        value => {
            return Err(DecodeError::Value {
                what: "auth kind",
                at: 0,
                value,
            });
        }
    };
    r.finish("authentication record")?;
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

    #[test]
    fn record_framing_round_trips_and_bounds_blocks() {
        for len in [0usize, 1, 15, 16, 200, 255] {
            let rec: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let blocks = record_to_blocks(&rec).unwrap();
            assert_eq!(blocks.len(), record_blocks(len));
            assert!(blocks.len() <= MAX_RECORD_BLOCKS);
            assert_eq!(record_from_blocks(&blocks).unwrap(), rec);
        }
        assert!(record_to_blocks(&[0; 256]).is_err());
    }

    #[test]
    fn control_record_rejects_unknown_flags() {
        assert!(decode_control(&control_record(true)).unwrap());
        assert!(decode_control(&[1, 0x81]).is_err());
        assert!(decode_control(&[2, 0]).is_err());
    }
}
