//! Shared helpers of the integration tests: a store in a temporary directory and a loader
//! that writes resources with their index rows, as the service does.

#![allow(dead_code)]

use serde_json::Value;
use vigil_search::SearchEngine;
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{NewVersion, ResourceStore, WriteMethod};

/// `meta.lastUpdated` the loader gives resources that have none (2020-09-13T12:26:40Z).
pub const LAST_UPDATED: &str = "2020-09-13T12:26:40Z";

/// A fresh store.
pub fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open store");
    (dir, store)
}

/// Writes resources (version 1, or the next version when `id` exists) with their index rows,
/// in batches of one transaction each.
pub fn load(engine: &SearchEngine, store: &SqliteStore, resources: &[Value]) {
    for chunk in resources.chunks(200) {
        let versions: Vec<NewVersion> = chunk
            .iter()
            .map(|resource| {
                let mut resource = resource.clone();
                // As the service does: meta.lastUpdated is the version's time.
                if let Some(object) = resource.as_object_mut() {
                    let meta = object
                        .entry("meta")
                        .or_insert_with(|| serde_json::json!({}));
                    if let Some(meta) = meta.as_object_mut() {
                        meta.entry("lastUpdated")
                            .or_insert_with(|| Value::String(LAST_UPDATED.to_owned()));
                    }
                }
                let resource = &resource;
                let resource_type = resource["resourceType"]
                    .as_str()
                    .expect("resourceType")
                    .to_owned();
                let id = resource["id"].as_str().expect("id").to_owned();
                let index = engine
                    .index_rows(&resource_type, resource)
                    .expect("index rows");
                NewVersion {
                    resource_type,
                    id,
                    version_id: 1,
                    last_updated_micros: 1_600_000_000_000_000,
                    method: WriteMethod::Create,
                    content: resource.to_string(),
                    index,
                }
            })
            .collect();
        store
            .write(Box::new(move |tx| {
                for mut version in versions {
                    if let Some(current) = tx.current(&version.resource_type, &version.id)? {
                        version.version_id = current.meta.version_id + 1;
                        version.method = WriteMethod::Update;
                    }
                    tx.put(version)?;
                }
                Ok(())
            }))
            .expect("write");
    }
}

