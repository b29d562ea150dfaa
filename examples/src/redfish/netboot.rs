//! Boot mode `pxe` over Redfish: the server network-boots and `bcm serve` hands it the iPXE
//! script, so nothing of ours is written to the BMC, only the ComputerSystem's boot source
//! override (DSP0268 `ComputerSystem.Boot`):
//!
//! ```text
//! GET /redfish/v1/ → login → Systems → the ComputerSystem (by UUID, or the only one)
//! check Boot: Pxe ∈ BootSourceOverrideTarget@Redfish.AllowableValues (Enabled, Mode likewise)
//! PATCH {Boot: {BootSourceOverrideTarget: Pxe, …Enabled: Once|Continuous, …Mode: UEFI|Legacy}}
//!   If-Match its ETag (412 → re-read, retry once; 202 → task monitor)
//! GET the system → the override must read back as written
//! POST ComputerSystem.Reset (when asked)
//! DELETE the session
//! ```
//! The read-back comes before the reset: a `Once` override is consumed by the boot the reset
//! starts. The system's `UUID` is reported for the boot listener's identity check, as IPMI's
//! Get System GUID is. Clearing sets `BootSourceOverrideEnabled` to `Disabled`.

use std::fmt;

use serde_json::{Map, json};

use super::decode::{ComputerSystem, ServiceRoot, SystemBoot};
use super::error::RedfishError;
use super::flow::{self, Endpoint, ROOT};
use super::tls::Fingerprint;
use super::transport::{Bounds, Transport};

/// How the override is set (from the IPMI pusher's settings, so both protocols agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetbootSettings {
    /// Every boot (`Continuous`) rather than the next one only (`Once`).
    pub persistent: bool,
    /// UEFI network boot rather than legacy (`BootSourceOverrideMode`).
    pub efi: bool,
}

/// What a network-boot push (or clear) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetbootReport {
    /// The ComputerSystem.
    pub system: String,
    /// Its `UUID`, as the service reports it.
    pub uuid: Option<String>,
    /// `BootSourceOverrideTarget` as read back.
    pub target: String,
    /// `BootSourceOverrideEnabled` as read back.
    pub enabled: String,
    /// `BootSourceOverrideMode` written; `None` when the service has no mode.
    pub mode: Option<&'static str>,
    /// The `ResetType` posted, when the server was reset.
    pub reset: Option<String>,
    /// Whether a session was used (else Basic).
    pub session: bool,
    /// Requests sent.
    pub requests: usize,
    /// The BMC's certificate fingerprint (for trust on first use).
    pub presented: Option<Fingerprint>,
}

impl fmt::Display for NetbootReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redfish {}: boot override {} {}{}, {} requests, {} auth{}",
            self.system,
            self.target,
            self.enabled,
            self.mode.map_or_else(String::new, |m| format!(" {m}")),
            self.requests,
            if self.session { "session" } else { "basic" },
            self.reset
                .as_ref()
                .map_or_else(String::new, |r| format!(", reset {r}"))
        )
    }
}

/// Sets a PXE boot override on the server's ComputerSystem, reads it back, then resets the
/// server when `reset`.
///
/// # Errors
/// [`RedfishError`]; [`RedfishError::Unsupported`] (a value the service does not offer, no
/// `Boot` object) means nothing was written.
pub async fn network_boot(
    ep: &Endpoint,
    settings: NetbootSettings,
    reset: bool,
    bounds: Bounds,
) -> Result<NetbootReport, RedfishError> {
    run(ep, bounds, Some((settings, reset))).await
}

/// Turns the boot override off (`BootSourceOverrideEnabled = Disabled`). A system without a
/// `Boot` object, or whose override is already off, has nothing to clear.
///
/// # Errors
/// [`RedfishError`].
pub async fn clear_network_boot(
    ep: &Endpoint,
    bounds: Bounds,
) -> Result<NetbootReport, RedfishError> {
    run(ep, bounds, None).await
}

