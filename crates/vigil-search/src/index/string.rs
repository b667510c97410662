//! `string` parameters: a primitive string, or every part of a HumanName (family, given,
//! prefix, suffix, text) or Address (line, city, district, state, postalCode, country, text).

use serde_json::Value;
use vigil_store::IndexValue;

use super::{Selected, text_of};
use crate::normalize::normalize;

const NAME_PARTS: [&str; 5] = ["text", "family", "given", "prefix", "suffix"];
const ADDRESS_PARTS: [&str; 7] = [
    "text",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
];

/// The string index values of an item.
pub fn string_values(item: &Selected<'_>) -> Vec<IndexValue> {
    if let Some(text) = text_of(item) {
        return vec![string_value(text)];
    }
    let Selected::Node {
        value: object @ Value::Object(map),
        fhir_type,
    } = item
    else {
        return Vec::new();
    };
    let parts: &[&str] = match fhir_type {
        Some("HumanName") => &NAME_PARTS,
        Some("Address") => &ADDRESS_PARTS,
        Some(_) => &[],
        None if map.contains_key("family") || map.contains_key("given") => &NAME_PARTS,
        None => &ADDRESS_PARTS,
    };
    let mut values = Vec::new();
    for part in parts {
        match object.get(*part) {
            Some(Value::String(text)) => values.push(string_value(text)),
            Some(Value::Array(items)) => {
                values.extend(items.iter().filter_map(Value::as_str).map(string_value))
            }
            _ => {}
        }
    }
    values
}

fn string_value(text: &str) -> IndexValue {
    IndexValue::String {
        normalized: normalize(text),
        exact: text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_addresses_index_every_part() {
        let name = json!({"family": "Müller", "given": ["Anna", "Maria"], "use": "official"});
        let values = string_values(&Selected::Node {
            value: &name,
            fhir_type: Some("HumanName"),
        });
        let normalized: Vec<_> = values
            .iter()
            .map(|v| match v {
                IndexValue::String { normalized, .. } => normalized.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(normalized, ["muller", "anna", "maria"]);
        let address = json!({"line": ["1 Main St"], "city": "Boston", "postalCode": "02101"});
        assert_eq!(
            string_values(&Selected::Node {
                value: &address,
                fhir_type: None
            })
            .len(),
            3
        );
        assert_eq!(string_values(&Selected::String("X".into())).len(), 1);
        assert!(string_values(&Selected::Boolean(true)).is_empty());
    }
}
