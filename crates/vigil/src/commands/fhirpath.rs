//! `vigil fhirpath [--resource FILE] [--var NAME=JSON]... [--] EXPRESSION`: evaluates a FHIRPath
//! expression and prints the result collection as one JSON array on stdout. Syntax and
//! evaluation errors print one line naming the position on stderr and exit with status 1.
//! `trace()` output goes to stderr.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_fhirpath::{Context, Expression, TraceHook};

/// Arguments of `vigil fhirpath`.
#[derive(clap::Args, Debug)]
pub struct FhirpathArgs {
    /// JSON file to evaluate against (a FHIR resource, or any JSON object, evaluated untyped);
    /// without it the expression runs against an empty context.
    #[arg(long)]
    resource: Option<PathBuf>,
    /// A variable for `%NAME`, as NAME=JSON (e.g. `--var limit=100`, `--var 'unit="mg"'`).
    #[arg(long = "var", value_name = "NAME=JSON")]
    vars: Vec<String>,
    /// The FHIRPath expression.
    #[arg(allow_hyphen_values = true)]
    expression: String,
}

/// Prints `trace()` calls on stderr.
struct StderrTrace;

impl TraceHook for StderrTrace {
    fn trace(&self, name: &str, values: &serde_json::Value) {
        eprintln!("trace {name}: {values}");
    }
}

fn fail(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("vigil fhirpath: {message}");
    Ok(ExitCode::from(1))
}

/// Runs the command.
pub fn run(args: FhirpathArgs) -> anyhow::Result<ExitCode> {
    let expr = match Expression::compile(&args.expression) {
        Ok(e) => e,
        Err(e) => return fail(format_args!("syntax error at {e}")),
    };
    let resource = match &args.resource {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return fail(format_args!("cannot read {}: {e}", path.display())),
            };
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => Some(v),
                Err(e) => return fail(format_args!("{} is not JSON: {e}", path.display())),
            }
        }
        None => None,
    };
    let mut vars = Vec::with_capacity(args.vars.len());
    for spec in &args.vars {
        let Some((name, json)) = spec.split_once('=') else {
            return fail(format_args!("--var {spec}: expected NAME=JSON"));
        };
        match serde_json::from_str::<serde_json::Value>(json) {
            Ok(v) => vars.push((name.to_owned(), v)),
            Err(e) => return fail(format_args!("--var {name}: invalid JSON ({e})")),
        }
    }
    let tracer = StderrTrace;
    let mut ctx = match &resource {
        Some(r) => Context::new(r),
        None => Context::empty(),
    };
    ctx = ctx.tracer(&tracer);
    for (name, value) in &vars {
        ctx = ctx.variable(name, value);
    }
    let result = match expr.evaluate(&ctx) {
        Ok(r) => r,
        Err(e) => return fail(format_args!("evaluation error at {e}")),
    };
    let json = vigil_fhirpath::to_json(&result);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{json}").context("writing the result")?;
    Ok(ExitCode::SUCCESS)
}
