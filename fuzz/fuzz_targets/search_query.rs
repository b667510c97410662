//! Fuzz target: any UTF-8 text is a search URL tail, `TYPE?query`, where TYPE is `Patient`,
//! `Observation`, `Patient/p1/Observation` (a compartment) or empty (system level); text without
//! one of those prefixes is a Patient query. The query must parse to a `SearchRequest` or a
//! client error, compile to SQL through `SearchEngine::page_sql`, and run against a small SQLite
//! store (created once per process in /dev/shm), both as a search and, for type searches, as
//! the criteria of a conditional interaction (`matching_ids`). Every error must be the
//! client's (`SearchError::is_client_error`): an internal error (a store error from SQL the
//! engine wrote, say) for a malformed query is a finding, reported as a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vigil_search::{SearchEngine, SearchError, SearchRequest, SearchScope};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{NewVersion, ResourceStore, WriteMethod};

struct Fixture {
    engine: SearchEngine,
    store: SqliteStore,
}

/// The engine and a store holding the shared fixtures with their index rows.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let engine = SearchEngine::r4();
        let dir = vigil_fuzz::scratch_dir("search");
        let store = match SqliteStore::open(&dir, vigil_fuzz::store_options()) {
            Ok(store) => store,
            Err(error) => panic!("cannot open the store: {error}"),
        };
        let versions: Vec<NewVersion> = vigil_fuzz::resources()
            .iter()
            .filter_map(|resource| {
                let resource_type = resource["resourceType"].as_str()?.to_owned();
                let id = resource["id"].as_str()?.to_owned();
                let index = engine.index_rows(&resource_type, resource).ok()?;
                Some(NewVersion {
                    resource_type,
                    id,
                    version_id: 1,
                    last_updated_micros: 1_700_000_000_000_000,
                    method: WriteMethod::Create,
                    content: resource.to_string(),
                    index,
                })
            })
            .collect();
        let loaded = store.write(Box::new(move |tx| {
            versions
                .into_iter()
                .try_for_each(|version| tx.put(version).map(|_| ()))
        }));
        if let Err(error) = loaded {
            panic!("cannot load the fixtures: {error}");
        }
        Fixture { engine, store }
    })
}

/// The scope named before the first `?`, and the query after it.
fn split(text: &str) -> (SearchScope, &str) {
    let scope = |name: &str| SearchScope::Type(name.to_owned());
    match text.split_once('?') {
        Some(("Patient", query)) => (scope("Patient"), query),
        Some(("Observation", query)) => (scope("Observation"), query),
        Some(("", query)) => (SearchScope::System(Vec::new()), query),
        Some(("Patient/p1/Observation", query)) => (
            SearchScope::Compartment {
                compartment: "Patient".into(),
                id: "p1".into(),
                resource_type: "Observation".into(),
            },
            query,
        ),
        _ => (scope("Patient"), text),
    }
}

/// An error for a malformed query must be the client's.
fn check<T>(result: Result<T, SearchError>, step: &str, text: &str) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) if error.is_client_error() => None,
        Err(error) => panic!("internal error in {step} for {text:?}: {error:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (scope, query) = split(text);
    let conditional_type = match &scope {
        SearchScope::Type(resource_type) => Some(resource_type.clone()),
        _ => None,
    };
    let Some(request) = check(
        SearchRequest::from_query(scope, query, false),
        "parse",
        text,
    ) else {
        return;
    };
    let Fixture { engine, store } = fixture();
    check(engine.page_sql(&request), "page_sql", text);
    check(engine.search(store, &request), "search", text);
    if let Some(resource_type) = conditional_type {
        check(
            engine.matching_ids(store, &resource_type, query, 2),
            "matching_ids",
            text,
        );
    }
});
