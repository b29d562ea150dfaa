//! The conversation a real BMC needs to boot its server from an iSCSI LUN (DSP0268):
//!
//! ```text
//! GET /redfish/v1/  → login (session, else Basic)
//! Systems → the ComputerSystem (by UUID, or the only one)
//!   NetworkInterfaces/*/NetworkDeviceFunctions/*   ┐ every function, the one whose
//!   Links.Chassis/*/NetworkAdapters/*/NetworkDeviceFunctions/*  ┘ NetDevFuncCapabilities has iSCSI (by MAC)
//! PATCH {BootMode: iSCSI, iSCSIBoot} → its @Redfish.Settings object when it has one, If-Match its ETag
//!   (412 → re-read, retry once; 202 → follow the task monitor)
//! POST ComputerSystem.Reset {ResetType ∈ AllowableValues}   (when asked, or to apply OnReset settings)
//! GET the function (or its settings object) → compare every property but the CHAP secrets
//! DELETE the session
//! ```
//! Nothing is written before an iSCSI-capable function is found and the parameters mapped.

use std::net::IpAddr;
use std::time::Duration;

use ipmi_iscsi::params::IscsiBootParams;
use reqwest::Method;
use serde_json::{Value, json};

use super::decode::{
    Adapter, Chassis, Collection, ComputerSystem, DeviceFunction, Etagged, ServiceRoot, Task,
};
use super::error::{Messages, RedfishError};
use super::mapping::{self, IscsiBoot};
use super::tls::{Fingerprint, Trust};
use super::transport::{Bounds, Credentials, Transport};

/// The service root.
pub const ROOT: &str = "/redfish/v1/";

/// At most this many functions are read while searching (a hostile tree stays bounded).
const MAX_FUNCTIONS: usize = 64;
/// At most this many members of one collection are followed.
const MAX_MEMBERS: usize = 32;
/// Task monitor poll interval.
const TASK_POLL: Duration = Duration::from_millis(200);

/// Which BMC and which of its functions.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host:port` of the HTTPS service.
    pub bmc: String,
    /// How its certificate is checked.
    pub trust: Trust,
    /// Login.
    pub creds: Credentials,
    /// The server's UUID, when known (chooses among several systems).
    pub system_uuid: Option<String>,
    /// The boot NIC's MAC, when known (chooses among several iSCSI-capable functions).
    pub mac: Option<String>,
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedfishReport {
    /// The function configured.
    pub function: String,
    /// Where the PATCH went (the function or its settings object).
    pub patched: String,
    /// When the settings take effect.
    pub applies: &'static str,
    /// The `ResetType` posted, when the server was reset.
    pub reset: Option<String>,
    /// Whether a session was used (else Basic).
    pub session: bool,
    /// Requests sent.
    pub requests: usize,
    /// The BMC's certificate fingerprint (for trust on first use).
    pub presented: Option<Fingerprint>,
}

impl std::fmt::Display for RedfishReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "redfish {}, applies {}, {} requests, {} auth{}",
            self.function,
            self.applies,
            self.requests,
            if self.session { "session" } else { "basic" },
            self.reset
                .as_ref()
                .map_or_else(String::new, |r| format!(", reset {r}"))
        )
    }
}

pub(crate) async fn within<T>(
    bounds: Bounds,
    bmc: &str,
    what: &str,
    fut: impl Future<Output = Result<T, RedfishError>>,
) -> Result<T, RedfishError> {
    tokio::time::timeout(bounds.step, fut)
        .await
        .unwrap_or_else(|_| {
            Err(RedfishError::Timeout {
                bmc: bmc.to_owned(),
                what: what.to_owned(),
                after: bounds.step,
            })
        })
}

/// Whether the BMC answers a Redfish service root over HTTPS (for `protocol = "auto"`).
///
/// # Errors
/// [`RedfishError::CertificateChanged`]: a BMC whose certificate is not the pinned one is not
/// quietly taken for one without Redfish.
pub async fn probe(ep: &Endpoint, bounds: Bounds) -> Result<bool, RedfishError> {
    let Ok(mut t) = Transport::new(&ep.bmc, ep.trust.clone(), ep.creds.clone(), bounds) else {
        return Ok(false);
    };
    match t.get::<ServiceRoot>(ROOT, "service root").await {
        Ok((root, _)) => Ok(root.systems.is_some()),
        Err(e @ RedfishError::CertificateChanged { .. }) => Err(e),
        Err(e) => {
            tracing::debug!(bmc = ep.bmc.as_str(), error = %e, "no redfish service root");
            Ok(false)
        }
    }
}

