//! Typed search criteria: each filter parsed once against the registry into a [`Criterion`]
//! (the parameter bound, its modifier and prefix applied, values typed), which is then either
//! rendered to SQL over the index tables (`crate::sql`) or evaluated in memory against one
//! resource's index values (`crate::matcher`).
//!
//! One file per parameter type holds the typed value, its parser, its SQL condition over an
//! index row alias `i` and its test of one [`IndexValue`], side by side, so the two renderings
//! agree by construction (and a change to one is seen next to the other).

pub mod composite;
pub mod confine;
pub mod date;
pub mod number;
pub mod parse;
pub mod quantity;
pub mod reference;
pub mod string;
pub mod token;
pub mod uri;

use std::collections::BTreeSet;

use vigil_store::{IndexValue, SqlDialect};

use crate::error::SearchError;
use crate::query::value::Prefix;
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;
use crate::terminology::Coding;

/// The largest code point: `x < prefix || MAX_CHAR` holds for every string starting with
/// `prefix`, which turns a prefix match into an index range.
pub const MAX_CHAR: char = '\u{10FFFF}';

/// One parsed criterion (the filters of a search are ANDed).
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// `_id`: one of these ids.
    Id(BTreeSet<String>),
    /// A test on the resource's index rows of one parameter.
    Rows(RowCriterion),
    /// `reference[:Type].rest=value`: a reference (through parameter `code`) to a resource of
    /// one of `targets` matching `inner`.
    Chain {
        /// The reference parameter.
        code: String,
        /// The types the chain continues on.
        targets: Vec<String>,
        /// The criterion on the referenced resource.
        inner: Box<Criterion>,
    },
    /// `_has:Type:reference:rest=value`: referenced (through `reference`) by a `source_type`
    /// resource matching `inner`.
    Has {
        /// The referencing type.
        source_type: String,
        /// Its reference parameter.
        reference: String,
        /// The criterion on the referencing resource.
        inner: Box<Criterion>,
    },
    /// Every one of these (the inner criterion of a chain or `_has` with a confinement added;
    /// see [`confine`]).
    All(Vec<Criterion>),
    /// The resource is of one of these types and satisfies every criterion listed for its
    /// type (none: any resource of the type). Confines a search over several types.
    PerType(Vec<(String, Vec<Criterion>)>),
    /// `_content` (the whole resource) or `_text` (the narrative): contains one of `phrases`
    /// (words in order, the last a prefix; see [`crate::full_text`]).
    Content {
        /// `_text`.
        narrative: bool,
        /// The phrases, OR'ed.
        phrases: BTreeSet<Vec<String>>,
    },
}

impl Criterion {
    /// How selective the criterion usually is (the lowest drives the SQL).
    pub fn rank(&self) -> u8 {
        match self {
            Criterion::Id(_) => rank::ID,
            Criterion::Rows(rows) => rows.rank,
            Criterion::Chain { inner, .. } | Criterion::Has { inner, .. } => {
                rank::NESTED.min(inner.rank().max(rank::REFERENCE))
            }
            Criterion::Content { .. } => rank::PREFIX,
            Criterion::All(list) => list.iter().map(Criterion::rank).min().unwrap_or(rank::SCAN),
            Criterion::PerType(list) => list
                .iter()
                .map(|(_, criteria)| {
                    criteria
                        .iter()
                        .map(Criterion::rank)
                        .min()
                        .unwrap_or(rank::SCAN)
                })
                .max()
                .unwrap_or(rank::SCAN),
        }
    }
}

/// "The resource has an index row of one of `params` passing `test`" (or, `negated`, none).
#[derive(Debug, Clone, PartialEq)]
pub struct RowCriterion {
    /// The index table of the rows.
    pub table: Table,
    /// Row parameter names (usually one; derived rows carry a suffix such as `:identifier`).
    pub params: Vec<String>,
    /// What a row must satisfy.
    pub test: RowTest,
    /// True for "has no such row" (`:not`, `:not-in`, `ne`, `:missing=true`).
    pub negated: bool,
    /// Selectivity rank.
    pub rank: u8,
}

impl RowCriterion {
    /// A criterion on the rows of one parameter.
    pub fn new(table: Table, param: &str, test: RowTest, negated: bool, rank: u8) -> Self {
        RowCriterion {
            table,
            params: vec![param.to_owned()],
            test,
            negated,
            rank,
        }
    }
}

/// The typed values of one criterion, OR'ed, as a test on one index row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowTest {
    /// Any row (`:missing`).
    Present,
    /// Token values.
    Token(BTreeSet<token::TokenValue>),
    /// `:text`: the row's text contains one of these (normalised).
    TokenText(BTreeSet<String>),
    /// A terminology set (`:in`, `:not-in`, `:above`, `:below`).
    TokenSet(BTreeSet<Coding>),
    /// `:of-type` values.
    OfType(BTreeSet<token::OfType>),
    /// String values.
    String(string::StringMatch),
    /// Uri values.
    Uri(uri::UriMatch),
    /// Reference targets.
    Reference(BTreeSet<reference::Target>),
    /// Date ranges with their prefixes.
    Date(Vec<date::DateValue>),
    /// Numbers with their prefixes.
    Number(Vec<number::NumberValue>),
    /// Quantities with their prefixes.
    Quantity(Vec<quantity::QuantityValue>),
    /// Composite values.
    Composite(Vec<composite::CompositeValue>),
}

