//! `_summary` and `_elements`: the subsets of a resource a client may ask for.
//!
//! The rules follow the R4 search page (§3.1.1.5.8 and §3.1.1.5.9):
//! - `_summary=true`: elements marked `isSummary` in the base definition plus mandatory ones
//!   (`min >= 1`), applied recursively inside backbone elements; data types are kept whole;
//! - `_summary=text`: `id`, `meta`, `text` and the top-level mandatory elements;
//! - `_summary=data`: everything except `text`;
//! - `_summary=count`: meaningful for a search Bundle only (no entries); applied to a single
//!   resource it gives the `true` subset;
//! - `_summary=false`: the whole resource;
//! - `_elements=a,b`: `resourceType`, `id`, `meta`, the named top-level elements and the
//!   mandatory ones.
//!
//! Every subset except `false` carries the `SUBSETTED` tag in `meta.tag`, so that an
//! incomplete resource is never mistaken for (and written back over) the complete one.

use serde_json::{Map, Value, json};

use crate::schema::{self, TypeDef, TypeKind};

/// The `meta.tag` system of the SUBSETTED tag.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
/// The `meta.tag` code marking a subset of a resource.
pub const SUBSETTED_CODE: &str = "SUBSETTED";

/// The `_summary` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SummaryMode {
    /// `true`: summary elements.
    True,
    /// `text`: text, id, meta and mandatory elements.
    Text,
    /// `data`: everything but the narrative.
    Data,
    /// `count`: the total only (search); the `true` subset for one resource.
    Count,
    /// `false`: everything.
    False,
}

impl SummaryMode {
    /// Parses the `_summary` parameter value.
    pub fn from_param(value: &str) -> Option<SummaryMode> {
        match value {
            "true" => Some(SummaryMode::True),
            "text" => Some(SummaryMode::Text),
            "data" => Some(SummaryMode::Data),
            "count" => Some(SummaryMode::Count),
            "false" => Some(SummaryMode::False),
            _ => None,
        }
    }

    /// The parameter value.
    pub fn as_param(self) -> &'static str {
        match self {
            SummaryMode::True => "true",
            SummaryMode::Text => "text",
            SummaryMode::Data => "data",
            SummaryMode::Count => "count",
            SummaryMode::False => "false",
        }
    }
}

/// The `_summary` view of a resource. Values that are not resources are returned unchanged.
pub fn summarize(value: &Value, mode: SummaryMode) -> Value {
    let Some((obj, ty)) = resource_parts(value) else {
        return value.clone();
    };
    let out = match mode {
        SummaryMode::False => return value.clone(),
        SummaryMode::True | SummaryMode::Count => summary_object(obj, ty, true),
        SummaryMode::Data => filter(obj, ty, |key, _| key != "text"),
        SummaryMode::Text => filter(obj, ty, |key, min| {
            matches!(key, "id" | "meta" | "text") || min > 0
        }),
    };
    Value::Object(tag_subsetted(out))
}

/// The `_elements` view: named top-level elements (`name`, `value[x]` or `value`, or
/// `Patient.name`), plus `resourceType`, `id`, `meta` and mandatory elements.
pub fn select_elements(value: &Value, elements: &[&str]) -> Value {
    let Some((obj, ty)) = resource_parts(value) else {
        return value.clone();
    };
    let wanted: Vec<&str> = elements
        .iter()
        .map(|e| e.trim())
        .map(|e| {
            e.strip_prefix(ty.name.as_str())
                .and_then(|r| r.strip_prefix('.'))
                .unwrap_or(e)
        })
        .collect();
    let out = filter(obj, ty, |name, min| {
        let stem = name.strip_suffix("[x]").unwrap_or(name);
        matches!(name, "id" | "meta") || min > 0 || wanted.iter().any(|w| *w == name || *w == stem)
    });
    Value::Object(tag_subsetted(out))
}

fn resource_parts(value: &Value) -> Option<(&Map<String, Value>, &'static TypeDef)> {
    let obj = value.as_object()?;
    let name = obj.get("resourceType")?.as_str()?;
    let ty = schema::r4()
        .type_def(name)
        .filter(|t| t.kind == TypeKind::Resource)?;
    Some((obj, ty))
}

