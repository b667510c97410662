//! [`Criterion`]s -> [`Clause`]s: the SQL of each criterion over the index tables, chains and
//! `_has` as sub-queries over a nested resource alias (`r1`, `r2`, ...).

use vigil_store::SqlDialect;

use super::clause::{Clause, Table, rank, render_where};
use super::fragment::Fragment;
use crate::criteria::Criterion;

/// The alias of the resource table at a nesting depth.
pub fn alias(depth: usize) -> String {
    if depth == 0 {
        "r".to_owned()
    } else {
        format!("r{depth}")
    }
}

/// The clause of one criterion over the resource alias of `depth`, whose resources are of
/// `types` (any type when empty).
pub fn clause(
    dialect: &dyn SqlDialect,
    types: &[String],
    criterion: &Criterion,
    depth: usize,
) -> Clause {
    let rank = criterion.rank();
    match criterion {
        Criterion::Id(ids) => {
            let mut condition = Fragment::new();
            condition.in_list(
                dialect,
                &format!("{}.id", alias(depth)),
                ids.iter().map(String::as_str),
            );
            Clause::Direct { condition, rank }
        }
        Criterion::Rows(rows) => Clause::Index {
            table: rows.table,
            params: rows.params.clone(),
            condition: rows.test.condition(dialect),
            negated: rows.negated,
            rank,
        },
        Criterion::Chain {
            code,
            targets,
            inner,
        } => chain(dialect, code, targets, inner, depth),
        Criterion::Has {
            source_type,
            reference,
            inner,
        } => Clause::Direct {
            condition: has(dialect, types, source_type, reference, inner, depth),
            rank,
        },
        Criterion::All(list) => Clause::Direct {
            condition: render_where(
                dialect,
                &alias(depth),
                types,
                &clauses(dialect, types, list, depth),
            ),
            rank,
        },
        Criterion::PerType(list) => {
            let alternatives: Vec<Fragment> = list
                .iter()
                .map(|(resource_type, criteria)| {
                    let only = std::slice::from_ref(resource_type);
                    let mut term = Fragment::text("(");
                    term.append(&render_where(
                        dialect,
                        &alias(depth),
                        only,
                        &clauses(dialect, only, criteria, depth),
                    ))
                    .push(")");
                    term
                })
                .collect();
            let mut condition = Fragment::new();
            condition.join(&alternatives, " OR ");
            Clause::Direct { condition, rank }
        }
        Criterion::Content { narrative, phrases } => {
            let phrases: Vec<Vec<String>> = phrases.iter().cloned().collect();
            let mut condition = Fragment::new();
            condition.push_bound(
                |placeholder| dialect.full_text_match(&alias(depth), placeholder),
                dialect.full_text_query(*narrative, &phrases),
            );
            Clause::Direct { condition, rank }
        }
    }
}

/// The clauses of criteria ANDed over the resource alias of `depth` (an [`Criterion::All`] is
/// flattened into its parts).
pub fn clauses(
    dialect: &dyn SqlDialect,
    types: &[String],
    criteria: &[Criterion],
    depth: usize,
) -> Vec<Clause> {
    let mut out = Vec::with_capacity(criteria.len());
    for criterion in criteria {
        match criterion {
            Criterion::All(list) => out.extend(clauses(dialect, types, list, depth)),
            other => out.push(clause(dialect, types, other, depth)),
        }
    }
    out
}

/// `ref[:Type].rest=value`: a reference row whose target is among the resources of `targets`
/// matching `inner`. Several target types are matched as (type, id) pairs so the reference
/// index is still used (an OR of per-type terms is not).
fn chain(
    dialect: &dyn SqlDialect,
    code: &str,
    targets: &[String],
    inner: &Criterion,
    depth: usize,
) -> Clause {
    let inner_alias = alias(depth + 1);
    let inner_clauses = clauses(dialect, targets, std::slice::from_ref(inner), depth + 1);
    let mut condition = Fragment::new();
    match targets {
        [only] => {
            condition
                .push("i.target_type = ")
                .bind(only.as_str())
                .push(" AND i.target_id IN (SELECT ");
            condition.push(&inner_alias).push(".id");
        }
        _ => {
            condition
                .push("(i.target_type, i.target_id) IN (SELECT ")
                .push(&inner_alias)
                .push(".type, ");
            condition.push(&inner_alias).push(".id");
        }
    }
    condition
        .push(" FROM resource ")
        .push(&inner_alias)
        .push(" WHERE ");
    condition
        .append(&render_where(
            dialect,
            &inner_alias,
            targets,
            &inner_clauses,
        ))
        .push(")");
    // A chain is as selective as what it ends in (`patient.identifier=..` finds one patient).
    let rank = rank::NESTED.min(inner.rank().max(rank::REFERENCE));
    Clause::index(Table::Reference, code, vec![condition], false, rank)
}

/// `_has:Type:ref:rest=value` over the resource alias of `depth`, of `types`.
fn has(
    dialect: &dyn SqlDialect,
    types: &[String],
    source_type: &str,
    reference: &str,
    inner: &Criterion,
    depth: usize,
) -> Fragment {
    let outer = alias(depth);
    let inner_alias = alias(depth + 1);
    let source_types = [source_type.to_owned()];
    let inner_clauses = clauses(
        dialect,
        &source_types,
        std::slice::from_ref(inner),
        depth + 1,
    );
    let mut condition = Fragment::new();
    match types {
        [only] => {
            condition
                .push(&outer)
                .push(".id IN (SELECT i.target_id FROM idx_reference i WHERE i.target_type = ");
            condition.bind(only.as_str());
        }
        _ => {
            condition
                .push("(")
                .push(&outer)
                .push(".type, ")
                .push(&outer)
                .push(".id) IN (SELECT i.target_type, ");
            condition.push("i.target_id FROM idx_reference i WHERE 1 = 1");
        }
    }
    condition
        .push(" AND i.param = ")
        .bind(reference)
        .push(" AND i.type = ")
        .bind(source_type);
    condition
        .push(" AND i.rid IN (SELECT ")
        .push(&inner_alias)
        .push(".rid FROM resource ")
        .push(&inner_alias);
    condition
        .push(" WHERE ")
        .append(&render_where(
            dialect,
            &inner_alias,
            &source_types,
            &inner_clauses,
        ))
        .push("))");
    condition
}
