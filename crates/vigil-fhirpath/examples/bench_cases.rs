//! Prints, for each peer-benchmark case, one JSON line `{engine, name, evals_per_sec, result}`
//! (the format of the peer runners in `tools/bench-fhirpath/`). Build with `--release`.
//! Usage: `cargo run --release -p vigil-fhirpath --example bench_cases [seconds per case]`.

use std::hint::black_box;
use std::time::{Duration, Instant};
use vigil_fhirpath::{Context, Expression, to_json};

#[path = "../benches/support/cases.rs"]
mod cases;

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let Some((cases, inputs)) = cases::load() else {
        eprintln!("FHIRPath inputs not found (set VIGIL_SHARED)");
        std::process::exit(2);
    };
    for case in &cases {
        let line = match (
            Expression::compile(&case.expression),
            inputs.get(&case.input),
        ) {
            (Ok(expr), Some(resource)) => {
                let ctx = Context::new(resource);
                let result = expr.evaluate(&ctx).map(|r| to_json(&r));
                let budget = Duration::from_secs_f64(seconds);
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < budget {
                    for _ in 0..1000 {
                        let ctx = Context::new(black_box(resource));
                        black_box(expr.evaluate(&ctx).map(|r| r.len()).unwrap_or(0));
                    }
                    n += 1000;
                }
                let rate = n as f64 / start.elapsed().as_secs_f64();
                match result {
                    Ok(r) => {
                        serde_json::json!({"engine": "vigil", "name": case.name, "evals_per_sec": rate, "result": r})
                    }
                    Err(e) => {
                        serde_json::json!({"engine": "vigil", "name": case.name, "evals_per_sec": null, "error": e.to_string()})
                    }
                }
            }
            (Err(e), _) => {
                serde_json::json!({"engine": "vigil", "name": case.name, "evals_per_sec": null, "error": e.to_string()})
            }
            (_, None) => {
                serde_json::json!({"engine": "vigil", "name": case.name, "evals_per_sec": null, "error": "no input"})
            }
        };
        println!("{line}");
    }
}
