//! The NEWS2 change-feed consumer: a committed vital sign makes the patient's score be
//! computed again, written as an Observation, and raise or keep an alert Task.
//!
//! For each batch of change events, [`News2Consumer`] finds the patients whose vital-sign
//! Observations (any NEWS2 LOINC code, [`crate::inputs::NEWS2_LOINC_CODES`]) were created or
//! updated, reads (through the door, as `system:cds`) their Observations dated from the
//! window before the earliest trigger onwards and their SpO2 Scale 2 setting, scores the newest
//! window with the pure core, and writes in one unit of work:
//!
//! 1. the score Observation, id `news2-{digest}` and an identifier with the same digest of its
//!    inputs (each input's reference, version and parameter, and the SpO2 scale), by
//!    conditional create: a redelivered event finds it and writes nothing else;
//! 2. the alert, when the risk asks for one ([`crate::alerts`]: create, raise or keep).
//!
//! Its own writes do not trigger it: events whose agent is `system:cds` are skipped, and the
//! score Observation carries no vital-sign code. Deleted Observations trigger nothing (the
//! next reading rescores).

use std::time::Duration;

use serde_json::{Value, json};
use vigil_service::feed::ChangeConsumer;
use vigil_service::{
    FhirService, Prepared, RequestContext, ServiceError, ServiceErrorKind, Unit, format_instant,
    now_micros, parse_instant_micros,
};
use vigil_store::{ChangeEvent, WriteMethod};

use crate::alerts::{self, Alert, AlertOutcome, IDENTIFIER_SYSTEM, PreparedAlert};
use crate::door::{digest, is_transient, patient_reference, search_all};
use crate::inputs::{InputOptions, is_news2_observation};
use crate::news2::SpO2Scale;
use crate::{CdsError, News2Knowledge, collect_inputs, output};

/// The principal CDS writes as (`system:cds` in the change feed and audit).
pub const CDS_SYSTEM: &str = "cds";
/// The change-feed agent of CDS's own writes; events from it never trigger CDS.
pub const CDS_AGENT: &str = "system:cds";
/// Vigil's code system for per-patient CDS settings (the SpO2 Scale 2 Flag).
pub const SETTING_SYSTEM: &str = "https://vigil.example.invalid/fhir/CodeSystem/cds-setting";
/// The Flag code that puts a patient on SpO2 Scale 2.
pub const SCALE_2_CODE: &str = "news2-spo2-scale-2";

/// How the NEWS2 consumer selects and writes.
#[derive(Debug, Clone)]
pub struct News2Options {
    /// Window of readings ending at the newest (default 60 minutes).
    pub window: Duration,
    /// Readings dated later than now plus this are ignored (a mistyped future date must not
    /// end the window); default 5 minutes.
    pub future_tolerance: Duration,
    /// The base URL of the context CDS writes under.
    pub base_url: String,
}

impl Default for News2Options {
    fn default() -> Self {
        News2Options {
            window: Duration::from_secs(60 * 60),
            future_tolerance: Duration::from_secs(5 * 60),
            base_url: "http://localhost".to_owned(),
        }
    }
}

/// What scoring one patient did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum News2Outcome {
    /// No NEWS2 reading in the window.
    NoReadings,
    /// The patient is under 16 (from `Patient.birthDate`): NEWS2 is validated for adults only.
    UnderSixteen,
    /// The patient is pregnant (see [`News2Consumer::pregnant`]): the RCP advises an
    /// obstetric early-warning score instead of NEWS2.
    Pregnant,
    /// A new score `Observation/{id}` and what happened to the alert (`None`: low risk).
    Scored(String, Option<AlertOutcome>),
    /// This score was already written (a redelivery, or nothing changed).
    AlreadyScored(String),
}

/// The change-feed consumer (name `cds-news2`).
pub struct News2Consumer {
    service: FhirService,
    options: News2Options,
    knowledge: &'static News2Knowledge,
}

