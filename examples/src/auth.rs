//! Who may use the HTTP API of `bcm serve`: bearer tokens with two roles.
//!
//! A caller presents a token as `Authorization: Bearer <token>` or in the cookie
//! `bcm_token` (set by the dashboard's login form). Each configured token carries a
//! [`Role`]: a `reader` may read everything except secrets, an `operator` may also
//! provision, release and ask for secrets (`show_secrets`). Each route of the API declares
//! its [`Access`]; [`guard`] checks it and answers 401 (no credential, or one that matches no
//! token, with `WWW-Authenticate: Bearer`) or 403 (a reader on an operator route). A handler
//! that needs to know the role takes a [`Caller`].
//!
//! ```toml
//! [api]
//! listen = "0.0.0.0:8443"
//! tokens = [
//!   { name = "ops", role = "operator", secret = { env = "BCM_OPERATOR_TOKEN" } },
//!   { name = "grafana", role = "reader", secret = { file = "/etc/bcm/reader.token" } },
//! ]
//! tokens_file = "/etc/bcm/tokens"   # lines `NAME ROLE TOKEN`, `#` comments
//! ```
//!
//! With no token configured the API is open (every caller is an operator); `bcm serve`
//! allows that only on a loopback address. Only a SHA-256 digest of each token is kept,
//! compared in constant time; neither the token nor its digest is ever logged or shown by
//! `Debug`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ApiConfig, ConfigError, SecretSource};

/// The name of the cookie the dashboard's login form sets.
pub const COOKIE_NAME: &str = "bcm_token";

/// Shortest token accepted: a guessable token is no credential.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token allows. An operator may do everything a reader may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every GET except secrets.
    Reader,
    /// Also provision, release and `show_secrets`.
    Operator,
}

impl Role {
    /// The role's name as configured and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Operator => "operator",
        }
    }

    /// Whether this role may do what `needed` may.
    #[must_use]
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }

    fn parse(text: &str) -> Option<Role> {
        match text {
            "reader" => Some(Self::Reader),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route demands of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (`/health`, the login form).
    Open,
    /// Anyone when `[api] metrics_public` is on, else a reader.
    Metrics,
    /// A reader or an operator.
    Reader,
    /// An operator.
    Operator,
}

impl Access {
    /// The role this access needs under `auth` (`None`: no credential needed).
    #[must_use]
    pub fn needs(self, auth: &ApiAuth) -> Option<Role> {
        match self {
            Self::Open => None,
            Self::Metrics if auth.metrics_public => None,
            Self::Metrics | Self::Reader => Some(Role::Reader),
            Self::Operator => Some(Role::Operator),
        }
    }
}

/// One `[api] tokens` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A name for people and logs (`ops`, `grafana`); the token itself is never shown.
    pub name: String,
    /// What the token allows.
    pub role: Role,
    /// Where the token comes from (`env`, `file` or, for demos, `value`).
    pub secret: SecretSource,
}

/// One accepted token: its name, role and the SHA-256 of its text.
struct Token {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The tokens `bcm serve` accepts. `Debug` shows names and roles only.
#[derive(Default)]
pub struct TokenSet {
    tokens: Vec<Token>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.tokens
                    .iter()
                    .map(|t| format!("{} ({})", t.name, t.role)),
            )
            .finish()
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Why a token's text is refused (it must fit in a cookie and an HTTP header unchanged).
fn check_token(text: &str) -> Result<(), String> {
    if text.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "it is shorter than {MIN_TOKEN_LEN} characters (generate one with `openssl rand -hex 32`)"
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | ',' | ';' | '\\'))
    {
        return Err(format!(
            "it contains {:?}; use letters, digits and -._~+/= (e.g. `openssl rand -hex 32`)",
            c.escape_default().to_string()
        ));
    }
    Ok(())
}

impl TokenSet {
    /// The tokens of `[api] tokens` and `[api] tokens_file`.
    ///
    /// # Errors
    /// [`ConfigError::Secret`] when a secret cannot be read, [`ConfigError::Invalid`] for a
    /// malformed tokens file line, a token too short or with characters a header or cookie
    /// cannot carry, or two entries with the same name or token.
    pub fn from_config(api: &ApiConfig) -> Result<TokenSet, ConfigError> {
        let mut set = TokenSet::default();
        for t in &api.tokens {
            let what = format!("[api] tokens {}", t.name);
            let text = t.secret.resolve(&what)?;
            set.add(&what, &t.name, t.role, &text)?;
        }
        if let Some(path) = &api.tokens_file {
            set.add_file(path)?;
        }
        Ok(set)
    }

