//! `date`: the search value is a range (its precision's span) compared with each stored range
//! as the FHIR search page defines the prefixes: `eq` the stored range lies within the search
//! range, `ne` no stored range does, `gt`/`lt` the stored range reaches beyond the end/start,
//! `ge`/`le` that or `eq`, `sa`/`eb` starts after / ends before, `ap` overlaps the search
//! range widened by 10% of its distance from now (at least a day).

use super::unsupported_modifier;
use crate::datetime;
use crate::error::SearchError;
use crate::query::value::{Prefix, split_prefix, unescape};
use crate::sql::clause::{Clause, Table};
use crate::sql::fragment::Fragment;

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// The condition of one prefixed date value over `i.low` and `i.high`; `now` for `ap`.
pub fn condition(
    written: &str,
    raw: &str,
    now_micros: i64,
) -> Result<(Prefix, Fragment), SearchError> {
    let value = unescape(raw);
    let (prefix, text) = split_prefix(written, &value)?;
    let range = datetime::parse(text).ok_or_else(|| {
        SearchError::malformed(
            written,
            format!("'{text}' is not a date, dateTime or instant"),
        )
    })?;
    let (low, high) = (range.low, range.high);
    let mut sql = Fragment::new();
    match prefix {
        Prefix::Eq | Prefix::Ne => sql
            .push("i.low >= ")
            .bind(low)
            .push(" AND i.high <= ")
            .bind(high),
        Prefix::Gt => sql.push("i.high > ").bind(high),
        Prefix::Lt => sql.push("i.low < ").bind(low),
        // "after the search range, or within it", simplified (low <= high holds for every row).
        Prefix::Ge => sql
            .push("(i.high > ")
            .bind(high)
            .push(" OR i.low >= ")
            .bind(low)
            .push(")"),
        Prefix::Le => sql
            .push("(i.low < ")
            .bind(low)
            .push(" OR i.high <= ")
            .bind(high)
            .push(")"),
        Prefix::Sa => sql.push("i.low > ").bind(high),
        Prefix::Eb => sql.push("i.high < ").bind(low),
        Prefix::Ap => {
            let middle = low / 2 + high / 2;
            let margin = ((now_micros - middle).abs() / 10).max(DAY_MICROS);
            sql.push("i.low <= ")
                .bind(high.saturating_add(margin))
                .push(" AND i.high >= ")
                .bind(low.saturating_sub(margin))
        }
    };
    Ok((prefix, sql))
}

/// The clause of a date parameter. `ne` values are negated together: no stored range equals any
/// of them.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    now_micros: i64,
) -> Result<Clause, SearchError> {
    if let Some(other) = modifier {
        return Err(unsupported_modifier(written, other));
    }
    let mut conditions = Vec::with_capacity(values.len());
    for raw in values {
        let (prefix, sql) = condition(written, raw, now_micros)?;
        conditions.push((prefix, sql));
    }
    super::prefixed_clause(Table::Date, code, written, conditions)
}
