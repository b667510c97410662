//! Runs one export job: for each type, pages through the snapshot
//! ([`FhirService::scan_snapshot`]: each
//! resource's version as of the job's `transactionTime`, deletions and later writes ignored),
//! keeps the resources the level and `_typeFilter` select, and appends them to
//! `<export dir>/<job id>/<Type>-<n>.ndjson`. Memory stays constant: one page at a time.
//!
//! - Patient and Group level: a resource is kept when one of the Patient compartment's
//!   parameters for its type references a patient (any patient, or a member of the Group);
//!   the references are the search index rows extracted from the snapshot version itself, so
//!   membership follows the compartment definition exactly and as of the snapshot.
//! - `_typeFilter`: the page's ids are searched with each filter (`_id=a,b,...&<filter>`);
//!   a resource matching any filter of its type is kept. Search runs over the current index,
//!   so for a resource changed while the export runs, the filter sees its newer version.
//! - Progress is saved after every type (and every few seconds) with a compare-and-set on
//!   `in-progress`, which is also how a DELETE (state `cancelled`) stops the run. A job
//!   interrupted by a shutdown resumes at its first unfinished type; files of that type are
//!   rewritten from the start, and the fixed snapshot makes them identical.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_service::feed::StopSignal;
use vigil_service::{
    FhirService, RequestContext, ServiceError, ServiceErrorKind, SnapshotScan, StoredVersion,
    now_micros,
};

use super::ExportOptions;
use super::job::{ExportJob, ExportLevel, JobState, OutputFile};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunEnd {
    Completed,
    /// A client cancelled the job (or it vanished): its files are removed.
    Cancelled,
    /// The worker is stopping (or the job's end could not be recorded): the job stays
    /// `in-progress` and is resumed by the worker's next run.
    Interrupted,
    Failed,
}

/// Which patients' compartments a patient or group export covers.
enum Patients {
    Any,
    Members(HashSet<String>),
}

/// The directory of a job's files.
pub(crate) fn job_dir(root: &Path, job_id: &str) -> PathBuf {
    root.join(job_id)
}

/// Writes one type's NDJSON files, starting a new file every `max_per_file` resources.
struct TypeFiles<'a> {
    dir: &'a Path,
    resource_type: &'a str,
    max_per_file: u64,
    current: Option<(BufWriter<File>, OutputFile)>,
    done: Vec<OutputFile>,
}

impl<'a> TypeFiles<'a> {
    fn new(dir: &'a Path, resource_type: &'a str, max_per_file: u64) -> Self {
        TypeFiles {
            dir,
            resource_type,
            max_per_file: max_per_file.max(1),
            current: None,
            done: Vec::new(),
        }
    }

