//! Shaping answers: a resource with its version headers, an OperationOutcome, a Bundle.

use crate::negotiate::{FHIR_JSON, ResponseOptions, ReturnPreference};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;
use vigil_model::elements::SummaryMode;
use vigil_model::{Issue, IssueType, Severity};
use vigil_service::StoredVersion;

/// `W/"n"`.
pub(crate) fn etag(version_id: u64) -> String {
    format!("W/\"{version_id}\"")
}

pub(crate) use vigil_model::instant::http_date;

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A JSON body with the FHIR content type, pretty when asked.
pub(crate) fn json_response(status: StatusCode, body: &Value, pretty: bool) -> Response {
    let bytes = if pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    }
    .unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// The stored text of a resource, re-shaped only when the client asked for it. The plain
/// answer shares the stored (or cached) text: no copy.
pub(crate) fn resource_body(version: &StoredVersion, options: &ResponseOptions) -> Bytes {
    let reshape = options.pretty
        || options.summary.is_some_and(|s| s != SummaryMode::False)
        || options.elements.is_some();
    if !reshape {
        return Bytes::from_owner(SharedText(version.content.clone()));
    }
    let Ok(mut value) = serde_json::from_str::<Value>(&version.content) else {
        return Bytes::from_owner(SharedText(version.content.clone()));
    };
    if let Some(mode) = options.summary.filter(|s| *s != SummaryMode::False) {
        value = vigil_model::elements::summarize(&value, mode);
    } else if let Some(elements) = &options.elements {
        let names: Vec<&str> = elements.iter().map(String::as_str).collect();
        value = vigil_model::elements::select_elements(&value, &names);
    }
    if options.pretty {
        serde_json::to_vec_pretty(&value)
    } else {
        serde_json::to_vec(&value)
    }
    .unwrap_or_default()
    .into()
}

/// A resource's stored text as the owner of a response body.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The version headers of a resource: ETag, Last-Modified, and Location/Content-Location.
pub(crate) fn version_headers(
    headers: &mut HeaderMap,
    base: &str,
    version: &StoredVersion,
    location: bool,
) {
    headers.insert(header::ETAG, header(&etag(version.meta.version_id)));
    headers.insert(
        header::LAST_MODIFIED,
        header(&http_date(version.meta.last_updated_micros)),
    );
    if location {
        let url = format!(
            "{base}/{}/{}/_history/{}",
            version.resource_type, version.id, version.meta.version_id
        );
        headers.insert(header::LOCATION, header(&url));
        headers.insert(header::CONTENT_LOCATION, header(&url));
    }
}

/// A read answer: 200 with the resource and its version headers.
pub(crate) fn read_response(
    version: &StoredVersion,
    options: &ResponseOptions,
    base: &str,
) -> Response {
    let mut response = (StatusCode::OK, resource_body(version, options)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    version_headers(response.headers_mut(), base, version, false);
    response
}

/// A write answer honouring `Prefer: return=`.
pub(crate) fn write_response(
    status: StatusCode,
    version: &StoredVersion,
    options: &ResponseOptions,
    base: &str,
    message: &str,
    warnings: &[Issue],
) -> Response {
    let mut response = match options.prefer {
        ReturnPreference::Minimal => status.into_response(),
        ReturnPreference::OperationOutcome => {
            let mut issues = vec![Issue {
                severity: Severity::Information,
                code: IssueType::Informational,
                diagnostics: message.to_owned(),
                expression: Vec::new(),
            }];
            issues.extend(warnings.iter().cloned());
            json_response(
                status,
                &vigil_model::outcome::operation_outcome(&issues),
                options.pretty,
            )
        }
        ReturnPreference::Representation if version.meta.deleted => status.into_response(),
        ReturnPreference::Representation => {
            let mut response = (status, resource_body(version, options)).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
            response
        }
    };
    version_headers(response.headers_mut(), base, version, true);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(784_111_777_000_000),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
