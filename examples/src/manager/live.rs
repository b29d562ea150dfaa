//! The real side effects: iSNS through the manager's control-node session, target CHAP
//! accounts through the configured hook, BMCs over RMCP+.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boot_config_core::{
    Action, BmcBootSettings, BootPath, ChapCredentials as CoreChap, DdId, DdSpec, InventoryEvent,
};
use ipmi_iscsi::params::{
    Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams, IscsiTarget, Lun,
    ParamsError, Secret,
};
use ipmi_iscsi::rmcp::Password;
use isns_proto::Status;
use isns_proto::client::{EntityId, NameError, NodeName, OpError};
use isns_proto::client_tokio::{DriverError, IsnsClient};

use super::{Effects, StepContext, StepError, StepOutcome};
use crate::bmc::{BmcError, BmcLogin, BmcPusher, resolve_bmc};
use crate::boot::{GuidEncoding, Uuid};
use crate::config::{BootMode, Config, Protocol};
use crate::pacing::Pacer;
use crate::redfish::error::RedfishError;
use crate::redfish::flow::{self, Endpoint, RedfishReport};
use crate::redfish::netboot::{self, NetbootSettings};
use crate::redfish::server::{PinBook, RedfishFacts};
use crate::redfish::transport::{Bounds, Credentials};
use crate::target_chap::{ChapChange, ChapHook};

/// The SCN bitmap tgt 1.0.85 registers for its targets (initiator-and-self information,
/// object added, removed and updated): what [`LiveEffects`] re-registers when it renews a
/// target's SCN registration (see [`crate::pacing`]).
pub const TGT_SCN_BITMAP: isns_proto::ScnBitmap = isns_proto::ScnBitmap::INITIATOR_AND_SELF_ONLY
    .union(isns_proto::ScnBitmap::OBJECT_REMOVED)
    .union(isns_proto::ScnBitmap::OBJECT_ADDED)
    .union(isns_proto::ScnBitmap::OBJECT_UPDATED);

/// Something that holds the manager's iSNS control-node session.
pub trait IsnsAccess: Send + Sync + 'static {
    /// The session.
    fn isns(&self) -> &IsnsClient;
}

impl IsnsAccess for IsnsClient {
    fn isns(&self) -> &IsnsClient {
        self
    }
}

impl IsnsAccess for crate::inventory::Inventory {
    fn isns(&self) -> &IsnsClient {
        crate::inventory::Inventory::isns(self)
    }
}

impl<T: IsnsAccess> IsnsAccess for Arc<T> {
    fn isns(&self) -> &IsnsClient {
        (**self).isns()
    }
}

/// BMC credentials and per-server network facts, resolved from the configuration once.
#[derive(Clone, Debug)]
pub struct BmcDirectory {
    default_user: String,
    default_password: Option<Password>,
    servers: HashMap<String, ServerFacts>,
    default_boot: BootMode,
    guid_encoding: GuidEncoding,
    redfish: HashMap<String, RedfishFacts>,
    default_protocol: Protocol,
    pins: PinBook,
    redfish_bounds: Bounds,
}

#[derive(Clone, Debug)]
struct ServerFacts {
    user: Option<String>,
    password: Option<Password>,
    portal_address: Option<IpAddr>,
    boot: BootMode,
}

