//! bcm's Redfish client: pushing iSCSI boot settings to a BMC over HTTPS (DMTF DSP0266 /
//! DSP0268), beside the IPMI pusher in [`crate::bmc`].
//!
//! | module | concept |
//! |---|---|
//! | [`mapping`] | `iSCSIBoot` JSON ↔ the library's parameter model (pure) |
//! | [`tls`] | certificate trust: CA file, pinned fingerprint, first use, insecure opt-in |
//! | [`decode`] | bounded decoding of the resources the flow reads |
//! | [`transport`] | HTTPS on reqwest: timeouts, body cap, sessions |
//! | [`flow`] | configure / clear: system → function → PATCH → reset → read-back |
//! | [`netboot`] | boot mode `pxe`: the ComputerSystem's boot source override |
//! | [`server`] | per-server protocol, HTTPS address, trust; pins learnt on first use |
//! | [`error`] | what failed, with the service's `@Message.ExtendedInfo` |

pub mod decode;
pub mod error;
pub mod flow;
pub mod mapping;
pub mod netboot;
pub mod server;
pub mod tls;
pub mod transport;