/// Configures iSCSI boot on the BMC at `ep` and resets the server when `reset` (or when the
/// settings only apply at reset and `reset` is set).
///
/// # Errors
/// [`RedfishError`]; an [`RedfishError::Unsupported`] or [`RedfishError::Mapping`] means
/// nothing was written.
pub async fn configure(
    ep: &Endpoint,
    params: &IscsiBootParams,
    reset: bool,
    bounds: Bounds,
) -> Result<RedfishReport, RedfishError> {
    // Mapping first: a parameter set iSCSIBoot cannot hold is refused before any request.
    let iscsi = mapping::to_iscsi_boot(params).map_err(|source| RedfishError::Mapping {
        bmc: ep.bmc.clone(),
        source,
    })?;
    let body = json!({"BootMode": "iSCSI", "iSCSIBoot": iscsi});
    let mut expected = iscsi;
    expected.chap_secret = None;
    expected.mutual_chap_secret = None;
    run(
        ep,
        bounds,
        "configure iscsi boot",
        body,
        Want::Iscsi(Box::new(expected)),
        reset,
    )
    .await
}

/// Turns iSCSI boot off: `iSCSIBoot` cleared, `BootMode` back to `Disabled`. A BMC without
/// an iSCSI-capable function has nothing to clear.
///
/// # Errors
/// [`RedfishError`].
pub async fn clear(ep: &Endpoint, bounds: Bounds) -> Result<RedfishReport, RedfishError> {
    let body = json!({"BootMode": "Disabled", "iSCSIBoot": IscsiBoot::cleared()});
    run(ep, bounds, "clear iscsi boot", body, Want::Disabled, false).await
}

async fn run(
    ep: &Endpoint,
    bounds: Bounds,
    what: &str,
    body: Value,
    want: Want,
    reset: bool,
) -> Result<RedfishReport, RedfishError> {
    let mut t = Transport::new(&ep.bmc, ep.trust.clone(), ep.creds.clone(), bounds)?;
    let clearing = matches!(want, Want::Disabled);
    within(bounds, &ep.bmc, what, async {
        let (root, _) = t.get::<ServiceRoot>(ROOT, "service root").await?;
        t.login().await?;
        let result = match push(&mut t, &root, ep, body, want, reset).await {
            Err(RedfishError::Unsupported { what, .. }) if clearing => {
                tracing::info!(
                    bmc = ep.bmc.as_str(),
                    reason = what.as_str(),
                    "redfish: nothing to clear"
                );
                Ok(RedfishReport {
                    function: String::new(),
                    patched: String::new(),
                    applies: "nothing to clear",
                    reset: None,
                    session: t.has_session(),
                    requests: 0,
                    presented: t.presented(),
                })
            }
            other => other,
        };
        t.logout().await;
        result.map(|mut r| {
            r.requests = t.requests;
            r
        })
    })
    .await
}

enum Want {
    Iscsi(Box<IscsiBoot>),
    Disabled,
}

