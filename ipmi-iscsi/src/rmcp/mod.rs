//! RMCP/RMCP+ (IPMI v2.0 "lanplus"): packet codec, cryptography, cipher suites, and the
//! sans-IO client and responder sessions.

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
