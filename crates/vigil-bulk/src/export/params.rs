//! The kick-off request: `_outputFormat`, `_since`, `_type`, `_typeFilter` read and checked
//! before a job is accepted, so every mistake is a 400 at kick-off rather than a failed job.

use super::job::ExportLevel;
use vigil_model::{Issue, IssueType};
use vigil_service::{
    FhirService, RequestContext, ServiceError, ServiceErrorKind, parse_instant_micros,
};

/// The `_outputFormat` values accepted (all mean NDJSON).
pub const OUTPUT_FORMATS: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];

/// The checked parameters of a kick-off.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KickoffParams {
    pub(crate) types: Vec<String>,
    pub(crate) since_micros: Option<i64>,
    pub(crate) type_filters: Vec<(String, String)>,
}

/// The types a level exports when no `_type` is given: every resource type for a system
/// export; the Patient compartment's member types (Patient first) for patient and group ones.
pub(crate) fn default_types(level: &ExportLevel) -> Vec<String> {
    match level {
        ExportLevel::System => {
            let mut types: Vec<String> = vigil_model::schema::r4()
                .resource_types()
                .map(str::to_owned)
                .collect();
            types.sort();
            types
        }
        ExportLevel::Patient | ExportLevel::Group(_) => vigil_service::patient_compartment_types(),
    }
}

fn unsupported(message: String, parameter: &str) -> ServiceError {
    ServiceError::with_issues(
        ServiceErrorKind::Invalid,
        vec![Issue::error(IssueType::NotSupported, message).at(parameter)],
    )
}

/// Splits `_typeFilter` values: repeated parameters, and commas between queries (a comma that
/// does not start a new `Type?` query belongs to the query before it, e.g. `code=a,b`).
fn split_type_filters(values: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let mut current: Option<String> = None;
        for part in value.split(',') {
            let starts_query = part.split_once('?').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric())
                    && name.starts_with(|c: char| c.is_ascii_uppercase())
            });
            match current.as_mut() {
                Some(query) if !starts_query => {
                    query.push(',');
                    query.push_str(part);
                }
                _ => {
                    if let Some(done) = current.take() {
                        out.push(done);
                    }
                    current = Some(part.to_owned());
                }
            }
        }
        out.extend(current);
    }
    out
}

/// Reads and checks the kick-off parameters. `lenient` is `Prefer: handling=lenient`:
/// unknown parameters are ignored instead of refused.
pub(crate) fn export_params(
    service: &FhirService,
    context: &RequestContext,
    level: &ExportLevel,
    pairs: &[(String, String)],
    lenient: bool,
) -> Result<KickoffParams, ServiceError> {
    let mut type_values: Vec<&str> = Vec::new();
    let mut filter_values: Vec<&str> = Vec::new();
    let mut since_micros = None;
    for (name, value) in pairs {
        match name.as_str() {
            "_outputFormat" => {
                if !OUTPUT_FORMATS.contains(&value.as_str()) {
                    return Err(unsupported(
                        format!(
                            "_outputFormat '{value}' is not supported; use application/fhir+ndjson"
                        ),
                        "_outputFormat",
                    ));
                }
            }
            "_since" => {
                since_micros = Some(parse_instant_micros(value).ok_or_else(|| {
                    ServiceError::invalid(
                        format!("_since must be a FHIR instant, not '{value}'"),
                        "_since",
                    )
                })?);
            }
            "_type" => type_values.push(value),
            "_typeFilter" => filter_values.push(value),
            _ if lenient => {}
            _ => {
                return Err(unsupported(
                    format!("the $export parameter '{name}' is not supported"),
                    name,
                ));
            }
        }
    }
    let allowed = default_types(level);
    let mut types: Vec<String> = Vec::new();
    for resource_type in type_values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if !vigil_model::schema::r4().is_resource_type(resource_type) {
            return Err(ServiceError::invalid(
                format!("_type names '{resource_type}', which is not a resource type"),
                "_type",
            ));
        }
        if !allowed.iter().any(|t| t == resource_type) {
            return Err(ServiceError::invalid(
                format!(
                    "{resource_type} is not in the Patient compartment, so a patient or group export cannot include it"
                ),
                "_type",
            ));
        }
        if !types.iter().any(|t| t == resource_type) {
            types.push(resource_type.to_owned());
        }
    }
    if types.is_empty() {
        types = allowed;
    }
    let mut type_filters = Vec::new();
    for filter in split_type_filters(&filter_values) {
        let Some((resource_type, query)) = filter.split_once('?') else {
            return Err(ServiceError::invalid(
                format!("_typeFilter '{filter}' is not of the form Type?query"),
                "_typeFilter",
            ));
        };
        if !types.iter().any(|t| t == resource_type) {
            return Err(ServiceError::invalid(
                format!("_typeFilter names {resource_type}, which this export does not include"),
                "_typeFilter",
            ));
        }
        // Compiled (and run against no ids) so an unknown parameter or a malformed value is
        // refused at kick-off.
        service.filter_ids(context, resource_type, query, None)?;
        type_filters.push((resource_type.to_owned(), query.to_owned()));
    }
    Ok(KickoffParams {
        types,
        since_micros,
        type_filters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_filters_split_between_queries_only() {
        assert_eq!(
            split_type_filters(&[
                "Observation?code=a,b,Condition?clinical-status=active",
                "Patient?gender=female"
            ]),
            [
                "Observation?code=a,b",
                "Condition?clinical-status=active",
                "Patient?gender=female"
            ]
        );
        assert_eq!(split_type_filters(&["bad"]), ["bad"]);
    }

    #[test]
    fn patient_level_types_start_with_patient_and_cover_the_compartment() {
        let types = default_types(&ExportLevel::Patient);
        assert_eq!(types.first().map(String::as_str), Some("Patient"));
        assert!(types.iter().any(|t| t == "Observation"));
        assert!(!types.iter().any(|t| t == "Medication"));
        assert_eq!(types.iter().filter(|t| t.as_str() == "Patient").count(), 1);
        let all = default_types(&ExportLevel::System);
        assert!(all.len() > 140 && all.iter().any(|t| t == "Medication"));
    }
}
