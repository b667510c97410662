//! `GET /metadata`: the CapabilityStatement.

use crate::negotiate::response_options;
use crate::request::base_url;
use crate::response::json_response;
use crate::{ApiError, AppState};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

pub(crate) async fn capabilities(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let options = response_options(&super::params(query), &headers)?;
    let statement = state
        .service
        .capability_statement(&base_url(&state, &headers));
    Ok(json_response(StatusCode::OK, &statement, options.pretty))
}
