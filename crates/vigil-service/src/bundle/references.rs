//! Reference rewriting inside a transaction: `urn:uuid:` and other `fullUrl`s of the bundle's
//! own entries become `Type/id` (a relative `Type/id` names the entry whose absolute `fullUrl`
//! ends in it), and conditional references (`Patient?identifier=x`) become the
//! one resource they match.

use serde_json::{Map, Value};
use std::collections::HashMap;

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

/// The entries' absolute `fullUrl`s by their `Type/id` tail, so that a relative reference
/// (`Patient/0`) finds the entry whose fullUrl is `http://example.org/fhir/Patient/0`
/// (bundle.html#references).
#[derive(Debug, Default)]
pub(crate) struct RelativeIndex {
    /// `Type/id` -> (base, fullUrl) of every absolute fullUrl ending in it.
    by_tail: HashMap<String, Vec<(String, String)>>,
}

impl RelativeIndex {
    /// Indexes the absolute (`http:`/`https:`) fullUrls among `full_urls`.
    pub(crate) fn new<'a>(full_urls: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_tail: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for full_url in full_urls {
            if let Some((base, tail)) = split_absolute(full_url) {
                by_tail
                    .entry(tail.to_owned())
                    .or_default()
                    .push((base.to_owned(), full_url.to_owned()));
            }
        }
        RelativeIndex { by_tail }
    }

    /// The fullUrl a relative reference names, resolved against the base of the referring
    /// entry's own fullUrl when it is absolute; otherwise the one entry ending in it. Several
    /// entries under different bases, none of them the referrer's, are an error.
    pub(crate) fn resolve(
        &self,
        reference: &str,
        referrer: Option<&str>,
    ) -> Result<Option<&str>, String> {
        let Some(candidates) = self.by_tail.get(reference) else {
            return Ok(None);
        };
        let own_base = referrer.and_then(split_absolute).map(|(base, _)| base);
        if let Some((_, full_url)) = candidates
            .iter()
            .find(|(base, _)| Some(base.as_str()) == own_base)
        {
            return Ok(Some(full_url));
        }
        match candidates.as_slice() {
            [(_, full_url)] => Ok(Some(full_url)),
            _ => Err(format!(
                "the relative reference '{reference}' matches the fullUrls of several entries ({}); give the referring entry an absolute fullUrl under one of their bases",
                candidates
                    .iter()
                    .map(|(_, url)| url.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// `http://x.org/fhir/Patient/0` as (`http://x.org/fhir`, `Patient/0`); `None` unless the URL is
/// absolute and ends in a resource type and an id.
fn split_absolute(full_url: &str) -> Option<(&str, &str)> {
    if !(full_url.starts_with("http://") || full_url.starts_with("https://")) {
        return None;
    }
    let (rest, id) = full_url.rsplit_once('/')?;
    let (base, resource_type) = rest.rsplit_once('/')?;
    let is_type = resource_type.starts_with(|c: char| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphanumeric());
    let tail = &full_url[base.len() + 1..];
    (is_type && !id.is_empty() && !base.ends_with('/')).then_some((base, tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_references_find_absolute_full_urls() {
        let index = RelativeIndex::new([
            "http://a.org/fhir/Patient/0",
            "http://b.org/fhir/Patient/0",
            "http://a.org/fhir/Practitioner/1",
            "urn:uuid:9d0a2f6e-5c5b-4c67-8f3e-6c6c7b2f1d10",
        ]);
        // The referrer's own base wins.
        assert_eq!(
            index.resolve("Patient/0", Some("http://b.org/fhir/Observation/9")),
            Ok(Some("http://b.org/fhir/Patient/0"))
        );
        // One candidate: found from any referrer.
        assert_eq!(
            index.resolve("Practitioner/1", Some("urn:uuid:1")),
            Ok(Some("http://a.org/fhir/Practitioner/1"))
        );
        assert_eq!(
            index.resolve("Practitioner/1", None),
            Ok(Some("http://a.org/fhir/Practitioner/1"))
        );
        // Two candidates and no base to choose: an error naming both.
        let ambiguous = index.resolve("Patient/0", None).unwrap_err();
        assert!(
            ambiguous.contains("http://a.org/fhir/Patient/0"),
            "{ambiguous}"
        );
        assert_eq!(index.resolve("Patient/7", None), Ok(None));
        assert_eq!(split_absolute("http://x.org/Patient"), None);
        assert_eq!(split_absolute("http://x.org/fhir/patient/1"), None);
    }

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
