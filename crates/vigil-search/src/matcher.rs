//! In-memory evaluation of a search against one resource: the same typed [`Criterion`]s the
//! SQL is rendered from, tested against the index values the resource would be stored with
//! (extracted by the same programs), so a resource matches in memory exactly when the search
//! would find it in the store. This is what Subscriptions and CDS rules use to test one
//! changed resource without querying the store for it.
//!
//! Chains and `_has` need other resources: they are read through a [`MatchContext`] that the
//! caller implements over its store ([`StoreMatchContext`] does it over committed data).
//!
//! What the in-memory form fixes when compiled: `ap` on dates is anchored at the compile time,
//! and the terminology sets of `:in`/`:not-in`/`:above`/`:below` are resolved then (only by
//! [`crate::SearchEngine::compile_criteria_in`], which reads them from the store; without a
//! store those modifiers are refused). `_content`/`_text` read the resource's words as
//! [`crate::full_text`] defines them, the same function that wrote the full-text index.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use vigil_store::{IndexRow, IndexValue, SqlValue, Store, StoredVersion, Transaction};

use crate::criteria::Criterion;
use crate::criteria::parse::SearchWarning;
use crate::engine::SearchEngine;
use crate::error::{SearchError, SearchErrorKind};
use crate::extract::Extractor;
use crate::runner::{QueryRunner, StoreRunner, TransactionRunner};
use crate::sql::clause::Table;

/// The other resources chains and `_has` look at.
pub trait MatchContext {
    /// The current, non-deleted resource `resource_type/id`, if any.
    fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<Value>, SearchError>;
    /// The current, non-deleted resources of `source_type` whose reference parameter `param`
    /// points at `target_type/target_id` (as their index rows say).
    fn referencing(
        &mut self,
        source_type: &str,
        param: &str,
        target_type: &str,
        target_id: &str,
    ) -> Result<Vec<Value>, SearchError>;
}

/// No other resources: a chain or `_has` is an error (`Unsupported`), never a guess.
pub struct NoContext;

impl MatchContext for NoContext {
    fn read(&mut self, resource_type: &str, _id: &str) -> Result<Option<Value>, SearchError> {
        Err(SearchError::unsupported(
            resource_type,
            "chains need other resources, and no store was given to read them",
        ))
    }

    fn referencing(
        &mut self,
        source_type: &str,
        _param: &str,
        _target_type: &str,
        _target_id: &str,
    ) -> Result<Vec<Value>, SearchError> {
        Err(SearchError::unsupported(
            source_type,
            "_has needs other resources, and no store was given to read them",
        ))
    }
}

/// Other resources read from a store through its SQL hook: committed data, or inside a unit of
/// work (so a rule evaluated during a write sees what the unit already wrote).
pub struct StoreMatchContext<'a> {
    runner: Box<dyn QueryRunner + 'a>,
    columns: &'a str,
}

impl<'a> StoreMatchContext<'a> {
    /// A context over the committed data of `store`, with the engine's dialect.
    pub fn new(engine: &'a SearchEngine, store: &'a dyn Store) -> Self {
        StoreMatchContext {
            runner: Box::new(StoreRunner(store)),
            columns: engine.dialect().resource_columns(),
        }
    }

    /// A context inside a unit of work.
    pub fn in_transaction(engine: &'a SearchEngine, transaction: &'a mut dyn Transaction) -> Self {
        StoreMatchContext {
            runner: Box::new(TransactionRunner(transaction)),
            columns: engine.dialect().resource_columns(),
        }
    }

    fn select(&mut self, condition: &str, params: &[SqlValue]) -> Result<Vec<Value>, SearchError> {
        let sql = format!(
            "SELECT {} FROM resource r WHERE r.deleted = 0 AND {condition}",
            self.columns
        );
        self.runner
            .resources(&sql, params)?
            .iter()
            .map(parse_content)
            .collect()
    }
}

impl MatchContext for StoreMatchContext<'_> {
    fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<Value>, SearchError> {
        let params = [SqlValue::from(resource_type), SqlValue::from(id)];
        Ok(self
            .select("r.type = $1 AND r.id = $2", &params)?
            .into_iter()
            .next())
    }

    fn referencing(
        &mut self,
        source_type: &str,
        param: &str,
        target_type: &str,
        target_id: &str,
    ) -> Result<Vec<Value>, SearchError> {
        let params = [param, source_type, target_id, target_type].map(SqlValue::from);
        self.select(
            "r.rid IN (SELECT i.rid FROM idx_reference i WHERE i.param = $1 AND i.type = $2 \
             AND i.target_id = $3 AND i.target_type = $4)",
            &params,
        )
    }
}

fn parse_content(row: &StoredVersion) -> Result<Value, SearchError> {
    serde_json::from_str(&row.content).map_err(|error| {
        SearchError::internal(
            SearchErrorKind::Store,
            format!(
                "stored content of {}/{}: {error}",
                row.resource_type, row.id
            ),
        )
    })
}

/// One resource being matched, with the index rows extracted for it so far (reuse it to test
/// several queries against the same resource).
pub struct Candidate<'v> {
    resource_type: String,
    id: String,
    resource: &'v Value,
    rows: HashMap<String, Vec<IndexRow>>,
}

