//! The HTTP/1.1 connection layer of `vigil serve` (and `vigil bench`): our own accept loop
//! over hyper, for plain TCP and TLS alike, so that every connection is bounded in time and
//! number and every answer, hyper's own included, is an OperationOutcome.
//!
//! - **Connection cap** ([`EdgeLimits::max_connections`]): beyond it the server stops
//!   accepting; new connections wait in the kernel's accept queue (and time out there on the
//!   client's side if nothing frees up) rather than being refused. A slot is freed when its
//!   connection closes (an upgraded websocket holds its slot until it closes).
//! - **Header timeout** ([`EdgeLimits::header_timeout`]): a new connection must deliver its
//!   first request's header section within it, and a later request its header section within
//!   it of the request's first byte; else the connection is closed without an answer.
//! - **Idle timeout** ([`EdgeLimits::idle_timeout`]): a keep-alive connection with no request
//!   for that long after its last answer is closed.
//! - The body timeout (a body that stalls: 408) is `vigil_api::limits`, per request.
//!
//! How the timeouts are kept: the connection's I/O and service are wrapped ([`EdgeIo`],
//! [`EdgeService`]) to record the phase of the connection (reading a header section, answering,
//! idle) and when it began, in two atomics; the connection's task sleeps until the end of the
//! phase it saw, or for the shorter of the two timeouts if that comes first (it is not woken
//! by phase changes), then closes the connection if the current phase has run out, or sleeps
//! again. Nothing is timed while a request is being answered
//! (handlers may take their time; the body has its own timeout), and the hot path pays a few
//! atomic stores per request, no timer reset per read. One leniency: the start of a pipelined
//! request read together with the previous one (in the same packet) is not seen as a new header
//! section, so if the rest of it never comes, the idle timeout (not the header timeout) ends
//! the connection.
//!
//! hyper answers what it cannot parse itself, with an empty body: 400 (a malformed request
//! line or header field, an invalid or conflicting `Content-Length`, a `Transfer-Encoding`
//! whose last coding is not `chunked`), 431 (a header section over [`MAX_HEADER_BYTES`] or
//! with more than [`MAX_HEADERS`] fields) and 414. Such an answer is written while no request
//! is being answered, which is how [`EdgeIo`] recognises it: it writes, in its place, the same
//! status with an OperationOutcome body, then the connection closes as hyper intended.
//!
//! Graceful shutdown: when `shutdown` completes, accepting stops, every connection is asked to
//! finish the request in progress and close (idle ones close at once), and [`serve`] returns
//! when the last one has closed.

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::ConnectInfo;
use axum::routing::future::RouteFuture;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;
use vigil_model::{Issue, IssueType};

/// Largest request header section (request line included) in bytes; 431 beyond.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields in a request; 431 beyond.
pub const MAX_HEADERS: usize = 100;

/// The time and number limits of the HTTP edge.
#[derive(Clone, Copy, Debug)]
pub struct EdgeLimits {
    /// Time to deliver a request's header section.
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body (`vigil_api::limits`).
    pub body_timeout: Duration,
    /// Time a keep-alive connection may stay without a request.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: vigil_api::limits::DEFAULT_BODY_TIMEOUT,
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// `app` with the request limits of `vigil_api::limits` and the security headers of
/// `vigil_api::harden`, as every server of this binary serves it.
pub fn app(app: Router, max_body_bytes: usize, limits: &EdgeLimits, https: bool) -> Router {
    let http = vigil_api::HttpLimits {
        max_body_bytes,
        body_timeout: limits.body_timeout,
        ..vigil_api::HttpLimits::default()
    };
    vigil_api::harden(vigil_api::limit(app, http), https)
}

/// Serves `app` on the connections `listener` accepts until `shutdown` completes, then lets
/// the open connections finish their request in progress and returns when all are closed.
/// Each request carries its peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: EdgeLimits,
    https: bool,
    shutdown: impl Future<Output = ()>,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        // hyper's default field limit is MAX_HEADERS, kept on the stack; setting it (even to
        // the same number) would cost a per-request initialisation.
        .max_header_size(MAX_HEADER_BYTES)
        // Our own header timeout (hyper's would count idle keep-alive time too).
        .header_read_timeout(None);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_sender, stop) = watch::channel(false);
    // Every connection task holds a clone; `recv` returns `None` once all have ended.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // At most one warning a minute under sustained load.
                if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    last_warning = Some(Instant::now());
                    tracing::warn!(
                        limit = limits.max_connections,
                        "connection limit reached: new connections wait until one closes"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let connection = Connection {
            peer,
            app: app.clone(),
            builder: builder.clone(),
            limits,
            https,
            stop: stop.clone(),
            _alive: alive.clone(),
        };
        tokio::spawn(connection.run(io, slot));
    }
    drop(listener);
    let _ = stop_sender.send(true);
    drop(alive);
    let _ = all_closed.recv().await;
}

