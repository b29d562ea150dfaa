//! Bounded reassembly of multi-PDU messages (RFC 4171 §5.3): PDUs of one message share a
//! transaction ID, carry FIRST on the first and LAST on the last, and count sequence IDs
//! up from 0. Fragments must arrive in order (TCP); a gap is an error.

use crate::{DecodeError, FunctionId, Message, Pdu, PduFlags};

/// Default cap on bytes held for partial messages.
pub const DEFAULT_REASSEMBLY_CAP: usize = 1 << 20;
/// Default limit of messages being reassembled at once.
pub const DEFAULT_MAX_PARTIAL: usize = 16;

/// A message put together from several PDUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    /// Function ID.
    pub function: FunctionId,
    /// Flags of the first PDU.
    pub flags: PduFlags,
    /// Transaction ID.
    pub xid: u16,
    /// The concatenated payloads.
    pub payload: Vec<u8>,
}

impl Assembled {
    /// The message as typed lists.
    ///
    /// # Errors
    /// Any framing or value error of the payload.
    pub fn message(&self) -> Result<Message<'_>, DecodeError> {
        Message::decode_parts(self.function, self.flags, self.xid, &self.payload, 0)
    }
}

/// What one PDU completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reassembly<'p> {
    /// The PDU is a whole message by itself (no copy made).
    Whole(Pdu<'p>),
    /// The PDU completed a multi-PDU message.
    Assembled(Assembled),
    /// More PDUs are needed.
    Pending,
}

#[derive(Debug)]
struct Partial {
    xid: u16,
    function: FunctionId,
    flags: PduFlags,
    next_seq: u16,
    payload: Vec<u8>,
}

/// Collects fragments of multi-PDU messages within a memory cap.
#[derive(Debug)]
pub struct Reassembler {
    cap: usize,
    max_partial: usize,
    held: usize,
    partial: Vec<Partial>,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(DEFAULT_REASSEMBLY_CAP, DEFAULT_MAX_PARTIAL)
    }
}

impl Reassembler {
    /// A reassembler holding at most `cap` payload bytes over at most `max_partial`
    /// messages in progress.
    #[must_use]
    pub fn new(cap: usize, max_partial: usize) -> Reassembler {
        Reassembler {
            cap,
            max_partial,
            held: 0,
            partial: Vec::new(),
        }
    }

