//! Device observations (MQTT payloads) through the door: decoder, mapper and door for the
//! device feed, one unit of work per payload.
//!
//! A payload is either a FHIR Observation (JSON) whose subject is a Patient reference
//! (`Patient/<id>`) or a logical reference by identifier (`{"identifier": {"system", "value"}}`),
//! or the compact form
//! `{"device": "ID", "patient": {"system": "URI", "value": "MRN"}, "code": {"system", "code"},
//! "value": 72, "unit": "/min", "time": "2026-12-01T03:14:00Z"}` (`patient` may be left out
//! when a Device with identifier `ID` names the patient in `Device.patient`).
//!
//! Rules, as implemented:
//! - The Observation's id is derived from the topic and the payload bytes, and the payload is
//!   recorded as an inbound message under sender `mqtt:<topic>` and that id: a redelivery
//!   (QoS 1 after a crash or reconnect) is recognised and stores nothing twice.
//! - A patient named by identifier must exist (found by `Patient?identifier=SYSTEM|VALUE`):
//!   devices do not create patients. The compact form's `value` is a JSON number, `unit` a
//!   UCUM code (system `http://unitsofmeasure.org`); `time` becomes `effectiveDateTime`; the
//!   status is `final`; LOINC vital signs get the `vital-signs` category; the device is
//!   referenced as the Device found by identifier, else by `identifier` only.
//! - Anything else (not JSON, unknown patient or device, a payload the FHIR validator
//!   refuses) is a dead letter: recorded `failed` with the reason, never retried by itself,
//!   and acknowledged to the broker so it does not block the feed.

use crate::door::state;
use crate::mapper::{derived_id, tables::is_vital_sign};
use serde_json::{Map, Value, json};
use vigil_service::{
    FhirService, InboundMessage, Preconditions, RequestContext, Resolution, ServiceError,
};

/// What became of one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// Committed (its Observation id).
    Stored(String),
    /// Already recorded (a redelivery); nothing written.
    Duplicate,
    /// Recorded as a dead letter with this reason.
    DeadLetter(String),
    /// Not committed (storage fault): do not acknowledge, the broker redelivers.
    Transient(String),
}

impl DeviceOutcome {
    /// Whether the broker may be told the payload is handled (everything but a storage fault).
    pub fn acknowledge(&self) -> bool {
        !matches!(self, DeviceOutcome::Transient(_))
    }
}

/// The door for device payloads.
pub struct DeviceDoor {
    service: FhirService,
    context: RequestContext,
}

impl DeviceDoor {
    /// A door writing through `service` as `system:ingest`.
    pub fn new(service: FhirService, base_url: &str) -> DeviceDoor {
        DeviceDoor {
            service,
            context: RequestContext::internal("ingest", base_url),
        }
    }

    /// Processes one payload received on `topic`. Blocking.
    pub fn receive(&self, topic: &str, payload: &[u8]) -> DeviceOutcome {
        self.process(topic, payload, None)
    }

    /// Processes a recorded dead letter again (`vigil hl7 reprocess`, e.g. after the missing
    /// patient was created): its record is replaced by the new outcome; a payload already
    /// stored is left alone (`Duplicate`). `None` when no payload is recorded under the key.
    pub fn reprocess(
        &self,
        sender: &str,
        control_id: &str,
    ) -> Result<Option<DeviceOutcome>, ServiceError> {
        let Some(record) = self.service.inbound_message(sender, control_id)? else {
            return Ok(None);
        };
        let Some(topic) = sender.strip_prefix("mqtt:") else {
            return Ok(None);
        };
        if record.state == state::PROCESSED {
            return Ok(Some(DeviceOutcome::Duplicate));
        }
        Ok(Some(self.process(
            topic,
            record.raw.as_bytes(),
            Some(control_id),
        )))
    }

