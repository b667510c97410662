//! `string`: case- and accent-insensitive prefix by default, `:exact` (as written),
//! `:contains` (normalised substring).

use std::collections::BTreeSet;

use vigil_store::SqlDialect;

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
    dialect: &dyn SqlDialect,
) -> Result<Clause, SearchError> {
    let mut alternatives = Vec::new();
    let rank = match modifier {
        None => rank::PREFIX,
        Some("exact") => rank::EXACT,
        Some("contains") => rank::SCAN,
        Some(other) => return Err(unsupported_modifier(written, other)),
    };
    if modifier == Some("exact") {
        let exact: BTreeSet<String> = values.iter().map(|raw| unescape(raw)).collect();
        let mut condition = Fragment::new();
        condition.in_list(dialect, "i.exact", exact);
        return Ok(Clause::index(
            Table::String,
            code,
            vec![condition],
            false,
            rank,
        ));
    }
    let distinct: BTreeSet<String> = values.iter().map(|raw| normalize(&unescape(raw))).collect();
    for normalized in distinct {
        let mut condition = Fragment::new();
        match modifier {
            Some("contains") => {
                condition.push_bound(
                    |needle| dialect.contains("i.normalized", needle),
                    normalized,
                );
            }
            _ => {
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
