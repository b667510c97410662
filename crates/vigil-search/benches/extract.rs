//! Index extraction throughput over the three Synthea sample bundles (criterion).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use vigil_search::SearchEngine;

fn samples() -> Vec<Value> {
    let dir = match std::env::var_os("VIGIL_SHARED") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
    .join("data/synthea/sample");
    let mut resources = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let Ok(bundle) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        for item in bundle["entry"].as_array().into_iter().flatten() {
            resources.push(item["resource"].clone());
        }
    }
    resources
}

fn extraction(c: &mut Criterion) {
    let engine = SearchEngine::r4();
    let resources = samples();
    if resources.is_empty() {
        println!("skipping: Synthea samples not found (set VIGIL_SHARED)");
        return;
    }
    let mut group = c.benchmark_group("index_rows");
    group.throughput(Throughput::Elements(resources.len() as u64));
    group.bench_function("synthea samples", |b| {
        b.iter(|| {
            let mut rows = 0;
            for resource in &resources {
                let resource_type = resource["resourceType"].as_str().unwrap_or_default();
                rows += engine
                    .index_rows(resource_type, resource)
                    .map(|r| r.len())
                    .unwrap_or(0);
            }
            rows
        })
    });
    group.finish();
}

criterion_group!(benches, extraction);
criterion_main!(benches);
