//! HTTPS to one BMC on reqwest + rustls (ring), bounded against a hostile service: every
//! request has a timeout, bodies are read chunk by chunk and dropped once over the cap, and
//! JSON is depth-checked before it is parsed ([`super::decode`]).
//!
//! Authentication: a Redfish session (`POST SessionService/Sessions`, `X-Auth-Token`,
//! `DELETE` at the end, DSP0266 §13.3.4), falling back to HTTP Basic when the service has no
//! session service.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::decode::{self, DecodeError, ErrorBody, Limits};
use super::error::{Messages, RedfishError};
use super::tls::{self, Fingerprint, Presented, Trust};

/// The session collection every Redfish service has at this path (DSP0266 §13.3.4).
pub const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// Bounds of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Per request (connect, send, whole body).
    pub request: Duration,
    /// Per step (configure or clear, all requests and task polling included).
    pub step: Duration,
    /// Body and JSON limits.
    pub limits: Limits,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(15),
            step: Duration::from_secs(120),
            limits: Limits::default(),
        }
    }
}

/// Credentials; `Debug` hides the password.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

enum Auth {
    Basic,
    Session { token: String, location: String },
}

/// One answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Location`.
    pub location: Option<String>,
    /// `X-Auth-Token` (session login only; never logged).
    token: Option<String>,
    /// The body (at most the cap).
    pub body: Vec<u8>,
}

/// A conversation with one BMC.
pub struct Transport {
    client: reqwest::Client,
    base: String,
    bmc: String,
    bounds: Bounds,
    creds: Credentials,
    auth: Auth,
    trust: Trust,
    presented: Presented,
    /// Requests sent (for reports and benches).
    pub requests: usize,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("bmc", &self.bmc)
            .finish_non_exhaustive()
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

impl Transport {
    /// A transport to `bmc` (`host:port` of its HTTPS service), not yet logged in.
    ///
    /// # Errors
    /// [`RedfishError::Tls`], or [`RedfishError::Transport`] when the client cannot be built.
    pub fn new(
        bmc: &str,
        trust: Trust,
        creds: Credentials,
        bounds: Bounds,
    ) -> Result<Self, RedfishError> {
        if trust == Trust::Insecure {
            tracing::warn!(
                bmc,
                "redfish: certificate verification is OFF for this bmc (insecure = true)"
            );
        }
        let setup = tls::setup(&trust).map_err(|source| RedfishError::Tls {
            bmc: bmc.to_owned(),
            source,
        })?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(setup.config)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(bounds.request)
            .timeout(bounds.request)
            .http1_only()
            .build()
            .map_err(|e| RedfishError::Transport {
                bmc: bmc.to_owned(),
                method: "connect",
                path: String::new(),
                reason: chain(&e),
            })?;
        Ok(Self {
            client,
            base: format!("https://{bmc}"),
            bmc: bmc.to_owned(),
            bounds,
            creds,
            auth: Auth::Basic,
            trust,
            presented: setup.presented,
            requests: 0,
        })
    }

    /// The BMC (`host:port`).
    #[must_use]
    pub fn bmc(&self) -> &str {
        &self.bmc
    }

    /// The bounds.
    #[must_use]
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The fingerprint of the certificate the BMC presented, once a handshake happened.
    #[must_use]
    pub fn presented(&self) -> Option<Fingerprint> {
        self.presented.get()
    }