    /// Adds the `NAME ROLE TOKEN` lines of a tokens file (`#` starts a comment line).
    fn add_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Secret {
            what: "[api] tokens_file".to_owned(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("[api] tokens_file {} line {}", path.display(), i + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, token] = fields[..] else {
                return Err(ConfigError::Invalid(format!(
                    "{at}: expected `NAME ROLE TOKEN` (three words)"
                )));
            };
            let role = Role::parse(role).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "{at}: role {role:?} is neither reader nor operator"
                ))
            })?;
            self.add(&at, name, role, token)?;
        }
        Ok(())
    }

    fn add(&mut self, at: &str, name: &str, role: Role, text: &str) -> Result<(), ConfigError> {
        check_token(text).map_err(|why| ConfigError::Invalid(format!("{at}: the token {why}")))?;
        let digest = digest(text);
        if self.tokens.iter().any(|t| t.name == name) {
            return Err(ConfigError::Invalid(format!(
                "{at}: a token named {name:?} is already configured"
            )));
        }
        if let Some(t) = self.tokens.iter().find(|t| t.digest == digest) {
            return Err(ConfigError::Invalid(format!(
                "{at}: the same token is already configured as {:?}; give each its own",
                t.name
            )));
        }
        self.tokens.push(Token {
            name: name.to_owned(),
            role,
            digest,
        });
        Ok(())
    }

    /// No token configured: the API is open.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// How many tokens are configured.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The role of the token `presented`, if it is one of ours. Every configured token is
    /// compared (SHA-256 digests, in constant time), so the time taken says nothing about
    /// which token, or how much of one, matched.
    #[must_use]
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        self.find(presented).map(|(_, role)| role)
    }

    /// The name and role of the token `presented`.
    fn find(&self, presented: &str) -> Option<(&str, Role)> {
        let d = digest(presented);
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.digest.ct_eq(&d)) {
                found = Some((t.name.as_str(), t.role));
            }
        }
        found
    }
}

/// The API's authentication settings, shared by every route.
#[derive(Clone, Debug)]
pub struct ApiAuth {
    tokens: Arc<TokenSet>,
    metrics_public: bool,
    secure_cookie: bool,
}

impl ApiAuth {
    /// From `[api]`: its tokens, `metrics_public`, and whether the listener uses TLS (then
    /// the login cookie is `Secure`).
    ///
    /// # Errors
    /// As [`TokenSet::from_config`].
    pub fn from_config(api: &ApiConfig) -> Result<ApiAuth, ConfigError> {
        Ok(ApiAuth {
            tokens: Arc::new(TokenSet::from_config(api)?),
            metrics_public: api.metrics_public,
            secure_cookie: api.tls_cert.is_some(),
        })
    }

    /// No tokens: every caller is an operator (only allowed on a loopback listener).
    #[must_use]
    pub fn open() -> ApiAuth {
        ApiAuth {
            tokens: Arc::new(TokenSet::default()),
            metrics_public: true,
            secure_cookie: false,
        }
    }

    /// Whether the API lets everyone in (no token configured).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The accepted tokens.
    #[must_use]
    pub fn tokens(&self) -> &TokenSet {
        &self.tokens
    }

    /// Whether the login cookie must carry `Secure` (the listener uses TLS).
    #[must_use]
    pub fn secure_cookie(&self) -> bool {
        self.secure_cookie
    }

    /// Who is calling, judged from `headers`, for a route that demands `access`.
    ///
    /// # Errors
    /// [`AuthRejection`]: 401 without a valid credential, 403 for too small a role.
    pub fn check(&self, access: Access, headers: &HeaderMap) -> Result<Caller, AuthRejection> {
        let presented = presented_token(headers);
        let caller = match presented {
            _ if self.is_open() => Some(Caller::anonymous_operator()),
            Some(text) => self.tokens.find(text).map(|(name, role)| Caller {
                role: Some(role),
                name: Some(name.to_owned()),
            }),
            None => None,
        };
        let Some(needed) = access.needs(self) else {
            return Ok(caller.unwrap_or(Caller {
                role: None,
                name: None,
            }));
        };
        match (presented, caller) {
            (_, Some(c)) if c.role.is_some_and(|r| r.includes(needed)) => Ok(c),
            (_, Some(c)) => Err(AuthRejection::Forbidden {
                role: c.role,
                needed,
            }),
            (None, None) => Err(AuthRejection::Missing),
            (Some(_), None) => Err(AuthRejection::Invalid),
        }
    }
}

