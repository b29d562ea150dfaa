//! iSCSI boot parameters, their IPMI System Boot Options encodings, and RMCP+ (IPMI v2.0) sessions.
//!
//! This crate is a placeholder in the workspace skeleton; its issue fills it in.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
