//! AuditEvent, served read-only from the audit log: `AuditEvent/{id}` (the id is the log
//! position), `AuditEvent/{id}/_history/1`, and `AuditEvent?` with `entity` (also `patient`),
//! `agent`, `date` (prefixes `eq`, `ge`, `gt`, `le`, `lt`), `_count` and the `_cursor` the
//! `next` link carries; newest first. Access goes through the authorizer like any type
//! (`Search` on the type, `Read` on each event), so a policy decides who may see them.
//!
//! No interaction can write one: create, update, patch and delete of AuditEvent are refused
//! with `Forbidden` (403) for every caller, whatever the policy ([`refuse_audit_write`]).

use super::AuditRecord;
use crate::authz::{Access, Action, Content};
use crate::{FhirService, ReadResult, RequestContext, ServiceError, ServiceErrorKind};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use vigil_model::IssueType;
use vigil_store::{AuditEntry, AuditQuery, StoredVersion, TimeBound, VersionMeta, WriteMethod};

/// The resource type the audit log is served as.
pub(crate) const AUDIT_EVENT: &str = "AuditEvent";

/// The CapabilityStatement entry for AuditEvent: read-only, with the search parameters
/// `events.rs` implements.
pub(crate) fn audit_event_capability() -> Value {
    let param = |name: &str, kind: &str, definition: &str| {
        json!({"name": name, "type": kind,
               "definition": format!("http://hl7.org/fhir/SearchParameter/{definition}")})
    };
    json!({
        "type": AUDIT_EVENT,
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "documentation": "The audit trail, read-only (IHE BALP AuditEvents); every write is \
                          refused with 403",
        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": false,
        "updateCreate": false,
        "searchParam": [
            param("entity", "reference", "AuditEvent-entity"),
            param("patient", "reference", "AuditEvent-patient"),
            param("agent", "reference", "AuditEvent-agent"),
            param("date", "date", "AuditEvent-date"),
        ],
    })
}

/// Refuses (and records, outcome `8`) every write of an AuditEvent inside a unit: the log is
/// written only by the server.
pub(crate) fn refuse_audit_write(
    unit: &crate::Unit<'_>,
    action: &str,
    resource_type: &str,
) -> Result<(), ServiceError> {
    unit.service
        .refuse_audit_write(unit.context, action, resource_type)
}

impl FhirService {
    /// Refuses (and records) a write of an AuditEvent before any unit (PATCH drafts outside).
    pub(crate) fn refuse_audit_write(
        &self,
        context: &RequestContext,
        action: &str,
        resource_type: &str,
    ) -> Result<(), ServiceError> {
        if resource_type != AUDIT_EVENT {
            return Ok(());
        }
        let error = ServiceError::new(
            ServiceErrorKind::Forbidden,
            IssueType::Forbidden,
            "AuditEvent is read-only: the audit trail is written by the server alone and is \
             never changed or deleted",
        );
        let record = AuditRecord::for_context(context, action)
            .with_entities(vec![AUDIT_EVENT.to_owned()])
            .failed(&error);
        self.audit.on_event(record);
        Err(error)
    }
}

impl FhirService {
    /// `AuditEvent/{id}` (and `/_history/1`, its only version).
    pub(crate) fn read_audit_event(
        &self,
        context: &RequestContext,
        id: &str,
        version: Option<&str>,
    ) -> Result<ReadResult, ServiceError> {
        let entry = match id.parse::<u64>() {
            Ok(seq) if version.is_none_or(|v| v == "1") => self.store.audit_entry(seq)?,
            _ => None,
        };
        let Some(entry) = entry else {
            // Asked without content first, so a refused caller cannot tell ids apart.
            self.allow(
                context,
                &Access::to_resource(Action::Read, AUDIT_EVENT, id, None),
            )?;
            return Err(ServiceError::not_found(format!(
                "AuditEvent/{id} is not known"
            )));
        };
        let version = stored_event(&entry)?;
        let content = Content::text(&version.content);
        self.allow(
            context,
            &Access::to_resource(Action::Read, AUDIT_EVENT, id, Some(&content)),
        )?;
        Ok(ReadResult { version })
    }

