//! Zero-copy iSNS (RFC 4171) wire codec: PDUs, attributes, messages, builders, multi-PDU
//! segmentation and reassembly, and (feature `codec`) a `tokio-util` codec.
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
