//! `Systems/1`: the server the BMC manages — its UUID (the GUID the BMC reports over
//! IPMI), power state, boot override (IPMI boot flags, parameter 5) and
//! `ComputerSystem.Reset` (IPMI Chassis Control), which also applies pending settings.
//!
//! The override is IPMI parameter 5, so the IPMI rule holds: without a reset (or power-on)
//! within 60 seconds the BMC clears the valid bit and the override reads `Disabled`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use ipmi_iscsi::bootopt::{BootDevice, BootFlags};
use serde_json::{Map, Value, json};

use super::Service;
use super::body::{check_if_match, etag_of, json_object, resource};
use super::bridge::{Change, View};
use super::error::RedfishError;

const SYSTEM: &str = "/redfish/v1/Systems/1";
const RESET: &str = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";

/// Reset types and the IPMI Chassis Control action each sends (IPMI v2.0 §28.3).
const RESET_TYPES: [(&str, u8); 6] = [
    ("On", 1),
    ("ForceOff", 0),
    ("GracefulShutdown", 5),
    ("ForceRestart", 3),
    ("GracefulRestart", 3),
    ("PowerCycle", 2),
];

/// Boot override targets and the IPMI boot device of each.
const TARGETS: [(&str, BootDevice); 7] = [
    ("None", BootDevice::NONE),
    ("Pxe", BootDevice::PXE),
    ("Hdd", BootDevice::DISK),
    ("Cd", BootDevice::CDROM),
    ("BiosSetup", BootDevice::BIOS_SETUP),
    ("Diags", BootDevice::DIAG),
    ("Floppy", BootDevice::FLOPPY),
];

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/redfish/v1/Systems", get(collection))
        .route(SYSTEM, get(read).patch(patch))
        .route(RESET, post(reset))
}

async fn collection(headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": "/redfish/v1/Systems",
            "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
            "Name": "Computer System Collection",
            "Members@odata.count": 1,
            "Members": [{"@odata.id": SYSTEM}],
        }),
        "GET",
    )
}

fn boot_json(f: &BootFlags) -> Value {
    let target = if f.valid {
        TARGETS
            .iter()
            .find(|(_, d)| *d == f.device)
            .map_or("None", |(t, _)| *t)
    } else {
        "None"
    };
    let enabled = match (f.valid, f.persistent) {
        (false, _) => "Disabled",
        (true, false) => "Once",
        (true, true) => "Continuous",
    };
    let targets: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    json!({
        "BootSourceOverrideEnabled": enabled,
        "BootSourceOverrideTarget": target,
        "BootSourceOverrideTarget@Redfish.AllowableValues": targets,
        "BootSourceOverrideMode": if f.efi { "UEFI" } else { "Legacy" },
    })
}

fn body(svc: &Service, v: &View) -> Value {
    let reset_types: Vec<&str> = RESET_TYPES.iter().map(|(t, _)| *t).collect();
    json!({
        "@odata.id": SYSTEM,
        "@odata.type": "#ComputerSystem.v1_27_0.ComputerSystem",
        "Id": "1",
        "Name": "Emulated server",
        "SystemType": "Physical",
        "Manufacturer": "imm-sim",
        "Model": "Emulated iSCSI-boot server",
        "SerialNumber": svc.name.as_str(),
        "UUID": svc.uuid,
        "PowerState": if v.chassis.power_on { "On" } else { "Off" },
        "Status": {"State": "Enabled", "Health": "OK"},
        "Boot": boot_json(&v.boot_flags),
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": RESET,
                "ResetType@Redfish.AllowableValues": reset_types,
            }
        },
        "Links": {
            "Chassis": [{"@odata.id": "/redfish/v1/Chassis/1"}],
            "ManagedBy": [{"@odata.id": "/redfish/v1/Managers/1"}],
        },
    })
}

async fn read(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, RedfishError> {
    let v = svc.call(Vec::new()).await?;
    Ok(resource(&headers, body(&svc, &v), "GET, PATCH"))
}

fn enum_value<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, RedfishError> {
    let pointer = format!("/Boot/{key}");
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(Value::String(s)) => Err(RedfishError::not_in_list(&pointer, s)),
        Some(_) => Err(RedfishError::type_error(&pointer, "string")),
    }
}

