//! The Redfish service of each emulated BMC: HTTPS beside RMCP+, a tree shaped like
//! DMTF's public-tower mockup, writing the same boot-options store the IPMI side writes.
//!
//! ```text
//! /redfish/v1/                      ServiceRoot                      root.rs
//!   $metadata, odata                CSDL references, service doc     root.rs
//!   SessionService/Sessions/{id}    login (X-Auth-Token), logout     session.rs
//!   Systems/1                       UUID, Boot override, Reset       system.rs
//!   Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/{1,2}      chassis.rs
//!     1/Settings                    pending iSCSIBoot + BootMode, applied at reset
//!   Managers/1                      the BMC itself                   manager.rs
//!   AccountService/{Accounts,Roles} its users and their roles        account.rs
//! ```
//! | module | concept |
//! |---|---|
//! | [`bridge`] | requests into the BMC's task: the same store, effects, renderers |
//! | [`tls`] | self-signed certificate, rustls listener |
//! | `error` | Redfish error bodies (Base registry MessageIds) |
//! | `body` | request size and depth caps, ETag, `If-Match` |
//! | `auth` | Basic and session authentication |
//! | `iscsi` | `iSCSIBoot` ↔ the library's parameter model |

mod account;
mod auth;
mod body;
pub mod bridge;
mod chassis;
pub mod error;
mod iscsi;
mod manager;
mod root;
mod session;
mod system;
pub mod tls;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::{HeaderValue, header};
use ipmi_iscsi::params::Secret;
use ipmi_iscsi::rmcp::{RandomSource, User};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use self::bridge::{Call, CallSender, Change, View};
use self::error::RedfishError;
use crate::spec::BmcName;

/// The pending settings of the iSCSI-capable network device function (its settings
/// object): applied to the store at the next reset.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The `iSCSIBoot` object as written (secrets never inside).
    pub iscsi: Map<String, Value>,
    /// `BootMode` as written.
    pub boot_mode: String,
    /// `CHAPSecret`, kept apart.
    #[serde(with = "opt_secret", default)]
    pub chap: Option<Secret>,
    /// `MutualCHAPSecret`, kept apart.
    #[serde(with = "opt_secret", default)]
    pub mutual_chap: Option<Secret>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("boot_mode", &self.boot_mode)
            .finish_non_exhaustive()
    }
}

/// Serde for an optional secret in the (0600) pending-settings file: the value itself,
/// unlike `Secret`'s own serde which writes `***`.
mod opt_secret {
    use ipmi_iscsi::params::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(secret) => s.serialize_some(secret.expose()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| Secret::new(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A logged-in session.
#[derive(Clone)]
struct Session {
    id: String,
    token: String,
    user: String,
    role: Role,
    last_used: std::time::Instant,
}

/// The Redfish predefined role of a user, from its IPMI privilege limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// IPMI User or Callback: reads only.
    ReadOnly,
    /// IPMI Operator: may configure boot, reset.
    Operator,
    /// IPMI Administrator (or OEM).
    Administrator,
}

impl Role {
    /// The role of a user whose IPMI privilege limit is `p`.
    #[must_use]
    pub fn of(p: ipmi_iscsi::rmcp::Privilege) -> Self {
        match p.0 {
            0x04 | 0x05 => Self::Administrator,
            0x03 => Self::Operator,
            _ => Self::ReadOnly,
        }
    }

    /// Its `RoleId`.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::ReadOnly => "ReadOnly",
            Self::Operator => "Operator",
            Self::Administrator => "Administrator",
        }
    }
}

#[derive(Default)]
struct State {
    sessions: Vec<Session>,
    next_session: u64,
    pending: Option<Pending>,
}

/// Most sessions at once per BMC.
const MAX_SESSIONS: usize = 32;
/// Idle time after which a session ends (`SessionService.SessionTimeout`).
const SESSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

/// One BMC's Redfish service: its identity, users, and the way into its BMC task.
pub struct Service {
    name: BmcName,
    uuid: String,
    service_uuid: String,
    users: Vec<User>,
    calls: CallSender,
    state: Mutex<State>,
    random: Mutex<RandomSource>,
    pending_file: Option<PathBuf>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The UUID text of a GUID sent in SMBIOS byte order (first three fields little-endian),
/// as `dmidecode`, iPXE's `${uuid}` and QEMU's `-uuid` write it.
#[must_use]
pub fn uuid_text(g: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        g[3],
        g[2],
        g[1],
        g[0],
        g[5],
        g[4],
        g[7],
        g[6],
        g[8],
        g[9],
        g[10],
        g[11],
        g[12],
        g[13],
        g[14],
        g[15]
    )
}

