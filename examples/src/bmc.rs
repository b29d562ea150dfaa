//! Pushing iSCSI boot parameters to a server's BMC over IPMI v2.0 / RMCP+ (manager side).
//!
//! One [`BmcPusher`] serves every BMC: it opens an RMCP+ session (cipher suite 17, then 3,
//! remembering per BMC which one worked), runs the `ipmi-iscsi` write exchange (OEM iSCSI
//! parameters with the CHAP secret over the encrypted session, or the mailbox dialect without
//! secrets), sets network boot flags, optionally power-cycles the server, and closes the
//! session. Clearing writes the OEM control record with the enable bit off and clears the
//! boot-flags valid bit.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use ipmi_iscsi::bootopt::{
    BootFlags, BootParam, Dialect, Pen, WriteExchange, WritePlan, is_unsupported, oem, set_request,
};
use ipmi_iscsi::driver::{Client, ClientError, SuiteMemory};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, app, chassis};
use ipmi_iscsi::params::IscsiBootParams;
use ipmi_iscsi::rmcp::{CipherSuite, ClientConfig, ConfAlg, Password};

/// IPMI's UDP port (RMCP, "asf-rmcp").
pub const IPMI_PORT: u16 = 623;

/// Which parameter dialect to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DialectChoice {
    /// OEM parameters 96–127 (CHAP secrets over the encrypted session).
    Oem,
    /// Parameter 7 (boot initiator mailbox) under an enterprise number; no secrets.
    Mailbox,
    /// OEM, falling back to the mailbox when the BMC does not implement it and no secret is
    /// needed.
    Auto,
}

/// Why a BMC operation failed. Messages say what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BmcError {
    /// The address does not resolve.
    #[error("bmc address {0:?} does not resolve to an IP address (use host or host:port)")]
    Address(String),
    /// The session could not be opened or a request was not answered.
    #[error("bmc {bmc}: {source}")]
    Session {
        /// The BMC.
        bmc: SocketAddr,
        /// What the RMCP+ client reported.
        source: ClientError,
    },
    /// The parameters were refused or not stored.
    #[error("bmc {bmc}: writing boot parameters failed: {reason}")]
    Write {
        /// The BMC.
        bmc: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A command answered with a failing completion code.
    #[error("bmc {bmc}: {what} answered {completion}")]
    Refused {
        /// The BMC.
        bmc: SocketAddr,
        /// The command.
        what: &'static str,
        /// Completion code.
        completion: CompletionCode,
    },
}

impl BmcError {
    /// Whether retrying may help (timeouts, lost datagrams), as opposed to a refusal.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Session { source, .. } => source.is_timeout(),
            _ => false,
        }
    }
}

/// How to reach one BMC. `Debug` hides the password.
#[derive(Clone)]
pub struct BmcLogin {
    /// Address and port.
    pub addr: SocketAddr,
    /// IPMI user.
    pub user: String,
    /// IPMI password.
    pub password: Password,
}

impl fmt::Debug for BmcLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BmcLogin")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// Resolves `host` or `host:port` (IPv6 in brackets) with IPMI's default port.
///
/// # Errors
/// [`BmcError::Address`].
pub fn resolve_bmc(text: &str) -> Result<SocketAddr, BmcError> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, IPMI_PORT));
    }
    let with_port = if text.contains(':') {
        text.to_owned()
    } else {
        format!("{text}:{IPMI_PORT}")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| BmcError::Address(text.to_owned()))
}

/// What a configuration push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcReport {
    /// Cipher suite of the session.
    pub suite: Option<u8>,
    /// Dialect used.
    pub dialect: &'static str,
    /// IPMI requests sent.
    pub requests: usize,
    /// Whether the server was power-cycled.
    pub power_cycled: bool,
}

impl fmt::Display for BmcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} dialect, cipher suite {}, {} requests{}",
            self.dialect,
            self.suite.map_or_else(|| "?".to_owned(), |s| s.to_string()),
            self.requests,
            if self.power_cycled {
                ", power cycled"
            } else {
                ""
            }
        )
    }
}

