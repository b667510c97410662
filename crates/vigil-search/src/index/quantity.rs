//! `quantity` parameters: Quantity (and its profiles Age, Duration, ...) and Money, indexed with
//! the value in the unit as written and, when the unit is UCUM and converts, the value in the
//! canonical base unit (through the FHIRPath engine's UCUM tables), so `5.4|http://unitsofmeasure.org|mg`
//! finds `0.0054 g`.

use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;
use vigil_fhirpath::ucum;
use vigil_store::IndexValue;

use super::{Selected, str_member};

/// The UCUM code system.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// The quantity index values of an item.
pub fn quantity_values(item: &Selected<'_>) -> Vec<IndexValue> {
    match item {
        Selected::Quantity { value, unit } => quantity(value, Some(UCUM), Some(unit.as_str()))
            .into_iter()
            .collect(),
        Selected::Node {
            value: object @ Value::Object(_),
            ..
        } => {
            let value_text = match object.get("value") {
                Some(Value::Number(number)) => number.to_string(),
                Some(Value::String(text)) => text.clone(),
                _ => return Vec::new(),
            };
            let (system, code) = match str_member(object, "currency") {
                Some(currency) => (Some("urn:iso:std:iso:4217"), Some(currency)),
                None => (
                    str_member(object, "system"),
                    str_member(object, "code").or(str_member(object, "unit")),
                ),
            };
            quantity(&value_text, system, code).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

fn quantity(value_text: &str, system: Option<&str>, code: Option<&str>) -> Option<IndexValue> {
    let value: f64 = value_text.parse().ok().filter(|v: &f64| v.is_finite())?;
    let canonical = match (system, code) {
        (Some(UCUM), Some(code)) => canonical_quantity(value_text, code),
        _ => None,
    };
    Some(IndexValue::Quantity {
        system: system.map(str::to_owned),
        code: code.map(str::to_owned),
        value,
        canonical_code: canonical.as_ref().map(|(unit, _)| unit.clone()),
        canonical_value: canonical.map(|(_, value)| value),
    })
}

/// The value of `value_text` `unit` in UCUM base units: (canonical unit string, value).
pub fn canonical_quantity(value_text: &str, unit: &str) -> Option<(String, f64)> {
    let value = Decimal::from_str(value_text)
        .or_else(|_| Decimal::from_scientific(value_text))
        .ok()?;
    let canonical = ucum::parse(unit)?;
    let base = ucum::to_base(value, unit, &canonical)?;
    Some((canonical.unit_string(), base.to_f64()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_carry_canonical_values() {
        let q = json!({"value": 5.4, "unit": "mg", "system": UCUM, "code": "mg"});
        let values = quantity_values(&Selected::Node {
            value: &q,
            fhir_type: Some("Quantity"),
        });
        let IndexValue::Quantity {
            value,
            canonical_code,
            canonical_value,
            ..
        } = &values[0]
        else {
            panic!()
        };
        assert_eq!(*value, 5.4);
        assert_eq!(canonical_code.as_deref(), Some("g"));
        assert!((canonical_value.unwrap() - 0.0054).abs() < 1e-12);
        let money = json!({"value": 12, "currency": "EUR"});
        let values = quantity_values(&Selected::Node {
            value: &money,
            fhir_type: Some("Money"),
        });
        assert!(
            matches!(&values[0], IndexValue::Quantity { code: Some(c), canonical_code: None, .. } if c == "EUR")
        );
        assert!(
            quantity_values(&Selected::Node {
                value: &json!({"unit": "mg"}),
                fhir_type: None
            })
            .is_empty()
        );
    }
}
