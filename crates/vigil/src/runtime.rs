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

/// Structured logs on stderr, filtered by `filter` (an `EnvFilter` directive).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Opens (creating if needed) the store in `data_dir` and builds the service over it.
pub fn open_service(data_dir: &Path) -> anyhow::Result<(FhirService, Arc<SqliteStore>)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let store = SqliteStore::open(data_dir, SqliteOptions::default())
        .with_context(|| format!("cannot open the database in {}", data_dir.display()))?;
    let store = Arc::new(store);
    let service = FhirService::open(store.clone(), service_config(data_dir))
        .map_err(|e| anyhow::anyhow!("cannot load the search parameters: {e}"))?;
    Ok((service, store))
}

/// The service settings of a data directory (exports under `<data>/export`).
pub fn service_config(data_dir: &Path) -> ServiceConfig {
    ServiceConfig {
        export_dir: Some(data_dir.join("export")),
        ..ServiceConfig::default()
    }
}

/// Refuses non-loopback addresses while no authentication exists: `--dev` (no
/// authentication) is allowed on loopback only, and until the security issue lands every mode
/// is `--dev`.
pub fn check_listen_address(listen: SocketAddr, dev: bool) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        if dev {
            bail!("--dev (no authentication) may only listen on a loopback address, not {listen}");
        }
        bail!(
            "authentication is not available yet, so Vigil serves only on loopback; {listen} is not a loopback address"
        );
    }
    Ok(())
}

/// Serves `service` on `listen` until Ctrl-C or SIGTERM; in-flight requests finish first,
/// then the change-feed consumers `feeds` stop (positions saved) and the store is closed
/// (queued writes committed).
pub fn serve(
    service: FhirService,
    store: Arc<SqliteStore>,
    listen: SocketAddr,
    api: ApiConfig,
    feeds: Vec<ConsumerRunner>,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    serve_with_ingest(
        service,
        store,
        listen,
        api,
        feeds,
        Default::default(),
        ready,
    )
}

/// [`serve`], plus the ingest sources (the HL7 v2 MLLP listener, whose address is printed on
/// stdout after the HTTP line, and the MQTT device feed); they stop at shutdown and finish
/// the messages in progress before the store closes.
pub fn serve_with_ingest(
    service: FhirService,
    store: Arc<SqliteStore>,
    listen: SocketAddr,
    api: ApiConfig,
    feeds: Vec<ConsumerRunner>,
    ingest: crate::commands::hl7::IngestOptions,
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
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener.local_addr().context("no local address")?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let base = api
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        let ingest = crate::commands::hl7::start(ingest, &service, &base, &stop_rx).await?;
        tracing::info!(address = %local, "serving FHIR R4");
        ready(local);
        ingest.announce();
        // The peer address reaches each request's context through `ConnectInfo`.
        let app = vigil_api::app_with_exports(service, api, exports)
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                let _ = stop_tx.send(true);
            })
            .await
            .context("server failed")?;
        tracing::info!("stopped accepting requests; in-flight requests finished");
        ingest.finish().await;
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    export_worker.stop();
    for feed in feeds {
        feed.stop();
    }
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
