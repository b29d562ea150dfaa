//! Finding iSNS servers with SLP (`service:iscsi:sms`, `(protocols=isns)`).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;
use slp_proto::driver::{DiscoveryOptions, DriverError};
use slp_proto::ua::UaEvent;

use crate::config::SlpConfig;

/// One iSNS server found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundServer {
    /// The service URL.
    pub url: String,
    /// Its address, when the host resolves.
    pub address: Option<SocketAddr>,
    /// Attribute list, when known.
    pub attrs: Option<String>,
    /// `server-priority` (lower is preferred).
    pub priority: Option<i32>,
    /// Lifetime in seconds.
    pub lifetime: u16,
    /// Scope it was found in.
    pub scope: String,
    /// Who answered.
    pub responder: SocketAddr,
}

/// A discovery's outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// Servers, preferred first.
    pub services: Vec<FoundServer>,
    /// Notable things that happened (error replies, silent agents), for `-v`.
    pub notes: Vec<String>,
}

/// A discovery event in words (`None` for the end marker, which says nothing to a person).
fn note(e: &UaEvent, per: Duration) -> Option<String> {
    Some(match e {
        UaEvent::DirectoryAgent(a) => format!("directory agent found at {a}"),
        UaEvent::ErrorReply { from, error } => format!("{from} answered with error {error}"),
        UaEvent::Unanswered(a) => format!(
            "{a} left a request unanswered within {} (a scope it does not serve, or a lost datagram)",
            crate::wording::duration(per)
        ),
        UaEvent::Dropped { from, reason } => format!("dropped a reply from {from}: {reason}"),
        UaEvent::Finished => return None,
    })
}

/// Asks the configured directory agent (unicast) or the SLP multicast group.
///
/// # Errors
/// [`DriverError`] when the socket cannot be set up.
pub async fn discover(cfg: &SlpConfig) -> Result<Discovery, DriverError> {
    let mut opts = DiscoveryOptions::isns();
    opts.ua.scopes.clone_from(&cfg.scopes);
    // The configured timeout bounds the whole discovery: the service requests and the
    // attribute requests that may follow them each get half.
    let per = (cfg.timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(15));
    opts.ua.timing.mc_max = per;
    opts.ua.timing.retry_max = per;
    opts.ua.timing.retry = opts
        .ua
        .timing
        .retry
        .min(per / 4)
        .max(Duration::from_millis(100));
    if let Some(da) = cfg.da {
        opts.ua.directory_agents = vec![da];
        opts.ua.multicast = false;
        if da.ip().is_loopback() {
            opts.bind = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 0);
        }
    }
    let report = slp_proto::driver::discover(opts).await?;
    let services = report
        .services
        .into_iter()
        .map(|d| FoundServer {
            address: (d.host.as_str(), d.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next()),
            url: d.url,
            attrs: d.attrs,
            priority: d.priority,
            lifetime: d.lifetime,
            scope: d.scope,
            responder: d.responder,
        })
        .collect();
    Ok(Discovery {
        services,
        notes: report.events.iter().filter_map(|e| note(e, per)).collect(),
    })
}
