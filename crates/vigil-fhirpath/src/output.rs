//! Results as JSON: System values as JSON values (decimals with their written precision,
//! dates/times as strings without `@`), Quantities as `{"value", "unit"}`, FHIR nodes as the
//! JSON they came from.

use crate::value::{Item, Quantity};
use serde_json::{Map, Number, Value};
use std::str::FromStr;

fn number(text: &str) -> Value {
    Number::from_str(text)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn quantity(q: &Quantity<'_>) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), number(&q.value.to_string()));
    m.insert("unit".into(), Value::String(q.unit.to_string()));
    Value::Object(m)
}

/// One item as JSON.
pub fn item_to_json(item: &Item<'_>) -> Value {
    match item {
        Item::Boolean(b) => Value::Bool(*b),
        Item::Integer(i) => Value::Number((*i).into()),
        Item::Decimal(d) => number(&d.to_string()),
        Item::String(s) => Value::String(s.to_string()),
        Item::Temporal(t) => Value::String(t.to_fhir_string()),
        Item::Quantity(q) => quantity(q),
        Item::Node(n) => match (n.value, n.ext) {
            (Some(v), _) => v.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => Value::Null,
        },
    }
}

/// A collection as one JSON array.
pub fn to_json(items: &[Item<'_>]) -> Value {
    Value::Array(items.iter().map(item_to_json).collect())
}
