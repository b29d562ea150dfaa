//! SLPv2 (RFC 2608) codec, user agent and service agent, used to discover iSNS servers.
//!
//! This crate is a placeholder in the workspace skeleton; its issue fills it in.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
