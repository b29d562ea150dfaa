//! iSCSI boot parameters, their IPMI System Boot Options encodings, and RMCP+ (IPMI v2.0) sessions.
//!
//! * [`params`]: the boot parameter model; [`bootopt`]: its System Boot Options encodings and
//!   the write / read-back exchanges; [`ipmi`]: IPMI messages; [`render`]: what firmware
//!   consumes; [`store`]: the BMC side.
//! * `rmcp` (feature `rmcp`): RMCP+ "lanplus" sessions as sans-IO state machines, both the
//!   remote console (`rmcp::ClientSession`) and the BMC (`rmcp::Responder`).
//! * `driver` (feature `tokio`): `driver::Client` runs an RMCP+ session over UDP and runs any
//!   [`ipmi::Exchange`] (such as [`bootopt::WriteExchange`]) to completion; `driver::serve`
//!   runs a responder.
//!
//! ## Features
//!
//! No feature is on by default: the parameter model and the encodings need neither
//! cryptography nor serde nor a runtime.
//!
//! * `rmcp`: the RMCP+ module (brings the RustCrypto `hmac`, `sha1`, `sha2`, `aes`, `subtle`).
//! * `serde`: `Serialize`/`Deserialize` for the parameter model, the encodings' settings and
//!   the store's persistent state.
//! * `tokio`: the `driver` module (implies `rmcp`; brings `tokio` with `net`, `time` and
//!   `macros`, and `rand` for session IDs and keys).
//!
//! ## Examples
//!
//! `examples/push_boot_params.rs` pushes iSCSI boot parameters to a BMC over RMCP+ and reads
//! them back; `examples/rmcp_bmc.rs` is a tiny BMC answering RMCP+ on a UDP port.
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
//!
//! ## iSCSI boot parameters
//!
//! [`params::IscsiBootParams`] is the model (validated names, LUNs, CHAP secrets that print
//! as `***`). [`bootopt`] encodes it for the BMC — the standard System Boot Options
//! parameters, the mailbox dialect (parameter 7, no secrets) and the OEM dialect
//! (parameters 96–127) — and pushes it with [`bootopt::WriteExchange`], which reads back
//! and compares. [`store::BootOptionsStore`] is the BMC side; [`render`] turns stored
//! parameters into what firmware consumes (iPXE script, RFC 4173 root path, iBFT).
//!
//! ```
//! use ipmi_iscsi::bootopt::{mailbox, Pen};
//! use ipmi_iscsi::params::{IscsiBootParams, IscsiName, IscsiTarget, Lun};
//!
//! let params = IscsiBootParams::new(
//!     IscsiName::new("iqn.2024-01.org.example:n7")?,
//!     IscsiTarget {
//!         name: IscsiName::new("iqn.2024-01.org.example:b")?,
//!         address: "192.0.2.10".parse()?,
//!         port: 3260,
//!         lun: Lun::new(1)?,
//!     },
//! );
//! // Mailbox dialect: 16-byte blocks, block 0 opening with the enterprise number; short
//! // names fit the 5 blocks every BMC must offer.
//! let blocks = mailbox::encode_blocks(Pen::EXAMPLE, &params.without_secrets(), 5)?;
//! assert_eq!(blocks[0].data[..3], [0xd9, 0x7e, 0x00]); // 32473, LS byte first
//! assert_eq!(mailbox::decode_blocks(Pen::EXAMPLE, &blocks)?, params.without_secrets());
//! // What firmware gets.
//! assert_eq!(
//!     ipmi_iscsi::render::root_path(&params.primary),
//!     "iscsi:192.0.2.10::3260:1:iqn.2024-01.org.example:b"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bootopt;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod driver;
pub mod ipmi;
pub mod params;
pub mod render;
#[cfg(feature = "rmcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "rmcp")))]
pub mod rmcp;
pub mod store;

// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
