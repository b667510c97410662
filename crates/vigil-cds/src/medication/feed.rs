//! The medication-safety consumer (`cds-medication-safety`): when a MedicationRequest is
//! created (not by CDS), the same checks as CDS Hooks `order-sign` run against the patient's
//! current orders and allergies, read through the door, and each finding is stored as a
//! DetectedIssue: `code` the v3 ActCode (`DRG`, `ALGY`, `DUPTHPY`), `severity` high (critical)
//! or moderate (warning), `patient`, `implicated` the new order and the other order (or the
//! allergy), `detail`, and an identifier digest of the finding, by conditional create (a
//! redelivered event writes nothing new).

use serde_json::{Value, json};
use std::cell::Cell;
use vigil_service::feed::ChangeConsumer;
use vigil_service::{FhirService, RequestContext, ServiceError, format_instant, now_micros};
use vigil_store::{ChangeEvent, WriteMethod};

use super::checks::{Finding, check};
use super::knowledge::MedicationKnowledge;
use super::resources::{allergy_entry, is_current_order, medication_entry};
use crate::CdsError;
use crate::alerts::IDENTIFIER_SYSTEM;
use crate::door::{digest, is_transient, patient_reference, search_all};
use crate::news2_feed::{CDS_AGENT, CDS_SYSTEM};

/// The patient's MedicationRequests and AllergyIntolerances, through the door.
pub fn patient_medication_context(
    service: &FhirService,
    context: &RequestContext,
    patient: &str,
) -> Result<(Vec<Value>, Vec<Value>), ServiceError> {
    let orders = search_all(
        service,
        context,
        "MedicationRequest",
        &[
            ("subject", patient.to_owned()),
            ("status", "active,on-hold".to_owned()),
        ],
    )?;
    let allergies = search_all(
        service,
        context,
        "AllergyIntolerance",
        &[("patient", patient.to_owned())],
    )?;
    Ok((orders, allergies))
}

/// Resolves `Medication/{id}` through the door. A reference that is not there (unknown,
/// deleted, not readable) resolves to nothing and the order is matched by what it says itself;
/// a storage fault also resolves to nothing but is kept in `fault` (the first one), and the
/// caller must fail with it ([`resolver_fault`]): a fault must never pass for "no medication",
/// which would skip the safety checks silently.
pub fn door_resolver<'a>(
    service: &'a FhirService,
    context: &'a RequestContext,
    fault: &'a Cell<Option<ServiceError>>,
) -> impl FnMut(&str) -> Option<Value> + 'a {
    move |reference: &str| {
        let (kind, id) = reference.rsplit_once('/')?;
        let kind = kind.rsplit('/').next()?;
        match service.read(context, kind, id) {
            Ok(found) => serde_json::from_str(&found.version.content).ok(),
            Err(error) if is_transient(&error) => {
                let first = fault.take().unwrap_or(error);
                fault.set(Some(first));
                None
            }
            Err(_) => None,
        }
    }
}

/// The storage fault a [`door_resolver`] met, if any.
pub fn resolver_fault(fault: &Cell<Option<ServiceError>>) -> Result<(), ServiceError> {
    fault.take().map_or(Ok(()), Err)
}

/// The consumer.
pub struct MedicationSafetyConsumer {
    service: FhirService,
    context: RequestContext,
    knowledge: &'static MedicationKnowledge,
}

impl MedicationSafetyConsumer {
    /// The consumer with the embedded knowledge.
    pub fn new(service: FhirService, base_url: &str) -> Result<Self, CdsError> {
        Ok(MedicationSafetyConsumer {
            service,
            context: RequestContext::internal(CDS_SYSTEM, base_url),
            knowledge: MedicationKnowledge::embedded()?,
        })
    }

