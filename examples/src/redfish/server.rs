//! Per server: which protocol its BMC speaks, where its Redfish service is, and how its
//! certificate is trusted; plus the pins learnt on first use (kept in the store).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::tls::{Fingerprint, Trust};
use crate::config::{Config, Protocol, ServerConfig};

/// HTTPS' port: a BMC's Redfish service when no port is configured.
pub const HTTPS_PORT: u16 = 443;

/// One server's Redfish facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedfishFacts {
    /// `ipmi`, `redfish` or `auto`.
    pub protocol: Protocol,
    /// `host:port` of the HTTPS service, when configured.
    pub https: Option<String>,
    /// CA file.
    pub ca_file: Option<PathBuf>,
    /// Configured fingerprint.
    pub fingerprint: Option<Fingerprint>,
    /// Insecure opt-in.
    pub insecure: bool,
    /// Boot NIC MAC.
    pub mac: Option<String>,
    /// System UUID.
    pub uuid: Option<String>,
}

impl RedfishFacts {
    /// The facts of `s` (protocol defaulting to `[bmc] protocol`).
    #[must_use]
    pub fn of(config: &Config, s: &ServerConfig) -> Self {
        Self {
            protocol: config.protocol(&s.name),
            https: s.redfish.clone(),
            ca_file: s.redfish_ca_file.clone(),
            fingerprint: s
                .redfish_fingerprint
                .as_deref()
                .and_then(|f| f.parse().ok()),
            insecure: s.redfish_insecure,
            mac: s.mac.clone(),
            uuid: s.uuid.clone(),
        }
    }

    /// The facts of a server without a `[[server]]` entry.
    #[must_use]
    pub fn default_for(protocol: Protocol) -> Self {
        Self {
            protocol,
            https: None,
            ca_file: None,
            fingerprint: None,
            insecure: false,
            mac: None,
            uuid: None,
        }
    }

    /// The HTTPS address: configured, else the BMC's host on port 443.
    #[must_use]
    pub fn https_addr(&self, bmc: SocketAddr) -> String {
        self.https
            .clone()
            .unwrap_or_else(|| SocketAddr::new(bmc.ip(), HTTPS_PORT).to_string())
    }

    /// How to trust the certificate at `https`: CA file, configured pin, recorded pin, or
    /// first use (insecure only when configured).
    #[must_use]
    pub fn trust(&self, https: &str, pins: &PinBook) -> Trust {
        if let Some(ca) = &self.ca_file {
            Trust::CaFile(ca.clone())
        } else if self.insecure {
            Trust::Insecure
        } else if let Some(fp) = self.fingerprint {
            Trust::Pinned(fp)
        } else if let Some(fp) = pins.get(https) {
            Trust::Pinned(fp)
        } else {
            Trust::FirstUse
        }
    }
}

/// Certificate pins by HTTPS address, loaded from the store at start and kept in step with
/// it (a new pin goes to the store through the step's outcome).
#[derive(Clone, Debug, Default)]
pub struct PinBook(Arc<Mutex<HashMap<String, Fingerprint>>>);

impl PinBook {
    /// A book holding `pins` (`(bmc, "sha256:…")` as stored; unparsable rows are skipped).
    #[must_use]
    pub fn new(pins: &[(String, String)]) -> Self {
        let map = pins
            .iter()
            .filter_map(|(b, f)| f.parse().ok().map(|f| (b.clone(), f)))
            .collect();
        Self(Arc::new(Mutex::new(map)))
    }

    /// The pin of `https`.
    #[must_use]
    pub fn get(&self, https: &str) -> Option<Fingerprint> {
        self.0.lock().ok().and_then(|m| m.get(https).copied())
    }

    /// Records `fp` for `https`; `true` when that changed the book (worth a store write).
    pub fn record(&self, https: &str, fp: Fingerprint) -> bool {
        self.0
            .lock()
            .is_ok_and(|mut m| m.insert(https.to_owned(), fp) != Some(fp))
    }
}
