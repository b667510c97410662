//! `uri`: exact match, `:below` (the value is a prefix of the stored uri), `:above` (the stored
//! uri is a prefix of the value, at `/` boundaries).

use std::collections::BTreeSet;

use vigil_store::{IndexValue, SqlDialect};

use super::{MAX_CHAR, RowCriterion, RowTest, in_prefix_range, unsupported_modifier};
use crate::error::SearchError;
use crate::query::value::unescape;
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;

/// The values of a uri criterion by modifier.
#[derive(Debug, Clone, PartialEq)]
pub enum UriMatch {
    /// Exactly one of these.
    Exact(BTreeSet<String>),
    /// `:below`: starts with one of these.
    Below(BTreeSet<String>),
    /// `:above`: one of these or an ancestor of one.
    Above(BTreeSet<String>),
}

/// The value and each of its prefixes ending before a `/` (longest first).
fn ancestors(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let scheme_end = value.find("://").map_or(0, |at| at + 3);
    for (at, c) in value.char_indices().rev() {
        if c == '/' && at > scheme_end {
            out.push(value[..at].to_owned());
        }
    }
    out
}

impl UriMatch {
    /// The condition over `i.uri`.
    pub fn condition(&self, dialect: &dyn SqlDialect) -> Fragment {
        match self {
            UriMatch::Exact(values) => {
                let mut condition = Fragment::new();
                condition.in_list(dialect, "i.uri", values.iter().map(String::as_str));
                condition
            }
            UriMatch::Below(values) => super::any(values.iter().map(|value| {
                let mut condition = Fragment::new();
                condition
                    .push("i.uri >= ")
                    .bind(value.as_str())
                    .push(" AND i.uri < ")
                    .bind(format!("{value}{MAX_CHAR}"));
                condition
            })),
            UriMatch::Above(values) => {
                let all: BTreeSet<String> = values.iter().flat_map(|v| ancestors(v)).collect();
                let mut condition = Fragment::new();
                condition.in_list(dialect, "i.uri", all);
                condition
            }
        }
    }

    /// Whether a uri row matches, as [`Self::condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        let IndexValue::Uri(uri) = row else {
            return false;
        };
        match self {
            UriMatch::Exact(values) => values.contains(uri),
            UriMatch::Below(values) => values.iter().any(|v| in_prefix_range(uri, v)),
            UriMatch::Above(values) => values.iter().any(|v| ancestors(v).contains(uri)),
        }
    }
}

/// The criterion of a uri parameter.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
) -> Result<RowCriterion, SearchError> {
    let values: BTreeSet<String> = values.iter().map(|raw| unescape(raw)).collect();
    let (test, rank) = match modifier {
        None => (UriMatch::Exact(values), rank::EXACT),
        Some("below") => (UriMatch::Below(values), rank::PREFIX),
        Some("above") => (UriMatch::Above(values), rank::EXACT),
        Some(other) => return Err(unsupported_modifier(written, other)),
    };
    Ok(RowCriterion::new(
        Table::Uri,
        code,
        RowTest::Uri(test),
        false,
        rank,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_stop_at_the_authority() {
        assert_eq!(
            ancestors("http://acme.org/fhir/ValueSet/123"),
            [
                "http://acme.org/fhir/ValueSet/123",
                "http://acme.org/fhir/ValueSet",
                "http://acme.org/fhir",
                "http://acme.org"
            ]
        );
        assert_eq!(ancestors("urn:oid:1.2"), ["urn:oid:1.2"]);
    }
}
