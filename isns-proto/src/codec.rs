//! `tokio_util::codec` framing for iSNSP over TCP (feature `codec`).

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::pdu::{HEADER_LEN, MAX_PAYLOAD_LEN, frame_len};
use crate::{DecodeError, EncodeError, Message, Pdu};

/// Default frame cap: the largest payload plus the largest authentication block.
pub const DEFAULT_MAX_FRAME_LEN: usize = HEADER_LEN + 2 * MAX_PAYLOAD_LEN;

/// Errors of [`IsnsCodec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent bytes that are not an iSNSP PDU.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Splits a byte stream into whole, validated PDUs (each item holds exactly one PDU that
/// [`Pdu::parse`] accepts) and writes [`Message`]s as single PDUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsnsCodec {
    max_frame_len: usize,
}

impl Default for IsnsCodec {
    fn default() -> Self {
        IsnsCodec {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}

impl IsnsCodec {
    /// A codec rejecting PDUs longer than `max_frame_len` bytes before buffering them.
    #[must_use]
    pub fn new(max_frame_len: usize) -> IsnsCodec {
        IsnsCodec { max_frame_len }
    }
}

impl Decoder for IsnsCodec {
    type Item = BytesMut;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        // The length is bounded by the cap before any memory is reserved for it.
        let Some(total) = frame_len(src, self.max_frame_len)? else {
            return Ok(None);
        };
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        let frame = src.split_to(total);
        Pdu::parse(&frame)?;
        Ok(Some(frame))
    }
}

impl Encoder<&Message<'_>> for IsnsCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Message<'_>, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tag;

    #[test]
    fn splits_stream_into_pdus_and_waits_for_more() {
        let mut b = BytesMut::new();
        let mut c = IsnsCodec::default();
        let m = Message::dev_attr_qry(1, "iqn.a").query(Tag::ISCSI_NAME);
        c.encode(&m, &mut b).unwrap();
        c.encode(&m.clone(), &mut b).unwrap();
        let whole = b.clone();
        let mut src = BytesMut::from(&whole[..5]);
        assert!(c.decode(&mut src).unwrap().is_none());
        src.extend_from_slice(&whole[5..]);
        let f1 = c.decode(&mut src).unwrap().unwrap();
        let f2 = c.decode(&mut src).unwrap().unwrap();
        assert_eq!(f1, f2);
        assert!(src.is_empty());
    }

    #[test]
    fn rejects_frame_over_cap_before_reserving() {
        let mut src = BytesMut::from(&[0u8, 1, 0, 2, 0xff, 0xfc, 0x8c, 0, 0, 1, 0, 0][..]);
        let mut c = IsnsCodec::new(8192);
        let e = c.decode(&mut src).unwrap_err();
        assert!(matches!(
            e,
            CodecError::Decode(DecodeError::PduTooLarge {
                len: 65544,
                max: 8192,
                ..
            })
        ));
        assert!(src.capacity() < 8192);
    }
}
