//! Reference rewriting inside a transaction: `urn:uuid:` and other `fullUrl`s of the bundle's
//! own entries become `Type/id`, and conditional references (`Patient?identifier=x`) become the
//! one resource they match.

use serde_json::{Map, Value};

/// Every `reference` string of a resource (at any depth, contained resources included), with
/// a mutable handle so the caller can rewrite it.
pub fn for_each_reference(
    value: &mut Value,
    visit: &mut dyn FnMut(&mut String) -> Result<(), String>,
) -> Result<(), String> {
    match value {
        Value::Object(map) => visit_object(map, visit),
        Value::Array(items) => {
            for item in items {
                for_each_reference(item, visit)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn visit_object(
    map: &mut Map<String, Value>,
    visit: &mut dyn FnMut(&mut String) -> Result<(), String>,
) -> Result<(), String> {
    for (key, value) in map.iter_mut() {
        match value {
            Value::String(text) if key == "reference" => visit(text)?,
            Value::Object(_) | Value::Array(_) => for_each_reference(value, visit)?,
            _ => {}
        }
    }
    Ok(())
}

/// A conditional reference: `Type?query` (not a local `Type/id`, not a URL, not a fragment).
pub fn as_conditional(reference: &str) -> Option<(&str, &str)> {
    let (resource_type, query) = reference.split_once('?')?;
    let is_type = !resource_type.is_empty()
        && resource_type.starts_with(|c: char| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphanumeric());
    is_type.then_some((resource_type, query))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_every_reference_at_any_depth() {
        let mut resource = json!({
            "resourceType": "Observation",
            "subject": {"reference": "urn:uuid:1"},
            "performer": [{"reference": "Practitioner?identifier=x|1"}, {"display": "no reference"}],
            "contained": [{"resourceType": "Patient", "generalPractitioner": [{"reference": "urn:uuid:2"}]}],
            "note": [{"text": "reference"}],
        });
        let mut seen = Vec::new();
        for_each_reference(&mut resource, &mut |r| {
            seen.push(r.clone());
            *r = format!("rewritten:{r}");
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            ["urn:uuid:1", "Practitioner?identifier=x|1", "urn:uuid:2"]
        );
        assert_eq!(resource["subject"]["reference"], "rewritten:urn:uuid:1");
    }

    #[test]
    fn conditional_references() {
        assert_eq!(
            as_conditional("Patient?identifier=a|b"),
            Some(("Patient", "identifier=a|b"))
        );
        assert_eq!(as_conditional("Patient/1"), None);
        assert_eq!(as_conditional("http://x.org/Patient?x=1"), None);
        assert_eq!(as_conditional("#contained"), None);
    }
}
