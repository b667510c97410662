//! Index extraction: what a search parameter's FHIRPath expression selects, turned into the
//! store's [`IndexValue`]s, one file per parameter type.
//!
//! The FHIRPath engine hands back [`Selected`] items: FHIR nodes borrowed from the resource
//! (with their FHIR type when the engine knows it) or System values it computed. Conversion
//! looks at the FHIR type first and at the JSON shape when the type is unknown, so `Coding`,
//! `CodeableConcept`, `Identifier`, `ContactPoint`, `Period`, `Timing`, `HumanName`, `Address`,
//! `Quantity`, `Money` and `Reference` are each indexed as FHIR's search page says.
//!
//! Besides the rows named after the parameter's code, two derived row kinds exist (documented in
//! docs/conformance.md): `<code>:identifier` token rows for `Reference.identifier` (the
//! `:identifier` modifier) and `<code>:of-type` token rows for `Identifier.type` + value (the
//! `:of-type` modifier).

pub mod composite;
mod date;
mod number;
mod quantity;
mod reference;
mod string;
mod token;

use serde_json::Value;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use vigil_store::{IndexRow, IndexValue};

use crate::registry::ParamType;

pub use date::date_values;
pub use number::number_range;
pub use quantity::{UCUM, canonical_quantity, quantity_values};
pub use reference::{IDENTIFIER, ParsedReference, parse_reference};
pub use string::string_values;
pub use token::OF_TYPE;
pub use token::token_values;

/// One item an expression selected.
#[derive(Debug, Clone, PartialEq)]
pub enum Selected<'a> {
    /// A FHIR element of the resource, with its FHIR type when known.
    Node {
        /// The element's JSON.
        value: &'a Value,
        /// FHIR type (`CodeableConcept`, `string`, `dateTime`, ...).
        fhir_type: Option<&'a str>,
    },
    /// A System.String (or any computed string).
    String(String),
    /// A System.Boolean.
    Boolean(bool),
    /// A System.Integer or System.Decimal, as written.
    Number(String),
    /// A System.Date or System.DateTime in FHIR syntax.
    DateTime(String),
    /// A System.Quantity.
    Quantity {
        /// Decimal value as written.
        value: String,
        /// UCUM unit.
        unit: String,
    },
}

/// Index rows without duplicates, in first-seen order. A row is looked up by its hash, so
/// adding n rows costs O(n) expected (a linear scan per row made a Patient with 16,000 names
/// take seconds: issue 20); [`RowSet::comparisons`] counts the full comparisons made.
#[derive(Debug, Default)]
pub struct RowSet {
    rows: Vec<IndexRow>,
    by_hash: HashMap<u64, Vec<usize>>,
    comparisons: usize,
}

impl RowSet {
    /// Adds a row unless an equal one is already in.
    pub fn push(&mut self, row: IndexRow) {
        let slot = self.by_hash.entry(row_hash(&row)).or_default();
        for &at in slot.iter() {
            self.comparisons += 1;
            if self.rows[at] == row {
                return;
            }
        }
        slot.push(self.rows.len());
        self.rows.push(row);
    }

    /// The rows, in first-seen order.
    pub fn into_rows(self) -> Vec<IndexRow> {
        self.rows
    }

    /// How many rows are in.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is in.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Full row comparisons made so far (equal hashes only): the work is linear when this
    /// stays near the number of duplicates pushed.
    pub fn comparisons(&self) -> usize {
        self.comparisons
    }
}

/// A hash consistent with `IndexRow`'s equality (`0.0` and `-0.0` hash alike; the index
/// holds no NaN).
fn row_hash(row: &IndexRow) -> u64 {
    fn float(value: f64, hasher: &mut DefaultHasher) {
        let bits = if value == 0.0 { 0 } else { value.to_bits() };
        bits.hash(hasher);
    }
    let mut hasher = DefaultHasher::new();
    row.param.hash(&mut hasher);
    match &row.value {
        IndexValue::String { normalized, exact } => (0u8, normalized, exact).hash(&mut hasher),
        IndexValue::Token { system, code, text } => (1u8, system, code, text).hash(&mut hasher),
        IndexValue::Date { low, high } => (2u8, low, high).hash(&mut hasher),
        IndexValue::Number { low, high } => {
            3u8.hash(&mut hasher);
            float(*low, &mut hasher);
            float(*high, &mut hasher);
        }
        IndexValue::Quantity {
            system,
            code,
            value,
            canonical_code,
            canonical_value,
        } => {
            (4u8, system, code, canonical_code).hash(&mut hasher);
            float(*value, &mut hasher);
            if let Some(value) = canonical_value {
                float(*value, &mut hasher);
            }
        }
        IndexValue::Reference {
            target_type,
            target_id,
            url,
        } => (5u8, target_type, target_id, url).hash(&mut hasher),
        IndexValue::Uri(uri) => (6u8, uri).hash(&mut hasher),
        IndexValue::Text { content, narrative } => (7u8, content, narrative).hash(&mut hasher),
    }
    hasher.finish()
}

/// The index rows of one selected item for a parameter of type `kind`.
pub fn rows_for(code: &str, kind: ParamType, item: &Selected<'_>, rows: &mut RowSet) {
    let mut push = |param: String, value: IndexValue| rows.push(IndexRow { param, value });
    match kind {
        ParamType::String => {
            for value in string::string_values(item) {
                push(code.to_owned(), value);
            }
        }
        ParamType::Token => {
            for (suffix, value) in token::token_values(item) {
                push(format!("{code}{suffix}"), value);
            }
        }
        ParamType::Date => {
            for value in date_values(item) {
                push(code.to_owned(), value);
            }
        }
        ParamType::Number => {
            if let Some(value) = number::number_value(item) {
                push(code.to_owned(), value);
            }
        }
        ParamType::Quantity => {
            for value in quantity_values(item) {
                push(code.to_owned(), value);
            }
        }
        ParamType::Reference => {
            for (suffix, value) in reference::reference_values(item) {
                push(format!("{code}{suffix}"), value);
            }
        }
        ParamType::Uri => {
            if let Some(text) = text_of(item) {
                push(code.to_owned(), IndexValue::Uri(text.to_owned()));
            }
        }
        ParamType::Composite | ParamType::Special => {}
    }
}

/// The text of a string-like item (FHIR primitive string or System string).
pub(crate) fn text_of<'s>(item: &'s Selected<'_>) -> Option<&'s str> {
    match item {
        Selected::Node {
            value: Value::String(text),
            ..
        } => Some(text),
        Selected::String(text) | Selected::DateTime(text) => Some(text),
        _ => None,
    }
}

/// A string member of a JSON object.
pub(crate) fn str_member<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

/// The FHIR type of a node, when known.
pub(crate) fn type_of<'a>(item: &Selected<'a>) -> Option<&'a str> {
    match item {
        Selected::Node { fhir_type, .. } => *fhir_type,
        _ => None,
    }
}