/// The token a request presents: `Authorization: Bearer`, else the `bcm_token` cookie.
#[must_use]
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    bearer.or_else(|| cookie_token(headers))
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME).then(|| value.trim_matches('"'))
        })
}

/// The caller of a route, as [`guard`] judged it; a handler takes it as an extractor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    role: Option<Role>,
    name: Option<String>,
}

impl Caller {
    fn anonymous_operator() -> Caller {
        Caller {
            role: Some(Role::Operator),
            name: None,
        }
    }

    /// The caller's role (`None`: no credential, on an open route).
    #[must_use]
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Whether the caller may do what an operator may (see secrets, provision, release).
    #[must_use]
    pub fn is_operator(&self) -> bool {
        self.role == Some(Role::Operator)
    }

    /// The name of the caller's token (`None` on an open API or without a credential).
    #[must_use]
    pub fn token_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Set by `guard`; a route without a guard has no caller, and is refused.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(AuthRejection::Missing)
    }
}

/// A refused request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No credential (401).
    #[error(
        "this needs a token: send `Authorization: Bearer <token>` (the CLI reads BCM_TOKEN or [client] token)"
    )]
    Missing,
    /// A credential that matches no token (401).
    #[error("the token presented is not one of this server's [api] tokens")]
    Invalid,
    /// A valid token whose role is too small (403).
    #[error("{} cannot do this: it needs {}", token_words(*role), token_words(Some(*needed)))]
    Forbidden {
        /// The caller's role.
        role: Option<Role>,
        /// The role the route needs.
        needed: Role,
    },
}

/// "an operator token", "a reader token", "no token".
fn token_words(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Operator) => "an operator token",
        Some(Role::Reader) => "a reader token",
        None => "a request without a token",
    }
}

