//! `Chassis/1` and its network adapter: `NetworkAdapters/NIC1/NetworkDeviceFunctions/{1,2}`.
//! Function 1 is iSCSI-capable; its `iSCSIBoot` and `BootMode` are what the store makes
//! firmware boot, and it takes writes only through its settings object
//! (`@Redfish.Settings`, applied by the next `ComputerSystem.Reset` that boots the host,
//! `SupportedApplyTimes` = `OnReset`). Function 2 is a plain Ethernet function.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use ipmi_iscsi::params::Secret;
use serde_json::{Map, Value, json};

use super::body::{check_if_match, etag_of, json_object, resource};
use super::bridge::{Change, View};
use super::error::RedfishError;
use super::{Pending, Service, iscsi};

const CHASSIS: &str = "/redfish/v1/Chassis/1";
const ADAPTERS: &str = "/redfish/v1/Chassis/1/NetworkAdapters";
const NIC: &str = "/redfish/v1/Chassis/1/NetworkAdapters/NIC1";
const FUNCTIONS: &str = "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions";
const FUNCTION_1: &str = "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1";
const FUNCTION_2: &str = "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/2";
const SETTINGS: &str =
    "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1/Settings";

const BOOT_MODES: [&str; 2] = ["Disabled", "iSCSI"];

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/redfish/v1/Chassis", get(collection))
        .route(CHASSIS, get(chassis))
        .route(ADAPTERS, get(adapters))
        .route(NIC, get(nic))
        .route(FUNCTIONS, get(functions))
        .route(FUNCTION_1, get(function_1))
        .route(FUNCTION_2, get(function_2))
        .route(SETTINGS, get(settings).patch(patch_settings))
}

fn members(id: &str, ty: &str, name: &str, uris: &[&str]) -> Value {
    let members: Vec<Value> = uris.iter().map(|u| json!({"@odata.id": u})).collect();
    json!({
        "@odata.id": id,
        "@odata.type": ty,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

async fn collection(headers: HeaderMap) -> Response {
    let c = members(
        "/redfish/v1/Chassis",
        "#ChassisCollection.ChassisCollection",
        "Chassis Collection",
        &[CHASSIS],
    );
    resource(&headers, c, "GET")
}

async fn chassis(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": CHASSIS,
            "@odata.type": "#Chassis.v1_28_0.Chassis",
            "Id": "1",
            "Name": "Emulated tower",
            "ChassisType": "StandAlone",
            "Manufacturer": "imm-sim",
            "SerialNumber": svc.name.as_str(),
            "Status": {"State": "Enabled", "Health": "OK"},
            "NetworkAdapters": {"@odata.id": ADAPTERS},
            "Links": {
                "ComputerSystems": [{"@odata.id": "/redfish/v1/Systems/1"}],
                "ManagedBy": [{"@odata.id": "/redfish/v1/Managers/1"}],
            },
        }),
        "GET",
    )
}

async fn adapters(headers: HeaderMap) -> Response {
    let c = members(
        ADAPTERS,
        "#NetworkAdapterCollection.NetworkAdapterCollection",
        "Network Adapter Collection",
        &[NIC],
    );
    resource(&headers, c, "GET")
}

async fn nic(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": NIC,
            "@odata.type": "#NetworkAdapter.v1_14_0.NetworkAdapter",
            "Id": "NIC1",
            "Name": "Emulated dual-function adapter",
            "Manufacturer": "imm-sim",
            "Model": "iSCSI boot NIC",
            "SerialNumber": format!("{}-nic1", svc.name.as_str()),
            "Status": {"State": "Enabled", "Health": "OK"},
            "NetworkDeviceFunctions": {"@odata.id": FUNCTIONS},
        }),
        "GET",
    )
}

async fn functions(headers: HeaderMap) -> Response {
    let c = members(
        FUNCTIONS,
        "#NetworkDeviceFunctionCollection.NetworkDeviceFunctionCollection",
        "Network Device Function Collection",
        &[FUNCTION_1, FUNCTION_2],
    );
    resource(&headers, c, "GET")
}

impl Service {
    /// A locally administered MAC for function `n` of this BMC's NIC.
    fn mac(&self, n: u8) -> String {
        let g = self.uuid.as_bytes();
        let b = |i: usize| g.get(i).copied().unwrap_or(0);
        format!(
            "52:54:{:02x}:{:02x}:{:02x}:{:02x}",
            b(0) ^ b(9),
            b(2) ^ b(14),
            b(4) ^ b(20),
            n
        )
    }

