//! Running a [`SearchRequest`]: scope and filters compiled to one WHERE clause, the page read
//! in keyset order, the total counted, includes added, cursors for `next`/`previous` made.

use vigil_store::{IndexValue, SqlValue, StoredVersion};

use crate::criteria::Criterion;
use crate::criteria::parse::{self, Parser, SearchWarning};
use crate::cursor::Cursor;
use crate::engine::{SearchEngine, now_micros};
use crate::error::{SearchError, SearchErrorKind};
use crate::include;
use crate::query::{SearchRequest, SearchScope, SummaryMode, TotalMode};
use crate::runner::QueryRunner;
use crate::sql::clause::render_where;
use crate::sql::fragment::Fragment;
use crate::sql::render;
use crate::sql::sort::{SortColumn, keyset, order_by};
use crate::terminology::{self, Expansions};

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The page of matches (`search.mode = match`), in order.
    pub matches: Vec<StoredVersion>,
    /// Resources added by `_include`/`_revinclude` (`search.mode = include`).
    pub included: Vec<StoredVersion>,
    /// Number of matches over all pages, when computed.
    pub total: Option<u64>,
    /// Ignored parameters, for an OperationOutcome in the Bundle.
    pub warnings: Vec<SearchWarning>,
    /// Cursor of the next page (`_cursor=` in the `next` link), when there is one.
    pub next_cursor: Option<String>,
    /// Cursor of the previous page, when there is one.
    pub previous_cursor: Option<String>,
    /// The page size used.
    pub page_size: usize,
}

/// The types searched and the criteria every query of this search starts from.
pub(crate) fn scope(
    engine: &SearchEngine,
    request: &SearchRequest,
) -> Result<(Vec<String>, Vec<Criterion>), SearchError> {
    let registry = engine.registry();
    let check = |name: &str| {
        if registry.is_resource_type(name) {
            Ok(())
        } else {
            Err(SearchError::new(
                SearchErrorKind::UnknownResourceType,
                None,
                format!("'{name}' is not a resource type"),
            ))
        }
    };
    match &request.scope {
        SearchScope::Type(resource_type) => {
            check(resource_type)?;
            Ok((vec![resource_type.clone()], Vec::new()))
        }
        SearchScope::System(types) => {
            types.iter().try_for_each(|t| check(t))?;
            Ok((types.clone(), Vec::new()))
        }
        SearchScope::Compartment {
            compartment,
            id,
            resource_type,
        } => {
            check(resource_type)?;
            Ok((
                vec![resource_type.clone()],
                vec![parse::compartment(compartment, id, resource_type)?],
            ))
        }
    }
}

fn sort_columns(
    engine: &SearchEngine,
    request: &SearchRequest,
    types: &[String],
    warnings: &mut Vec<SearchWarning>,
) -> Result<Vec<SortColumn>, SearchError> {
    let mut columns = Vec::new();
    for key in &request.sort {
        let lookup_type = types.first().map_or("Basic", String::as_str);
        let column = engine
            .registry()
            .get(lookup_type, &key.param)
            .filter(|bound| {
                types.iter().all(|t| {
                    engine
                        .registry()
                        .get(t, &key.param)
                        .is_some_and(|b| b.kind() == bound.kind())
                })
            })
            .and_then(|bound| SortColumn::for_parameter(bound, key.descending));
        match column {
            Some(column) => columns.push(column),
            None => {
                let error = SearchError::unknown_parameter("_sort", lookup_type);
                if request.strict {
                    return Err(SearchError::unsupported(
                        "_sort",
                        format!("cannot sort by '{}'", key.param),
                    ));
                }
                warnings.push(SearchWarning {
                    parameter: "_sort".into(),
                    message: format!("cannot sort by '{}': {}", key.param, error.message()),
                });
            }
        }
    }
    Ok(columns)
}

/// A search compiled to its WHERE clause, sort keys and cursor.
struct Prepared {
    warnings: Vec<SearchWarning>,
    columns: Vec<SortColumn>,
    filter: Fragment,
    cursor: Option<Cursor>,
}

fn prepare(
    engine: &SearchEngine,
    request: &SearchRequest,
    expansions: Expansions,
) -> Result<Prepared, SearchError> {
    let (types, mut criteria) = scope(engine, request)?;
    let dialect = engine.dialect();
    let mut parser = Parser::new(engine.registry(), now_micros(), request.strict)
        .with_expansions(expansions)
        .with_full_text(engine.options().full_text);
    criteria.extend(parser.parse_filters(&types, &request.filters)?);
    if let Some(confinement) = &request.confine {
        criteria = confinement.apply(&types, criteria)?;
    }
    let mut warnings = parser.warnings;
    let columns = sort_columns(engine, request, &types, &mut warnings)?;
    let clauses = render::clauses(dialect, &types, &criteria, 0);
    let filter = render_where(dialect, "r", &types, &clauses);
    let cursor = request
        .cursor
        .as_deref()
        .map(|token| Cursor::decode(token, columns.len()))
        .transpose()?;
    Ok(Prepared {
        warnings,
        columns,
        filter,
        cursor,
    })
}

