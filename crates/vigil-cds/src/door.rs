//! Small helpers for reading through the service door: every page of a search, the patient a
//! resource is about, stable digests for identifiers, and which service errors are worth a
//! retry.

use serde_json::Value;
use vigil_service::{FhirService, RequestContext, SearchScope, ServiceError, ServiceErrorKind};

/// Most pages one [`search_all`] follows (a bound, not an expectation: CDS searches are
/// narrow, one patient and one hour).
const MAX_PAGES: usize = 20;

/// Every matching resource of a type-level search through the door, following `next` links
/// (at most [`MAX_PAGES`] pages of the service's largest page size).
pub fn search_all(
    service: &FhirService,
    context: &RequestContext,
    resource_type: &str,
    pairs: &[(&str, String)],
) -> Result<Vec<Value>, ServiceError> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        query.push((
            "_count".to_owned(),
            service.config().max_page_size.to_string(),
        ));
        if let Some(cursor) = &cursor {
            query.push(("_cursor".to_owned(), cursor.clone()));
        }
        let bundle = service.search(
            context,
            SearchScope::Type(resource_type.to_owned()),
            query,
            // Strict: a parameter the server cannot apply is an error, never silently dropped
            // (a dropped filter matches more than the consumer asked for).
            true,
        )?;
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            if entry.pointer("/search/mode").and_then(Value::as_str) == Some("match") {
                found.push(entry["resource"].clone());
            }
        }
        cursor = next_cursor(&bundle);
        if cursor.is_none() {
            return Ok(found);
        }
    }
    tracing::warn!(
        resource_type,
        pages = MAX_PAGES,
        "CDS search cut at its page limit"
    );
    Ok(found)
}

/// The `_cursor` of a searchset's `next` link.
fn next_cursor(bundle: &Value) -> Option<String> {
    let link = bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"].as_str() == Some("next"))?;
    let url = link["url"].as_str()?;
    let (_, query) = url.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "_cursor")
        .map(|(_, value)| value.into_owned())
}

/// The `Patient/{id}` a reference points at: relative (`Patient/1`), or absolute
/// (`http://host/fhir/Patient/1`); `None` for anything else (another type, a contained or
/// logical reference).
pub fn patient_reference(reference: Option<&Value>) -> Option<String> {
    let text = reference?.get("reference")?.as_str()?;
    let text = text.split("/_history/").next().unwrap_or(text);
    let mut parts = text.rsplit('/');
    let id = parts.next()?;
    let kind = parts.next()?;
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    (kind == "Patient" && valid_id).then(|| format!("Patient/{id}"))
}

/// A stable 128-bit digest (FNV-1a) of `parts` as 32 hex digits: the same inputs give the same
/// identifier in every process, which is what makes redelivered events write nothing new. Not
/// a security hash; nothing here is secret or adversarial beyond a duplicate.
pub fn digest(parts: &[&str]) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:032x}")
}

/// Removes `meta.versionId` and `meta.lastUpdated` from a resource read back (the door stamps
/// them again), dropping `meta` when nothing else is left (FHIR forbids empty objects).
pub fn strip_version_meta(resource: &mut Value) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let emptied = object
        .get_mut("meta")
        .and_then(Value::as_object_mut)
        .is_some_and(|meta| {
            meta.remove("versionId");
            meta.remove("lastUpdated");
            meta.is_empty()
        });
    if emptied {
        object.remove("meta");
    }
}

/// Whether a failure is worth retrying the whole batch for (storage faults, conflicts with a
/// concurrent writer); anything else is a problem of one resource, logged and skipped so that
/// one bad record cannot stall the feed.
pub fn is_transient(error: &ServiceError) -> bool {
    matches!(
        error.kind(),
        ServiceErrorKind::Internal
            | ServiceErrorKind::Unavailable
            | ServiceErrorKind::Conflict
            | ServiceErrorKind::PreconditionFailed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patient_references_relative_and_absolute() {
        let cases = [
            (json!({"reference": "Patient/1"}), Some("Patient/1")),
            (
                json!({"reference": "http://h/fhir/Patient/a-2"}),
                Some("Patient/a-2"),
            ),
            (
                json!({"reference": "Patient/1/_history/3"}),
                Some("Patient/1"),
            ),
            (json!({"reference": "Group/1"}), None),
            (json!({"reference": "#p"}), None),
            (json!({"display": "x"}), None),
            (json!({"reference": "Patient/"}), None),
            (json!({"reference": "Patient/a b"}), None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                patient_reference(Some(&value)).as_deref(),
                expected,
                "{value}"
            );
        }
        assert_eq!(patient_reference(None), None);
    }

    #[test]
    fn digests_are_stable_and_separate_parts() {
        assert_eq!(digest(&["a", "b"]), digest(&["a", "b"]));
        assert_ne!(digest(&["ab"]), digest(&["a", "b"]));
        assert_ne!(digest(&["a", "b"]), digest(&["b", "a"]));
        assert_eq!(digest(&[]).len(), 32);
    }

    #[test]
    fn next_cursor_from_links() {
        let bundle = json!({"link": [
            {"relation": "self", "url": "http://x/Observation?a=1"},
            {"relation": "next", "url": "http://x/Observation?a=1&_cursor=abc%3D"},
        ]});
        assert_eq!(next_cursor(&bundle).as_deref(), Some("abc="));
        assert_eq!(next_cursor(&json!({"link": []})), None);
    }
}
