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
