//! SLPv2 (RFC 2608) codec, user agent and service agent, used to discover iSNS servers.
//!
//! ```
//! use slp_proto::{Body, Header, Message, SrvRqst, StringList};
//!
//! let rqst = Message::new(
//!     Header::new(0x1234, "en"),
//!     Body::SrvRqst(SrvRqst {
//!         service_type: "service:iscsi:sms",
//!         scopes: StringList("DEFAULT"),
//!         predicate: "(protocols=isns)",
//!         ..SrvRqst::default()
//!     }),
//! );
//! let bytes = rqst.to_vec()?;
//! assert_eq!(bytes.len(), rqst.encoded_len());
//! let back = Message::parse(&bytes)?;
//! assert_eq!(back, rqst);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout: [`header`] and [`message`] (wire views and builders), [`msg`] (one struct per
//! function), [`url_entry`], [`extension`], [`strings`] (escaping, string lists),
//! [`service_url`], [`attr`] (attribute lists), [`predicate`] (RFC 2254 filters),
//! [`ua`] and [`sa`] (sans-IO agents), and, with the `tokio` feature, `driver`
//! (tokio UDP/TCP drivers: `driver::discover_isns_servers`, `driver::spawn_service_agent`).
//!
//! Builders refuse what a peer would: a service type that is not one
//! ([`EncodeError::ServiceType`]) or a predicate that does not parse
//! ([`EncodeError::Predicate`]).
//!
//! ## Features
//!
//! No feature is on by default. `tokio` adds the `driver` module (brings `tokio` with `net`,
//! `io-util`, `time`, `sync`, `rt` and `macros`, and `socket2` for the multicast options).
//!
//! ## Examples
//!
//! `examples/slp_find.rs` finds iSNS servers by multicast, or by unicast to a given address.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod agent;
pub mod attr;
pub mod code_points;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod driver;
pub mod error;
pub mod extension;
mod grammar;
pub mod header;
#[cfg(feature = "bench-legacy")]
#[doc(hidden)]
pub mod legacy;
pub mod message;
pub mod msg;
pub mod predicate;
pub mod sa;
pub mod service_url;
pub mod strings;
pub mod ua;
pub mod url_entry;
mod wire;

pub use code_points::{BlockStructureDescriptor, ErrorCode, ExtensionId, FunctionId};
pub use error::{DecodeError, EncodeError, ProtocolError};
pub use extension::{AttrListExt, Extension, Extensions};
pub use header::{Flags, Header, RawHeader, frame_len};
pub use message::{Body, Message};
pub use msg::{
    AttrRply, AttrRqst, DaAdvert, NamingAuthority, SaAdvert, SrvAck, SrvDeReg, SrvReg, SrvRply,
    SrvRqst, SrvTypeRply, SrvTypeRqst,
};
pub use strings::StringList;
pub use url_entry::{AuthBlock, AuthBlocks, UrlEntries, UrlEntry};

// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
