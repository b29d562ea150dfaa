//! `imm-sim`, the BMC/IMM emulator: one process emulating one or many
//! IPMI BMCs that receive iSCSI boot parameters over RMCP+ (cipher suites 17 and 3),
//! keep them across restarts, and "flash" them for firmware on every commit.
//!
//! ```text
//! imm-sim --bmc 127.0.0.1:9001-9003 --state-dir S --render-dir R --user admin --password-env PW
//!
//!   UDP 127.0.0.1:9001 ─► task ─► EmulatedBmc "127.0.0.1_9001"
//!                                   Responder (users, suites, sessions)   ipmi_iscsi::rmcp
//!                                   BmcCore: BootOptionsStore + identity   ipmi_iscsi::store
//!                                   effects ─► S/127.0.0.1_9001/state.json            (0600)
//!                                           ─► R/127.0.0.1_9001/{boot.ipxe, root-path,
//!                                                                ibft.bin, params.json}
//!   UDP 127.0.0.1:9002 ─► task ─► EmulatedBmc "127.0.0.1_9002"  (own users, own state)
//!
//!   with --redfish 127.0.0.1:8443-8444 (one per --bmc, same order):
//!   HTTPS 127.0.0.1:8443 ─► redfish::Service ─► bridge::Call ─► the 9001 task ─► same BmcCore
//! ```
//! | module | concept |
//! |---|---|
//! | [`spec`] | `--bmc` values and BMC names (`ip_port`) |
//! | [`password`] | where a user's password comes from (environment, file, users file) |
//! | [`users`] | per-BMC users and privileges (`--user`, `--users-file`) |
//! | [`persist`] | `state.json`: atomic, private, shape-checked on load |
//! | [`flash`] | which parameters firmware boots, and the rendered files |
//! | [`bmc`] | one emulated BMC, sans-IO: responder + store + logging → effects |
//! | [`redfish`] | each BMC's Redfish service (HTTPS): same store, same renderers |
//! | [`host`] | the tokio host: one socket and task per BMC, effects before replies |
//! | [`cli`] | flags, logging, entry point |
//!
//! Rendering happens on a commit: the OEM control record written (enable or disable),
//! set-in-progress returning to set-complete, or boot flags written outside
//! set-in-progress. Every handled command is logged with the BMC name, session, NetFn,
//! command, parameter/block and completion code — never payload bytes or secrets.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bmc;
pub mod cli;
pub mod flash;
pub mod host;
pub mod password;
pub mod persist;
pub mod redfish;
pub mod spec;
pub mod users;

pub use bmc::{BmcCore, Effect, EmulatedBmc, Handled};
pub use flash::{Artefacts, Flash, ParamsSource, RenderDir};
pub use host::{BoundHost, HostConfig, HostError, Outputs, build_bmcs, wall_clock};
pub use persist::{PersistError, StateDir};
pub use spec::{BmcName, SpecError, parse_bmcs};