impl BmcDirectory {
    /// Resolves every secret source in `config` now, so a missing password fails at start-up
    /// rather than in the middle of a provisioning.
    ///
    /// # Errors
    /// A message naming the setting whose secret cannot be read.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let pw = |text: String, what: &str| Password::new(text).map_err(|e| format!("{what}: {e}"));
        let default_password = match &config.bmc.password {
            Some(src) => match src.resolve("[bmc] password") {
                Ok(p) => Some(pw(p, "[bmc] password")?),
                // Tolerated when every server has its own password; checked per use.
                Err(_)
                    if !config.servers.is_empty()
                        && config.servers.iter().all(|s| s.bmc_password.is_some()) =>
                {
                    None
                }
                Err(e) => return Err(e.to_string()),
            },
            None => None,
        };
        let mut servers = HashMap::new();
        for s in &config.servers {
            let what = format!("[[server]] {} bmc_password", s.name);
            let password = match &s.bmc_password {
                Some(src) => Some(pw(src.resolve(&what).map_err(|e| e.to_string())?, &what)?),
                None => None,
            };
            servers.insert(
                s.name.clone(),
                ServerFacts {
                    user: s.bmc_user.clone(),
                    password,
                    portal_address: s.portal_address,
                    boot: config.boot_mode(&s.name),
                },
            );
        }
        Ok(Self::with(config, default_password, servers))
    }

    /// The directory of a read-only command (`bcm inventory`): per-server network facts,
    /// no password resolved, so none has to be configured; every login fails.
    #[must_use]
    pub fn without_secrets(config: &Config) -> Self {
        let servers = config
            .servers
            .iter()
            .map(|s| {
                let facts = ServerFacts {
                    user: s.bmc_user.clone(),
                    password: None,
                    portal_address: s.portal_address,
                    boot: config.boot_mode(&s.name),
                };
                (s.name.clone(), facts)
            })
            .collect();
        Self::with(config, None, servers)
    }

    /// The directory of `config` with the passwords already resolved.
    fn with(
        config: &Config,
        default_password: Option<Password>,
        servers: HashMap<String, ServerFacts>,
    ) -> Self {
        Self {
            default_user: config.bmc.user.clone(),
            default_password,
            servers,
            default_boot: config.bmc.boot,
            guid_encoding: config.bmc.guid_encoding,
            redfish: config
                .servers
                .iter()
                .map(|s| (s.name.clone(), RedfishFacts::of(config, s)))
                .collect(),
            default_protocol: config.bmc.protocol,
            pins: PinBook::default(),
            redfish_bounds: Bounds {
                request: config.bmc.timeout,
                step: config.bmc.redfish_step_timeout,
                ..Bounds::default()
            },
        }
    }

    /// Credentials for `server`'s BMC at `bmc`.
    ///
    /// # Errors
    /// A message when no password is configured for it.
    pub fn login(&self, server: &str, bmc: SocketAddr) -> Result<BmcLogin, String> {
        let facts = self.servers.get(server);
        let password = facts
            .and_then(|f| f.password.clone())
            .or_else(|| self.default_password.clone())
            .ok_or_else(|| {
                format!("no BMC password for {server}: set [bmc] password or its bmc_password")
            })?;
        Ok(BmcLogin {
            addr: bmc,
            user: facts
                .and_then(|f| f.user.clone())
                .unwrap_or_else(|| self.default_user.clone()),
            password,
        })
    }

    /// The certificate pins learnt on first use (load them from the store at start).
    #[must_use]
    pub fn with_pins(mut self, pins: PinBook) -> Self {
        self.pins = pins;
        self
    }

    /// The Redfish endpoint of `server`'s BMC at `bmc` when its protocol is `redfish`, or
    /// `auto` and its HTTPS service root answers; `None` for IPMI.
    ///
    /// # Errors
    /// A step error when `auto` meets a BMC whose certificate is not the trusted one.
    pub async fn redfish_endpoint(
        &self,
        server: &str,
        bmc: SocketAddr,
        login: &BmcLogin,
    ) -> Result<Option<Endpoint>, StepError> {
        let facts = self
            .redfish
            .get(server)
            .cloned()
            .unwrap_or_else(|| RedfishFacts::default_for(self.default_protocol));
        if facts.protocol == Protocol::Ipmi {
            return Ok(None);
        }
        let https = facts.https_addr(bmc);
        let ep = Endpoint {
            trust: facts.trust(&https, &self.pins),
            bmc: https,
            creds: Credentials {
                user: login.user.clone(),
                password: String::from_utf8_lossy(login.password.expose()).into_owned(),
            },
            system_uuid: facts.uuid,
            mac: facts.mac,
        };
        if facts.protocol == Protocol::Auto && !flow::probe(&ep, self.redfish_bounds).await? {
            return Ok(None);
        }
        Ok(Some(ep))
    }

    /// How `server` boots (`[[server]] boot`, else `[bmc] boot`).
    #[must_use]
    pub fn boot_mode(&self, server: &str) -> BootMode {
        self.servers
            .get(server)
            .map_or(self.default_boot, |f| f.boot)
    }

    /// The portal address `server` must use instead of the registered one, if configured.
    #[must_use]
    pub fn portal_address(&self, server: &str) -> Option<IpAddr> {
        self.servers.get(server).and_then(|f| f.portal_address)
    }
}