async fn push(
    t: &mut Transport,
    root: &ServiceRoot,
    ep: &Endpoint,
    body: Value,
    want: Want,
    reset: bool,
) -> Result<RedfishReport, RedfishError> {
    let system = find_system(t, root, ep.system_uuid.as_deref()).await?;
    let (function_path, function) = find_function(t, &system, ep.mac.as_deref()).await?;
    if !function.boot_modes.is_empty() {
        let mode = if matches!(want, Want::Iscsi(_)) {
            "iSCSI"
        } else {
            "Disabled"
        };
        if !function.boot_modes.iter().any(|m| m == mode) {
            return Err(RedfishError::Unsupported {
                bmc: t.bmc().to_owned(),
                what: format!(
                    "{function_path} does not allow BootMode {mode} (BootMode@Redfish.AllowableValues: {})",
                    function.boot_modes.join(", ")
                ),
            });
        }
    }
    let settings = function
        .settings
        .as_ref()
        .and_then(|s| s.settings_object.as_ref())
        .map(|l| l.id.clone());
    let immediate = function
        .settings
        .as_ref()
        .is_some_and(|s| s.supported_apply_times.iter().any(|a| a == "Immediate"));
    let patched = settings.clone().unwrap_or_else(|| function_path.clone());
    let mut body = body;
    let applies = match (&settings, reset, immediate) {
        (None, ..) => "immediately",
        (Some(_), true, _) => "at the reset bcm posts",
        (Some(_), false, true) => {
            if let Some(o) = body.as_object_mut() {
                o.insert(
                    "@Redfish.SettingsApplyTime".to_owned(),
                    json!({"ApplyTime": "Immediate"}),
                );
            }
            "immediately"
        }
        (Some(_), false, false) => "at the server's next reset",
    };
    patch(t, &patched, &body).await?;
    let mut reset_type = None;
    if reset {
        reset_type = Some(reset_system(t, &system).await?);
    }
    // Settings not yet applied read back from the settings object.
    let read_from = if settings.is_some() && reset_type.is_none() && !immediate {
        patched.clone()
    } else {
        function_path.clone()
    };
    let (back, _) = t
        .get::<DeviceFunction>(&read_from, "network device function")
        .await?;
    compare(t.bmc(), &read_from, &want, &back)?;
    Ok(RedfishReport {
        function: function_path,
        patched,
        applies,
        reset: reset_type,
        session: t.has_session(),
        requests: t.requests,
        presented: t.presented(),
    })
}

async fn members(t: &mut Transport, path: &str) -> Result<Vec<String>, RedfishError> {
    let (c, _) = t.get::<Collection>(path, "collection").await?;
    Ok(c.members
        .into_iter()
        .take(MAX_MEMBERS)
        .map(|l| l.id)
        .collect())
}

pub(crate) async fn find_system(
    t: &mut Transport,
    root: &ServiceRoot,
    uuid: Option<&str>,
) -> Result<ComputerSystem, RedfishError> {
    let bmc = t.bmc().to_owned();
    let Some(systems) = &root.systems else {
        return Err(RedfishError::Unsupported {
            bmc,
            what: "the service root has no Systems collection".to_owned(),
        });
    };
    let paths = members(t, &systems.id).await?;
    let mut found = Vec::new();
    for p in &paths {
        let (mut s, _) = t.get::<ComputerSystem>(p, "computer system").await?;
        s.id.get_or_insert_with(|| p.clone());
        found.push(s);
    }
    if let Some(want) = uuid {
        let norm = |u: &str| u.to_ascii_lowercase().replace('-', "");
        return found
            .into_iter()
            .find(|s| s.uuid.as_deref().is_some_and(|u| norm(u) == norm(want)))
            .ok_or_else(|| RedfishError::Unsupported {
                bmc,
                what: format!(
                    "no ComputerSystem has UUID {want} ({} systems)",
                    paths.len()
                ),
            });
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(RedfishError::Unsupported {
            bmc,
            what: "the Systems collection is empty".to_owned(),
        }),
        n => Err(RedfishError::Unsupported {
            bmc,
            what: format!(
                "{n} ComputerSystems and no uuid configured for this server to choose one"
            ),
        }),
    }
}

