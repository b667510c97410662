//! `date`: the search value is a range (its precision's span) compared with each stored range
//! as the FHIR search page defines the prefixes: `eq` the stored range lies within the search
//! range, `ne` no stored range does, `gt`/`lt` the stored range reaches beyond the end/start,
//! `ge`/`le` that or `eq`, `sa`/`eb` starts after / ends before, `ap` overlaps the search
//! range widened by 10% of its distance from now (at least a day, fixed when parsed).

use vigil_store::IndexValue;

use super::{RowCriterion, RowTest, negated_prefixes, unsupported_modifier};
use crate::datetime;
use crate::error::SearchError;
use crate::query::value::{Prefix, split_prefix, unescape};
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// One prefixed date value: the search range in microseconds (for `ap`, already widened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateValue {
    /// The prefix.
    pub prefix: Prefix,
    /// Start of the range.
    pub low: i64,
    /// End of the range (inclusive).
    pub high: i64,
}

impl DateValue {
    /// The condition over `i.low` and `i.high`.
    pub fn condition(&self) -> Fragment {
        let (low, high) = (self.low, self.high);
        let mut sql = Fragment::new();
        match self.prefix {
            Prefix::Eq | Prefix::Ne => sql
                .push("i.low >= ")
                .bind(low)
                .push(" AND i.high <= ")
                .bind(high),
            Prefix::Gt => sql.push("i.high > ").bind(high),
            Prefix::Lt => sql.push("i.low < ").bind(low),
            // "after the search range, or within it", simplified (low <= high holds for every
            // row).
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
            Prefix::Ap => sql
                .push("i.low <= ")
                .bind(high)
                .push(" AND i.high >= ")
                .bind(low),
        };
        sql
    }

    /// Whether a date row matches, as [`Self::condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        let IndexValue::Date { low: l, high: h } = *row else {
            return false;
        };
        let (low, high) = (self.low, self.high);
        match self.prefix {
            Prefix::Eq | Prefix::Ne => l >= low && h <= high,
            Prefix::Gt => h > high,
            Prefix::Lt => l < low,
            Prefix::Ge => h > high || l >= low,
            Prefix::Le => l < low || h <= high,
            Prefix::Sa => l > high,
            Prefix::Eb => h < low,
            Prefix::Ap => l <= high && h >= low,
        }
    }
}

/// Reads one prefixed date value; `now` for `ap`.
pub fn parse_value(written: &str, raw: &str, now_micros: i64) -> Result<DateValue, SearchError> {
    let value = unescape(raw);
    let (prefix, text) = split_prefix(written, &value)?;
    let range = datetime::parse(text).ok_or_else(|| {
        SearchError::malformed(
            written,
            format!("'{text}' is not a date, dateTime or instant"),
        )
    })?;
    let (mut low, mut high) = (range.low, range.high);
    if prefix == Prefix::Ap {
        let middle = low / 2 + high / 2;
        let margin = ((now_micros - middle).abs() / 10).max(DAY_MICROS);
        (low, high) = (low.saturating_sub(margin), high.saturating_add(margin));
    }
    Ok(DateValue { prefix, low, high })
}

/// The criterion of a date parameter. `ne` values are negated together: no stored range equals
/// any of them.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    now_micros: i64,
) -> Result<RowCriterion, SearchError> {
    if let Some(other) = modifier {
        return Err(unsupported_modifier(written, other));
    }
    let values = values
        .iter()
        .map(|raw| parse_value(written, raw, now_micros))
        .collect::<Result<Vec<_>, _>>()?;
    let prefixes: Vec<Prefix> = values.iter().map(|v| v.prefix).collect();
    let negated = negated_prefixes(written, &prefixes)?;
    Ok(RowCriterion::new(
        Table::Date,
        code,
        RowTest::Date(values),
        negated,
        rank::RANGE,
    ))
}