/// A CHAP account every target with CHAP must also accept (the inventory probe's), so
/// binding a server's account does not lock the probe out.
#[derive(Clone)]
pub struct ExtraAccount {
    /// CHAP user.
    pub user: String,
    /// Secret.
    pub secret: Secret,
}

impl std::fmt::Debug for ExtraAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtraAccount({}, ***)", self.user)
    }
}

/// The real effects.
pub struct LiveEffects<I> {
    isns: I,
    pacer: Arc<Pacer>,
    bmc: BmcPusher,
    directory: BmcDirectory,
    chap: Option<ChapHook>,
    extra_account: Option<ExtraAccount>,
    dd_ids: Mutex<HashMap<String, u32>>,
}

impl<I: IsnsAccess> LiveEffects<I> {
    /// Effects over `isns`, pushing to BMCs with `bmc`.
    pub fn new(
        isns: I,
        pacer: Arc<Pacer>,
        bmc: BmcPusher,
        directory: BmcDirectory,
        chap: Option<ChapHook>,
        extra_account: Option<ExtraAccount>,
    ) -> Self {
        Self {
            isns,
            pacer,
            bmc,
            directory,
            chap,
            extra_account,
            dd_ids: Mutex::new(HashMap::new()),
        }
    }

    /// The iSNS session.
    pub fn isns(&self) -> &IsnsClient {
        self.isns.isns()
    }

    /// Runs an iSNS change that notifies `ctx.notified` inside a pacer slot, then finishes
    /// the slot (see [`crate::pacing`]).
    async fn notifying<T>(
        &self,
        ctx: &StepContext<'_>,
        change: impl std::future::Future<Output = Result<T, StepError>>,
    ) -> Result<T, StepError> {
        self.notifying_when(ctx, change, std::future::pending())
            .await
    }

    /// [`Self::notifying`], with the wait after the change ended early by `read` (see
    /// [`crate::pacing::Slot::finish_when`]); not after a failed change.
    async fn notifying_when<T>(
        &self,
        ctx: &StepContext<'_>,
        change: impl std::future::Future<Output = Result<T, StepError>>,
        read: impl std::future::Future<Output = ()>,
    ) -> Result<T, StepError> {
        let slot = self.slot(ctx).await?;
        let result = change.await;
        let finished = if result.is_ok() {
            slot.finish_when(self.isns.isns(), read).await
        } else {
            slot.finish(self.isns.isns()).await
        };
        if let Err(e) = finished {
            // The change stands; the next slot for this entity renews again.
            tracing::warn!(error = %e, "renewing SCN registrations after a change");
        }
        result
    }

    /// The pacer slot for a change notifying `ctx.notified` (see [`crate::pacing`]).
    async fn slot(&self, ctx: &StepContext<'_>) -> Result<crate::pacing::Slot, StepError> {
        let changes: Vec<(String, Option<String>)> = ctx
            .notified
            .iter()
            .map(|(e, t)| (e.clone(), Some(t.clone())))
            .collect();
        self.pacer
            .slot(&changes, self.isns.isns())
            .await
            .map_err(|e| isns_error("renew target SCN registration", &e))
    }

    fn dd_id(&self, name: &str, ctx: &StepContext<'_>) -> Option<u32> {
        ctx.known_dd
            .or_else(|| self.dd_ids.lock().ok().and_then(|m| m.get(name).copied()))
    }

    fn remember_dd(&self, name: &str, id: Option<u32>) {
        if let Ok(mut m) = self.dd_ids.lock() {
            match id {
                Some(id) => m.insert(name.to_owned(), id),
                None => m.remove(name),
            };
        }
    }

