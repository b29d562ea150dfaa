//! The manager's configuration: a TOML file, overridable by environment and flags.
//!
//! Secrets (BMC passwords) are never written in the clear by [`Config`]'s `Debug`; in the
//! file they are given as a [`SecretSource`] — an environment variable, a file, or (for
//! tests and demos only) an inline value:
//!
//! ```toml
//! [bmc]
//! user = "admin"
//! password = { env = "BCM_BMC_PASSWORD" }   # or { file = "/etc/bcm/bmc.pw" }
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why the configuration cannot be used. Messages name the file, key and fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (with line and column).
        message: String,
    },
    /// A secret could not be resolved.
    #[error("secret for {what}: {reason}")]
    Secret {
        /// Which setting.
        what: String,
        /// Why (variable unset, file unreadable, empty).
        reason: String,
    },
    /// A value is out of range or inconsistent.
    #[error("config: {0}")]
    Invalid(String),
}

/// Where a secret comes from. `Debug` never shows an inline value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum SecretSource {
    /// An environment variable.
    Env {
        /// Variable name.
        env: String,
    },
    /// The first line of a file (trailing newline stripped).
    File {
        /// Path of the file.
        file: PathBuf,
    },
    /// Inline (tests and demos; prefer `env` or `file`).
    Value {
        /// The secret.
        value: String,
    },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env { env } => write!(f, "env:{env}"),
            Self::File { file } => write!(f, "file:{}", file.display()),
            Self::Value { .. } => f.write_str("value:***"),
        }
    }
}

impl SecretSource {
    /// Reads the secret. The caller wraps it in its redacting type at once.
    ///
    /// # Errors
    /// [`ConfigError::Secret`] when the variable is unset, the file unreadable, or the
    /// secret empty.
    pub fn resolve(&self, what: &str) -> Result<String, ConfigError> {
        let fail = |reason: String| ConfigError::Secret {
            what: what.to_owned(),
            reason,
        };
        let value = match self {
            Self::Env { env } => std::env::var(env)
                .map_err(|_| fail(format!("environment variable {env} is not set")))?,
            Self::File { file } => std::fs::read_to_string(file)
                .map_err(|e| fail(format!("cannot read {}: {e}", file.display())))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            Self::Value { value } => value.clone(),
        };
        if value.is_empty() {
            return Err(fail("it is empty".to_owned()));
        }
        Ok(value)
    }
}

/// A duration written as `250ms`, `5s`, `10m`, `1h` or `2d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 5s"))?;
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(format!(
            "{text:?}: unknown unit {unit:?} (use ms, s, m, h or d)"
        )),
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Manager-wide settings.
    #[serde(default)]
    pub manager: ManagerConfig,
    /// The iSNS server and the manager's control node.
    #[serde(default)]
    pub isns: IsnsConfig,
    /// SLP discovery of the iSNS server.
    #[serde(default)]
    pub slp: SlpConfig,
    /// The inventory's iSCSI probe.
    #[serde(default)]
    pub probe: ProbeConfig,
    /// BMC defaults.
    #[serde(default)]
    pub bmc: BmcConfig,
    /// HTTP API of `bcm serve`.
    #[serde(default)]
    pub api: ApiConfig,
    /// Target-side settings (CHAP account hook).
    #[serde(default)]
    pub targets: TargetsConfig,
    /// The network-boot listener of `bcm serve` (iPXE scripts); see [`crate::boot`].
    #[serde(default)]
    pub boot: BootConfig,
    /// How the CLI reaches a running `bcm serve` (token, CA file).
    #[serde(default)]
    pub client: ClientConfig,
    /// Known servers (name, BMC, network).
    #[serde(default, rename = "server")]
    pub servers: Vec<ServerConfig>,
}

