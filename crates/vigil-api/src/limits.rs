//! Request limits checked at the HTTP edge, before authentication and routing reach a
//! handler, each refusal an OperationOutcome (hyper's own answers to what it cannot parse
//! are dressed as OperationOutcomes by the `vigil` binary's connection layer):
//!
//! - a request target longer than [`HttpLimits::max_uri_bytes`]: 414, issue `too-long`;
//! - a `Content-Length` above [`HttpLimits::max_body_bytes`]: 413, issue `too-long`, before a
//!   byte of the body is read;
//! - a `Transfer-Encoding` naming any coding but `chunked` (hyper itself answers 400 when
//!   `chunked` is not the last one, as RFC 9112 §6.3 requires): 501, issue `not-supported`;
//! - a `Content-Encoding` other than `gzip` (or `x-gzip`) and `identity`: 415, issue
//!   `not-supported`;
//! - a `gzip` body is decoded here, with [`HttpLimits::max_body_bytes`] applied to the
//!   compressed bytes received and to the decoded bytes (a gzip bomb is refused with 413 once
//!   the decoded size passes the limit, having allocated at most the limit); the handler sees
//!   the decoded body, without `Content-Encoding`; a body that is not valid gzip: 400;
//! - a body that stalls, no byte arriving for [`HttpLimits::body_timeout`]: 408, issue
//!   `timeout`, and the connection is closed (`Connection: close`), whatever the route.
//!
//! Requests without a body (reads, searches) pay three header look-ups and no allocation.

use crate::ApiError;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;
use vigil_model::IssueType;

/// The limits of [`limit`].
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Longest request target (path and query, as sent) in bytes; 414 beyond.
    pub max_uri_bytes: usize,
    /// Largest request body in bytes, received and (for `gzip`) decoded; 413 beyond.
    pub max_body_bytes: usize,
    /// Longest wait for the next piece of a request body; 408 and close beyond.
    pub body_timeout: Duration,
}

/// The default longest request target: 8 KiB.
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;
/// The default body stall timeout: 30 seconds.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_uri_bytes: DEFAULT_MAX_URI_BYTES,
            max_body_bytes: crate::ApiConfig::default().max_body_bytes,
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// `router` with the limits of this module on every route (its fallback included).
pub fn limit(router: Router, limits: HttpLimits) -> Router {
    router.layer(LimitLayer(limits))
}

/// The layer of [`limit`]: a plain tower service rather than `middleware::from_fn`, so a
/// request without a body (reads, searches) is checked without an allocation.
#[derive(Clone, Copy)]
struct LimitLayer(HttpLimits);

impl<S> tower::Layer<S> for LimitLayer {
    type Service = Limit<S>;

    fn layer(&self, inner: S) -> Limit<S> {
        Limit {
            inner,
            limits: self.0,
        }
    }
}

#[derive(Clone)]
struct Limit<S> {
    inner: S,
    limits: HttpLimits,
}

impl<S> tower::Service<Request> for Limit<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match check(&request, &self.limits) {
            Checked::Refused(refusal) => LimitFuture::Refused(Some(refusal)),
            Checked::NoBody => LimitFuture::Passed(self.inner.call(request)),
            Checked::Body { gzip } => {
                // The ready service goes with the request; a clone stays for the next one.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                LimitFuture::Body(Box::pin(with_body(inner, request, self.limits, gzip)))
            }
        }
    }
}

/// The answer of [`Limit`]: a refusal, the inner service's answer, or the answer to a
/// request with a body (timed, maybe decoded).
enum LimitFuture<F> {
    Refused(Option<Response>),
    Passed(F),
    Body(Pin<Box<dyn Future<Output = Response> + Send>>),
}

impl<F> Future for LimitFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            LimitFuture::Refused(refusal) => Poll::Ready(Ok(refusal
                .take()
                .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()))),
            LimitFuture::Passed(inner) => Pin::new(inner).poll(cx),
            LimitFuture::Body(future) => future.as_mut().poll(cx).map(Ok),
        }
    }
}

