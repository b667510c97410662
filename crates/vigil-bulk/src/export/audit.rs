//! Audit records of `$export`: the kick-off (`export`, with the query and the Group), each page
//! of resources the worker writes to the job's files (`export`, naming every resource and the
//! job, under the requester's principal), and each file download (`export-file`, naming the
//! job), through the service's audit hook. A refusal by the authorizer is already recorded by
//! the service where it is decided.

use super::ExportLevel;
use vigil_service::{
    AuditRecord, FhirService, RequestContext, ServiceError, ServiceErrorKind, StoredVersion,
};

/// The kick-off's record before it runs: the level's Group and the query as sent.
pub(super) fn kickoff_record(
    context: &RequestContext,
    level: &ExportLevel,
    pairs: &[(String, String)],
) -> AuditRecord {
    let mut record = AuditRecord::for_context(context, "export");
    if let ExportLevel::Group(id) = level {
        record.entities.push(format!("Group/{id}"));
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    record.query = Some(query.finish());
    record
}

/// Hands `record` to the hook with the outcome; the job, when there is one, becomes an entity
/// (`export-job/ID`, an identifier in the AuditEvent: a job is not a FHIR resource).
pub(super) fn record(
    service: &FhirService,
    mut record: AuditRecord,
    outcome: Result<&str, &ServiceError>,
) {
    match outcome {
        Ok(job_id) => record.entities.push(format!("export-job/{job_id}")),
        Err(error) if error.kind() == ServiceErrorKind::Forbidden => return,
        Err(error) => record = record.failed(error),
    }
    service.audit_event(record);
}

/// Records one page of resources written to an export job's files.
pub(super) fn exported(
    service: &FhirService,
    context: &RequestContext,
    job_id: &str,
    versions: &[StoredVersion],
) {
    if versions.is_empty() {
        return;
    }
    let mut entities: Vec<String> = versions
        .iter()
        .map(|v| {
            format!(
                "{}/{}/_history/{}",
                v.resource_type, v.id, v.meta.version_id
            )
        })
        .collect();
    entities.push(format!("export-job/{job_id}"));
    service.audit_event(AuditRecord::for_context(context, "export").with_entities(entities));
}
