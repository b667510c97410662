//! `_include` and `_revinclude` (with `:iterate` and `*`): the resources a page's matches
//! reference, and those referencing them, read through `idx_reference`. Iteration repeats the
//! `:iterate` specs over what the previous round added, until nothing new is found, the round
//! limit or the include limit is reached. A resource already on the page is not added twice.

use std::collections::HashSet;

use vigil_store::StoredVersion;

use crate::engine::SearchEngine;
use crate::error::SearchError;
use crate::query::{IncludeSpec, SearchRequest};
use crate::runner::QueryRunner;
use crate::search::COLUMNS;
use crate::sql::fragment::Fragment;

/// The included resources of a page.
pub(crate) fn resolve(
    engine: &SearchEngine,
    runner: &mut dyn QueryRunner,
    request: &SearchRequest,
    matches: &[StoredVersion],
) -> Result<Vec<StoredVersion>, SearchError> {
    if request.include.is_empty() && request.revinclude.is_empty() {
        return Ok(Vec::new());
    }
    let limit = engine.options().max_include;
    let mut seen: HashSet<(String, String)> = matches.iter().map(key).collect();
    let mut included: Vec<StoredVersion> = Vec::new();
    let mut frontier: Vec<StoredVersion> = matches.to_vec();
    for round in 0..=engine.options().max_iterations {
        let iterate_only = round > 0;
        let mut found = Vec::new();
        for spec in request
            .include
            .iter()
            .filter(|spec| !iterate_only || spec.iterate)
        {
            found.extend(forward(runner, spec, &frontier, limit)?);
        }
        for spec in request
            .revinclude
            .iter()
            .filter(|spec| !iterate_only || spec.iterate)
        {
            found.extend(reverse(runner, spec, &frontier, limit)?);
        }
        let mut added = Vec::new();
        for version in found {
            if included.len() + added.len() >= limit {
                break;
            }
            if seen.insert(key(&version)) {
                added.push(version);
            }
        }
        if added.is_empty() {
            break;
        }
        included.extend(added.iter().cloned());
        frontier = added;
    }
    Ok(included)
}

fn key(version: &StoredVersion) -> (String, String) {
    (version.resource_type.clone(), version.id.clone())
}

/// Groups ids by type among `sources` for a spec's source type (`*`: every type).
fn ids_by_type<'s>(
    sources: &'s [StoredVersion],
    source_type: &str,
) -> Vec<(&'s str, Vec<&'s str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for version in sources
        .iter()
        .filter(|v| source_type == "*" || v.resource_type == source_type)
    {
        match groups.iter_mut().find(|(t, _)| *t == version.resource_type) {
            Some((_, ids)) => ids.push(&version.id),
            None => groups.push((&version.resource_type, vec![&version.id])),
        }
    }
    groups
}

fn forward(
    runner: &mut dyn QueryRunner,
    spec: &IncludeSpec,
    sources: &[StoredVersion],
    limit: usize,
) -> Result<Vec<StoredVersion>, SearchError> {
    let mut out = Vec::new();
    for (source_type, ids) in ids_by_type(sources, &spec.source_type) {
        // Driven from the sources' (type, id) keys, then their reference rows by (rid, param),
        // then the targets by (type, id): every step an index lookup.
        let mut sql = Fragment::text("SELECT ");
        sql.push(COLUMNS).push(
            " FROM resource r WHERE r.deleted = 0 AND r.rid IN (SELECT t.rid FROM idx_reference i ",
        );
        sql.push(
            "JOIN resource t ON t.type = i.target_type AND t.id = i.target_id WHERE i.rid IN ",
        );
        sql.push("(SELECT s.rid FROM resource s WHERE s.type = ")
            .bind(source_type)
            .push(" AND s.id IN ")
            .bind_list(ids);
        sql.push(")");
        if spec.param != "*" {
            sql.push(" AND i.param = ").bind(spec.param.as_str());
        }
        if let Some(target) = &spec.target_type {
            sql.push(" AND i.target_type = ").bind(target.as_str());
        }
        sql.push(") LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let (text, values) = sql.finish();
        out.extend(runner.resources(&text, &values)?);
    }
    Ok(out)
}

fn reverse(
    runner: &mut dyn QueryRunner,
    spec: &IncludeSpec,
    targets: &[StoredVersion],
    limit: usize,
) -> Result<Vec<StoredVersion>, SearchError> {
    let mut out = Vec::new();
    for (target_type, ids) in ids_by_type(targets, spec.target_type.as_deref().unwrap_or("*")) {
        let mut sql = Fragment::text("SELECT ");
        sql.push(COLUMNS).push(" FROM resource r WHERE r.deleted = 0 AND r.rid IN (SELECT i.rid FROM idx_reference i WHERE ");
        if spec.param != "*" {
            sql.push("i.param = ")
                .bind(spec.param.as_str())
                .push(" AND ");
        }
        if spec.source_type != "*" {
            sql.push("i.type = ")
                .bind(spec.source_type.as_str())
                .push(" AND ");
        }
        sql.push("i.target_id IN ")
            .bind_list(ids)
            .push(" AND i.target_type = ")
            .bind(target_type);
        sql.push(") LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let (text, values) = sql.finish();
        out.extend(runner.resources(&text, &values)?);
    }
    Ok(out)
}
