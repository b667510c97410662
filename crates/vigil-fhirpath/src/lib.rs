//! FHIRPath N1 over FHIR R4 JSON: parser, compiler, evaluator. Pure: no I/O.
//!
//! ```
//! use vigil_fhirpath::{Context, Expression};
//! let patient = serde_json::json!({
//!     "resourceType": "Patient",
//!     "name": [{"use": "official", "family": "Chalmers", "given": ["Peter"]}]
//! });
//! let expr = Expression::compile("Patient.name.where(use = 'official').family").unwrap();
//! let ctx = Context::new(&patient);
//! let result = expr.evaluate(&ctx).unwrap();
//! assert_eq!(vigil_fhirpath::to_json(&result), serde_json::json!(["Chalmers"]));
//! ```
//!
//! # Shape
//!
//! - [`Expression::compile`] runs the lexer ([`lexer`]), the precedence-climbing parser
//!   ([`parser`]) and the compiler (`compile`), which resolves function names and parses
//!   literals once. Errors are [`ParseError`]s with line:column and what was expected.
//! - [`Expression::evaluate`] walks the program over a [`Context`] (resource, root resource,
//!   variables, hooks) and returns a [`Collection`] of [`Item`]s that borrow the input JSON.
//! - Type information comes through the [`TypeModel`] trait: [`SchemaModel`] (the default)
//!   reads `vigil-model`'s generated R4 schema; [`BasicModel`] knows only the data types and
//!   resource hierarchy, enough for choice elements and untyped JSON.
//! - Decimals are exact (`rust_decimal`), keep their written precision, and UCUM quantities
//!   convert for comparison ([`ucum`]). Dates keep their precision ([`temporal`]).
//!
//! Architecture invariant: this crate performs no I/O. References outside the input resolve
//! through [`ResolveHook`], terminology through [`TerminologyHook`], traces go to
//! [`TraceHook`].

#![deny(missing_docs)]

mod ast;
mod compile;
mod context;
mod error;
mod eval;
mod functions;
mod lexer;
mod model;
mod output;
mod parser;
mod schema_model;
mod strict;
pub mod temporal;
mod typed;
pub mod ucum;
mod value;

pub use context::{CodeRef, Context, ResolveHook, TerminologyHook, TraceHook};
pub use error::{EvalError, EvalErrorKind, ParseError, ParseErrorKind, Position};
pub use functions::Func;
pub use model::{BasicModel, ElementType, TypeModel};
pub use output::{item_to_json, to_json};
pub use schema_model::SchemaModel;
pub use temporal::{Precision, Temporal, TemporalKind};
pub use typed::Coding;
pub use value::{Collection, Item, Node, Quantity, Text};

use regex::Regex;
use std::collections::HashMap;
use std::sync::Mutex;

/// Compiled regular expressions, shared by every evaluation of one expression: one map for
/// `matches`/`replaceMatches` and one for `matchesFull`, looked up by `&str` (no allocation).
#[derive(Debug, Default)]
pub(crate) struct RegexCache(Mutex<[HashMap<String, Regex>; 2]>);

/// Compiled size limit of a regular expression from an expression or its input.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Most patterns kept per expression (patterns computed from data could be many).
const REGEX_CACHE_LIMIT: usize = 256;

impl RegexCache {
    pub(crate) fn get(&self, pattern: &str, full: bool) -> Result<Regex, regex::Error> {
        let slot = usize::from(full);
        if let Ok(maps) = self.0.lock()
            && let Some(r) = maps[slot].get(pattern)
        {
            return Ok(r.clone());
        }
        let src = if full {
            format!("^(?:{pattern})$")
        } else {
            pattern.to_owned()
        };
        let re = regex::RegexBuilder::new(&src)
            .dot_matches_new_line(true)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()?;
        if let Ok(mut maps) = self.0.lock()
            && maps[slot].len() < REGEX_CACHE_LIMIT
        {
            maps[slot].insert(pattern.to_owned(), re.clone());
        }
        Ok(re)
    }
}

/// A compiled FHIRPath expression: compile once, evaluate many times (also across threads).
#[derive(Debug)]
pub struct Expression {
    source: String,
    program: compile::Node,
    regexes: RegexCache,
}

impl Expression {
    /// Parses and compiles an expression.
    pub fn compile(source: &str) -> Result<Expression, ParseError> {
        let ast = parser::parse(source)?;
        let program = compile::compile(&ast)?;
        Ok(Expression {
            source: source.to_owned(),
            program,
            regexes: RegexCache::default(),
        })
    }

    /// Strict mode: checks statically, against the FHIR type the expression will be evaluated
    /// on (`Patient`, `Observation.component`), that every path step exists, choice elements are
    /// used by their base name, `as` names a possible type, and order-dependent functions do
    /// not follow `children()` / `descendants()`.
    pub fn check(&self, context_type: &str) -> Result<(), ParseError> {
        self.check_with(default_model(), context_type)
    }

    /// [`Expression::check`] with another type model.
    pub fn check_with(&self, model: &dyn TypeModel, context_type: &str) -> Result<(), ParseError> {
        let types = model.fhir_type(context_type).map(|t| vec![t]);
        strict::Checker { model }.check(&self.program, &strict::Shape0(types))
    }

    /// The expression text as compiled.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against a context. Items in the result borrow the context's JSON.
    pub fn evaluate<'a>(&'a self, ctx: &'a Context<'a>) -> Result<Collection<'a>, EvalError> {
        let ev = eval::Evaluator::new(ctx, &self.regexes);
        let focus = ev.initial_focus();
        ev.eval(&self.program, &focus, &eval::Frame::default())
    }

    /// Evaluates and renders the result as one JSON array.
    pub fn evaluate_json(&self, ctx: &Context<'_>) -> Result<serde_json::Value, EvalError> {
        // A shorter-lived context view is enough: the JSON result owns its data.
        let r = self.evaluate(ctx)?;
        Ok(to_json(&r))
    }
}

/// The type model used when the context does not name one: the R4 schema model.
pub fn default_model() -> &'static dyn TypeModel {
    static MODEL: std::sync::OnceLock<SchemaModel> = std::sync::OnceLock::new();
    MODEL.get_or_init(SchemaModel::r4)
}
