//! `composite` parameters whose first component is a token and whose second is a token or a
//! quantity (39 of the 46 R4 composites, among them Observation's `code-value-quantity`,
//! `component-code-value-quantity` and `code-value-concept`).
//!
//! The store has no composite table; composite rows live in the existing tables under the
//! composite's code, with the first component encoded as a token key in the `system` column:
//! `system|code` and `code` for a coded value with a system, `|code` and `code` without one, so
//! every search form (`system|code`, `code`, `|code`) is one equality.
//! - token$token: an `idx_token` row, `system` = first key, `code` = second key (same encoding).
//! - token$quantity: an `idx_quantity` row, `system` = first key, and the quantity's unit code,
//!   value and canonical value as usual (the unit's system is not kept: composite quantity
//!   searches compare on the unit code or the UCUM canonical form).
//!
//! Rows come from one selected element at a time, so both components belong to the same
//! element (a component's code is never paired with another component's value).

use vigil_store::IndexValue;

/// The keys a token component is findable by.
pub fn token_keys(value: &IndexValue) -> Vec<String> {
    match value {
        IndexValue::Token {
            system: Some(system),
            code: Some(code),
            ..
        } => vec![format!("{system}|{code}"), code.clone()],
        IndexValue::Token {
            system: None,
            code: Some(code),
            ..
        } => vec![format!("|{code}"), code.clone()],
        _ => Vec::new(),
    }
}

/// The rows of one element: `first` are the first component's token values, `second` the
/// second component's token or quantity values.
pub fn composite_values(first: &[IndexValue], second: &[IndexValue]) -> Vec<IndexValue> {
    let mut values = Vec::new();
    for key in first.iter().flat_map(token_keys) {
        for value in second {
            match value {
                IndexValue::Token { .. } => {
                    for second_key in token_keys(value) {
                        values.push(IndexValue::Token {
                            system: Some(key.clone()),
                            code: Some(second_key),
                            text: None,
                        });
                    }
                }
                IndexValue::Quantity {
                    code,
                    value,
                    canonical_code,
                    canonical_value,
                    ..
                } => values.push(IndexValue::Quantity {
                    system: Some(key.clone()),
                    code: code.clone(),
                    value: *value,
                    canonical_code: canonical_code.clone(),
                    canonical_value: *canonical_value,
                }),
                _ => {}
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_every_search_form() {
        let coded = IndexValue::Token {
            system: Some("http://loinc.org".into()),
            code: Some("8480-6".into()),
            text: None,
        };
        let quantity = IndexValue::Quantity {
            system: None,
            code: Some("mm[Hg]".into()),
            value: 120.0,
            canonical_code: None,
            canonical_value: None,
        };
        let values = composite_values(&[coded], &[quantity]);
        let systems: Vec<_> = values
            .iter()
            .filter_map(|v| match v {
                IndexValue::Quantity { system, .. } => system.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(systems, ["http://loinc.org|8480-6", "8480-6"]);
        let bare = IndexValue::Token {
            system: None,
            code: Some("a".into()),
            text: None,
        };
        assert_eq!(
            composite_values(std::slice::from_ref(&bare), std::slice::from_ref(&bare)).len(),
            4
        );
    }
}
