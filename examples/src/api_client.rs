//! The CLI's client for the API of a running `bcm serve`: while the daemon holds the local
//! store, `bcm provision` and `release` ask it instead of refusing; with `BCM_API` (or
//! `[client] api`) they and `bcm status` ask that API, from any host.
//!
//! The token comes from `BCM_TOKEN` or `[client] token`; an `https://` API is verified
//! against `[client] ca_file` (or `BCM_CA_FILE`): there is no fallback to the system's
//! roots, since a provisioning network's API certificate comes from the site's own CA.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

use crate::config::Config;

/// Why the API could not be asked (not an answer with an error status: that is data).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The CA file or the token cannot be used.
    #[error("{0}")]
    Setup(String),
    /// The request did not get an answer.
    #[error("cannot reach the bcm serve API at {url}: {reason}")]
    Transport {
        /// The URL asked.
        url: String,
        /// What failed (connection refused, certificate not trusted, timeout).
        reason: String,
    },
    /// The answer is not the JSON the API sends.
    #[error("the bcm serve API at {url} answered {status} with a body that is not JSON: {body}")]
    NotJson {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
}

/// An answer of the API: its HTTP status and JSON body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`{"error": …}` for a 4xx or 5xx).
    pub body: Value,
}

impl Answer {
    /// Whether the status is 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `"error"` message of a failed answer.
    #[must_use]
    pub fn error(&self) -> String {
        self.body["error"]
            .as_str()
            .map_or_else(|| self.body.to_string(), str::to_owned)
    }
}

/// A client of one `bcm serve` API. `Debug` never shows the token.
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// The CA file: `BCM_CA_FILE`, else `[client] ca_file`.
fn ca_file(config: &Config) -> Option<PathBuf> {
    std::env::var_os("BCM_CA_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| config.client.ca_file.clone())
}

fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        let setup = |e: &dyn fmt::Display| {
            ClientError::Setup(format!("[client] ca_file {}: {e}", ca.display()))
        };
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| setup(&e))? {
            roots
                .add(cert.map_err(|e| setup(&e))?)
                .map_err(|e| setup(&e))?;
        }
        if roots.is_empty() {
            return Err(setup(&"no PEM CERTIFICATE in it"));
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(crate::api_tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Setup(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

impl ApiClient {
    /// A client of the API at `base` (`http://host:port` or `https://…`), with the token
    /// and CA file `config` and the environment name.
    ///
    /// # Errors
    /// [`ClientError::Setup`] when the token's secret or the CA file cannot be read.
    pub fn new(base: &str, config: &Config) -> Result<ApiClient, ClientError> {
        let token = crate::auth::client_token(config.client.token.as_ref())
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "API address {base:?} must start with http:// or https://"
            )));
        }
        let ca = ca_file(config);
        if base.starts_with("https://") && ca.is_none() {
            return Err(ClientError::Setup(format!(
                "the API {base} uses TLS: set [client] ca_file (or BCM_CA_FILE) to the CA that signed its certificate"
            )));
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(ca.as_deref())?)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Setup(format!("HTTP client: {e}")))?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// The API's address.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method path` (with a JSON `body`) and returns the status and JSON answer.
    /// Provisioning can take minutes (inventory, BMC), so only connecting is bounded here.
    ///
    /// # Errors
    /// [`ClientError::Transport`] without an answer, [`ClientError::NotJson`] for an answer
    /// that is not JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let transport = |e: &reqwest::Error| ClientError::Transport {
            url: url.clone(),
            reason: error_chain(e),
        };
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| transport(&e))?;
        let body = serde_json::from_str(&text).map_err(|_| ClientError::NotJson {
            url: url.clone(),
            status,
            body: text.chars().take(200).collect(),
        })?;
        Ok(Answer { status, body })
    }
}

/// An error and its causes in one line ("error sending request: … : invalid peer
/// certificate: UnknownIssuer").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The exit code for an API answer's status (see [`crate::cli::exit`]).
#[must_use]
pub fn exit_code(status: u16) -> u8 {
    use crate::cli::exit;
    match status {
        200..=299 => exit::OK,
        400 | 413 | 415 => exit::USAGE,
        401 | 403 => exit::DENIED,
        404 => exit::NOTHING,
        409 => exit::CONFLICT,
        422 => exit::REJECTED,
        502 => exit::STEP_FAILED,
        _ => exit::FAILURE,
    }
}
