//! Typed access to results for callers such as search indexing: strings, booleans, numbers,
//! dates with precision, quantities, codes (from code, Coding or CodeableConcept) and
//! references, whichever way the value was written in FHIR JSON.

use crate::temporal::Temporal;
use crate::value::{Item, Quantity};
use rust_decimal::Decimal;
use serde_json::Value;

/// A code with its system and display, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coding<'x> {
    /// Code system URI.
    pub system: Option<&'x str>,
    /// The code.
    pub code: Option<&'x str>,
    /// Display text.
    pub display: Option<&'x str>,
}

impl<'a> Item<'a> {
    /// The JSON node behind a FHIR item.
    pub fn json(&self) -> Option<&'a Value> {
        match self {
            Item::Node(n) => n.value,
            _ => None,
        }
    }

    /// A string value (System String or FHIR string-like primitive).
    pub fn to_text(&self) -> Option<String> {
        match self.system()? {
            Item::String(s) => Some(s.to_string()),
            _ => None,
        }
    }

    /// A Boolean value.
    pub fn to_bool(&self) -> Option<bool> {
        match self.system()? {
            Item::Boolean(b) => Some(b),
            _ => None,
        }
    }

    /// A number (Integer or Decimal) as an exact decimal.
    pub fn to_decimal(&self) -> Option<Decimal> {
        match self.system()? {
            Item::Integer(i) => Some(Decimal::from(i)),
            Item::Decimal(d) => Some(d),
            _ => None,
        }
    }

    /// A date, dateTime, instant or time with its precision.
    pub fn to_temporal(&self) -> Option<Temporal> {
        match self.system()? {
            Item::Temporal(t) => Some(t),
            Item::String(s) => Temporal::parse_datetime(&s),
            _ => None,
        }
    }

    /// A quantity (System Quantity or FHIR Quantity/Age/Duration/...).
    pub fn to_quantity(&self) -> Option<Quantity<'a>> {
        match self.system()? {
            Item::Quantity(q) => Some(q),
            _ => None,
        }
    }

    /// Codes: one for a code or Coding, one per coding for a CodeableConcept.
    pub fn to_codings(&self) -> Vec<Coding<'a>> {
        let Some(v) = self.json() else {
            return Vec::new();
        };
        let coding = |v: &'a Value| Coding {
            system: v.get("system").and_then(Value::as_str),
            code: v.get("code").and_then(Value::as_str),
            display: v.get("display").and_then(Value::as_str),
        };
        match v {
            Value::String(s) => vec![Coding {
                system: None,
                code: Some(s),
                display: None,
            }],
            Value::Object(o) => match o.get("coding").and_then(Value::as_array) {
                Some(cs) => cs.iter().map(coding).collect(),
                None if o.contains_key("code") => vec![coding(v)],
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The reference string of a Reference (or a canonical/uri primitive).
    pub fn to_reference(&self) -> Option<&'a str> {
        match self.json()? {
            Value::Object(o) => o.get("reference").and_then(Value::as_str),
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}
