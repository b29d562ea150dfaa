//! The IPMI message layer: code points, owned requests/responses, LAN message framing
//! (IPMI v2.0 §13.8) and the [`Exchange`] trait for multi-step command sequences.
//!
//! Transport-independent: the RMCP+ session (`crate::rmcp`) carries these messages.

mod code_point;
mod codes;
mod error;
mod exchange;
mod message;

/// The code-point table macro, for other modules of this crate (boot parameters).
#[allow(unused_imports)]
pub(crate) use code_point::code_points;
pub use codes::{CompletionCode, NetFn, app, chassis};
pub use error::{DecodeError, EncodeError};
pub use exchange::{Exchange, drive};
pub use message::{
    Addressing, BMC_SLAVE_ADDR, FRAME_OVERHEAD, MAX_LUN, MAX_RQ_SEQ, REMOTE_CONSOLE_SWID, Request,
    RequestFrame, Response, ResponseFrame, data_may_hold_secret,
};