/// `[manager]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManagerConfig {
    /// SQLite store path.
    pub store: PathBuf,
    /// Naming authority for generated initiator IQNs, as a domain (`example.com`).
    pub domain: String,
    /// Year and month of the IQN date (`2026-11`): when the domain was owned.
    pub iqn_date: String,
    /// How long a reservation may stay uncommitted.
    #[serde(deserialize_with = "de_duration")]
    pub reservation_ttl: Duration,
    /// Generate a CHAP secret for each server by default (needs `[targets] chap_hook`, since
    /// iSNS cannot carry secrets to the targets; off by default for that reason).
    pub chap: bool,
    /// Prefix of the Discovery Domains the manager names; recovery removes an orphan with it
    /// only when the store records that the manager created it.
    pub dd_prefix: String,
    /// Let one target serve several servers. Off by default: a Discovery Domain admits an
    /// initiator to every LUN of a target, so servers sharing a target can read each other's
    /// disks; turn it on only where the targets enforce LUN masking themselves.
    pub share_targets: bool,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            store: PathBuf::from("/var/lib/bcm/bcm.sqlite"),
            domain: "example.com".to_owned(),
            iqn_date: "2026-01".to_owned(),
            reservation_ttl: Duration::from_secs(600),
            chap: false,
            dd_prefix: "bcm:".to_owned(),
            share_targets: false,
        }
    }
}

/// `[isns]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsnsConfig {
    /// The server; when absent it is discovered with SLP.
    pub server: Option<SocketAddr>,
    /// iSCSI name of the manager's control node.
    pub control_node: String,
    /// Where isnsd connects to deliver SCNs and ESIs (port 0 = any free port).
    pub listen: SocketAddr,
    /// Address registered for the control node's portal (what isnsd connects to).
    pub advertise: Option<IpAddr>,
    /// Per-request timeout (isnsd silently drops some requests).
    #[serde(deserialize_with = "de_duration")]
    pub request_timeout: Duration,
    /// Period of the full reconciliation walk that repairs missed SCNs.
    #[serde(deserialize_with = "de_duration")]
    pub reconcile_interval: Duration,
    /// Least time between two iSNS changes that notify the same storage entity (isnsd
    /// loses SCNs sent closer together, and tgtd then hangs; see [`crate::pacing`]).
    #[serde(deserialize_with = "de_duration")]
    pub scn_pacing: Duration,
    /// Renew each target's SCN registration (with tgt's bitmap) before changing its DDs, so
    /// open-isns notifies it from fresh state (`false` for iSNS servers without the defect).
    pub renew_target_scn: bool,
}

impl Default for IsnsConfig {
    fn default() -> Self {
        Self {
            server: None,
            control_node: "iqn.2026-01.com.example:bcm".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            request_timeout: Duration::from_secs(5),
            reconcile_interval: Duration::from_secs(300),
            scn_pacing: Duration::from_millis(500),
            renew_target_scn: true,
        }
    }
}

/// `[slp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlpConfig {
    /// Scopes queried (open-isns registers under the literal `initiator-scope-list`).
    pub scopes: Vec<String>,
    /// A directory agent to ask by unicast instead of multicast.
    pub da: Option<SocketAddr>,
    /// Upper bound of one discovery (RFC 2608 CONFIG_MC_MAX is 15 s).
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl Default for SlpConfig {
    fn default() -> Self {
        Self {
            scopes: vec!["DEFAULT".to_owned(), "initiator-scope-list".to_owned()],
            da: None,
            timeout: Duration::from_secs(15),
        }
    }
}

/// `[probe]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Initiator name the inventory logs in with (put in a management DD with the targets).
    pub initiator: String,
    /// Targets probed at once.
    pub concurrency: usize,
    /// Time limit per target.
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// CHAP secret of the probe's own account (user = `initiator`). Targets that demand CHAP
    /// once a server's account is bound to them get this account too (through the CHAP
    /// hook), so the inventory can still read their LUNs.
    pub chap_secret: Option<SecretSource>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            initiator: "iqn.2026-01.com.example:bcm-inventory".to_owned(),
            concurrency: 8,
            timeout: Duration::from_secs(10),
            chap_secret: None,
        }
    }
}