impl News2Consumer {
    /// The consumer over `service`, with the embedded NEWS2 chart.
    pub fn new(service: FhirService, options: News2Options) -> Result<Self, CdsError> {
        Ok(News2Consumer {
            service,
            options,
            knowledge: News2Knowledge::embedded()?,
        })
    }

    fn context(&self) -> RequestContext {
        RequestContext::internal(CDS_SYSTEM, &self.options.base_url)
    }

    /// The patient and effective time of a vital sign this event wrote, if it is one.
    fn trigger(&self, event: &ChangeEvent) -> Result<Option<(String, i64)>, ServiceError> {
        if event.resource_type != "Observation"
            || event.method == WriteMethod::Delete
            || event.agent == CDS_AGENT
        {
            return Ok(None);
        }
        let version = match self.service.vread(
            &self.context(),
            "Observation",
            &event.id,
            &event.version_id.to_string(),
        ) {
            Ok(found) => found.version,
            Err(error) if !is_transient(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let Ok(observation) = serde_json::from_str::<Value>(&version.content) else {
            return Ok(None);
        };
        if !is_news2_observation(&observation) {
            return Ok(None);
        }
        let Some(patient) = patient_reference(observation.get("subject")) else {
            return Ok(None);
        };
        let effective = effective_micros(&observation).unwrap_or_else(now_micros);
        Ok(Some((patient, effective)))
    }

    /// Scores `patient` from readings dated `since` minus the window onwards, in a unit of
    /// work of its own.
    pub fn score_patient(&self, patient: &str, since: i64) -> Result<News2Outcome, ServiceError> {
        match self.prepare_patient(patient, since)? {
            Err(outcome) => Ok(outcome),
            Ok(prepared) => self
                .service
                .unit(&self.context(), |unit| write_prepared(unit, prepared)),
        }
    }

    /// Reads and scores `patient` and prepares what to write (outside any unit of work), or
    /// says why there is nothing to write.
    pub fn prepare_patient(
        &self,
        patient: &str,
        since: i64,
    ) -> Result<Result<PreparedScore, News2Outcome>, ServiceError> {
        let context = self.context();
        if let Some(excluded) = self.excluded(&context, patient)? {
            return Ok(Err(excluded));
        }
        let window = micros(self.options.window);
        // By patient and date only: a `code` filter listing the eleven NEWS2 codes made the
        // search about twice as slow (every ward shares those codes), and `collect_inputs`
        // keeps only NEWS2 readings anyway.
        let observations = search_all(
            &self.service,
            &context,
            "Observation",
            &[
                ("subject", patient.to_owned()),
                (
                    "date",
                    format!("ge{}", format_instant(since.saturating_sub(window))),
                ),
            ],
        )?;
        let input_options = InputOptions {
            window_micros: window,
            not_after_micros: Some(now_micros() + micros(self.options.future_tolerance)),
        };
        let inputs = collect_inputs(&observations, &input_options);
        if inputs.newest().is_none() {
            return Ok(Err(News2Outcome::NoReadings));
        }
        let scale = self.spo2_scale(&context, patient)?;
        let score = crate::score(self.knowledge, &inputs, scale).map_err(invalid)?;
        let scale_text = format!("{scale:?}");
        let mut parts: Vec<String> = vec!["news2".into(), patient.into(), scale_text];
        for input in inputs.iter() {
            parts.push(format!(
                "{}@{}#{}",
                input.reference,
                input.version_id.as_deref().unwrap_or(""),
                input.parameter.key()
            ));
        }
        let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let key = digest(&part_refs);
        let score_id = format!("news2-{key}");
        let score_reference = format!("Observation/{score_id}");
        let mut observation =
            output::score_observation(&score, &inputs, patient).map_err(invalid)?;
        observation["id"] = json!(score_id);
        observation["identifier"] = json!([{ "system": IDENTIFIER_SYSTEM, "value": key }]);
        let (object, _) = self.service.validate_body("Observation", observation)?;
        let prepared_score = self.service.prepare("Observation", &score_id, object)?;

        let alert = output::alert_task(&score, patient, &score_reference, now_micros())
            .map_err(invalid)?
            .map(|task| Alert {
                task,
                kind: "news2".into(),
                kind_display: "NEWS2 early warning alert".into(),
                patient: patient.to_owned(),
                key: key.clone(),
            });
        let prepared_alert = match &alert {
            Some(alert) => {
                let open = alerts::open_alerts(&self.service, &context, patient, &alert.kind)?;
                Some(alerts::prepare(&self.service, alerts::plan(alert, &open))?)
            }
            None => None,
        };
        Ok(Ok(PreparedScore {
            score: prepared_score,
            criteria: format!("identifier={IDENTIFIER_SYSTEM}|{key}"),
            alert: prepared_alert,
        }))
    }

    /// Whether NEWS2 does not apply to `patient`: under 16 by the stored Patient's
    /// `birthDate`, or pregnant ([`Self::pregnant`], not asked of a Patient whose `gender` is
    /// `male`). An unknown patient or birth date is scored.
    fn excluded(
        &self,
        context: &RequestContext,
        patient: &str,
    ) -> Result<Option<News2Outcome>, ServiceError> {
        let id = patient.trim_start_matches("Patient/");
        let resource = match self.service.read(context, "Patient", id) {
            Ok(found) => serde_json::from_str::<Value>(&found.version.content).ok(),
            Err(error) if is_transient(&error) => return Err(error),
            Err(_) => None,
        };
        let resource = resource.unwrap_or(Value::Null);
        if let Some(birth) = resource["birthDate"].as_str()
            && is_under_sixteen(birth, &format_instant(now_micros())[..10])
        {
            return Ok(Some(News2Outcome::UnderSixteen));
        }
        if resource["gender"] != "male" && self.pregnant(context, patient)? {
            return Ok(Some(News2Outcome::Pregnant));
        }
        Ok(None)
    }

    /// Whether the record says `patient` is pregnant now: an active Condition coded SNOMED CT
    /// pregnancy ([`PREGNANCY_CONDITIONS`], not refuted or entered in error, not abated), or a
    /// latest pregnancy-status Observation (LOINC 82810-3) no older than
    /// [`PREGNANCY_STATUS_MAX_AGE_DAYS`] whose value is "Pregnant" (LOINC answer LA15173-0 or
    /// SNOMED CT 77386006).
    fn pregnant(&self, context: &RequestContext, patient: &str) -> Result<bool, ServiceError> {
        let codes = PREGNANCY_CONDITIONS
            .iter()
            .map(|code| format!("http://snomed.info/sct|{code}"))
            .collect::<Vec<_>>()
            .join(",");
        let conditions = search_all(
            &self.service,
            context,
            "Condition",
            &[
                ("subject", patient.to_owned()),
                ("code", codes),
                ("clinical-status", "active".to_owned()),
            ],
        )?;
        if conditions.iter().any(is_current_pregnancy_condition) {
            return Ok(true);
        }
        let oldest = now_micros() - PREGNANCY_STATUS_MAX_AGE_DAYS * 86_400_000_000;
        let statuses = search_all(
            &self.service,
            context,
            "Observation",
            &[
                ("subject", patient.to_owned()),
                ("code", "http://loinc.org|82810-3".to_owned()),
                ("date", format!("ge{}", format_instant(oldest))),
            ],
        )?;
        let latest = statuses
            .iter()
            .filter(|o| !matches!(o["status"].as_str(), Some("entered-in-error" | "cancelled")))
            .filter_map(|o| effective_micros(o).map(|at| (at, o)))
            .filter(|(at, _)| *at >= oldest)
            .max_by_key(|(at, _)| *at);
        Ok(latest.is_some_and(|(_, o)| says_pregnant(&o["valueCodeableConcept"])))
    }

    /// Scale 2 when the patient has an active Flag coded [`SCALE_2_CODE`] in
    /// [`SETTING_SYSTEM`] (or with that text) whose period, if any, holds now.
    fn spo2_scale(
        &self,
        context: &RequestContext,
        patient: &str,
    ) -> Result<SpO2Scale, ServiceError> {
        let flags = search_all(
            &self.service,
            context,
            "Flag",
            // R4 has no `status` search parameter on Flag: the status is checked in memory
            // (is_scale_2_flag).
            &[("subject", patient.to_owned())],
        )?;
        let now = now_micros();
        let on_scale_2 = flags.iter().any(|flag| is_scale_2_flag(flag, now));
        Ok(if on_scale_2 {
            SpO2Scale::Scale2
        } else {
            SpO2Scale::Scale1
        })
    }
}

/// A score and its alert, validated and indexed, ready for a unit of work.
#[derive(Clone)]
pub struct PreparedScore {
    score: Prepared,
    criteria: String,
    alert: Option<PreparedAlert>,
}

/// Writes a prepared score inside `unit`: the score by conditional create (an existing one
/// means this score was written before, alert included), then the alert.
pub fn write_prepared(
    unit: &mut Unit<'_>,
    prepared: PreparedScore,
) -> Result<News2Outcome, ServiceError> {
    let written = unit.create(prepared.score, Some(&prepared.criteria))?;
    let reference = format!("Observation/{}", written.version.id);
    if written.unchanged {
        return Ok(News2Outcome::AlreadyScored(reference));
    }
    let alert = match prepared.alert {
        Some(alert) => Some(alerts::write(unit, alert)?),
        None => None,
    };
    Ok(News2Outcome::Scored(reference, alert))
}

/// Whether a Flag is an active SpO2 Scale 2 setting at `now`.
pub fn is_scale_2_flag(flag: &Value, now: i64) -> bool {
    let coded = flag["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["system"] == SETTING_SYSTEM && c["code"] == SCALE_2_CODE);
    let by_text = flag["code"]["text"]
        .as_str()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("NEWS2 SpO2 Scale 2"));
    let started = flag
        .pointer("/period/start")
        .and_then(Value::as_str)
        .and_then(parse_instant_micros)
        .is_none_or(|start| start <= now);
    let not_ended = flag
        .pointer("/period/end")
        .and_then(Value::as_str)
        .and_then(parse_instant_micros)
        .is_none_or(|end| end >= now);
    flag["status"] == "active" && (coded || by_text) && started && not_ended
}

impl ChangeConsumer for News2Consumer {
    type Error = ServiceError;

    fn name(&self) -> &str {
        "cds-news2"
    }

    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), ServiceError> {
        // One score per patient per batch, from the earliest trigger's window onwards.
        let mut patients: Vec<(String, i64)> = Vec::new();
        for event in events {
            let Some((patient, effective)) = self.trigger(event)? else {
                continue;
            };
            match patients.iter_mut().find(|(p, _)| *p == patient) {
                Some((_, since)) => *since = (*since).min(effective),
                None => patients.push((patient, effective)),
            }
        }
        let mut ready = Vec::new();
        for result in self.prepare_all(&patients) {
            match result {
                Ok(Ok(prepared)) => ready.push(prepared),
                Ok(Err(outcome)) => tracing::debug!(?outcome, "NEWS2 not written"),
                Err(error) if is_transient(&error) => return Err(error),
                // A problem of this patient's data: logged without PHI, and the feed goes on.
                Err(error) => {
                    tracing::warn!(kind = ?error.kind(), %error, "NEWS2 not scored for a patient")
                }
            }
        }
        if ready.is_empty() {
            return Ok(());
        }
        // One durable commit for the whole batch (one fsync, not one per patient); if it
        // fails for a reason of one patient's data, each patient gets a unit of its own.
        let context = self.context();
        let batch = self.service.unit(&context, |unit| {
            ready
                .clone()
                .into_iter()
                .map(|prepared| write_prepared(unit, prepared))
                .collect::<Result<Vec<_>, _>>()
        });
        match batch {
            Ok(outcomes) => tracing::debug!(?outcomes, "NEWS2 scored"),
            Err(error) if is_transient(&error) => return Err(error),
            Err(_) => {
                for prepared in ready {
                    match self
                        .service
                        .unit(&context, |unit| write_prepared(unit, prepared))
                    {
                        Ok(outcome) => tracing::debug!(?outcome, "NEWS2 scored"),
                        Err(error) if is_transient(&error) => return Err(error),
                        Err(error) => {
                            tracing::warn!(kind = ?error.kind(), %error, "NEWS2 not written for a patient")
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether someone born on `birth` (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`) is under 16 on `today`
/// (`YYYY-MM-DD`). A partial date counts from its latest possible day, so a child is never
/// taken for 16 early; an unreadable date is not under 16.
pub fn is_under_sixteen(birth: &str, today: &str) -> bool {
    let parts = |text: &str| -> Option<(u32, u32, u32)> {
        let mut it = text.split('-');
        let year = it.next()?.parse().ok()?;
        let month = it.next().map_or(Some(12), |m| m.parse().ok())?;
        let day = it
            .next()
            .map_or(Some(31), |d| d.get(..2).unwrap_or(d).parse().ok())?;
        Some((year, month, day))
    };
    match (parts(birth), parts(today)) {
        (Some((by, bm, bd)), Some((ty, tm, td))) => (ty, tm, td) < (by + 16, bm, bd),
        _ => false,
    }
}

impl News2Consumer {
    /// Prepares every patient, on up to [`READ_THREADS`] threads (the reads and the index
    /// extraction dominate; the store's readers run in parallel), results in input order.
    fn prepare_all(&self, patients: &[(String, i64)]) -> Vec<PatientResult> {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, READ_THREADS);
        if patients.len() < 2 || threads == 1 {
            return patients
                .iter()
                .map(|(p, since)| self.prepare_patient(p, *since))
                .collect();
        }
        let chunk = patients.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = patients
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|(p, since)| self.prepare_patient(p, *since))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        vec![Err(ServiceError::internal(
                            "a NEWS2 scoring thread panicked",
                        ))]
                    })
                })
                .collect()
        })
    }
}

/// SNOMED CT codes of a Condition that means the patient is pregnant: 77386006 Pregnancy,
/// 72892002 Normal pregnancy, 47200007 High risk pregnancy.
pub const PREGNANCY_CONDITIONS: [&str; 3] = ["77386006", "72892002", "47200007"];

/// A pregnancy-status Observation older than this (42 weeks) says nothing about now.
pub const PREGNANCY_STATUS_MAX_AGE_DAYS: i64 = 294;

/// An active pregnancy Condition: not refuted or entered in error, not abated.
fn is_current_pregnancy_condition(condition: &Value) -> bool {
    let verification = condition
        .pointer("/verificationStatus/coding/0/code")
        .and_then(Value::as_str);
    !matches!(verification, Some("refuted" | "entered-in-error"))
        && condition
            .as_object()
            .is_none_or(|c| !c.keys().any(|k| k.starts_with("abatement")))
}

/// Whether a pregnancy-status value says "Pregnant".
fn says_pregnant(value: &Value) -> bool {
    value["coding"].as_array().into_iter().flatten().any(|c| {
        matches!(
            (c["system"].as_str(), c["code"].as_str()),
            (Some("http://loinc.org"), Some("LA15173-0"))
                | (Some("http://snomed.info/sct"), Some("77386006"))
        )
    })
}

/// What preparing one patient gives.
type PatientResult = Result<Result<PreparedScore, News2Outcome>, ServiceError>;

/// Most threads scoring one batch.
pub const READ_THREADS: usize = 4;

fn effective_micros(observation: &Value) -> Option<i64> {
    [
        "/effectiveDateTime",
        "/effectiveInstant",
        "/effectivePeriod/end",
        "/issued",
    ]
    .iter()
    .filter_map(|pointer| observation.pointer(pointer).and_then(Value::as_str))
    .find_map(parse_instant_micros)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 4)
}

fn invalid(error: CdsError) -> ServiceError {
    ServiceError::new(
        ServiceErrorKind::Invalid,
        vigil_model::IssueType::Processing,
        error.to_string(),
    )
}
