//! Request and response bodies: a size cap and a nesting-depth cap on what a client sends,
//! and the headers every JSON answer carries (`OData-Version`, `ETag`).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::RedfishError;

/// Largest request body accepted (an `iSCSIBoot` PATCH is well under 2 KiB).
pub(crate) const MAX_BODY: usize = 16 * 1024;
/// Deepest JSON nesting accepted (the deepest writable property is two levels down).
pub(crate) const MAX_DEPTH: usize = 8;

/// The deepest nesting of arrays and objects in `bytes`, counted without parsing (so a
/// hostile body is refused before serde builds anything).
#[must_use]
pub(crate) fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Parses a request body that must be a JSON object, within [`MAX_BODY`] and [`MAX_DEPTH`].
///
/// # Errors
/// [`RedfishError`] 413 for a body too large, 400 `MalformedJSON` otherwise.
pub(crate) fn json_object(bytes: &Bytes) -> Result<Map<String, Value>, RedfishError> {
    if bytes.len() > MAX_BODY {
        return Err(RedfishError::too_large(MAX_BODY));
    }
    if nesting_depth(bytes) > MAX_DEPTH {
        return Err(RedfishError::malformed(&format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(RedfishError::malformed("the body is not a JSON object")),
        Err(e) => Err(RedfishError::malformed(&e.to_string())),
    }
}

/// A weak ETag over a resource's JSON: it changes whenever the body does.
#[must_use]
pub(crate) fn etag_of(body: &Value) -> String {
    let text = body.to_string();
    // FNV-1a: a change detector, not a security boundary.
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("W/\"{h:016x}\"")
}

/// Checks `If-Match` against the resource's current ETag (`*` matches anything).
///
/// # Errors
/// [`RedfishError::precondition_failed`] when the header names another ETag.
pub(crate) fn check_if_match(headers: &HeaderMap, current: &str) -> Result<(), RedfishError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let v = v
        .to_str()
        .map_err(|_| RedfishError::precondition_failed())?;
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if v.split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(current))
    {
        Ok(())
    } else {
        Err(RedfishError::precondition_failed())
    }
}

/// The `Link: <…>; rel=describedby` value for `@odata.type` `#Ns.v1_2_3.Type` (or
/// `#TypeCollection.TypeCollection`): the DMTF JSON schema of that version (DSP0266 §8.9).
fn described_by(odata_type: &str) -> Option<String> {
    let t = odata_type.strip_prefix('#')?;
    let (namespace, _) = t.rsplit_once('.')?;
    Some(format!(
        "<http://redfish.dmtf.org/schemas/v1/{namespace}.json>; rel=describedby"
    ))
}

/// A JSON resource answer with its ETag, honouring `If-None-Match` (304).
#[must_use]
pub(crate) fn resource(headers: &HeaderMap, body: Value, allow: &'static str) -> Response {
    let etag = etag_of(&body);
    let link = body
        .get("@odata.type")
        .and_then(Value::as_str)
        .and_then(described_by)
        .and_then(|l| HeaderValue::from_str(&l).ok());
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        axum::Json(body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if let Some(link) = link {
        r.headers_mut().insert(header::LINK, link);
    }
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_nesting_outside_strings_only() {
        assert_eq!(nesting_depth(br#"{"a":{"b":[1,2]}}"#), 3);
        assert_eq!(nesting_depth(br#"{"a":"{{{{[[[["}"#), 1);
        assert_eq!(nesting_depth(br#"{"a":"\"{{"}"#), 1);
    }

    #[test]
    fn deep_and_large_bodies_are_refused_before_parsing() {
        let deep = Bytes::from(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
        assert_eq!(
            json_object(&deep).unwrap_err().message_key,
            "GeneralError",
            "too large first"
        );
        let deep = Bytes::from(format!("{{\"a\":{}1{}}}", "[".repeat(20), "]".repeat(20)));
        assert_eq!(json_object(&deep).unwrap_err().message_key, "MalformedJSON");
        assert!(json_object(&Bytes::from_static(b"[1]")).is_err());
        assert!(json_object(&Bytes::from_static(b"{\"a\":[{\"b\":1}]}")).is_ok());
    }

    #[test]
    fn described_by_names_the_versioned_json_schema() {
        assert_eq!(
            described_by("#ServiceRoot.v1_20_0.ServiceRoot").unwrap(),
            "<http://redfish.dmtf.org/schemas/v1/ServiceRoot.v1_20_0.json>; rel=describedby"
        );
        assert!(described_by("ServiceRoot").is_none());
    }

    #[test]
    fn if_match_accepts_current_and_star_refuses_others() {
        let mut h = HeaderMap::new();
        assert!(check_if_match(&h, "W/\"1\"").is_ok());
        h.insert(header::IF_MATCH, HeaderValue::from_static("W/\"1\""));
        assert!(check_if_match(&h, "W/\"1\"").is_ok());
        assert!(check_if_match(&h, "W/\"2\"").is_err());
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert!(check_if_match(&h, "W/\"2\"").is_ok());
    }
}
