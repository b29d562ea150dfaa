//! Pure engine of the iSCSI boot manager: inventory, selection, allocation ledger and provisioning plan.
//!
//! This crate is a placeholder in the workspace skeleton; its issue fills it in.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
