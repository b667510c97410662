//! `token` parameters: codes and other primitives (code only), Coding and CodeableConcept
//! (system, code, display or text for `:text`), Identifier (system, value; plus an
//! `:of-type` row), ContactPoint (value, with its system), boolean (`true`/`false`).

use serde_json::Value;
use vigil_store::IndexValue;

use super::{Selected, str_member, text_of, type_of};
use crate::normalize::normalize;

/// ContactPoint.system codes, to tell a ContactPoint from an Identifier by shape.
const CONTACT_SYSTEMS: [&str; 7] = ["phone", "fax", "email", "pager", "url", "sms", "other"];

/// Row suffix of the `:of-type` rows.
pub const OF_TYPE: &str = ":of-type";

/// The token index values of an item, each with the suffix of the row's parameter name.
pub fn token_values(item: &Selected<'_>) -> Vec<(&'static str, IndexValue)> {
    match item {
        Selected::Boolean(flag) => {
            return vec![("", code_only(if *flag { "true" } else { "false" }))];
        }
        Selected::Number(text) => return vec![("", code_only(text))],
        Selected::Node {
            value: Value::Bool(flag),
            ..
        } => {
            return vec![("", code_only(if *flag { "true" } else { "false" }))];
        }
        Selected::Node {
            value: Value::Number(number),
            ..
        } => return vec![("", code_only(&number.to_string()))],
        _ => {}
    }
    if let Some(text) = text_of(item) {
        return vec![("", code_only(text))];
    }
    let Selected::Node {
        value: object @ Value::Object(_),
        ..
    } = item
    else {
        return Vec::new();
    };
    match type_of(item).unwrap_or_else(|| guess_type(object)) {
        "CodeableConcept" => codeable_concept(object),
        "Coding" => vec![("", coding(object, None))],
        "Identifier" => identifier(object),
        "ContactPoint" => {
            let value = str_member(object, "value");
            vec![("", token(str_member(object, "system"), value, None))]
        }
        _ => Vec::new(),
    }
}

fn guess_type(object: &Value) -> &'static str {
    if object.get("coding").is_some()
        || (object.get("text").is_some() && object.get("code").is_none())
    {
        "CodeableConcept"
    } else if object.get("code").is_some() {
        "Coding"
    } else if str_member(object, "system").is_some_and(|system| CONTACT_SYSTEMS.contains(&system)) {
        "ContactPoint"
    } else if object.get("value").is_some() {
        "Identifier"
    } else {
        ""
    }
}

fn token(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(str::to_owned),
        code: code.map(str::to_owned),
        text: text.map(normalize),
    }
}

fn code_only(code: &str) -> IndexValue {
    token(None, Some(code), None)
}

fn coding(object: &Value, fallback_text: Option<&str>) -> IndexValue {
    let text = str_member(object, "display").or(fallback_text);
    token(
        str_member(object, "system"),
        str_member(object, "code"),
        text,
    )
}

fn codeable_concept(object: &Value) -> Vec<(&'static str, IndexValue)> {
    let text = str_member(object, "text");
    let codings: Vec<_> = match object.get("coding") {
        Some(Value::Array(codings)) => codings.iter().map(|c| ("", coding(c, text))).collect(),
        _ => Vec::new(),
    };
    // The concept's text is searchable with `:text` even when every coding has a display.
    let mut values = codings;
    let text_indexed = values.iter().any(|(_, value)| {
        matches!(value, IndexValue::Token { text: Some(t), .. } if Some(t.as_str()) == text.map(normalize).as_deref())
    });
    if let (Some(text), false) = (text, text_indexed) {
        values.push(("", token(None, None, Some(text))));
    }
    values
}

fn identifier(object: &Value) -> Vec<(&'static str, IndexValue)> {
    let value = str_member(object, "value");
    let type_text = object.get("type").and_then(|t| str_member(t, "text"));
    let mut values = vec![("", token(str_member(object, "system"), value, type_text))];
    if let (Some(Value::Array(codings)), Some(value)) =
        (object.get("type").and_then(|t| t.get("coding")), value)
    {
        for type_coding in codings {
            if let Some(code) = str_member(type_coding, "code") {
                let combined = format!("{code}|{value}");
                values.push((
                    OF_TYPE,
                    token(str_member(type_coding, "system"), Some(&combined), None),
                ));
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(value: &Value, fhir_type: Option<&'static str>) -> Vec<(&'static str, IndexValue)> {
        token_values(&Selected::Node { value, fhir_type })
    }

    #[test]
    fn codeable_concepts_give_one_row_per_coding() {
        let concept = json!({"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
            {"system": "http://snomed.info/sct", "code": "364075005"}], "text": "Pulse"});
        let rows = node(&concept, None);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].1,
            token(Some("http://loinc.org"), Some("8867-4"), Some("Heart rate"))
        );
        assert_eq!(
            rows[1].1,
            token(
                Some("http://snomed.info/sct"),
                Some("364075005"),
                Some("Pulse")
            )
        );
        assert_eq!(
            node(&json!({"text": "Only text"}), Some("CodeableConcept")).len(),
            1
        );
    }

    #[test]
    fn identifiers_contact_points_and_primitives() {
        let identifier = json!({"system": "urn:mrn", "value": "123",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}});
        let rows = node(&identifier, Some("Identifier"));
        assert_eq!(rows[0], ("", token(Some("urn:mrn"), Some("123"), None)));
        assert_eq!(
            rows[1],
            (
                OF_TYPE,
                token(
                    Some("http://terminology.hl7.org/CodeSystem/v2-0203"),
                    Some("MR|123"),
                    None
                )
            )
        );
        let phone = json!({"system": "phone", "value": "555-1234", "use": "home"});
        assert_eq!(
            node(&phone, None),
            vec![("", token(Some("phone"), Some("555-1234"), None))]
        );
        assert_eq!(
            node(&json!("male"), Some("code")),
            vec![("", code_only("male"))]
        );
        assert_eq!(
            node(&json!(true), Some("boolean")),
            vec![("", code_only("true"))]
        );
        assert!(node(&json!({"foo": 1}), None).is_empty());
    }
}