fn same_mac(a: &str, b: &str) -> bool {
    let norm = |m: &str| {
        m.chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    norm(a) == norm(b)
}

async fn find_function(
    t: &mut Transport,
    system: &ComputerSystem,
    mac: Option<&str>,
) -> Result<(String, DeviceFunction), RedfishError> {
    // Every collection of functions reachable from the system: its NetworkInterfaces, and
    // its chassis' NetworkAdapters.
    let mut collections = Vec::new();
    if let Some(l) = &system.network_interfaces {
        for p in members(t, &l.id).await? {
            let (a, _) = t.get::<Adapter>(&p, "network interface").await?;
            collections.extend(a.network_device_functions.map(|l| l.id));
        }
    }
    let chassis: Vec<String> = system
        .links
        .as_ref()
        .map(|l| l.chassis.iter().map(|c| c.id.clone()).collect())
        .unwrap_or_default();
    for c in chassis.iter().take(MAX_MEMBERS) {
        let (ch, _) = t.get::<Chassis>(c, "chassis").await?;
        if let Some(l) = ch.network_adapters {
            for p in members(t, &l.id).await? {
                let (a, _) = t.get::<Adapter>(&p, "network adapter").await?;
                collections.extend(a.network_device_functions.map(|l| l.id));
            }
        }
    }
    collections.dedup();
    let mut seen: Vec<String> = Vec::new();
    let mut capable = Vec::new();
    'outer: for c in &collections {
        for p in members(t, c).await? {
            if seen.contains(&p) {
                continue;
            }
            if seen.len() >= MAX_FUNCTIONS {
                break 'outer;
            }
            let (f, _) = t
                .get::<DeviceFunction>(&p, "network device function")
                .await?;
            seen.push(p.clone());
            if f.is_iscsi_capable() {
                capable.push((p, f));
            }
        }
    }
    let bmc = t.bmc().to_owned();
    let looked = if seen.is_empty() {
        "the system has no NetworkDeviceFunctions (neither under NetworkInterfaces nor under its chassis' NetworkAdapters)".to_owned()
    } else {
        format!("looked at {}", seen.join(", "))
    };
    if capable.is_empty() {
        return Err(RedfishError::Unsupported {
            bmc,
            what: format!(
                "no NetworkDeviceFunction lists iSCSI in NetDevFuncCapabilities, so iSCSI boot cannot be configured over Redfish ({looked})"
            ),
        });
    }
    if let Some(mac) = mac {
        return capable
            .into_iter()
            .find(|(_, f)| f.mac().is_some_and(|m| same_mac(m, mac)))
            .ok_or_else(|| RedfishError::Unsupported {
                bmc,
                what: format!("no iSCSI-capable NetworkDeviceFunction has MAC {mac} ({looked})"),
            });
    }
    Ok(capable.remove(0))
}

/// PATCH with `If-Match` (the resource's ETag); a 412 re-reads and retries once; a 202
/// follows the task monitor.
async fn patch(t: &mut Transport, path: &str, body: &Value) -> Result<(), RedfishError> {
    patch_if_match(t, path, body, None).await
}

/// PATCH `path` with `If-Match: etag` (read first when `None`); a 412 (the resource changed
/// since) re-reads the ETag and retries once; a 202 follows the task monitor.
///
/// # Errors
/// [`RedfishError`], with the service's messages for a refusal or a second 412.
pub async fn patch_if_match(
    t: &mut Transport,
    path: &str,
    body: &Value,
    etag: Option<String>,
) -> Result<(), RedfishError> {
    let mut etag = etag;
    for attempt in 0..2 {
        if etag.is_none() {
            let (r, reply) = t.get::<Etagged>(path, "resource").await?;
            etag = reply.etag.or(r.etag);
        }
        let r = t
            .send(Method::PATCH, path, Some(body), etag.as_deref())
            .await?;
        match r.status {
            412 if attempt == 0 => {
                tracing::info!(
                    bmc = t.bmc(),
                    path,
                    "redfish: 412 precondition failed, re-reading and retrying once"
                );
                etag = None;
            }
            202 => {
                let Some(monitor) = r.location.as_deref().and_then(|l| t.path_of(l)) else {
                    return Ok(());
                };
                return follow_task(t, &monitor).await;
            }
            200..=299 => return Ok(()),
            _ => return Err(t.status_error("PATCH", path, &r)),
        }
    }
    Ok(())
}

async fn follow_task(t: &mut Transport, monitor: &str) -> Result<(), RedfishError> {
    loop {
        let r = t.send(Method::GET, monitor, None, None).await?;
        match r.status {
            202 => tokio::time::sleep(TASK_POLL).await,
            200..=299 => {
                let task: Task = if r.body.is_empty() {
                    Task::default()
                } else {
                    t.decode("GET", monitor, &r, "task")?
                };
                return match task.task_state.as_deref() {
                    None | Some("Completed") => Ok(()),
                    Some("Running" | "New" | "Starting" | "Pending" | "Stopping") => {
                        tokio::time::sleep(TASK_POLL).await;
                        continue;
                    }
                    Some(state) => Err(RedfishError::Task {
                        bmc: t.bmc().to_owned(),
                        path: monitor.to_owned(),
                        state: state.to_owned(),
                        messages: Messages(task.messages),
                    }),
                };
            }
            _ => return Err(t.status_error("GET", monitor, &r)),
        }
    }
}

