//! One table from error category to HTTP status; every error leaves as an OperationOutcome.

use crate::negotiate::FHIR_JSON;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_model::{Issue, IssueType};
use vigil_service::{ServiceError, ServiceErrorKind};

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    issues: Vec<Issue>,
}

impl ApiError {
    /// An error with a status and one issue.
    pub fn new(status: StatusCode, code: IssueType, diagnostics: impl Into<String>) -> Self {
        ApiError {
            status,
            issues: vec![Issue::error(code, diagnostics)],
        }
    }
    /// 400 with an issue at an element or parameter.
    pub fn bad_request(diagnostics: impl Into<String>, expression: &str) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            issues: vec![Issue::error(IssueType::Invalid, diagnostics).at(expression)],
        }
    }
    /// A limit "too large to serve well" (413 or 422) with a `too-costly` issue at `expression`.
    pub fn too_costly(
        status: StatusCode,
        diagnostics: impl Into<String>,
        expression: &str,
    ) -> Self {
        ApiError {
            status,
            issues: vec![Issue::error(IssueType::TooCostly, diagnostics).at(expression)],
        }
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The HTTP status for each service error category (the table lives with the categories, in
/// `ServiceErrorKind::http_status`, so Bundle entry statuses use it too).
pub fn status_for(kind: ServiceErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let status = status_for(error.kind());
        if status.is_server_error() {
            tracing::error!(error = %error, "request failed");
        }
        ApiError {
            status,
            issues: error.issues().to_vec(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let outcome = vigil_model::outcome::operation_outcome(&self.issues);
        let body = serde_json::to_vec(&outcome).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        response
    }
}