/// `[bmc]`: defaults for every server's BMC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BmcConfig {
    /// IPMI user name.
    pub user: String,
    /// IPMI password source.
    pub password: Option<SecretSource>,
    /// Overall bound for one BMC operation.
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Power-cycle the server after configuring it.
    pub power_cycle: bool,
    /// Parameter dialect: `oem`, `mailbox` or `auto`.
    pub dialect: crate::bmc::DialectChoice,
    /// Boot flags persistent (every boot) rather than next boot only.
    pub persistent: bool,
    /// EFI boot flags rather than legacy BIOS.
    pub efi: bool,
    /// Wait for an RMCP+ answer before retransmitting.
    #[serde(deserialize_with = "de_duration")]
    pub retransmit_after: Duration,
    /// RMCP+ transmissions per request in all (lossy management networks want more).
    pub transmissions: u32,
    /// How servers boot by default: `oem` (iSCSI parameters in the BMC) or `pxe` (force
    /// PXE, then the iPXE script `bcm serve` hands out).
    pub boot: BootMode,
    /// Byte order of the BMC's Get System GUID answer, to compare with the SMBIOS UUID
    /// iPXE reports.
    pub guid_encoding: crate::boot::GuidEncoding,
    /// How the manager talks to BMCs by default: `ipmi`, `redfish` or `auto`.
    pub protocol: Protocol,
    /// Bound of one Redfish step (every request of a configure or clear, task polling
    /// included); each request is bounded by `timeout`.
    #[serde(deserialize_with = "de_duration")]
    pub redfish_step_timeout: Duration,
}

/// How the manager talks to a server's BMC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IPMI v2.0 over RMCP+ (UDP 623).
    #[default]
    Ipmi,
    /// DMTF Redfish over HTTPS (`NetworkDeviceFunction.iSCSIBoot`).
    Redfish,
    /// Redfish when the BMC answers its service root over HTTPS, else IPMI.
    Auto,
}

impl Protocol {
    /// The name as configured and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipmi => "ipmi",
            Self::Redfish => "redfish",
            Self::Auto => "auto",
        }
    }
}

impl Default for BmcConfig {
    fn default() -> Self {
        Self {
            user: "admin".to_owned(),
            password: Some(SecretSource::Env {
                env: "BCM_BMC_PASSWORD".to_owned(),
            }),
            timeout: Duration::from_secs(10),
            power_cycle: false,
            dialect: crate::bmc::DialectChoice::Auto,
            persistent: true,
            efi: false,
            retransmit_after: Duration::from_secs(1),
            transmissions: 4,
            boot: BootMode::Oem,
            guid_encoding: crate::boot::GuidEncoding::Smbios,
            protocol: Protocol::Ipmi,
            redfish_step_timeout: Duration::from_secs(120),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Listen address of `bcm serve`'s HTTP API.
    pub listen: SocketAddr,
    /// Bearer tokens and their roles (see [`crate::auth`]). With none (and no
    /// `tokens_file`) the API is open, which `bcm serve` allows only on loopback.
    pub tokens: Vec<crate::auth::TokenConfig>,
    /// A file of more tokens, one `NAME ROLE TOKEN` per line.
    pub tokens_file: Option<PathBuf>,
    /// Serve `/metrics` without a token (off: a reader token is needed).
    pub metrics_public: bool,
    /// PEM certificate chain: with `tls_key`, the API speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tokens: Vec::new(),
            tokens_file: None,
            metrics_public: false,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[client]`: how the CLI talks to a running `bcm serve`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// The API of a `bcm serve` (`https://host:port`) that `provision`, `release` and
    /// `status` ask instead of the local store (`BCM_API` overrides it). Without it they
    /// ask the daemon holding the local store, if one does (`provision`, `release`).
    pub api: Option<String>,
    /// The token the CLI presents (`BCM_TOKEN` overrides it).
    pub token: Option<SecretSource>,
    /// PEM file of the CA that signed the API's certificate (`BCM_CA_FILE` overrides it).
    pub ca_file: Option<PathBuf>,
}

/// How a server is made to boot its LUN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootMode {
    /// The iSCSI boot parameters are written into the BMC (OEM or mailbox parameters).
    Oem,
    /// The BMC gets only standard settings (force PXE, power cycle); the firmware fetches
    /// its iPXE script from `bcm serve`'s boot listener.
    Pxe,
}

impl BootMode {
    /// The mode's name as configured and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oem => "oem",
            Self::Pxe => "pxe",
        }
    }
}

