//! `reference`: `id` (any target type), `Type/id`, an absolute URL or canonical (matched as
//! written), `:Type` (with a plain id), `:identifier` (the reference's identifier, as a token).
//! Chains are compiled by the caller (they need the registry).

use super::unsupported_modifier;
use crate::error::SearchError;
use crate::index::{IDENTIFIER, ParsedReference, parse_reference};
use crate::query::value::unescape;
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;
use crate::sql::types::token;

/// The condition of one reference value; `target_type` from a `:Type` modifier.
fn condition(
    written: &str,
    value: &str,
    target_type: Option<&str>,
) -> Result<Fragment, SearchError> {
    if value.is_empty() {
        return Err(SearchError::malformed(written, "empty reference"));
    }
    let mut sql = Fragment::new();
    match (parse_reference(value), target_type) {
        (ParsedReference::Local { resource_type, .. }, Some(modifier_type))
            if resource_type != modifier_type =>
        {
            return Err(SearchError::malformed(
                written,
                format!("'{value}' is not a {modifier_type} reference"),
            ));
        }
        (ParsedReference::Local { resource_type, id }, _) => {
            sql.push("i.target_id = ")
                .bind(id)
                .push(" AND i.target_type = ")
                .bind(resource_type);
        }
        (ParsedReference::Url(url), _) if url.contains(':') => {
            sql.push("i.url = ").bind(url);
        }
        (ParsedReference::Url(id), Some(modifier_type)) => {
            sql.push("i.target_id = ")
                .bind(id)
                .push(" AND i.target_type = ")
                .bind(modifier_type);
        }
        (ParsedReference::Url(id), None) => {
            sql.push("i.target_id = ").bind(id);
        }
        (ParsedReference::Contained, _) => {
            return Err(SearchError::unsupported(
                written,
                "references to contained resources are not searchable",
            ));
        }
    }
    Ok(sql)
}

/// The clause of a reference parameter (without a chain). `is_type` tells whether a modifier
/// names a resource type.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    is_type: impl Fn(&str) -> bool,
) -> Result<Clause, SearchError> {
    match modifier {
        Some("identifier") => {
            let alternatives = values
                .iter()
                .map(|raw| token::code_condition(written, raw))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Clause::index(
                Table::Token,
                &format!("{code}{IDENTIFIER}"),
                alternatives,
                false,
                rank::TOKEN,
            ))
        }
        Some(target) if is_type(target) => {
            let alternatives = values
                .iter()
                .map(|raw| condition(written, &unescape(raw), Some(target)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Clause::index(
                Table::Reference,
                code,
                alternatives,
                false,
                rank::REFERENCE,
            ))
        }
        None => {
            let alternatives = values
                .iter()
                .map(|raw| condition(written, &unescape(raw), None))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Clause::index(
                Table::Reference,
                code,
                alternatives,
                false,
                rank::REFERENCE,
            ))
        }
        Some(other) => Err(unsupported_modifier(written, other)),
    }
}