/// The boot flags a PATCH of `Boot` asks for, starting from `now`.
fn patched_flags(now: BootFlags, boot: &Map<String, Value>) -> Result<BootFlags, RedfishError> {
    for k in boot.keys() {
        if !matches!(
            k.as_str(),
            "BootSourceOverrideEnabled" | "BootSourceOverrideTarget" | "BootSourceOverrideMode"
        ) {
            return Err(RedfishError::unknown_property(&format!("/Boot/{k}")));
        }
    }
    let targets: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    let mut f = now;
    if !f.valid {
        f.device = BootDevice::NONE;
    }
    if let Some(t) = enum_value(boot, "BootSourceOverrideTarget", &targets)? {
        f.device = TARGETS
            .iter()
            .find(|(n, _)| *n == t)
            .map_or(BootDevice::NONE, |(_, d)| *d);
        f.valid = true;
    }
    match enum_value(
        boot,
        "BootSourceOverrideEnabled",
        &["Disabled", "Once", "Continuous"],
    )? {
        Some("Disabled") => f.valid = false,
        Some("Once") => (f.valid, f.persistent) = (true, false),
        Some(_) => (f.valid, f.persistent) = (true, true),
        None => {}
    }
    if let Some(m) = enum_value(boot, "BootSourceOverrideMode", &["Legacy", "UEFI"])? {
        f.efi = m == "UEFI";
    }
    if f.device == BootDevice::NONE {
        f.valid = false;
    }
    Ok(f)
}

async fn patch(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, RedfishError> {
    let m = json_object(&raw)?;
    let now = svc.call(Vec::new()).await?;
    check_if_match(&headers, &etag_of(&body(&svc, &now)))?;
    let mut flags = now.boot_flags;
    for (k, v) in &m {
        match (k.as_str(), v) {
            ("Boot", Value::Object(boot)) => flags = patched_flags(flags, boot)?,
            ("Boot", _) => return Err(RedfishError::type_error("/Boot", "object")),
            (k, _) if body(&svc, &now).get(k).is_some() => {
                return Err(RedfishError::not_writable(&format!("/{k}")));
            }
            (k, _) => return Err(RedfishError::unknown_property(&format!("/{k}"))),
        }
    }
    let v = svc.call(vec![Change::BootFlags(flags)]).await?;
    Ok(resource(&HeaderMap::new(), body(&svc, &v), "GET, PATCH"))
}

async fn reset(State(svc): State<Arc<Service>>, raw: Bytes) -> Result<StatusCode, RedfishError> {
    let m = json_object(&raw)?;
    let types: Vec<&str> = RESET_TYPES.iter().map(|(t, _)| *t).collect();
    let ty = match m.get("ResetType") {
        Some(Value::String(s)) if types.contains(&s.as_str()) => s.as_str(),
        Some(Value::String(s)) => {
            return Err(RedfishError::new(
                StatusCode::BAD_REQUEST,
                "ActionParameterValueNotInList",
                format!(
                    "The value {s} for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values."
                ),
                "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
            ));
        }
        Some(_) => return Err(RedfishError::type_error("/ResetType", "string")),
        None => {
            return Err(RedfishError::new(
                StatusCode::BAD_REQUEST,
                "ActionParameterMissing",
                "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.",
                "Supply the action with the required parameter in the request body when the request is resubmitted.",
            ));
        }
    };
    if let Some(k) = m.keys().find(|k| *k != "ResetType") {
        return Err(RedfishError::new(
            StatusCode::BAD_REQUEST,
            "ActionParameterUnknown",
            format!(
                "The action ComputerSystem.Reset was submitted with the invalid parameter {k}."
            ),
            "Correct the invalid parameter and resubmit the request if the operation failed.",
        ));
    }
    let action = RESET_TYPES
        .iter()
        .find(|(t, _)| *t == ty)
        .map_or(1, |(_, a)| *a);
    // The host boots on these: the settings object applies now (SupportedApplyTimes OnReset).
    let boots = matches!(ty, "On" | "ForceRestart" | "GracefulRestart" | "PowerCycle");
    let mut changes = Vec::new();
    let mut applied = false;
    if boots && let Some(c) = svc.pending_change()? {
        changes.push(c);
        applied = true;
    }
    changes.push(Change::Chassis(action));
    svc.call(changes).await?;
    if applied {
        svc.clear_pending();
    }
    tracing::info!(
        bmc = svc.name.as_str(),
        reset = ty,
        applied_settings = applied,
        "redfish reset"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_patch_maps_to_ipmi_flags() {
        let mut boot = Map::new();
        boot.insert("BootSourceOverrideTarget".into(), json!("Pxe"));
        boot.insert("BootSourceOverrideEnabled".into(), json!("Continuous"));
        boot.insert("BootSourceOverrideMode".into(), json!("UEFI"));
        let f = patched_flags(BootFlags::default(), &boot).unwrap();
        assert_eq!(f, BootFlags::network_boot(true, true));
        assert_eq!(boot_json(&f)["BootSourceOverrideTarget"], "Pxe");
        boot.insert("BootSourceOverrideEnabled".into(), json!("Disabled"));
        assert!(!patched_flags(f, &boot).unwrap().valid);
        boot.insert("BootSourceOverrideTarget".into(), json!("Usb"));
        assert_eq!(
            patched_flags(f, &boot).unwrap_err().message_key,
            "PropertyValueNotInList"
        );
    }
}
