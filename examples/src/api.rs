//! The HTTP JSON API of `bcm serve`.
//!
//! ```text
//! GET    /health                         {"status":"ok"|"degraded", "reasons", "isns_registered", "inventory_rounds", "pending_rollbacks", ...}
//! GET    /metrics                        Prometheus text: requests, steps, latency, LUNs by state
//! GET    /v1/inventory                   targets with portals and LUNs (size, state, holder)
//! GET    /v1/assignments                 every server's boot disk
//! GET    /v1/assignments/{server}        one; ?show_secrets=true adds the CHAP secret
//! DELETE /v1/assignments/{server}        release it (DD, initiator, BMC, CHAP), 200 with the steps
//! POST   /v1/boot-requests               {"server","size","bmc"?, "request_id"?, ...} → 201 + assignment
//! GET    /v1/requests?server=&limit=     recent requests and their states
//! ```
//! Every route but `/health` (and `/metrics` with `[api] metrics_public`) needs a token
//! ([`crate::auth`]): a reader's for the GETs, an operator's for `DELETE`, `POST` and
//! `show_secrets`; 401 without a valid one, 403 for a reader on an operator route.
//! Errors are `{"error": "<what to do>"}` with 400 (malformed body or field), 404 (unknown
//! server, nothing assigned), 409 (server busy, request ID reused, server already holds a
//! disk, LUN, BMC or initiator/DD name held by another server: the message names the holder),
//! 413 (body over 64 KiB), 415 (not `content-type: application/json`), 422 (no LUN fits: the
//! engine's explanation), 502 (a step failed on iSNS, a target or the BMC; rolled back).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{BootAsk, InventoryStatus};
use crate::auth::{Access, ApiAuth, Caller, guard};
use crate::config::Config;
use crate::manager::{Effects, Manager, ManagerError, inventory_rows};

/// What the handlers share.
pub struct ApiState<E> {
    /// The executor.
    pub manager: Manager<E>,
    /// The configuration (request defaults, servers).
    pub config: Arc<Config>,
    /// Inventory status from the update pump.
    pub status: tokio::sync::watch::Receiver<InventoryStatus>,
    /// Who may call which route (tokens, roles).
    pub auth: ApiAuth,
}

/// An API error: a status and a message for a person.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<ManagerError> for ApiError {
    fn from(e: ManagerError) -> Self {
        let status = match &e {
            e if is_conflict(e) => StatusCode::CONFLICT,
            ManagerError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ManagerError::Busy { .. }
            | ManagerError::Conflict(_)
            | ManagerError::RolledBackEarlier { .. } => StatusCode::CONFLICT,
            ManagerError::NothingToRelease { .. } => StatusCode::NOT_FOUND,
            ManagerError::StepFailed { .. } | ManagerError::ReleaseIncomplete { .. } => {
                StatusCode::BAD_GATEWAY
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, e.to_string())
    }
}

type Shared<E> = Arc<ApiState<E>>;

/// Largest boot request body accepted (a request is a few hundred bytes).
const BOOT_REQUEST_LIMIT: usize = 64 * 1024;

/// The status of a manager error: a server that already holds a disk is a conflict, not a
/// request that nothing fits.
fn is_conflict(e: &ManagerError) -> bool {
    matches!(e, ManagerError::Rejected(r)
        if matches!(*r.reason, boot_config_core::RejectReason::ServerAlreadyHolds { .. }))
}

/// One route's access rule: the method, the path as routed, and who may call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRule {
    /// HTTP method (`GET`, `POST`, `DELETE`).
    pub method: &'static str,
    /// Path as routed (`/v1/assignments/{server}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// Declares every route once: its method, path, [`Access`] and handler. [`ROUTES`] and the
/// router come from the same list, so no route exists without an access rule.
macro_rules! api_routes {
    ($($method:ident $path:literal $access:ident => $handler:expr;)*) => {
        /// Every route of the API with its access rule (the router is built from this list).
        pub const ROUTES: &[RouteRule] = &[$(RouteRule {
            method: stringify!($method),
            path: $path,
            access: Access::$access,
        }),*];

        fn routes<E: Effects>(auth: &ApiAuth) -> Router<Shared<E>> {
            Router::new()$(.route(
                $path,
                axum::routing::on(axum::routing::MethodFilter::$method, $handler).layer(
                    axum::middleware::from_fn_with_state((auth.clone(), Access::$access), guard),
                ),
            ))*
        }
    };
}

