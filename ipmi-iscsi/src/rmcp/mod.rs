//! RMCP/RMCP+ (IPMI v2.0 "lanplus"): packet codec, cryptography, cipher suites, and the
//! sans-IO client and responder sessions.
//!
//! Layers, bottom up:
//! - [`Packet`] / [`Seal`]: RMCP header, IPMI v1.5 session-less wrapper, RMCP+ session
//!   header, integrity pad/trailer, AES-CBC-128 confidentiality (see `packet.rs` diagrams).
//! - [`CipherSuite`], [`RakpTranscript`], [`SessionKeys`]: suites 0-3 and 15-17, the RAKP
//!   HMACs, SIK/K1/K2, AuthCodes. Suite 0 and integrity-less suites need an explicit
//!   `allow_unauthenticated` on both sides.
//! - [`OpenSessionRequest`] .. [`RakpTail`]: the session set-up payloads.
//! - [`ClientSession`]: the remote console (Get Channel Auth Caps, Open Session trying the
//!   configured suites in order, RAKP 1-4 verifying the BMC, Set Session Privilege, IPMI
//!   requests with retransmission, replay window, Close Session).
//! - [`Responder`]: one emulated BMC (users, suites, session bound and idle timeout),
//!   handing authenticated application requests to a dispatcher closure.
//!
//! Nothing here does I/O or reads a clock: time is an argument, randomness a
//! [`RandomSource`]. The tokio drivers live in `crate::driver` (feature `tokio`).
//!
//! ```
//! use std::time::Instant;
//! use ipmi_iscsi::ipmi::{NetFn, Request, Response, app};
//! use ipmi_iscsi::rmcp::{ClientConfig, ClientSession, Event, Password, Responder, ResponderConfig};
//!
//! // Deterministic "randomness" for the example; use a CSPRNG in real code.
//! let counter = |mut n: u8| move |b: &mut [u8]| b.iter_mut().for_each(|x| { n = n.wrapping_add(1); *x = n });
//! let mut bmc = Responder::new(
//!     ResponderConfig::new([7; 16], "admin", Password::new("secret")?),
//!     Box::new(counter(100)),
//! );
//! let mut client = ClientSession::new(ClientConfig::new("admin", Password::new("secret")?), Box::new(counter(1)));
//! let now = Instant::now();
//! client.connect(now);
//! client.send_request(now, Request::new(NetFn::APP, app::GET_DEVICE_ID, []))?;
//! while let Some(datagram) = client.poll_transmit() {
//!     let reply = bmc.handle_datagram(now, &datagram, |_| Response::ok([0x20, 0x01]))?;
//!     if let Some(reply) = reply {
//!         client.handle_input(now, &reply)?;
//!     }
//! }
//! let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
//! assert!(matches!(events[0], Event::Connected { .. }));
//! assert!(matches!(&events[1], Event::Response { response, .. } if response.data == [0x20, 0x01]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod crypto;
mod error;
mod messages;
mod packet;
mod secret;

pub use crypto::{
    AES_BLOCK, AuthAlg, CipherSuite, ConfAlg, CryptError, IntegrityAlg, MAX_MAC_LEN, Mac32,
    RakpTranscript, SessionKeys,
};
pub use error::{AuthFailure, DecodeError, EncodeError, Rejected, SessionError};
pub use messages::{
    Algorithms, MAX_USERNAME, OpenSessionRequest, OpenSessionResponse, Privilege,
    ROLE_NAME_ONLY_LOOKUP, Rakp1, Rakp2, RakpStatus, RakpTail,
};
pub use packet::{
    AUTH_TYPE_RMCP_PLUS, MAX_PAYLOAD, NEXT_HEADER, Packet, PayloadType, RMCP_CLASS_IPMI,
    RMCP_SEQ_NO_ACK, RMCP_VERSION, Seal, V2Packet, V15Packet,
};
pub use secret::{MAX_PASSWORD_LEN, Password, PasswordTooLong};
mod client;
mod window;
pub use client::{ClientConfig, ClientSession, Event, RandomSource, RequestId, RetryPolicy};
pub use window::{REPLAY_WINDOW, ReplayWindow, next_sequence};
mod responder;
pub use responder::{Incoming, Responder, ResponderConfig, User, required_privilege};
