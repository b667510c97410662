//! Throughput of parse + validate + serialize over the R4 examples (MB/s of FHIR JSON).
//!
//! Reads the official package from `$VIGIL_SHARED` (see tests/common/corpus.rs); skips with a
//! message when it is absent. Each stage is also measured alone to show where time goes.

#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_model::{json, validate};

fn bench(c: &mut Criterion) {
    let Some(package) = corpus::package_dir("bench") else {
        return;
    };
    let examples: Vec<Vec<u8>> = corpus::examples(&package)
        .into_iter()
        .map(|e| e.bytes)
        .collect();
    let total: usize = examples.iter().map(Vec::len).sum();
    let parsed: Vec<serde_json::Value> = examples
        .iter()
        .filter_map(|b| json::parse(b).ok())
        .collect();
    eprintln!("{} examples, {:.1} MB", examples.len(), total as f64 / 1e6);
    vigil_model::schema::r4();

    let mut group = c.benchmark_group("r4-examples");
    group.throughput(Throughput::Bytes(total as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("parse+validate+serialize", |b| {
        b.iter(|| {
            for bytes in &examples {
                if let Ok(value) = json::parse(bytes) {
                    black_box(validate::validate_resource(&value));
                    black_box(json::to_vec(&value));
                }
            }
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| {
            for bytes in &examples {
                black_box(json::parse(bytes).ok());
            }
        })
    });
    // Peer in the same run: serde_json's own Value parsing (no duplicate-key check).
    group.bench_function("parse (serde_json::from_slice peer)", |b| {
        b.iter(|| {
            for bytes in &examples {
                black_box(serde_json::from_slice::<serde_json::Value>(bytes).ok());
            }
        })
    });
    group.bench_function("validate", |b| {
        b.iter(|| {
            for value in &parsed {
                black_box(validate::validate_resource(value));
            }
        })
    });
    group.bench_function("serialize", |b| {
        b.iter(|| {
            for value in &parsed {
                black_box(json::to_vec(value));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
