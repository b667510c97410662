//! `vigil demo`: serve with a sample ward loaded (three synthetic inpatients with vital signs).

use crate::commands::serve::announce;
use crate::runtime;
use anyhow::Context;
use clap::Args;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_api::ApiConfig;
use vigil_service::{FhirService, Preconditions, RequestContext};

/// The sample data, compiled in so the demo runs from any directory.
const WARD: &str = include_str!("../../../../fixtures/demo/ward.json");

/// Options of `vigil demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Directory holding the database; default: a new directory under the system temp dir.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// Loads the sample ward and serves it.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    runtime::check_listen_address(args.listen, true, false)?;
    let data = args
        .data
        .unwrap_or_else(|| std::env::temp_dir().join(format!("vigil-demo-{}", std::process::id())));
    let (service, store) = runtime::open_service(&data)?;
    let service = runtime::with_audit(service)?;
    let base_url = format!("http://{}", args.listen);
    // CDS starts before the ward is loaded, so the sample vitals are scored.
    let cds = crate::commands::serve::start_cds(&service, &store, &base_url, 60)?;
    let loaded = load_sample_ward(&service, &base_url)?;
    tracing::info!(resources = loaded, data = %data.display(), "sample ward loaded");
    eprintln!(
        "vigil demo: {loaded} sample resources in {}; try GET /Patient/ward-14",
        data.display()
    );
    let listener = runtime::bind(args.listen)?;
    runtime::serve(
        service,
        store,
        listener,
        ApiConfig::default(),
        cds.runners,
        runtime::Edge {
            tls: None,
            routes: Some(cds.router),
            ingest: Default::default(),
            limits: Default::default(),
        },
        announce,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Writes every sample resource by update (PUT semantics with fixed ids), so loading twice
/// changes nothing. Returns how many resources the sample holds.
pub fn load_sample_ward(service: &FhirService, base_url: &str) -> anyhow::Result<usize> {
    let resources: Vec<Value> =
        serde_json::from_str(WARD).context("the built-in sample ward is not valid JSON")?;
    let context = RequestContext::internal("demo", base_url);
    for resource in &resources {
        let resource_type = resource["resourceType"].as_str().unwrap_or_default();
        let id = resource["id"].as_str().unwrap_or_default();
        service
            .update(
                &context,
                resource_type,
                id,
                resource.clone(),
                &Preconditions::default(),
            )
            .map_err(|error| anyhow::anyhow!("loading {resource_type}/{id}: {error}"))?;
    }
    Ok(resources.len())
}
