//! The network-boot listener of `bcm serve`: iPXE scripts over HTTP, on its own address,
//! separate from the admin API (no API, no metrics here).
//!
//! ```text
//! GET /boot.ipxe                            the entry script: chains to the machine's own
//!                                           URL with iPXE's ${uuid}, ${net0/mac}, ${serial}
//! GET /machine.ipxe?uuid=&mac=&serial=      the machine's script: initiator-iqn, CHAP,
//!                                           keep-san, sanboot <RFC 4173 root path(s)>;
//!                                           for an unknown or unassigned machine a script
//!                                           that says so and exits (no names, no secrets)
//! ```
//! A machine is recognised by its SMBIOS UUID or its boot NIC's MAC address among the
//! servers that hold an assignment and boot in mode `pxe`; the UUID comes from
//! `[[server]] uuid`, the boot request, or the BMC's Get System GUID ([`identity`]); the
//! MAC from `[[server]] mac` or the boot request. Each source address is rate limited
//! ([`limit`]); every fetch is logged (server, identity, source; never the script) and
//! recorded in the store, and [`sessions`] confirms the boot when the initiator logs in
//! to its target. See `docs/NETBOOT.md` for the threat model.

pub mod entry;
pub mod identity;
pub mod limit;
pub mod machine;
pub mod sessions;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use boot_config_core::{Action, BmcBootSettings, RequestId, ServerName};

pub use identity::{GuidEncoding, Uuid, normalize_mac};
pub use limit::RateLimiter;

use crate::config::{BootMode, Config};
use crate::manager::{Effects, Manager};

/// What the boot handlers share.
pub struct BootState<E> {
    /// The executor (assignments, plans, store, metrics).
    pub manager: Manager<E>,
    /// The configuration (servers, their boot modes and identities).
    pub config: Arc<Config>,
    limiter: Mutex<RateLimiter>,
}

impl<E: Effects> BootState<E> {
    /// Handlers' state over `manager`, rate limited as `[boot]` says.
    pub fn new(manager: Manager<E>, config: Arc<Config>) -> Self {
        let limiter = RateLimiter::new(config.boot.rate, config.boot.burst);
        Self {
            manager,
            config,
            limiter: Mutex::new(limiter),
        }
    }

    /// Takes a rate-limit token for `source`; a 429 script response when there is none.
    fn admit(&self, source: IpAddr) -> Result<(), Box<Response>> {
        let verdict = self
            .limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check(source, Instant::now());
        verdict.map_err(|wait| {
            self.manager.metrics().boot_fetch(None);
            tracing::warn!(%source, "boot listener: rate limit, request refused");
            let secs = wait.as_secs().max(1).to_string();
            Box::new(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs)],
                    "#!ipxe\necho bcm: too many requests from this address\nexit 1\n",
                )
                    .into_response(),
            )
        })
    }
}

/// A server the listener may hand a script to, with what it boots.
#[derive(Clone, Debug)]
pub struct BootTarget {
    /// The server.
    pub server: String,
    /// Its provisioning request (the assignment's ID).
    pub request_id: String,
    /// The BMC step's settings of its plan: initiator, boot paths, CHAP.
    pub settings: BmcBootSettings,
}

/// The plan settings of `server`'s assignment (reserved or committed), if it has one.
#[must_use]
pub fn boot_target<E: Effects>(manager: &Manager<E>, server: &str) -> Option<BootTarget> {
    let id = manager.with_engine(|e| {
        e.ledger()
            .for_server(&ServerName::new(server))
            .map(|a| a.id().as_str().to_owned())
    })?;
    let secret = manager
        .with_store(|s| s.request(&id))
        .ok()
        .flatten()
        .and_then(|r| r.secret);
    let plan = manager
        .with_engine(|e| {
            e.provisioning_plan(
                &RequestId::new(id.as_str()),
                secret.as_deref().unwrap_or(&[]),
            )
        })
        .ok()?;
    plan.steps.into_iter().find_map(|s| match s.action {
        Action::ConfigureBmc(settings) => Some(BootTarget {
            server: server.to_owned(),
            request_id: id.clone(),
            settings: *settings,
        }),
        _ => None,
    })
}