/// The shared corpora directory: `VIGIL_SHARED`, or `../shared` next to the workspace.
pub fn shared_dir() -> std::path::PathBuf {
    match std::env::var_os("VIGIL_SHARED") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// Unpacks the Synthea archive into a temporary directory and returns every resource with
/// `urn:uuid:` and conditional (`Type?identifier=system|value`) references rewritten to
/// `Type/id`, as a server would have stored them. `None` (after printing why) when the corpus
/// is missing outside CI; a panic in CI.
pub fn synthea_resources() -> Option<(tempfile::TempDir, Vec<Value>)> {
    let archive = shared_dir().join("data/synthea/synthea-r4.tar.xz");
    if !archive.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("Synthea corpus missing at {} (CI=true)", archive.display());
        }
        println!(
            "skipping: Synthea corpus not found at {} (set VIGIL_SHARED)",
            archive.display()
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new("tar")
        .arg("-xJf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("fhir"))
        .expect("fhir dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    let mut entries = Vec::new();
    for file in files {
        let bundle: Value =
            serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("bundle json");
        if let Some(Value::Array(items)) = bundle.get("entry") {
            entries.extend(items.iter().cloned());
        }
    }
    let mut by_url = std::collections::HashMap::new();
    let mut by_identifier = std::collections::HashMap::new();
    for entry in &entries {
        let resource = &entry["resource"];
        let key = format!(
            "{}/{}",
            resource["resourceType"].as_str().unwrap_or(""),
            resource["id"].as_str().unwrap_or("")
        );
        if let Some(url) = entry["fullUrl"].as_str() {
            by_url.insert(url.to_owned(), key.clone());
        }
        for identifier in resource["identifier"].as_array().into_iter().flatten() {
            if let (Some(system), Some(value)) =
                (identifier["system"].as_str(), identifier["value"].as_str())
            {
                let conditional = format!(
                    "{}?identifier={system}|{value}",
                    resource["resourceType"].as_str().unwrap_or("")
                );
                by_identifier.insert(conditional, key.clone());
            }
        }
    }
    let resources = entries
        .into_iter()
        .map(|mut entry| {
            let mut resource = entry["resource"].take();
            rewrite_references(&mut resource, &|reference| {
                by_url
                    .get(reference)
                    .or_else(|| by_identifier.get(reference))
                    .cloned()
            });
            resource
        })
        .collect();
    Some((dir, resources))
}

fn rewrite_references(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "reference" {
                    if let Some(target) = child.as_str().and_then(lookup) {
                        *child = Value::String(target);
                    }
                } else {
                    rewrite_references(child, lookup);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_references(item, lookup)),
        _ => {}
    }
}

/// A fresh store with `resources` loaded through the R4 engine, the full-text index on.
pub fn loaded(resources: &[Value]) -> (tempfile::TempDir, SqliteStore, SearchEngine) {
    let options = vigil_search::SearchOptions {
        full_text: true,
        ..Default::default()
    };
    let engine = SearchEngine::new(vigil_search::SearchParameterRegistry::r4(), options);
    let (dir, store) = store();
    load(&engine, &store, resources);
    (dir, store, engine)
}

/// The sorted ids matching `query` (at most 100); a search error fails the test.
pub fn ids(
    engine: &SearchEngine,
    store: &SqliteStore,
    resource_type: &str,
    query: &str,
) -> Vec<String> {
    let mut ids = engine
        .matching_ids(store, resource_type, query, 100)
        .unwrap_or_else(|e| panic!("{resource_type}?{query}: {e}"));
    ids.sort();
    ids
}

/// Compares the in-memory matcher with the SQL answers: for every search (type, query, ids the
/// SQL found), every stored resource of the type is matched in memory. Returns the number of
/// (search, resource) comparisons and a line per disagreement.
pub fn matcher_agreement(
    engine: &SearchEngine,
    store: &SqliteStore,
    searches: &[(String, String, std::collections::BTreeSet<String>)],
) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut disagreements = Vec::new();
    let mut types: Vec<&str> = searches.iter().map(|(t, _, _)| t.as_str()).collect();
    types.sort();
    types.dedup();
    for resource_type in types {
        let compiled: Vec<_> = searches
            .iter()
            .filter(|(t, _, _)| t == resource_type)
            .map(|(t, query, ids)| {
                let query_compiled = engine
                    .compile_criteria_in(store, t, query)
                    .unwrap_or_else(|e| panic!("{t}?{query}: {e}"));
                (query, ids, query_compiled)
            })
            .collect();
        let mut context = vigil_search::StoreMatchContext::new(engine, store);
        let mut after: Option<(String, String)> = None;
        loop {
            let key = after.as_ref().map(|(t, i)| (t.as_str(), i.as_str()));
            let page = store.scan(Some(resource_type), key, 500).expect("scan");
            let Some(last) = page.last() else { break };
            after = Some((last.resource_type.clone(), last.id.clone()));
            for version in &page {
                let resource: Value = serde_json::from_str(&version.content).expect("content");
                let mut candidate = vigil_search::Candidate::new(&resource).expect("candidate");
                for (query, ids, query_compiled) in &compiled {
                    let in_memory = query_compiled
                        .matches_candidate(&mut candidate, &mut context)
                        .unwrap_or_else(|e| panic!("{resource_type}?{query}: {e}"));
                    compared += 1;
                    if in_memory != ids.contains(&version.id) {
                        disagreements.push(format!(
                            "{resource_type}?{query}: {} in memory {in_memory}, in SQL {}",
                            version.id, !in_memory
                        ));
                    }
                }
            }
        }
    }
    (compared, disagreements)
}