/// `[boot]`: the network-boot listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootConfig {
    /// Listen address of the boot listener (off when absent). Servers must reach it: behind
    /// QEMU user networking 127.0.0.1 is 10.0.2.2 inside the VM.
    pub listen: Option<SocketAddr>,
    /// `set keep-san 1` before `sanboot`, so the OS installer or loader finds the disk
    /// attached even when the boot from it fails.
    pub keep_san: bool,
    /// Requests per second one source address may make on average.
    pub rate: u32,
    /// Requests one source address may make at once after a quiet period.
    pub burst: u32,
    /// Program (and leading arguments) that prints the target's iSCSI sessions as
    /// `TARGET-IQN INITIATOR-IQN` lines (boot confirmation); none: logins are not checked.
    pub sessions_command: Vec<String>,
    /// How often the sessions command runs while a fetched script awaits its login.
    #[serde(deserialize_with = "de_duration")]
    pub sessions_interval: Duration,
}

impl Default for BootConfig {
    fn default() -> Self {
        Self {
            listen: None,
            keep_san: true,
            rate: 2,
            burst: 10,
            sessions_command: Vec::new(),
            sessions_interval: Duration::from_secs(2),
        }
    }
}

/// `[targets]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetsConfig {
    /// Program (and leading arguments) that sets and removes CHAP accounts on targets; see
    /// [`crate::target_chap`]. Required when `[manager] chap` is on.
    pub chap_hook: Vec<String>,
    /// Bound for one run of the hook.
    #[serde(deserialize_with = "de_duration")]
    pub hook_timeout: Duration,
}

impl Default for TargetsConfig {
    fn default() -> Self {
        Self {
            chap_hook: Vec::new(),
            hook_timeout: Duration::from_secs(15),
        }
    }
}

/// One `[[server]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Server name (used in its initiator IQN and DD name).
    pub name: String,
    /// BMC address (`host:port`; IPMI's port is 623).
    pub bmc: SocketAddr,
    /// Per-server BMC user, overriding `[bmc].user`.
    pub bmc_user: Option<String>,
    /// Per-server BMC password, overriding `[bmc].password`.
    pub bmc_password: Option<SecretSource>,
    /// Address the server uses to reach the storage portals, when it differs from what
    /// iSNS registered (NAT, or a VM behind user-mode networking).
    pub portal_address: Option<IpAddr>,
    /// MAC address of the boot NIC.
    pub mac: Option<String>,
    /// SMBIOS system UUID (what iPXE calls `${uuid}`), when known beforehand; otherwise
    /// learned from the BMC (Get System GUID) or given with the boot request.
    pub uuid: Option<String>,
    /// How this server boots, overriding `[bmc] boot`.
    pub boot: Option<BootMode>,
    /// How the manager talks to this server's BMC, overriding `[bmc] protocol`.
    pub protocol: Option<Protocol>,
    /// The BMC's Redfish (HTTPS) address, `host:port` (default: the BMC's host, port 443).
    pub redfish: Option<String>,
    /// PEM file of the CA that signed the BMC's certificate.
    pub redfish_ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint the BMC's certificate must have (`sha256:` + 64 hex digits);
    /// replaces the one recorded on first use (how a changed certificate is accepted).
    pub redfish_fingerprint: Option<String>,
    /// No certificate check at all for this BMC (explicit opt-in, logged as a warning).
    #[serde(default)]
    pub redfish_insecure: bool,
}