/// Keeps `resourceType` and the properties whose element (name, min) passes `keep`; unknown
/// properties are dropped.
fn filter(
    obj: &Map<String, Value>,
    ty: &TypeDef,
    keep: impl Fn(&str, u32) -> bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in obj {
        let base = key.strip_prefix('_').unwrap_or(key);
        let kept = key == "resourceType"
            || ty
                .property(base)
                .is_some_and(|(element, _)| keep(&element.name, element.min));
        if kept {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

/// Summary elements of an object, recursing into backbone elements.
fn summary_object(obj: &Map<String, Value>, ty: &TypeDef, is_resource: bool) -> Map<String, Value> {
    let schema = schema::r4();
    let mut out = Map::new();
    for (key, value) in obj {
        if is_resource && key == "resourceType" {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let base = key.strip_prefix('_').unwrap_or(key);
        let Some(prop) = ty.lookup(base) else {
            continue;
        };
        let element = &ty.elements[usize::from(prop.element)];
        if !(element.is_summary || element.min > 0) {
            continue;
        }
        let target = schema.element_type(&element.types[usize::from(prop.type_index)]);
        let summarized = if target.is_backbone() && !key.starts_with('_') {
            match summary_backbone(value, target) {
                Some(summarized) => summarized,
                // None of its children is in the summary: a mandatory element is kept whole
                // rather than dropped, an optional one is left out (FHIR JSON has no `{}`).
                None if element.min > 0 => value.clone(),
                None => continue,
            }
        } else {
            value.clone()
        };
        out.insert(key.clone(), summarized);
    }
    out
}

/// The summary of a backbone element (or of each item of a list of them), leaving out items
/// with nothing in the summary; `None` when nothing is left.
fn summary_backbone(value: &Value, ty: &TypeDef) -> Option<Value> {
    match value {
        Value::Object(obj) => {
            let summary = summary_object(obj, ty, false);
            (!summary.is_empty()).then_some(Value::Object(summary))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|v| summary_backbone(v, ty))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => Some(other.clone()),
    }
}

/// Adds the SUBSETTED tag to `meta.tag` (creating `meta` after `id` when absent).
fn tag_subsetted(mut obj: Map<String, Value>) -> Map<String, Value> {
    let tag = json!({
        "system": SUBSETTED_SYSTEM,
        "code": SUBSETTED_CODE,
        "display": "Resource encoded in summary mode"
    });
    let is_subsetted = |t: &Value| {
        t.get("system").and_then(Value::as_str) == Some(SUBSETTED_SYSTEM)
            && t.get("code").and_then(Value::as_str) == Some(SUBSETTED_CODE)
    };
    if let Some(Value::Object(meta)) = obj.get_mut("meta") {
        match meta.get_mut("tag") {
            Some(Value::Array(tags)) => {
                if !tags.iter().any(is_subsetted) {
                    tags.push(tag);
                }
            }
            _ => {
                meta.insert("tag".into(), Value::Array(vec![tag]));
            }
        }
        return obj;
    }
    let mut out = Map::new();
    let mut placed = false;
    for (key, value) in obj {
        let after = key == "id";
        out.insert(key, value);
        if after {
            out.insert("meta".into(), json!({ "tag": [tag.clone()] }));
            placed = true;
        }
    }
    if !placed {
        out.insert("meta".into(), json!({ "tag": [tag] }));
        // Keep resourceType first and meta right after it.
        let mut ordered = Map::new();
        if let Some(rt) = out.shift_remove("resourceType") {
            ordered.insert("resourceType".into(), rt);
        }
        if let Some(meta) = out.shift_remove("meta") {
            ordered.insert("meta".into(), meta);
        }
        ordered.extend(out);
        return ordered;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p1",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "active": true,
            "name": [{"family": "Chalmers"}],
            "maritalStatus": {"text": "married"},
            "contact": [{"name": {"family": "Du Marché"}}],
            "link": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}]
        })
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn summary_modes() {
        let p = patient();
        let cases: &[(SummaryMode, &[&str])] = &[
            (
                SummaryMode::True,
                &["resourceType", "id", "meta", "active", "name", "link"],
            ),
            (
                SummaryMode::Count,
                &["resourceType", "id", "meta", "active", "name", "link"],
            ),
            (SummaryMode::Text, &["resourceType", "id", "meta", "text"]),
            (
                SummaryMode::Data,
                &[
                    "resourceType",
                    "id",
                    "meta",
                    "active",
                    "name",
                    "maritalStatus",
                    "contact",
                    "link",
                ],
            ),
            (
                SummaryMode::False,
                &[
                    "resourceType",
                    "id",
                    "text",
                    "active",
                    "name",
                    "maritalStatus",
                    "contact",
                    "link",
                ],
            ),
        ];
        for (mode, expected) in cases {
            let s = summarize(&p, *mode);
            assert_eq!(keys(&s), *expected, "{mode:?}");
            let tagged = s["meta"]["tag"][0]["code"] == SUBSETTED_CODE;
            assert_eq!(tagged, *mode != SummaryMode::False, "{mode:?}");
        }
    }

    #[test]
    fn summary_recurses_into_backbones_and_keeps_mandatory() {
        let obs = json!({
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "component": [{"code": {"text": "c"}, "valueString": "v", "interpretation": [{"text": "i"}]}]
        });
        let s = summarize(&obs, SummaryMode::Text);
        assert_eq!(keys(&s), ["resourceType", "meta", "status", "code"]);
        let s = summarize(&obs, SummaryMode::True);
        assert_eq!(keys(&s["component"][0]), ["code", "valueString"]);
    }

    /// Found by the `json_validate` fuzz target: `_summary=true` of the R4 example
    /// `consent-example-notAuthor` kept `"provision": {}` (no child of Consent.provision is a
    /// summary element), which is not valid FHIR JSON.
    #[test]
    fn summary_leaves_out_backbones_with_nothing_in_the_summary() {
        let consent = json!({
            "resourceType": "Consent", "status": "active",
            "scope": {"text": "patient-privacy"}, "category": [{"text": "c"}],
            "provision": {"actor": [{"role": {"text": "r"}, "reference": {"reference": "Patient/p1"}}]}
        });
        let s = summarize(&consent, SummaryMode::True);
        assert_eq!(
            keys(&s),
            ["resourceType", "meta", "status", "scope", "category"]
        );
        assert!(!crate::outcome::has_errors(
            &crate::validate::validate_resource(&s)
        ));
        // In a list, only the items with nothing in the summary go.
        let obs = json!({
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "component": [{"code": {"text": "c"}}, {"code": {"text": "d"}, "interpretation": [{"text": "i"}]}],
            "referenceRange": [{"text": "normal"}]
        });
        let s = summarize(&obs, SummaryMode::True);
        assert_eq!(s["component"].as_array().map(Vec::len), Some(2));
        assert!(s.get("referenceRange").is_none());
        assert!(!crate::outcome::has_errors(
            &crate::validate::validate_resource(&s)
        ));
    }

    #[test]
    fn existing_tags_are_kept() {
        let p = json!({"resourceType": "Patient", "meta": {"tag": [{"code": "x"}]}});
        let s = summarize(&p, SummaryMode::Data);
        assert_eq!(s["meta"]["tag"].as_array().unwrap().len(), 2);
        let again = summarize(&s, SummaryMode::Data);
        assert_eq!(again["meta"]["tag"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn elements_selection() {
        let s = select_elements(&patient(), &["name", "Patient.active", "unknown"]);
        assert_eq!(keys(&s), ["resourceType", "id", "meta", "active", "name"]);
        let obs = crate::json::parse(
            br#"{"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "valueQuantity": {"value": 1.50}, "note": [{"text": "n"}]}"#,
        )
        .unwrap();
        let s = select_elements(&obs, &["value"]);
        assert_eq!(
            keys(&s),
            ["resourceType", "meta", "status", "code", "valueQuantity"]
        );
        assert_eq!(s["valueQuantity"]["value"].to_string(), "1.50");
    }

    #[test]
    fn non_resources_are_unchanged() {
        let v = json!([1, 2]);
        assert_eq!(summarize(&v, SummaryMode::True), v);
        assert_eq!(select_elements(&v, &["a"]), v);
    }
}
