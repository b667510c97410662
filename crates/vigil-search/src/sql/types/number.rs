//! `number`: the search value's written precision gives its range (`100` is [99.5, 100.5));
//! a stored number is compared by its value (the middle of its own precision range).

use super::unsupported_modifier;
use crate::error::SearchError;
use crate::index::number_range;
use crate::query::value::{Prefix, split_prefix, unescape};
use crate::sql::clause::{Clause, Table};
use crate::sql::fragment::Fragment;

/// The stored value as SQL.
const STORED: &str = "(i.low + i.high) / 2";

/// The clause of a number parameter.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
) -> Result<Clause, SearchError> {
    if let Some(other) = modifier {
        return Err(unsupported_modifier(written, other));
    }
    let mut conditions = Vec::with_capacity(values.len());
    for raw in values {
        let value = unescape(raw);
        let (prefix, text) = split_prefix(written, &value)?;
        let (low, high) = number_range(text)
            .ok_or_else(|| SearchError::malformed(written, format!("'{text}' is not a number")))?;
        let exact = low / 2.0 + high / 2.0;
        let mut sql = Fragment::text(STORED);
        match prefix {
            Prefix::Eq | Prefix::Ne => sql
                .push(" >= ")
                .bind(low)
                .push(" AND ")
                .push(STORED)
                .push(" < ")
                .bind(high),
            Prefix::Ap => {
                let margin = (exact.abs() / 10.0).max(high - low);
                sql.push(" >= ")
                    .bind(exact - margin)
                    .push(" AND ")
                    .push(STORED)
                    .push(" <= ")
                    .bind(exact + margin)
            }
            other => sql.push(super::operator(other)).bind(exact),
        };
        conditions.push((prefix, sql));
    }
    super::prefixed_clause(Table::Number, code, written, conditions)
}
