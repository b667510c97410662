//! `Binary` per binary.html: the resource is also its content.
//!
//! - **Read** (`GET /Binary/[id]`, also vread): unless the request names a FHIR format (`_format`,
//!   or an `Accept` listing `application/fhir+json`, `application/json+fhir` or a FHIR XML
//!   type), the answer is the decoded `Binary.data` with `Content-Type` = `Binary.contentType`
//!   and `X-Security-Context` = `Binary.securityContext.reference`. An `Accept` that neither
//!   matches the content type (wildcards included) nor allows JSON is 406; one that allows
//!   plain JSON but not the content type gets the resource.
//! - **Create and update** (`POST /Binary`, `PUT /Binary/[id]`): a body of any `Content-Type`
//!   other than FHIR JSON becomes `Binary.data` (base64) with `Binary.contentType` = that type;
//!   the `X-Security-Context` header, when sent, becomes `Binary.securityContext`. A body sent
//!   as `application/json` is taken as the resource when it is a JSON object whose
//!   `resourceType` is `Binary`, and as content otherwise. FHIR JSON bodies work as for any type.

use crate::ApiError;
use crate::negotiate::check_content_type;
use crate::request::parse_json;
use crate::response::version_headers;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use vigil_model::IssueType;
use vigil_service::StoredVersion;

/// The request header carrying `Binary.securityContext` (a reference).
const SECURITY_CONTEXT: &str = "x-security-context";

/// Media types that ask for the FHIR resource form.
const FHIR_TYPES: &[&str] = &[
    "application/fhir+json",
    "application/json+fhir",
    "application/fhir+xml",
    "application/xml+fhir",
];

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn accepted(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(media_type)
        .filter(|m| !m.is_empty())
        .collect()
}

/// Whether a Binary read may answer with the native content: no `_format`, and no FHIR type in
/// `Accept`.
pub(crate) fn native_requested(params: &[(String, String)], headers: &HeaderMap) -> bool {
    !params.iter().any(|(name, _)| name == "_format")
        && !accepted(headers)
            .iter()
            .any(|m| FHIR_TYPES.contains(&m.as_str()))
}

/// The native answer to a Binary read, or `None` when the resource form should be served
/// instead (the client accepts JSON but not the content type).
pub(crate) fn native_response(
    version: &StoredVersion,
    headers: &HeaderMap,
    base: &str,
) -> Result<Option<Response>, ApiError> {
    let binary: Map<String, Value> = serde_json::from_str(&version.content).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            IssueType::Exception,
            format!("stored Binary unreadable: {error}"),
        )
    })?;
    let content_type = binary
        .get("contentType")
        .and_then(Value::as_str)
        .unwrap_or("application/octet-stream");
    let accept = accepted(headers);
    if !accept.is_empty() && !accept.iter().any(|m| matches_type(m, content_type)) {
        let json_ok = accept
            .iter()
            .any(|m| matches!(m.as_str(), "application/json" | "text/json" | "json"));
        return if json_ok {
            Ok(None)
        } else {
            Err(ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                IssueType::NotSupported,
                format!(
                    "this Binary is '{content_type}' (or its FHIR form, application/fhir+json); the Accept header allows neither"
                ),
            ))
        };
    }
    let data = match binary.get("data").and_then(Value::as_str) {
        Some(data) => STANDARD.decode(data).map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                IssueType::Exception,
                format!("stored Binary.data is not base64: {error}"),
            )
        })?,
        None => Vec::new(),
    };
    let mut response = (StatusCode::OK, data).into_response();
    let out = response.headers_mut();
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    out.insert(header::CONTENT_TYPE, content_type);
    if let Some(reference) = binary
        .get("securityContext")
        .and_then(|c| c.get("reference"))
        .and_then(Value::as_str)
        .and_then(|r| HeaderValue::from_str(r).ok())
    {
        out.insert(SECURITY_CONTEXT, reference);
    }
    version_headers(out, base, version, false);
    Ok(Some(response))
}

/// `Accept` entry `accepted` allows `content_type` (`*/*`, `image/*`, or equal).
fn matches_type(accepted: &str, content_type: &str) -> bool {
    let content_type = media_type(content_type);
    accepted == "*/*"
        || accepted == content_type
        || accepted
            .strip_suffix("/*")
            .is_some_and(|major| content_type.split('/').next() == Some(major))
}