/// What a connection's task needs.
struct Connection {
    peer: SocketAddr,
    app: Router,
    builder: Arc<http1::Builder>,
    limits: EdgeLimits,
    https: bool,
    stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Connection {
    async fn run<I>(mut self, io: I, slot: OwnedSemaphorePermit)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let io = EdgeIo {
            inner: io,
            activity: activity.clone(),
            https: self.https,
            replacement: None,
            _slot: slot,
        };
        let service = EdgeService {
            app: self.app.clone(),
            peer: self.peer,
            activity: activity.clone(),
        };
        let connection = self
            .builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            if !stopping && *self.stop.borrow() {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            let now = Instant::now();
            let deadline = activity.deadline(&self.limits, now);
            if deadline <= now {
                // Only a phase's own end can be past (`look_again` is in the future).
                tracing::debug!(peer = %self.peer, "closing a connection: header or idle timeout");
                return;
            }
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(peer = %self.peer, %error, "connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(deadline) => {}
                _ = self.stop.changed(), if !stopping => {}
            }
        }
    }
}

/// Reading a request's header section (and, at first, waiting for it).
const HEAD: u8 = 0;
/// Between an answer and the next request.
const IDLE: u8 = 1;
/// A request is being answered.
const BUSY: u8 = 2;
/// The connection switched protocols (a websocket): no HTTP timeouts any more.
const UPGRADED: u8 = 3;

