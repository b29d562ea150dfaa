//! Decoding what a BMC answers, bounded: a size cap (checked by the transport while the body
//! streams in, and again here), a nesting-depth limit checked on the raw bytes before any
//! parser recurses, then serde into the few resource shapes the flow reads. Unknown
//! properties are ignored (OEM extensions, newer schema versions); a wrong type is a typed
//! error naming the resource.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::mapping::IscsiBoot;

/// Bounds on one response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest body read, in bytes.
    pub max_body: usize,
    /// Deepest nesting of arrays and objects.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // The largest resource the flow reads (a ComputerSystem) is a few KiB on real BMCs;
        // collections of 500 members stay under 64 KiB.
        Self {
            max_body: 1 << 20,
            max_depth: 32,
        }
    }
}

/// Why a response body was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is larger than the cap.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Arrays/objects nest deeper than the limit.
    #[error("response nests deeper than {limit} levels (at byte {at})")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Offset of the bracket that went over.
        at: usize,
    },
    /// Not JSON, or not the shape of the resource.
    #[error("{what}: {reason}")]
    Shape {
        /// What was being read.
        what: &'static str,
        /// serde's account (line and column).
        reason: String,
    },
}

/// Checks the nesting depth of JSON text without parsing it (brackets inside strings do not
/// count; escapes are honoured).
///
/// # Errors
/// [`DecodeError::TooDeep`].
pub fn check_depth(bytes: &[u8], limit: usize) -> Result<(), DecodeError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(DecodeError::TooDeep { limit, at });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Decodes `bytes` as `T` within `limits`; `what` names the resource in errors.
///
/// # Errors
/// [`DecodeError`].
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    limits: Limits,
    what: &'static str,
) -> Result<T, DecodeError> {
    if bytes.len() > limits.max_body {
        return Err(DecodeError::TooLarge {
            limit: limits.max_body,
        });
    }
    check_depth(bytes, limits.max_depth)?;
    serde_json::from_slice(bytes).map_err(|e| DecodeError::Shape {
        what,
        reason: e.to_string(),
    })
}

/// `{"@odata.id": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Link {
    /// The resource's path.
    #[serde(rename = "@odata.id")]
    pub id: String,
}

/// The service root (`/redfish/v1/`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceRoot {
    /// `RedfishVersion`.
    #[serde(default)]
    pub redfish_version: Option<String>,
    /// `Systems`.
    #[serde(default)]
    pub systems: Option<Link>,
    /// `Chassis`.
    #[serde(default)]
    pub chassis: Option<Link>,
    /// `SessionService`.
    #[serde(default)]
    pub session_service: Option<Link>,
    /// `Links` (`Sessions`).
    #[serde(default)]
    pub links: Option<RootLinks>,
}

/// `ServiceRoot.Links`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootLinks {
    /// The session collection.
    #[serde(default)]
    pub sessions: Option<Link>,
}

/// Any resource collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Collection {
    /// `Members`.
    #[serde(default)]
    pub members: Vec<Link>,
}

/// The parts of a `ComputerSystem` the flow reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComputerSystem {
    /// `@odata.id`.
    #[serde(rename = "@odata.id", default)]
    pub id: Option<String>,
    /// `UUID`.
    #[serde(rename = "UUID", default)]
    pub uuid: Option<String>,
    /// `PowerState`.
    #[serde(default)]
    pub power_state: Option<String>,
    /// `NetworkInterfaces`.
    #[serde(default)]
    pub network_interfaces: Option<Link>,
    /// `Actions`.
    #[serde(default)]
    pub actions: Option<SystemActions>,
    /// `Links`.
    #[serde(default)]
    pub links: Option<SystemLinks>,
    /// `Boot` (the boot source override).
    #[serde(default)]
    pub boot: Option<SystemBoot>,
}