impl RowTest {
    /// The SQL condition over the index row alias `i` (empty for [`RowTest::Present`]).
    pub fn condition(&self, dialect: &dyn SqlDialect) -> Fragment {
        match self {
            RowTest::Present => Fragment::new(),
            RowTest::Token(values) => token::condition(dialect, values),
            RowTest::TokenText(texts) => any(texts.iter().map(|text| {
                let mut condition = Fragment::new();
                condition.push_bound(|needle| dialect.contains("i.text", needle), text.as_str());
                condition
            })),
            RowTest::TokenSet(codes) => token::set_condition(dialect, codes),
            RowTest::OfType(values) => any(values.iter().map(token::OfType::condition)),
            RowTest::String(values) => values.condition(dialect),
            RowTest::Uri(values) => values.condition(dialect),
            RowTest::Reference(targets) => reference::condition(dialect, targets),
            RowTest::Date(values) => any(values.iter().map(date::DateValue::condition)),
            RowTest::Number(values) => any(values.iter().map(number::NumberValue::condition)),
            RowTest::Quantity(values) => any(values.iter().map(|v| v.condition())),
            RowTest::Composite(values) => any(values.iter().map(|v| v.condition())),
        }
    }

    /// Whether one index value passes the test, exactly as [`Self::condition`] decides it.
    pub fn matches(&self, row: &IndexValue) -> bool {
        match self {
            RowTest::Present => true,
            RowTest::Token(values) => token::matches(values, row),
            RowTest::TokenText(texts) => match row {
                IndexValue::Token { text: Some(t), .. } => {
                    texts.iter().any(|needle| t.contains(needle.as_str()))
                }
                _ => false,
            },
            RowTest::TokenSet(codes) => token::set_matches(codes, row),
            RowTest::OfType(values) => values.iter().any(|v| v.matches(row)),
            RowTest::String(values) => values.matches(row),
            RowTest::Uri(values) => values.matches(row),
            RowTest::Reference(targets) => targets.iter().any(|t| t.matches(row)),
            RowTest::Date(values) => values.iter().any(|v| v.matches(row)),
            RowTest::Number(values) => values.iter().any(|v| v.matches(row)),
            RowTest::Quantity(values) => values.iter().any(|v| v.matches(row)),
            RowTest::Composite(values) => values.iter().any(|v| v.matches(row)),
        }
    }
}

/// `(a OR b OR ...)`, or the one condition alone (`1 = 0` for none).
fn any(conditions: impl Iterator<Item = Fragment>) -> Fragment {
    let conditions: Vec<Fragment> = conditions.collect();
    match conditions.as_slice() {
        [] => Fragment::text("1 = 0"),
        [only] => only.clone(),
        _ => {
            let mut joined = Fragment::new();
            joined.join(&conditions, " OR ");
            joined
        }
    }
}

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

/// `a <op> b` as [`operator`] writes it in SQL (for the simple prefixes).
pub fn compare<T: PartialOrd>(a: T, prefix: Prefix, b: T) -> bool {
    match prefix {
        Prefix::Gt | Prefix::Sa => a > b,
        Prefix::Lt | Prefix::Eb => a < b,
        Prefix::Ge => a >= b,
        Prefix::Le => a <= b,
        Prefix::Eq | Prefix::Ne | Prefix::Ap => a == b,
    }
}

/// Whether values of a prefixed range type (number, date, quantity) form a negated criterion:
/// `ne` values become one negated criterion (no row equals any of them); `ne` mixed with other
/// prefixes in one parameter has no single meaning and is refused.
pub fn negated_prefixes(written: &str, prefixes: &[Prefix]) -> Result<bool, SearchError> {
    let negated = prefixes.iter().filter(|p| **p == Prefix::Ne).count();
    match (negated, prefixes.len() - negated) {
        (0, _) => Ok(false),
        (_, 0) => Ok(true),
        _ => Err(SearchError::unsupported(
            written,
            "'ne' cannot be OR'ed with other prefixes in one parameter",
        )),
    }
}

/// The order a binary collation gives two texts (byte order of UTF-8), as the index tables use.
pub fn text_at_least(text: &str, bound: &str) -> bool {
    text.as_bytes() >= bound.as_bytes()
}

/// `low <= text < low || MAX_CHAR`, as the SQL prefix range compares it.
pub fn in_prefix_range(text: &str, low: &str) -> bool {
    let upper = format!("{low}{MAX_CHAR}");
    text_at_least(text, low) && text.as_bytes() < upper.as_bytes()
}