impl<'v> Candidate<'v> {
    /// A resource (with `resourceType` and `id`).
    pub fn new(resource: &'v Value) -> Result<Self, SearchError> {
        let text = |key: &str| {
            resource
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    SearchError::new(
                        SearchErrorKind::MalformedValue,
                        None,
                        format!("the resource to match has no {key}"),
                    )
                })
        };
        Ok(Candidate {
            resource_type: text("resourceType")?,
            id: text("id")?,
            resource,
            rows: HashMap::new(),
        })
    }

    /// Its resource type.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// Its index rows named `param` (derived rows such as `subject:identifier` included).
    fn rows(&mut self, extractor: &Extractor, param: &str) -> Result<&[IndexRow], SearchError> {
        let code = param.split(':').next().unwrap_or(param);
        if !self.rows.contains_key(code) {
            let rows = extractor.parameter_rows(&self.resource_type, code, self.resource)?;
            self.rows.insert(code.to_owned(), rows);
        }
        Ok(self.rows.get(code).map_or(&[], Vec::as_slice))
    }
}

/// A search compiled for in-memory matching ([`crate::SearchEngine::compile_criteria`]).
pub struct CompiledQuery {
    pub(crate) resource_type: String,
    pub(crate) criteria: Vec<Criterion>,
    pub(crate) warnings: Vec<SearchWarning>,
    pub(crate) extractor: Arc<Extractor>,
}

impl CompiledQuery {
    /// The searched type.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The typed criteria (ANDed).
    pub fn criteria(&self) -> &[Criterion] {
        &self.criteria
    }

    /// Parameters that were ignored (empty or unknown under lenient handling).
    pub fn warnings(&self) -> &[SearchWarning] {
        &self.warnings
    }

    /// Whether `resource` (current, not deleted) matches: exactly when the search would find
    /// it in the store.
    pub fn matches(
        &self,
        resource: &Value,
        context: &mut dyn MatchContext,
    ) -> Result<bool, SearchError> {
        self.matches_candidate(&mut Candidate::new(resource)?, context)
    }

    /// [`Self::matches`] for a [`Candidate`] whose extracted rows are kept between calls.
    pub fn matches_candidate(
        &self,
        candidate: &mut Candidate<'_>,
        context: &mut dyn MatchContext,
    ) -> Result<bool, SearchError> {
        if candidate.resource_type != self.resource_type {
            return Ok(false);
        }
        for criterion in &self.criteria {
            if !self.evaluate(criterion, candidate, context)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn evaluate(
        &self,
        criterion: &Criterion,
        candidate: &mut Candidate<'_>,
        context: &mut dyn MatchContext,
    ) -> Result<bool, SearchError> {
        match criterion {
            Criterion::Id(ids) => Ok(ids.contains(&candidate.id)),
            Criterion::Rows(rows) => {
                let mut found = false;
                for param in &rows.params {
                    let values = candidate.rows(&self.extractor, param)?;
                    found |= values.iter().any(|row| {
                        row.param == *param
                            && in_table(rows.table, &row.value)
                            && rows.test.matches(&row.value)
                    });
                }
                Ok(found != rows.negated)
            }
            Criterion::Chain {
                code,
                targets,
                inner,
            } => self.chain(code, targets, inner, candidate, context),
            Criterion::Has {
                source_type,
                reference,
                inner,
            } => {
                let sources = context.referencing(
                    source_type,
                    reference,
                    &candidate.resource_type,
                    &candidate.id,
                )?;
                for source in &sources {
                    if self.evaluate(inner, &mut Candidate::new(source)?, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Criterion::All(list) => {
                for criterion in list {
                    if !self.evaluate(criterion, candidate, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Criterion::PerType(list) => {
                let Some((_, criteria)) = list
                    .iter()
                    .find(|(resource_type, _)| *resource_type == candidate.resource_type)
                else {
                    return Ok(false);
                };
                for criterion in criteria {
                    if !self.evaluate(criterion, candidate, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Criterion::Content { narrative, phrases } => {
                let text = if *narrative {
                    crate::full_text::narrative_words(candidate.resource)
                } else {
                    Some(crate::full_text::content_words(candidate.resource))
                };
                Ok(text.is_some_and(|text| {
                    phrases
                        .iter()
                        .any(|phrase| crate::full_text::contains_phrase(&text, phrase))
                }))
            }
        }
    }
}

impl CompiledQuery {
    /// A reference row of `code` points at a current resource of `targets` matching `inner`.
    fn chain(
        &self,
        code: &str,
        targets: &[String],
        inner: &Criterion,
        candidate: &mut Candidate<'_>,
        context: &mut dyn MatchContext,
    ) -> Result<bool, SearchError> {
        let references: Vec<(String, String)> = candidate
            .rows(&self.extractor, code)?
            .iter()
            .filter(|row| row.param == code)
            .filter_map(|row| match &row.value {
                IndexValue::Reference {
                    target_type: Some(t),
                    target_id: Some(id),
                    ..
                } if targets.contains(t) => Some((t.clone(), id.clone())),
                _ => None,
            })
            .collect();
        for (target_type, id) in references {
            if let Some(target) = context.read(&target_type, &id)? {
                let mut target = Candidate::new(&target)?;
                if self.evaluate(inner, &mut target, context)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Whether an index value is stored in `table`.
fn in_table(table: Table, value: &IndexValue) -> bool {
    matches!(
        (table, value),
        (Table::String, IndexValue::String { .. })
            | (Table::Token, IndexValue::Token { .. })
            | (Table::Date, IndexValue::Date { .. })
            | (Table::Number, IndexValue::Number { .. })
            | (Table::Quantity, IndexValue::Quantity { .. })
            | (Table::Reference, IndexValue::Reference { .. })
            | (Table::Uri, IndexValue::Uri(_))
    )
}
