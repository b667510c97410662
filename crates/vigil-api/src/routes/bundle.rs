//! `POST /`: a Bundle of type `transaction` or `batch`.

use super::{blocking, params};
use crate::negotiate::{ReturnPreference, check_content_type, response_options};
use crate::request::{Context, parse_json, read_body};
use crate::response::json_response;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use vigil_service::BundleReturn;

pub(crate) async fn process(
    State(state): State<AppState>,
    Context(context): Context,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let options = response_options(&params(query), &headers)?;
    check_content_type(&headers)?;
    let bundle = parse_json(&read_body(&state, &headers, body).await?)?;
    let returns = match options.prefer {
        ReturnPreference::Representation if headers.contains_key("prefer") => {
            BundleReturn::Representation
        }
        _ => BundleReturn::Minimal,
    };
    let service = state.service.clone();
    let response = blocking(move || service.process_bundle(&context, bundle, returns)).await?;
    Ok(json_response(StatusCode::OK, &response, options.pretty))
}