    /// `AuditEvent?entity=&agent=&date=&_count=&_cursor=` as a searchset Bundle.
    pub(crate) fn search_audit_events(
        &self,
        context: &RequestContext,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let (mut query, count) = self.audit_query(pairs)?;
        self.allow(context, &Access::to_type(Action::Search, AUDIT_EVENT))?;
        query.limit = count + 1;
        let mut entries = if count == 0 {
            Vec::new()
        } else {
            self.store.search_audit(&query)?
        };
        let next = if entries.len() > count {
            entries.truncate(count);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        let mut resources = Vec::with_capacity(entries.len());
        for entry in &entries {
            let version = stored_event(entry)?;
            if self.allows_version(context, Action::Read, &version) {
                resources.push(version);
            }
        }
        let base = &context.base_url;
        let url = |cursor: Option<u64>| {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            for (name, value) in pairs.iter().filter(|(name, _)| name != "_cursor") {
                serializer.append_pair(name, value);
            }
            if let Some(cursor) = cursor {
                serializer.append_pair("_cursor", &cursor.to_string());
            }
            let query = serializer.finish();
            if query.is_empty() {
                format!("{base}/AuditEvent")
            } else {
                format!("{base}/AuditEvent?{query}")
            }
        };
        let mut link = vec![json!({"relation": "self", "url": url(query.before_seq)})];
        if let Some(next) = next {
            link.push(json!({"relation": "next", "url": url(Some(next))}));
        }
        let entry: Vec<Value> = resources
            .iter()
            .map(|version| {
                let resource: Value = serde_json::from_str(&version.content).unwrap_or(Value::Null);
                json!({
                    "fullUrl": format!("{base}/AuditEvent/{}", version.id),
                    "resource": resource,
                    "search": {"mode": "match"},
                })
            })
            .collect();
        let mut bundle = Map::new();
        bundle.insert("resourceType".into(), json!("Bundle"));
        bundle.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        bundle.insert(
            "meta".into(),
            json!({"lastUpdated": crate::format_instant(crate::now_micros())}),
        );
        bundle.insert("type".into(), json!("searchset"));
        bundle.insert("link".into(), Value::Array(link));
        if !entry.is_empty() {
            bundle.insert("entry".into(), Value::Array(entry));
        }
        Ok(Value::Object(bundle))
    }

    /// The store query and page size for the search parameters; anything else is refused.
    fn audit_query(&self, pairs: &[(String, String)]) -> Result<(AuditQuery, usize), ServiceError> {
        let mut query = AuditQuery::default();
        let mut count = self.config.default_page_size;
        let mut seen_entity = false;
        let mut seen_agent = false;
        for (name, value) in pairs {
            let values = || -> Result<Vec<String>, ServiceError> {
                let list: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect();
                if list.is_empty() {
                    return Err(ServiceError::invalid(format!("{name} needs a value"), name));
                }
                Ok(list)
            };
            match name.as_str() {
                "entity" | "patient" => {
                    if seen_entity {
                        return Err(repeated(name));
                    }
                    seen_entity = true;
                    query.entity = values()?
                        .into_iter()
                        .map(|v| patient_or_reference(name, v))
                        .collect();
                }
                "agent" => {
                    if seen_agent {
                        return Err(repeated(name));
                    }
                    seen_agent = true;
                    query.agent = values()?.iter().flat_map(|v| agent_names(v)).collect();
                }
                "date" => query.recorded.extend(date_bounds(value)?),
                "_count" => {
                    count = value
                        .parse::<usize>()
                        .map_err(|_| {
                            ServiceError::invalid(
                                format!("_count '{value}' is not a number"),
                                "_count",
                            )
                        })?
                        .min(self.config.max_page_size);
                }
                "_cursor" => {
                    query.before_seq = Some(value.parse::<u64>().map_err(|_| {
                        ServiceError::invalid(
                            format!("'{value}' is not a valid page cursor"),
                            "_cursor",
                        )
                    })?);
                }
                "_sort" if value == "-date" => {}
                _ => {
                    return Err(ServiceError::invalid(
                        format!(
                            "AuditEvent search supports entity, patient, agent, date, _count \
                             and _sort=-date; '{name}' is not supported"
                        ),
                        name,
                    ));
                }
            }
        }
        Ok((query, count))
    }
}

/// The stored agent names a searched value stands for: a full name (`user:alice`, `dev`) as
/// is, a bare id for each kind of principal that could carry it.
fn agent_names(value: &str) -> Vec<String> {
    if value.contains(':') || value == "dev" {
        return vec![value.to_owned()];
    }
    ["user", "client", "system"]
        .iter()
        .map(|kind| format!("{kind}:{value}"))
        .collect()
}

fn repeated(name: &str) -> ServiceError {
    ServiceError::invalid(
        format!("{name} may be given once (list alternatives separated by commas)"),
        name,
    )
}

/// `patient=ID` is `entity=Patient/ID`; an absolute URL keeps its `Type/id` tail.
fn patient_or_reference(name: &str, value: String) -> String {
    if name == "patient" && !value.contains('/') {
        return format!("Patient/{value}");
    }
    let segments: Vec<&str> = value.trim_end_matches('/').rsplitn(3, '/').collect();
    match segments.as_slice() {
        [id, kind, _] if value.contains("://") => format!("{kind}/{id}"),
        _ => value,
    }
}

/// The bounds a `date` value puts on `recorded`: its prefix applied to the range the value
/// covers at its precision (`eq2026-12-07` is the whole day).
fn date_bounds(value: &str) -> Result<Vec<TimeBound>, ServiceError> {
    let (prefix, text) = match value.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt" | "ne" | "sa" | "eb" | "ap")) => {
            (p, &value[2..])
        }
        _ => ("eq", value),
    };
    let range = vigil_search::datetime::parse(text).ok_or_else(|| {
        ServiceError::invalid(
            format!("date '{value}' is not a FHIR date or dateTime"),
            "date",
        )
    })?;
    Ok(match prefix {
        "eq" => vec![
            TimeBound::AtOrAfter(range.low),
            TimeBound::AtOrBefore(range.high),
        ],
        "ge" => vec![TimeBound::AtOrAfter(range.low)],
        "gt" => vec![TimeBound::After(range.high)],
        "le" => vec![TimeBound::AtOrBefore(range.high)],
        "lt" => vec![TimeBound::Before(range.low)],
        other => {
            return Err(ServiceError::invalid(
                format!(
                    "date prefix '{other}' is not supported on AuditEvent (eq, ge, gt, le, lt)"
                ),
                "date",
            ));
        }
    })
}