    /// Payload bytes currently held.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Messages currently in progress.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    fn drop_partial(&mut self, i: usize) {
        let p = self.partial.swap_remove(i);
        self.held -= p.payload.len();
    }

    /// Feeds one PDU.
    ///
    /// # Errors
    /// [`DecodeError::MissingFirstPdu`], [`DecodeError::UnexpectedSequence`],
    /// [`DecodeError::FunctionMismatch`], [`DecodeError::ReassemblyCapExceeded`] or
    /// [`DecodeError::TooManyPartialMessages`]; the message in progress is dropped.
    pub fn push<'p>(&mut self, pdu: &Pdu<'p>) -> Result<Reassembly<'p>, DecodeError> {
        let flags = pdu.flags();
        let xid = pdu.xid();
        let slot = self.partial.iter().position(|p| p.xid == xid);
        if flags.contains(PduFlags::FIRST_PDU) {
            // A new FIRST replaces an unfinished message with the same transaction ID.
            if let Some(i) = slot {
                self.drop_partial(i);
            }
            if flags.contains(PduFlags::LAST_PDU) {
                return Ok(Reassembly::Whole(*pdu));
            }
            if pdu.seq() != 0 {
                return Err(DecodeError::UnexpectedSequence {
                    xid,
                    expected: 0,
                    got: pdu.seq(),
                });
            }
            if self.partial.len() >= self.max_partial {
                return Err(DecodeError::TooManyPartialMessages {
                    max: self.max_partial,
                });
            }
            self.reserve(xid, pdu.payload_len())?;
            self.partial.push(Partial {
                xid,
                function: pdu.function(),
                flags,
                next_seq: 1,
                payload: pdu.payload().to_vec(),
            });
            return Ok(Reassembly::Pending);
        }
        let Some(i) = slot else {
            return Err(DecodeError::MissingFirstPdu { xid });
        };
        let (expected, function) = (self.partial[i].next_seq, self.partial[i].function);
        if pdu.seq() != expected {
            self.drop_partial(i);
            return Err(DecodeError::UnexpectedSequence {
                xid,
                expected,
                got: pdu.seq(),
            });
        }
        if pdu.function() != function {
            self.drop_partial(i);
            return Err(DecodeError::FunctionMismatch {
                xid,
                expected: function,
                got: pdu.function(),
            });
        }
        if let Err(e) = self.reserve(xid, pdu.payload_len()) {
            self.drop_partial(i);
            return Err(e);
        }
        let p = &mut self.partial[i];
        p.payload.extend_from_slice(pdu.payload());
        p.next_seq = p.next_seq.wrapping_add(1);
        if !flags.contains(PduFlags::LAST_PDU) {
            return Ok(Reassembly::Pending);
        }
        let p = self.partial.swap_remove(i);
        self.held -= p.payload.len();
        Ok(Reassembly::Assembled(Assembled {
            function: p.function,
            flags: p.flags,
            xid: p.xid,
            payload: p.payload,
        }))
    }

    fn reserve(&mut self, xid: u16, n: usize) -> Result<(), DecodeError> {
        if self.held.saturating_add(n) > self.cap {
            return Err(DecodeError::ReassemblyCapExceeded { xid, cap: self.cap });
        }
        self.held += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::{Segmenter, Status, Tag};

    fn segmented(names: &[String], xid: u16) -> BytesMut {
        let mut m = Message::response(FunctionId::DEV_ATTR_QRY, xid, Status::SUCCESSFUL);
        for n in names {
            m = m.op(Tag::ISCSI_NAME, n.as_str());
        }
        let mut out = BytesMut::new();
        Segmenter::new(256).unwrap().encode(&m, &mut out).unwrap();
        out
    }

    fn pdus(b: &[u8]) -> Vec<Pdu<'_>> {
        let mut v = Vec::new();
        let mut rest = b;
        while !rest.is_empty() {
            let (p, n) = Pdu::parse_prefix(rest).unwrap();
            v.push(p);
            rest = &rest[n..];
        }
        v
    }

    #[test]
    fn reassembles_segmented_message_to_the_same_attributes() {
        let names: Vec<String> = (0..40).map(|i| format!("iqn.2000-01.test:n{i}")).collect();
        let bytes = segmented(&names, 9);
        let mut r = Reassembler::default();
        let mut done = None;
        for p in pdus(&bytes) {
            if let Reassembly::Assembled(a) = r.push(&p).unwrap() {
                done = Some(a);
            }
        }
        let a = done.unwrap();
        let m = a.message().unwrap();
        assert_eq!(m.operating.len(), names.len());
        assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn rejects_sequence_gap() {
        let names: Vec<String> = (0..40).map(|i| format!("iqn.2000-01.test:n{i}")).collect();
        let bytes = segmented(&names, 9);
        let list = pdus(&bytes);
        let mut r = Reassembler::default();
        r.push(&list[0]).unwrap();
        assert_eq!(
            r.push(&list[2]),
            Err(DecodeError::UnexpectedSequence {
                xid: 9,
                expected: 1,
                got: 2
            })
        );
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn rejects_growth_past_cap() {
        let names: Vec<String> = (0..40).map(|i| format!("iqn.2000-01.test:n{i}")).collect();
        let bytes = segmented(&names, 9);
        let mut r = Reassembler::new(300, 4);
        let mut err = None;
        for p in pdus(&bytes) {
            if let Err(e) = r.push(&p) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(
            err,
            Some(DecodeError::ReassemblyCapExceeded { xid: 9, cap: 300 })
        );
        assert!(r.held_bytes() <= 300);
    }

    #[test]
    fn rejects_continuation_without_first() {
        let names: Vec<String> = (0..40).map(|i| format!("iqn.2000-01.test:n{i}")).collect();
        let bytes = segmented(&names, 9);
        let list = pdus(&bytes);
        let mut r = Reassembler::default();
        assert_eq!(
            r.push(&list[1]),
            Err(DecodeError::MissingFirstPdu { xid: 9 })
        );
    }
}
