//! `reference` parameters: a Reference's `reference` (relative `Type/id`, absolute URL,
//! `urn:uuid:`), canonical and uri values (kept as URLs, and without a `|version` suffix too),
//! and `Reference.identifier` as a `<code>:identifier` token row. Contained references
//! (`#id`) are not indexed.

use serde_json::Value;
use vigil_store::IndexValue;

use super::{Selected, str_member, text_of};

/// Row suffix of the `:identifier` rows.
pub const IDENTIFIER: &str = ":identifier";

/// A reference string, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedReference<'a> {
    /// `Type/id` (optionally `Type/id/_history/n`, the version is dropped).
    Local {
        /// Target type.
        resource_type: &'a str,
        /// Target id.
        id: &'a str,
    },
    /// Anything else: an absolute URL, urn, or canonical.
    Url(&'a str),
    /// `#id`: a contained resource.
    Contained,
}

/// Takes a reference string apart.
pub fn parse_reference(reference: &str) -> ParsedReference<'_> {
    if reference.starts_with('#') {
        return ParsedReference::Contained;
    }
    if reference.contains(':') {
        return ParsedReference::Url(reference);
    }
    let mut segments = reference.split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(resource_type), Some(id), None, None, None)
        | (Some(resource_type), Some(id), Some("_history"), Some(_), None)
            if is_type_name(resource_type) && is_id(id) =>
        {
            ParsedReference::Local { resource_type, id }
        }
        _ => ParsedReference::Url(reference),
    }
}

fn is_type_name(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && text.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn value_of(reference: &str) -> Vec<IndexValue> {
    match parse_reference(reference) {
        ParsedReference::Contained => Vec::new(),
        ParsedReference::Local { resource_type, id } => vec![IndexValue::Reference {
            target_type: Some(resource_type.to_owned()),
            target_id: Some(id.to_owned()),
            url: None,
        }],
        ParsedReference::Url(url) => {
            let mut values = vec![IndexValue::Reference {
                target_type: None,
                target_id: None,
                url: Some(url.to_owned()),
            }];
            if let Some((unversioned, _)) = url.split_once('|') {
                values.push(IndexValue::Reference {
                    target_type: None,
                    target_id: None,
                    url: Some(unversioned.to_owned()),
                });
            }
            values
        }
    }
}

/// The reference index values of an item, each with the suffix of the row's parameter name.
pub fn reference_values(item: &Selected<'_>) -> Vec<(&'static str, IndexValue)> {
    if let Some(text) = text_of(item) {
        return value_of(text)
            .into_iter()
            .map(|value| ("", value))
            .collect();
    }
    let Selected::Node {
        value: object @ Value::Object(_),
        ..
    } = item
    else {
        return Vec::new();
    };
    let mut values: Vec<(&'static str, IndexValue)> = match str_member(object, "reference") {
        Some(reference) => value_of(reference)
            .into_iter()
            .map(|value| ("", value))
            .collect(),
        None => Vec::new(),
    };
    if let Some(identifier) = object.get("identifier") {
        let value = str_member(identifier, "value");
        if value.is_some() {
            values.push((
                IDENTIFIER,
                IndexValue::Token {
                    system: str_member(identifier, "system").map(str::to_owned),
                    code: value.map(str::to_owned),
                    text: None,
                },
            ));
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_taken_apart() {
        let cases = [
            (
                "Patient/123",
                ParsedReference::Local {
                    resource_type: "Patient",
                    id: "123",
                },
            ),
            (
                "Patient/123/_history/2",
                ParsedReference::Local {
                    resource_type: "Patient",
                    id: "123",
                },
            ),
            (
                "http://x.org/fhir/Patient/1",
                ParsedReference::Url("http://x.org/fhir/Patient/1"),
            ),
            ("urn:uuid:1234", ParsedReference::Url("urn:uuid:1234")),
            ("#p1", ParsedReference::Contained),
            ("patient/1", ParsedReference::Url("patient/1")),
            ("Patient/", ParsedReference::Url("Patient/")),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_reference(text), expected, "{text}");
        }
    }

    #[test]
    fn identifiers_become_token_rows() {
        let reference =
            json!({"reference": "Patient/1", "identifier": {"system": "urn:mrn", "value": "42"}});
        let rows = reference_values(&Selected::Node {
            value: &reference,
            fhir_type: Some("Reference"),
        });
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].0, IDENTIFIER);
        let canonical = Selected::Node {
            value: &json!("http://x.org/Questionnaire/q|2.0"),
            fhir_type: Some("canonical"),
        };
        assert_eq!(reference_values(&canonical).len(), 2);
    }
}