/// What a network-boot push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkBootReport {
    /// Cipher suite of the session.
    pub suite: Option<u8>,
    /// The 16 bytes of Get System GUID, when the BMC answered it (byte order as sent).
    pub system_guid: Option<[u8; 16]>,
    /// Whether the EFI flag was set.
    pub efi: bool,
    /// Whether the server was power-cycled.
    pub power_cycled: bool,
}

impl fmt::Display for NetworkBootReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "force {} boot, cipher suite {}{}",
            if self.efi { "EFI PXE" } else { "PXE" },
            self.suite.map_or_else(|| "?".to_owned(), |s| s.to_string()),
            if self.power_cycled {
                ", power cycled"
            } else {
                ""
            }
        )
    }
}

/// Settings of a [`BmcPusher`].
#[derive(Clone, Debug)]
pub struct PusherConfig {
    /// Bound for each RMCP+ operation (session set-up, each request).
    pub timeout: Duration,
    /// Dialect.
    pub dialect: DialectChoice,
    /// Enterprise number for the mailbox dialect.
    pub pen: Pen,
    /// Boot flags persistent (every boot) rather than next boot only.
    pub persistent: bool,
    /// EFI boot flags rather than legacy.
    pub efi: bool,
    /// Retransmission of unanswered RMCP+ datagrams.
    pub retry: ipmi_iscsi::rmcp::RetryPolicy,
}

impl Default for PusherConfig {
    fn default() -> Self {
        Self {
            retry: ipmi_iscsi::rmcp::RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            dialect: DialectChoice::Auto,
            pen: Pen::EXAMPLE,
            persistent: true,
            efi: false,
        }
    }
}

/// Configures BMCs; shared by every provisioning (remembers cipher suites).
#[derive(Debug)]
pub struct BmcPusher {
    config: PusherConfig,
    suites: Mutex<SuiteMemory>,
}

impl BmcPusher {
    /// A pusher with these settings and the cipher suites remembered so far.
    #[must_use]
    pub fn new(config: PusherConfig, remembered: &[(SocketAddr, u8)]) -> Self {
        let mut memory = SuiteMemory::new();
        for (bmc, suite) in remembered {
            if let Some(suite) = CipherSuite::from_id(*suite) {
                memory.remember(*bmc, suite);
            }
        }
        Self {
            config,
            suites: Mutex::new(memory),
        }
    }

    async fn connect(&self, login: &BmcLogin) -> Result<Client, BmcError> {
        let mut cfg = ClientConfig::new(login.user.as_bytes().to_vec(), login.password.clone());
        cfg.retry = self.config.retry;
        let mut memory = self
            .suites
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let client = Client::connect_remembering(login.addr, cfg, self.config.timeout, &mut memory)
            .await
            .map_err(|source| BmcError::Session {
                bmc: login.addr,
                source,
            })?;
        if let (Some(s), Ok(mut m)) = (client.cipher_suite(), self.suites.lock()) {
            m.remember(login.addr, s);
        }
        Ok(client)
    }

    /// Writes `params` and network-boot flags, then power-cycles the server when asked.
    ///
    /// # Errors
    /// [`BmcError`]: session set-up, refusal, or a BMC that acknowledged but did not store.
    pub async fn configure(
        &self,
        login: &BmcLogin,
        params: &IscsiBootParams,
        power_cycle: bool,
    ) -> Result<BmcReport, BmcError> {
        let mut client = self.connect(login).await?;
        let result = self.configure_on(&mut client, params, power_cycle).await;
        // A failed close only leaves a session for the BMC to time out.
        let _ = client.close().await;
        result
    }

