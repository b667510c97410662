//! The export job as it is kept in the store: a [`vigil_service::JobRecord`] of kind `export`
//! whose JSON body holds the request, the snapshot, progress, the output manifest and errors.
//!
//! States: `accepted` (waiting for the worker) -> `in-progress` -> `completed` or `failed`;
//! `cancelled` is set by a client's DELETE and cleaned up by the worker (a cancelled job is
//! unknown to clients). The body is read leniently: a missing field means its default, so a
//! body written by an older build still loads.

use serde_json::{Map, Value, json};
use vigil_service::JobRecord;

/// The store `kind` of export jobs.
pub(crate) const KIND: &str = "export";

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    Accepted,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

impl JobState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobState::Accepted => "accepted",
            JobState::InProgress => "in-progress",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<JobState> {
        Some(match text {
            "accepted" => JobState::Accepted,
            "in-progress" => JobState::InProgress,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
}

/// Which resources an export covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportLevel {
    /// `GET /$export`: every resource.
    System,
    /// `GET /Patient/$export`: the Patient compartments of all patients.
    Patient,
    /// `GET /Group/[id]/$export`: the members of a Group and their compartments.
    Group(String),
}

/// One output file of a finished type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputFile {
    pub(crate) resource_type: String,
    /// File name inside the job's directory, e.g. `Observation-1.ndjson`.
    pub(crate) file: String,
    pub(crate) count: u64,
}

/// The job, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExportJob {
    pub(crate) id: String,
    pub(crate) state: JobState,
    pub(crate) created_micros: i64,
    /// The kick-off URL as the client sent it (the manifest's `request`).
    pub(crate) request_url: String,
    pub(crate) level: ExportLevel,
    /// Types to export, in processing order (explicit `_type` or the level's default).
    pub(crate) types: Vec<String>,
    pub(crate) since_micros: Option<i64>,
    /// `_typeFilter` queries by type: a resource of such a type is exported when it matches
    /// any of them.
    pub(crate) type_filters: Vec<(String, String)>,
    /// The snapshot: `transactionTime` and the history position it stands for.
    pub(crate) transaction_time_micros: i64,
    pub(crate) as_of_seq: u64,
    /// Types whose files are complete (a resumed job skips them).
    pub(crate) finished_types: Vec<String>,
    pub(crate) output: Vec<OutputFile>,
    /// Free text for `X-Progress`.
    pub(crate) progress: String,
    /// Why the job failed.
    pub(crate) error: Option<String>,
    pub(crate) finished_micros: Option<i64>,
    /// Who asked ([`vigil_service::RequestContext::agent`]): the worker runs the job under
    /// that principal, so the authorizer judges each exported resource for the requester.
    pub(crate) requested_by: String,
    /// What the requester was granted (client, patient in context, FHIR user, scopes,
    /// roles): the job runs with exactly these rights.
    pub(crate) grant: Grant,
    /// The kick-off's request id, for logs and audit.
    pub(crate) request_id: String,
}

/// The rights of a request, kept with a job that outlives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) client_id: Option<String>,
    pub(crate) patient: Option<String>,
    pub(crate) fhir_user: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) roles: Vec<String>,
}

impl Grant {
    /// The rights of `context`.
    pub(crate) fn of(context: &vigil_service::RequestContext) -> Self {
        Grant {
            client_id: context.client_id.clone(),
            patient: context.patient.clone(),
            fhir_user: context.fhir_user.clone(),
            scopes: context.scopes.clone(),
            roles: context.roles.clone(),
        }
    }

    /// Gives `context` these rights.
    pub(crate) fn apply(&self, context: &mut vigil_service::RequestContext) {
        context.client_id = self.client_id.clone();
        context.patient = self.patient.clone();
        context.fhir_user = self.fhir_user.clone();
        context.scopes = self.scopes.clone();
        context.roles = self.roles.clone();
    }

    fn to_json(&self) -> Value {
        json!({
            "clientId": self.client_id,
            "patient": self.patient,
            "fhirUser": self.fhir_user,
            "scopes": self.scopes,
            "roles": self.roles,
        })
    }

