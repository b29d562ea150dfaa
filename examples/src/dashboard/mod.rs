//! The read-only web dashboard of `bcm serve`: health, storage systems → targets → LUNs,
//! assignments with their boot confirmation, configured servers and recent requests, on one
//! page at `/`, kept live by polling `/ui/live` (an HTML fragment with an `ETag`).
//!
//! ```text
//! GET  /                  the page (a login form first when tokens are configured)
//! GET  /ui/live           the page's live part; 304 when unchanged since If-None-Match
//! GET  /ui/dashboard.js   the page's script, embedded in the binary (no CDN, no inline script)
//! GET  /ui/dashboard.css  its style sheet
//! GET  /login, POST /login, POST /logout   the token form and the `bcm_token` cookie
//! ```
//! Every response carries a Content-Security-Policy that allows only the page's own origin.
//! The page shows no secret, whatever the role: none is ever read into its [`Snapshot`].
//! Many open dashboards cost one render per [`RENDER_TTL`], however many poll.

pub mod snapshot;
pub mod view;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::app::InventoryStatus;
pub use crate::auth::Role;
use crate::auth::{self, ApiAuth};
use crate::config::Config;
use crate::manager::{Effects, Manager};
pub use snapshot::Snapshot;

/// How long one render of the live part is served to every poller.
pub const RENDER_TTL: Duration = Duration::from_millis(500);

/// The Content-Security-Policy of every dashboard response: own origin only, no inline
/// script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

/// What the dashboard's handlers share.
pub struct DashboardState<E> {
    /// The executor.
    pub manager: Manager<E>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Inventory status from the update pump.
    pub status: tokio::sync::watch::Receiver<InventoryStatus>,
    /// Who may see it: the API's tokens (the page needs a reader, releasing an operator).
    pub auth: ApiAuth,
}

struct Rendered {
    at: Instant,
    etag: String,
    /// Shared by every response until the next render (no copy per poll).
    html: Bytes,
    /// The same, gzip-compressed once for every poller that accepts it.
    gzip: Option<Bytes>,
}

/// What a poll gets: the ETag and the live part, plain and gzip-compressed.
#[derive(Clone)]
struct Live {
    etag: String,
    html: Bytes,
    gzip: Option<Bytes>,
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::fast(),
    );
    enc.write_all(data).ok()?;
    enc.finish().ok().map(Bytes::from)
}

struct Shared<E> {
    state: DashboardState<E>,
    cache: Mutex<HashMap<Role, Rendered>>,
}

/// The dashboard's routes, to merge into the API router.
pub fn router<E: Effects>(state: DashboardState<E>) -> Router {
    Router::new()
        .route("/", get(index::<E>))
        .route("/ui/live", get(live::<E>))
        .route("/ui/dashboard.js", get(script))
        .route("/ui/dashboard.css", get(style))
        .route("/login", get(login_form::<E>).post(login::<E>))
        .route("/logout", post(logout::<E>))
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(Arc::new(Shared {
            state,
            cache: Mutex::new(HashMap::new()),
        }))
}

async fn secure_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

impl<E: Effects> Shared<E> {
    /// The viewer's role; `None` without a reader's token.
    fn role(&self, headers: &HeaderMap) -> Option<Role> {
        self.state
            .auth
            .check(auth::Access::Reader, headers)
            .ok()
            .and_then(|c| c.role())
    }

    /// The live part for `role`, rendered at most once per [`RENDER_TTL`].
    fn rendered(&self, role: Role) -> Live {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = cache.get(&role)
            && r.at.elapsed() < RENDER_TTL
        {
            return Live {
                etag: r.etag.clone(),
                html: r.html.clone(),
                gzip: r.gzip.clone(),
            };
        }
        let snap = page_snapshot(&self.state);
        let html = view::live(&snap, role).into_string();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        html.hash(&mut hasher);
        let etag = format!("\"{:016x}\"", hasher.finish());
        let html = Bytes::from(html);
        let gz = gzip(&html);
        cache.insert(
            role,
            Rendered {
                at: Instant::now(),
                etag: etag.clone(),
                html: html.clone(),
                gzip: gz.clone(),
            },
        );
        Live {
            etag,
            html,
            gzip: gz,
        }
    }
}

/// The snapshot the page shows now.
#[must_use]
pub fn page_snapshot<E: Effects>(state: &DashboardState<E>) -> Snapshot {
    let status = state.status.borrow().clone();
    Snapshot::gather(&state.manager, &state.config, &status)
}

/// The whole page for `role`, rendered from a fresh snapshot (what `GET /` serves).
#[must_use]
pub fn render_page<E: Effects>(state: &DashboardState<E>, role: Role) -> String {
    let snap = page_snapshot(state);
    view::page(&view::live(&snap, role), role, true).into_string()
}

fn html_response(code: StatusCode, body: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn see_other(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

async fn index<E: Effects>(State(s): State<Arc<Shared<E>>>, headers: HeaderMap) -> Response {
    let Some(role) = s.role(&headers) else {
        return see_other("/login");
    };
    let live = s.rendered(role).html;
    let logout = !s.state.auth.is_open();
    html_response(
        StatusCode::OK,
        view::page(
            &maud::PreEscaped(std::str::from_utf8(&live).unwrap_or_default()),
            role,
            logout,
        )
        .into_string(),
    )
}

async fn live<E: Effects>(State(s): State<Arc<Shared<E>>>, headers: HeaderMap) -> Response {
    let Some(role) = s.role(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in again").into_response();
    };
    let Live { etag, html, gzip } = s.rendered(role);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let accepts_gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"));
    let mut r = match gzip {
        Some(gz) if accepts_gzip => {
            let mut r = gz.into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        _ => html.into_response(),
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    r
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
        .into_response()
}

async fn login_form<E: Effects>(State(s): State<Arc<Shared<E>>>) -> Response {
    if s.state.auth.is_open() {
        return see_other("/");
    }
    html_response(StatusCode::OK, view::login(None).into_string())
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login<E: Effects>(
    State(s): State<Arc<Shared<E>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let auth = &s.state.auth;
    if auth.is_open() {
        return see_other("/");
    }
    let token = form.token.trim();
    let cookie = auth
        .tokens()
        .role_of(token)
        .and_then(|_| auth::login_cookie(token, auth.secure_cookie()).ok());
    let Some(cookie) = cookie else {
        return html_response(
            StatusCode::UNAUTHORIZED,
            view::login(Some("That token is not accepted.")).into_string(),
        );
    };
    let mut r = see_other("/");
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    r
}

async fn logout<E: Effects>(State(s): State<Arc<Shared<E>>>) -> Response {
    let mut r = see_other("/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        auth::logout_cookie(s.state.auth.secure_cookie()),
    );
    r
}
