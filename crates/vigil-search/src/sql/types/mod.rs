//! One file per parameter type: how a value (and modifier) becomes conditions over an index
//! table's row alias `i`. Values arrive split at unescaped commas, still escaped.

pub mod composite;
pub mod date;
pub mod number;
pub mod quantity;
pub mod reference;
pub mod string;
pub mod token;
pub mod uri;

use crate::error::SearchError;
use crate::query::value::Prefix;
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;

/// The largest code point: `x < prefix || MAX_CHAR` holds for every string starting with
/// `prefix`, which turns a prefix match into an index range.
pub const MAX_CHAR: char = '\u{10FFFF}';

/// Rejects a modifier the type does not know.
pub fn unsupported_modifier(written: &str, modifier: &str) -> SearchError {
    SearchError::unsupported(
        written,
        format!("modifier ':{modifier}' is not supported on this parameter"),
    )
}

/// SQL comparison operator of the simple prefixes.
pub fn operator(prefix: Prefix) -> &'static str {
    match prefix {
        Prefix::Gt | Prefix::Sa => " > ",
        Prefix::Lt | Prefix::Eb => " < ",
        Prefix::Ge => " >= ",
        Prefix::Le => " <= ",
        Prefix::Eq | Prefix::Ne | Prefix::Ap => " = ",
    }
}

/// The clause of a prefixed range type (number, date, quantity): the values' conditions are
/// OR'ed; `ne` values become one negated clause. `ne` mixed with other prefixes in one
/// parameter has no single meaning and is refused.
pub fn prefixed_clause(
    table: Table,
    code: &str,
    written: &str,
    conditions: Vec<(Prefix, Fragment)>,
) -> Result<Clause, SearchError> {
    let (negated, alternatives): (Vec<_>, Vec<_>) = conditions
        .into_iter()
        .partition(|(prefix, _)| *prefix == Prefix::Ne);
    let strip = |list: Vec<(Prefix, Fragment)>| list.into_iter().map(|(_, sql)| sql).collect();
    match (alternatives.is_empty(), negated.is_empty()) {
        (_, true) => Ok(Clause::index(
            table,
            code,
            strip(alternatives),
            false,
            rank::RANGE,
        )),
        (true, false) => Ok(Clause::index(
            table,
            code,
            strip(negated),
            true,
            rank::RANGE,
        )),
        (false, false) => Err(SearchError::unsupported(
            written,
            "'ne' cannot be OR'ed with other prefixes in one parameter",
        )),
    }
}
