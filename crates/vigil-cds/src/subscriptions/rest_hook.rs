//! The rest-hook channel: an HTTP/1.1 client on a small runtime of its own (delivery runs on
//! a change-feed thread, not in the server's async runtime).
//!
//! Only `http://` endpoints: the workspace has no TLS client yet, and a Subscription asking
//! for `https://` is set to `error` with that reason rather than sent in clear.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Longest wait for an endpoint's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that an endpoint is an absolute `http://` URL with a host.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let uri: Uri = endpoint
        .parse()
        .map_err(|_| format!("endpoint {endpoint:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https endpoints are not supported yet (no TLS client); use http on a trusted network"
                    .to_owned(),
            );
        }
        _ => return Err(format!("endpoint {endpoint:?} is not an http URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("endpoint {endpoint:?} has no host"));
    }
    Ok(())
}

/// Splits a `channel.header` line (`Name: value`) and checks both parts.
pub fn parse_header(line: &str) -> Result<(String, String), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| "a channel header is not of the form 'Name: value'".to_owned())?;
    let (name, value) = (name.trim(), value.trim());
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("channel header name {name:?} is not valid"))?;
    HeaderValue::from_str(value).map_err(|_| format!("the value of header {name} is not valid"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// A rest-hook sender.
pub struct RestHookClient {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// One notification to send.
pub struct Notification<'a> {
    /// The channel endpoint, without a trailing slash.
    pub endpoint: &'a str,
    /// The payload MIME type, `None` for an empty POST.
    pub payload: Option<&'a str>,
    /// Extra headers.
    pub headers: &'a [(String, String)],
    /// The resource's type and id (the PUT path) and its JSON.
    pub resource_type: &'a str,
    /// The resource id.
    pub id: &'a str,
    /// The resource as stored.
    pub content: &'a str,
}

impl RestHookClient {
    /// A client with its own single-threaded runtime.
    pub fn new() -> std::io::Result<RestHookClient> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(RestHookClient { runtime, client })
    }

    /// Sends one notification; `Ok` only for a 2xx answer. The error names the failure
    /// without the payload (no PHI in logs or in `Subscription.error`).
    pub fn send(&self, notification: &Notification<'_>) -> Result<(), String> {
        let (method, url, body, content_type) = match notification.payload {
            None => (
                Method::POST,
                notification.endpoint.to_owned(),
                Bytes::new(),
                None,
            ),
            Some(mime) => (
                Method::PUT,
                format!(
                    "{}/{}/{}",
                    notification.endpoint, notification.resource_type, notification.id
                ),
                Bytes::copy_from_slice(notification.content.as_bytes()),
                Some(mime),
            ),
        };
        let mut request = Request::builder().method(method).uri(&url);
        if let Some(mime) = content_type {
            request = request.header("content-type", mime);
        }
        for (name, value) in notification.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| format!("cannot build the request: {error}"))?;
        let client = self.client.clone();
        self.runtime.block_on(async move {
            match tokio::time::timeout(TIMEOUT, client.request(request)).await {
                Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
                Ok(Err(error)) => Err(format!("connection failed: {error}")),
                Ok(Ok(response)) if response.status().is_success() => Ok(()),
                Ok(Ok(response)) => Err(format!("endpoint answered {}", response.status())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_http_with_a_host() {
        assert!(check_endpoint("http://127.0.0.1:9000/hook").is_ok());
        assert!(
            check_endpoint("https://x/hook")
                .unwrap_err()
                .contains("https")
        );
        assert!(check_endpoint("ftp://x/").is_err());
        assert!(check_endpoint("/relative").is_err());
        assert!(check_endpoint("not a url").is_err());
    }

    #[test]
    fn headers_are_name_colon_value() {
        assert_eq!(
            parse_header("Authorization: Bearer abc").unwrap(),
            ("Authorization".to_owned(), "Bearer abc".to_owned())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_header("X-A: line\nbreak").is_err());
    }
}
