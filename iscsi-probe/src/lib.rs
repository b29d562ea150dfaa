//! Minimal iSCSI initiator that logs in to a target and learns its LUNs and their sizes.
//!
//! This crate is a placeholder in the workspace skeleton; its issue fills it in.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