async fn run(
    ep: &Endpoint,
    bounds: Bounds,
    set: Option<(NetbootSettings, bool)>,
) -> Result<NetbootReport, RedfishError> {
    let mut t = Transport::new(&ep.bmc, ep.trust.clone(), ep.creds.clone(), bounds)?;
    let what = if set.is_some() {
        "set pxe boot override"
    } else {
        "clear boot override"
    };
    flow::within(bounds, &ep.bmc, what, async {
        let (root, _) = t.get::<ServiceRoot>(ROOT, "service root").await?;
        t.login().await?;
        let result = match set {
            Some((settings, reset)) => set_override(&mut t, &root, ep, settings, reset).await,
            None => clear_override(&mut t, &root, ep).await,
        };
        t.logout().await;
        result.map(|mut r| {
            r.requests = t.requests;
            r.session = r.session || t.has_session();
            r.presented = t.presented();
            r
        })
    })
    .await
}

fn offered(allowable: &[String], value: &str) -> bool {
    allowable.is_empty() || allowable.iter().any(|a| a == value)
}

fn refuse(t: &Transport, what: String) -> RedfishError {
    RedfishError::Unsupported {
        bmc: t.bmc().to_owned(),
        what,
    }
}

fn report(system: &ComputerSystem, path: &str, mode: Option<&'static str>) -> NetbootReport {
    let boot = system.boot.clone().unwrap_or_default();
    NetbootReport {
        system: path.to_owned(),
        uuid: system.uuid.clone(),
        target: boot
            .boot_source_override_target
            .unwrap_or_else(|| "(none)".to_owned()),
        enabled: boot
            .boot_source_override_enabled
            .unwrap_or_else(|| "(none)".to_owned()),
        mode,
        reset: None,
        session: false,
        requests: 0,
        presented: None,
    }
}

async fn set_override(
    t: &mut Transport,
    root: &ServiceRoot,
    ep: &Endpoint,
    settings: NetbootSettings,
    reset: bool,
) -> Result<NetbootReport, RedfishError> {
    let system = flow::find_system(t, root, ep.system_uuid.as_deref()).await?;
    let path = system.id.clone().unwrap_or_default();
    let Some(boot) = &system.boot else {
        return Err(refuse(
            t,
            format!("{path} has no Boot object, so it offers no boot source override"),
        ));
    };
    // Every value is checked before anything is written.
    if !offered(&boot.target_allowable, "Pxe") {
        return Err(refuse(
            t,
            format!(
                "{path} does not offer a Pxe boot override (BootSourceOverrideTarget@Redfish.AllowableValues: {})",
                boot.target_allowable.join(", ")
            ),
        ));
    }
    let enabled = if settings.persistent {
        "Continuous"
    } else {
        "Once"
    };
    if !offered(&boot.enabled_allowable, enabled) {
        return Err(refuse(
            t,
            format!(
                "{path} does not offer BootSourceOverrideEnabled {enabled} (BootSourceOverrideEnabled@Redfish.AllowableValues: {})",
                boot.enabled_allowable.join(", ")
            ),
        ));
    }
    let wanted_mode = if settings.efi { "UEFI" } else { "Legacy" };
    let has_mode = boot.boot_source_override_mode.is_some() || !boot.mode_allowable.is_empty();
    if has_mode && !offered(&boot.mode_allowable, wanted_mode) {
        return Err(refuse(
            t,
            format!(
                "{path} does not offer BootSourceOverrideMode {wanted_mode} (BootSourceOverrideMode@Redfish.AllowableValues: {})",
                boot.mode_allowable.join(", ")
            ),
        ));
    }
    let mode = has_mode.then_some(wanted_mode);
    if !has_mode {
        tracing::info!(
            bmc = t.bmc(),
            system = path.as_str(),
            "redfish: the system has no BootSourceOverrideMode; the override is set without one"
        );
    }
    let mut wanted = Map::new();
    wanted.insert("BootSourceOverrideTarget".into(), json!("Pxe"));
    wanted.insert("BootSourceOverrideEnabled".into(), json!(enabled));
    if let Some(m) = mode {
        wanted.insert("BootSourceOverrideMode".into(), json!(m));
    }
    flow::patch_if_match(t, &path, &json!({"Boot": wanted}), None).await?;
    let (back, _) = t.get::<ComputerSystem>(&path, "computer system").await?;
    let got = back.boot.clone().unwrap_or_default();
    let mut diffs = Vec::new();
    let mut expect = |property: &str, want: &str, read: Option<&str>| {
        if read != Some(want) {
            diffs.push(format!(
                "{property}: wrote {want}, reads {}",
                read.unwrap_or("nothing")
            ));
        }
    };
    expect(
        "BootSourceOverrideTarget",
        "Pxe",
        got.boot_source_override_target.as_deref(),
    );
    expect(
        "BootSourceOverrideEnabled",
        enabled,
        got.boot_source_override_enabled.as_deref(),
    );
    if let Some(m) = mode {
        expect(
            "BootSourceOverrideMode",
            m,
            got.boot_source_override_mode.as_deref(),
        );
    }
    if !diffs.is_empty() {
        return Err(RedfishError::ReadBack {
            bmc: t.bmc().to_owned(),
            path,
            differences: diffs.join("; "),
        });
    }
    let mut r = report(&back, &path, mode);
    r.uuid = back.uuid.clone().or_else(|| system.uuid.clone());
    if reset {
        r.reset = Some(flow::reset_system(t, &back).await?);
    }
    Ok(r)
}