/// What the checks on a request head decided.
enum Checked {
    /// This answer, without calling the handler.
    Refused(Response),
    /// The handler, as is.
    NoBody,
    /// The handler, with the body timed and, for `gzip`, decoded.
    Body { gzip: bool },
}

/// The checks made on the request head.
fn check(request: &Request, limits: &HttpLimits) -> Checked {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len())
        + request.uri().authority().map_or(0, |a| a.as_str().len());
    if target > limits.max_uri_bytes {
        return Checked::Refused(ApiError::new(
            StatusCode::URI_TOO_LONG,
            IssueType::TooLong,
            format!(
                "the request URI is longer than the limit of {} bytes (send long searches as POST _search)",
                limits.max_uri_bytes
            ),
        )
        .into_response());
    }
    let headers = request.headers();
    if let Some(coding) = unknown_transfer_coding(headers) {
        return Checked::Refused(close(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            IssueType::NotSupported,
            format!("the transfer coding '{coding}' is not supported (only chunked is)"),
        )));
    }
    let gzip = match content_coding(headers) {
        Ok(gzip) => gzip,
        Err(coding) => {
            return Checked::Refused(
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    IssueType::NotSupported,
                    format!(
                        "the content coding '{coding}' is not supported (gzip and identity are)"
                    ),
                )
                .into_response(),
            );
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Checked::Refused(close(too_large(limits.max_body_bytes)));
    }
    let has_body = declared.is_some_and(|length| length > 0)
        || headers.contains_key(header::TRANSFER_ENCODING);
    if has_body {
        Checked::Body { gzip }
    } else {
        Checked::NoBody
    }
}

/// Answers a request with a body: the body timed (408 when it stalls, whatever the handler
/// made of the error) and, for `gzip`, received and decoded first.
async fn with_body<S>(inner: S, request: Request, limits: HttpLimits, gzip: bool) -> Response
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    let stalled = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = request.into_parts();
    let body = TimedBody::new(body, limits.body_timeout, stalled.clone());
    let body = if gzip {
        match gunzip(body, limits, &stalled).await {
            Ok(decoded) => {
                parts.headers.remove(header::CONTENT_ENCODING);
                parts.headers.remove(header::TRANSFER_ENCODING);
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(decoded.len()));
                Body::from(decoded)
            }
            Err(refusal) => return refusal,
        }
    } else {
        Body::new(body)
    };
    let Ok(response) = inner.oneshot(Request::from_parts(parts, body)).await;
    if stalled.load(Ordering::Relaxed) {
        return timed_out(limits.body_timeout);
    }
    response
}

/// The first transfer coding other than `chunked`, if any.
fn unknown_transfer_coding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .find(|coding| !coding.eq_ignore_ascii_case("chunked"))
        .map(|coding| coding.chars().take(64).collect())
}

/// Whether the body is gzip-encoded (`Ok(true)`), not encoded (`Ok(false)`), or encoded in a
/// way not supported (`Err(coding)`). One `gzip` coding is supported, not a stack of them.
fn content_coding(headers: &HeaderMap) -> Result<bool, String> {
    let mut gzip = false;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        for coding in value.to_str().unwrap_or("?").split(',').map(str::trim) {
            if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
                continue;
            }
            let is_gzip =
                coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip");
            if !is_gzip || gzip {
                return Err(coding.chars().take(64).collect());
            }
            gzip = true;
        }
    }
    Ok(gzip)
}

/// Receives a gzip body (at most `max` bytes) and decodes it (at most `max` bytes).
async fn gunzip(
    body: TimedBody,
    limits: HttpLimits,
    stalled: &AtomicBool,
) -> Result<Vec<u8>, Response> {
    let max = limits.max_body_bytes;
    let compressed = match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) if stalled.load(Ordering::Relaxed) => {
            return Err(timed_out(limits.body_timeout));
        }
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(close(too_large(max)));
        }
        Err(error) => {
            return Err(ApiError::bad_request(
                format!("could not read the request body: {error}"),
                "body",
            )
            .into_response());
        }
    };
    decode_gzip(&compressed, max).map_err(IntoResponse::into_response)
}