    async fn configure_on(
        &self,
        client: &mut Client,
        params: &IscsiBootParams,
        power_cycle: bool,
    ) -> Result<BmcReport, BmcError> {
        let bmc = client.peer();
        let suite = client.cipher_suite();
        let confidential = suite.is_some_and(|s| s.confidentiality != ConfAlg::None);
        let flags = BootFlags::network_boot(self.config.persistent, self.config.efi);
        let try_dialect = |dialect: Dialect| {
            let mut plan = WritePlan::new(params.clone(), dialect);
            plan.boot_flags = Some(flags);
            plan
        };
        let first = match self.config.dialect {
            DialectChoice::Mailbox => Dialect::Mailbox {
                pen: self.config.pen,
            },
            DialectChoice::Oem | DialectChoice::Auto => Dialect::Oem { confidential },
        };
        let mut outcome = run_write(client, &try_dialect(first)).await?;
        let mut dialect = if matches!(first, Dialect::Oem { .. }) {
            "oem"
        } else {
            "mailbox"
        };
        if let Err(WriteFailure::Unsupported(_)) = &outcome
            && self.config.dialect == DialectChoice::Auto
            && params.auth.summary() == ipmi_iscsi::params::AuthSummary::None
        {
            outcome = run_write(
                client,
                &try_dialect(Dialect::Mailbox {
                    pen: self.config.pen,
                }),
            )
            .await?;
            dialect = "mailbox";
        }
        let requests = match outcome {
            Ok(n) => n,
            Err(f) => {
                return Err(BmcError::Write {
                    bmc,
                    reason: f.to_string(),
                });
            }
        };
        if power_cycle {
            power_cycle_on(client).await?;
        }
        Ok(BmcReport {
            suite: suite.map(|s| s.id),
            dialect,
            requests,
            power_cycled: power_cycle,
        })
    }

    /// Network boot through `bcm serve` (boot mode `pxe`): reads the system GUID when the
    /// BMC answers Get System GUID, writes only the standard boot flags (parameter 5: force
    /// PXE, EFI when configured), then power-cycles (or powers up) the server when asked.
    /// Nothing of ours is needed on the BMC.
    ///
    /// # Errors
    /// [`BmcError`]: session set-up, or a refused boot-flags write or chassis control.
    pub async fn network_boot(
        &self,
        login: &BmcLogin,
        power_cycle: bool,
    ) -> Result<NetworkBootReport, BmcError> {
        let mut client = self.connect(login).await?;
        let result = self.network_boot_on(&mut client, power_cycle).await;
        let _ = client.close().await;
        result
    }

    async fn network_boot_on(
        &self,
        client: &mut Client,
        power_cycle: bool,
    ) -> Result<NetworkBootReport, BmcError> {
        let bmc = client.peer();
        // Optional (IPMI v2.0 §22.14): a BMC that refuses it still boots the server.
        let guid = client
            .execute(Request::new(NetFn::APP, app::GET_SYSTEM_GUID, []))
            .await
            .map_err(|source| BmcError::Session { bmc, source })?;
        let system_guid = if guid.is_ok() {
            <[u8; 16]>::try_from(guid.data.as_slice()).ok()
        } else {
            None
        };
        let flags = BootFlags::network_boot(self.config.persistent, self.config.efi);
        execute_ok(
            client,
            set_request(BootParam::BOOT_FLAGS, &flags.encode()),
            "set boot flags (force pxe)",
        )
        .await?;
        if power_cycle {
            power_cycle_on(client).await?;
        }
        Ok(NetworkBootReport {
            suite: client.cipher_suite().map(|s| s.id),
            system_guid,
            efi: self.config.efi,
            power_cycled: power_cycle,
        })
    }

    /// Clears the boot flags only (boot mode `pxe`: nothing else was written).
    ///
    /// # Errors
    /// [`BmcError`].
    pub async fn clear_boot_flags(&self, login: &BmcLogin) -> Result<(), BmcError> {
        let mut client = self.connect(login).await?;
        let cleared = BootFlags::default().encode();
        let result = execute_ok(
            &mut client,
            set_request(BootParam::BOOT_FLAGS, &cleared),
            "set boot flags",
        )
        .await
        .map(drop);
        let _ = client.close().await;
        result
    }

    /// Turns iSCSI boot off on the BMC (OEM control record disabled, boot-flags valid bit
    /// cleared). A BMC without the OEM dialect only gets the flags cleared.
    ///
    /// # Errors
    /// [`BmcError`].
    pub async fn clear(&self, login: &BmcLogin) -> Result<(), BmcError> {
        let mut client = self.connect(login).await?;
        let result = clear_on(&mut client).await;
        let _ = client.close().await;
        result
    }

    /// The settings this pusher was made with (boot-flag persistence and EFI also govern the
    /// Redfish boot override).
    #[must_use]
    pub fn config(&self) -> &PusherConfig {
        &self.config
    }