    fn write(&mut self, content: &str) -> Result<(), ServiceError> {
        if self
            .current
            .as_ref()
            .is_some_and(|(_, file)| file.count >= self.max_per_file)
        {
            self.close_current()?;
        }
        if self.current.is_none() {
            let name = format!("{}-{}.ndjson", self.resource_type, self.done.len() + 1);
            let file =
                File::create(self.dir.join(&name)).map_err(|e| io_error("create", &name, &e))?;
            self.current = Some((
                BufWriter::new(file),
                OutputFile {
                    resource_type: self.resource_type.to_owned(),
                    file: name,
                    count: 0,
                },
            ));
        }
        let Some((writer, file)) = self.current.as_mut() else {
            return Err(ServiceError::internal("export file vanished while writing"));
        };
        // Stored content is compact JSON; anything else is re-serialized onto one line.
        let result = if content.contains('\n') {
            let value: Value = serde_json::from_str(content)
                .map_err(|e| ServiceError::internal(format!("stored content is not JSON: {e}")))?;
            writeln!(writer, "{value}")
        } else {
            writer
                .write_all(content.as_bytes())
                .and_then(|()| writer.write_all(b"\n"))
        };
        result.map_err(|e| io_error("write", &file.file, &e))?;
        file.count += 1;
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), ServiceError> {
        if let Some((writer, file)) = self.current.take() {
            let handle = writer
                .into_inner()
                .map_err(|e| io_error("flush", &file.file, e.error()))?;
            handle
                .sync_all()
                .map_err(|e| io_error("sync", &file.file, &e))?;
            self.done.push(file);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<OutputFile>, ServiceError> {
        self.close_current()?;
        Ok(self.done)
    }
}

fn io_error(action: &str, name: &str, error: &std::io::Error) -> ServiceError {
    ServiceError::internal(format!("cannot {action} export file {name}: {error}"))
}

/// The ids of the Patients a Group's members reference (`Patient/x`, or a URL ending so).
pub(crate) fn group_patients(group: &Value) -> HashSet<String> {
    group
        .get("member")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|member| member.pointer("/entity/reference").and_then(Value::as_str))
                .filter_map(|reference| {
                    let mut parts = reference.rsplit('/');
                    let id = parts.next()?;
                    (parts.next()? == "Patient" && !id.is_empty()).then(|| id.to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

struct Run<'a> {
    service: &'a FhirService,
    context: &'a RequestContext,
    options: &'a ExportOptions,
    stop: &'a StopSignal,
    dir: PathBuf,
    patients: Option<Patients>,
    last_saved: Instant,
}

/// Runs (or resumes) a job that is `in-progress` in the store as `context`; saves its end
/// state.
pub(crate) fn run_export(
    service: &FhirService,
    context: &RequestContext,
    mut job: ExportJob,
    root: &Path,
    options: &ExportOptions,
    stop: &StopSignal,
) -> RunEnd {
    let dir = job_dir(root, &job.id);
    let mut run = Run {
        service,
        context,
        options,
        stop,
        dir,
        patients: None,
        last_saved: Instant::now(),
    };
    match run.all_types(&mut job) {
        Ok(RunEnd::Completed) => {
            job.state = JobState::Completed;
            job.finished_micros = Some(now_micros());
            job.progress = "completed".to_owned();
            match run.save(&job) {
                Ok(true) => RunEnd::Completed,
                Ok(false) => run.cancelled(&job.id),
                Err(error) => {
                    tracing::error!(job = %job.id, %error, "cannot record a finished export");
                    RunEnd::Interrupted
                }
            }
        }
        Ok(RunEnd::Cancelled) => run.cancelled(&job.id),
        Ok(end) => end,
        Err(error) => {
            tracing::error!(job = %job.id, %error, "export failed");
            remove_dir(&run.dir);
            job.state = JobState::Failed;
            job.finished_micros = Some(now_micros());
            job.error = Some(
                error
                    .issues()
                    .iter()
                    .map(|i| i.diagnostics.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            job.output.clear();
            if let Err(error) = run.save(&job) {
                // The job stays in progress and is resumed (and may fail again) at the next run.
                tracing::error!(job = %job.id, %error, "cannot record that an export failed");
            }
            RunEnd::Failed
        }
    }
}

impl Run<'_> {
    /// Saves the job if it is still `in-progress`; false when a client cancelled it.
    fn save(&mut self, job: &ExportJob) -> Result<bool, ServiceError> {
        self.last_saved = Instant::now();
        self.service
            .update_job(&job.to_record(now_micros()), JobState::InProgress.as_str())
    }

    fn cancelled(&self, job_id: &str) -> RunEnd {
        remove_dir(&self.dir);
        if let Err(error) = self.service.delete_job(job_id) {
            tracing::warn!(job = %job_id, %error, "cannot remove a cancelled export job");
        }
        RunEnd::Cancelled
    }

    fn all_types(&mut self, job: &mut ExportJob) -> Result<RunEnd, ServiceError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            ServiceError::internal(format!("cannot create {}: {e}", self.dir.display()))
        })?;
        self.remove_unlisted_files(job)?;
        self.patients = match &job.level {
            ExportLevel::System => None,
            ExportLevel::Patient => Some(Patients::Any),
            ExportLevel::Group(id) => {
                let group = self
                    .service
                    .read(self.context, "Group", id)
                    .map_err(|error| match error.kind() {
                        ServiceErrorKind::Gone => {
                            ServiceError::not_found(format!("Group/{id} is not known"))
                        }
                        _ => error,
                    })?
                    .version;
                let value: Value = serde_json::from_str(&group.content).map_err(|e| {
                    ServiceError::internal(format!("stored Group is not JSON: {e}"))
                })?;
                Some(Patients::Members(group_patients(&value)))
            }
        };
        let total = job.types.len();
        for (position, resource_type) in job.types.clone().iter().enumerate() {
            if job.finished_types.contains(resource_type) {
                continue;
            }
            job.progress = format!("{resource_type}: started ({position} of {total} types done)");
            if !self.save(job)? {
                return Ok(RunEnd::Cancelled);
            }
            let files = match self.one_type(job, resource_type, position, total)? {
                Ok(files) => files,
                Err(end) => return Ok(end),
            };
            job.output.extend(files);
            job.finished_types.push(resource_type.clone());
        }
        Ok(RunEnd::Completed)
    }

    /// Files left by an interrupted run that the job does not list belong to an unfinished
    /// type: they are rewritten from the start.
    fn remove_unlisted_files(&self, job: &ExportJob) -> Result<(), ServiceError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            ServiceError::internal(format!("cannot list {}: {e}", self.dir.display()))
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !job.output.iter().any(|file| file.file == name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Exports one type; `Err(end)` when the run must stop (cancelled or interrupted).
    fn one_type(
        &mut self,
        job: &mut ExportJob,
        resource_type: &str,
        position: usize,
        total: usize,
    ) -> Result<Result<Vec<OutputFile>, RunEnd>, ServiceError> {
        let filters: Vec<&str> = job
            .type_filters
            .iter()
            .filter(|(t, _)| t == resource_type)
            .map(|(_, q)| q.as_str())
            .collect();
        let dir = self.dir.clone();
        let mut files = TypeFiles::new(&dir, resource_type, self.options.max_resources_per_file);
        let mut scan = SnapshotScan {
            resource_type: resource_type.to_owned(),
            as_of_seq: job.as_of_seq,
            since_micros: job.since_micros,
            after_id: None,
            limit: self.options.page_size.max(1),
        };
        let mut written = 0u64;
        loop {
            if self.stop.is_stopped() {
                return Ok(Err(RunEnd::Interrupted));
            }
            let page = self.service.scan_snapshot(self.context, "export", &scan)?;
            let Some(after_id) = page.after_id else { break };
            scan.after_id = Some(after_id);
            let kept = self.select(resource_type, &filters, page.versions)?;
            for version in &kept {
                files.write(&version.content)?;
            }
            super::audit::exported(self.service, self.context, &job.id, &kept);
            written += kept.len() as u64;
            if self.last_saved.elapsed() >= Duration::from_secs(2) {
                job.progress = format!(
                    "{resource_type}: {written} resources ({position} of {total} types done)"
                );
                if !self.save(job)? {
                    return Ok(Err(RunEnd::Cancelled));
                }
            } else if self
                .service
                .job(&job.id)?
                .is_none_or(|record| record.state != JobState::InProgress.as_str())
            {
                return Ok(Err(RunEnd::Cancelled));
            }
        }
        Ok(Ok(files.finish()?))
    }

    /// The resources of a page this export keeps.
    fn select(
        &self,
        resource_type: &str,
        filters: &[&str],
        page: Vec<StoredVersion>,
    ) -> Result<Vec<StoredVersion>, ServiceError> {
        let mut page = match &self.patients {
            None => page,
            Some(patients) => {
                let mut kept = Vec::with_capacity(page.len());
                for version in page {
                    if self.in_compartment(resource_type, &version, patients)? {
                        kept.push(version);
                    }
                }
                kept
            }
        };
        if !filters.is_empty() && !page.is_empty() {
            let ids: Vec<&str> = page.iter().map(|v| v.id.as_str()).collect();
            let mut matched: HashSet<String> = HashSet::new();
            for query in filters {
                matched.extend(self.service.filter_ids(
                    self.context,
                    resource_type,
                    query,
                    Some(&ids),
                )?);
            }
            page.retain(|version| matched.contains(&version.id));
        }
        Ok(page)
    }

    /// Whether a (snapshot) version belongs to the Patient compartment of the patients covered.
    fn in_compartment(
        &self,
        resource_type: &str,
        version: &StoredVersion,
        patients: &Patients,
    ) -> Result<bool, ServiceError> {
        let resource: Value = serde_json::from_str(&version.content).map_err(|e| {
            ServiceError::internal(format!(
                "stored {resource_type}/{} is not JSON: {e}",
                version.id
            ))
        })?;
        let referenced =
            self.service
                .patient_compartments(resource_type, &version.id, &resource)?;
        Ok(referenced.iter().any(|id| match patients {
            Patients::Any => true,
            Patients::Members(ids) => ids.contains(id),
        }))
    }
}

pub(crate) fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(dir = %dir.display(), %error, "cannot remove export files"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_members_are_patient_references_only() {
        let group = json!({"resourceType": "Group", "member": [
            {"entity": {"reference": "Patient/a"}},
            {"entity": {"reference": "http://other/fhir/Patient/b"}},
            {"entity": {"reference": "Practitioner/c"}},
            {"entity": {"display": "no reference"}},
            {"entity": {"reference": "Patient/"}}
        ]});
        let mut ids: Vec<String> = group_patients(&group).into_iter().collect();
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
        assert!(group_patients(&json!({"resourceType": "Group"})).is_empty());
    }

    #[test]
    fn files_roll_over_and_count_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = TypeFiles::new(dir.path(), "Patient", 2);
        for n in 0..5 {
            files
                .write(&format!("{{\"resourceType\":\"Patient\",\"id\":\"p{n}\"}}"))
                .unwrap();
        }
        files.write("{\n\"resourceType\": \"Patient\"\n}").unwrap();
        let done = files.finish().unwrap();
        let counts: Vec<(String, u64)> = done.iter().map(|f| (f.file.clone(), f.count)).collect();
        assert_eq!(
            counts,
            [
                ("Patient-1.ndjson".into(), 2),
                ("Patient-2.ndjson".into(), 2),
                ("Patient-3.ndjson".into(), 2)
            ]
        );
        let last = std::fs::read_to_string(dir.path().join("Patient-3.ndjson")).unwrap();
        assert_eq!(
            last.lines().count(),
            2,
            "pretty JSON is written on one line: {last}"
        );
    }
}
