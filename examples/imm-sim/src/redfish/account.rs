//! `AccountService`: the BMC's users (the same users RMCP+ authenticates, from `--user` /
//! `--users-file`) and the three predefined roles their IPMI privilege limits map to.
//! Read-only: accounts are managed on the command line.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::body::resource;
use super::error::RedfishError;
use super::{Role, Service};

const SERVICE: &str = "/redfish/v1/AccountService";
const ACCOUNTS: &str = "/redfish/v1/AccountService/Accounts";
const ROLES: &str = "/redfish/v1/AccountService/Roles";
const ALL_ROLES: [Role; 3] = [Role::Administrator, Role::Operator, Role::ReadOnly];

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route(SERVICE, get(service))
        .route(ACCOUNTS, get(accounts))
        .route(&format!("{ACCOUNTS}/{{id}}"), get(account))
        .route(ROLES, get(roles))
        .route(&format!("{ROLES}/{{id}}"), get(role))
}

async fn service(headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": SERVICE,
            "@odata.type": "#AccountService.v1_18_1.AccountService",
            "Id": "AccountService",
            "Name": "Account Service",
            "Description": "The BMC's users: the same accounts RMCP+ authenticates",
            "Status": {"State": "Enabled", "Health": "OK"},
            "ServiceEnabled": true,
            "LocalAccountAuth": "Enabled",
            // IPMI v2.0 passwords: at most 20 bytes.
            "MaxPasswordLength": 20,
            "Accounts": {"@odata.id": ACCOUNTS},
            "Roles": {"@odata.id": ROLES},
        }),
        "GET",
    )
}

fn collection(id: &str, ty: &str, name: &str, members: &[String]) -> Value {
    let members: Vec<Value> = members.iter().map(|u| json!({"@odata.id": u})).collect();
    json!({
        "@odata.id": id,
        "@odata.type": ty,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

async fn accounts(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let members = (1..=svc.users.len())
        .map(|i| format!("{ACCOUNTS}/{i}"))
        .collect::<Vec<String>>();
    let c = collection(
        ACCOUNTS,
        "#ManagerAccountCollection.ManagerAccountCollection",
        "Accounts Collection",
        &members,
    );
    resource(&headers, c, "GET")
}

async fn account(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RedfishError> {
    let uri = format!("{ACCOUNTS}/{id}");
    let user = id
        .parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| svc.users.get(i))
        .ok_or_else(|| RedfishError::missing(&uri))?;
    let role = Role::of(user.max_privilege);
    Ok(resource(
        &headers,
        json!({
            "@odata.id": uri,
            "@odata.type": "#ManagerAccount.v1_14_1.ManagerAccount",
            "Id": id,
            "Name": "User Account",
            "UserName": String::from_utf8_lossy(&user.name),
            "RoleId": role.id(),
            "Enabled": true,
            "Locked": false,
            "Password": null,
            "AccountTypes": ["Redfish", "IPMI"],
            "Links": {"Role": {"@odata.id": format!("{ROLES}/{}", role.id())}},
        }),
        "GET",
    ))
}

async fn roles(headers: HeaderMap) -> Response {
    let members = ALL_ROLES
        .iter()
        .map(|r| format!("{ROLES}/{}", r.id()))
        .collect::<Vec<String>>();
    let c = collection(
        ROLES,
        "#RoleCollection.RoleCollection",
        "Roles Collection",
        &members,
    );
    resource(&headers, c, "GET")
}

async fn role(Path(id): Path<String>, headers: HeaderMap) -> Result<Response, RedfishError> {
    let uri = format!("{ROLES}/{id}");
    let role = ALL_ROLES
        .into_iter()
        .find(|r| r.id() == id)
        .ok_or_else(|| RedfishError::missing(&uri))?;
    // DSP0266 §13.5 predefined roles and their privileges.
    let privileges: &[&str] = match role {
        Role::Administrator => &[
            "Login",
            "ConfigureManager",
            "ConfigureUsers",
            "ConfigureSelf",
            "ConfigureComponents",
        ],
        Role::Operator => &["Login", "ConfigureSelf", "ConfigureComponents"],
        Role::ReadOnly => &["Login", "ConfigureSelf"],
    };
    Ok(resource(
        &headers,
        json!({
            "@odata.id": uri,
            "@odata.type": "#Role.v1_3_3.Role",
            "Id": role.id(),
            "Name": format!("{} role", role.id()),
            "RoleId": role.id(),
            "IsPredefined": true,
            "AssignedPrivileges": privileges,
        }),
        "GET",
    ))
}