api_routes! {
    GET "/health" Open => health::<E>;
    GET "/metrics" Metrics => metrics::<E>;
    GET "/v1/inventory" Reader => inventory::<E>;
    GET "/v1/assignments" Reader => assignments::<E>;
    // `show_secrets=true` further needs an operator (checked in the handler).
    GET "/v1/assignments/{server}" Reader => assignment::<E>;
    DELETE "/v1/assignments/{server}" Operator => release::<E>;
    POST "/v1/boot-requests" Operator => provision::<E>;
    GET "/v1/requests" Reader => requests::<E>;
}

/// The router; every route is guarded by its rule in [`ROUTES`].
pub fn router<E: Effects>(state: ApiState<E>) -> Router {
    routes::<E>(&state.auth)
        // A boot request is a few hundred bytes; applies to the bodies handlers read.
        .layer(axum::extract::DefaultBodyLimit::max(BOOT_REQUEST_LIMIT))
        .with_state(Arc::new(state))
}

/// Requests rolling back, from the per-state counts.
pub(crate) fn rolling_back(counts: &[(crate::store::RequestState, u64)]) -> u64 {
    counts
        .iter()
        .filter(|(st, _)| *st == crate::store::RequestState::RollingBack)
        .map(|(_, n)| n)
        .sum()
}

/// Why the manager is degraded (empty: healthy), as `/health` and the dashboard say it.
pub(crate) fn health_reasons(
    st: &crate::app::InventoryStatus,
    rolling_back: u64,
    conflicts: usize,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if !st.registered {
        reasons.push("not registered with the iSNS server".to_owned());
    }
    if st.rounds == 0 {
        reasons.push("no full inventory round yet".to_owned());
    }
    if rolling_back > 0 {
        reasons.push(format!(
            "{rolling_back} incomplete rollback(s) pending, retried with back-off (their LUNs stay reserved)"
        ));
    }
    if conflicts > 0 {
        reasons.push(format!(
            "{conflicts} stored allocation(s) conflict with an older holder: run `bcm repair`"
        ));
    }
    reasons
}

async fn health<E: Effects>(State(s): State<Shared<E>>) -> Response {
    let st = s.status.borrow().clone();
    // Counted in SQL: the rows themselves (bodies, secrets) are not needed here.
    let counts = s
        .manager
        .with_store(crate::store::Store::state_counts)
        .unwrap_or_default();
    let unfinished: u64 = counts
        .iter()
        .filter(|(st, _)| st.is_unfinished())
        .map(|(_, n)| n)
        .sum();
    let rolling_back = rolling_back(&counts);
    let reasons = health_reasons(&st, rolling_back, s.manager.conflicts().len());
    let ok = reasons.is_empty();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({
            "status": if ok { "ok" } else { "degraded" },
            "isns_registered": st.registered,
            "inventory_rounds": st.rounds,
            "targets": st.targets,
            "probing": st.progress.map(|(p, t)| json!({"probed": p, "total": t})),
            "unfinished_requests": unfinished,
            "pending_rollbacks": rolling_back,
            "reasons": reasons,
            "last_warning": st.last_warning,
        })),
    )
        .into_response()
}