impl Config {
    /// Reads and checks a TOML config file.
    ///
    /// # Errors
    /// [`ConfigError::Read`], [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks TOML text (`path` is only used in messages).
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let date = self.manager.iqn_date.as_bytes();
        let date_ok = date.len() == 7
            && date[4] == b'-'
            && date[..4].iter().chain(&date[5..]).all(u8::is_ascii_digit);
        if !date_ok {
            return Err(ConfigError::Invalid(format!(
                "[manager] iqn_date {:?} must be yyyy-mm (a month the domain was owned)",
                self.manager.iqn_date
            )));
        }
        if self.manager.chap && self.targets.chap_hook.is_empty() {
            return Err(ConfigError::Invalid(
                "[manager] chap = true needs [targets] chap_hook, the program that creates the \
                 CHAP accounts on the targets (or set chap = false)"
                    .to_owned(),
            ));
        }
        if self.bmc.transmissions == 0 {
            return Err(ConfigError::Invalid(
                "[bmc] transmissions must be at least 1".to_owned(),
            ));
        }
        if self.probe.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "[probe] concurrency must be at least 1".to_owned(),
            ));
        }
        if self.api.tls_cert.is_some() != self.api.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "[api] tls_cert and tls_key go together: give both (HTTPS) or neither".to_owned(),
            ));
        }
        if self.boot.rate == 0 || self.boot.burst == 0 {
            return Err(ConfigError::Invalid(
                "[boot] rate and burst must be at least 1".to_owned(),
            ));
        }
        for s in &self.servers {
            let trusts = usize::from(s.redfish_ca_file.is_some())
                + usize::from(s.redfish_fingerprint.is_some())
                + usize::from(s.redfish_insecure);
            if trusts > 1 {
                return Err(ConfigError::Invalid(format!(
                    "[[server]] {}: give one of redfish_ca_file, redfish_fingerprint and \
                     redfish_insecure",
                    s.name
                )));
            }
            if let Some(fp) = &s.redfish_fingerprint
                && let Err(e) = fp.parse::<crate::redfish::tls::Fingerprint>()
            {
                return Err(ConfigError::Invalid(format!(
                    "[[server]] {} redfish_fingerprint: {e}",
                    s.name
                )));
            }
            if let Some(u) = &s.uuid
                && crate::boot::Uuid::parse(u).is_none()
            {
                return Err(ConfigError::Invalid(format!(
                    "[[server]] {} uuid {u:?} is not a UUID like 01234567-89ab-cdef-0123-456789abcdef",
                    s.name
                )));
            }
        }
        let mut names: Vec<&str> = self.servers.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::Invalid(format!(
                "[[server]] {:?} is listed twice",
                pair[0]
            )));
        }
        Ok(())
    }

    /// The `[[server]]` entry named `name`.
    #[must_use]
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// How the manager talks to `name`'s BMC: its `[[server]] protocol`, else `[bmc] protocol`.
    #[must_use]
    pub fn protocol(&self, name: &str) -> Protocol {
        self.server(name)
            .and_then(|s| s.protocol)
            .unwrap_or(self.bmc.protocol)
    }

    /// How `name` boots: its `[[server]] boot`, else `[bmc] boot`.
    #[must_use]
    pub fn boot_mode(&self, name: &str) -> BootMode {
        self.server(name)
            .and_then(|s| s.boot)
            .unwrap_or(self.bmc.boot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        [manager]
        store = "/tmp/bcm.sqlite"
        domain = "example.org"
        iqn_date = "2026-11"
        reservation_ttl = "2m"

        [isns]
        server = "127.0.0.1:3205"
        request_timeout = "1500ms"

        [bmc]
        user = "root"
        password = { value = "hunter2hunter2" }

        [[server]]
        name = "server-a"
        bmc = "127.0.0.1:9001"
        portal_address = "10.0.2.2"

        [[server]]
        name = "server-b"
        bmc = "127.0.0.1:9002"
        bmc_password = { env = "SERVER_B_PW" }
    "#;

    #[test]
    fn parses_every_section_with_durations() {
        let c = Config::parse(EXAMPLE, Path::new("t.toml")).unwrap();
        assert_eq!(c.manager.reservation_ttl, Duration::from_secs(120));
        assert_eq!(c.isns.request_timeout, Duration::from_millis(1500));
        assert_eq!(
            c.isns.server,
            Some(SocketAddr::from(([127, 0, 0, 1], 3205)))
        );
        assert_eq!(
            c.server("server-a").unwrap().portal_address,
            Some([10, 0, 2, 2].into())
        );
        assert_eq!(c.servers.len(), 2);
        assert_eq!(
            c.slp.scopes,
            ["DEFAULT", "initiator-scope-list"],
            "defaults fill gaps"
        );
    }

    #[test]
    fn debug_output_never_shows_inline_secrets() {
        let c = Config::parse(EXAMPLE, Path::new("t.toml")).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("value:***"));
        assert!(shown.contains("env:SERVER_B_PW"));
    }

    #[test]
    fn resolves_secrets_from_env_file_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        let src = SecretSource::File { file };
        assert_eq!(src.resolve("bmc").unwrap(), "from-file");
        let src = SecretSource::Value {
            value: "inline".to_owned(),
        };
        assert_eq!(src.resolve("bmc").unwrap(), "inline");
        let src = SecretSource::Env {
            env: "BCM_TEST_SURELY_UNSET_VARIABLE".to_owned(),
        };
        let err = src.resolve("server-a bmc").unwrap_err().to_string();
        assert!(
            err.contains("BCM_TEST_SURELY_UNSET_VARIABLE is not set"),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_keys_with_their_location() {
        let err = Config::parse("[manager]\nstroe = \"x\"\n", Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("c.toml") && msg.contains("stroe"), "{msg}");
    }

    #[test]
    fn rejects_bad_durations_and_dates_and_duplicate_servers() {
        let bad = Config::parse("[isns]\nrequest_timeout = \"5 parsecs\"\n", Path::new("c"));
        assert!(bad.unwrap_err().to_string().contains("unknown unit"));
        let bad = Config::parse("[manager]\niqn_date = \"2026-1\"\n", Path::new("c"));
        assert!(bad.unwrap_err().to_string().contains("yyyy-mm"));
        let twice = "[[server]]\nname=\"a\"\nbmc=\"127.0.0.1:1\"\n[[server]]\nname=\"a\"\nbmc=\"127.0.0.1:2\"\n";
        assert!(
            Config::parse(twice, Path::new("c"))
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn protocol_comes_from_the_server_else_bmc_and_trust_keys_are_checked() {
        let c = Config::parse(
            "[bmc]\nprotocol = \"auto\"\nredfish_step_timeout = \"30s\"\n\
             [[server]]\nname = \"a\"\nbmc = \"127.0.0.1:1\"\nprotocol = \"redfish\"\n\
             redfish = \"127.0.0.1:8443\"\nredfish_fingerprint = \"sha256:\
             0001020304050607080910111213141516171819202122232425262728293031\"\n\
             [[server]]\nname = \"b\"\nbmc = \"127.0.0.1:2\"\nprotocol = \"ipmi\"\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(c.protocol("a"), Protocol::Redfish);
        assert_eq!(c.protocol("b"), Protocol::Ipmi);
        assert_eq!(c.protocol("not-listed"), Protocol::Auto);
        assert_eq!(c.bmc.redfish_step_timeout, Duration::from_secs(30));
        assert_eq!(
            Config::parse("", Path::new("c")).unwrap().protocol("x"),
            Protocol::Ipmi,
            "IPMI stays the default"
        );
        for bad in [
            "[bmc]\nprotocol = \"snmp\"\n",
            "[[server]]\nname = \"a\"\nbmc = \"127.0.0.1:1\"\nredfish_fingerprint = \"sha256:abcd\"\n",
            "[[server]]\nname = \"a\"\nbmc = \"127.0.0.1:1\"\nredfish_insecure = true\n\
             redfish_ca_file = \"/etc/ca.pem\"\n",
        ] {
            assert!(Config::parse(bad, Path::new("c")).is_err(), "{bad}");
        }
    }

    #[test]
    fn boot_mode_comes_from_the_server_else_bmc_and_boot_section_parses() {
        let c = Config::parse(
            "[bmc]\nboot = \"pxe\"\nguid_encoding = \"ipmi\"\n\
             [boot]\nlisten = \"127.0.0.1:8081\"\nrate = 5\nsessions_interval = \"1s\"\n\
             [[server]]\nname = \"a\"\nbmc = \"127.0.0.1:1\"\nboot = \"oem\"\n\
             uuid = \"01234567-89AB-cdef-0123-456789abcdef\"\n\
             [[server]]\nname = \"b\"\nbmc = \"127.0.0.1:2\"\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(c.boot_mode("a"), BootMode::Oem);
        assert_eq!(c.boot_mode("b"), BootMode::Pxe);
        assert_eq!(c.boot_mode("not-listed"), BootMode::Pxe);
        assert_eq!(c.bmc.guid_encoding, crate::boot::GuidEncoding::Ipmi);
        assert_eq!(
            c.boot.listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 8081)))
        );
        assert_eq!((c.boot.rate, c.boot.burst, c.boot.keep_san), (5, 10, true));
        assert_eq!(c.boot.sessions_interval, Duration::from_secs(1));
        let defaults = Config::parse("", Path::new("c")).unwrap();
        assert_eq!(
            defaults.boot.listen, None,
            "the boot listener is off by default"
        );
        assert_eq!(defaults.boot_mode("x"), BootMode::Oem);
        for bad in [
            "[[server]]\nname = \"a\"\nbmc = \"127.0.0.1:1\"\nuuid = \"not-a-uuid\"\n",
            "[boot]\nrate = 0\n",
            "[bmc]\nboot = \"redfish\"\n",
        ] {
            assert!(Config::parse(bad, Path::new("c")).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_tokens_tls_and_client_sections_parse_and_tls_needs_both_files() {
        let c = Config::parse(
            "[api]\nlisten = \"0.0.0.0:8443\"\nmetrics_public = true\n\
             tokens = [{ name = \"ops\", role = \"operator\", secret = { value = \"s3cret-s3cret-s3cret\" } }]\n\
             tokens_file = \"/etc/bcm/tokens\"\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n\
             [client]\napi = \"https://127.0.0.1:8443\"\ntoken = { env = \"BCM_TOKEN\" }\nca_file = \"/ca.pem\"\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(c.api.tokens.len(), 1);
        assert_eq!(c.api.tokens[0].role, crate::auth::Role::Operator);
        assert!(c.api.metrics_public);
        assert_eq!(c.client.ca_file.as_deref(), Some(Path::new("/ca.pem")));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let defaults = Config::parse("", Path::new("c")).unwrap();
        assert!(defaults.api.tokens.is_empty() && !defaults.api.metrics_public);
        let half = Config::parse("[api]\ntls_cert = \"/c.pem\"\n", Path::new("c"));
        assert!(half.unwrap_err().to_string().contains("tls_key"));
        let bad_role =
            "[api]\ntokens = [{ name = \"x\", role = \"admin\", secret = { env = \"X\" } }]\n";
        assert!(Config::parse(bad_role, Path::new("c")).is_err());
    }

    #[test]
    fn parses_duration_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }
}