    /// Checks one new MedicationRequest and stores its findings; returns them.
    pub fn check_order(&self, order: &Value) -> Result<Vec<Finding>, ServiceError> {
        let Some(patient) = patient_reference(order.get("subject")) else {
            return Ok(Vec::new());
        };
        if !matches!(
            order["status"].as_str(),
            Some("active" | "on-hold" | "draft")
        ) {
            return Ok(Vec::new());
        }
        let fault = Cell::new(None);
        let mut resolve = door_resolver(&self.service, &self.context, &fault);
        let Some(draft) = medication_entry(order, "MedicationRequest/new", &mut resolve) else {
            resolver_fault(&fault)?;
            return Ok(Vec::new());
        };
        let (orders, allergies) =
            patient_medication_context(&self.service, &self.context, &patient)?;
        let active: Vec<_> = orders
            .iter()
            .filter(|o| is_current_order(o))
            .filter_map(|o| medication_entry(o, "", &mut resolve))
            .collect();
        resolver_fault(&fault)?;
        let allergies: Vec<_> = allergies.iter().filter_map(allergy_entry).collect();
        let findings = check(self.knowledge, &[draft], &active, &allergies);
        let version = order
            .pointer("/meta/versionId")
            .and_then(Value::as_str)
            .unwrap_or("");
        for finding in &findings {
            self.store(finding, &patient, version)?;
        }
        Ok(findings)
    }

    fn store(&self, finding: &Finding, patient: &str, version: &str) -> Result<(), ServiceError> {
        let key = digest(&[
            "detected-issue",
            &finding.rule,
            &finding.draft,
            version,
            &finding.other,
        ]);
        let (code, display) = finding.kind.act_code();
        let issue = detected_issue(finding, patient, &key, code, display);
        let (object, _) = self.service.validate_body("DetectedIssue", issue)?;
        let prepared =
            self.service
                .prepare("DetectedIssue", &format!("cds-issue-{key}"), object)?;
        let criteria = format!("identifier={IDENTIFIER_SYSTEM}|{key}");
        self.service
            .unit(&self.context, |unit| unit.create(prepared, Some(&criteria)))?;
        Ok(())
    }
}

/// The DetectedIssue of a finding.
pub fn detected_issue(
    finding: &Finding,
    patient: &str,
    key: &str,
    code: &str,
    display: &str,
) -> Value {
    json!({
        "resourceType": "DetectedIssue",
        "identifier": [{ "system": IDENTIFIER_SYSTEM, "value": key }],
        "status": "final",
        "code": {
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": code,
                "display": display,
            }],
            "text": finding.summary,
        },
        "severity": finding.indicator.severity(),
        "patient": { "reference": patient },
        "identifiedDateTime": format_instant(now_micros()),
        "implicated": [{ "reference": finding.draft }, { "reference": finding.other }],
        "detail": finding.detail,
        "reference": "https://doi.org/10.1136/amiajnl-2011-000612",
    })
}

impl ChangeConsumer for MedicationSafetyConsumer {
    type Error = ServiceError;

    fn name(&self) -> &str {
        "cds-medication-safety"
    }

    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), ServiceError> {
        for event in events {
            if event.resource_type != "MedicationRequest"
                || event.method != WriteMethod::Create
                || event.agent == CDS_AGENT
            {
                continue;
            }
            let order = match self.service.vread(
                &self.context,
                "MedicationRequest",
                &event.id,
                &event.version_id.to_string(),
            ) {
                Ok(found) => found.version,
                Err(error) if is_transient(&error) => return Err(error),
                Err(_) => continue,
            };
            let Ok(order) = serde_json::from_str::<Value>(&order.content) else {
                continue;
            };
            match self.check_order(&order) {
                Ok(findings) if !findings.is_empty() => {
                    tracing::debug!(count = findings.len(), "medication safety findings stored")
                }
                Ok(_) => {}
                Err(error) if is_transient(&error) => return Err(error),
                Err(error) => {
                    tracing::warn!(kind = ?error.kind(), %error, "medication safety check failed for an order")
                }
            }
        }
        Ok(())
    }
}