    async fn chap(
        &self,
        action: &'static str,
        targets: &[boot_config_core::IscsiName],
        user: &str,
        creds: Option<&CoreChap>,
        ctx: &StepContext<'_>,
    ) -> Result<StepOutcome, StepError> {
        let hook = self.chap.as_ref().ok_or_else(|| {
            StepError::permanent(
                "CHAP was asked for but no [targets] chap_hook is configured to create the account on the target",
            )
        })?;
        for t in targets {
            let portals = ctx
                .target_portals
                .iter()
                .find(|(name, _)| name == t.as_str())
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            let mutual = creds
                .and_then(|c| c.mutual.as_ref())
                .map(|(u, s)| (u.as_str(), s.expose_secret()));
            hook.run(&ChapChange {
                action,
                target: t.as_str(),
                portals: &portals,
                user,
                secret: creds.map(|c| c.secret.expose_secret()),
                mutual,
            })
            .await
            .map_err(|e| StepError::permanent(e.to_string()))?;
            if action == "set"
                && let Some(extra) = &self.extra_account
            {
                hook.run(&ChapChange {
                    action,
                    target: t.as_str(),
                    portals: &portals,
                    user: &extra.user,
                    secret: Some(extra.secret.expose()),
                    mutual: None,
                })
                .await
                .map_err(|e| StepError::permanent(e.to_string()))?;
            }
        }
        Ok(StepOutcome::detail(format!(
            "account {user} {} on {} target(s)",
            if action == "set" { "set" } else { "removed" },
            targets.len()
        )))
    }

    /// Runs the hook's `check` for the server's account (and the extra account) on each
    /// target of a [`Action::SetTargetChap`]; `None` when the hook cannot tell.
    async fn chap_in_place(&self, action: &Action, ctx: &StepContext<'_>) -> Option<bool> {
        let Action::SetTargetChap {
            targets,
            credentials,
        } = action
        else {
            return None;
        };
        let hook = self.chap.as_ref()?;
        for t in targets {
            let portals = ctx
                .target_portals
                .iter()
                .find(|(name, _)| name == t.as_str())
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            let mutual = credentials.mutual.as_ref().map(|(u, _)| u.as_str());
            let mut accounts = vec![(credentials.user.as_str(), mutual)];
            if let Some(extra) = &self.extra_account {
                accounts.push((extra.user.as_str(), None));
            }
            for (user, mutual) in accounts {
                match hook.check(t.as_str(), &portals, user, mutual).await {
                    Ok(true) => {}
                    Ok(false) => return Some(false),
                    Err(e) => {
                        tracing::debug!(error = %e, "target CHAP hook cannot check");
                        return None;
                    }
                }
            }
        }
        Some(true)
    }

    async fn configure_bmc(
        &self,
        s: &BmcBootSettings,
        ctx: &StepContext<'_>,
    ) -> Result<StepOutcome, StepError> {
        let Some(bmc) = &s.bmc else {
            return Err(StepError::permanent(format!(
                "server {} has no BMC address: give --bmc or [[server]] bmc",
                ctx.server
            )));
        };
        let addr = resolve_bmc(bmc).map_err(|e| StepError::permanent(e.to_string()))?;
        let login = self
            .directory
            .login(ctx.server, addr)
            .map_err(StepError::permanent)?;
        if self.directory.boot_mode(ctx.server) == BootMode::Pxe {
            return self.network_boot(addr, &login, ctx).await;
        }
        let params = boot_params(s, self.directory.portal_address(ctx.server))
            .map_err(StepError::permanent)?;
        if let Some(ep) = self
            .directory
            .redfish_endpoint(ctx.server, addr, &login)
            .await?
        {
            let report =
                flow::configure(&ep, &params, ctx.power_cycle, self.directory.redfish_bounds)
                    .await?;
            return Ok(self.redfish_outcome(&ep, &report));
        }
        let suite_before = self.bmc.remembered(addr);
        let report = self.bmc.configure(&login, &params, ctx.power_cycle).await?;
        Ok(StepOutcome {
            detail: format!("ipmi {addr}: {report}"),
            // Only a newly learned suite is worth a store write.
            cipher_suite: report
                .suite
                .filter(|s| Some(*s) != suite_before)
                .map(|s| (addr.to_string(), s)),
            events: Vec::new(),
            system_uuid: None,
            cert_pin: None,
        })
    }

