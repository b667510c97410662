//! A test server: the real router over a real SQLite store in a temp dir.

#![allow(dead_code)]
// Test helpers: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;
use vigil_api::ApiConfig;
use vigil_service::{FhirService, ServiceConfig};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};

pub struct TestServer {
    app: Router,
    /// Woken by the server's `$export` kick-offs; attach a worker with [`export_worker`].
    pub exports: vigil_bulk::ExportWaker,
    _dir: tempfile::TempDir,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl TestServer {
    pub fn new() -> Self {
        Self::with_body_limit(ApiConfig::default().max_body_bytes)
    }

    /// A server whose service has `config` (the API settings are the defaults).
    pub fn with_service_config(config: ServiceConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        let search = Arc::new(vigil_search::SearchEngine::r4());
        let service = FhirService::new(store, search, config);
        let exports = vigil_bulk::ExportWaker::new();
        let app = vigil_api::app_with_exports(service, ApiConfig::default(), exports.clone());
        TestServer {
            app,
            exports,
            _dir: dir,
        }
    }

    pub fn with_body_limit(max_body_bytes: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        let search = Arc::new(vigil_search::SearchEngine::r4());
        let service = FhirService::new(store, search, ServiceConfig::default());
        let exports = vigil_bulk::ExportWaker::new();
        let app = vigil_api::app_with_exports(
            service,
            ApiConfig {
                max_body_bytes,
                ..ApiConfig::default()
            },
            exports.clone(),
        );
        TestServer {
            app,
            exports,
            _dir: dir,
        }
    }

    /// A server whose service asks `authorizer`, with `$export` enabled (files under the
    /// temp dir's `export`), and that service (for an export worker).
    pub fn with_authorizer(authorizer: Arc<dyn vigil_service::Authorizer>) -> (Self, FhirService) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        let search = Arc::new(vigil_search::SearchEngine::r4());
        let config = ServiceConfig {
            export_dir: Some(dir.path().join("export")),
            ..ServiceConfig::default()
        };
        let service = FhirService::new(store, search, config).with_authorizer(authorizer);
        let exports = vigil_bulk::ExportWaker::new();
        let app =
            vigil_api::app_with_exports(service.clone(), ApiConfig::default(), exports.clone());
        (
            TestServer {
                app,
                exports,
                _dir: dir,
            },
            service,
        )
    }

    /// A server under the SMART policy whose bearer tokens `authenticator` verifies, with
    /// `$export` enabled, and its service.
    pub fn with_smart(authenticator: Arc<dyn vigil_api::Authenticator>) -> (Self, FhirService) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap());
        let search = Arc::new(vigil_search::SearchEngine::r4());
        let config = ServiceConfig {
            export_dir: Some(dir.path().join("export")),
            ..ServiceConfig::default()
        };
        let service = FhirService::new(store, search, config).with_smart_authorization();
        // The audit trail as `vigil serve` keeps it.
        let trail = vigil_service::AuditTrail::start(&service, Default::default()).unwrap();
        let service = service.with_audit_hook(Arc::new(trail));
        let exports = vigil_bulk::ExportWaker::new();
        let api = ApiConfig {
            authenticator: Some(authenticator),
            ..ApiConfig::default()
        };
        let app = vigil_api::app_with_exports(service.clone(), api, exports.clone());
        (
            TestServer {
                app,
                exports,
                _dir: dir,
            },
            service,
        )
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let mut all: Vec<(&str, &str)> = vec![("content-type", "application/fhir+json")];
        all.extend_from_slice(headers);
        self.raw(method, path, bytes, &all).await
    }

    /// Stores `resources` (each with its `id`) with one batch of PUTs; every entry must succeed.
    #[allow(dead_code)] // not every test binary uses it
    pub async fn put_all(&self, resources: Vec<serde_json::Value>) {
        let entries: Vec<serde_json::Value> = resources
            .into_iter()
            .map(|resource| {
                let url = format!(
                    "{}/{}",
                    resource["resourceType"].as_str().unwrap(),
                    resource["id"].as_str().unwrap()
                );
                serde_json::json!({"resource": resource, "request": {"method": "PUT", "url": url}})
            })
            .collect();
        let bundle =
            serde_json::json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
        let answer = self.request("POST", "/", Some(bundle), &[]).await;
        assert_eq!(
            answer.status,
            axum::http::StatusCode::OK,
            "{}",
            answer.text()
        );
        for entry in answer.json()["entry"].as_array().unwrap() {
            let status = entry["response"]["status"].as_str().unwrap_or_default();
            assert!(status.starts_with("20"), "batch entry failed: {entry}");
        }
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        self.send(request).await
    }

    /// Sends a request built by the test (e.g. with a `ConnectInfo` extension, as a real
    /// connection has).
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }
}

/// A server over the store in `data` (kept by the caller, so a test can restart the server on
/// it) with `$export` enabled (files under `<data>/export`), and its service, for starting an
/// export worker with [`export_worker`].
#[allow(dead_code)]
pub fn export_server(data: &std::path::Path) -> (TestServer, FhirService) {
    let store = Arc::new(SqliteStore::open(data, SqliteOptions::default()).unwrap());
    let search = Arc::new(vigil_search::SearchEngine::r4());
    let config = ServiceConfig {
        export_dir: Some(data.join("export")),
        ..ServiceConfig::default()
    };
    let service = FhirService::new(store, search, config);
    let exports = vigil_bulk::ExportWaker::new();
    let app = vigil_api::app_with_exports(service.clone(), ApiConfig::default(), exports.clone());
    let server = TestServer {
        app,
        exports,
        _dir: tempfile::tempdir().unwrap(),
    };
    (server, service)
}

/// How long a test worker waits between looks for jobs when nobody wakes it: longer than any
/// test, so every job a test sees finish was started at the worker's start or by the kick-off's
/// wake-up.
pub const NO_POLLING: std::time::Duration = std::time::Duration::from_secs(3600);

/// An export worker for `server`'s kick-offs with small pages and files (so paging and file
/// roll-over are exercised) that never polls (see [`NO_POLLING`]).
#[allow(dead_code)]
pub fn export_worker(server: &TestServer, service: &FhirService) -> vigil_bulk::ExportWorker {
    let options = vigil_bulk::ExportOptions {
        page_size: 7,
        max_resources_per_file: 25,
        safety_interval: NO_POLLING,
    };
    vigil_bulk::ExportWorker::start(service.clone(), options, &server.exports).unwrap()
}