    fn from_json(value: Option<&Value>) -> Self {
        let Some(value) = value else {
            return Grant::default();
        };
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let list = |key: &str| -> Vec<String> {
            value
                .get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        Grant {
            client_id: text("clientId"),
            patient: text("patient"),
            fhir_user: text("fhirUser"),
            scopes: list("scopes"),
            roles: list("roles"),
        }
    }
}

impl ExportJob {
    pub(crate) fn to_record(&self, now_micros: i64) -> JobRecord {
        let level = match &self.level {
            ExportLevel::System => json!({"level": "system"}),
            ExportLevel::Patient => json!({"level": "patient"}),
            ExportLevel::Group(id) => json!({"level": "group", "group": id}),
        };
        let mut body = Map::new();
        body.insert("request".into(), json!(self.request_url));
        if let Value::Object(level) = level {
            body.extend(level);
        }
        body.insert("types".into(), json!(self.types));
        if let Some(since) = self.since_micros {
            body.insert("since".into(), json!(since));
        }
        let filters: Vec<Value> = self
            .type_filters
            .iter()
            .map(|(resource_type, query)| json!({"type": resource_type, "query": query}))
            .collect();
        body.insert("typeFilters".into(), Value::Array(filters));
        body.insert(
            "transactionTime".into(),
            json!(self.transaction_time_micros),
        );
        body.insert("asOfSeq".into(), json!(self.as_of_seq));
        body.insert("finishedTypes".into(), json!(self.finished_types));
        let output: Vec<Value> = self
            .output
            .iter()
            .map(|file| json!({"type": file.resource_type, "file": file.file, "count": file.count}))
            .collect();
        body.insert("output".into(), Value::Array(output));
        body.insert("progress".into(), json!(self.progress));
        body.insert("requestedBy".into(), json!(self.requested_by));
        body.insert("grant".into(), self.grant.to_json());
        body.insert("requestId".into(), json!(self.request_id));
        if let Some(error) = &self.error {
            body.insert("error".into(), json!(error));
        }
        if let Some(finished) = self.finished_micros {
            body.insert("finished".into(), json!(finished));
        }
        JobRecord {
            id: self.id.clone(),
            kind: KIND.to_owned(),
            state: self.state.as_str().to_owned(),
            created_micros: self.created_micros,
            updated_micros: now_micros,
            body: Value::Object(body).to_string(),
        }
    }

    /// Decodes a stored job; `None` when the record is not a readable export job.
    pub(crate) fn from_record(record: &JobRecord) -> Option<ExportJob> {
        if record.kind != KIND {
            return None;
        }
        let state = JobState::parse(&record.state)?;
        let body: Value = serde_json::from_str(&record.body).ok()?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let strings = |key: &str| -> Vec<String> {
            body.get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let level = match text("level").as_deref() {
            Some("patient") => ExportLevel::Patient,
            Some("group") => ExportLevel::Group(text("group")?),
            _ => ExportLevel::System,
        };
        let type_filters = body
            .get("typeFilters")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        Some((
                            item.get("type")?.as_str()?.to_owned(),
                            item.get("query")?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let output = body
            .get("output")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        Some(OutputFile {
                            resource_type: item.get("type")?.as_str()?.to_owned(),
                            file: item.get("file")?.as_str()?.to_owned(),
                            count: item.get("count")?.as_u64()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(ExportJob {
            id: record.id.clone(),
            state,
            created_micros: record.created_micros,
            request_url: text("request").unwrap_or_default(),
            level,
            types: strings("types"),
            since_micros: body.get("since").and_then(Value::as_i64),
            type_filters,
            transaction_time_micros: body.get("transactionTime").and_then(Value::as_i64)?,
            as_of_seq: body.get("asOfSeq").and_then(Value::as_u64)?,
            finished_types: strings("finishedTypes"),
            output,
            progress: text("progress").unwrap_or_default(),
            error: text("error"),
            finished_micros: body.get("finished").and_then(Value::as_i64),
            // A job without its requester runs with no rights (see the worker's job_context).
            requested_by: text("requestedBy").unwrap_or_default(),
            grant: Grant::from_json(body.get("grant")),
            request_id: text("requestId").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_through_its_record() {
        let job = ExportJob {
            id: "j1".into(),
            state: JobState::InProgress,
            created_micros: 5,
            request_url: "http://x/Group/g1/$export?_type=Patient".into(),
            level: ExportLevel::Group("g1".into()),
            types: vec!["Patient".into(), "Observation".into()],
            since_micros: Some(7),
            type_filters: vec![("Observation".into(), "code=1234-5".into())],
            transaction_time_micros: 9,
            as_of_seq: 42,
            finished_types: vec!["Patient".into()],
            output: vec![OutputFile {
                resource_type: "Patient".into(),
                file: "Patient-1.ndjson".into(),
                count: 3,
            }],
            progress: "1 of 2 types".into(),
            error: None,
            finished_micros: None,
            requested_by: "user:alice".into(),
            grant: Grant {
                client_id: Some("app".into()),
                patient: Some("p1".into()),
                fhir_user: None,
                scopes: vec!["patient/*.rs".into()],
                roles: vec!["clinician".into()],
            },
            request_id: "r1".into(),
        };
        let record = job.to_record(11);
        assert_eq!(record.state, "in-progress");
        assert_eq!(record.updated_micros, 11);
        assert_eq!(ExportJob::from_record(&record), Some(job));
    }

    #[test]
    fn unreadable_records_are_not_jobs() {
        let record = JobRecord {
            id: "j".into(),
            kind: KIND.into(),
            state: "accepted".into(),
            created_micros: 0,
            updated_micros: 0,
            body: "not json".into(),
        };
        assert_eq!(ExportJob::from_record(&record), None);
        let other = JobRecord {
            kind: "import".into(),
            body: "{}".into(),
            ..record.clone()
        };
        assert_eq!(ExportJob::from_record(&other), None);
        let state = JobRecord {
            state: "paused".into(),
            body: r#"{"transactionTime":1,"asOfSeq":1}"#.into(),
            ..record
        };
        assert_eq!(ExportJob::from_record(&state), None);
    }
}