    /// The BMC step of boot mode `pxe`: standard settings only (see
    /// [`BmcPusher::network_boot`]); the system UUID the BMC reports is passed on for the
    /// boot listener to recognise the server by.
    async fn network_boot(
        &self,
        addr: SocketAddr,
        login: &BmcLogin,
        ctx: &StepContext<'_>,
    ) -> Result<StepOutcome, StepError> {
        if let Some(ep) = self
            .directory
            .redfish_endpoint(ctx.server, addr, login)
            .await?
        {
            let settings = NetbootSettings {
                persistent: self.bmc.config().persistent,
                efi: self.bmc.config().efi,
            };
            let report = netboot::network_boot(
                &ep,
                settings,
                ctx.power_cycle,
                self.directory.redfish_bounds,
            )
            .await?;
            // The UUID the system reports over Redfish is what its firmware sends (SMBIOS).
            let uuid = report.uuid.as_deref().and_then(Uuid::parse);
            return Ok(StepOutcome {
                detail: format!(
                    "redfish https://{}: {report}{}",
                    ep.bmc,
                    uuid.map(|u| format!(", system uuid {u}"))
                        .unwrap_or_default()
                ),
                cipher_suite: None,
                events: Vec::new(),
                system_uuid: uuid.map(|u| u.to_string()),
                cert_pin: self.cert_pin(&ep, report.presented),
            });
        }
        let suite_before = self.bmc.remembered(addr);
        let report = self.bmc.network_boot(login, ctx.power_cycle).await?;
        let uuid = report
            .system_guid
            .map(|g| Uuid::from_guid(g, self.directory.guid_encoding));
        Ok(StepOutcome {
            detail: format!(
                "ipmi {addr}: {report}{}",
                uuid.map(|u| format!(", system uuid {u}"))
                    .unwrap_or_default()
            ),
            cipher_suite: report
                .suite
                .filter(|s| Some(*s) != suite_before)
                .map(|s| (addr.to_string(), s)),
            events: Vec::new(),
            system_uuid: uuid.map(|u| u.to_string()),
            cert_pin: None,
        })
    }
}

impl<I: IsnsAccess> LiveEffects<I> {
    /// The outcome of a Redfish push: the protocol and address in the journal's detail, and
    /// a certificate pin to record when this was the first use (or a configured pin
    /// replaced the recorded one).
    fn redfish_outcome(&self, ep: &Endpoint, report: &RedfishReport) -> StepOutcome {
        StepOutcome {
            detail: format!("redfish https://{}: {report}", ep.bmc),
            cipher_suite: None,
            events: Vec::new(),
            system_uuid: None,
            cert_pin: self.cert_pin(ep, report.presented),
        }
    }

    /// The certificate pin to record: first use, or a configured pin replacing the recorded
    /// one.
    fn cert_pin(
        &self,
        ep: &Endpoint,
        presented: Option<crate::redfish::tls::Fingerprint>,
    ) -> Option<(String, String)> {
        presented
            .filter(|fp| {
                matches!(
                    ep.trust,
                    crate::redfish::tls::Trust::FirstUse | crate::redfish::tls::Trust::Pinned(_)
                ) && self.directory.pins.record(&ep.bmc, *fp)
            })
            .map(|fp| (ep.bmc.clone(), fp.to_string()))
    }
}

/// A Redfish failure as a step failure: transient when a retry may get through; the
/// message carries the service's own messages.
impl From<RedfishError> for StepError {
    fn from(e: RedfishError) -> Self {
        Self {
            message: e.to_string(),
            transient: e.is_transient(),
        }
    }
}

/// A BMC failure as a step failure: transient when a retry may get through.
impl From<BmcError> for StepError {
    fn from(e: BmcError) -> Self {
        Self {
            message: e.to_string(),
            transient: e.is_transient(),
        }
    }
}

