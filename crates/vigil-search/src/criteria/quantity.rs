//! `quantity`: `[prefix]value[|system|code]`. With a UCUM unit that converts, the comparison
//! runs on canonical values (`5.4|http://unitsofmeasure.org|mg` finds `0.0054 g`); otherwise
//! on the value as written, restricted to the system and code (or unit) when given. The value's
//! written precision gives the `eq` range; `ap` is within 10%.

use vigil_store::IndexValue;

use super::{RowCriterion, RowTest, compare, negated_prefixes, unsupported_modifier};
use crate::error::SearchError;
use crate::index::{UCUM, canonical_quantity, number_range};
use crate::query::value::{Prefix, split_prefix, split_unescaped, unescape};
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;

/// A range and value to compare a stored number with under a prefix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compared {
    /// Start of the precision range.
    pub low: f64,
    /// End of the precision range (exclusive).
    pub high: f64,
    /// The value.
    pub exact: f64,
}

impl Compared {
    fn margin(&self) -> f64 {
        (self.exact.abs() / 10.0).max(self.high - self.low)
    }

    fn condition(&self, column: &str, prefix: Prefix) -> Fragment {
        let mut sql = Fragment::text(column);
        match prefix {
            Prefix::Eq | Prefix::Ne => sql
                .push(" >= ")
                .bind(self.low)
                .push(" AND ")
                .push(column)
                .push(" < ")
                .bind(self.high),
            Prefix::Ap => sql
                .push(" BETWEEN ")
                .bind(self.exact - self.margin())
                .push(" AND ")
                .bind(self.exact + self.margin()),
            other => sql.push(super::operator(other)).bind(self.exact),
        };
        sql
    }

    fn matches(&self, stored: f64, prefix: Prefix) -> bool {
        match prefix {
            Prefix::Eq | Prefix::Ne => stored >= self.low && stored < self.high,
            Prefix::Ap => {
                stored >= self.exact - self.margin() && stored <= self.exact + self.margin()
            }
            other => compare(stored, other, self.exact),
        }
    }
}

/// One quantity search value.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityValue {
    /// The prefix.
    pub prefix: Prefix,
    /// In UCUM canonical form when the unit converts: (canonical unit, compared values).
    pub canonical: Option<(String, Compared)>,
    /// As written otherwise.
    pub written: Compared,
    /// The unit system to match (not for composite rows, whose `system` holds the token key).
    pub system: Option<String>,
    /// The unit code to match.
    pub code: Option<String>,
}

impl QuantityValue {
    /// The condition over the quantity row alias `i`.
    pub fn condition(&self) -> Fragment {
        if let Some((unit, compared)) = &self.canonical {
            let mut sql = Fragment::text("i.canonical_code = ");
            sql.bind(unit.as_str())
                .push(" AND ")
                .append(&compared.condition("i.canonical_value", self.prefix));
            return sql;
        }
        let mut sql = self.written.condition("i.value", self.prefix);
        if let Some(system) = &self.system {
            sql.push(" AND i.system = ").bind(system.as_str());
        }
        if let Some(code) = &self.code {
            sql.push(" AND i.code = ").bind(code.as_str());
        }
        sql
    }

    /// Whether a quantity row matches, as [`Self::condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        let IndexValue::Quantity {
            system,
            code,
            value,
            canonical_code,
            canonical_value,
        } = row
        else {
            return false;
        };
        if let Some((unit, compared)) = &self.canonical {
            return canonical_code.as_ref() == Some(unit)
                && canonical_value.is_some_and(|v| compared.matches(v, self.prefix));
        }
        self.written.matches(*value, self.prefix)
            && self
                .system
                .as_ref()
                .is_none_or(|s| system.as_ref() == Some(s))
            && self.code.as_ref().is_none_or(|c| code.as_ref() == Some(c))
    }
}

/// Reads one quantity value; `check_system` is false for composite rows, whose `system`
/// column holds the token component.
pub fn parse_value(
    written: &str,
    raw: &str,
    check_system: bool,
) -> Result<QuantityValue, SearchError> {
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
        let compared = Compared {
            low: c_low.min(c_high),
            high: c_low.max(c_high),
            exact: value,
        };
        Some((canonical_unit, compared))
    });
    Ok(QuantityValue {
        prefix,
        canonical,
        written: Compared { low, high, exact },
        system: system.filter(|_| check_system),
        code,
    })
}

/// The criterion of a quantity parameter.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
) -> Result<RowCriterion, SearchError> {
    if let Some(other) = modifier {
        return Err(unsupported_modifier(written, other));
    }
    let values = values
        .iter()
        .map(|raw| parse_value(written, raw, true))
        .collect::<Result<Vec<_>, _>>()?;
    let prefixes: Vec<Prefix> = values.iter().map(|v| v.prefix).collect();
    let negated = negated_prefixes(written, &prefixes)?;
    Ok(RowCriterion::new(
        Table::Quantity,
        code,
        RowTest::Quantity(values),
        negated,
        rank::RANGE,
    ))
}
