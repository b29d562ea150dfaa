//! What the inventory needs to know up front.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use iscsi_probe::{Auth, Secret};
use isns_proto::client::Backoff;

use crate::config::Config;

/// Prefix of the management DDs when the configuration names none.
pub const DEFAULT_MANAGEMENT_DD: &str = "bcm-management";

/// CHAP credentials the probe logs in with (needed once the manager binds CHAP accounts on
/// a tgtd target: tgtd then demands CHAP from every initiator, the probe included).
/// `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ProbeChap {
    /// CHAP user name.
    pub user: String,
    /// CHAP secret.
    pub secret: Secret,
}

impl ProbeChap {
    /// User and secret.
    #[must_use]
    pub fn new(user: impl Into<String>, secret: impl Into<Vec<u8>>) -> ProbeChap {
        ProbeChap {
            user: user.into(),
            secret: Secret::new(secret),
        }
    }

    pub(crate) fn auth(&self) -> Auth {
        Auth::chap(self.user.clone(), self.secret.expose().to_vec())
    }
}

impl fmt::Debug for ProbeChap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeChap")
            .field("user", &self.user)
            .field("secret", &"***")
            .finish()
    }
}

/// Settings of the live inventory.
#[derive(Clone, Debug)]
pub struct InventoryConfig {
    /// The iSNS server.
    pub server: SocketAddr,
    /// iSCSI name of the manager's control node (also its entity identifier).
    pub control_node: String,
    /// Address isnsd connects to for SCN and ESI (the listeners bind a free port on it).
    pub listen_ip: IpAddr,
    /// Per-request iSNS timeout.
    pub request_timeout: Duration,
    /// Period of the full walk + probe that repairs missed SCNs and finds LUN changes
    /// (tgtd tells iSNS nothing when a LUN is added to an existing target).
    pub reconcile_interval: Duration,
    /// iSCSI name the probe logs in with; registered in iSNS as an initiator node.
    pub probe_initiator: String,
    /// Targets probed at once (at least 1).
    pub probe_concurrency: usize,
    /// Time limit of one target's probe, all its portals included.
    pub probe_timeout: Duration,
    /// CHAP for the probe; `None` logs in with AuthMethod None.
    pub probe_chap: Option<ProbeChap>,
    /// Prefix of the management DDs: one per target, `<management_dd>:<target>`, holding
    /// the probe initiator and that target.
    pub management_dd: String,
    /// How long after a target joined the management DD (or the probe initiator was
    /// registered) a "target not found" login refusal is retried: tgtd needs about 1 s to
    /// learn of the change.
    pub admission_wait: Duration,
    /// Reconnect policy of the iSNS session.
    pub backoff: Backoff,
    /// iSNS requests outstanding at once. Default 2: open-isns 0.101 answers a deeper
    /// pipeline far more slowly (`benches/inventory_walk` times the first walk of 2,000
    /// targets at each depth: 50.3 s with 8 in flight, 3.4 s with 2, 4.3 s with 1).
    pub isns_max_in_flight: usize,
    /// Capacity of the update channel.
    pub update_capacity: usize,
    /// Spacing of iSNS changes that notify one storage entity, shared with the manager's
    /// own DD changes ([`crate::pacing`]).
    pub pacer: std::sync::Arc<crate::pacing::Pacer>,
}

impl InventoryConfig {
    /// Defaults: 5 s requests, reconcile every 5 minutes, 8 probes of 10 s at once,
    /// management DD [`DEFAULT_MANAGEMENT_DD`], 5 s admission wait.
    #[must_use]
    pub fn new(
        server: SocketAddr,
        control_node: impl Into<String>,
        listen_ip: IpAddr,
        probe_initiator: impl Into<String>,
    ) -> InventoryConfig {
        InventoryConfig {
            server,
            control_node: control_node.into(),
            listen_ip,
            request_timeout: Duration::from_secs(5),
            reconcile_interval: Duration::from_secs(300),
            probe_initiator: probe_initiator.into(),
            probe_concurrency: 8,
            probe_timeout: Duration::from_secs(10),
            probe_chap: None,
            management_dd: DEFAULT_MANAGEMENT_DD.to_owned(),
            admission_wait: Duration::from_secs(5),
            backoff: Backoff::default(),
            isns_max_in_flight: 2,
            update_capacity: 1024,
            pacer: std::sync::Arc::new(crate::pacing::Pacer::new(
                Duration::from_secs(1),
                Some(crate::manager::live::TGT_SCN_BITMAP),
            )),
        }
    }

    /// From the manager's configuration and the iSNS server it found (configured or by
    /// SLP). The listen address is `[isns] advertise`, else the IP of `[isns] listen`; the
    /// listeners always bind a free port (isnsd learns it from the registration).
    #[must_use]
    pub fn from_config(cfg: &Config, server: SocketAddr) -> InventoryConfig {
        let listen_ip = cfg.isns.advertise.unwrap_or_else(|| cfg.isns.listen.ip());
        let mut c = InventoryConfig::new(
            server,
            cfg.isns.control_node.clone(),
            listen_ip,
            cfg.probe.initiator.clone(),
        );
        c.request_timeout = cfg.isns.request_timeout;
        c.reconcile_interval = cfg.isns.reconcile_interval;
        c.probe_concurrency = cfg.probe.concurrency;
        c.probe_timeout = cfg.probe.timeout;
        c.pacer = std::sync::Arc::new(crate::pacing::Pacer::new(
            cfg.isns.scn_pacing,
            cfg.isns
                .renew_target_scn
                .then_some(crate::manager::live::TGT_SCN_BITMAP),
        ));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_probe_secret() {
        let mut c = InventoryConfig::new(
            "127.0.0.1:3205".parse().unwrap(),
            "iqn.2026-01.test:mgr",
            "127.0.0.1".parse().unwrap(),
            "iqn.2026-01.test:probe",
        );
        c.probe_chap = Some(ProbeChap::new("probe-user", "s3cr3t-value"));
        let shown = format!("{c:?}");
        assert!(shown.contains("probe-user"), "{shown}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
    }

    #[test]
    fn from_config_takes_the_isns_and_probe_sections() {
        let cfg: Config = toml::from_str(
            r#"
            [isns]
            control_node = "iqn.2026-01.test:ctl"
            listen = "127.0.0.2:0"
            reconcile_interval = "30s"
            [probe]
            initiator = "iqn.2026-01.test:prb"
            concurrency = 3
            timeout = "4s"
            "#,
        )
        .unwrap();
        let c = InventoryConfig::from_config(&cfg, "127.0.0.1:3205".parse().unwrap());
        assert_eq!(c.control_node, "iqn.2026-01.test:ctl");
        assert_eq!(c.listen_ip, "127.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(c.reconcile_interval, Duration::from_secs(30));
        assert_eq!(c.probe_initiator, "iqn.2026-01.test:prb");
        assert_eq!(c.probe_concurrency, 3);
        assert_eq!(c.probe_timeout, Duration::from_secs(4));
        assert!(c.probe_chap.is_none());
    }
}