impl AuthRejection {
    /// 401 or 403.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Invalid => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({ "error": self.to_string() }));
        let challenge = match self {
            Self::Missing => Some(r#"Bearer realm="bcm""#),
            // RFC 6750 §3.1.
            Self::Invalid => Some(r#"Bearer realm="bcm", error="invalid_token""#),
            Self::Forbidden { .. } => None,
        };
        let mut resp = (self.status(), body).into_response();
        if let Some(c) = challenge {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        resp
    }
}

/// Middleware for one route: admits the caller `access` allows, records it as a [`Caller`]
/// in the request, and refuses the others. Use with
/// `axum::middleware::from_fn_with_state((auth, access), guard)`.
pub async fn guard(
    State((auth, access)): State<(ApiAuth, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    match auth.check(access, req.headers()) {
        Ok(caller) => {
            if access == Access::Operator {
                // An audit line per change: which token (by name, never its text) did what.
                tracing::info!(
                    token = caller.token_name().unwrap_or("(open API)"),
                    method = %req.method(),
                    path = %req.uri().path(),
                    "API change"
                );
            }
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(rejection) => {
            // The token itself is never logged; the path and why are enough.
            tracing::debug!(path = %req.uri().path(), reason = %rejection, "API request refused");
            rejection.into_response()
        }
    }
}

/// The `Set-Cookie` value that logs a browser in with `token`: HttpOnly (no script reads
/// it), SameSite=Strict (no other site sends it), Secure under TLS.
///
/// # Errors
/// When `token` cannot be a cookie value (it is then no token of ours either).
pub fn login_cookie(token: &str, secure: bool) -> Result<HeaderValue, AuthRejection> {
    check_token(token).map_err(|_| AuthRejection::Invalid)?;
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(|_| AuthRejection::Invalid)
}

/// The `Set-Cookie` value that logs a browser out.
#[must_use]
pub fn logout_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("bcm_token=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0")
    } else {
        HeaderValue::from_static("bcm_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

/// The token the CLI presents: `BCM_TOKEN`, else `[client] token`.
///
/// # Errors
/// [`ConfigError::Secret`] when the configured secret cannot be read.
pub fn client_token(configured: Option<&SecretSource>) -> Result<Option<String>, ConfigError> {
    if let Ok(t) = std::env::var("BCM_TOKEN")
        && !t.is_empty()
    {
        return Ok(Some(t));
    }
    configured.map(|s| s.resolve("[client] token")).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR: &str = "op-0123456789abcdef";
    const READER: &str = "rd-0123456789abcdef";

    fn auth(metrics_public: bool) -> ApiAuth {
        let mut set = TokenSet::default();
        set.add("t", "ops", Role::Operator, OPERATOR).unwrap();
        set.add("t", "grafana", Role::Reader, READER).unwrap();
        ApiAuth {
            tokens: Arc::new(set),
            metrics_public,
            secure_cookie: false,
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn role_of_finds_each_token_and_nothing_else() {
        let a = auth(false);
        assert_eq!(a.tokens().role_of(OPERATOR), Some(Role::Operator));
        assert_eq!(a.tokens().role_of(READER), Some(Role::Reader));
        assert_eq!(a.tokens().role_of("op-0123456789abcdeF"), None);
        assert_eq!(a.tokens().role_of(""), None);
        assert_eq!(a.tokens().role_of(&OPERATOR[..10]), None);
    }

    #[test]
    fn bearer_or_cookie_and_the_right_status_for_each_role() {
        let a = auth(false);
        let none = HeaderMap::new();
        let wrong = headers(&[(header::AUTHORIZATION, "Bearer nope-nope-nope-nope")]);
        let reader = headers(&[(header::AUTHORIZATION, &format!("Bearer {READER}"))]);
        let op_cookie = headers(&[(header::COOKIE, &format!("theme=dark; bcm_token={OPERATOR}"))]);
        assert_eq!(a.check(Access::Reader, &none), Err(AuthRejection::Missing));
        assert_eq!(a.check(Access::Reader, &wrong), Err(AuthRejection::Invalid));
        assert!(a.check(Access::Reader, &reader).is_ok());
        let refused = a.check(Access::Operator, &reader).unwrap_err();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.to_string(),
            "a reader token cannot do this: it needs an operator token"
        );
        let c = a.check(Access::Operator, &op_cookie).unwrap();
        assert!(c.is_operator());
        assert_eq!(c.token_name(), Some("ops"));
        assert!(a.check(Access::Open, &none).is_ok());
        assert_eq!(a.check(Access::Metrics, &none), Err(AuthRejection::Missing));
        assert!(auth(true).check(Access::Metrics, &none).is_ok());
    }

    #[test]
    fn open_api_makes_everyone_an_operator() {
        let a = ApiAuth::open();
        assert!(
            a.check(Access::Operator, &HeaderMap::new())
                .unwrap()
                .is_operator()
        );
    }

    #[test]
    fn debug_never_shows_tokens_or_digests() {
        let a = auth(false);
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(OPERATOR) && !shown.contains(READER),
            "{shown}"
        );
        assert!(!shown.contains(&hex::encode(digest(OPERATOR))), "{shown}");
        assert!(shown.contains("ops (operator)"), "{shown}");
    }

    #[test]
    fn rejects_short_or_unsafe_tokens_and_duplicates() {
        let mut set = TokenSet::default();
        assert!(set.add("t", "a", Role::Reader, "short").is_err());
        assert!(
            set.add("t", "a", Role::Reader, "has space 0123456789")
                .is_err()
        );
        assert!(
            set.add("t", "a", Role::Reader, "semi;colon0123456789")
                .is_err()
        );
        set.add("t", "a", Role::Reader, READER).unwrap();
        assert!(
            set.add("t", "a", Role::Operator, OPERATOR).is_err(),
            "same name"
        );
        assert!(
            set.add("t", "b", Role::Operator, READER).is_err(),
            "same token"
        );
    }

    #[test]
    fn tokens_file_lines_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(
            &file,
            format!("# who role token\n\nops operator {OPERATOR}\n"),
        )
        .unwrap();
        let mut set = TokenSet::default();
        set.add_file(&file).unwrap();
        assert_eq!(set.role_of(OPERATOR), Some(Role::Operator));
        std::fs::write(&file, format!("ops admin {OPERATOR}\n")).unwrap();
        let err = TokenSet::default().add_file(&file).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("admin"), "{err}");
        assert!(!err.contains(OPERATOR), "{err}");
    }

    #[test]
    fn login_cookie_is_httponly_strict_and_secure_under_tls() {
        let c = login_cookie(OPERATOR, true).unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with("bcm_token=op-"), "{c}");
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(
            !login_cookie(OPERATOR, false)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Secure")
        );
        assert!(login_cookie("x;y", false).is_err());
    }
}