impl Service {
    /// A service for BMC `name` whose system GUID is `guid`, with `users`, reaching its BMC
    /// through `calls`; pending settings persist in `pending_file` (secret-bearing, 0600).
    #[must_use]
    pub fn new(
        name: BmcName,
        guid: &[u8; 16],
        users: Vec<User>,
        calls: CallSender,
        random: RandomSource,
        pending_file: Option<PathBuf>,
    ) -> Self {
        let pending = pending_file.as_deref().and_then(load_pending);
        Self {
            name,
            uuid: uuid_text(guid),
            // The service's own identity (the manager's), distinct from the system's.
            service_uuid: uuid_text(&guid.map(|b| !b)),
            users,
            calls,
            state: Mutex::new(State {
                pending,
                ..State::default()
            }),
            random: Mutex::new(random),
            pending_file,
        }
    }

    /// The router serving `/redfish` for this BMC.
    pub fn router(self: Arc<Self>) -> Router {
        let api = Router::new()
            .merge(root::routes())
            .merge(account::routes())
            .merge(session::routes())
            .merge(system::routes())
            .merge(chassis::routes())
            .merge(manager::routes())
            .method_not_allowed_fallback(|uri: axum::http::Uri| async move {
                RedfishError::method(uri.path())
            })
            .fallback(|uri: axum::http::Uri| async move { RedfishError::missing(uri.path()) })
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                auth::require,
            ))
            .layer(axum::middleware::map_response(odata_headers))
            .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY))
            .layer(axum::middleware::from_fn(close_after_refused_body));
        api.with_state(self)
    }

    fn service_uuid(&self) -> &str {
        &self.service_uuid
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a handler panicked mid-update; the data is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn random_hex(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        (self
            .random
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))(&mut buf);
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Sends `changes` to the BMC task and waits for its view.
    async fn call(&self, changes: Vec<Change>) -> Result<View, RedfishError> {
        let (reply, rx) = oneshot::channel();
        self.calls
            .send(Call { changes, reply })
            .await
            .map_err(|_| RedfishError::internal("the bmc task has stopped"))?;
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(why)) => Err(RedfishError::internal(&why)),
            Err(_) => Err(RedfishError::internal("the bmc task has stopped")),
        }
    }

    fn save_pending(&self, pending: Option<&Pending>) {
        let Some(path) = &self.pending_file else {
            return;
        };
        let result = match pending {
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Some(p) => serde_json::to_vec(p)
                .map_err(std::io::Error::other)
                .and_then(|json| {
                    let json = zeroize::Zeroizing::new(json);
                    if let Some(dir) = path.parent() {
                        crate::persist::ensure_private_dir(dir)?;
                    }
                    crate::persist::write_atomic(path, &json, 0o600)
                }),
        };
        if let Err(e) = result {
            tracing::error!(bmc = self.name.as_str(), error = %e, "cannot save redfish pending settings");
        }
    }
}

fn load_pending(path: &std::path::Path) -> Option<Pending> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > crate::persist::MAX_STATE_BYTES {
        tracing::warn!(file = %path.display(), "redfish pending settings too large; ignored");
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "redfish pending settings unreadable; ignored");
            None
        }
    }
}

/// Closes the connection after an error answer to a request that carried a body.
///
/// A refusal (401, 404, 405, 413, …) is sent without reading the body, and the connection
/// then cannot carry another request: without `Connection: close` a client that reuses it
/// races the server's close, and its next request fails with a reset (DMTF's protocol
/// validator saw exactly that on the POST after a refused PATCH). The header tells it to
/// open a new connection instead.
async fn close_after_refused_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let mut response = next.run(request).await;
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn odata_headers(mut r: axum::response::Response) -> axum::response::Response {
    // axum's own body-limit rejection is plain text: answer it as Redfish does.
    if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
        && !r
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        r = axum::response::IntoResponse::into_response(RedfishError::too_large(body::MAX_BODY));
    }
    let h = r.headers_mut();
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if h.get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json")
    {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    r
}