    /// Sends one request and reads the answer within the bounds. Error statuses are
    /// returned as replies; see [`Transport::get`] and [`Transport::status_error`].
    ///
    /// # Errors
    /// [`RedfishError::Transport`], [`RedfishError::Timeout`],
    /// [`RedfishError::CertificateChanged`], [`RedfishError::Decode`] (body over the cap).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply, RedfishError> {
        let what = method_name(&method);
        self.requests += 1;
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .request(method, &url)
            .header("Accept", "application/json")
            .header("OData-Version", "4.0");
        req = match &self.auth {
            Auth::Basic => req.basic_auth(&self.creds.user, Some(&self.creds.password)),
            Auth::Session { token, .. } => req.header("X-Auth-Token", token),
        };
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let limit = self.bounds.limits.max_body;
        let fut = async {
            let mut resp = req.send().await?;
            let head = |n: &str| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (etag, location, token) = (head("ETag"), head("Location"), head("X-Auth-Token"));
            let status = resp.status().as_u16();
            if resp
                .content_length()
                .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
            {
                return Ok(Err(DecodeError::TooLarge { limit }));
            }
            let mut out = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                if out.len() + chunk.len() > limit {
                    return Ok(Err(DecodeError::TooLarge { limit }));
                }
                out.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Ok(Reply {
                status,
                etag,
                location,
                token,
                body: out,
            }))
        };
        match tokio::time::timeout(self.bounds.request, fut).await {
            Err(_) => Err(RedfishError::Timeout {
                bmc: self.bmc.clone(),
                what: format!("{what} {path}"),
                after: self.bounds.request,
            }),
            Ok(Err(e)) => Err(self.transport_error(what, path, &e)),
            Ok(Ok(Err(source))) => Err(RedfishError::Decode {
                bmc: self.bmc.clone(),
                method: what,
                path: path.to_owned(),
                source,
            }),
            Ok(Ok(Ok(reply))) => Ok(reply),
        }
    }

    fn transport_error(
        &self,
        method: &'static str,
        path: &str,
        e: &reqwest::Error,
    ) -> RedfishError {
        if let (Trust::Pinned(pinned), Some(presented)) = (&self.trust, self.presented.get())
            && *pinned != presented
        {
            return RedfishError::CertificateChanged {
                bmc: self.bmc.clone(),
                pinned: *pinned,
                presented,
            };
        }
        if e.is_timeout() {
            return RedfishError::Timeout {
                bmc: self.bmc.clone(),
                what: format!("{method} {path}"),
                after: self.bounds.request,
            };
        }
        RedfishError::Transport {
            bmc: self.bmc.clone(),
            method,
            path: path.to_owned(),
            reason: chain(e),
        }
    }

    /// The error for a failing status, with the service's `@Message.ExtendedInfo`.
    #[must_use]
    pub fn status_error(&self, method: &'static str, path: &str, reply: &Reply) -> RedfishError {
        let messages = decode::decode::<ErrorBody>(&reply.body, self.bounds.limits, "error")
            .map(|b| {
                let mut m = b.error.extended;
                if m.is_empty()
                    && let Some(text) = b.error.message
                {
                    m.push(decode::ExtendedInfo {
                        message_id: b.error.code,
                        message: Some(text),
                        resolution: None,
                    });
                }
                m
            })
            .unwrap_or_default();
        RedfishError::Status {
            bmc: self.bmc.clone(),
            method,
            path: path.to_owned(),
            status: reply.status,
            messages: Messages(messages),
        }
    }

    /// Decodes a reply body as `T`.
    ///
    /// # Errors
    /// [`RedfishError::Decode`].
    pub fn decode<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        reply: &Reply,
        what: &'static str,
    ) -> Result<T, RedfishError> {
        decode::decode(&reply.body, self.bounds.limits, what).map_err(|source| {
            RedfishError::Decode {
                bmc: self.bmc.clone(),
                method,
                path: path.to_owned(),
                source,
            }
        })
    }

    /// `GET path` decoded as `T`, with the reply (for its `ETag`).
    ///
    /// # Errors
    /// [`RedfishError`]: transport, a failing status (with the service's messages), decode.
    pub async fn get<T: DeserializeOwned>(
        &mut self,
        path: &str,
        what: &'static str,
    ) -> Result<(T, Reply), RedfishError> {
        let reply = self.send(Method::GET, path, None, None).await?;
        if !(200..300).contains(&reply.status) {
            return Err(self.status_error("GET", path, &reply));
        }
        let v = self.decode("GET", path, &reply, what)?;
        Ok((v, reply))
    }

    /// Logs in with a session; keeps Basic when the service has no session service (404,
    /// 405, 501). Wrong credentials are an error either way.
    ///
    /// # Errors
    /// [`RedfishError`].
    pub async fn login(&mut self) -> Result<(), RedfishError> {
        let body = serde_json::json!({
            "UserName": self.creds.user,
            "Password": self.creds.password,
        });
        let reply = self.send(Method::POST, SESSIONS, Some(&body), None).await?;
        match (reply.status, reply.token.clone(), reply.location.clone()) {
            (200..=299, Some(token), Some(location)) => {
                // A session URI elsewhere than on this service is not followed (DELETE
                // would go to another host); the token is still used.
                let location = self.path_of(&location).unwrap_or_default();
                self.auth = Auth::Session { token, location };
                Ok(())
            }
            (200..=299, ..) | (404 | 405 | 501, ..) => {
                tracing::debug!(
                    bmc = self.bmc.as_str(),
                    "redfish: no session, using basic auth"
                );
                Ok(())
            }
            _ => Err(self.status_error("POST", SESSIONS, &reply)),
        }
    }

    /// Whether a session is open (rather than Basic).
    #[must_use]
    pub fn has_session(&self) -> bool {
        matches!(self.auth, Auth::Session { .. })
    }

    /// Deletes the session (a failure only leaves it for the service to time out).
    pub async fn logout(&mut self) {
        if let Auth::Session { location, .. } = &self.auth
            && !location.is_empty()
        {
            let location = location.clone();
            if let Err(e) = self.send(Method::DELETE, &location, None, None).await {
                tracing::debug!(bmc = self.bmc.as_str(), error = %e, "redfish: logout failed");
            }
            self.auth = Auth::Basic;
        }
    }

    /// `location` as a path on this service (a `Location` may be absolute); `None` for a
    /// URI on another host or not a path.
    #[must_use]
    pub fn path_of(&self, location: &str) -> Option<String> {
        let path = location.strip_prefix(&self.base).unwrap_or(location);
        (path.starts_with('/') && !path.starts_with("//")).then(|| path.to_owned())
    }
}
