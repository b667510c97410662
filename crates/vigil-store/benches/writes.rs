//! Durable single-resource creates per second on the SQLite backend, at 1 and 16 concurrent
//! writers: each create is one unit of work (version, current row, 8 index rows, outbox event)
//! with ~1 KB of JSON, acknowledged only after its group's COMMIT (fsync) returned.
//!
//! Run: `cargo bench -p vigil-store --bench writes`. After the runs it prints the average batch
//! size and the database bytes per resource. A second group measures point reads (`read` of a
//! random one of 20,000 stored Observations) at 1 and 16 threads, for comparison with writes.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{
    IndexRow, IndexValue, NewVersion, ResourceStore, Store, WriteMethod, write_with,
};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// An Observation of about 1 KB, like a vital sign from a monitor.
fn observation(id: &str) -> String {
    format!(
        r#"{{"resourceType":"Observation","id":"{id}","meta":{{"versionId":"1","lastUpdated":"2024-03-10T03:10:00.000Z"}},"status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}}],"text":"Heart rate"}},"subject":{{"reference":"Patient/bed-12-patient"}},"encounter":{{"reference":"Encounter/admission-2024-0310"}},"effectiveDateTime":"2024-03-10T03:10:00+00:00","issued":"2024-03-10T03:10:01.250+00:00","performer":[{{"reference":"Device/monitor-ward-3-bed-12"}}],"valueQuantity":{{"value":131,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}},"interpretation":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"H","display":"High"}}]}}],"note":[{{"text":"Automatically captured by the bedside monitor; acknowledged after commit."}}],"device":{{"reference":"Device/monitor-ward-3-bed-12"}},"referenceRange":[{{"low":{{"value":51,"unit":"/min"}},"high":{{"value":90,"unit":"/min"}}}}]}}"#
    )
}

fn index_rows() -> Vec<IndexRow> {
    let token = |param: &str, system: &str, code: &str| IndexRow {
        param: param.into(),
        value: IndexValue::Token {
            system: Some(system.into()),
            code: Some(code.into()),
            text: None,
        },
    };
    let reference = |param: &str, target_type: &str, target_id: &str| IndexRow {
        param: param.into(),
        value: IndexValue::Reference {
            target_type: Some(target_type.into()),
            target_id: Some(target_id.into()),
            url: None,
        },
    };
    vec![
        token("code", "http://loinc.org", "8867-4"),
        token(
            "category",
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "vital-signs",
        ),
        token("status", "http://hl7.org/fhir/observation-status", "final"),
        reference("subject", "Patient", "bed-12-patient"),
        reference("patient", "Patient", "bed-12-patient"),
        reference("encounter", "Encounter", "admission-2024-0310"),
        IndexRow {
            param: "date".into(),
            value: IndexValue::Date {
                low: 1_710_040_200_000_000,
                high: 1_710_040_200_999_999,
            },
        },
        IndexRow {
            param: "value-quantity".into(),
            value: IndexValue::Quantity {
                system: Some("http://unitsofmeasure.org".into()),
                code: Some("/min".into()),
                value: 131.0,
                canonical_code: Some("/min".into()),
                canonical_value: Some(131.0),
            },
        },
    ]
}

fn create_one(store: &dyn Store) {
    let id = format!("obs-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let version = NewVersion {
        resource_type: "Observation".into(),
        content: observation(&id),
        id,
        version_id: 1,
        last_updated_micros: 1_710_040_200_000_000,
        method: WriteMethod::Create,
        index: index_rows(),
    };
    black_box(write_with(store, move |tx| tx.put(version)).expect("durable create"));
}

/// Runs `total` creates spread over `threads` writers; returns the wall time.
fn run(store: &SqliteStore, threads: u64, total: u64) -> Duration {
    let started = Instant::now();
    thread::scope(|scope| {
        for thread_no in 0..threads {
            let share = total / threads + u64::from(thread_no < total % threads);
            scope.spawn(move || {
                for _ in 0..share {
                    create_one(store);
                }
            });
        }
    });
    started.elapsed()
}

fn durable_creates(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_creates");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for threads in [1u64, 16] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| run(&store, threads, iters));
            },
        );
        let stats = store.write_stats();
        let units = stats.units_committed.max(1);
        let batch = units as f64 / stats.commits.max(1) as f64;
        store.checkpoint().expect("checkpoint");
        let bytes = std::fs::metadata(dir.path().join("vigil.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "threads={threads}: {units} creates in {} commits (average batch {batch:.1}); database {:.0} bytes per resource",
            stats.commits,
            bytes as f64 / units as f64
        );
        store.close().expect("close");
    }
    group.finish();
}

/// Runs `total` reads of random stored resources spread over `threads` readers.
fn run_reads(store: &SqliteStore, stored: u64, threads: u64, total: u64) -> Duration {
    let started = Instant::now();
    thread::scope(|scope| {
        for thread_no in 0..threads {
            let share = total / threads + u64::from(thread_no < total % threads);
            scope.spawn(move || {
                // A cheap deterministic spread over the stored ids (no rand dependency).
                let mut x = thread_no.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for _ in 0..share {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let id = format!("obs-{}", x % stored);
                    black_box(
                        store
                            .read("Observation", &id)
                            .expect("read")
                            .expect("stored"),
                    );
                }
            });
        }
    });
    started.elapsed()
}

fn point_reads(c: &mut Criterion) {
    const STORED: u64 = 20_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    NEXT_ID.store(0, Ordering::Relaxed);
    run(&store, 16, STORED);
    let mut group = c.benchmark_group("point_reads");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for threads in [1u64, 16] {
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| run_reads(&store, STORED, threads, iters));
            },
        );
    }
    group.finish();
    store.close().expect("close");
}

criterion_group!(benches, durable_creates, point_reads);
criterion_main!(benches);
