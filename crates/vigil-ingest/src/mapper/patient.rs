//! PID -> Patient and PV1 -> Encounter (guide: `PID[Patient]`, `PV1[Encounter]`), shared by
//! every message family.
//!
//! The patient is found or created by its first PID-3 identifier: value PID-3.1, system
//! [`identifier_system`] (from the assigning authority PID-3.4, else from the sender), so a
//! search `Patient?identifier=VALUE` or `Patient?identifier=SYSTEM|VALUE` finds it.

use super::datatypes::{
    address, contact_point, date, date_time, first, human_name, rep_component, rep_sub,
    repetitions, table_concept, urn_part,
};
use super::person::{location, practitioner};
use super::tables::Table;
use super::{MapContext, MapError, Write, put, reference};
use crate::er7::{Repetition, Segment};
use serde_json::{Map, Value, json};

/// The FHIR system of a CX identifier:
///
/// 1. CX.4 (HD) with a universal id: `urn:oid:<HD.2>` when HD.3 is `ISO`, `urn:uuid:<HD.2>`
///    for `UUID`, HD.2 itself for `URI`/`URL` or any HD.2 that already is a URI;
/// 2. CX.4 with a namespace id only: `urn:vigil:hl7v2:assigner:<HD.1>`;
/// 3. no CX.4: `urn:vigil:hl7v2:sender:<MSH-3.1>:<MSH-4.1>` (the sending application and
///    facility stand for the assigning authority).
///
/// Names are percent-encoded outside `[A-Za-z0-9._-]`.
pub fn identifier_system(rep: &Repetition, sender: &(String, String)) -> String {
    hd_system(rep, 4, sender)
}

/// The FHIR system of the assigning authority in component `hd` (an HD) of `rep`, by the
/// rules of [`identifier_system`] (CX.4, XCN.9, PL.4).
pub fn hd_system(rep: &Repetition, hd: usize, sender: &(String, String)) -> String {
    let namespace = rep_sub(rep, hd, 1);
    let universal = rep_sub(rep, hd, 2);
    let kind = rep_sub(rep, hd, 3).map(str::to_ascii_uppercase);
    if let Some(universal) = universal {
        match kind.as_deref() {
            Some("ISO") => return format!("urn:oid:{universal}"),
            Some("UUID") => return format!("urn:uuid:{}", universal.to_ascii_lowercase()),
            _ if universal.contains("://") || universal.starts_with("urn:") => {
                return universal.to_owned();
            }
            _ => return format!("urn:vigil:hl7v2:assigner:{}", urn_part(universal)),
        }
    }
    if let Some(namespace) = namespace {
        return format!("urn:vigil:hl7v2:assigner:{}", urn_part(namespace));
    }
    format!(
        "urn:vigil:hl7v2:sender:{}:{}",
        urn_part(&sender.0),
        urn_part(&sender.1)
    )
}

/// A CX repetition as a FHIR Identifier, `None` without CX.1.
pub fn identifier(rep: &Repetition, sender: &(String, String)) -> Option<Value> {
    let value = rep_component(rep, 1)?;
    let mut out = Map::new();
    if let Some(kind) = rep_component(rep, 5) {
        out.insert("type".into(), table_concept(kind, "0203"));
    }
    out.insert("system".into(), json!(identifier_system(rep, sender)));
    out.insert("value".into(), json!(value));
    Some(Value::Object(out))
}

/// The (system, value) a patient is found by: PID-3's first repetition with a value.
pub fn patient_key(pid: &Segment, sender: &(String, String)) -> Option<(String, String)> {
    repetitions(pid, 3).into_iter().find_map(|rep| {
        let value = rep_component(rep, 1)?;
        Some((identifier_system(rep, sender), value.to_owned()))
    })
}