/// The resource a create or update sends: for `Binary`, raw content is wrapped (see the
/// module documentation); otherwise the body must be FHIR JSON.
pub(crate) fn request_resource(
    resource_type: &str,
    id: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    if resource_type == "Binary"
        && let Some(resource) = raw_binary(id, headers, body)?
    {
        return Ok(resource);
    }
    check_content_type(headers)?;
    parse_json(body)
}

fn raw_binary(
    id: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<Value>, ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let content_type = content_type.to_str().map_err(|_| {
        ApiError::bad_request("the Content-Type header is not text", "Content-Type")
    })?;
    let media = media_type(content_type);
    if FHIR_TYPES.contains(&media.as_str()) {
        return Ok(None);
    }
    if matches!(media.as_str(), "application/json" | "json" | "text/json")
        && is_binary_resource(body)
    {
        return Ok(None);
    }
    let mut resource = json!({
        "resourceType": "Binary",
        "contentType": content_type.trim(),
    });
    if !body.is_empty() {
        resource["data"] = json!(STANDARD.encode(body));
    }
    if let Some(id) = id {
        resource["id"] = json!(id);
    }
    if let Some(context) = headers.get(SECURITY_CONTEXT) {
        let reference = context.to_str().map(str::trim).unwrap_or("");
        if reference.is_empty() {
            return Err(ApiError::bad_request(
                "X-Security-Context must be a reference such as Patient/123",
                "X-Security-Context",
            ));
        }
        resource["securityContext"] = json!({"reference": reference});
    }
    Ok(Some(resource))
}

fn is_binary_resource(body: &[u8]) -> bool {
    serde_json::from_slice::<Map<String, Value>>(body)
        .is_ok_and(|object| object.get("resourceType").and_then(Value::as_str) == Some("Binary"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn native_or_resource_form() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(Pairs, Pairs, bool)] = &[
            (&[], &[], true),
            (&[], &[("accept", "*/*")], true),
            (&[], &[("accept", "application/pdf")], true),
            (&[], &[("accept", "application/fhir+json")], false),
            (
                &[],
                &[("accept", "application/pdf, application/fhir+json;q=0.5")],
                false,
            ),
            (
                &[("_format", "json")],
                &[("accept", "application/pdf")],
                false,
            ),
        ];
        for (params, accept, native) in cases {
            let params: Vec<(String, String)> = params
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(
                native_requested(&params, &headers(accept)),
                *native,
                "{params:?} {accept:?}"
            );
        }
    }

    #[test]
    fn accept_matching() {
        assert!(matches_type("*/*", "application/pdf"));
        assert!(matches_type("image/*", "image/png"));
        assert!(matches_type("text/plain", "text/plain; charset=utf-8"));
        assert!(!matches_type("image/*", "application/pdf"));
        assert!(!matches_type("text/html", "text/plain"));
    }

    #[test]
    fn raw_bodies_become_binaries() {
        let h = headers(&[
            ("content-type", "application/pdf"),
            ("x-security-context", "Patient/7"),
        ]);
        let resource = request_resource("Binary", Some("b1"), &h, b"%PDF-1.4").unwrap();
        assert_eq!(
            resource,
            json!({"resourceType": "Binary", "id": "b1", "contentType": "application/pdf",
                   "data": STANDARD.encode(b"%PDF-1.4"), "securityContext": {"reference": "Patient/7"}})
        );
        // Plain JSON content that is not a Binary resource is content.
        let h = headers(&[("content-type", "application/json")]);
        let resource = request_resource("Binary", None, &h, br#"{"a": 1}"#).unwrap();
        assert_eq!(resource["contentType"], "application/json");
        // A Binary resource as JSON is the resource.
        let body = br#"{"resourceType": "Binary", "contentType": "text/plain"}"#;
        let resource = request_resource("Binary", None, &h, body).unwrap();
        assert!(resource.get("data").is_none());
        // Other types still need FHIR JSON.
        let h = headers(&[("content-type", "text/plain")]);
        assert_eq!(
            request_resource("Patient", None, &h, b"x")
                .unwrap_err()
                .status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