/// Decodes `compressed` (one or more gzip members), refusing an output above `max` bytes
/// before allocating more than `max`.
fn decode_gzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut decoded: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let read = decoder.read(&mut chunk).map_err(|error| {
            ApiError::bad_request(
                format!("the request body is not valid gzip: {error}"),
                "body",
            )
        })?;
        if read == 0 {
            return Ok(decoded);
        }
        let length = decoded.len() + read;
        if length > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                IssueType::TooLong,
                format!("the decoded request body is larger than the limit of {max} bytes"),
            ));
        }
        if length > decoded.capacity() {
            // Doubling, but never past the limit.
            let capacity = (decoded.capacity() * 2).clamp(length, max);
            decoded.reserve_exact(capacity - decoded.len());
        }
        decoded.extend_from_slice(chunk.get(..read).unwrap_or_default());
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        IssueType::TooLong,
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

fn timed_out(timeout: Duration) -> Response {
    close(ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        IssueType::Timeout,
        format!(
            "the request body stalled: nothing arrived for {} s",
            timeout.as_secs_f64()
        ),
    ))
}

/// The error's answer, closing the connection after it (the rest of the request is not read).
fn close(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The error a [`TimedBody`] ends with when the client stops sending.
#[derive(Debug)]
struct BodyStalled;

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body stalled")
    }
}

impl std::error::Error for BodyStalled {}

/// A request body that fails with [`BodyStalled`] (and raises `stalled`) when no frame
/// arrives for `timeout` while the reader waits. The timer is armed only when the reader
/// waits, and re-armed after progress.
struct TimedBody {
    inner: Body,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    progressed: bool,
    stalled: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Body, timeout: Duration, stalled: Arc<AtomicBool>) -> Self {
        TimedBody {
            inner,
            timeout,
            timer: None,
            progressed: false,
            stalled,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.stalled.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.progressed = true;
            return Poll::Ready(frame);
        }
        let deadline = Instant::now() + this.timeout;
        let timer = match &mut this.timer {
            Some(timer) => {
                if this.progressed {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        this.progressed = false;
        if timer.as_mut().poll(cx).is_ready() {
            this.stalled.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyStalled))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("compress");
        encoder.finish().expect("compress")
    }

    #[test]
    fn decodes_within_the_limit_and_refuses_beyond() {
        let data = vec![b'x'; 100_000];
        let compressed = gzip(&data);
        assert_eq!(decode_gzip(&compressed, 100_000).expect("decoded"), data);
        let refused = decode_gzip(&compressed, 99_999).expect_err("too large");
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn never_reserves_past_the_limit() {
        let data = vec![0u8; 1_000_000];
        let decoded = decode_gzip(&gzip(&data), 700_000);
        assert!(decoded.is_err());
        let decoded = decode_gzip(&gzip(&data), 1_000_000).expect("decoded");
        assert!(decoded.capacity() <= 1_000_000, "{}", decoded.capacity());
    }

    #[test]
    fn truncated_or_foreign_bytes_are_bad_requests() {
        let compressed = gzip(b"{\"resourceType\":\"Patient\"}");
        let truncated = compressed.get(..compressed.len() - 6).expect("slice");
        assert_eq!(
            decode_gzip(truncated, 1000)
                .expect_err("truncated")
                .status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            decode_gzip(b"not gzip at all", 1000)
                .expect_err("foreign")
                .status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn codings() {
        let mut headers = HeaderMap::new();
        assert_eq!(content_coding(&headers), Ok(false));
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert_eq!(content_coding(&headers), Ok(false));
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("GZIP"));
        assert_eq!(content_coding(&headers), Ok(true));
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip, gzip"),
        );
        assert!(content_coding(&headers).is_err());
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(content_coding(&headers), Err("br".to_owned()));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        assert_eq!(unknown_transfer_coding(&headers), None);
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("gzip, chunked"),
        );
        assert_eq!(unknown_transfer_coding(&headers), Some("gzip".to_owned()));
    }
}