async fn metrics<E: Effects>(State(s): State<Shared<E>>) -> Response {
    let mut out = String::new();
    s.manager.metrics().render(&mut out);
    s.manager.effects().render_metrics(&mut out);
    let counts = s.manager.with_engine(|e| e.inventory().counts());
    out.push_str("# HELP bcm_luns LUNs in the inventory by state.\n# TYPE bcm_luns gauge\n");
    for (state, n) in [
        ("available", counts.available),
        ("awaiting_size", counts.awaiting_size),
        ("reserved", counts.reserved),
        ("assigned", counts.assigned),
        ("offline", counts.offline),
    ] {
        out.push_str(&format!("bcm_luns{{state=\"{state}\"}} {n}\n"));
    }
    let st = s.status.borrow().clone();
    out.push_str(&format!(
        "# HELP bcm_isns_registered Whether the control node is registered.\n# TYPE bcm_isns_registered gauge\nbcm_isns_registered {}\n",
        u8::from(st.registered)
    ));
    out.push_str(&format!(
        "# HELP bcm_inventory_rounds_total Full inventory rounds finished.\n# TYPE bcm_inventory_rounds_total counter\nbcm_inventory_rounds_total {}\n",
        st.rounds
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn inventory<E: Effects>(State(s): State<Shared<E>>) -> Response {
    let rows = s.manager.with_engine(inventory_rows);
    let failures = s.status.borrow().probe_failures.clone();
    Json(crate::manager::with_probe_failures(rows, &failures)).into_response()
}

async fn assignments<E: Effects>(State(s): State<Shared<E>>) -> Response {
    let rows: Vec<serde_json::Value> = s
        .manager
        .assignments()
        .iter()
        .map(|a| with_boot(&s, a))
        .collect();
    Json(rows).into_response()
}

/// An assignment's JSON with its boot mode and confirmation (`"boot"`).
fn with_boot<E: Effects>(s: &ApiState<E>, a: &crate::manager::Assignment) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    v["boot"] = s
        .manager
        .with_store(|st| {
            serde_json::to_value(crate::boot::BootStatus::of(
                &s.config,
                st,
                &a.server,
                &a.request_id,
            ))
        })
        .unwrap_or_default();
    v
}

#[derive(Deserialize)]
struct SecretQuery {
    #[serde(default)]
    show_secrets: bool,
}

async fn assignment<E: Effects>(
    State(s): State<Shared<E>>,
    caller: Caller,
    Path(server): Path<String>,
    Query(q): Query<SecretQuery>,
) -> Result<Response, ApiError> {
    if q.show_secrets && !caller.is_operator() {
        return Ok(crate::auth::AuthRejection::Forbidden {
            role: caller.role(),
            needed: crate::auth::Role::Operator,
        }
        .into_response());
    }
    let a = s
        .manager
        .assignments()
        .into_iter()
        .find(|a| a.server == server)
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("server {server} holds no boot disk"),
            )
        })?;
    let mut v = with_boot(&s, &a);
    if q.show_secrets
        && let Some(secret) = s.manager.chap_secret(&server)?
    {
        v["chap_secret"] = json!(secret);
    }
    Ok(Json(v).into_response())
}

async fn release<E: Effects>(
    State(s): State<Shared<E>>,
    Path(server): Path<String>,
) -> Result<Response, ApiError> {
    let steps = s.manager.release(&server).await?;
    Ok(Json(json!({ "server": server, "released": true, "steps": steps })).into_response())
}

async fn provision<E: Effects>(
    State(s): State<Shared<E>>,
    body: Result<Json<BootAsk>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(ask) = body.map_err(|e| {
        let status = match &e {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // 413 when the body exceeds the limit; other read failures keep their own code.
            JsonRejection::BytesRejection(b) => b.status(),
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, format!("malformed boot request: {}", e.body_text()))
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let req = ask
        .to_request(&s.config, now)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    if req.boot.server.bmc.is_none() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "server {}: no BMC address; give \"bmc\" or list it in [[server]]",
                ask.server
            ),
        ));
    }
    if let Some(u) = &ask.uuid {
        crate::boot::remember_request_uuid(&s.manager, &ask.server, u)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    }
    let report = s.manager.provision(req).await.map_err(|e| {
        let mut err = ApiError::from(e);
        if err.0 == StatusCode::UNPROCESSABLE_ENTITY
            && let Some(note) = s.status.borrow().unprobed_note()
        {
            err.1 = format!("{}; {note}", err.1);
        }
        err
    })?;
    let code = if report.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(report)).into_response())
}

#[derive(Deserialize)]
struct RequestsQuery {
    server: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct RequestRow {
    request_id: String,
    server: String,
    kind: crate::store::RequestKind,
    state: crate::store::RequestState,
    error: Option<String>,
    created_ms: i64,
    updated_ms: i64,
}

async fn requests<E: Effects>(
    State(s): State<Shared<E>>,
    Query(q): Query<RequestsQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let rows = s
        .manager
        .with_store(|st| st.recent(q.server.as_deref(), limit))
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let rows: Vec<RequestRow> = rows
        .into_iter()
        .map(|r| RequestRow {
            request_id: r.request_id,
            server: r.server,
            kind: r.kind,
            state: r.state,
            error: r.error,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        })
        .collect();
    Ok(Json(rows).into_response())
}