/// Plans the patient of `pid` (found by PID-3) with `write`; returns its reference.
/// PID-3 is required (AE 101 without it).
pub fn patient(
    ctx: &mut MapContext<'_, '_>,
    pid: &Segment,
    write: Write,
) -> Result<String, MapError> {
    let (system, value) = patient_key(pid, &ctx.sender)
        .ok_or_else(|| MapError::missing(ctx.message, pid, 3, "patient identifier list"))?;
    let id = ctx.keyed_id("Patient", &system, &value)?;
    let body = patient_body(ctx, pid)?;
    Ok(ctx.plan("Patient", id, body, write, Some((system, value))))
}

/// The Patient elements of a PID.
pub fn patient_body(
    ctx: &MapContext<'_, '_>,
    pid: &Segment,
) -> Result<Map<String, Value>, MapError> {
    let mut body = Map::new();
    let identifiers: Vec<Value> = repetitions(pid, 3)
        .iter()
        .filter_map(|rep| identifier(rep, &ctx.sender))
        .collect();
    body.insert("identifier".into(), Value::Array(identifiers));
    body.insert("active".into(), json!(true));
    let names: Vec<Value> = repetitions(pid, 5)
        .iter()
        .filter_map(|r| human_name(r))
        .collect();
    if !names.is_empty() {
        body.insert("name".into(), Value::Array(names));
    }
    let telecom: Vec<Value> = repetitions(pid, 13)
        .iter()
        .filter_map(|r| contact_point(r, "home"))
        .chain(
            repetitions(pid, 14)
                .iter()
                .filter_map(|r| contact_point(r, "work")),
        )
        .collect();
    if !telecom.is_empty() {
        body.insert("telecom".into(), Value::Array(telecom));
    }
    if let Some(sex) = first(pid, 8) {
        // Codes outside the guide's AdministrativeSex map are left out (gender is optional).
        if let Some(mapped) = Table::AdministrativeSex.lookup(sex) {
            body.insert("gender".into(), json!(mapped.code));
        }
    }
    if let Some(born) = first(pid, 7) {
        let birth = date(born)
            .map_err(|_| MapError::data_type(ctx.message, pid, 7, "date of birth", born))?;
        body.insert("birthDate".into(), json!(birth));
    }
    match (first(pid, 29), first(pid, 30)) {
        (Some(when), _) => {
            let at = date_time(when).map_err(|_| {
                MapError::data_type(ctx.message, pid, 29, "date/time of death", when)
            })?;
            body.insert("deceasedDateTime".into(), json!(at));
        }
        (None, Some("Y")) => {
            body.insert("deceasedBoolean".into(), json!(true));
        }
        (None, Some("N")) => {
            body.insert("deceasedBoolean".into(), json!(false));
        }
        _ => {}
    }
    let addresses: Vec<Value> = repetitions(pid, 11)
        .iter()
        .filter_map(|r| address(r))
        .collect();
    if !addresses.is_empty() {
        body.insert("address".into(), Value::Array(addresses));
    }
    if let Some(marital) = first(pid, 16) {
        body.insert("maritalStatus".into(), table_concept(marital, "0002"));
    }
    Ok(body)
}

/// The patient of a message that only refers to it (ORU, orders, SIU, VXU, MDM): created
/// from PID when no patient has its PID-3 yet, else left as it is.
pub fn referenced_patient(
    ctx: &mut MapContext<'_, '_>,
    pid: Option<&Segment>,
) -> Result<Option<String>, MapError> {
    match pid {
        Some(pid) => patient(ctx, pid, Write::CreateOnly).map(Some),
        None => Ok(None),
    }
}

/// How an encounter is written for a message.
pub struct EncounterPlan {
    /// Encounter.status.
    pub status: &'static str,
    /// How to write it.
    pub write: Write,
    /// Encounter.period.end when the message ends the visit (A03), if PV1-45 does not say.
    pub end: Option<String>,
}

