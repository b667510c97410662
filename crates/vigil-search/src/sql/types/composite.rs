//! `composite` (token$token and token$quantity, see `index::composite` for the row encoding):
//! `code$value` where the first part is `system|code`, `|code` or `code`, and the second a token
//! of the same forms or a quantity with its prefix (`http://loinc.org|8480-6$gt140`).

use super::{quantity, unsupported_modifier};
use crate::error::SearchError;
use crate::query::value::{split_unescaped, unescape};
use crate::registry::ParamType;
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;

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

/// The clause of a composite parameter whose components are `kinds`.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    kinds: &[ParamType],
) -> Result<Clause, SearchError> {
    if let Some(other) = modifier {
        return Err(unsupported_modifier(written, other));
    }
    let second = match kinds {
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
    let mut alternatives = Vec::new();
    for raw in values {
        let parts = split_unescaped(raw, '$');
        let [first, value] = parts.as_slice() else {
            return Err(SearchError::malformed(
                written,
                format!("'{raw}' is not two values joined by '$'"),
            ));
        };
        let mut condition = Fragment::text("i.system = ");
        condition.bind(token_key(written, first)?).push(" AND ");
        if second == ParamType::Token {
            condition.push("i.code = ").bind(token_key(written, value)?);
        } else {
            let (_, quantity) = quantity::condition(written, value, false)?;
            condition.append(&quantity);
        }
        alternatives.push(condition);
    }
    let table = if second == ParamType::Token {
        Table::Token
    } else {
        Table::Quantity
    };
    Ok(Clause::index(table, code, alternatives, false, rank::TOKEN))
}
