//! iSCSI boot parameters, their IPMI System Boot Options encodings, and RMCP+ (IPMI v2.0) sessions.
//!
//! ```
//! use ipmi_iscsi::ipmi::{Addressing, NetFn, Request, RequestFrame, app};
//!
//! // Get Channel Authentication Capabilities (channel 0xE, v2.0 data, admin), framed as
//! // an IPMI LAN message and decoded again.
//! let request = Request::new(NetFn::APP, app::GET_CHANNEL_AUTH_CAPABILITIES, [0x8e, 0x04]);
//! let mut wire = Vec::new();
//! request.encode(Addressing::default(), &mut wire)?;
//! assert_eq!(wire, [0x20, 0x18, 0xc8, 0x81, 0x00, 0x38, 0x8e, 0x04, 0xb5]);
//! assert_eq!(RequestFrame::decode(&wire)?.to_request(), request);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "tokio")]
pub mod driver;
pub mod ipmi;
pub mod rmcp;
