//! Server-maintained parts of a resource: `id`, `meta.versionId` and `meta.lastUpdated`.
//!
//! The client's `meta.profile`, `meta.tag`, `meta.security` and `meta.source` are kept as sent;
//! `versionId` and `lastUpdated` are always the server's. Key order follows the FHIR element
//! order (resourceType, id, meta first) and the client's order for everything else.

use crate::format_instant;
use serde_json::{Map, Value};

/// Sets `id`, `meta.versionId` and `meta.lastUpdated` on a resource object.
pub(crate) fn stamp(
    resource: Map<String, Value>,
    id: &str,
    version_id: u64,
    last_updated_micros: i64,
) -> Map<String, Value> {
    let mut input = resource;
    let resource_type = input.remove("resourceType");
    input.remove("id");
    let mut meta = match input.remove("meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.remove("versionId");
    meta.remove("lastUpdated");
    let mut stamped_meta = Map::with_capacity(meta.len() + 2);
    stamped_meta.insert(
        "versionId".to_owned(),
        Value::String(version_id.to_string()),
    );
    stamped_meta.insert(
        "lastUpdated".to_owned(),
        Value::String(format_instant(last_updated_micros)),
    );
    stamped_meta.extend(meta);

    let mut out = Map::with_capacity(input.len() + 3);
    if let Some(resource_type) = resource_type {
        out.insert("resourceType".to_owned(), resource_type);
    }
    out.insert("id".to_owned(), Value::String(id.to_owned()));
    out.insert("meta".to_owned(), Value::Object(stamped_meta));
    out.extend(input);
    out
}

/// True when two resources are equal apart from the server-maintained `meta.versionId` and
/// `meta.lastUpdated`: an update that changes nothing else does not make a new version.
pub(crate) fn same_content(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().all(|(key, value)| match b.get(key) {
        None => false,
        Some(other) if key == "meta" => same_meta(value, other),
        Some(other) => value == other,
    })
}

fn same_meta(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("versionId");
        m.remove("lastUpdated");
        m
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_puts_server_meta_first_and_keeps_client_meta() {
        let resource = json!({"name": [{"family": "Chalmers"}], "resourceType": "Patient", "id": "ignored",
            "meta": {"versionId": "99", "tag": [{"code": "x"}]}});
        let stamped = stamp(resource.as_object().unwrap().clone(), "p1", 3, 0);
        let keys: Vec<&str> = stamped.keys().map(String::as_str).collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "name"]);
        assert_eq!(
            stamped["meta"],
            json!({"versionId": "3", "lastUpdated": "1970-01-01T00:00:00.000Z", "tag": [{"code": "x"}]})
        );
    }

    #[test]
    fn same_content_ignores_version_and_time_only() {
        let a = json!({"resourceType": "Patient", "meta": {"versionId": "1", "lastUpdated": "x", "tag": [{"code": "a"}]}, "active": true});
        let b = json!({"resourceType": "Patient", "meta": {"versionId": "2", "lastUpdated": "y", "tag": [{"code": "a"}]}, "active": true});
        let c = json!({"resourceType": "Patient", "meta": {"versionId": "2", "lastUpdated": "y", "tag": [{"code": "b"}]}, "active": true});
        assert!(same_content(a.as_object().unwrap(), b.as_object().unwrap()));
        assert!(!same_content(
            a.as_object().unwrap(),
            c.as_object().unwrap()
        ));
    }
}
