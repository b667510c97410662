//! `_include` and `_revinclude` (with `:iterate` and `*`): the resources a page's matches
//! reference, and those referencing them, read through `idx_reference`. Iteration repeats the
//! `:iterate` specs over what the previous round added, until nothing new is found, the round
//! limit or the include limit is reached. A resource already on the page is not added twice.
//!
//! The include limit ([`crate::SearchOptions::max_include`]) is shared: in each round every spec
//! gets its share of what is left of the limit (a spec needing less than its share leaves the
//! rest to the others; only specs that need more are counted), so one large `_revinclude`
//! cannot crowd out the others. Whatever is cut is reported as a warning naming the spec and
//! how many resources were left out.

use std::collections::HashSet;

use vigil_store::StoredVersion;

use crate::criteria::parse::SearchWarning;
use crate::engine::SearchEngine;
use crate::error::SearchError;
use crate::query::{IncludeSpec, SearchRequest};
use crate::runner::QueryRunner;
use crate::search::finish;
use crate::sql::fragment::Fragment;

/// The included resources of a page, and what was left out.
pub(crate) struct Included {
    /// The resources (`search.mode = include`).
    pub resources: Vec<StoredVersion>,
    /// One warning per spec that was cut by the include limit.
    pub warnings: Vec<SearchWarning>,
}

/// One spec of a round, with the conditions of its statements (one per source type).
struct Pending<'s> {
    parameter: &'static str,
    spec: &'s IncludeSpec,
    conditions: Vec<Fragment>,
    found: u64,
}

/// The included resources of a page.
pub(crate) fn resolve(
    engine: &SearchEngine,
    runner: &mut dyn QueryRunner,
    request: &SearchRequest,
    matches: &[StoredVersion],
) -> Result<Included, SearchError> {
    let mut result = Included {
        resources: Vec::new(),
        warnings: Vec::new(),
    };
    if request.include.is_empty() && request.revinclude.is_empty() {
        return Ok(result);
    }
    let limit = engine.options().max_include;
    let mut seen: HashSet<(String, String)> = matches.iter().map(key).collect();
    let mut frontier: Vec<StoredVersion> = matches.to_vec();
    for round in 0..=engine.options().max_iterations {
        let iterate_only = round > 0;
        let mut pending = Vec::new();
        for (parameter, specs, forward) in [
            ("_include", &request.include, true),
            ("_revinclude", &request.revinclude, false),
        ] {
            for spec in specs.iter().filter(|spec| !iterate_only || spec.iterate) {
                let conditions = if forward {
                    forward_conditions(engine, spec, &frontier)
                } else {
                    reverse_conditions(engine, spec, &frontier)
                };
                pending.push(Pending {
                    parameter,
                    spec,
                    conditions,
                    found: 0,
                });
            }
        }
        let remaining = limit.saturating_sub(result.resources.len());
        let mut added = Vec::new();
        for (item, share, rows) in allot(engine, runner, &mut pending, remaining)? {
            if item.found > share as u64 {
                result.warnings.push(cut_warning(item, share, limit));
            }
            for version in rows {
                if seen.insert(key(&version)) {
                    added.push(version);
                }
            }
        }
        if added.is_empty() {
            break;
        }
        result.resources.extend(added.iter().cloned());
        frontier = added;
    }
    Ok(result)
}

/// A spec with its share of the include limit and the resources read for it.
type Allotted<'p, 's> = (&'p Pending<'s>, usize, Vec<StoredVersion>);

/// Reads each spec's part of `budget`: first an equal share (plus one row, to tell whether
/// there is more); only the specs that had more are counted, and they then share what the
/// others left (re-read with their larger share). Returns each spec with its share and rows.
fn allot<'p, 's>(
    engine: &SearchEngine,
    runner: &mut dyn QueryRunner,
    pending: &'p mut [Pending<'s>],
    budget: usize,
) -> Result<Vec<Allotted<'p, 's>>, SearchError> {
    let equal = shares(&vec![u64::MAX; pending.len()], budget);
    let mut read = Vec::with_capacity(pending.len());
    for (item, share) in pending.iter_mut().zip(&equal) {
        let mut rows = fetch(engine, runner, &item.conditions, share + 1)?;
        item.found = if rows.len() > *share {
            rows.truncate(*share);
            count(engine, runner, &item.conditions)?
        } else {
            rows.len() as u64
        };
        read.push(rows);
    }
    let found: Vec<u64> = pending.iter().map(|item| item.found).collect();
    let final_shares = shares(&found, budget);
    let mut out = Vec::with_capacity(pending.len());
    for ((item, share), rows) in pending.iter().zip(final_shares).zip(read) {
        let rows = if share > rows.len() && item.found > rows.len() as u64 {
            fetch(engine, runner, &item.conditions, share)?
        } else {
            rows
        };
        out.push((item, share, rows));
    }
    Ok(out)
}