    /// The settings object now: what was written and not yet applied, else what applies.
    fn settings_now(&self, v: &View) -> Pending {
        if let Some(p) = self.state().pending.clone() {
            return p;
        }
        Pending {
            iscsi: v.booting.as_ref().map_or_else(iscsi::empty, iscsi::to_json),
            boot_mode: if v.booting.is_some() {
                "iSCSI"
            } else {
                "Disabled"
            }
            .to_owned(),
            chap: v
                .oem
                .as_ref()
                .and_then(|p| p.auth.initiator())
                .map(|c| c.secret.clone()),
            mutual_chap: v
                .oem
                .as_ref()
                .and_then(|p| p.auth.target())
                .map(|c| c.secret.clone()),
        }
    }

    /// The change the pending settings make when applied (`None`: nothing pending).
    ///
    /// # Errors
    /// [`RedfishError`] when the pending object no longer builds parameters (it was checked
    /// when written, so only a damaged pending file gets here).
    pub(super) fn pending_change(&self) -> Result<Option<Change>, RedfishError> {
        let Some(p) = self.state().pending.clone() else {
            return Ok(None);
        };
        if p.boot_mode == "iSCSI" {
            let params = iscsi::to_params(&p.iscsi, (p.chap.as_ref(), p.mutual_chap.as_ref()))?;
            Ok(Some(Change::SetIscsi(Box::new(params))))
        } else {
            Ok(Some(Change::ClearIscsi))
        }
    }

    /// Forgets the pending settings once applied.
    pub(super) fn clear_pending(&self) {
        self.state().pending = None;
        self.save_pending(None);
    }
}

fn function_1_body(
    svc: &Service,
    id: &str,
    mode: &str,
    iscsi_boot: &Map<String, Value>,
    settings_etag: Option<String>,
) -> Value {
    let mut b = json!({
        "@odata.id": id,
        "@odata.type": "#NetworkDeviceFunction.v1_11_1.NetworkDeviceFunction",
        "Id": if id == SETTINGS { "Settings" } else { "1" },
        "Name": "iSCSI boot function",
        "NetDevFuncType": "Ethernet",
        "DeviceEnabled": true,
        "NetDevFuncCapabilities": ["Ethernet", "iSCSI"],
        "Status": {"State": "Enabled", "Health": "OK"},
        "Ethernet": {"PermanentMACAddress": svc.mac(1), "MACAddress": svc.mac(1), "MTUSize": 1500},
        "BootMode": mode,
        "BootMode@Redfish.AllowableValues": BOOT_MODES,
        "iSCSIBoot": iscsi_boot,
    });
    if let (Some(etag), Some(o)) = (settings_etag, b.as_object_mut()) {
        o.insert(
            "@Redfish.Settings".into(),
            json!({
                "@odata.type": "#Settings.v1_4_0.Settings",
                "SettingsObject": {"@odata.id": SETTINGS},
                "SupportedApplyTimes": ["OnReset"],
                "ETag": etag,
            }),
        );
    }
    b
}

fn settings_body(svc: &Service, p: &Pending) -> Value {
    function_1_body(svc, SETTINGS, &p.boot_mode, &p.iscsi, None)
}

async fn function_1(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, RedfishError> {
    let v = svc.call(Vec::new()).await?;
    let settings_etag = etag_of(&settings_body(&svc, &svc.settings_now(&v)));
    let mode = if v.booting.is_some() {
        "iSCSI"
    } else {
        "Disabled"
    };
    let iscsi_boot = v.booting.as_ref().map_or_else(iscsi::empty, iscsi::to_json);
    Ok(resource(
        &headers,
        function_1_body(&svc, FUNCTION_1, mode, &iscsi_boot, Some(settings_etag)),
        "GET",
    ))
}

async fn function_2(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": FUNCTION_2,
            "@odata.type": "#NetworkDeviceFunction.v1_11_1.NetworkDeviceFunction",
            "Id": "2",
            "Name": "Ethernet function",
            "NetDevFuncType": "Ethernet",
            "DeviceEnabled": true,
            "NetDevFuncCapabilities": ["Ethernet"],
            "Status": {"State": "Enabled", "Health": "OK"},
            "Ethernet": {"PermanentMACAddress": svc.mac(2), "MACAddress": svc.mac(2), "MTUSize": 1500},
            "BootMode": "Disabled",
        }),
        "GET",
    )
}

async fn settings(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, RedfishError> {
    let v = svc.call(Vec::new()).await?;
    Ok(resource(
        &headers,
        settings_body(&svc, &svc.settings_now(&v)),
        "GET, PATCH",
    ))
}

fn secret_value(v: &Value, key: &str) -> Result<Option<Secret>, RedfishError> {
    let pointer = format!("/iSCSIBoot/{key}");
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Secret::new(s.as_str())
            .map(Some)
            .map_err(|e| RedfishError::format_error(&pointer, &e.to_string())),
        _ => Err(RedfishError::type_error(&pointer, "string")),
    }
}

