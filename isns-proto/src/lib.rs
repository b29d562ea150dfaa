//! Zero-copy iSNS (RFC 4171) wire codec: PDUs, attributes, messages, builders and a tokio-util codec.
//!
//! This crate is a placeholder in the workspace skeleton; its issue fills it in.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
