//! System-level interactions: `GET /_history`.

use super::{blocking, params};
use crate::negotiate::response_options;
use crate::request::{Context, param};
use crate::response::json_response;
use crate::{ApiError, AppState};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use vigil_service::{HistoryParams, HistoryScope, RequestContext};

pub(crate) async fn history(
    State(state): State<AppState>,
    Context(context): Context,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    history_response(state, context, HistoryScope::System, params(query), headers).await
}

/// A history Bundle for any scope.
pub(crate) async fn history_response(
    state: AppState,
    context: RequestContext,
    scope: HistoryScope,
    params: Vec<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let options = response_options(&params, &headers)?;
    let history = HistoryParams {
        count: param(&params, "_count").map(str::to_owned),
        since: param(&params, "_since").map(str::to_owned),
        at: param(&params, "_at").map(str::to_owned),
        page: param(&params, "_page").map(str::to_owned),
    };
    let service = state.service.clone();
    let bundle = blocking(move || service.history(&context, scope, &history)).await?;
    Ok(json_response(StatusCode::OK, &bundle, options.pretty))
}
