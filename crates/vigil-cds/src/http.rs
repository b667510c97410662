//! The HTTP side of CDS, as an axum [`Router`] the binary merges beside the FHIR API:
//!
//! - `GET /websocket`: the R4 Subscription websocket channel;
//! - `GET /cds-services`: CDS Hooks discovery;
//! - `POST /cds-services/{id}`: a hook request (JSON), answered with cards;
//! - `POST /cds-services/{id}/feedback`: CDS Hooks feedback.
//!
//! Errors are `{"error": "..."}` with 400 (bad request), 404 (unknown service) or 500.
//!
//! With authentication on, the binary serves these routes behind `vigil_api::protect`: a hook
//! runs with the caller's rights (its prefetch fetches and stored feedback go through the door
//! as the caller), and an unauthenticated request is 401.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Value, json};
use vigil_service::{FhirService, RequestContext, ServiceError, TokenContexts};

use crate::hooks;
use crate::news2_feed::CDS_SYSTEM;
use crate::subscriptions::websocket::{WebsocketHub, WebsocketState, upgrade};

#[derive(Clone)]
struct HooksState {
    service: FhirService,
    base_url: String,
}

/// The CDS routes.
pub fn router(service: FhirService, hub: WebsocketHub, base_url: &str) -> Router {
    let websocket = Router::new()
        .route("/websocket", get(upgrade))
        .with_state(WebsocketState {
            service: service.clone(),
            hub,
            base_url: base_url.to_owned(),
        });
    let hooks = Router::new()
        .route("/cds-services", get(discovery))
        .route("/cds-services/{id}", post(call))
        .route("/cds-services/{id}/feedback", post(feedback))
        .with_state(HooksState {
            service,
            base_url: base_url.to_owned(),
        });
    websocket.merge(hooks)
}

async fn discovery() -> Response {
    json_response(StatusCode::OK, hooks::discovery())
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn service_error(failure: &ServiceError) -> Response {
    let status = StatusCode::from_u16(failure.kind().http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = failure
        .issues()
        .first()
        .map_or_else(|| failure.to_string(), |i| i.diagnostics.clone());
    error(status, &message)
}

/// The body as a JSON object, or why not (answered 400).
fn parse_body(body: &Bytes) -> Result<Value, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("the body must be a JSON object".to_owned())
    }
}

/// The caller's context: the authenticated caller's (`vigil_api::protect` puts it in the
/// request when authentication is on), else the CDS system principal (development mode).
fn caller(state: &HooksState, caller: Option<Extension<RequestContext>>) -> RequestContext {
    match caller {
        Some(Extension(context)) => context,
        None => RequestContext::system(CDS_SYSTEM, &state.base_url),
    }
}

/// Whose rights the service's own reads run with (CDS Hooks 2.0 `fhirServer` and
/// `fhirAuthorization`):
/// - `fhirServer` other than this server: 412. Vigil reads only from itself, and the services
///   read beyond the prefetch (Medication references, the results of orders), so another
///   server's ids must not be looked up here.
/// - `fhirAuthorization` (needs `fhirServer`, 400 without): with authentication on, its
///   `access_token` is checked like any bearer token and the reads run with its rights (a
///   token that is not valid here is 412); in development mode (no authentication) it is
///   ignored.
/// - Neither: the caller's own rights.
fn data_context(
    state: &HooksState,
    caller: RequestContext,
    tokens: Option<TokenContexts>,
    request: &Value,
) -> Result<RequestContext, (StatusCode, String)> {
    let server = match request.get("fhirServer") {
        None | Some(Value::Null) => None,
        Some(Value::String(server)) => Some(server.trim_end_matches('/')),
        Some(_) => return Err((StatusCode::BAD_REQUEST, "fhirServer must be a URL".into())),
    };
    let authorization = match request.get("fhirAuthorization") {
        None | Some(Value::Null) => None,
        Some(given) => match given.get("access_token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => Some(token),
            _ => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "fhirAuthorization must carry an access_token".into(),
                ));
            }
        },
    };
    if authorization.is_some() && server.is_none() {
        return Err((
            StatusCode::BAD_REQUEST,
            "fhirAuthorization needs fhirServer".into(),
        ));
    }
    if let Some(server) = server
        && server != state.base_url.trim_end_matches('/')
    {
        // Even with every prefetch key given, the services read beyond it (Medication
        // references, results of the orders): ids of another server must never be looked up
        // in this one.
        return Err((
            StatusCode::PRECONDITION_FAILED,
            format!(
                "fhirServer {server} is not this server ({}): Vigil's CDS services read only \
                 from Vigil",
                state.base_url
            ),
        ));
    }
    match (authorization, tokens) {
        (Some(token), Some(tokens)) => tokens.context(token).map_err(|reason| {
            (
                StatusCode::PRECONDITION_FAILED,
                format!("fhirAuthorization: {reason}"),
            )
        }),
        _ => Ok(caller),
    }
}

async fn call(
    State(state): State<HooksState>,
    Path(id): Path<String>,
    who: Option<Extension<RequestContext>>,
    tokens: Option<Extension<TokenContexts>>,
    body: Bytes,
) -> Response {
    let Some(definition) = hooks::services().into_iter().find(|s| s.id == id) else {
        return error(StatusCode::NOT_FOUND, &format!("no CDS service {id}"));
    };
    let request = match parse_body(&body) {
        Ok(request) => request,
        Err(problem) => return error(StatusCode::BAD_REQUEST, &problem),
    };
    let hook = request["hook"].as_str().unwrap_or_default();
    let accepted = match definition.hook {
        "order-sign" | "order-select" => matches!(hook, "order-sign" | "order-select"),
        other => hook == other,
    };
    if !accepted {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "service {id} answers the {} hook, not {hook:?}",
                definition.hook
            ),
        );
    }
    if request["hookInstance"].as_str().is_none() {
        return error(StatusCode::BAD_REQUEST, "hookInstance is required");
    }
    let context = caller(&state, who);
    let tokens = tokens.map(|Extension(tokens)| tokens);
    let context = match data_context(&state, context, tokens, &request) {
        Ok(context) => context,
        Err((status, problem)) => return error(status, &problem),
    };
    let answered = tokio::task::spawn_blocking(move || match definition.hook {
        "patient-view" => {
            hooks::patient_view::answer(&state.service, &context, &definition, &request)
        }
        _ => hooks::order::answer(&state.service, &context, &definition, &request),
    })
    .await;
    match answered {
        Ok(Ok(cards)) => json_response(StatusCode::OK, cards),
        Ok(Err(failure)) => service_error(&failure),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the CDS service failed"),
    }
}

async fn feedback(
    State(state): State<HooksState>,
    Path(id): Path<String>,
    who: Option<Extension<RequestContext>>,
    body: Bytes,
) -> Response {
    if !hooks::services().iter().any(|s| s.id == id) {
        return error(StatusCode::NOT_FOUND, &format!("no CDS service {id}"));
    }
    let request = match parse_body(&body) {
        Ok(request) => request,
        Err(problem) => return error(StatusCode::BAD_REQUEST, &problem),
    };
    let context = caller(&state, who);
    let stored = tokio::task::spawn_blocking(move || {
        hooks::feedback::store(&state.service, &context, &id, &request)
    })
    .await;
    match stored {
        Ok(Ok(_)) => StatusCode::OK.into_response(),
        Ok(Err(failure)) => service_error(&failure),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storing the feedback failed",
        ),
    }
}
