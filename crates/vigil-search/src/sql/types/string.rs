//! `string`: case- and accent-insensitive prefix by default, `:exact` (as written),
//! `:contains` (normalised substring).

use super::{MAX_CHAR, unsupported_modifier};
use crate::error::SearchError;
use crate::normalize::normalize;
use crate::query::value::unescape;
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;

/// The clause of a string parameter.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
) -> Result<Clause, SearchError> {
    let mut alternatives = Vec::new();
    let rank = match modifier {
        None => rank::PREFIX,
        Some("exact") => rank::EXACT,
        Some("contains") => rank::SCAN,
        Some(other) => return Err(unsupported_modifier(written, other)),
    };
    for raw in values {
        let value = unescape(raw);
        let mut condition = Fragment::new();
        match modifier {
            Some("exact") => {
                condition.push("i.exact = ").bind(value);
            }
            Some("contains") => {
                condition
                    .push("instr(i.normalized, ")
                    .bind(normalize(&value))
                    .push(") > 0");
            }
            _ => {
                let normalized = normalize(&value);
                let upper = format!("{normalized}{MAX_CHAR}");
                condition
                    .push("i.normalized >= ")
                    .bind(normalized)
                    .push(" AND i.normalized < ")
                    .bind(upper);
            }
        }
        alternatives.push(condition);
    }
    Ok(Clause::index(
        Table::String,
        code,
        alternatives,
        false,
        rank,
    ))
}