/// Plans the Encounter of `pv1` for `patient`; returns its reference.
pub fn encounter(
    ctx: &mut MapContext<'_, '_>,
    pv1: &Segment,
    patient: Option<&str>,
    plan: EncounterPlan,
) -> Result<String, MapError> {
    let visit = repetitions(pv1, 19).first().and_then(|rep| {
        let value = rep_component(rep, 1)?;
        Some((
            identifier_system(rep, &ctx.sender),
            value.to_owned(),
            identifier(rep, &ctx.sender),
        ))
    });
    let (id, identity) = match &visit {
        Some((system, value, _)) => (
            ctx.keyed_id("Encounter", system, value)?,
            Some((system.clone(), value.clone())),
        ),
        None => {
            let position = super::locate(ctx.message, pv1, None).sequence;
            (ctx.local_id("Encounter", &format!("PV1/{position}")), None)
        }
    };
    let mut body = Map::new();
    if let Some((_, _, Some(ident))) = &visit {
        body.insert("identifier".into(), json!([ident]));
    }
    body.insert("status".into(), json!(plan.status));
    // PV1-2 through the guide's PatientClass map; an empty or unmapped class is v2-0004 as
    // written (Encounter.class is required), an empty one `U` (unknown).
    let class = first(pv1, 2).unwrap_or("U");
    let class = match Table::PatientClass.lookup(class) {
        Some(m) => json!({"system": m.system, "code": m.code, "display": m.display}),
        None => json!({"system": "http://terminology.hl7.org/CodeSystem/v2-0004", "code": class}),
    };
    body.insert("class".into(), class);
    if let Some(service) = first(pv1, 10) {
        body.insert("serviceType".into(), table_concept(service, "0069"));
    }
    put(&mut body, "subject", patient.map(reference));
    // PV1-7 attending, PV1-8 referring, PV1-9 consulting, PV1-17 admitting doctor (XCN):
    // each a Practitioner found or created by its id (super::person).
    let mut participants = Vec::new();
    for (field, kind) in [(7, "ATND"), (8, "REF"), (9, "CON"), (17, "ADM")] {
        for rep in repetitions(pv1, field) {
            if let Some(individual) = practitioner(ctx, rep)? {
                participants.push(json!({
                    "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": kind}]}],
                    "individual": individual
                }));
            }
        }
    }
    if !participants.is_empty() {
        body.insert("participant".into(), Value::Array(participants));
    }
    let mut period = Map::new();
    if let Some(start) = first(pv1, 44) {
        let start = date_time(start)
            .map_err(|_| MapError::data_type(ctx.message, pv1, 44, "admit date/time", start))?;
        period.insert("start".into(), json!(start));
    }
    match first(pv1, 45) {
        Some(end) => {
            let end = date_time(end).map_err(|_| {
                MapError::data_type(ctx.message, pv1, 45, "discharge date/time", end)
            })?;
            period.insert("end".into(), json!(end));
        }
        None => {
            if let Some(end) = plan.end {
                period.insert("end".into(), json!(end));
            }
        }
    }
    if !period.is_empty() {
        body.insert("period".into(), Value::Object(period));
    }
    let mut locations = Vec::new();
    for (field, status) in [(3, "active"), (6, "completed")] {
        if let Some(rep) = repetitions(pv1, field).first()
            && let Some(location) = location(ctx, rep)?
        {
            locations.push(json!({"location": location, "status": status}));
        }
    }
    if !locations.is_empty() {
        body.insert("location".into(), Value::Array(locations));
    }
    let mut hospitalization = Map::new();
    put(
        &mut hospitalization,
        "admitSource",
        first(pv1, 14).map(|c| table_concept(c, "0023")),
    );
    put(
        &mut hospitalization,
        "dischargeDisposition",
        first(pv1, 36).map(|c| table_concept(c, "0112")),
    );
    if !hospitalization.is_empty() {
        body.insert("hospitalization".into(), Value::Object(hospitalization));
    }
    Ok(ctx.plan("Encounter", id, body, plan.write, identity))
}