/// The statement reading one page (one row more than `count`, to tell whether more follow).
fn page_statement(engine: &SearchEngine, prepared: &Prepared, count: usize) -> Fragment {
    let backward = prepared.cursor.as_ref().is_some_and(|c| c.backward);
    let mut sql = Fragment::text("SELECT ");
    sql.push(engine.dialect().resource_columns())
        .push(" FROM resource r WHERE ")
        .append(&prepared.filter);
    if let Some(cursor) = &prepared.cursor {
        let last = (cursor.resource_type.as_str(), cursor.id.as_str());
        sql.push(" AND ").append(&keyset(
            "r",
            &prepared.columns,
            &cursor.keys,
            last,
            backward,
        ));
    }
    sql.append(&order_by("r", &prepared.columns, backward));
    sql.push(" LIMIT ")
        .bind(i64::try_from(count.saturating_add(1)).unwrap_or(i64::MAX));
    sql
}

/// The SQL and values of a request's page query (for EXPLAIN and diagnostics); terminology
/// modifiers are refused, as no store is at hand to resolve them.
pub(crate) fn page_sql(
    engine: &SearchEngine,
    request: &SearchRequest,
    count: usize,
) -> Result<(String, Vec<SqlValue>), SearchError> {
    let prepared = prepare(engine, request, Expansions::default())?;
    finish(engine, &page_statement(engine, &prepared, count))
}

/// Runs a search; `count` is the page size already bounded by the options.
pub(crate) fn run(
    engine: &SearchEngine,
    runner: &mut dyn QueryRunner,
    request: &SearchRequest,
    count: usize,
) -> Result<SearchResult, SearchError> {
    let expansions = terminology::resolve(runner, engine.dialect(), &request.filters)?;
    let prepared = prepare(engine, request, expansions)?;
    let cursor = prepared.cursor.clone();
    let (columns, filter) = (&prepared.columns, &prepared.filter);
    let total_mode = request.total.unwrap_or(if cursor.is_none() {
        engine.options().default_total
    } else {
        TotalMode::None
    });
    let only_count = request.summary == Some(SummaryMode::Count) || count == 0;
    let total = if total_mode != TotalMode::None || only_count {
        let mut sql = Fragment::text("SELECT count(*) FROM resource r WHERE ");
        sql.append(filter);
        let (text, values) = finish(engine, &sql)?;
        Some(runner.count(&text, &values)?)
    } else {
        None
    };
    let mut result = SearchResult {
        matches: Vec::new(),
        included: Vec::new(),
        total,
        warnings: prepared.warnings.clone(),
        next_cursor: None,
        previous_cursor: None,
        page_size: count,
    };
    if only_count {
        return Ok(result);
    }

    let backward = cursor.as_ref().is_some_and(|c| c.backward);
    let (text, values) = finish(engine, &page_statement(engine, &prepared, count))?;
    let mut rows = runner.resources(&text, &values)?;
    let more = rows.len() > count;
    rows.truncate(count);
    if backward {
        rows.reverse();
    }
    let (has_next, has_previous) = if backward {
        (true, more)
    } else {
        (more, cursor.is_some())
    };
    if let (true, Some(last)) = (has_next, rows.last()) {
        result.next_cursor = Some(boundary(engine, columns, last, false)?.encode());
    }
    if let (true, Some(first)) = (has_previous, rows.first()) {
        result.previous_cursor = Some(boundary(engine, columns, first, true)?.encode());
    }
    let included = include::resolve(engine, runner, request, &rows)?;
    result.included = included.resources;
    result.warnings.extend(included.warnings);
    result.matches = rows;
    Ok(result)
}

/// The statement in the engine's dialect; one needing more bound values than the backend takes
/// is refused as too large (the client's criteria made it so).
pub(crate) fn finish(
    engine: &SearchEngine,
    statement: &Fragment,
) -> Result<(String, Vec<SqlValue>), SearchError> {
    let dialect = engine.dialect();
    if statement.bound_values() > dialect.max_bound_values() {
        return Err(SearchError::new(
            SearchErrorKind::Unsupported,
            None,
            format!(
                "the search needs {} bound values; this server takes at most {}",
                statement.bound_values(),
                dialect.max_bound_values()
            ),
        ));
    }
    Ok(statement.finish_for(dialect))
}

/// The cursor positioned at `row`.
fn boundary(
    engine: &SearchEngine,
    columns: &[SortColumn],
    row: &StoredVersion,
    backward: bool,
) -> Result<Cursor, SearchError> {
    let mut keys: Vec<SqlValue> = Vec::with_capacity(columns.len());
    if !columns.is_empty() {
        let content: serde_json::Value = serde_json::from_str(&row.content).map_err(|error| {
            SearchError::internal(
                SearchErrorKind::Store,
                format!(
                    "stored content of {}/{}: {error}",
                    row.resource_type, row.id
                ),
            )
        })?;
        for column in columns {
            let rows: Vec<IndexValue> = match &column.source {
                crate::sql::sort::SortSource::Index { param, .. } => engine
                    .extractor()
                    .parameter_rows(&row.resource_type, param, &content)?
                    .into_iter()
                    .filter(|index_row| &index_row.param == param)
                    .map(|index_row| index_row.value)
                    .collect(),
                _ => Vec::new(),
            };
            keys.push(column.value_of(&row.id, row.meta.last_updated_micros, &rows));
        }
    }
    Ok(Cursor {
        backward,
        keys,
        resource_type: row.resource_type.clone(),
        id: row.id.clone(),
    })
}
