//! Byte-stream framing for one TCP connection: whole PDUs out, at most one PDU (plus the
//! last read) held, a frame longer than the cap rejected before anything is reserved.

use crate::{DecodeError, frame_len};

/// Accumulates a TCP byte stream and cuts it into PDUs.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// Appends received bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Length of the next whole PDU, `None` when more bytes are needed.
    ///
    /// # Errors
    /// A header fault or a PDU longer than `max`: the stream cannot be resynchronised.
    pub(crate) fn next_len(&self, max: usize) -> Result<Option<usize>, DecodeError> {
        match frame_len(&self.buf, max)? {
            Some(n) if n <= self.buf.len() => Ok(Some(n)),
            _ => Ok(None),
        }
    }

    /// The buffered bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the first `n` bytes (a PDU that was handled).
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.buf = Vec::new();
    }

    /// Bytes held.
    pub(crate) fn held(&self) -> usize {
        self.buf.len()
    }
}
