//! Wiring of the protocol crates into the `bcm` manager and the `imm-sim` BMC emulator.
//!
//! The library half holds the tokio drivers and application logic so the binaries stay thin
//! and integration tests can drive the same code.

#![forbid(unsafe_code)]

pub mod api;
pub mod api_client;
pub mod api_tls;
pub mod app;
pub mod auth;
pub mod bmc;
pub mod boot;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod discover;
pub mod ha;
pub mod inventory;
pub mod manager;
pub mod pacing;
pub mod redfish;
pub mod store;
pub mod target_chap;
pub mod wording;
