//! `vigil bench`: create and read throughput over HTTP on loopback, at several concurrency
//! levels, against a fresh in-process server (or a running one with `--url`).
//!
//! Every create is durable (acknowledged after the fsync'd commit), so this measures the whole
//! path a client sees: HTTP parsing, validation, storage, response.

use crate::runtime;
use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vigil_api::ApiConfig;

/// Options of `vigil bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A running server's base URL; by default a fresh server is started in-process on a
    /// loopback port with a temporary data directory.
    #[arg(long)]
    pub url: Option<String>,
    /// Data directory for the in-process server (default: a new temp directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Requests per operation and concurrency level.
    #[arg(long, default_value_t = 5000)]
    pub requests: usize,
    /// Concurrency levels, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<usize>,
    /// Whether the in-process server keeps the audit trail (as `vigil serve` does): `on` or
    /// `off`, to measure what auditing costs.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub audit: String,
    /// Whether the in-process server authenticates (as `vigil serve` without `--dev`): `on`
    /// registers a backend client with `system/*.cruds`, takes a token by client credentials
    /// and sends it with every request, through the SMART policy; `off` is `--dev`.
    #[arg(long, default_value = "off", value_parser = ["on", "off"])]
    pub auth: String,
    /// Read cache of the in-process server, in MiB (as `vigil serve --read-cache-mib`; 0 off).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub read_cache_mib: usize,
    /// Access log of the in-process server (as `vigil serve --access-log`).
    #[arg(long, default_value = "all", value_name = "POLICY")]
    pub access_log: vigil_api::AccessLog,
    /// A bearer token sent with every request (for `--url` against a server with
    /// authentication).
    #[arg(long, env = "VIGIL_BENCH_TOKEN")]
    pub token: Option<String>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Runs the benchmark and prints one line per (operation, concurrency).
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.requests == 0 || args.concurrency.contains(&0) {
        bail!("--requests and every --concurrency level must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build_http();
        let (base, server, token) = match &args.url {
            Some(url) => (
                url.trim_end_matches('/').to_owned(),
                None,
                args.token.clone(),
            ),
            None => {
                let data = args.data.clone().unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()))
                });
                std::fs::create_dir_all(&data)?;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let address = listener.local_addr()?;
                let base = format!("http://{address}");
                let mut config = runtime::service_config(&data);
                config.read_cache_bytes = args.read_cache_mib.saturating_mul(1024 * 1024);
                let (mut service, _store) = runtime::open_service_with(&data, config)?;
                let mut api = ApiConfig {
                    access_log: args.access_log,
                    ..ApiConfig::default()
                };
                let max_body_bytes = api.max_body_bytes;
                let mut auth = None;
                if args.auth == "on" {
                    service = service.with_smart_authorization();
                    let server = Arc::new(
                        vigil_auth::AuthServer::open(&vigil_auth::AuthConfig::new(
                            base.clone(),
                            data.clone(),
                        ))
                        .map_err(|e| {
                            anyhow::anyhow!("cannot start the authorization server: {e}")
                        })?,
                    );
                    auth = Some(server);
                }
                if args.audit == "on" {
                    service = runtime::with_audit(service)?;
                }
                let mut app = vigil_api::app(service.clone(), {
                    if let Some(server) = &auth {
                        api.base_url = Some(base.clone());
                        api.authenticator = Some(Arc::new(crate::security::TokenAuthenticator {
                            auth: server.clone(),
                            service: service.clone(),
                        }));
                    }
                    api
                });
                if let Some(server) = &auth {
                    app = server.clone().router().merge(app);
                }
                // Served as `vigil serve` serves: request limits, security headers, the
                // connection layer.
                let limits = crate::edge::EdgeLimits::default();
                let app = crate::edge::app(app, max_body_bytes, &limits, false);
                let handle = tokio::spawn(crate::edge::serve(
                    listener,
                    app,
                    limits,
                    false,
                    std::future::pending(),
                ));
                let token = match &auth {
                    Some(_) => Some(backend_token(&client, &base, &data).await?),
                    None => None,
                };
                (base, Some((handle, data)), token)
            }
        };
        println!(
            "vigil bench: {} requests per row, server {base}, audit {}",
            args.requests,
            if args.url.is_some() {
                "as served".to_owned()
            } else {
                format!(
                    "{}, auth {}, read cache {} MiB, access log {}",
                    args.audit, args.auth, args.read_cache_mib, args.access_log
                )
            }
        );
        println!(
            "{:<8} {:>11} {:>9} {:>10} {:>9} {:>9}",
            "op", "concurrency", "requests", "req/s", "p50 ms", "p99 ms"
        );
        for &concurrency in &args.concurrency {
            let created = Arc::new(std::sync::Mutex::new(Vec::with_capacity(args.requests)));
            let stats = drive(
                &client,
                &base,
                token.as_deref(),
                concurrency,
                args.requests,
                Op::Create(created.clone()),
            )
            .await?;
            stats.print("create", concurrency);
            let ids = Arc::new(std::mem::take(
                &mut *created.lock().unwrap_or_else(|p| p.into_inner()),
            ));
            let stats = drive(
                &client,
                &base,
                token.as_deref(),
                concurrency,
                args.requests,
                Op::Read(ids),
            )
            .await?;
            stats.print("read", concurrency);
        }
        if let Some((handle, data)) = server {
            handle.abort();
            if args.data.is_none() {
                let _ = std::fs::remove_dir_all(&data);
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone)]
enum Op {
    Create(Arc<std::sync::Mutex<Vec<String>>>),
    Read(Arc<Vec<String>>),
}

