//! `uri`: exact match, `:below` (the value is a prefix of the stored uri), `:above` (the stored
//! uri is a prefix of the value, at `/` boundaries).

use std::collections::BTreeSet;

use vigil_store::SqlDialect;

use super::{MAX_CHAR, unsupported_modifier};
use crate::error::SearchError;
use crate::query::value::unescape;
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;

/// The value and each of its prefixes ending before a `/` (longest first).
fn ancestors(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let scheme_end = value.find("://").map_or(0, |at| at + 3);
    for (at, c) in value.char_indices().rev() {
        if c == '/' && at > scheme_end {
            out.push(value[..at].to_owned());
        }
    }
    out
}

/// The clause of a uri parameter.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    dialect: &dyn SqlDialect,
) -> Result<Clause, SearchError> {
    let mut alternatives = Vec::new();
    let distinct: BTreeSet<String> = values.iter().map(|raw| unescape(raw)).collect();
    if modifier.is_none() {
        let mut condition = Fragment::new();
        condition.in_list(dialect, "i.uri", distinct);
        return Ok(Clause::index(
            Table::Uri,
            code,
            vec![condition],
            false,
            rank::EXACT,
        ));
    }
    for value in distinct {
        let mut condition = Fragment::new();
        match modifier {
            Some("below") => {
                let upper = format!("{value}{MAX_CHAR}");
                condition
                    .push("i.uri >= ")
                    .bind(value)
                    .push(" AND i.uri < ")
                    .bind(upper);
            }
            Some("above") => {
                condition.in_list(dialect, "i.uri", ancestors(&value));
            }
            Some(other) => return Err(unsupported_modifier(written, other)),
            None => continue,
        }
        alternatives.push(condition);
    }
    let rank = if modifier == Some("below") {
        rank::PREFIX
    } else {
        rank::EXACT
    };
    Ok(Clause::index(Table::Uri, code, alternatives, false, rank))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_stop_at_the_authority() {
        assert_eq!(
            ancestors("http://acme.org/fhir/ValueSet/123"),
            [
                "http://acme.org/fhir/ValueSet/123",
                "http://acme.org/fhir/ValueSet",
                "http://acme.org/fhir",
                "http://acme.org"
            ]
        );
        assert_eq!(ancestors("urn:oid:1.2"), ["urn:oid:1.2"]);
    }
}