/// The assigned `pxe`-mode server whose UUID or MAC is the one the firmware reported.
#[must_use]
pub fn find_machine<E: Effects>(
    manager: &Manager<E>,
    config: &Config,
    uuid: Option<Uuid>,
    mac: Option<&str>,
) -> Option<BootTarget> {
    if uuid.is_none() && mac.is_none() {
        return None;
    }
    let stored = manager
        .with_store(crate::store::Store::server_uuids)
        .unwrap_or_default();
    let servers: Vec<String> = manager
        .assignments()
        .into_iter()
        .map(|a| a.server)
        .filter(|s| config.boot_mode(s) == BootMode::Pxe)
        .collect();
    servers.into_iter().find_map(|server| {
        let known = config.server(&server);
        let uuid_matches = uuid.is_some_and(|u| {
            known
                .and_then(|k| k.uuid.as_deref())
                .into_iter()
                .chain(
                    stored
                        .iter()
                        .filter(|(s, _)| *s == server)
                        .map(|(_, u)| u.as_str()),
                )
                .any(|text| Uuid::parse(text) == Some(u))
        });
        let target = boot_target(manager, &server)?;
        let mac_matches = mac.is_some_and(|m| {
            known
                .and_then(|k| k.mac.as_deref())
                .into_iter()
                .chain(target.settings.nic_mac.as_deref())
                .any(|text| normalize_mac(text).as_deref() == Some(m))
        });
        (uuid_matches || mac_matches).then_some(target)
    })
}

/// The boot listener's router (serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: the rate limit is per source).
pub fn router<E: Effects>(state: BootState<E>) -> Router {
    Router::new()
        .route("/boot.ipxe", get(entry::get::<E>))
        .route("/machine.ipxe", get(machine::get::<E>))
        .with_state(Arc::new(state))
}

/// Serves the boot listener on `listener` until `shutdown` completes.
///
/// # Errors
/// The server's I/O error.
pub async fn serve<E: Effects>(
    listener: tokio::net::TcpListener,
    state: BootState<E>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// An iPXE script response.
fn script(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What `bcm status` and the API say about a server's boot: its mode and, for `pxe`,
/// when it fetched its script and logged in to its target.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BootStatus {
    /// `oem` or `pxe`.
    pub mode: &'static str,
    /// Unix milliseconds of the last script fetch (`pxe`).
    pub script_fetched_ms: Option<i64>,
    /// Unix milliseconds of the first login after it (`pxe`).
    pub logged_in_ms: Option<i64>,
    /// One line for a person: "script fetched at …, logged in at …" or "not booted yet".
    pub summary: String,
}

impl BootStatus {
    /// The status of the assignment `request_id` of `server`.
    #[must_use]
    pub fn of(
        config: &Config,
        store: &crate::store::Store,
        server: &str,
        request_id: &str,
    ) -> Self {
        let mode = config.boot_mode(server);
        if mode == BootMode::Oem {
            return Self {
                mode: mode.as_str(),
                script_fetched_ms: None,
                logged_in_ms: None,
                summary: "boot parameters in the BMC".to_owned(),
            };
        }
        let c = store.boot_confirmation(request_id).unwrap_or_default();
        let summary = match (c.script_fetched_ms, c.logged_in_ms) {
            (None, _) => "not booted yet".to_owned(),
            (Some(f), None) => format!("script fetched at {}, not logged in yet", utc(f)),
            (Some(f), Some(l)) => format!("script fetched at {}, logged in at {}", utc(f), utc(l)),
        };
        Self {
            mode: mode.as_str(),
            script_fetched_ms: c.script_fetched_ms,
            logged_in_ms: c.logged_in_ms,
            summary,
        }
    }
}

/// Unix milliseconds as `2026-12-07 14:31:02 UTC`.
#[must_use]
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Remembers the system UUID a boot request gave for `server`.
///
/// # Errors
/// A message when the text is not a UUID, or the store fails.
pub fn remember_request_uuid<E: Effects>(
    manager: &Manager<E>,
    server: &str,
    uuid: &str,
) -> Result<(), String> {
    let u = Uuid::parse(uuid).ok_or_else(|| {
        format!("uuid {uuid:?} is not a UUID like 01234567-89ab-cdef-0123-456789abcdef")
    })?;
    manager
        .with_store(|s| s.set_server_uuid(server, &u.to_string(), "request"))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_milliseconds_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_653_862_999), "2026-12-07 14:31:02 UTC");
    }
}
