//! `reference`: `id` (any target type), `Type/id`, an absolute URL or canonical (matched as
//! written), `:Type` (with a plain id), `:identifier` (the reference's identifier, as a token).
//! Chains are parsed by the caller (they need the registry).

use std::collections::{BTreeMap, BTreeSet};

use vigil_store::{IndexValue, SqlDialect};

use super::{RowCriterion, RowTest, token, unsupported_modifier};
use crate::error::SearchError;
use crate::index::{IDENTIFIER, ParsedReference, parse_reference};
use crate::query::value::unescape;
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;

/// One reference search value, read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// `Type/id` (or an id with a `:Type` modifier).
    Local(String, String),
    /// A plain id: any target type.
    Id(String),
    /// An absolute URL or canonical, matched as written.
    Url(String),
}

impl Target {
    /// Whether a reference row points at this target, as [`condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        let IndexValue::Reference {
            target_type,
            target_id,
            url,
        } = row
        else {
            return false;
        };
        match self {
            Target::Local(resource_type, id) => {
                target_id.as_ref() == Some(id) && target_type.as_ref() == Some(resource_type)
            }
            Target::Id(id) => target_id.as_ref() == Some(id),
            Target::Url(wanted) => url.as_ref() == Some(wanted),
        }
    }
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

/// The condition of any of `targets` over `i.target_type`, `i.target_id` and `i.url`: one
/// IN-list of ids per target type however many values there are.
pub fn condition(dialect: &dyn SqlDialect, targets: &BTreeSet<Target>) -> Fragment {
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let (mut ids, mut urls) = (Vec::new(), Vec::new());
    for target in targets {
        match target {
            Target::Local(resource_type, id) => {
                by_type.entry(resource_type).or_default().push(id);
            }
            Target::Id(id) => ids.push(id.as_str()),
            Target::Url(url) => urls.push(url.as_str()),
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
    super::any(groups.into_iter())
}

/// The criterion of a reference parameter (without a chain). `is_type` tells whether a
/// modifier names a resource type.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    is_type: impl Fn(&str) -> bool,
) -> Result<RowCriterion, SearchError> {
    let target_type = match modifier {
        Some("identifier") => {
            return Ok(RowCriterion::new(
                Table::Token,
                &format!("{code}{IDENTIFIER}"),
                RowTest::Token(token::parse_values(written, values)?),
                false,
                rank::TOKEN,
            ));
        }
        Some(target) if is_type(target) => Some(target),
        None => None,
        Some(other) => return Err(unsupported_modifier(written, other)),
    };
    let targets = values
        .iter()
        .map(|raw| target(written, &unescape(raw), target_type))
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(RowCriterion::new(
        Table::Reference,
        code,
        RowTest::Reference(targets),
        false,
        rank::REFERENCE,
    ))
}
