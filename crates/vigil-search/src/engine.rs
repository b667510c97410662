//! [`SearchEngine`]: the registry and its compiled extraction programs, built once and shared
//! by every thread; the entry points the service calls.

use std::sync::Arc;

use serde_json::Value;
use vigil_store::{IndexRow, SqlDialect, Store, Transaction};

use crate::criteria::parse::Parser;
use crate::error::SearchError;
use crate::extract::{Extractor, SkippedDefinition};
use crate::matcher::CompiledQuery;
use crate::query::{Confinement, SearchRequest, SearchScope, TotalMode};
use crate::registry::SearchParameterRegistry;
use crate::runner::{QueryRunner, StoreRunner, TransactionRunner};
use crate::search::{self, SearchResult};
use crate::terminology::{self, Expansions};

/// Limits of result pages.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Page size without `_count`.
    pub default_count: usize,
    /// Largest `_count` honoured.
    pub max_count: usize,
    /// Most resources `_include`/`_revinclude` add to one page.
    pub max_include: usize,
    /// Rounds of `:iterate` includes.
    pub max_iterations: usize,
    /// `_total` when the client does not say (`None`: no total; `Accurate`: count the first
    /// page's matches).
    pub default_total: TotalMode,
    /// Whether resources get a full-text row and `_content`/`_text` are served from it. Off,
    /// those parameters are refused (400) rather than scanning every resource. A database
    /// setting (`full-text`), read by the service when it opens the store.
    pub full_text: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            default_count: 50,
            max_count: 1000,
            max_include: 1000,
            max_iterations: 3,
            default_total: TotalMode::Accurate,
            full_text: false,
        }
    }
}

/// Search over the store: index extraction at write time, query compilation and execution.
pub struct SearchEngine {
    registry: SearchParameterRegistry,
    extractor: Arc<Extractor>,
    options: SearchOptions,
    dialect: Arc<dyn SqlDialect>,
}

impl SearchEngine {
    /// The engine over the 1,400 R4 definitions.
    pub fn r4() -> Self {
        Self::new(SearchParameterRegistry::r4(), SearchOptions::default())
    }

    /// An engine over a registry (R4 plus custom SearchParameters); compiles every expression.
    /// Its SQL is written for the embedded store ([`vigil_store::dialect::embedded`]); another
    /// backend sets its own with [`Self::with_dialect`].
    pub fn new(registry: SearchParameterRegistry, options: SearchOptions) -> Self {
        let extractor = Arc::new(Extractor::new(&registry));
        SearchEngine {
            registry,
            extractor,
            options,
            dialect: vigil_store::dialect::embedded(),
        }
    }

    /// The same engine writing SQL for the backend whose dialect is `dialect`.
    pub fn with_dialect(mut self, dialect: Arc<dyn SqlDialect>) -> Self {
        self.dialect = dialect;
        self
    }

    /// The SQL dialect of the backend the engine's queries run on.
    pub fn dialect(&self) -> &dyn SqlDialect {
        self.dialect.as_ref()
    }

    /// The registry.
    pub fn registry(&self) -> &SearchParameterRegistry {
        &self.registry
    }

    /// The options.
    pub fn options(&self) -> &SearchOptions {
        &self.options
    }

    /// Definitions whose expressions did not compile (they index nothing).
    pub fn skipped_definitions(&self) -> &[SkippedDefinition] {
        self.extractor.skipped()
    }

    /// The index rows of one search parameter of a resource (e.g. the compartment
    /// parameters an export checks), without extracting the others.
    pub fn parameter_rows(
        &self,
        resource_type: &str,
        code: &str,
        resource: &Value,
    ) -> Result<Vec<IndexRow>, SearchError> {
        self.extractor.parameter_rows(resource_type, code, resource)
    }

    /// The index rows of a resource about to be stored.
    pub fn index_rows(
        &self,
        resource_type: &str,
        resource: &Value,
    ) -> Result<Vec<IndexRow>, SearchError> {
        self.extractor
            .index_rows(resource_type, resource, self.options.full_text)
    }

    pub(crate) fn extractor(&self) -> &Extractor {
        &self.extractor
    }

