//! Redfish error bodies (DSP0266 §9.6 "Error responses"): an `error` object with a code,
//! a message and `@Message.ExtendedInfo` entries whose `MessageId` comes from DMTF's Base
//! message registry.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The Base registry version the message ids name.
pub const BASE_REGISTRY: &str = "Base.1.16.0";

/// One error answer: HTTP status, Base registry message, words for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedfishError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message key in the Base registry (`PropertyUnknown`).
    pub message_key: &'static str,
    /// What went wrong, naming the property or URI.
    pub message: String,
    /// What the client can do about it.
    pub resolution: &'static str,
    /// Properties the message is about (`#/iSCSIBoot/PrimaryLUN`).
    pub related: Vec<String>,
}

impl RedfishError {
    /// An error with `status`, Base registry `message_key`, `message` and `resolution`.
    #[must_use]
    pub fn new(
        status: StatusCode,
        message_key: &'static str,
        message: impl Into<String>,
        resolution: &'static str,
    ) -> Self {
        Self {
            status,
            message_key,
            message: message.into(),
            resolution,
            related: Vec::new(),
        }
    }

    /// Names the property (a JSON pointer) the error is about.
    #[must_use]
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.related.push(pointer.into());
        self
    }

    /// 404 for a URI this service does not have.
    #[must_use]
    pub fn missing(uri: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceMissingAtURI",
            format!("The resource at the URI {uri} was not found."),
            "Place a valid resource at the URI or correct the URI and resubmit the request.",
        )
    }

    /// 401: no valid session and no valid Basic credentials.
    #[must_use]
    pub fn no_session() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "NoValidSession",
            "There is no valid session established with the implementation.",
            "Establish a session before attempting any operations.",
        )
    }

    /// 405 for a method the resource does not allow.
    #[must_use]
    pub fn method(uri: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "ActionNotSupported",
            format!("The method is not supported by the resource at {uri}."),
            "Use a method listed in the Allow header of the resource.",
        )
    }

    /// 400 for a property the resource does not have (or that cannot be written).
    #[must_use]
    pub fn unknown_property(pointer: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PropertyUnknown",
            format!("The property {pointer} is not in the list of valid properties for the resource."),
            "Remove the unknown property from the request body and resubmit the request if the operation failed.",
        )
        .at(pointer)
    }

    /// 400 for a property that exists but is read-only.
    #[must_use]
    pub fn not_writable(pointer: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PropertyNotWritable",
            format!("The property {pointer} is a read only property and cannot be assigned a value."),
            "Remove the property from the request body and resubmit the request if the operation failed.",
        )
        .at(pointer)
    }

    /// 400 for a value of the wrong JSON type.
    #[must_use]
    pub fn type_error(pointer: &str, expected: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PropertyValueTypeError",
            format!("The value for the property {pointer} is of a different type than the property can accept ({expected})."),
            "Correct the value for the property in the request body and resubmit the request if the operation failed.",
        )
        .at(pointer)
    }

    /// 400 for a value of the right type in the wrong format (names the rule broken).
    #[must_use]
    pub fn format_error(pointer: &str, why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PropertyValueFormatError",
            format!("The value for the property {pointer} is of a different format than the property can accept: {why}."),
            "Correct the value for the property in the request body and resubmit the request if the operation failed.",
        )
        .at(pointer)
    }

    /// 400 for an enumeration value outside the allowed list.
    #[must_use]
    pub fn not_in_list(pointer: &str, value: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PropertyValueNotInList",
            format!("The value {value} for the property {pointer} is not in the list of acceptable values."),
            "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
        )
        .at(pointer)
    }

    /// 400 for a body that is not JSON (or too deep, or not an object).
    #[must_use]
    pub fn malformed(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MalformedJSON",
            format!(
                "The request body submitted was malformed JSON and could not be parsed by the receiving service: {why}."
            ),
            "Ensure that the request body is valid JSON and resubmit the request.",
        )
    }

    /// 413 for a body larger than the service accepts.
    #[must_use]
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "GeneralError",
            format!("The request body is larger than the {limit} bytes this service accepts."),
            "Send a smaller request body.",
        )
    }

    /// 412 for an `If-Match` that does not name the resource's current ETag.
    #[must_use]
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The ETag supplied did not match the ETag required to change this resource.",
            "Try the operation again using the appropriate ETag.",
        )
    }

    /// 500 when the emulated BMC behind the service did not answer.
    #[must_use]
    pub fn internal(why: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("The request failed due to an internal service error: {why}."),
            "Resubmit the request. If the problem persists, consider resetting the service.",
        )
    }

    /// The `error` body.
    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        let id = format!("{BASE_REGISTRY}.{}", self.message_key);
        let related: Vec<_> = self.related.iter().map(|p| json!(p)).collect();
        json!({
            "error": {
                "code": id,
                "message": self.message,
                "@Message.ExtendedInfo": [{
                    "@odata.type": "#Message.v1_1_1.Message",
                    "MessageId": id,
                    "Message": self.message,
                    "RelatedProperties": related,
                    "Severity": "Warning",
                    "MessageSeverity": "Warning",
                    "Resolution": self.resolution,
                }]
            }
        })
    }
}

impl IntoResponse for RedfishError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"imm-sim\""),
            );
        }
        r
    }
}