pub(crate) async fn reset_system(
    t: &mut Transport,
    system: &ComputerSystem,
) -> Result<String, RedfishError> {
    let bmc = t.bmc().to_owned();
    let Some(action) = system.actions.as_ref().and_then(|a| a.reset.as_ref()) else {
        return Err(RedfishError::Unsupported {
            bmc,
            what: "the ComputerSystem has no #ComputerSystem.Reset action".to_owned(),
        });
    };
    let Some(target) = action.target.as_deref().and_then(|p| t.path_of(p)) else {
        return Err(RedfishError::Unsupported {
            bmc,
            what: "#ComputerSystem.Reset has no target on this service".to_owned(),
        });
    };
    let off = system.power_state.as_deref() == Some("Off");
    let preference: &[&str] = if off {
        &["On", "ForceOn", "PowerCycle"]
    } else {
        &["ForceRestart", "PowerCycle", "GracefulRestart"]
    };
    // DSP0268: a client uses a value from AllowableValues; a service that lists none takes
    // the first preference.
    let ty = if action.allowable.is_empty() {
        preference[0].to_owned()
    } else {
        preference
            .iter()
            .find(|p| action.allowable.iter().any(|a| a == *p))
            .map(|p| (*p).to_owned())
            .ok_or_else(|| RedfishError::Unsupported {
                bmc: bmc.clone(),
                what: format!(
                    "no ResetType to {} the server among {}",
                    if off { "power on" } else { "restart" },
                    action.allowable.join(", ")
                ),
            })?
    };
    let r = t
        .send(Method::POST, &target, Some(&json!({"ResetType": ty})), None)
        .await?;
    match r.status {
        202 => {
            if let Some(monitor) = r.location.as_deref().and_then(|l| t.path_of(l)) {
                follow_task(t, &monitor).await?;
            }
            Ok(ty)
        }
        200..=299 => Ok(ty),
        _ => Err(t.status_error("POST", &target, &r)),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    // Addresses may come back in another spelling (IPv6 compression, case).
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => match (x.parse::<IpAddr>(), y.parse::<IpAddr>()) {
            (Ok(p), Ok(q)) => p == q,
            _ => false,
        },
        _ => false,
    }
}

fn compare(bmc: &str, path: &str, want: &Want, back: &DeviceFunction) -> Result<(), RedfishError> {
    let mut diffs = Vec::new();
    let mode = back.boot_mode.as_deref().unwrap_or("(none)");
    match want {
        Want::Iscsi(expected) => {
            if mode != "iSCSI" {
                diffs.push(format!("BootMode is {mode}, not iSCSI"));
            }
            let exp = serde_json::to_value(expected.as_ref()).unwrap_or(Value::Null);
            let got = back
                .iscsi_boot
                .as_ref()
                .and_then(|b| serde_json::to_value(b).ok())
                .unwrap_or(Value::Null);
            for p in mapping::PROPERTIES {
                // A conforming service returns the secrets as null (DSP0268).
                if p == "CHAPSecret" || p == "MutualCHAPSecret" {
                    continue;
                }
                let e = exp.get(p).unwrap_or(&Value::Null);
                let g = got.get(p).unwrap_or(&Value::Null);
                if !same_value(e, g) {
                    diffs.push(format!("{p}: wrote {e}, reads {g}"));
                }
            }
        }
        Want::Disabled => {
            if mode != "Disabled" {
                diffs.push(format!("BootMode is {mode}, not Disabled"));
            }
            if let Some(b) = &back.iscsi_boot
                && (b.primary_target_name.is_some() || b.primary_target_ip_address.is_some())
            {
                diffs.push("iSCSIBoot still names a primary target".to_owned());
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(RedfishError::ReadBack {
            bmc: bmc.to_owned(),
            path: path.to_owned(),
            differences: diffs.join("; "),
        })
    }
}
