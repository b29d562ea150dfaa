//! The service root, the OData service document and `$metadata` (DSP0266 §8.4): the
//! entry points a client reads before it logs in.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::Service;
use super::body::resource;

/// The DMTF schema files this service's resources use, with the namespaces each brings
/// (`$metadata` references them; the project keeps copies under `examples/imm-sim/redfish/csdl`).
pub(crate) const SCHEMAS: [(&str, &[&str]); 24] = [
    (
        "ServiceRoot_v1.xml",
        &["ServiceRoot", "ServiceRoot.v1_20_0"],
    ),
    (
        "SessionService_v1.xml",
        &["SessionService", "SessionService.v1_2_0"],
    ),
    ("Session_v1.xml", &["Session", "Session.v1_8_0"]),
    ("SessionCollection_v1.xml", &["SessionCollection"]),
    (
        "ComputerSystem_v1.xml",
        &["ComputerSystem", "ComputerSystem.v1_27_0"],
    ),
    (
        "ComputerSystemCollection_v1.xml",
        &["ComputerSystemCollection"],
    ),
    ("Chassis_v1.xml", &["Chassis", "Chassis.v1_28_0"]),
    ("ChassisCollection_v1.xml", &["ChassisCollection"]),
    (
        "NetworkAdapter_v1.xml",
        &["NetworkAdapter", "NetworkAdapter.v1_14_0"],
    ),
    (
        "NetworkAdapterCollection_v1.xml",
        &["NetworkAdapterCollection"],
    ),
    (
        "NetworkDeviceFunction_v1.xml",
        &["NetworkDeviceFunction", "NetworkDeviceFunction.v1_11_1"],
    ),
    (
        "NetworkDeviceFunctionCollection_v1.xml",
        &["NetworkDeviceFunctionCollection"],
    ),
    ("Manager_v1.xml", &["Manager", "Manager.v1_24_0"]),
    ("ManagerCollection_v1.xml", &["ManagerCollection"]),
    ("Settings_v1.xml", &["Settings", "Settings.v1_4_0"]),
    ("Message_v1.xml", &["Message", "Message.v1_3_0"]),
    ("Resource_v1.xml", &["Resource", "Resource.v1_23_0"]),
    ("RedfishExtensions_v1.xml", &["RedfishExtensions.v1_0_0"]),
    (
        "AccountService_v1.xml",
        &["AccountService", "AccountService.v1_18_1"],
    ),
    (
        "ManagerAccount_v1.xml",
        &["ManagerAccount", "ManagerAccount.v1_14_1"],
    ),
    (
        "ManagerAccountCollection_v1.xml",
        &["ManagerAccountCollection"],
    ),
    ("Role_v1.xml", &["Role", "Role.v1_3_3"]),
    ("RoleCollection_v1.xml", &["RoleCollection"]),
    ("Privileges_v1.xml", &["Privileges", "Privileges.v1_0_6"]),
];

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/redfish", get(versions))
        .route("/redfish/", get(versions))
        .route("/redfish/v1", get(service_root))
        .route("/redfish/v1/", get(service_root))
        .route("/redfish/v1/odata", get(odata))
        .route("/redfish/v1/$metadata", get(metadata))
}

async fn versions() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"v1": "/redfish/v1/"}))
}

async fn service_root(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": "/redfish/v1/",
            "@odata.type": "#ServiceRoot.v1_20_0.ServiceRoot",
            "Id": "RootService",
            "Name": "imm-sim Redfish Service",
            "RedfishVersion": "1.22.0",
            "UUID": svc.service_uuid(),
            "Vendor": "imm-sim",
            "ProtocolFeaturesSupported": {
                "ExpandQuery": {"ExpandAll": false, "Levels": false, "Links": false, "NoLinks": false},
                "SelectQuery": false,
                "FilterQuery": false,
                "OnlyMemberQuery": false,
                "ExcerptQuery": false,
            },
            "Systems": {"@odata.id": "/redfish/v1/Systems"},
            "Chassis": {"@odata.id": "/redfish/v1/Chassis"},
            "Managers": {"@odata.id": "/redfish/v1/Managers"},
            "SessionService": {"@odata.id": "/redfish/v1/SessionService"},
            "AccountService": {"@odata.id": "/redfish/v1/AccountService"},
            "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}},
        }),
        "GET",
    )
}

async fn odata() -> Response {
    let singletons = [
        ("Service", "/redfish/v1/"),
        ("Systems", "/redfish/v1/Systems"),
        ("Chassis", "/redfish/v1/Chassis"),
        ("Managers", "/redfish/v1/Managers"),
        ("SessionService", "/redfish/v1/SessionService"),
        ("AccountService", "/redfish/v1/AccountService"),
        ("Sessions", "/redfish/v1/SessionService/Sessions"),
    ];
    let value: Vec<_> = singletons
        .iter()
        .map(|(name, url)| json!({"name": name, "kind": "Singleton", "url": url}))
        .collect();
    axum::Json(json!({"@odata.context": "/redfish/v1/$metadata", "value": value})).into_response()
}

/// The `$metadata` document: a reference per schema file, and the service container.
#[must_use]
pub(crate) fn metadata_xml() -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n",
    );
    for (file, namespaces) in SCHEMAS {
        let _ = writeln!(
            x,
            "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/{file}\">"
        );
        for ns in namespaces {
            let _ = writeln!(x, "    <edmx:Include Namespace=\"{ns}\"/>");
        }
        x.push_str("  </edmx:Reference>\n");
    }
    x.push_str(concat!(
        "  <edmx:DataServices>\n",
        "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"Service\">\n",
        "      <EntityContainer Name=\"Service\" Extends=\"ServiceRoot.v1_20_0.ServiceContainer\"/>\n",
        "    </Schema>\n",
        "  </edmx:DataServices>\n",
        "</edmx:Edmx>\n",
    ));
    x
}

async fn metadata() -> Response {
    let mut r = metadata_xml().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    r
}