    /// `recorded`: the key of the record being reprocessed (its id is kept as it is).
    fn process(&self, topic: &str, payload: &[u8], recorded: Option<&str>) -> DeviceOutcome {
        let again = recorded.is_some();
        let sender = format!("mqtt:{topic}");
        let mut keyed = Vec::with_capacity(topic.len() + payload.len() + 1);
        keyed.extend_from_slice(topic.as_bytes());
        keyed.push(0);
        keyed.extend_from_slice(payload);
        let id = match recorded {
            Some(id) => id.to_owned(),
            None => derived_id(&crate::door::decode_text(&keyed)),
        };
        match self.service.inbound_message(&sender, &id) {
            Ok(Some(_)) if !again => return DeviceOutcome::Duplicate,
            Ok(Some(_)) => {}
            Ok(None) => {}
            Err(error) => return DeviceOutcome::Transient(error.to_string()),
        }
        let raw = crate::door::decode_text(payload);
        let record = |state: &str, error: Option<String>| InboundMessage {
            sender: sender.clone(),
            control_id: id.clone(),
            received_micros: vigil_service::now_micros(),
            raw: raw.clone(),
            state: state.to_owned(),
            error,
        };
        let prepared = self.observation(payload, &id).and_then(|body| {
            let (object, _) = self
                .service
                .validate_body("Observation", body)
                .map_err(|e| Refusal::Content(format!("the Observation is not valid FHIR: {e}")))?;
            self.service
                .prepare("Observation", &id, object)
                .map_err(Refusal::from)
        });
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(Refusal::Transient(text)) => return DeviceOutcome::Transient(text),
            Err(Refusal::Content(reason)) => {
                let stored = self.service.unit(&self.context, |unit| {
                    if let Some(existing) = unit.inbound_message(&sender, &id)?
                        && (!again || existing.state == state::PROCESSED)
                    {
                        return Ok(false);
                    }
                    unit.record_message(record(state::FAILED, Some(reason.clone())));
                    Ok(true)
                });
                return match stored {
                    Ok(true) => DeviceOutcome::DeadLetter(reason),
                    Ok(false) => DeviceOutcome::Duplicate,
                    Err(error) => DeviceOutcome::Transient(error.to_string()),
                };
            }
        };
        let stored = self.service.unit(&self.context, |unit| {
            if let Some(existing) = unit.inbound_message(&sender, &id)?
                && (!again || existing.state == state::PROCESSED)
            {
                return Ok(false);
            }
            unit.update(prepared, &Preconditions::default())?;
            unit.record_message(record(state::PROCESSED, None));
            Ok(true)
        });
        match stored {
            Ok(true) => DeviceOutcome::Stored(id),
            Ok(false) => DeviceOutcome::Duplicate,
            Err(error) => DeviceOutcome::Transient(error.to_string()),
        }
    }

    /// The Observation a payload stands for.
    fn observation(&self, payload: &[u8], id: &str) -> Result<Value, Refusal> {
        let value: Value = serde_json::from_slice(payload)
            .map_err(|e| Refusal::Content(format!("the payload is not JSON: {e}")))?;
        let Value::Object(mut object) = value else {
            return Err(Refusal::Content("the payload is not a JSON object".into()));
        };
        if object.contains_key("resourceType") {
            if object.get("resourceType").and_then(Value::as_str) != Some("Observation") {
                return Err(Refusal::Content(
                    "a FHIR payload must be an Observation".into(),
                ));
            }
            let subject = object.get("subject").cloned();
            if let Some(Value::Object(subject)) = subject
                && subject.get("reference").is_none()
            {
                let reference = match subject.get("identifier") {
                    Some(identifier) => self.patient_by_identifier(identifier)?,
                    None => {
                        return Err(Refusal::Content(
                            "Observation.subject has neither reference nor identifier".into(),
                        ));
                    }
                };
                object.insert("subject".into(), json!({"reference": reference}));
            }
            object.insert("id".into(), json!(id));
            object.remove("meta");
            return Ok(Value::Object(object));
        }
        self.compact(&object, id)
    }

    fn compact(&self, object: &Map<String, Value>, id: &str) -> Result<Value, Refusal> {
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let device = text("device");
        let found_device = match device {
            Some(device) => self.device(device)?,
            None => None,
        };
        let subject = match object.get("patient") {
            Some(patient) => self.patient_by_identifier(patient)?,
            None => match &found_device {
                Some((_, Some(patient))) => patient.clone(),
                Some((_, None)) => {
                    return Err(Refusal::Content(format!(
                        "no patient: the payload names none and Device '{}' has no Device.patient",
                        device.unwrap_or_default()
                    )));
                }
                None => {
                    return Err(Refusal::Content(match device {
                        Some(device) => format!(
                            "no patient: the payload names none and no Device has identifier '{device}'"
                        ),
                        None => {
                            "no patient: the payload names neither a patient nor a device".into()
                        }
                    }));
                }
            },
        };
        let code = object
            .get("code")
            .and_then(Value::as_object)
            .ok_or_else(|| Refusal::Content("'code' is missing or not an object".into()))?;
        let system = code
            .get("system")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let code_value = code
            .get("code")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Refusal::Content("'code.code' is missing".into()))?;
        let mut coding = Map::new();
        if let Some(system) = system {
            coding.insert("system".into(), json!(system));
        }
        coding.insert("code".into(), json!(code_value));
        let Some(Value::Number(number)) = object.get("value") else {
            return Err(Refusal::Content(
                "'value' is missing or not a number".into(),
            ));
        };
        let mut quantity = Map::new();
        quantity.insert("value".into(), Value::Number(number.clone()));
        if let Some(unit) = text("unit") {
            quantity.insert("unit".into(), json!(unit));
            quantity.insert("system".into(), json!("http://unitsofmeasure.org"));
            quantity.insert("code".into(), json!(unit));
        }
        let mut body = Map::new();
        body.insert("resourceType".into(), json!("Observation"));
        body.insert("id".into(), json!(id));
        body.insert("status".into(), json!("final"));
        if system == Some("http://loinc.org") && is_vital_sign(code_value) {
            body.insert(
                "category".into(),
                json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}]}]),
            );
        }
        body.insert("code".into(), json!({"coding": [Value::Object(coding)]}));
        body.insert("subject".into(), json!({"reference": subject}));
        if let Some(time) = text("time") {
            body.insert("effectiveDateTime".into(), json!(time));
        }
        body.insert("valueQuantity".into(), Value::Object(quantity));
        match (&found_device, device) {
            (Some((reference, _)), _) => {
                body.insert("device".into(), json!({"reference": reference}));
            }
            (None, Some(device)) => {
                body.insert("device".into(), json!({"identifier": {"value": device}}));
            }
            (None, None) => {}
        }
        Ok(Value::Object(body))
    }

    /// `Patient/<id>` of the one patient with this identifier (`{"system", "value"}`).
    fn patient_by_identifier(&self, identifier: &Value) -> Result<String, Refusal> {
        let value = identifier
            .get("value")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty());
        let Some(value) = value else {
            return Err(Refusal::Content(
                "the patient identifier has no value".into(),
            ));
        };
        let system = identifier
            .get("system")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let criteria = vigil_service::token_criteria(
            "identifier",
            (!system.is_empty()).then_some(system),
            value,
        );
        match self
            .service
            .resolve_committed(&self.context, "Patient", &criteria)?
        {
            Resolution::One(id) => Ok(format!("Patient/{id}")),
            Resolution::None => Err(Refusal::Content(format!(
                "no patient has identifier {system}|{value}"
            ))),
            Resolution::Many => Err(Refusal::Content(format!(
                "several patients have identifier {system}|{value}"
            ))),
        }
    }

    /// The Device with identifier `device`: its reference and its `Device.patient` reference.
    fn device(&self, device: &str) -> Result<Option<(String, Option<String>)>, Refusal> {
        match self.service.resolve_committed(
            &self.context,
            "Device",
            &vigil_service::token_criteria("identifier", None, device),
        )? {
            Resolution::One(id) => {
                let read = self.service.read(&self.context, "Device", &id)?;
                let content: Value =
                    serde_json::from_str(&read.version.content).unwrap_or(Value::Null);
                let patient = content["patient"]["reference"].as_str().map(str::to_owned);
                Ok(Some((format!("Device/{id}"), patient)))
            }
            Resolution::None => Ok(None),
            Resolution::Many => Err(Refusal::Content(format!(
                "several Devices have identifier {device}"
            ))),
        }
    }
}

enum Refusal {
    Content(String),
    Transient(String),
}

impl From<ServiceError> for Refusal {
    fn from(error: ServiceError) -> Self {
        if vigil_service::breaks_unit(&error) {
            Refusal::Transient(error.to_string())
        } else {
            Refusal::Content(error.to_string())
        }
    }
}
