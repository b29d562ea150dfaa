//! Zero-copy iSNS (RFC 4171) wire codec: PDUs, attributes, messages, builders, multi-PDU
//! segmentation and reassembly, (feature `codec`) a `tokio-util` codec, and an iSNS client:
//! a sans-IO session in [`client`] and its tokio driver in `client_tokio` (feature `tokio`).
//!
//! Decoding borrows: [`Pdu`] is a checked view over the bytes, [`Attrs`] walks the TLVs
//! lazily in wire order, [`Body`] splits Source / Key / delimiter / Operating per message
//! type, and nothing is allocated. Encoding goes through [`Message`], which validates
//! lengths and layout and writes into a [`bytes::BytesMut`].
//!
//! ```
//! use bytes::BytesMut;
//! use isns_proto::{Body, Message, NodeType, Pdu, Tag, Value};
//!
//! // A client asks for every target's name and alias.
//! let query = Message::dev_attr_qry(42, "iqn.2000-01.example:manager")
//!     .key(Tag::ISCSI_NODE_TYPE, NodeType::TARGET)
//!     .query(Tag::ISCSI_NAME)
//!     .query(Tag::ISCSI_ALIAS);
//! let mut wire = BytesMut::new();
//! let written = query.encode(&mut wire)?;
//! assert_eq!(written, query.encoded_len()?);
//!
//! let pdu = Pdu::parse(&wire)?;
//! assert_eq!(pdu.xid(), 42);
//! let Body::Request(req) = pdu.body()? else { unreachable!() };
//! assert_eq!(req.source_name()?, "iqn.2000-01.example:manager");
//! let key = req.key().next().unwrap()?;
//! assert_eq!(key.typed()?, Value::U32(NodeType::TARGET.bits()));
//! assert_eq!(req.operating().count(), 2);
//! assert_eq!(Message::decode(&pdu)?, query);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The client
//!
//! [`client::Session`] is an iSNS client as a state machine: it registers a Control node,
//! answers SCNs and ESIs, walks the server's database with DevGetNext, re-queries what an SCN
//! names, and creates and edits Discovery Domains; bytes and time go in, PDUs and
//! [`client::Event`]s come out. With the `tokio` feature, `client_tokio::IsnsClient` runs a
//! session over TCP, binds the SCN/ESI listeners and offers `async` commands
//! (`create_dd`, `register_initiator`, `query_node`, …). Names are typed
//! ([`client::NodeName`], [`client::EntityId`]).
//!
//! ## Features
//!
//! No feature is on by default: the codec and the sans-IO client need no async runtime.
//!
//! * `codec`: `IsnsCodec`, a `tokio_util::codec::{Decoder, Encoder}`
//!   for framing iSNSP over TCP (brings `tokio-util`).
//! * `tokio`: `client_tokio`, the tokio driver of the client (brings `tokio` with `net`,
//!   `io-util`, `time`, `sync`, `rt` and `macros`).
//!
//! ## Examples
//!
//! `examples/` holds `build_request` (a target's DevAttrReg), `decode_pdu` (any PDU, from
//! hex), `isns_walk` (a blocking DevGetNext walk) and `isns_client` (the tokio client).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[macro_use]
mod code_point;

mod attr;
mod builder;
pub mod client;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod client_tokio;
#[cfg(feature = "codec")]
mod codec;
mod error;
mod flags;
mod function;
mod message;
mod pdu;
mod reassembly;
mod segment;
mod status;
mod tag;

pub use attr::{ATTR_HEADER_LEN, Attr, Attrs, OwnedAttr, Value};
pub use builder::{Message, Tlv, encode_heartbeat};
#[cfg(feature = "codec")]
#[cfg_attr(docsrs, doc(cfg(feature = "codec")))]
pub use codec::{CodecError, DEFAULT_MAX_FRAME_LEN, IsnsCodec};
pub use error::{DecodeError, EncodeError};
pub use flags::{
    DdFeatures, DdSetStatus, EntityProtocol, NodeType, PduFlags, Port, PortFlags, PortalSecurity,
    ScnBitmap,
};
pub use function::{FunctionId, Layout};
pub use message::{Body, Heartbeat, Notification, Request, Response};
pub use pdu::{
    AUTH_BLOCK_MIN_LEN, AuthBlock, HEADER_LEN, ISNSP_VERSION, MAX_PAYLOAD_LEN, Pdu, frame_len,
};
pub use reassembly::{
    Assembled, DEFAULT_MAX_PARTIAL, DEFAULT_REASSEMBLY_CAP, Reassembler, Reassembly,
};
pub use segment::{MIN_SEGMENT_PDU_LEN, OPEN_ISNS_MAX_PDU_LEN, Segmenter};
pub use status::Status;
pub use tag::{Tag, TagInfo, ValueKind, VendorRange};

/// The IANA-registered iSNS port, TCP and UDP (RFC 4171 §5.1).
pub const ISNS_PORT: u16 = 3205;

// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
