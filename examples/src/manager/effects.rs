//! The side effects a plan step has outside the manager, behind one trait so the executor's
//! ordering, journalling and rollback logic is the same against real peers and in unit tests.

use std::fmt;
use std::future::Future;

use boot_config_core::Action;

/// What a step needs to know beyond its [`Action`].
#[derive(Clone, Debug)]
pub struct StepContext<'a> {
    /// The request the step belongs to.
    pub request: &'a str,
    /// The server.
    pub server: &'a str,
    /// The DD_ID of the action's DD when the inventory already knows it (a DD named by the
    /// action that exists in iSNS); `None` when unknown.
    pub known_dd: Option<u32>,
    /// Power-cycle the server after configuring its BMC.
    pub power_cycle: bool,
    /// For CHAP actions: the portals (`ip:port`) of each target named, as the inventory
    /// knows them (the hook uses them to find the target's management interface).
    pub target_portals: Vec<(String, Vec<String>)>,
    /// `(entity, target)` of every target the action's iSNS change notifies, as the
    /// inventory knows them: such changes take a [`crate::pacing::Pacer`] slot.
    pub notified: Vec<(String, String)>,
}

/// Why a step failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    /// What went wrong, for a person (never a secret).
    pub message: String,
    /// Whether retrying the same step may succeed (timeouts, a server restarting).
    pub transient: bool,
}

impl StepError {
    /// A failure that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
        }
    }

    /// A failure that may pass on retry.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: true,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {}

/// What a step did, for the journal and the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// One line (`DD 7`, `oem dialect, cipher suite 17, 24 requests`); never a secret.
    pub detail: String,
    /// A cipher suite that worked with a BMC, to persist.
    pub cipher_suite: Option<(String, u8)>,
    /// What the change did to iSNS, for the engine's view (applied at once, so recovery and
    /// reconciliation need not wait for the inventory's next walk).
    pub events: Vec<boot_config_core::InventoryEvent>,
    /// The server's system UUID as its BMC reported it (text form), to persist for the
    /// boot listener.
    pub system_uuid: Option<String>,
    /// A BMC's Redfish certificate fingerprint to record (`(https address, "sha256:…")`):
    /// trust on first use.
    pub cert_pin: Option<(String, String)>,
}

impl StepOutcome {
    /// An outcome with only a detail line.
    pub fn detail(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            cipher_suite: None,
            events: Vec::new(),
            system_uuid: None,
            cert_pin: None,
        }
    }
}

/// Performs the external actions of a plan: iSNS DD and node operations, target CHAP
/// accounts, BMC configuration. The engine's own actions (reserve, commit, release) never
/// reach it. Every action must be idempotent: removing something absent succeeds, creating
/// something present succeeds.
pub trait Effects: Send + Sync + 'static {
    /// Performs `action`.
    ///
    /// # Errors
    /// [`StepError`], marked transient when a retry may help.
    fn perform(
        &self,
        action: &Action,
        ctx: &StepContext<'_>,
    ) -> impl Future<Output = Result<StepOutcome, StepError>> + Send;

    /// Whether every target CHAP account a [`Action::SetTargetChap`] sets is in place on its
    /// targets (accounts exist and are bound): `Some(true)` yes, `Some(false)` one is missing,
    /// `None` cannot tell (the default), in which case reconciliation performs the action.
    fn target_chap_in_place(
        &self,
        action: &Action,
        ctx: &StepContext<'_>,
    ) -> impl Future<Output = Option<bool>> + Send {
        let _ = (action, ctx);
        std::future::ready(None)
    }

    /// Appends the effects' own counters (Prometheus text format) to `/metrics`; none by
    /// default.
    fn render_metrics(&self, out: &mut String) {
        let _ = out;
    }
}