/// Each count's part of `budget`: equal shares, where a count below its share gives the rest
/// to the others (the first ones get the remainder of an uneven split).
fn shares(counts: &[u64], budget: usize) -> Vec<usize> {
    let mut shares = vec![0usize; counts.len()];
    let mut open: Vec<usize> = (0..counts.len()).filter(|&at| counts[at] > 0).collect();
    let mut left = budget;
    while !open.is_empty() && left > 0 {
        let fair = (left / open.len()).max(1);
        let mut still_open = Vec::new();
        for at in open {
            let want = usize::try_from(counts[at]).unwrap_or(usize::MAX) - shares[at];
            let give = want.min(fair).min(left);
            shares[at] += give;
            left -= give;
            if shares[at] < usize::try_from(counts[at]).unwrap_or(usize::MAX) {
                still_open.push(at);
            }
        }
        open = still_open;
    }
    shares
}

fn cut_warning(item: &Pending<'_>, share: usize, limit: usize) -> SearchWarning {
    let spec = item.spec;
    let mut written = format!("{}:{}", spec.source_type, spec.param);
    if let Some(target) = &spec.target_type {
        written.push(':');
        written.push_str(target);
    }
    SearchWarning {
        parameter: item.parameter.to_owned(),
        message: format!(
            "{}={written}: {} of {} resources were left out (at most {limit} included resources \
             per page, shared between the include parameters)",
            item.parameter,
            item.found - share as u64,
            item.found
        ),
    }
}

fn key(version: &StoredVersion) -> (String, String) {
    (version.resource_type.clone(), version.id.clone())
}

/// How many current resources the conditions select (over alias `r`).
fn count(
    engine: &SearchEngine,
    runner: &mut dyn QueryRunner,
    conditions: &[Fragment],
) -> Result<u64, SearchError> {
    let mut total = 0;
    for condition in conditions {
        let mut sql = Fragment::text("SELECT count(*) FROM resource r WHERE ");
        sql.append(condition);
        let (text, values) = finish(engine, &sql)?;
        total += runner.count(&text, &values)?;
    }
    Ok(total)
}

/// At most `limit` of the resources the conditions select.
fn fetch(
    engine: &SearchEngine,
    runner: &mut dyn QueryRunner,
    conditions: &[Fragment],
    limit: usize,
) -> Result<Vec<StoredVersion>, SearchError> {
    let mut out = Vec::new();
    for condition in conditions {
        let left = limit.saturating_sub(out.len());
        if left == 0 {
            break;
        }
        let mut sql = Fragment::text("SELECT ");
        sql.push(engine.dialect().resource_columns())
            .push(" FROM resource r WHERE ")
            .append(condition)
            .push(" LIMIT ")
            .bind(i64::try_from(left).unwrap_or(i64::MAX));
        let (text, values) = finish(engine, &sql)?;
        out.extend(runner.resources(&text, &values)?);
    }
    Ok(out)
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

/// The resources `sources` reference through the spec, one condition per source type.
fn forward_conditions(
    engine: &SearchEngine,
    spec: &IncludeSpec,
    sources: &[StoredVersion],
) -> Vec<Fragment> {
    let dialect = engine.dialect();
    let mut out = Vec::new();
    for (source_type, ids) in ids_by_type(sources, &spec.source_type) {
        // Driven from the sources' (type, id) keys, then their reference rows by (rid, param),
        // then the targets by (type, id): every step an index lookup.
        let mut sql =
            Fragment::text("r.deleted = 0 AND r.rid IN (SELECT t.rid FROM idx_reference i ");
        sql.push(
            "JOIN resource t ON t.type = i.target_type AND t.id = i.target_id WHERE i.rid IN ",
        );
        sql.push("(SELECT s.rid FROM resource s WHERE s.type = ")
            .bind(source_type)
            .push(" AND ")
            .in_list(dialect, "s.id", ids);
        sql.push(")");
        if spec.param != "*" {
            sql.push(" AND i.param = ").bind(spec.param.as_str());
        }
        if let Some(target) = &spec.target_type {
            sql.push(" AND i.target_type = ").bind(target.as_str());
        }
        sql.push(")");
        out.push(sql);
    }
    out
}

/// The resources referencing `targets` through the spec, one condition per target type.
fn reverse_conditions(
    engine: &SearchEngine,
    spec: &IncludeSpec,
    targets: &[StoredVersion],
) -> Vec<Fragment> {
    let dialect = engine.dialect();
    let mut out = Vec::new();
    for (target_type, ids) in ids_by_type(targets, spec.target_type.as_deref().unwrap_or("*")) {
        let mut sql =
            Fragment::text("r.deleted = 0 AND r.rid IN (SELECT i.rid FROM idx_reference i WHERE ");
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
        sql.in_list(dialect, "i.target_id", ids)
            .push(" AND i.target_type = ")
            .bind(target_type);
        sql.push(")");
        out.push(sql);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn small_needs_leave_their_share_to_large_ones() {
        assert_eq!(shares(&[2_000, 30, 1], 1_000), [969, 30, 1]);
        assert_eq!(shares(&[2_000, 2_000], 1_000), [500, 500]);
        assert_eq!(shares(&[10, 0, 5], 1_000), [10, 0, 5]);
        assert_eq!(shares(&[3, 3, 3], 2), [1, 1, 0]);
        assert_eq!(shares(&[5], 0), [0]);
    }
}
