//! FHIR R4 search for Vigil.
//!
//! - [`SearchParameterRegistry`]: the 1,400 R4 SearchParameter definitions (generated from the
//!   official package, committed in `vigil-model/schema`) plus custom ones, by resource type.
//! - Index extraction ([`SearchEngine::index_rows`]): each parameter's FHIRPath expression,
//!   compiled once by `vigil-fhirpath`, selects values that become the store's
//!   [`vigil_store::IndexRow`]s, written in the same transaction as the resource.
//! - Typed criteria ([`criteria`]): each filter is parsed once against the registry into a
//!   [`Criterion`] tree (parameter bound, modifier, prefix, typed values, chains and `_has`).
//! - Query compilation: the criteria of a [`SearchRequest`] (type, system or compartment level)
//!   become SQL over the store's `idx_*` tables ([`sql`]), written through the backend's
//!   [`vigil_store::SqlDialect`]; the store runs it through its query hook. Any input compiles
//!   to a bounded statement or is refused as the client's mistake.
//! - In-memory matching ([`matcher`]): the same criteria evaluated against one resource's index
//!   values ([`SearchEngine::compile_criteria`], [`CompiledQuery::matches`]), agreeing with the
//!   SQL by construction; for Subscriptions and CDS rules.
//! - Execution ([`SearchEngine::search`]): keyset paging with opaque cursors, `_sort`,
//!   `_total`, `_include`/`_revinclude` (`:iterate`), chains and `_has`.
//! - Terminology ([`terminology`]): token `:in`/`:not-in`/`:above`/`:below` over the ValueSet
//!   and CodeSystem resources stored in this server, resolved through the same query runner.
//!
//! Architecture invariants: this crate does not know HTTP (the service and API crates build
//! Bundles and links from [`SearchResult`]) and never writes (index rows go to the store with
//! the resource; queries are read-only). SQL text is assembled only from constants and the
//! dialect's templates: every client value is a bound parameter. No backend is named here.

#![deny(missing_docs)]

pub mod criteria;
mod cursor;
pub mod datetime;
mod engine;
mod error;
mod extract;
pub mod full_text;
mod include;
pub mod index;
pub mod matcher;
pub mod normalize;
pub mod query;
pub mod registry;
mod runner;
mod search;
pub mod sql;
pub mod terminology;

pub use criteria::Criterion;
pub use criteria::parse::SearchWarning;
pub use cursor::Cursor;
pub use engine::{SearchEngine, SearchOptions};
pub use error::{SearchError, SearchErrorKind};
pub use extract::{MAX_INDEX_ROWS, SkippedDefinition};
pub use matcher::{Candidate, CompiledQuery, MatchContext, NoContext, StoreMatchContext};
pub use query::{
    Confinement, IncludeSpec, SearchRequest, SearchScope, SortKey, SummaryMode, TotalMode,
};
pub use registry::{BoundParameter, ParamType, SearchParameterDef, SearchParameterRegistry};
pub use runner::{QueryRunner, StoreRunner, TransactionRunner};
pub use search::SearchResult;