fn is_off(boot: &SystemBoot) -> bool {
    boot.boot_source_override_enabled.as_deref() == Some("Disabled")
        || boot.boot_source_override_target.as_deref() == Some("None")
}

async fn clear_override(
    t: &mut Transport,
    root: &ServiceRoot,
    ep: &Endpoint,
) -> Result<NetbootReport, RedfishError> {
    let system = flow::find_system(t, root, ep.system_uuid.as_deref()).await?;
    let path = system.id.clone().unwrap_or_default();
    match &system.boot {
        None => {
            tracing::info!(
                bmc = t.bmc(),
                system = path.as_str(),
                "redfish: no Boot object, nothing to clear"
            );
            return Ok(report(&system, &path, None));
        }
        Some(b) if is_off(b) => return Ok(report(&system, &path, None)),
        Some(_) => {}
    }
    let off = json!({"Boot": {"BootSourceOverrideEnabled": "Disabled"}});
    match flow::patch_if_match(t, &path, &off, None).await {
        // sushy-emulator (and BMCs like it) refuse a Boot without a target (400); the
        // target `None` ("boot from the normal boot order", DSP0268) ends the override there.
        Err(RedfishError::Status { status: 400, .. }) => {
            tracing::info!(
                bmc = t.bmc(),
                system = path.as_str(),
                "redfish: Disabled alone refused, clearing with BootSourceOverrideTarget None"
            );
            let none = json!({"Boot": {
                "BootSourceOverrideEnabled": "Disabled",
                "BootSourceOverrideTarget": "None",
            }});
            flow::patch_if_match(t, &path, &none, None).await?;
        }
        other => other?,
    }
    let (back, _) = t.get::<ComputerSystem>(&path, "computer system").await?;
    let got = back.boot.clone().unwrap_or_default();
    if !is_off(&got) {
        return Err(RedfishError::ReadBack {
            bmc: t.bmc().to_owned(),
            path,
            differences: format!(
                "BootSourceOverrideEnabled: wrote Disabled, reads {} (target {})",
                got.boot_source_override_enabled
                    .as_deref()
                    .unwrap_or("nothing"),
                got.boot_source_override_target
                    .as_deref()
                    .unwrap_or("nothing")
            ),
        });
    }
    Ok(report(&back, &path, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_allowable_list_allows_anything_and_a_listed_one_only_its_values() {
        assert!(offered(&[], "Pxe"));
        assert!(offered(&["Hdd".into(), "Pxe".into()], "Pxe"));
        assert!(!offered(&["Hdd".into(), "Cd".into()], "Pxe"));
    }

    #[test]
    fn an_override_is_off_when_disabled_or_aimed_at_none() {
        let mut b = SystemBoot {
            boot_source_override_enabled: Some("Continuous".into()),
            boot_source_override_target: Some("Pxe".into()),
            ..SystemBoot::default()
        };
        assert!(!is_off(&b));
        b.boot_source_override_target = Some("None".into());
        assert!(is_off(&b));
        b.boot_source_override_target = Some("Pxe".into());
        b.boot_source_override_enabled = Some("Disabled".into());
        assert!(is_off(&b));
    }
}
