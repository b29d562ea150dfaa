//! `Managers/1`: the emulated BMC itself.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::Service;
use super::body::resource;

const MANAGER: &str = "/redfish/v1/Managers/1";

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/redfish/v1/Managers", get(collection))
        .route(MANAGER, get(manager))
}

async fn collection(headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": "/redfish/v1/Managers",
            "@odata.type": "#ManagerCollection.ManagerCollection",
            "Name": "Manager Collection",
            "Members@odata.count": 1,
            "Members": [{"@odata.id": MANAGER}],
        }),
        "GET",
    )
}

async fn manager(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": MANAGER,
            "@odata.type": "#Manager.v1_24_0.Manager",
            "Id": "1",
            "Name": "Emulated BMC",
            "ManagerType": "BMC",
            "Manufacturer": "imm-sim",
            "Model": "imm-sim",
            "FirmwareVersion": env!("CARGO_PKG_VERSION"),
            "UUID": svc.service_uuid(),
            "ServiceEntryPointUUID": svc.service_uuid(),
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {
                "ManagerForServers": [{"@odata.id": "/redfish/v1/Systems/1"}],
                "ManagerForChassis": [{"@odata.id": "/redfish/v1/Chassis/1"}],
            },
        }),
        "GET",
    )
}
