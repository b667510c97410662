//! Fuzz target: any bytes that parse as JSON are POSTed to the server root as a transaction or
//! batch Bundle, through `FhirService::process_bundle` over a SQLite store created once per
//! process in /dev/shm (seeded with the shared fixtures, so reads, updates, patches, deletes
//! and conditional references find something). The service must answer with a response Bundle
//! or an error that is not `Internal`; a batch entry answering 500 is a finding too. Writes
//! accumulate in the store over the run, as on a real server.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use vigil_search::SearchEngine;
use vigil_service::{BundleReturn, FhirService, RequestContext, ServiceConfig, ServiceErrorKind};
use vigil_store::sqlite::SqliteStore;

/// The service over a fresh store holding the fixtures (written through the service itself).
fn service() -> &'static FhirService {
    static SERVICE: OnceLock<FhirService> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let dir = vigil_fuzz::scratch_dir("bundle");
        let store = match SqliteStore::open(&dir, vigil_fuzz::store_options()) {
            Ok(store) => store,
            Err(error) => panic!("cannot open the store: {error}"),
        };
        let service = FhirService::new(
            Arc::new(store),
            Arc::new(SearchEngine::r4()),
            ServiceConfig::default(),
        );
        let entries: Vec<Value> = vigil_fuzz::resources()
            .iter()
            .map(|resource| {
                json!({"resource": resource, "request": {
                    "method": "PUT",
                    "url": format!("{}/{}", resource["resourceType"].as_str().unwrap_or(""),
                        resource["id"].as_str().unwrap_or("")),
                }})
            })
            .collect();
        let seed = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        if let Err(error) = service.process_bundle(&context(), seed, BundleReturn::Minimal) {
            panic!("cannot load the fixtures: {error:?}");
        }
        service
    })
}

fn context() -> RequestContext {
    RequestContext::system("fuzz", "http://fuzz.example/fhir")
}

/// Batch entries that answered 500.
fn internal_entries(response: &Value) -> Vec<&Value> {
    response
        .get("entry")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| {
                    entry
                        .pointer("/response/status")
                        .and_then(Value::as_str)
                        .is_some_and(|status| status.starts_with("500"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = vigil_model::json::parse(data) else {
        return;
    };
    // Odd lengths ask for the stored resources in the response (`Prefer: return=representation`).
    let returns = if data.len() % 2 == 1 {
        BundleReturn::Representation
    } else {
        BundleReturn::Minimal
    };
    match service().process_bundle(&context(), bundle, returns) {
        Ok(response) => {
            let internal = internal_entries(&response);
            assert!(
                internal.is_empty(),
                "batch entries answered 500: {internal:?}"
            );
        }
        Err(error) => assert!(
            error.kind() != ServiceErrorKind::Internal,
            "internal error for a client's Bundle: {error:?}"
        ),
    }
});
