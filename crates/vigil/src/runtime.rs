//! Process wiring shared by the commands: logging, opening the store, building the service,
//! serving HTTP with graceful shutdown.

use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use vigil_api::ApiConfig;
use vigil_service::feed::ConsumerRunner;
use vigil_service::{FhirService, ServiceConfig};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};

/// Structured logs on stderr, filtered by `filter` (an `EnvFilter` directive), written by a
/// background thread ([`LogGuard`]): a request thread formats its line and queues it, never
/// waiting for stderr. Keep the guard until the process ends: dropping it writes what is
/// queued.
pub fn init_logging(filter: &str) -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = crate::log_writer::start();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .try_init();
    guard
}

pub use crate::log_writer::LogGuard;

/// Opens (creating if needed) the store in `data_dir` and builds the service over it.
pub fn open_service(data_dir: &Path) -> anyhow::Result<(FhirService, Arc<SqliteStore>)> {
    open_service_with(data_dir, service_config(data_dir))
}

/// [`open_service`] with the given service settings.
pub fn open_service_with(
    data_dir: &Path,
    config: ServiceConfig,
) -> anyhow::Result<(FhirService, Arc<SqliteStore>)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let store = SqliteStore::open(data_dir, SqliteOptions::default())
        .with_context(|| format!("cannot open the database in {}", data_dir.display()))?;
    let store = Arc::new(store);
    let service = FhirService::open(store.clone(), config)
        .map_err(|e| anyhow::anyhow!("cannot load the search parameters: {e}"))?;
    Ok((service, store))
}

/// The same service with the audit trail installed: writes are recorded in their own commit,
/// everything else by the trail's background writer, which writes what is queued when the
/// last clone of the service is dropped (after the server stops).
pub fn with_audit(service: FhirService) -> anyhow::Result<FhirService> {
    let trail = vigil_service::AuditTrail::start(&service, Default::default())
        .map_err(|e| anyhow::anyhow!("cannot start the audit trail: {e}"))?;
    Ok(service.with_audit_hook(Arc::new(trail)))
}

/// The service settings of a data directory (exports under `<data>/export`).
pub fn service_config(data_dir: &Path) -> ServiceConfig {
    ServiceConfig {
        export_dir: Some(data_dir.join("export")),
        ..ServiceConfig::default()
    }
}

/// Where a server may listen: `--dev` (no authentication) only on loopback; with
/// authentication, plain HTTP only on loopback and any other address only with TLS.
pub fn check_listen_address(listen: SocketAddr, dev: bool, tls: bool) -> anyhow::Result<()> {
    if listen.ip().is_loopback() {
        return Ok(());
    }
    if dev {
        bail!("--dev (no authentication) may only listen on a loopback address, not {listen}");
    }
    if !tls {
        bail!(
            "{listen} is not a loopback address: serving it needs TLS (--tls-cert and --tls-key)"
        );
    }
    Ok(())
}

/// Binds the listening socket now (so the address, port 0 resolved, is known before the
/// server starts).
pub fn bind(listen: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    listener
        .set_nonblocking(true)
        .context("cannot make the listening socket non-blocking")?;
    Ok(listener)
}

/// What surrounds the FHIR API at the network edge.
#[derive(Default)]
pub struct Edge {
    /// TLS, when `--tls-cert`/`--tls-key` are given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Routes served beside the FHIR API (the authorization server, CDS).
    pub routes: Option<axum::Router>,
    /// The ingest sources: the HL7 v2 MLLP listener (its address printed on stdout after the
    /// HTTP line) and the MQTT device feed; they stop at shutdown and finish the messages in
    /// progress before the store closes.
    pub ingest: crate::commands::hl7::IngestOptions,
    /// Timeouts and the connection cap of the HTTP edge (`crate::edge`).
    pub limits: crate::edge::EdgeLimits,
}

/// Serves `service` on `listen` until Ctrl-C or SIGTERM; in-flight requests finish first,
/// then the change-feed consumers `feeds` stop (positions saved) and the store is closed
/// (queued writes committed). `edge` holds TLS and the routes served beside the FHIR API
/// (the authorization server, CDS Hooks, the Subscription websocket).
pub fn serve(
    service: FhirService,
    store: Arc<SqliteStore>,
    listener: std::net::TcpListener,
    api: ApiConfig,
    feeds: Vec<ConsumerRunner>,
    edge: Edge,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Bulk Data export jobs run on their own wake loop, resuming unfinished jobs at start; a
    // kick-off wakes it.
    let exports = vigil_bulk::ExportWaker::new();
    let export_worker =
        vigil_bulk::ExportWorker::start(service.clone(), Default::default(), &exports)
            .map_err(|e| anyhow::anyhow!("cannot start the export worker: {e}"))?;
    let audit = service.clone();
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).context("cannot listen")?;
        let local = listener.local_addr().context("no local address")?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let https = edge.tls.is_some();
        let base = api
            .base_url
            .clone()
            .unwrap_or_else(|| crate::security::public_base_url(None, https, local));
        let ingest = crate::commands::hl7::start(edge.ingest, &service, &base, &stop_rx).await?;
        tracing::info!(address = %local, tls = https, "serving FHIR R4");
        let max_body_bytes = api.max_body_bytes;
        let mut app = vigil_api::app_with_exports(service, api, exports);
        if let Some(routes) = edge.routes {
            app = routes.merge(app);
        }
        // The peer address reaches each request's context through `ConnectInfo`, which
        // `edge::serve` gives every request.
        let app = crate::edge::app(app, max_body_bytes, &edge.limits, https);
        let shutdown = async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        };
        match edge.tls {
            None => {
                ready(local);
                ingest.announce();
                crate::edge::serve(listener, app, edge.limits, https, shutdown).await;
            }
            Some(config) => {
                let listener =
                    crate::tls::TlsListener::new(listener, config).context("cannot start TLS")?;
                ready(local);
                ingest.announce();
                crate::edge::serve(listener, app, edge.limits, https, shutdown).await;
            }
        }
        tracing::info!("stopped accepting requests; in-flight requests finished");
        ingest.finish().await;
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    export_worker.stop();
    for feed in feeds {
        feed.stop();
    }
    audit.flush_audit();
    drop(audit); // The last clone: the audit writer stops and releases the store.
    match Arc::try_unwrap(store) {
        Ok(store) => store.close().context("closing the database")?,
        Err(_) => {
            tracing::warn!("store still shared at shutdown; relying on its drop to finish writes")
        }
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
