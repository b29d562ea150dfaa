//! Multi-step IPMI command sequences as sans-IO state machines.

use super::message::{Request, Response};

/// A multi-step IPMI command sequence that a transport drives, one request at a time.
///
/// The exchange decides what to send next from the responses it has seen; it owns no
/// socket, clock or session. The contract between an exchange and its driver:
///
/// 1. The driver calls [`Exchange::poll_request`]. `None` means the exchange is finished
///    (successfully or not); its owner then reads the outcome from the exchange's own API.
/// 2. For `Some(request)`, the driver sends the request and calls
///    [`Exchange::handle_response`] exactly once with the BMC's response (whatever its
///    completion code) before it polls again. A completion code is data for the exchange
///    to judge, never a driver error.
/// 3. When the transport fails (timeout, session lost), the driver stops and reports
///    the transport error; the exchange is left where it was and is not told.
///
/// An exchange must terminate: after a bounded number of responses, `poll_request`
/// returns `None`. Drivers never poll twice without a response in between, so
/// `poll_request` may advance internal state.
///
/// [`drive`] runs an exchange over any synchronous transport (a closure), which is how
/// exchanges are tested in memory; the tokio client offers the same loop as
/// `run_exchange`.
pub trait Exchange {
    /// The next request to send, or `None` when the exchange is finished.
    fn poll_request(&mut self) -> Option<Request>;

    /// The response to the request last returned by [`Exchange::poll_request`].
    fn handle_response(&mut self, response: &Response);
}

impl<E: Exchange + ?Sized> Exchange for &mut E {
    fn poll_request(&mut self) -> Option<Request> {
        (**self).poll_request()
    }

    fn handle_response(&mut self, response: &Response) {
        (**self).handle_response(response);
    }
}

/// Drives `exchange` to completion over a synchronous `transport`; returns how many
/// requests were sent.
///
/// # Errors
/// The first error `transport` returns; the exchange is left mid-way.
pub fn drive<E, T, F>(exchange: &mut E, mut transport: F) -> Result<usize, T>
where
    E: Exchange + ?Sized,
    F: FnMut(&Request) -> Result<Response, T>,
{
    let mut sent = 0usize;
    while let Some(request) = exchange.poll_request() {
        let response = transport(&request)?;
        sent = sent.saturating_add(1);
        exchange.handle_response(&response);
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::{CompletionCode, NetFn};

    /// Reads numbered blocks until the BMC answers with a non-zero completion code.
    struct ReadUntilRefused {
        next: u8,
        blocks: Vec<Vec<u8>>,
        done: bool,
    }

    impl Exchange for ReadUntilRefused {
        fn poll_request(&mut self) -> Option<Request> {
            (!self.done).then(|| Request::new(NetFn::CHASSIS, 0x09, [0x07, self.next, 0]))
        }
        fn handle_response(&mut self, response: &Response) {
            if response.is_ok() {
                self.blocks.push(response.data.clone());
                self.next += 1;
            } else {
                self.done = true;
            }
        }
    }

    #[test]
    fn drive_runs_until_the_exchange_finishes() {
        let mut ex = ReadUntilRefused {
            next: 0,
            blocks: Vec::new(),
            done: false,
        };
        let sent = drive(&mut ex, |req| {
            Ok::<_, ()>(if req.data[1] < 3 {
                Response::ok([1, 7, req.data[1]])
            } else {
                Response::error(CompletionCode::PARAMETER_OUT_OF_RANGE)
            })
        })
        .unwrap();
        assert_eq!(sent, 4);
        assert_eq!(ex.blocks.len(), 3);
    }

    #[test]
    fn drive_stops_at_the_first_transport_error() {
        let mut ex = ReadUntilRefused {
            next: 0,
            blocks: Vec::new(),
            done: false,
        };
        let err = drive(&mut ex, |_| Err::<Response, _>("timeout"));
        assert_eq!(err, Err("timeout"));
        assert!(ex.blocks.is_empty());
    }
}