    /// Ids of current resources of `resource_type` matching `query` (a URL query string), at
    /// most `limit`, for conditional create/update/delete. Unknown parameters and parameters
    /// with an empty value are errors here (ignoring one would widen a conditional delete), and
    /// result parameters are ignored.
    pub fn matching_ids(
        &self,
        store: &dyn Store,
        resource_type: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<String>, SearchError> {
        self.ids(&mut StoreRunner(store), resource_type, query, limit, None)
    }

    /// [`Self::matching_ids`] confined to a compartment (see [`Confinement`]) when one is
    /// given.
    pub fn matching_ids_confined(
        &self,
        store: &dyn Store,
        resource_type: &str,
        query: &str,
        limit: usize,
        confine: Option<&Confinement>,
    ) -> Result<Vec<String>, SearchError> {
        self.ids(
            &mut StoreRunner(store),
            resource_type,
            query,
            limit,
            confine,
        )
    }

    /// [`Self::matching_ids_confined`] inside a unit of work (sees its uncommitted writes).
    pub fn matching_ids_in(
        &self,
        transaction: &mut dyn Transaction,
        resource_type: &str,
        query: &str,
        limit: usize,
        confine: Option<&Confinement>,
    ) -> Result<Vec<String>, SearchError> {
        self.ids(
            &mut TransactionRunner(transaction),
            resource_type,
            query,
            limit,
            confine,
        )
    }

    fn ids(
        &self,
        runner: &mut dyn QueryRunner,
        resource_type: &str,
        query: &str,
        limit: usize,
        confine: Option<&Confinement>,
    ) -> Result<Vec<String>, SearchError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let parsed = criteria_request(resource_type, query)?;
        // A search ignores a parameter with an empty value; a conditional interaction would
        // then match more than its author wrote, so it is refused instead.
        if let Some((name, _)) = parsed
            .filters
            .iter()
            .find(|(_, value)| crate::criteria::parse::non_empty(value).is_empty())
        {
            return Err(SearchError::malformed(
                name,
                format!("'{name}' has no value; conditional criteria must not be empty"),
            ));
        }
        let mut request = SearchRequest::new(parsed.scope);
        request.filters = parsed.filters;
        request.strict = true;
        request.count = Some(limit);
        request.total = Some(TotalMode::None);
        request.confine = confine.cloned();
        let result = search::run(self, runner, &request, limit)?;
        Ok(result
            .matches
            .into_iter()
            .map(|version| version.id)
            .collect())
    }

    /// A type-level search (`query` as a URL query string) compiled for in-memory matching
    /// ([`CompiledQuery::matches`]). Unknown parameters are errors (a criterion that silently
    /// matched more would be wrong for a Subscription), result parameters are ignored, and the
    /// terminology modifiers (`:in`, `:not-in`, `:above`, `:below`) are refused: use
    /// [`Self::compile_criteria_in`] to resolve them from a store.
    pub fn compile_criteria(
        &self,
        resource_type: &str,
        query: &str,
    ) -> Result<CompiledQuery, SearchError> {
        self.compile(
            criteria_request(resource_type, query)?,
            Expansions::default(),
        )
    }

    /// [`Self::compile_criteria`] with the terminology sets of `:in`, `:not-in`, `:above` and
    /// `:below` read from the ValueSets and CodeSystems in `store` now (a later change to them
    /// needs a new compilation).
    pub fn compile_criteria_in(
        &self,
        store: &dyn Store,
        resource_type: &str,
        query: &str,
    ) -> Result<CompiledQuery, SearchError> {
        let request = criteria_request(resource_type, query)?;
        let expansions =
            terminology::resolve(&mut StoreRunner(store), self.dialect(), &request.filters)?;
        self.compile(request, expansions)
    }

    fn compile(
        &self,
        request: SearchRequest,
        expansions: Expansions,
    ) -> Result<CompiledQuery, SearchError> {
        let resource_type = match &request.scope {
            SearchScope::Type(resource_type) => resource_type.clone(),
            _ => return Err(SearchError::malformed("_type", "criteria are type-level")),
        };
        let (types, mut criteria) = search::scope(self, &request)?;
        let mut parser = Parser::new(&self.registry, now_micros(), true)
            .with_expansions(expansions)
            .with_full_text(self.options.full_text);
        criteria.extend(parser.parse_filters(&types, &request.filters)?);
        Ok(CompiledQuery {
            resource_type,
            criteria,
            warnings: parser.warnings,
            extractor: Arc::clone(&self.extractor),
        })
    }

    /// The SQL (and bound values) of the page query a request runs, e.g. for `EXPLAIN QUERY PLAN`.
    pub fn page_sql(
        &self,
        request: &SearchRequest,
    ) -> Result<(String, Vec<vigil_store::SqlValue>), SearchError> {
        let count = request
            .count
            .unwrap_or(self.options.default_count)
            .min(self.options.max_count);
        search::page_sql(self, request, count)
    }

    /// Runs a search over committed data.
    pub fn search(
        &self,
        store: &dyn Store,
        request: &SearchRequest,
    ) -> Result<SearchResult, SearchError> {
        let count = request
            .count
            .unwrap_or(self.options.default_count)
            .min(self.options.max_count);
        search::run(self, &mut StoreRunner(store), request, count)
    }
}

/// A type-level criteria query, parsed strictly (unknown parameters are errors).
fn criteria_request(resource_type: &str, query: &str) -> Result<SearchRequest, SearchError> {
    SearchRequest::from_query(SearchScope::Type(resource_type.to_owned()), query, true)
}

/// Now, in microseconds since the epoch (anchors `ap` on dates).
pub(crate) use vigil_model::instant::now_micros;
