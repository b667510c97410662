//! `reference`: `id` (any target type), `Type/id`, an absolute URL or canonical (matched as
//! written), `:Type` (with a plain id), `:identifier` (the reference's identifier, as a token).
//! Chains are compiled by the caller (they need the registry).

use std::collections::{BTreeMap, BTreeSet};

use vigil_store::SqlDialect;

use super::unsupported_modifier;
use crate::error::SearchError;
use crate::index::{IDENTIFIER, ParsedReference, parse_reference};
use crate::query::value::unescape;
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;
use crate::sql::types::token;

/// One reference search value, read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// `Type/id` (or an id with a `:Type` modifier).
    Local(String, String),
    /// A plain id: any target type.
    Id(String),
    /// An absolute URL or canonical, matched as written.
    Url(String),
}

/// Reads one reference value; `target_type` from a `:Type` modifier.
fn target(written: &str, value: &str, target_type: Option<&str>) -> Result<Target, SearchError> {
    if value.is_empty() {
        return Err(SearchError::malformed(written, "empty reference"));
    }
    Ok(match (parse_reference(value), target_type) {
        (ParsedReference::Local { resource_type, .. }, Some(modifier_type))
            if resource_type != modifier_type =>
        {
            return Err(SearchError::malformed(
                written,
                format!("'{value}' is not a {modifier_type} reference"),
            ));
        }
        (ParsedReference::Local { resource_type, id }, _) => {
            Target::Local(resource_type.to_owned(), id.to_owned())
        }
        (ParsedReference::Url(url), _) if url.contains(':') => Target::Url(url.to_owned()),
        (ParsedReference::Url(id), Some(modifier_type)) => {
            Target::Local(modifier_type.to_owned(), id.to_owned())
        }
        (ParsedReference::Url(id), None) => Target::Id(id.to_owned()),
        (ParsedReference::Contained, _) => {
            return Err(SearchError::unsupported(
                written,
                "references to contained resources are not searchable",
            ));
        }
    })
}

/// The condition of any of `values` over `i.target_type`, `i.target_id` and `i.url`: one
/// IN-list of ids per target type however many values there are.
fn condition(
    dialect: &dyn SqlDialect,
    written: &str,
    values: &[&str],
    target_type: Option<&str>,
) -> Result<Fragment, SearchError> {
    let targets = values
        .iter()
        .map(|raw| target(written, &unescape(raw), target_type))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut ids, mut urls) = (Vec::new(), Vec::new());
    for target in targets {
        match target {
            Target::Local(resource_type, id) => by_type.entry(resource_type).or_default().push(id),
            Target::Id(id) => ids.push(id),
            Target::Url(url) => urls.push(url),
        }
    }
    let mut groups = Vec::new();
    for (resource_type, ids) in by_type {
        let mut group = Fragment::new();
        group
            .in_list(dialect, "i.target_id", ids)
            .push(" AND i.target_type = ")
            .bind(resource_type);
        groups.push(group);
    }
    for (column, list) in [("i.target_id", ids), ("i.url", urls)] {
        if !list.is_empty() {
            let mut group = Fragment::new();
            group.in_list(dialect, column, list);
            groups.push(group);
        }
    }
    Ok(match groups.as_slice() {
        [only] => only.clone(),
        _ => {
            let mut joined = Fragment::new();
            joined.join(&groups, " OR ");
            joined
        }
    })
}

/// The clause of a reference parameter (without a chain). `is_type` tells whether a modifier
/// names a resource type.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    is_type: impl Fn(&str) -> bool,
    dialect: &dyn SqlDialect,
) -> Result<Clause, SearchError> {
    match modifier {
        Some("identifier") => {
            let condition = token::codes_condition(dialect, written, values)?;
            Ok(Clause::index(
                Table::Token,
                &format!("{code}{IDENTIFIER}"),
                vec![condition],
                false,
                rank::TOKEN,
            ))
        }
        Some(target) if is_type(target) => {
            let condition = condition(dialect, written, values, Some(target))?;
            Ok(Clause::index(
                Table::Reference,
                code,
                vec![condition],
                false,
                rank::REFERENCE,
            ))
        }
        None => {
            let condition = condition(dialect, written, values, None)?;
            Ok(Clause::index(
                Table::Reference,
                code,
                vec![condition],
                false,
                rank::REFERENCE,
            ))
        }
        Some(other) => Err(unsupported_modifier(written, other)),
    }
}