/// An audit entry as a stored AuditEvent: its event JSON with `id` (the position) and `meta`.
fn stored_event(entry: &AuditEntry) -> Result<StoredVersion, ServiceError> {
    let mut event: Map<String, Value> =
        serde_json::from_str(&entry.record.event).map_err(|_| {
            ServiceError::internal(format!(
                "audit record {} does not hold an AuditEvent",
                entry.seq
            ))
        })?;
    let id = entry.seq.to_string();
    let last_updated = crate::format_instant(entry.record.recorded_micros);
    let mut resource = Map::new();
    resource.insert("resourceType".into(), json!(AUDIT_EVENT));
    resource.insert("id".into(), json!(id));
    resource.insert(
        "meta".into(),
        json!({"versionId": "1", "lastUpdated": last_updated}),
    );
    event.remove("resourceType");
    resource.extend(event);
    Ok(StoredVersion {
        resource_type: AUDIT_EVENT.to_owned(),
        id,
        meta: VersionMeta {
            version_id: 1,
            last_updated_micros: entry.record.recorded_micros,
            deleted: false,
            method: WriteMethod::Create,
        },
        content: Arc::from(Value::Object(resource).to_string()),
        seq: entry.seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_prefixes_bound_the_range_the_value_covers() {
        let day = vigil_search::datetime::parse("2026-12-07").unwrap();
        assert_eq!(
            date_bounds("2026-12-07").unwrap(),
            vec![
                TimeBound::AtOrAfter(day.low),
                TimeBound::AtOrBefore(day.high)
            ]
        );
        assert_eq!(
            date_bounds("ge2026-12-07").unwrap(),
            vec![TimeBound::AtOrAfter(day.low)]
        );
        assert_eq!(
            date_bounds("gt2026-12-07").unwrap(),
            vec![TimeBound::After(day.high)]
        );
        assert_eq!(
            date_bounds("le2026-12-07").unwrap(),
            vec![TimeBound::AtOrBefore(day.high)]
        );
        assert_eq!(
            date_bounds("lt2026-12-07").unwrap(),
            vec![TimeBound::Before(day.low)]
        );
        for bad in ["ne2026-12-07", "yesterday", "ge", "2026-13-01"] {
            assert!(date_bounds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entity_values_become_references() {
        assert_eq!(patient_or_reference("patient", "p1".into()), "Patient/p1");
        assert_eq!(
            patient_or_reference("entity", "Patient/p1".into()),
            "Patient/p1"
        );
        assert_eq!(
            patient_or_reference("entity", "http://h/fhir/Patient/p1".into()),
            "Patient/p1"
        );
    }
}