/// `ComputerSystem.Boot`: the boot source override and what the service allows for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemBoot {
    /// `BootSourceOverrideEnabled` (`Disabled`, `Once`, `Continuous`).
    #[serde(default)]
    pub boot_source_override_enabled: Option<String>,
    /// `BootSourceOverrideEnabled@Redfish.AllowableValues`.
    #[serde(rename = "BootSourceOverrideEnabled@Redfish.AllowableValues", default)]
    pub enabled_allowable: Vec<String>,
    /// `BootSourceOverrideTarget` (`Pxe`, `Hdd`, ...).
    #[serde(default)]
    pub boot_source_override_target: Option<String>,
    /// `BootSourceOverrideTarget@Redfish.AllowableValues`.
    #[serde(rename = "BootSourceOverrideTarget@Redfish.AllowableValues", default)]
    pub target_allowable: Vec<String>,
    /// `BootSourceOverrideMode` (`UEFI`, `Legacy`); absent when the service has no mode.
    #[serde(default)]
    pub boot_source_override_mode: Option<String>,
    /// `BootSourceOverrideMode@Redfish.AllowableValues`.
    #[serde(rename = "BootSourceOverrideMode@Redfish.AllowableValues", default)]
    pub mode_allowable: Vec<String>,
}

/// Only a resource's `@odata.etag` (for `If-Match` when the header is missing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Etagged {
    /// `@odata.etag`.
    #[serde(rename = "@odata.etag", default)]
    pub etag: Option<String>,
}

/// `ComputerSystem.Actions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SystemActions {
    /// `#ComputerSystem.Reset`.
    #[serde(rename = "#ComputerSystem.Reset", default)]
    pub reset: Option<ResetAction>,
}

/// `#ComputerSystem.Reset`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ResetAction {
    /// Where to POST.
    #[serde(default)]
    pub target: Option<String>,
    /// `ResetType@Redfish.AllowableValues`.
    #[serde(rename = "ResetType@Redfish.AllowableValues", default)]
    pub allowable: Vec<String>,
}

/// `ComputerSystem.Links`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemLinks {
    /// The chassis holding the system.
    #[serde(default)]
    pub chassis: Vec<Link>,
}

/// A `Chassis` (its network adapters).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Chassis {
    /// `NetworkAdapters`.
    #[serde(default)]
    pub network_adapters: Option<Link>,
}

/// A `NetworkAdapter`, or a `NetworkInterface` (both link their functions).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Adapter {
    /// `NetworkDeviceFunctions`.
    #[serde(default)]
    pub network_device_functions: Option<Link>,
}

/// A `NetworkDeviceFunction`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceFunction {
    /// `@odata.id`.
    #[serde(rename = "@odata.id", default)]
    pub id: Option<String>,
    /// `@odata.etag`.
    #[serde(rename = "@odata.etag", default)]
    pub etag: Option<String>,
    /// `NetDevFuncCapabilities`.
    #[serde(default)]
    pub net_dev_func_capabilities: Vec<String>,
    /// `Ethernet`.
    #[serde(default)]
    pub ethernet: Option<Ethernet>,
    /// `BootMode`.
    #[serde(default)]
    pub boot_mode: Option<String>,
    /// `BootMode@Redfish.AllowableValues`.
    #[serde(rename = "BootMode@Redfish.AllowableValues", default)]
    pub boot_modes: Vec<String>,
    /// `iSCSIBoot`.
    #[serde(rename = "iSCSIBoot", default)]
    pub iscsi_boot: Option<IscsiBoot>,
    /// `@Redfish.Settings`.
    #[serde(rename = "@Redfish.Settings", default)]
    pub settings: Option<Settings>,
}

impl DeviceFunction {
    /// Whether `NetDevFuncCapabilities` lists iSCSI.
    #[must_use]
    pub fn is_iscsi_capable(&self) -> bool {
        self.net_dev_func_capabilities.iter().any(|c| c == "iSCSI")
    }

    /// The MAC address, when shown.
    #[must_use]
    pub fn mac(&self) -> Option<&str> {
        let e = self.ethernet.as_ref()?;
        e.mac_address
            .as_deref()
            .or(e.permanent_mac_address.as_deref())
    }
}

/// `NetworkDeviceFunction.Ethernet`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ethernet {
    /// `MACAddress`.
    #[serde(rename = "MACAddress", default)]
    pub mac_address: Option<String>,
    /// `PermanentMACAddress`.
    #[serde(rename = "PermanentMACAddress", default)]
    pub permanent_mac_address: Option<String>,
}

/// `@Redfish.Settings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Settings {
    /// Where pending values are PATCHed.
    #[serde(default)]
    pub settings_object: Option<Link>,
    /// `SupportedApplyTimes`.
    #[serde(default)]
    pub supported_apply_times: Vec<String>,
}

