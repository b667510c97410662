//! `composite` (token$token and token$quantity, see `index::composite` for the row encoding):
//! `code$value` where the first part is `system|code`, `|code` or `code`, and the second a token
//! of the same forms or a quantity with its prefix (`http://loinc.org|8480-6$gt140`).

use vigil_store::IndexValue;

use super::quantity::{self, QuantityValue};
use super::{RowCriterion, RowTest, unsupported_modifier};
use crate::error::SearchError;
use crate::query::value::{split_unescaped, unescape};
use crate::registry::ParamType;
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;

/// The second component of a composite value.
#[derive(Debug, Clone, PartialEq)]
pub enum Second {
    /// A token key.
    Token(String),
    /// A quantity (its unit system is not kept in composite rows).
    Quantity(QuantityValue),
}

/// One composite search value: the first component's token key and the second component.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeValue {
    /// Token key of the first component, as the rows store it in `system`.
    pub first: String,
    /// The second component.
    pub second: Second,
}

impl CompositeValue {
    /// The condition over the token or quantity row alias `i`.
    pub fn condition(&self) -> Fragment {
        let mut condition = Fragment::text("i.system = ");
        condition.bind(self.first.as_str()).push(" AND ");
        match &self.second {
            Second::Token(key) => {
                condition.push("i.code = ").bind(key.as_str());
            }
            Second::Quantity(quantity) => {
                condition.append(&quantity.condition());
            }
        }
        condition
    }

    /// Whether a row matches, as [`Self::condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        match (&self.second, row) {
            (Second::Token(key), IndexValue::Token { system, code, .. }) => {
                system.as_ref() == Some(&self.first) && code.as_ref() == Some(key)
            }
            (Second::Quantity(quantity), IndexValue::Quantity { system, .. }) => {
                system.as_ref() == Some(&self.first) && quantity.matches(row)
            }
            _ => false,
        }
    }
}

/// The key of a token part, as `index::composite::token_keys` stores it.
fn token_key(written: &str, raw: &str) -> Result<String, SearchError> {
    match split_unescaped(raw, '|').as_slice() {
        [code] if !code.is_empty() => Ok(unescape(code)),
        [system, code] if !code.is_empty() => {
            Ok(format!("{}|{}", unescape(system), unescape(code)))
        }
        _ => Err(SearchError::malformed(
            written,
            format!("'{raw}' is not code, system|code or |code"),
        )),
    }
}

/// The criterion of a composite parameter whose components are `kinds`.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    kinds: &[ParamType],
) -> Result<RowCriterion, SearchError> {
    if let Some(other) = modifier {
        return Err(unsupported_modifier(written, other));
    }
    let second_kind = match kinds {
        [
            ParamType::Token,
            second @ (ParamType::Token | ParamType::Quantity),
        ] => *second,
        _ => {
            return Err(SearchError::unsupported(
                written,
                format!("composite of {kinds:?} is not supported"),
            ));
        }
    };
    let mut parsed = Vec::new();
    for raw in values {
        let parts = split_unescaped(raw, '$');
        let [first, value] = parts.as_slice() else {
            return Err(SearchError::malformed(
                written,
                format!("'{raw}' is not two values joined by '$'"),
            ));
        };
        let second = if second_kind == ParamType::Token {
            Second::Token(token_key(written, value)?)
        } else {
            Second::Quantity(quantity::parse_value(written, value, false)?)
        };
        parsed.push(CompositeValue {
            first: token_key(written, first)?,
            second,
        });
    }
    let table = if second_kind == ParamType::Token {
        Table::Token
    } else {
        Table::Quantity
    };
    Ok(RowCriterion::new(
        table,
        code,
        RowTest::Composite(parsed),
        false,
        rank::TOKEN,
    ))
}
