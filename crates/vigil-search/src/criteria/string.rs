//! `string`: case- and accent-insensitive prefix by default, `:exact` (as written),
//! `:contains` (normalised substring).

use std::collections::BTreeSet;

use vigil_store::{IndexValue, SqlDialect};

use super::{MAX_CHAR, RowCriterion, RowTest, in_prefix_range, unsupported_modifier};
use crate::error::SearchError;
use crate::normalize::normalize;
use crate::query::value::unescape;
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;

/// The values of a string criterion by modifier.
#[derive(Debug, Clone, PartialEq)]
pub enum StringMatch {
    /// Normalised prefixes (no modifier).
    Prefix(BTreeSet<String>),
    /// `:exact`: values as written.
    Exact(BTreeSet<String>),
    /// `:contains`: normalised substrings.
    Contains(BTreeSet<String>),
}

impl StringMatch {
    /// The condition over `i.normalized` / `i.exact`.
    pub fn condition(&self, dialect: &dyn SqlDialect) -> Fragment {
        match self {
            StringMatch::Exact(values) => {
                let mut condition = Fragment::new();
                condition.in_list(dialect, "i.exact", values.iter().map(String::as_str));
                condition
            }
            StringMatch::Contains(values) => super::any(values.iter().map(|value| {
                let mut condition = Fragment::new();
                condition.push_bound(
                    |needle| dialect.contains("i.normalized", needle),
                    value.as_str(),
                );
                condition
            })),
            StringMatch::Prefix(values) => super::any(values.iter().map(|value| {
                let mut condition = Fragment::new();
                condition
                    .push("i.normalized >= ")
                    .bind(value.as_str())
                    .push(" AND i.normalized < ")
                    .bind(format!("{value}{MAX_CHAR}"));
                condition
            })),
        }
    }

    /// Whether a string row matches, as [`Self::condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        let IndexValue::String { normalized, exact } = row else {
            return false;
        };
        match self {
            StringMatch::Exact(values) => values.contains(exact),
            StringMatch::Contains(values) => values.iter().any(|v| normalized.contains(v.as_str())),
            StringMatch::Prefix(values) => values.iter().any(|v| in_prefix_range(normalized, v)),
        }
    }
}

/// The criterion of a string parameter.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
) -> Result<RowCriterion, SearchError> {
    let normalized = || values.iter().map(|raw| normalize(&unescape(raw))).collect();
    let (test, rank) = match modifier {
        None => (StringMatch::Prefix(normalized()), rank::PREFIX),
        Some("exact") => (
            StringMatch::Exact(values.iter().map(|raw| unescape(raw)).collect()),
            rank::EXACT,
        ),
        Some("contains") => (StringMatch::Contains(normalized()), rank::SCAN),
        Some(other) => return Err(unsupported_modifier(written, other)),
    };
    Ok(RowCriterion::new(
        Table::String,
        code,
        RowTest::String(test),
        false,
        rank,
    ))
}