/// The BMC's iSCSI boot parameters for one boot path set.
///
/// # Errors
/// A message when a name, LUN or secret cannot be carried in IPMI boot parameters.
pub fn boot_params(
    s: &BmcBootSettings,
    portal_override: Option<IpAddr>,
) -> Result<IscsiBootParams, String> {
    // The engine's names and LUNs follow the same contract as the boot parameters' (the
    // shared vectors in tests/name_vocabulary.rs hold them to it), so each is one `?`.
    let target = |p: &BootPath| -> Result<IscsiTarget, ParamsError> {
        Ok(IscsiTarget {
            name: p.target.as_str().parse()?,
            address: portal_override.unwrap_or(p.portal.addr),
            port: p.portal.port,
            lun: Lun::try_from(u64::from(p.lun))?,
        })
    };
    let mut params = IscsiBootParams::new(
        s.initiator
            .as_str()
            .parse()
            .map_err(|e: ParamsError| e.to_string())?,
        target(&s.primary).map_err(|e| e.to_string())?,
    );
    params.network = InitiatorNetwork::dhcp();
    params.secondary = s
        .secondary
        .as_ref()
        .map(target)
        .transpose()
        .map_err(|e| e.to_string())?;
    if let Some(c) = &s.chap {
        let initiator = ChapCredentials {
            user: c.user.clone(),
            secret: Secret::new(c.secret.expose_secret()).map_err(|e| e.to_string())?,
        };
        params.auth = match &c.mutual {
            None => Authentication::Chap {
                initiator,
                allow_any_secret_length: false,
            },
            Some((user, secret)) => Authentication::MutualChap {
                initiator,
                target: ChapCredentials {
                    user: user.clone(),
                    secret: Secret::new(secret.expose_secret()).map_err(|e| e.to_string())?,
                },
                allow_any_secret_length: false,
            },
        };
    }
    params.validate().map_err(|e| e.to_string())?;
    Ok(params)
}

/// Time one admission check may take (a login, a few round trips on a LAN).
const ADMISSION_PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between admission checks.
const ADMISSION_POLL: Duration = Duration::from_millis(10);

/// Resolves once every target of a DD creation (`ctx.target_portals`, first portal each)
/// admits the DD's one initiator member: an iSCSI login under the initiator's name that the
/// target accepts, or answers with a CHAP challenge (the name passed the target's iSNS access
/// control; the secret is the server's). Never resolves when that cannot be checked (no
/// portal, no single initiator among the members): the caller's bound applies.
fn admitted(
    ctx: &StepContext<'_>,
    members: &[&str],
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let targets: Vec<(String, Option<SocketAddr>)> = ctx
        .target_portals
        .iter()
        .map(|(t, p)| (t.clone(), p.first().and_then(|p| p.parse().ok())))
        .collect();
    let initiators: Vec<String> = members
        .iter()
        .filter(|m| !targets.iter().any(|(t, _)| t == *m))
        .map(|m| (*m).to_owned())
        .collect();
    let checkable = targets.iter().all(|(_, p)| p.is_some());
    async move {
        let ([initiator], true, false) = (initiators.as_slice(), checkable, targets.is_empty())
        else {
            return std::future::pending().await;
        };
        let mut waiting: Vec<(String, SocketAddr)> = targets
            .into_iter()
            .filter_map(|(t, p)| p.map(|p| (t, p)))
            .collect();
        loop {
            let mut left = Vec::new();
            for (target, portal) in waiting {
                let outcome = iscsi_probe::probe(
                    portal,
                    &target,
                    initiator,
                    &iscsi_probe::Auth::None,
                    ADMISSION_PROBE_TIMEOUT,
                )
                .await;
                // tgt checks iSNS access in its login_start, answering "not found", before the
                // security negotiation: a CHAP challenge or an authentication failure means
                // the name was admitted.
                let admits = match &outcome {
                    Ok(_) => true,
                    Err(e) => matches!(
                        e.session_error(),
                        Some(
                            iscsi_probe::SessionError::Auth(_)
                                | iscsi_probe::SessionError::LoginRejected {
                                    status: iscsi_probe::codes::LoginStatus::AUTHENTICATION_FAILURE
                                }
                        )
                    ),
                };
                if !admits {
                    left.push((target, portal));
                }
            }
            if left.is_empty() {
                return;
            }
            waiting = left;
            tokio::time::sleep(ADMISSION_POLL).await;
        }
    }
}

/// Classifies an iSNS failure: timeouts and lost connections may pass on retry.
fn isns_error(what: &str, e: &DriverError) -> StepError {
    let transient = matches!(
        e,
        DriverError::Op(
            OpError::Timeout(_) | OpError::Disconnected(_) | OpError::Unreachable { .. }
        ) | DriverError::Op(OpError::Status(Status::BUSY))
            | DriverError::Client(_)
    );
    StepError {
        message: format!("iSNS {what}: {e}"),
        transient,
    }
}

