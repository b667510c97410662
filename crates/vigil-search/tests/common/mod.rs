//! Shared helpers of the integration tests: a store in a temporary directory and a loader
//! that writes resources with their index rows, as the service does.

#![allow(dead_code)]

use serde_json::Value;
use vigil_search::SearchEngine;
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{NewVersion, Store, WriteMethod};

/// A fresh store.
pub fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open store");
    (dir, store)
}

/// Writes resources (version 1, or the next version when `id` exists) with their index rows,
/// in batches of one transaction each.
pub fn load(engine: &SearchEngine, store: &SqliteStore, resources: &[Value]) {
    for chunk in resources.chunks(500) {
        let versions: Vec<NewVersion> = chunk
            .iter()
            .map(|resource| {
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
