//! Splitting an outgoing message into PDUs (RFC 4171 §5.3) at attribute boundaries.
//!
//! open-isns reads at most 8 KiB per PDU and cannot reassemble, so the default PDU size is
//! [`OPEN_ISNS_MAX_PDU_LEN`]; a message that fits one PDU goes out as FIRST|LAST.

use bytes::BytesMut;

use crate::pdu::{HEADER_LEN, MAX_PAYLOAD_LEN};
use crate::{EncodeError, Message, PduFlags, Tag};

/// Largest PDU open-isns accepts (its `ISNS_MAX_MESSAGE` receive buffer), header included.
pub const OPEN_ISNS_MAX_PDU_LEN: usize = 8192;

/// Smallest PDU size a segmenter accepts: a header and one small attribute.
pub const MIN_SEGMENT_PDU_LEN: usize = HEADER_LEN + 16;

/// Writes messages as one or more PDUs no larger than a chosen size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segmenter {
    max_pdu_len: usize,
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter {
            max_pdu_len: OPEN_ISNS_MAX_PDU_LEN,
        }
    }
}

impl Segmenter {
    /// A segmenter for PDUs of at most `max_pdu_len` bytes (header included).
    ///
    /// # Errors
    /// [`EncodeError::PayloadTooLarge`] when `max_pdu_len` is below [`MIN_SEGMENT_PDU_LEN`].
    pub fn new(max_pdu_len: usize) -> Result<Segmenter, EncodeError> {
        if max_pdu_len < MIN_SEGMENT_PDU_LEN {
            return Err(EncodeError::PayloadTooLarge {
                len: MIN_SEGMENT_PDU_LEN,
                max: max_pdu_len,
            });
        }
        Ok(Segmenter { max_pdu_len })
    }

    /// The PDU size limit.
    #[must_use]
    pub fn max_pdu_len(&self) -> usize {
        self.max_pdu_len
    }

    fn max_payload(self) -> usize {
        // Payloads stay 4-aligned and within the 16-bit length field.
        ((self.max_pdu_len - HEADER_LEN) & !3).min(MAX_PAYLOAD_LEN)
    }

    /// Writes `msg` as PDUs sharing its transaction ID, sequence IDs 0, 1, 2...; returns
    /// how many PDUs were written.
    ///
    /// # Errors
    /// Any [`Message`] error, or [`EncodeError::AttrTooLarge`] when one attribute alone
    /// does not fit. Nothing is written on error.
    pub fn encode(&self, msg: &Message<'_>, out: &mut BytesMut) -> Result<usize, EncodeError> {
        let payload_len = msg.payload_len()?;
        let mut payload = BytesMut::with_capacity(payload_len);
        let mut cuts: Vec<(usize, usize)> = Vec::new();
        let max = self.max_payload();
        let (mut start, mut end) = (0usize, 0usize);
        let mut too_large: Option<(Tag, usize)> = None;
        msg.write_payload_marked(&mut payload, |b, tag| {
            if too_large.is_some() {
                return;
            }
            if b - start > max {
                if end > start {
                    cuts.push((start, end));
                    start = end;
                }
                if b - start > max {
                    too_large = Some((tag, b - start));
                    return;
                }
            }
            end = b;
        })?;
        if let Some((tag, len)) = too_large {
            return Err(EncodeError::AttrTooLarge {
                tag,
                len,
                max: self.max_pdu_len,
            });
        }
        if end > start || cuts.is_empty() {
            cuts.push((start, end));
        }
        let count = cuts.len();
        out.reserve(payload.len() + count * HEADER_LEN);
        for (i, (a, b)) in cuts.iter().copied().enumerate() {
            let mut position = PduFlags::empty();
            if i == 0 {
                position |= PduFlags::FIRST_PDU;
            }
            if i + 1 == count {
                position |= PduFlags::LAST_PDU;
            }
            let len = u16::try_from(b - a).map_err(|_| EncodeError::PayloadTooLarge {
                len: b - a,
                max: self.max_pdu_len,
            })?;
            let seq = u16::try_from(i).map_err(|_| EncodeError::PayloadTooLarge {
                len: payload_len,
                max: self.max_pdu_len,
            })?;
            msg.write_header(out, len, position, seq);
            out.extend_from_slice(payload.get(a..b).unwrap_or(&[]));
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FunctionId, Pdu, Status};

    fn big_response(nodes: usize) -> Vec<String> {
        (0..nodes)
            .map(|i| format!("iqn.2000-01.test:node-{i:05}"))
            .collect()
    }

    #[test]
    fn small_message_is_one_pdu_with_first_and_last() {
        let m = Message::dev_attr_qry(3, "iqn.a").query(Tag::ISCSI_NAME);
        let mut out = BytesMut::new();
        assert_eq!(Segmenter::default().encode(&m, &mut out).unwrap(), 1);
        let mut single = BytesMut::new();
        m.encode(&mut single).unwrap();
        assert_eq!(out, single);
    }

    #[test]
    fn large_message_splits_at_attribute_boundaries_within_limit() {
        let names = big_response(800);
        let mut m = Message::response(FunctionId::DEV_ATTR_QRY, 5, Status::SUCCESSFUL);
        for n in &names {
            m = m.op(Tag::ISCSI_NAME, n.as_str());
        }
        let mut out = BytesMut::new();
        let count = Segmenter::default().encode(&m, &mut out).unwrap();
        assert!(count > 1);
        let mut rest = &out[..];
        let mut seen = 0;
        for i in 0..count {
            let (pdu, used) = Pdu::parse_prefix(rest).unwrap();
            assert!(used <= OPEN_ISNS_MAX_PDU_LEN);
            assert_eq!(pdu.seq(), u16::try_from(i).unwrap());
            assert_eq!(pdu.flags().contains(PduFlags::FIRST_PDU), i == 0);
            assert_eq!(pdu.flags().contains(PduFlags::LAST_PDU), i + 1 == count);
            let attrs = if i == 0 {
                crate::Attrs::new(&pdu.payload()[4..], 16)
            } else {
                crate::Attrs::new(pdu.payload(), 12)
            };
            for a in attrs {
                a.unwrap();
                seen += 1;
            }
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(seen, names.len());
    }

    #[test]
    fn rejects_attribute_larger_than_pdu() {
        let m = Message::dev_attr_qry(3, "iqn.a").op(Tag::PORTAL_CERTIFICATE, &[0u8; 64][..]);
        let mut out = BytesMut::new();
        let e = Segmenter::new(40)
            .unwrap()
            .encode(&m, &mut out)
            .unwrap_err();
        assert!(matches!(e, EncodeError::AttrTooLarge { len: 72, .. }));
        assert!(out.is_empty());
    }
}
