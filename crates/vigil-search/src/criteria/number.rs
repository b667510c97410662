//! `number`: the search value's written precision gives its range (`100` is [99.5, 100.5));
//! a stored number is compared by its value (the middle of its own precision range).

use vigil_store::IndexValue;

use super::{RowCriterion, RowTest, compare, negated_prefixes, unsupported_modifier};
use crate::error::SearchError;
use crate::index::number_range;
use crate::query::value::{Prefix, split_prefix, unescape};
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;

/// The stored value as SQL.
const STORED: &str = "(i.low + i.high) / 2";

/// One prefixed number: its precision range and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberValue {
    /// The prefix.
    pub prefix: Prefix,
    /// Start of the precision range.
    pub low: f64,
    /// End of the precision range (exclusive).
    pub high: f64,
}

impl NumberValue {
    fn exact(&self) -> f64 {
        self.low / 2.0 + self.high / 2.0
    }

    /// `ap`: within 10% of the value (at least the precision range).
    fn approximately(&self) -> (f64, f64) {
        let exact = self.exact();
        let margin = (exact.abs() / 10.0).max(self.high - self.low);
        (exact - margin, exact + margin)
    }

    /// The condition over the stored value.
    pub fn condition(&self) -> Fragment {
        let mut sql = Fragment::text(STORED);
        match self.prefix {
            Prefix::Eq | Prefix::Ne => sql
                .push(" >= ")
                .bind(self.low)
                .push(" AND ")
                .push(STORED)
                .push(" < ")
                .bind(self.high),
            Prefix::Ap => {
                let (low, high) = self.approximately();
                sql.push(" >= ")
                    .bind(low)
                    .push(" AND ")
                    .push(STORED)
                    .push(" <= ")
                    .bind(high)
            }
            other => sql.push(super::operator(other)).bind(self.exact()),
        };
        sql
    }

    /// Whether a number row matches, as [`Self::condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        let IndexValue::Number { low, high } = *row else {
            return false;
        };
        let stored = (low + high) / 2.0;
        match self.prefix {
            Prefix::Eq | Prefix::Ne => stored >= self.low && stored < self.high,
            Prefix::Ap => {
                let (low, high) = self.approximately();
                stored >= low && stored <= high
            }
            other => compare(stored, other, self.exact()),
        }
    }
}

/// The criterion of a number parameter.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
) -> Result<RowCriterion, SearchError> {
    if let Some(other) = modifier {
        return Err(unsupported_modifier(written, other));
    }
    let mut parsed = Vec::with_capacity(values.len());
    for raw in values {
        let value = unescape(raw);
        let (prefix, text) = split_prefix(written, &value)?;
        let (low, high) = number_range(text)
            .ok_or_else(|| SearchError::malformed(written, format!("'{text}' is not a number")))?;
        parsed.push(NumberValue { prefix, low, high });
    }
    let prefixes: Vec<Prefix> = parsed.iter().map(|v| v.prefix).collect();
    let negated = negated_prefixes(written, &prefixes)?;
    Ok(RowCriterion::new(
        Table::Number,
        code,
        RowTest::Number(parsed),
        negated,
        rank::RANGE,
    ))
}
