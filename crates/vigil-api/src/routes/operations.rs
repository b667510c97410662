//! Operations: Bulk Data `$export` (kick-off, status, cancel, files) and
//! `Patient/[id]/$everything`.
//!
//! | route | answer |
//! |---|---|
//! | `GET /$export`, `GET /Patient/$export`, `GET /Group/[id]/$export` | 202, `Content-Location: {base}/_export/{job}`; 400 without `Prefer: respond-async` |
//! | `GET /_export/{job}` | 202 with `X-Progress` and `Retry-After` while running; 200 with the manifest (`application/json`) when done; 404 unknown or cancelled; 500 failed |
//! | `DELETE /_export/{job}` | 202; the job is cancelled and its files removed |
//! | `GET /_export/{job}/{file}` | the NDJSON file, `application/fhir+ndjson`, streamed in 64 KiB chunks (bounded memory) |
//! | `GET /Patient/[id]/$everything` | a `searchset` Bundle |

use super::{FhirPath, blocking, params};
use crate::negotiate::response_options;
use crate::request::Context;
use crate::response::json_response;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::channel::{Channel, Sender};
use tokio::io::AsyncReadExt;
use vigil_bulk::export;
use vigil_bulk::{ExportLevel, ExportStatus};
use vigil_service::{RequestContext, ServiceError};

/// The media type of export files.
pub const NDJSON: &str = "application/fhir+ndjson";

/// Seconds a client should wait before polling again.
const RETRY_AFTER_SECONDS: &str = "2";

pub(crate) async fn export_system(
    State(state): State<AppState>,
    Context(context): Context,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    kickoff(state, context, ExportLevel::System, uri, query, headers).await
}

pub(crate) async fn export_patients(
    State(state): State<AppState>,
    Context(context): Context,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    kickoff(state, context, ExportLevel::Patient, uri, query, headers).await
}

pub(crate) async fn export_group(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(id): FhirPath<String>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    kickoff(state, context, ExportLevel::Group(id), uri, query, headers).await
}

/// The `Prefer` header's parts (`respond-async`, `handling=lenient`, ...).
fn prefers(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|part| part.trim().eq_ignore_ascii_case(wanted))
}

async fn kickoff(
    state: AppState,
    context: RequestContext,
    level: ExportLevel,
    uri: axum::http::Uri,
    query: Option<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !prefers(&headers, "respond-async") {
        return Err(ApiError::bad_request(
            "$export runs asynchronously: send the header 'Prefer: respond-async'",
            "Prefer",
        ));
    }
    let lenient = prefers(&headers, "handling=lenient");
    let request_url = format!(
        "{}{}",
        context.base_url,
        uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
    );
    let pairs = params(query);
    let service = state.service.clone();
    let exports = state.exports.clone();
    let accepted = blocking(move || {
        export::kickoff(
            &service,
            &exports,
            &context,
            level,
            &request_url,
            &pairs,
            lenient,
        )
    })
    .await?;
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(location) = HeaderValue::from_str(&accepted.status_url) {
        response
            .headers_mut()
            .insert(header::CONTENT_LOCATION, location);
    }
    Ok(response)
}

pub(crate) async fn export_status(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(job_id): FhirPath<String>,
) -> Result<Response, ApiError> {
    let service = state.service.clone();
    let status = blocking(move || export::status(&service, &context, &job_id)).await?;
    Ok(match status {
        ExportStatus::InProgress { progress } => {
            let mut response = StatusCode::ACCEPTED.into_response();
            let headers = response.headers_mut();
            // X-Progress is free text; characters a header cannot carry are dropped.
            let progress: String = progress
                .chars()
                .filter(|c| c.is_ascii() && !c.is_ascii_control())
                .collect();
            if let Ok(value) = HeaderValue::from_str(&progress) {
                headers.insert("x-progress", value);
            }
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            response
        }
        ExportStatus::Completed { manifest } => {
            let mut response = json_response(StatusCode::OK, &manifest, false);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    })
}

pub(crate) async fn export_cancel(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(job_id): FhirPath<String>,
) -> Result<Response, ApiError> {
    let service = state.service.clone();
    blocking(move || export::cancel(&service, &context, &job_id)).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Bytes read from an export file per body frame.
const FILE_CHUNK_BYTES: usize = 64 * 1024;

/// Frames buffered between the file reader and the connection: memory per download is bounded
/// by `(FILE_BUFFERED_CHUNKS + 1) * FILE_CHUNK_BYTES`, whatever the file's size.
const FILE_BUFFERED_CHUNKS: usize = 2;

pub(crate) async fn export_file(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath((job_id, file)): FhirPath<(String, String)>,
) -> Result<Response, ApiError> {
    let service = state.service.clone();
    let path = blocking(move || export::file(&service, &context, &job_id, &file)).await?;
    let unreadable = |error: std::io::Error| {
        ApiError::from(ServiceError::internal(format!(
            "cannot read export file {}: {error}",
            path.display()
        )))
    };
    let file = tokio::fs::File::open(&path).await.map_err(unreadable)?;
    let length = file.metadata().await.map_err(unreadable)?.len();
    let (sender, body) = Channel::<Bytes, std::io::Error>::new(FILE_BUFFERED_CHUNKS);
    tokio::spawn(stream_file(file, sender));
    let mut response = (StatusCode::OK, Body::new(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok(response)
}

/// Copies a file into a response body chunk by chunk; stops when the client goes away, and
/// aborts the body (the connection is reset rather than the file silently cut) on a read error.
async fn stream_file(mut file: tokio::fs::File, mut sender: Sender<Bytes, std::io::Error>) {
    let mut buffer = BytesMut::new();
    loop {
        buffer.reserve(FILE_CHUNK_BYTES);
        match file.read_buf(&mut buffer).await {
            Ok(0) => return,
            Ok(_) => {
                if sender.send_data(buffer.split().freeze()).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::error!(%error, "export file read failed while streaming");
                sender.abort(error);
                return;
            }
        }
    }
}

pub(crate) async fn everything(
    State(state): State<AppState>,
    Context(context): Context,
    FhirPath(id): FhirPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pairs = params(query);
    let options = response_options(&pairs, &headers)?;
    let service = state.service.clone();
    let bundle = blocking(move || service.everything(&context, &id, &pairs)).await?;
    Ok(json_response(StatusCode::OK, &bundle, options.pretty))
}
