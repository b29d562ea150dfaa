//! IPMI System Boot Options (NetFn Chassis, Set = 0x08, Get = 0x09) for iSCSI boot:
//! the standard parameters, the mailbox dialect (parameter 7), the OEM dialect
//! (parameters 96–127), and the write / read-back strategy as sans-IO exchanges.
//!
//! Byte layouts are documented on each type: [`GetResponse`] and [`set_request`] (message
//! bodies), [`SetInProgress`] (0), [`ValidBitClearing`] (3), [`BootInfoAck`] (4),
//! [`BootFlags`] (5), [`BootInitiatorInfo`] (6), [`Block`] (7 framing), [`mailbox`] (the
//! mailbox payload) and [`oem`] (the OEM records) — enough for a BMC vendor to implement
//! the receiving side.

mod error;
pub mod mailbox;
pub mod oem;
mod param;
mod standard;
mod strategy;
mod wire;

pub use error::{DecodeError, EncodeError};
pub use mailbox::Pen;
pub use param::{
    BootParam, GetResponse, INVALID_BIT, PARAMETER_VERSION, get_request, is_unsupported,
    set_request,
};
pub use standard::{
    AckAgents, BLOCK_LEN, Block, BootDevice, BootFlags, BootInfoAck, BootInitiatorInfo,
    SetInProgress, ValidBitClearing,
};
pub use strategy::*;