/// Whether an iSNS failure means "already absent" for a removal.
fn is_absent(e: &DriverError) -> bool {
    matches!(
        e,
        DriverError::Op(OpError::Status(
            Status::NO_SUCH_ENTRY | Status::INVALID_DEREGISTRATION
        ))
    )
}

impl<I: IsnsAccess> Effects for LiveEffects<I> {
    async fn perform(
        &self,
        action: &Action,
        ctx: &StepContext<'_>,
    ) -> Result<StepOutcome, StepError> {
        let isns = self.isns.isns();
        match action {
            Action::CreateDd { dd_name, targets } => {
                let members: Vec<&str> = targets
                    .iter()
                    .map(boot_config_core::IscsiName::as_str)
                    .collect();
                let (id, existed) = match self.dd_id(dd_name, ctx) {
                    Some(id) => (id, true),
                    None => {
                        // Created empty, then filled by DD_ID: isnsd silently drops members
                        // of a creating DDReg that already belong to another DD.
                        let id = isns
                            .create_dd(dd_name, &[])
                            .await
                            .map_err(|e| isns_error("create DD", &e))?;
                        self.remember_dd(dd_name, Some(id));
                        (id, false)
                    }
                };
                // tgtd acts on its SCN by querying isnsd for the initiators it may admit:
                // once every target admits the DD's initiator, the SCN was read.
                let read = admitted(ctx, &members);
                self.notifying_when(
                    ctx,
                    async {
                        isns.add_dd_members(id, &members)
                            .await
                            .map_err(|e| isns_error("add DD members", &e))
                    },
                    read,
                )
                .await?;
                let events = if existed {
                    targets
                        .iter()
                        .map(|t| InventoryEvent::DdMemberAdded {
                            dd: DdId(id),
                            member: t.clone(),
                        })
                        .collect()
                } else {
                    vec![InventoryEvent::DdUpserted(DdSpec {
                        id: DdId(id),
                        name: dd_name.clone(),
                        members: targets.clone(),
                    })]
                };
                Ok(StepOutcome {
                    detail: if existed {
                        format!("DD {id} (existed)")
                    } else {
                        format!("DD {id}")
                    },
                    cipher_suite: None,
                    events,
                    system_uuid: None,
                    cert_pin: None,
                })
            }
            Action::RegisterInitiator { initiator, server } => {
                let invalid = |e: NameError| StepError {
                    message: format!("iSNS register initiator: {e}"),
                    transient: false,
                };
                let node = NodeName::new(initiator.as_str()).map_err(invalid)?;
                let entity = EntityId::new(format!("bcm.{}", server.as_str())).map_err(invalid)?;
                // Notifies the DD's targets when the name is already a member (recovery).
                let entities: Vec<String> = ctx.notified.iter().map(|(e, _)| e.clone()).collect();
                let _slot = self.pacer.wait(&entities).await;
                isns.register_initiator(&node, &entity, Some(server.as_str()))
                    .await
                    .map_err(|e| isns_error("register initiator", &e))?;
                Ok(StepOutcome::detail(format!("entity {entity}")))
            }
            Action::AddDdMember { dd_name, member } => {
                let id = self.dd_id(dd_name, ctx).ok_or_else(|| {
                    StepError::transient(format!("DD {dd_name} is not known in iSNS (yet)"))
                })?;
                self.notifying(ctx, async {
                    isns.add_dd_members(id, &[member.as_str()])
                        .await
                        .map_err(|e| isns_error("add DD member", &e))
                })
                .await?;
                Ok(StepOutcome {
                    events: vec![InventoryEvent::DdMemberAdded {
                        dd: DdId(id),
                        member: member.clone(),
                    }],
                    ..StepOutcome::detail(format!("DD {id}"))
                })
            }
            Action::RemoveDd { dd_name } => {
                let Some(id) = self.dd_id(dd_name, ctx) else {
                    return Ok(StepOutcome::detail("absent"));
                };
                self.notifying(ctx, async {
                    match isns.remove_dd(id).await {
                        Ok(()) => Ok(()),
                        Err(e) if is_absent(&e) => Ok(()),
                        Err(e) => Err(isns_error("remove DD", &e)),
                    }
                })
                .await?;
                self.remember_dd(dd_name, None);
                Ok(StepOutcome {
                    events: vec![InventoryEvent::DdRemoved { dd: DdId(id) }],
                    ..StepOutcome::detail(format!("DD {id} removed"))
                })
            }
            Action::DeregisterInitiator { initiator } => {
                self.notifying(ctx, async {
                    match isns.deregister_initiator(initiator.as_str()).await {
                        Ok(()) => Ok(StepOutcome::detail("deregistered")),
                        Err(e) if is_absent(&e) => Ok(StepOutcome::detail("absent")),
                        Err(e) => Err(isns_error("deregister initiator", &e)),
                    }
                })
                .await
            }
            Action::RemoveDdMember { dd_name, member } => {
                let Some(id) = self.dd_id(dd_name, ctx) else {
                    return Ok(StepOutcome::detail("DD absent"));
                };
                let gone = StepOutcome {
                    events: vec![InventoryEvent::DdMemberRemoved {
                        dd: DdId(id),
                        member: member.clone(),
                    }],
                    ..StepOutcome::detail(format!("DD {id}"))
                };
                self.notifying(ctx, async {
                    match isns.remove_dd_members(id, &[member.as_str()]).await {
                        Ok(()) => Ok(gone),
                        Err(e) if is_absent(&e) => Ok(StepOutcome {
                            detail: "not a member".to_owned(),
                            ..gone
                        }),
                        Err(e) => Err(isns_error("remove DD member", &e)),
                    }
                })
                .await
            }
            Action::SetTargetChap {
                targets,
                credentials,
            } => {
                self.chap("set", targets, &credentials.user, Some(credentials), ctx)
                    .await
            }
            Action::RemoveTargetChap { targets, user } => {
                self.chap("remove", targets, user, None, ctx).await
            }
            Action::ConfigureBmc(settings) => self.configure_bmc(settings, ctx).await,
            Action::ClearBmcBootConfig { bmc } => {
                let Some(bmc) = bmc else {
                    return Ok(StepOutcome::detail("no BMC"));
                };
                let addr = resolve_bmc(bmc).map_err(|e| StepError::permanent(e.to_string()))?;
                let login = self
                    .directory
                    .login(ctx.server, addr)
                    .map_err(StepError::permanent)?;
                let pxe = self.directory.boot_mode(ctx.server) == BootMode::Pxe;
                if pxe
                    && let Some(ep) = self
                        .directory
                        .redfish_endpoint(ctx.server, addr, &login)
                        .await?
                {
                    let report =
                        netboot::clear_network_boot(&ep, self.directory.redfish_bounds).await?;
                    return Ok(StepOutcome {
                        detail: format!(
                            "redfish https://{}: {report}: network boot override cleared",
                            ep.bmc
                        ),
                        cipher_suite: None,
                        events: Vec::new(),
                        system_uuid: None,
                        cert_pin: self.cert_pin(&ep, report.presented),
                    });
                }
                if !pxe
                    && let Some(ep) = self
                        .directory
                        .redfish_endpoint(ctx.server, addr, &login)
                        .await?
                {
                    let report = flow::clear(&ep, self.directory.redfish_bounds).await?;
                    let mut outcome = self.redfish_outcome(&ep, &report);
                    outcome.detail =
                        format!("{outcome}: iSCSI boot disabled", outcome = outcome.detail);
                    return Ok(outcome);
                }
                let cleared = if pxe {
                    self.bmc.clear_boot_flags(&login).await
                } else {
                    self.bmc.clear(&login).await
                };
                cleared?;
                Ok(StepOutcome::detail(if pxe {
                    format!("ipmi {addr}: network boot flags cleared")
                } else {
                    format!("ipmi {addr}: iSCSI boot disabled")
                }))
            }
            other => Err(StepError::permanent(format!(
                "{other} is not an external action"
            ))),
        }
    }

    async fn target_chap_in_place(&self, action: &Action, ctx: &StepContext<'_>) -> Option<bool> {
        self.chap_in_place(action, ctx).await
    }

    fn render_metrics(&self, out: &mut String) {
        self.pacer.render(out);
    }
}