    /// The cipher suites learned so far, for persisting.
    #[must_use]
    pub fn remembered(&self, bmc: SocketAddr) -> Option<u8> {
        self.suites
            .lock()
            .ok()
            .and_then(|m| m.get(bmc))
            .map(|s| s.id)
    }
}

enum WriteFailure {
    Unsupported(String),
    Other(String),
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported(s) | Self::Other(s) => f.write_str(s),
        }
    }
}

async fn run_write(
    client: &mut Client,
    plan: &WritePlan,
) -> Result<Result<usize, WriteFailure>, BmcError> {
    let bmc = client.peer();
    let mut ex = WriteExchange::new(plan).map_err(|e| BmcError::Write {
        bmc,
        reason: e.to_string(),
    })?;
    client
        .run_exchange(&mut ex)
        .await
        .map_err(|source| BmcError::Session { bmc, source })?;
    Ok(match ex.into_outcome() {
        Some(Ok(report)) => Ok(report.requests),
        Some(Err(ipmi_iscsi::bootopt::WriteError::Refused {
            param, completion, ..
        })) if param.is_oem() && is_unsupported(completion) => Err(WriteFailure::Unsupported(
            format!("the bmc does not implement the OEM iSCSI parameters ({completion})"),
        )),
        Some(Err(e)) => Err(WriteFailure::Other(e.to_string())),
        None => Err(WriteFailure::Other(
            "the write exchange ended without an outcome".to_owned(),
        )),
    })
}

async fn execute_ok(
    client: &mut Client,
    request: Request,
    what: &'static str,
) -> Result<Vec<u8>, BmcError> {
    let bmc = client.peer();
    let response = client
        .execute(request)
        .await
        .map_err(|source| BmcError::Session { bmc, source })?;
    if response.is_ok() {
        Ok(response.data)
    } else {
        Err(BmcError::Refused {
            bmc,
            what,
            completion: response.completion,
        })
    }
}

async fn power_cycle_on(client: &mut Client) -> Result<(), BmcError> {
    let status = execute_ok(
        client,
        Request::new(NetFn::CHASSIS, chassis::GET_CHASSIS_STATUS, []),
        "get chassis status",
    )
    .await?;
    // IPMI v2.0 §28.3: power cycle is refused (0xD5) while off; power up instead.
    let on = status.first().is_some_and(|b| b & 1 == 1);
    let action = if on { 0x02 } else { 0x01 };
    execute_ok(
        client,
        Request::new(NetFn::CHASSIS, chassis::CHASSIS_CONTROL, [action]),
        "chassis control",
    )
    .await
    .map(drop)
}

async fn clear_on(client: &mut Client) -> Result<(), BmcError> {
    let bmc = client.peer();
    let blocks =
        oem::record_to_blocks(&oem::control_record(false)).map_err(|e| BmcError::Write {
            bmc,
            reason: e.to_string(),
        })?;
    for block in blocks {
        let response = client
            .execute(set_request(BootParam::OEM_CONTROL, &block.encode()))
            .await
            .map_err(|source| BmcError::Session { bmc, source })?;
        if !response.is_ok() && !is_unsupported(response.completion) {
            return Err(BmcError::Refused {
                bmc,
                what: "set oem iscsi control",
                completion: response.completion,
            });
        }
    }
    let cleared = BootFlags::default().encode();
    execute_ok(
        client,
        set_request(BootParam::BOOT_FLAGS, &cleared),
        "set boot flags",
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_bmc_addresses_with_the_ipmi_default_port() {
        assert_eq!(
            resolve_bmc("127.0.0.1").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 623))
        );
        assert_eq!(
            resolve_bmc("127.0.0.1:9001").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 9001))
        );
        assert_eq!(resolve_bmc("[::1]:700").unwrap().port(), 700);
        assert_eq!(resolve_bmc("localhost:9002").unwrap().port(), 9002);
        assert!(matches!(
            resolve_bmc("no such host.invalid"),
            Err(BmcError::Address(_))
        ));
    }

    #[test]
    fn login_debug_hides_the_password() {
        let login = BmcLogin {
            addr: SocketAddr::from(([127, 0, 0, 1], 623)),
            user: "admin".to_owned(),
            password: Password::new("s3cret-pw").unwrap(),
        };
        let shown = format!("{login:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