/// `pending` with the PATCH body `m` merged in, checked.
fn merged(mut pending: Pending, m: &Map<String, Value>) -> Result<Pending, RedfishError> {
    for (k, v) in m {
        match (k.as_str(), v) {
            ("BootMode", Value::String(s)) if BOOT_MODES.contains(&s.as_str()) => {
                pending.boot_mode.clone_from(s);
            }
            ("BootMode", Value::String(s)) => {
                return Err(RedfishError::not_in_list("/BootMode", s));
            }
            ("BootMode", _) => return Err(RedfishError::type_error("/BootMode", "string")),
            ("iSCSIBoot", Value::Object(o)) => {
                for (ik, iv) in o {
                    match ik.as_str() {
                        "CHAPSecret" => pending.chap = secret_value(iv, ik)?,
                        "MutualCHAPSecret" => pending.mutual_chap = secret_value(iv, ik)?,
                        p if iscsi::PROPERTIES.contains(&p) => {
                            if iv.is_object() || iv.is_array() {
                                return Err(RedfishError::type_error(
                                    &format!("/iSCSIBoot/{p}"),
                                    "string, number, boolean or null",
                                ));
                            }
                            pending.iscsi.insert(p.to_owned(), iv.clone());
                        }
                        p => {
                            return Err(RedfishError::unknown_property(&format!("/iSCSIBoot/{p}")));
                        }
                    }
                }
            }
            ("iSCSIBoot", _) => return Err(RedfishError::type_error("/iSCSIBoot", "object")),
            (
                "Id"
                | "Name"
                | "NetDevFuncType"
                | "DeviceEnabled"
                | "NetDevFuncCapabilities"
                | "Status"
                | "Ethernet",
                _,
            ) => {
                return Err(RedfishError::not_writable(&format!("/{k}")));
            }
            _ => return Err(RedfishError::unknown_property(&format!("/{k}"))),
        }
    }
    iscsi::check_types(&pending.iscsi)?;
    if pending.boot_mode == "iSCSI" {
        iscsi::to_params(
            &pending.iscsi,
            (pending.chap.as_ref(), pending.mutual_chap.as_ref()),
        )?;
    }
    Ok(pending)
}

async fn patch_settings(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, RedfishError> {
    let m = json_object(&raw)?;
    let v = svc.call(Vec::new()).await?;
    let now = svc.settings_now(&v);
    check_if_match(&headers, &etag_of(&settings_body(&svc, &now)))?;
    let next = merged(now, &m)?;
    {
        let mut st = svc.state();
        st.pending = Some(next.clone());
    }
    svc.save_pending(Some(&next));
    tracing::info!(
        bmc = svc.name.as_str(),
        boot_mode = next.boot_mode.as_str(),
        "redfish iscsi settings pending until reset"
    );
    Ok(resource(
        &HeaderMap::new(),
        settings_body(&svc, &next),
        "GET, PATCH",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[ -~]{0,40}".prop_map(Value::from),
            "(10\\.0\\.0\\.[0-9]|iqn\\.2026-01\\.x:[a-z]{1,5}|255\\.255\\.[0-9]{1,3}\\.0|IPv[46]|CHAP|MutualCHAP|None)".prop_map(Value::from),
        ]
    }

    fn patch() -> impl Strategy<Value = Map<String, Value>> {
        let key = prop_oneof![
            proptest::sample::select(iscsi::PROPERTIES.to_vec()).prop_map(str::to_owned),
            "[A-Za-z]{1,12}",
        ];
        let inner = proptest::collection::btree_map(key, leaf(), 0..30);
        (
            inner,
            proptest::option::of(prop_oneof![Just("iSCSI"), Just("Disabled"), Just("PXE")]),
        )
            .prop_map(|(m, mode)| {
                let mut o = Map::new();
                o.insert("iSCSIBoot".into(), Value::Object(m.into_iter().collect()));
                if let Some(mode) = mode {
                    o.insert("BootMode".into(), Value::from(mode));
                }
                o
            })
    }

    proptest! {
        #[test]
        fn hostile_settings_patches_are_answered_never_panic_and_never_store_bad_types(p in patch()) {
            if let Ok(next) = merged(Pending::default(), &p) {
                // What was accepted is schema-typed, and builds parameters when iSCSI.
                prop_assert!(iscsi::check_types(&next.iscsi).is_ok());
                if next.boot_mode == "iSCSI" {
                    prop_assert!(iscsi::to_params(&next.iscsi, (next.chap.as_ref(), next.mutual_chap.as_ref())).is_ok());
                }
            }
        }

        #[test]
        fn arbitrary_bodies_never_panic_the_body_reader(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = crate::redfish::body::json_object(&Bytes::from(bytes));
        }
    }
}
