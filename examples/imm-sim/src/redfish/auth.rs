//! Who may call: DSP0266 §13.3 — a session token (`X-Auth-Token`) or HTTP Basic on every
//! request but the service root, `$metadata`, the OData document and the login itself.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipmi_iscsi::rmcp::Password;
use subtle::ConstantTimeEq as _;

use std::time::Instant;

use super::error::RedfishError;
use super::{Role, SESSION_TIMEOUT, Service};

fn is_public(method: &Method, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    (*method == Method::GET
        && matches!(
            path,
            "" | "/redfish" | "/redfish/v1" | "/redfish/v1/$metadata" | "/redfish/v1/odata"
        ))
        || (*method == Method::POST
            && matches!(
                path,
                "/redfish/v1/SessionService/Sessions"
                    | "/redfish/v1/SessionService/Sessions/Members"
            ))
}

fn b64_value(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Standard base64 with padding (RFC 4648 §4), as HTTP Basic sends it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.trim_end_matches('=').as_bytes();
    if !text.len().is_multiple_of(4) || text.len() - bytes.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | b64_value(c)?;
        }
        let bits = chunk.len() * 6;
        acc <<= 24 - bits;
        let [_, a, b, c] = acc.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..bits / 8]);
    }
    Some(out)
}

impl Service {
    /// Checks a user name and password against this BMC's users (constant time in the
    /// password).
    /// The user's role when the password is right.
    pub(super) fn check_password(&self, user: &str, password: &str) -> Option<Role> {
        let given = Password::new(password.as_bytes()).ok()?;
        self.users
            .iter()
            .find(|u| {
                u.name == user.as_bytes() && bool::from(u.password.padded().ct_eq(given.padded()))
            })
            .map(|u| Role::of(u.max_privilege))
    }

    /// The role a request authenticates as, if any (a session's idle time restarts).
    fn caller(&self, req: &Request) -> Option<Role> {
        if let Some(token) = req
            .headers()
            .get("X-Auth-Token")
            .and_then(|v| v.to_str().ok())
        {
            let now = Instant::now();
            let mut st = self.state();
            st.sessions
                .retain(|s| now.duration_since(s.last_used) < SESSION_TIMEOUT);
            let s = st
                .sessions
                .iter_mut()
                .find(|s| bool::from(s.token.as_bytes().ct_eq(token.as_bytes())))?;
            s.last_used = now;
            return Some(s.role);
        }
        let basic = req
            .headers()
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Basic ")?;
        let decoded = String::from_utf8(base64_decode(basic.trim())?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        self.check_password(user, password)
    }
}

/// The middleware: public URIs pass, the rest need a session or Basic credentials.
pub(crate) async fn require(State(svc): State<Arc<Service>>, req: Request, next: Next) -> Response {
    // DSP0266 §8.3: a client asking for an OData version other than 4.0 gets 412.
    if req
        .headers()
        .get("OData-Version")
        .is_some_and(|v| v.as_bytes() != b"4.0")
    {
        return RedfishError::new(
            axum::http::StatusCode::PRECONDITION_FAILED,
            "HeaderInvalid",
            "The request header OData-Version names a version this service does not support (4.0).",
            "Send OData-Version: 4.0 or leave the header out.",
        )
        .into_response();
    }
    // No query parameter is implemented (ProtocolFeaturesSupported says so). DSP0266 §7.3:
    // 501 for `$`-prefixed and Redfish-defined ones, others ignored.
    let unsupported = req.uri().query().and_then(|q| {
        q.split('&')
            .map(|p| p.split('=').next().unwrap_or(p))
            .find(|n| {
                n.starts_with('$') || matches!(*n, "only" | "excerpt" | "includeoriginofcondition")
            })
            .map(str::to_owned)
    });
    if let Some(name) = unsupported {
        return RedfishError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "QueryNotSupported",
            format!("Querying is not supported by the implementation ({name})."),
            "Remove the query parameters and resubmit the request if the operation failed.",
        )
        .into_response();
    }
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    match svc.caller(&req) {
        // Redfish privileges: ReadOnly may read and end its session (ConfigureSelf);
        // changing the system needs ConfigureComponents (Operator, Administrator).
        Some(Role::ReadOnly)
            if !matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE)
                || (*req.method() == Method::DELETE
                    && !req
                        .uri()
                        .path()
                        .starts_with("/redfish/v1/SessionService/Sessions/")) =>
        {
            RedfishError::new(
                axum::http::StatusCode::FORBIDDEN,
                "InsufficientPrivilege",
                "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.",
                "Either abandon the operation or change the associated access rights and resubmit the request if the operation failed.",
            )
            .into_response()
        }
        Some(_) => next.run(req).await,
        None => RedfishError::no_session().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_rfc4648_vectors_and_refuses_junk() {
        // RFC 4648 §10 test vectors.
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(base64_decode(enc).unwrap(), dec.as_bytes(), "{enc}");
        }
        for bad in ["Zg=", "Z===", "Zm9v!", "Zg==Zg=="] {
            assert!(base64_decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_root_metadata_and_login_are_public() {
        assert!(is_public(&Method::GET, "/redfish/v1/"));
        assert!(is_public(&Method::GET, "/redfish/v1/$metadata"));
        assert!(is_public(
            &Method::POST,
            "/redfish/v1/SessionService/Sessions"
        ));
        assert!(!is_public(
            &Method::GET,
            "/redfish/v1/SessionService/Sessions"
        ));
        assert!(!is_public(&Method::GET, "/redfish/v1/Systems/1"));
    }
}
