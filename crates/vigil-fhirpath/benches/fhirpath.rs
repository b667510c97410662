//! Criterion benchmark: evaluations of the 20 peer-benchmark expressions
//! (`tools/bench-fhirpath/cases.json`), each compiled once, over the FHIRPath suite's example
//! resources. `tools/bench-fhirpath/run.sh` runs the peers on the same cases.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_fhirpath::{Context, Expression};

#[path = "support/cases.rs"]
mod cases;

fn bench(c: &mut Criterion) {
    let Some((cases, inputs)) = cases::load() else {
        eprintln!("skipping: FHIRPath inputs not found (set VIGIL_SHARED)");
        return;
    };
    let mut group = c.benchmark_group("fhirpath");
    for case in &cases {
        let Ok(expr) = Expression::compile(&case.expression) else {
            continue;
        };
        let Some(resource) = inputs.get(&case.input) else {
            continue;
        };
        group.bench_function(&case.name, |b| {
            b.iter(|| {
                let ctx = Context::new(black_box(resource));
                black_box(expr.evaluate(&ctx).map(|r| r.len()).unwrap_or(0))
            })
        });
    }
    group.bench_function("compile_official_family", |b| {
        b.iter(|| Expression::compile(black_box("Patient.name.where(use='official').family")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
