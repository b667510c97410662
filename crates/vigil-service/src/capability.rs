//! The CapabilityStatement served at `GET /metadata`: generated from the model's list of
//! resource types, the search registry, the service configuration and the interactions this
//! build implements, so it never claims more (or less) than the server does.
//!
//! The statement is the same for the whole life of a service (the registry and configuration
//! are fixed once the service is built): its `date` is the moment the first statement of the
//! process was made, so the API can give it a stable `ETag` and `Last-Modified`.

use crate::{FhirService, format_instant, now_micros};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;
use vigil_search::ParamType;

/// Interactions supported on every resource type.
const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// Whole-system interactions (`POST /` with a transaction or batch Bundle, `GET /_history`,
/// `GET /?_type=`).
const SYSTEM_INTERACTIONS: &[&str] = &["transaction", "batch", "search-system", "history-system"];

/// Special search parameters the search engine evaluates (other `special` definitions, such as
/// Location's `near`, are not implemented and so not listed).
const SUPPORTED_SPECIAL: &[&str] = &["_text", "_content"];

const EVERYTHING: &str = "http://hl7.org/fhir/OperationDefinition/Patient-everything";
const EXPORT_SYSTEM: &str = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export";
const EXPORT_PATIENT: &str = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export";
const EXPORT_GROUP: &str = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export";

/// When this process made its first CapabilityStatement: the statement's `date`.
fn statement_date() -> i64 {
    static DATE: OnceLock<i64> = OnceLock::new();
    *DATE.get_or_init(now_micros)
}

impl FhirService {
    /// The server's CapabilityStatement (FHIR 4.0.1, JSON). Two calls with the same base URL
    /// give equal statements; it is built once per service and copied with the base URL set.
    pub fn capability_statement(&self, base_url: &str) -> Value {
        let mut statement = self
            .capability
            .get_or_init(|| self.build_statement())
            .clone();
        statement["implementation"]["url"] = json!(base_url);
        statement
    }

    fn build_statement(&self) -> Value {
        let skipped: HashSet<(&str, &str)> = self
            .search
            .skipped_definitions()
            .iter()
            .map(|s| (s.resource_type.as_str(), s.code.as_str()))
            .collect();
        let revincludes = self.revinclude_values(&skipped);
        let resources: Vec<Value> = vigil_model::schema::r4()
            .resource_types()
            .map(|resource_type| match resource_type {
                "AuditEvent" => crate::audit::audit_event_capability(),
                _ => self.resource_capability(resource_type, &skipped, &revincludes),
            })
            .collect();
        let mut rest = json!({
            "mode": "server",
            "resource": resources,
            "interaction": SYSTEM_INTERACTIONS.iter().map(|code| json!({"code": code})).collect::<Vec<_>>(),
        });
        if self.config.export_dir.is_some() {
            rest["operation"] = json!([{"name": "export", "definition": EXPORT_SYSTEM}]);
        }
        if let Some(security) = &self.config.rest_security {
            rest["security"] = security.clone();
        }
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": format_instant(statement_date()),
            "publisher": "Vigil",
            "kind": "instance",
            "software": {"name": "Vigil", "version": env!("CARGO_PKG_VERSION")},
            "implementation": {"description": "Vigil FHIR R4 server", "url": ""},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "patchFormat": ["application/json-patch+json", "application/fhir+json"],
            "rest": [rest],
        })
    }

    /// One `rest.resource` entry.
    fn resource_capability(
        &self,
        resource_type: &str,
        skipped: &HashSet<(&str, &str)>,
        revincludes: &BTreeMap<String, BTreeSet<String>>,
    ) -> Value {
        let registry = self.search.registry();
        let supported = registry.parameters(resource_type).filter(|p| {
            !skipped.contains(&(resource_type, p.code()))
                && (p.kind() != ParamType::Special || SUPPORTED_SPECIAL.contains(&p.code()))
        });
        let mut search_params = Vec::new();
        let mut includes = vec!["*".to_owned()];
        for parameter in supported {
            search_params.push(json!({
                "name": parameter.code(),
                "definition": parameter.def.url,
                "type": parameter.kind().as_code(),
            }));
            if parameter.kind() == ParamType::Reference {
                includes.push(format!("{resource_type}:{}", parameter.code()));
            }
        }
        // `_has` is a search feature rather than a SearchParameter; it has no definition.
        search_params.push(json!({"name": "_has", "type": "special"}));
        let mut revinclude = vec!["*".to_owned()];
        revinclude.extend(
            revincludes
                .get(resource_type)
                .into_iter()
                .flatten()
                .cloned(),
        );
        let mut capability = json!({
            "type": resource_type,
            "profile": format!("http://hl7.org/fhir/StructureDefinition/{resource_type}"),
            "interaction": TYPE_INTERACTIONS.iter().map(|code| json!({"code": code})).collect::<Vec<_>>(),
            "versioning": "versioned-update",
            "readHistory": true,
            "updateCreate": self.config.allow_update_create,
            "conditionalCreate": true,
            // A read answers 304 to `If-None-Match` naming the current version.
            "conditionalRead": "not-match",
            "conditionalUpdate": true,
            "conditionalDelete": "single",
            "searchInclude": includes,
            "searchRevInclude": revinclude,
            "searchParam": search_params,
        });
        let mut operations = Vec::new();
        if resource_type == "Patient" {
            operations.push(json!({"name": "everything", "definition": EVERYTHING}));
        }
        if self.config.export_dir.is_some() {
            match resource_type {
                "Patient" => {
                    operations.push(json!({"name": "export", "definition": EXPORT_PATIENT}))
                }
                "Group" => operations.push(json!({"name": "export", "definition": EXPORT_GROUP})),
                _ => {}
            }
        }
        if !operations.is_empty() {
            capability["operation"] = Value::Array(operations);
        }
        capability
    }

    /// For each resource type, the `_revinclude` values that reach it: `Source:param` for every
    /// supported reference parameter whose targets include the type, sorted.
    fn revinclude_values(
        &self,
        skipped: &HashSet<(&str, &str)>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let registry = self.search.registry();
        let mut by_target: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for source in vigil_model::schema::r4().resource_types() {
            for parameter in registry.parameters(source) {
                if parameter.kind() != ParamType::Reference
                    || skipped.contains(&(source, parameter.code()))
                {
                    continue;
                }
                for target in &parameter.def.target {
                    by_target
                        .entry(target.clone())
                        .or_default()
                        .insert(format!("{source}:{}", parameter.code()));
                }
            }
        }
        by_target
    }
}