struct Stats {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn print(&self, op: &str, concurrency: usize) {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let pick = |q: f64| {
            sorted
                .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        let rate = sorted.len() as f64 / self.elapsed.as_secs_f64();
        println!(
            "{op:<8} {concurrency:>11} {:>9} {rate:>10.0} {:>9.2} {:>9.2}",
            sorted.len(),
            pick(0.5).as_secs_f64() * 1000.0,
            pick(0.99).as_secs_f64() * 1000.0
        );
    }
}

async fn drive(
    client: &HttpClient,
    base: &str,
    token: Option<&str>,
    concurrency: usize,
    requests: usize,
    op: Op,
) -> anyhow::Result<Stats> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, base, next, op) = (client.clone(), base.to_owned(), next.clone(), op.clone());
        let authorization = token.map(|token| format!("Bearer {token}"));
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                let begun = Instant::now();
                one_request(&client, &base, authorization.as_deref(), n, &op).await?;
                latencies.push(begun.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await.context("benchmark worker failed")??);
    }
    Ok(Stats {
        elapsed: started.elapsed(),
        latencies,
    })
}

async fn one_request(
    client: &HttpClient,
    base: &str,
    authorization: Option<&str>,
    n: usize,
    op: &Op,
) -> anyhow::Result<()> {
    let mut request = match op {
        Op::Create(_) => Request::builder()
            .method(Method::POST)
            .uri(format!("{base}/Patient"))
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(Full::new(Bytes::from(sample_patient(n))))?,
        Op::Read(ids) => {
            let id = ids
                .get(n % ids.len().max(1))
                .context("no created ids to read")?;
            Request::builder()
                .uri(format!("{base}/Patient/{id}"))
                .body(Full::new(Bytes::new()))?
        }
    };
    if let Some(authorization) = authorization {
        request.headers_mut().insert(
            hyper::header::AUTHORIZATION,
            hyper::header::HeaderValue::from_str(authorization)
                .context("the token is not a valid header value")?,
        );
    }
    let response = client.request(request).await.context("request failed")?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the response")?
        .to_bytes();
    match (op, status) {
        (Op::Create(created), StatusCode::CREATED) => {
            let id = location
                .as_deref()
                .and_then(|l| l.split("/Patient/").nth(1))
                .and_then(|rest| rest.split('/').next())
                .context("create answered without a Location")?;
            created
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(id.to_owned());
        }
        (Op::Read(_), StatusCode::OK) => {}
        (_, status) => bail!(
            "unexpected status {status}: {}",
            String::from_utf8_lossy(&body)
        ),
    }
    Ok(())
}

/// A realistic Patient of about 1 KB.
fn sample_patient(n: usize) -> String {
    format!(
        r#"{{"resourceType":"Patient","identifier":[{{"system":"urn:oid:2.16.840.1.113883.19.5.99","value":"BENCH-{n}"}}],"active":true,"name":[{{"use":"official","family":"Bench{n}","given":["Alex","Sam"]}}],"telecom":[{{"system":"phone","value":"+31 20 555 {n:04}","use":"home"}}],"gender":"other","birthDate":"1970-01-{:02}","address":[{{"use":"home","line":["{n} Example Street"],"city":"Amsterdam","postalCode":"1011","country":"NL"}}],"contact":[{{"relationship":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"N"}}]}}],"name":{{"family":"Contact{n}","given":["Robin"]}},"telecom":[{{"system":"phone","value":"+31 20 555 9999"}}]}}],"communication":[{{"language":{{"coding":[{{"system":"urn:ietf:bcp:47","code":"nl"}}]}},"preferred":true}}]}}"#,
        n % 28 + 1
    )
}

/// Registers a backend client with `system/*.cruds` in `data` and takes a token for it by
/// client credentials (client_secret_basic), as a backend service would.
async fn backend_token(
    client: &HttpClient,
    base: &str,
    data: &std::path::Path,
) -> anyhow::Result<String> {
    use base64::Engine;
    let secret = uuid::Uuid::new_v4().to_string();
    let id = format!("bench-{}", &secret[..8]);
    vigil_auth::Admin::open(data)
        .and_then(|admin| {
            admin.add_client(&vigil_auth::NewClient {
                id: id.clone(),
                credential: vigil_auth::ClientCredential::Secret(secret.clone()),
                redirect_uris: Vec::new(),
                scopes: "system/*.cruds".to_owned(),
            })
        })
        .map_err(|e| anyhow::anyhow!("cannot register the benchmark client: {e}"))?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(Full::new(Bytes::from_static(
            b"grant_type=client_credentials&scope=system%2F*.cruds",
        )))?;
    let response = client
        .request(request)
        .await
        .context("token request failed")?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != StatusCode::OK {
        bail!(
            "token request answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let answer: serde_json::Value = serde_json::from_slice(&body)?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access_token in the token response")
}
