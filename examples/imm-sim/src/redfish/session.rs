//! `SessionService` and its `Sessions`: POST logs in (201, `X-Auth-Token`, `Location`),
//! DELETE logs out (DSP0266 §13.3.4).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::body::{json_object, resource};
use super::error::RedfishError;
use super::{MAX_SESSIONS, Service, Session};

const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/redfish/v1/SessionService", get(service))
        .route(SESSIONS, get(list).post(login))
        .route(&format!("{SESSIONS}/"), get(list).post(login))
        // DSP0266 §7.9: a POST to the collection's Members property is a POST to it.
        .route(&format!("{SESSIONS}/Members"), axum::routing::post(login))
        .route(&format!("{SESSIONS}/{{id}}"), get(one).delete(logout))
}

async fn service(headers: HeaderMap) -> Response {
    resource(
        &headers,
        json!({
            "@odata.id": "/redfish/v1/SessionService",
            "@odata.type": "#SessionService.v1_2_0.SessionService",
            "Id": "SessionService",
            "Name": "Session Service",
            "Description": "Redfish sessions of this emulated BMC",
            "Status": {"State": "Enabled", "Health": "OK"},
            "ServiceEnabled": true,
            "SessionTimeout": 1800,
            "Sessions": {"@odata.id": SESSIONS},
        }),
        "GET",
    )
}

fn session_body(s: &Session) -> Value {
    json!({
        "@odata.id": format!("{SESSIONS}/{}", s.id),
        "@odata.type": "#Session.v1_8_0.Session",
        "Id": s.id,
        "Name": "User Session",
        "UserName": s.user,
        "Password": null,
        "SessionType": "Redfish",
    })
}

async fn list(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let members: Vec<Value> = svc
        .state()
        .sessions
        .iter()
        .map(|s| json!({"@odata.id": format!("{SESSIONS}/{}", s.id)}))
        .collect();
    resource(
        &headers,
        json!({
            "@odata.id": SESSIONS,
            "@odata.type": "#SessionCollection.SessionCollection",
            "Name": "Session Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        "GET, POST",
    )
}

async fn login(State(svc): State<Arc<Service>>, body: Bytes) -> Result<Response, RedfishError> {
    let m = json_object(&body)?;
    let text = |k: &str| {
        match m.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(RedfishError::type_error(&format!("/{k}"), "string")),
        None => Err(RedfishError::new(
            StatusCode::BAD_REQUEST,
            "PropertyMissing",
            format!("The property {k} is a required property and must be included in the request."),
            "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed.",
        )
        .at(format!("/{k}"))),
    }
    };
    let (user, password) = (text("UserName")?, text("Password")?);
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "UserName" | "Password"))
    {
        return Err(RedfishError::unknown_property(&format!("/{k}")));
    }
    let Some(role) = svc.check_password(&user, &password) else {
        tracing::warn!(
            bmc = svc.name.as_str(),
            user = user.as_str(),
            "redfish login refused"
        );
        return Err(RedfishError::no_session());
    };
    let token = svc.random_hex(16);
    let id = svc.random_hex(8);
    let session = Session {
        id,
        token,
        user,
        role,
        last_used: std::time::Instant::now(),
    };
    {
        let mut st = svc.state();
        if st.sessions.len() >= MAX_SESSIONS {
            return Err(RedfishError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SessionLimitExceeded",
                "The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.",
                "Reduce the number of other sessions before trying to establish the session or increase the limit of simultaneous sessions (if supported).",
            ));
        }
        st.next_session += 1;
        st.sessions.push(session.clone());
    }
    tracing::info!(
        bmc = svc.name.as_str(),
        user = session.user.as_str(),
        "redfish session opened"
    );
    let location = format!("{SESSIONS}/{}", session.id);
    let mut r = (StatusCode::CREATED, axum::Json(session_body(&session))).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&session.token) {
        h.insert("X-Auth-Token", v);
    }
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    Ok(r)
}

async fn one(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RedfishError> {
    let s = svc
        .state()
        .sessions
        .iter()
        .find(|s| s.id == id)
        .cloned()
        .ok_or_else(|| RedfishError::missing(&format!("{SESSIONS}/{id}")))?;
    Ok(resource(&headers, session_body(&s), "GET, DELETE"))
}

async fn logout(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Result<StatusCode, RedfishError> {
    let mut st = svc.state();
    let now = std::time::Instant::now();
    st.sessions
        .retain(|s| now.duration_since(s.last_used) < super::SESSION_TIMEOUT);
    let before = st.sessions.len();
    st.sessions.retain(|s| s.id != id);
    if st.sessions.len() == before {
        return Err(RedfishError::missing(&format!("{SESSIONS}/{id}")));
    }
    tracing::info!(bmc = svc.name.as_str(), "redfish session closed");
    Ok(StatusCode::NO_CONTENT)
}