/// The phase of a connection and when it began, shared by its I/O, its service and its task.
struct Activity {
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds from `epoch` to the start of `phase`.
    since: AtomicU64,
    /// The answer's body has been handed to hyper in full (it is written at the next flush).
    answered: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            answered: AtomicBool::new(false),
        }
    }

    fn enter(&self, phase: u8) {
        let millis = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.since.store(millis, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// Bytes arrived: an idle connection starts reading a request.
    fn received(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.enter(HEAD);
        }
    }

    /// hyper parsed a request head and calls the service.
    fn request(&self) {
        self.answered.store(false, Ordering::Relaxed);
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// hyper finished with the answer's body.
    fn answered(&self) {
        self.answered.store(true, Ordering::Relaxed);
    }

    /// The I/O was flushed: after a complete answer, the connection is idle.
    fn flushed(&self) {
        if self.phase.load(Ordering::Relaxed) == BUSY && self.answered.load(Ordering::Relaxed) {
            self.enter(IDLE);
        }
    }

    fn upgraded(&self) {
        self.phase.store(UPGRADED, Ordering::Relaxed);
    }

    /// Whether hyper, writing now, writes an answer of its own (no request is being answered).
    fn between_requests(&self) -> bool {
        matches!(self.phase.load(Ordering::Relaxed), HEAD | IDLE)
    }

    /// When to look again: the end of the current phase (the connection is closed when that
    /// is past), but no later than the shorter timeout from `now`, since a phase that starts
    /// meanwhile (the task is not woken by changes) ends no earlier than that.
    fn deadline(&self, limits: &EdgeLimits, now: Instant) -> Instant {
        let since = self.epoch + Duration::from_millis(self.since.load(Ordering::Relaxed));
        let look_again = now + limits.header_timeout.min(limits.idle_timeout);
        match self.phase.load(Ordering::Relaxed) {
            HEAD => look_again.min(since + limits.header_timeout),
            IDLE => look_again.min(since + limits.idle_timeout),
            _ => look_again,
        }
    }
}

/// A connection's I/O: records arrivals and flushes in its [`Activity`], replaces hyper's own
/// empty-bodied error answers with OperationOutcomes, and holds the connection's slot.
struct EdgeIo<I> {
    inner: I,
    activity: Arc<Activity>,
    https: bool,
    /// Our answer in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
    _slot: OwnedSemaphorePermit,
}

impl<I: AsyncWrite + Unpin> EdgeIo<I> {
    /// Recognises hyper's own answer at the start of `written`.
    fn intercept(&mut self, written: &[u8]) {
        if self.replacement.is_none()
            && self.activity.between_requests()
            && let Some(answer) = outcome_answer(written, self.https)
        {
            self.replacement = Some((answer, 0));
        }
    }

    /// Writes what is left of the replacement answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if let Some((answer, written)) = &mut self.replacement {
            while let Some(rest) = answer.get(*written..).filter(|rest| !rest.is_empty()) {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
                if n == 0 {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for EdgeIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.received();
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for EdgeIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.intercept(buf);
        if self.replacement.is_some() {
            // hyper's bytes are taken as written; ours go out instead.
            ready!(self.drain(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            self.intercept(first);
        }
        if self.replacement.is_some() {
            ready!(self.drain(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain(cx))?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.activity.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The OperationOutcome answer standing for hyper's answer whose head starts `head`
/// (`HTTP/1.1 431 ...`), or `None` when `head` is not an error status line.
fn outcome_answer(head: &[u8], https: bool) -> Option<Vec<u8>> {
    let code = head.strip_prefix(b"HTTP/1.")?.get(2..5)?;
    let status = StatusCode::from_bytes(code).ok()?;
    if !status.is_client_error() && !status.is_server_error() {
        return None;
    }
    let (issue, diagnostics) = match status {
        StatusCode::BAD_REQUEST => (
            IssueType::Invalid,
            "the request is not valid HTTP/1.1: a malformed request line or header field, an \
             invalid or conflicting Content-Length, or a Transfer-Encoding whose last coding is \
             not chunked"
                .to_owned(),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            IssueType::TooLong,
            format!(
                "the request header section is larger than {MAX_HEADER_BYTES} bytes or has more \
                 than {MAX_HEADERS} fields"
            ),
        ),
        StatusCode::URI_TOO_LONG => (IssueType::TooLong, "the request URI is too long".to_owned()),
        _ => (
            IssueType::Exception,
            "the request could not be read".to_owned(),
        ),
    };
    let outcome = vigil_model::outcome::operation_outcome(&[Issue::error(issue, diagnostics)]);
    let body = serde_json::to_vec(&outcome).ok()?;
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        vigil_api::negotiate::FHIR_JSON,
        body.len()
    );
    for (name, value) in vigil_api::security_headers(https) {
        answer.push_str(&format!("{name}: {value}\r\n"));
    }
    answer.push_str("\r\n");
    let mut answer = answer.into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

/// The router as hyper's service: marks each request in the connection's [`Activity`] and
/// gives it the peer's address.
struct EdgeService {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for EdgeService {
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = EdgeFuture;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        self.activity.request();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let mut app = self.app.clone();
        EdgeFuture {
            inner: tower::Service::call(&mut app, request),
            activity: Some(self.activity.clone()),
        }
    }
}

/// The router's answer, its body wrapped in an [`EdgeBody`].
struct EdgeFuture {
    inner: RouteFuture<Infallible>,
    activity: Option<Arc<Activity>>,
}

impl Future for EdgeFuture {
    type Output = Result<Response<EdgeBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(response) = ready!(Pin::new(&mut self.inner).poll(cx));
        let Some(activity) = self.activity.take() else {
            // Polled again after its answer: a caller's mistake, answered without a body.
            return Poll::Ready(Ok(Response::new(EdgeBody::empty())));
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            activity.upgraded();
        }
        Poll::Ready(Ok(response.map(|inner| EdgeBody {
            inner,
            activity: Some(activity),
        })))
    }
}

/// An answer's body that tells the connection's [`Activity`] when hyper is done with it.
struct EdgeBody {
    inner: AxumBody,
    activity: Option<Arc<Activity>>,
}

impl EdgeBody {
    fn empty() -> Self {
        EdgeBody {
            inner: AxumBody::empty(),
            activity: None,
        }
    }
}

impl Drop for EdgeBody {
    fn drop(&mut self) {
        if let Some(activity) = &self.activity {
            activity.answered();
        }
    }
}

impl http_body::Body for EdgeBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
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

    #[test]
    fn hyper_error_heads_become_outcomes() {
        let answer = outcome_answer(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n",
            false,
        )
        .expect("an answer");
        let text = String::from_utf8(answer).expect("text");
        assert!(
            text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\"resourceType\":\"OperationOutcome\""),
            "{text}"
        );
        assert!(text.contains("\"code\":\"too-long\""), "{text}");
        assert!(!text.contains("strict-transport-security"));
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(outcome_answer(b"HTTP/1.1 200 OK\r\n", false).is_none());
        assert!(outcome_answer(b"\x81\x05hello", false).is_none());
        let tls = outcome_answer(b"HTTP/1.1 400 Bad Request\r\n\r\n", true).expect("an answer");
        assert!(String::from_utf8_lossy(&tls).contains("strict-transport-security"));
    }

    #[test]
    fn deadlines_follow_the_phase() {
        let limits = EdgeLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..EdgeLimits::default()
        };
        let seconds = Duration::from_secs;
        let activity = Activity::new();
        let start = activity.epoch;
        // A new connection has the header time, then is closed (deadline not in the future).
        assert_eq!(activity.deadline(&limits, start), start + seconds(10));
        assert!(activity.deadline(&limits, start + seconds(10)) <= start + seconds(10));
        // Answering: never closed, looked at again after the shorter timeout.
        activity.request();
        let later = start + seconds(100);
        assert_eq!(activity.deadline(&limits, later), later + seconds(10));
        activity.flushed();
        assert_eq!(
            activity.phase.load(Ordering::Relaxed),
            BUSY,
            "not answered yet"
        );
        assert!(!activity.between_requests());
        // Answered and flushed: idle, closed after the idle time, looked at every 10 s (a
        // request starting meanwhile has 10 s).
        activity.answered();
        activity.flushed();
        assert_eq!(activity.phase.load(Ordering::Relaxed), IDLE);
        assert!(activity.between_requests());
        let idle = start + Duration::from_millis(activity.since.load(Ordering::Relaxed));
        assert_eq!(activity.deadline(&limits, idle), idle + seconds(10));
        assert_eq!(
            activity.deadline(&limits, idle + seconds(55)),
            idle + seconds(60)
        );
        assert!(activity.deadline(&limits, idle + seconds(60)) <= idle + seconds(60));
        // A byte arrives: the header time again.
        activity.received();
        assert_eq!(activity.phase.load(Ordering::Relaxed), HEAD);
        // A websocket: no HTTP timeouts, and never taken for hyper's own answer.
        activity.request();
        activity.upgraded();
        assert!(!activity.between_requests());
        assert!(activity.deadline(&limits, later) > later);
    }
}
