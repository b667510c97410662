//! `quantity`: `[prefix]value[|system|code]`. With a UCUM unit that converts, the comparison
//! runs on canonical values (`5.4|http://unitsofmeasure.org|mg` finds `0.0054 g`); otherwise
//! on the value as written, restricted to the system and code (or unit) when given. The value's
//! written precision gives the `eq` range; `ap` is within 10%.

use super::unsupported_modifier;
use crate::error::SearchError;
use crate::index::{UCUM, canonical_quantity, number_range};
use crate::query::value::{Prefix, split_prefix, split_unescaped, unescape};
use crate::sql::clause::{Clause, Table};
use crate::sql::fragment::Fragment;

fn compare(column: &str, prefix: Prefix, low: f64, high: f64, exact: f64) -> Fragment {
    let mut sql = Fragment::text(column);
    match prefix {
        Prefix::Eq | Prefix::Ne => sql
            .push(" >= ")
            .bind(low)
            .push(" AND ")
            .push(column)
            .push(" < ")
            .bind(high),
        Prefix::Ap => {
            let margin = (exact.abs() / 10.0).max(high - low);
            sql.push(" BETWEEN ")
                .bind(exact - margin)
                .push(" AND ")
                .bind(exact + margin)
        }
        other => sql.push(super::operator(other)).bind(exact),
    };
    sql
}

/// The condition of one quantity value; `check_system` is false for composite rows, whose
/// `system` column holds the token component.
pub fn condition(
    written: &str,
    raw: &str,
    check_system: bool,
) -> Result<(Prefix, Fragment), SearchError> {
    let parts = split_unescaped(raw, '|');
    let (number, system, code) = match parts.as_slice() {
        [number] => (unescape(number), None, None),
        [number, system, code] => (
            unescape(number),
            Some(unescape(system)).filter(|s| !s.is_empty()),
            Some(unescape(code)).filter(|c| !c.is_empty()),
        ),
        _ => {
            return Err(SearchError::malformed(
                written,
                format!("'{raw}' is not [prefix]number[|system|code]"),
            ));
        }
    };
    let (prefix, text) = split_prefix(written, &number)?;
    let (low, high) = number_range(text)
        .ok_or_else(|| SearchError::malformed(written, format!("'{text}' is not a number")))?;
    let exact = low / 2.0 + high / 2.0;
    let ucum = system.as_deref().is_none_or(|s| s == UCUM);
    let canonical = code.as_deref().filter(|_| ucum).and_then(|unit| {
        let (canonical_unit, value) = canonical_quantity(text, unit)?;
        let (_, c_low) = canonical_quantity(&low.to_string(), unit)?;
        let (_, c_high) = canonical_quantity(&high.to_string(), unit)?;
        Some((canonical_unit, value, c_low.min(c_high), c_low.max(c_high)))
    });
    if let Some((canonical_unit, value, c_low, c_high)) = canonical {
        let mut sql = Fragment::text("i.canonical_code = ");
        sql.bind(canonical_unit).push(" AND ").append(&compare(
            "i.canonical_value",
            prefix,
            c_low,
            c_high,
            value,
        ));
        return Ok((prefix, sql));
    }
    let mut sql = compare("i.value", prefix, low, high, exact);
    if let Some(system) = system.filter(|_| check_system) {
        sql.push(" AND i.system = ").bind(system);
    }
    if let Some(code) = code {
        sql.push(" AND i.code = ").bind(code);
    }
    Ok((prefix, sql))
}

/// The clause of a quantity parameter.
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
        let (prefix, sql) = condition(written, raw, true)?;
        conditions.push((prefix, sql));
    }
    super::prefixed_clause(Table::Quantity, code, written, conditions)
}
