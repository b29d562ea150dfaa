//! Types shared by the sans-IO agents: what to send where, how a datagram arrived, and
//! the retransmission policy (RFC 2608 §13 defaults).

use std::net::SocketAddr;
use std::time::Duration;

/// Where a datagram or stream message must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The SLP multicast group (the driver knows its address and port).
    Multicast,
    /// One peer over UDP.
    Unicast(SocketAddr),
    /// One peer over TCP (one request, one framed reply), e.g. after OVERFLOW.
    Tcp(SocketAddr),
}

/// A message an agent wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub destination: Destination,
    /// The encoded SLP message.
    pub payload: Vec<u8>,
}

/// How a message reached an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// A datagram sent to the multicast group (or broadcast).
    Multicast,
    /// A datagram sent to us alone.
    Unicast,
    /// A TCP stream (no size limit, no truncation).
    Tcp,
}

/// Retransmission and convergence timing (RFC 2608 §6.3, §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// CONFIG_RETRY: wait before the first retransmission; doubled after each.
    pub retry: Duration,
    /// CONFIG_MC_MAX: give up a multicast convergence after this long.
    pub mc_max: Duration,
    /// CONFIG_RETRY_MAX: give up a unicast request after this long.
    pub retry_max: Duration,
}

impl Default for Timing {
    /// RFC 2608 §13: CONFIG_RETRY 2 s, CONFIG_MC_MAX 15 s, CONFIG_RETRY_MAX 15 s.
    fn default() -> Self {
        Timing {
            retry: Duration::from_secs(2),
            mc_max: Duration::from_secs(15),
            retry_max: Duration::from_secs(15),
        }
    }
}

/// The IANA multicast group for SLPv2 over IPv4 (RFC 2608 §6.1).
pub const SLP_MULTICAST_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 255, 255, 253);

/// The SLP port (RFC 2608 §6.1).
pub const SLP_PORT: u16 = 427;

/// Default largest datagram (RFC 2608 §6.1: 1400 bytes without UDP/IP headers).
pub const DEFAULT_MTU: usize = 1400;