/// A `Task` (what a task monitor answers while running, or at the end).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    /// `TaskState`.
    #[serde(default)]
    pub task_state: Option<String>,
    /// `Messages`.
    #[serde(default)]
    pub messages: Vec<ExtendedInfo>,
}

/// One `@Message.ExtendedInfo` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtendedInfo {
    /// `MessageId`.
    #[serde(default)]
    pub message_id: Option<String>,
    /// `Message`.
    #[serde(default)]
    pub message: Option<String>,
    /// `Resolution`.
    #[serde(default)]
    pub resolution: Option<String>,
}

/// A Redfish error body (`{"error": {...}}`, DSP0266 §9.6.4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    /// The `error` object.
    #[serde(default)]
    pub error: ErrorObject,
}

/// `error` of an error body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorObject {
    /// `code`.
    #[serde(default)]
    pub code: Option<String>,
    /// `message`.
    #[serde(default)]
    pub message: Option<String>,
    /// `@Message.ExtendedInfo`.
    #[serde(rename = "@Message.ExtendedInfo", default)]
    pub extended: Vec<ExtendedInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_body: 64 * 1024,
        max_depth: 32,
    };

    #[test]
    fn hostile_bodies_give_typed_errors() {
        let deep = "[".repeat(10_000);
        assert!(matches!(
            decode::<serde_json::Value>(deep.as_bytes(), LIMITS, "x"),
            Err(DecodeError::TooDeep { limit: 32, at: 32 })
        ));
        let huge = format!("{{\"UUID\": \"{}\"}}", "a".repeat(70_000));
        assert_eq!(
            decode::<ComputerSystem>(huge.as_bytes(), LIMITS, "system"),
            Err(DecodeError::TooLarge { limit: 64 * 1024 })
        );
        let wrong = br#"{"NetDevFuncCapabilities": "iSCSI"}"#;
        assert!(matches!(
            decode::<DeviceFunction>(wrong, LIMITS, "network device function"),
            Err(DecodeError::Shape {
                what: "network device function",
                ..
            })
        ));
        let wrong_iscsi = br#"{"iSCSIBoot": {"PrimaryLUN": -1}}"#;
        assert!(matches!(
            decode::<DeviceFunction>(wrong_iscsi, LIMITS, "f"),
            Err(DecodeError::Shape { .. })
        ));
        assert!(matches!(
            decode::<ServiceRoot>(b"\xff\xfe not json", LIMITS, "service root"),
            Err(DecodeError::Shape { .. })
        ));
        assert!(matches!(
            decode::<Collection>(br#"{"Members": [{"@odata.id": 7}]}"#, LIMITS, "c"),
            Err(DecodeError::Shape { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_any_decoder(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            json_like in "[\\[\\]{}\":, a-zA-Z0-9@.#-]{0,300}",
        ) {
            for b in [bytes.as_slice(), json_like.as_bytes()] {
                let _ = check_depth(b, 4);
                let _ = decode::<ServiceRoot>(b, LIMITS, "root");
                let _ = decode::<Collection>(b, LIMITS, "collection");
                let _ = decode::<ComputerSystem>(b, LIMITS, "system");
                let _ = decode::<DeviceFunction>(b, LIMITS, "function");
                let _ = decode::<Task>(b, LIMITS, "task");
                let _ = decode::<ErrorBody>(b, LIMITS, "error");
            }
        }
    }

    #[test]
    fn brackets_inside_strings_do_not_count_towards_depth() {
        let s = format!("{{\"a\": \"{}\\\"[[[\"}}", "[".repeat(100));
        check_depth(s.as_bytes(), 2).unwrap();
        assert!(check_depth(b"[[[]]]", 2).is_err());
        check_depth(b"[[]][[]]", 2).unwrap();
    }

    #[test]
    fn reads_an_error_body_with_extended_info() {
        let body = br#"{"error": {"code": "Base.1.8.GeneralError", "message": "x",
            "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.PropertyValueNotInList",
            "Message": "The value Foo for BootMode is not in the list", "Resolution": "Choose a value"}]}}"#;
        let e: ErrorBody = decode(body, LIMITS, "error").unwrap();
        assert_eq!(
            e.error.extended[0].message_id.as_deref(),
            Some("Base.1.8.PropertyValueNotInList")
        );
    }
}
