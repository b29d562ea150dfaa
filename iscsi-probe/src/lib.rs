//! Minimal iSCSI initiator that logs in to a target and learns its LUNs and their sizes.
//!
//! iSNS carries no LUN sizes, so a boot manager asks the targets: log in (AuthMethod None or CHAP),
//! REPORT LUNS, INQUIRY and READ CAPACITY(16) (falling back to (10)) for each LUN, log out.
//!
//! * [`pdu`], [`message`]: the PDU frame view and typed PDUs with builders (RFC 7143 §11).
//! * [`text`]: `key=value` text (RFC 7143 §6.1). [`chap`]: CHAP-MD5 and secrets.
//! * [`scsi`]: CDBs and parameter data for the probe's SCSI commands (SPC-4, SBC-3).
//! * [`session`]: the sans-IO initiator state machine; [`report`]: what it learns.
//! * `driver` (feature `tokio`): `probe`, `discover`, `probe_many` over TCP.
//!
//! No feature is on by default; `tokio` brings `tokio` (with `net`, `io-util`, `time`,
//! `sync`, `rt` and `macros`) and `rand` (the session's random bytes: ISID, CHAP).
//! `examples/probe_once.rs` probes one target and prints its LUNs.
//!
//! A PDU round trip:
//!
//! ```
//! use bytes::BytesMut;
//! use iscsi_probe::codes::Stage;
//! use iscsi_probe::message::{LoginRequest, Message};
//! use iscsi_probe::pdu::Pdu;
//!
//! let req = LoginRequest {
//!     transit: true,
//!     cont: false,
//!     csg: Stage::SECURITY,
//!     nsg: Stage::OPERATIONAL,
//!     version_max: 0,
//!     version_min: 0,
//!     isid: [0x80, 0, 0, 0, 0, 1],
//!     tsih: 0,
//!     itt: 1,
//!     cid: 0,
//!     cmd_sn: 1,
//!     exp_stat_sn: 0,
//!     data: b"AuthMethod=None\0",
//! };
//! let mut wire = BytesMut::new();
//! req.encode(&mut wire)?;
//! assert_eq!(wire.len(), req.encoded_len());
//! let (pdu, used) = Pdu::parse(&wire, 8192)?.expect("one whole PDU");
//! assert_eq!(used, wire.len());
//! assert_eq!(Message::from_pdu(pdu), Message::LoginRequest(req));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod chap;
pub mod codes;
pub mod error;
pub mod message;
pub mod pdu;
pub mod report;
pub mod scsi;
pub mod session;
pub mod text;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod driver;

pub use chap::{Auth, ChapCredentials, Secret};
pub use error::{AuthError, DecodeError, EncodeError, Phase, ProtocolError, SessionError};
pub use report::{DiscoveredTarget, LunError, LunReport, LunState, TargetAddress, TargetReport};
pub use session::{Event, Session, SessionConfig, SessionKind};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use driver::{
    ProbeError, ProbeLimits, ProbeOutcome, ProbeRequest, discover, probe, probe_many,
};

// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
