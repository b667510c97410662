//! ORU^R01 (guide: message `ORU_R01`; segments `OBX[Observation]`, `OBR[DiagnosticReport]`):
//! an Observation per OBX, a DiagnosticReport per OBR with its Observations as results.
//!
//! Observation: code OBX-3 (required) with its coding system through table 0396 (LN -> LOINC,
//! SCT/SNM -> SNOMED CT, local names -> `urn:vigil:hl7v2:code-system:<name>`); value by OBX-2
//! ([`observation_value`]); reference range OBX-7; interpretation OBX-8 (table 0078 map);
//! status OBX-11 (table 0085 map, fallbacks in [`observation_status`]); effective time OBX-14,
//! else OBR-7; method OBX-17; body site OBX-20; notes from NTE; subject the PID-3 patient;
//! encounter the PV1-19 visit; category `vital-signs` for the LOINC codes of the FHIR
//! vital-signs profile.
//!
//! Ids: the results of an order with a filler order number (OBR-3, else ORC-3) are named by it
//! ([`ResultNames`]), so a later message about the same order (a correction, OBX-11 `C`; a
//! final result after a preliminary one) replaces those resources with a new version; results
//! of an order without one, and OBX outside any order, are named by the message.

use super::datatypes::{
    clean, codeable_concept, date, date_time, decimal, field_concept, first, instant,
    rep_component, repetitions,
};
use super::order::ei_identifier;
use super::patient::{EncounterPlan, encounter, referenced_patient};
use super::tables::{Table, is_vital_sign};
use super::{MapContext, MapError, Write, derived_id, locate, notes, put, reference};
use crate::ack::Hl7ErrorCode;
use crate::er7::Segment;
use crate::groups::{Grouped, Observation, PatientGroup};
use serde_json::{Map, Number, Value, json};

/// Maps an ORU^R01.
pub fn map(ctx: &mut MapContext<'_, '_>, grouped: &Grouped<'_>) -> Result<(), MapError> {
    for group in &grouped.patients {
        map_patient_results(ctx, group)?;
    }
    Ok(())
}

fn map_patient_results(
    ctx: &mut MapContext<'_, '_>,
    group: &PatientGroup<'_>,
) -> Result<(), MapError> {
    let patient = referenced_patient(ctx, group.pid)?;
    let encounter_ref = visit(ctx, group, patient.as_deref())?;
    let subject = Subject {
        patient: patient.as_deref(),
        encounter: encounter_ref.as_deref(),
    };
    for observation in &group.observations {
        observation_resource(ctx, observation, None, &subject, None)?;
    }
    for order in &group.orders {
        let obr = order.detail.filter(|d| d.id == "OBR");
        // A second OBR of this message with the same filler number would take the first's
        // ids: it is named by the message instead.
        let mut named = obr
            .and_then(|obr| order_key(ctx, obr, order.orc))
            .map(ResultNames::new)
            .filter(|named| !ctx.is_planned("DiagnosticReport", &named.report()));
        let mut results = Vec::new();
        let all = order
            .observations
            .iter()
            .chain(order.specimens.iter().flat_map(|s| &s.observations));
        for observation in all {
            results.push(observation_resource(
                ctx,
                observation,
                obr,
                &subject,
                named.as_mut(),
            )?);
        }
        if let Some(obr) = obr {
            report(ctx, obr, order.orc, &results, &subject, named.as_ref())?;
        }
    }
    Ok(())
}

/// The filler order number of an order (OBR-3, else ORC-3) with its system and the sender
/// (MSH-3/MSH-4: two senders' numbers never name the same results, even under one assigning
/// authority): what names its results across messages, so that a corrected or final result
/// sent later (OBX-11 `C` or `F` after `P`) replaces the earlier version instead of adding a
/// second resource.
fn order_key(ctx: &MapContext<'_, '_>, obr: &Segment, orc: Option<&Segment>) -> Option<String> {
    [Some(obr), orc].into_iter().flatten().find_map(|segment| {
        let rep = repetitions(segment, 3).into_iter().next()?;
        let value = super::datatypes::rep_sub(rep, 1, 1)?;
        let system = super::order::ei_system(rep, &ctx.sender);
        // A JSON array: no separator inside a value can make two keys alike.
        Some(json!([ctx.sender.0, ctx.sender.1, system, value]).to_string())
    })
}

/// Ids of an order's results named by its filler order number: the report by the number, each
/// Observation by the number, its OBX-3 code and OBX-4 sub-id, and its rank among the order's
/// results with the same code and sub-id (so repeated readings of one code stay apart and
/// keep their ids when the message is sent again corrected).
struct ResultNames {
    order: String,
    seen: std::collections::HashMap<String, usize>,
}

impl ResultNames {
    fn new(order: String) -> Self {
        ResultNames {
            order,
            seen: std::collections::HashMap::new(),
        }
    }

    fn observation(&mut self, obx: &Segment) -> String {
        let [code, system] = [1, 3].map(|component| {
            repetitions(obx, 3)
                .first()
                .and_then(|rep| rep_component(rep, component))
                .unwrap_or_default()
        });
        let name = json!([code, system, first(obx, 4).unwrap_or_default()]).to_string();
        let rank = self.seen.entry(name.clone()).or_insert(0);
        *rank += 1;
        derived_id(&json!(["result", self.order, name, *rank]).to_string())
    }

    fn report(&self) -> String {
        derived_id(&json!(["report", self.order]).to_string())
    }
}

/// The patient and encounter results refer to.
pub struct Subject<'a> {
    /// `Patient/<id>`.
    pub patient: Option<&'a str>,
    /// `Encounter/<id>`.
    pub encounter: Option<&'a str>,
}

/// The encounter of a PV1 that names its visit (PV1-19), created when unknown.
pub fn visit(
    ctx: &mut MapContext<'_, '_>,
    group: &PatientGroup<'_>,
    patient: Option<&str>,
) -> Result<Option<String>, MapError> {
    match group.visit {
        Some(pv1) if first(pv1, 19).is_some() => encounter(
            ctx,
            pv1,
            patient,
            EncounterPlan {
                status: "unknown",
                write: Write::CreateOnly,
                end: None,
            },
        )
        .map(Some),
        _ => Ok(None),
    }
}

/// Plans the Observation of one OBX; returns its reference.
fn observation_resource(
    ctx: &mut MapContext<'_, '_>,
    observation: &Observation<'_>,
    obr: Option<&Segment>,
    subject: &Subject<'_>,
    named: Option<&mut ResultNames>,
) -> Result<String, MapError> {
    let obx = observation.obx;
    let message = ctx.message;
    let mut body = Map::new();
    let status = observation_status(first(obx, 11));
    body.insert("status".into(), json!(status));
    let code = field_concept(obx, 3)
        .ok_or_else(|| MapError::missing(message, obx, 3, "observation identifier"))?;
    if is_vital(&code) {
        body.insert(
            "category".into(),
            json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}]}]),
        );
    }
    body.insert("code".into(), code);
    put(&mut body, "subject", subject.patient.map(reference));
    put(&mut body, "encounter", subject.encounter.map(reference));
    let effective = first(obx, 14)
        .map(|v| (obx, 14, v))
        .or_else(|| obr.and_then(|obr| first(obr, 7).map(|v| (obr, 7, v))));
    if let Some((segment, field, value)) = effective {
        let at = date_time(value).map_err(|_| {
            MapError::data_type(message, segment, field, "observation date/time", value)
        })?;
        body.insert("effectiveDateTime".into(), json!(at));
    }
    if let Some((key, value)) = observation_value(ctx, obx)? {
        body.insert(key.into(), value);
    } else if first(obx, 11) == Some("X") {
        body.insert(
            "dataAbsentReason".into(),
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "cannot-be-obtained"}]}),
        );
    }
    let interpretation: Vec<Value> = repetitions(obx, 8)
        .iter()
        .filter_map(|rep| rep_component(rep, 1))
        .map(|flag| match Table::Interpretation.lookup(flag) {
            Some(m) => json!({"coding": [{"system": m.system, "code": m.code, "display": m.display}]}),
            None => json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0078", "code": flag}]}),
        })
        .collect();
    if !interpretation.is_empty() {
        body.insert("interpretation".into(), Value::Array(interpretation));
    }
    if let Some(range) = first(obx, 7).map(|r| reference_range(r, obx)) {
        body.insert("referenceRange".into(), json!([range]));
    }
    let mut performers = Vec::new();
    for rep in repetitions(obx, 16) {
        if let Some(performer) = super::person::practitioner(ctx, rep)? {
            performers.push(performer);
        }
    }
    if !performers.is_empty() {
        body.insert("performer".into(), Value::Array(performers));
    }
    put(&mut body, "method", field_concept(obx, 17));
    put(&mut body, "bodySite", field_concept(obx, 20));
    put(&mut body, "note", notes(&observation.notes));
    if let Some(ident) = repetitions(obx, 21)
        .first()
        .and_then(|r| ei_identifier(r, &ctx.sender, None))
    {
        body.insert("identifier".into(), json!([ident]));
    }
    let id = match named {
        Some(named) => named.observation(obx),
        None => {
            let position = locate(message, obx, None).sequence;
            ctx.local_id("Observation", &format!("OBX/{position}"))
        }
    };
    Ok(ctx.plan("Observation", id, body, Write::Replace, None))
}

fn is_vital(code: &Value) -> bool {
    code.get("coding")
        .and_then(Value::as_array)
        .is_some_and(|codings| {
            codings.iter().any(|c| {
                c.get("system").and_then(Value::as_str) == Some("http://loinc.org")
                    && c.get("code")
                        .and_then(Value::as_str)
                        .is_some_and(is_vital_sign)
            })
        })
}

/// OBX-11 through the guide's table 0085 map; codes the guide leaves unmapped: empty -> final
/// (a result sent without status is taken as final), I/O -> registered, R/S -> preliminary,
/// V/U -> final, B -> amended, N -> cancelled, anything else -> unknown.
pub fn observation_status(code: Option<&str>) -> &'static str {
    let Some(code) = code else { return "final" };
    if let Some(mapped) = Table::ObservationStatus.lookup(code) {
        return mapped.code;
    }
    match code {
        "I" | "O" => "registered",
        "R" | "S" => "preliminary",
        "V" | "U" => "final",
        "B" => "amended",
        "N" => "cancelled",
        _ => "unknown",
    }
}

/// OBX-6 as the unit fields of a Quantity: `unit` (text, else code) always, `system` and
/// `code` when OBX-6.3 says UCUM.
fn unit_fields(obx: &Segment) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(rep) = repetitions(obx, 6).into_iter().next() else {
        return out;
    };
    let code = rep_component(rep, 1);
    let text = rep_component(rep, 2);
    if let Some(unit) = text.or(code) {
        out.insert("unit".into(), json!(unit));
    }
    let ucum = rep_component(rep, 3).is_some_and(|s| s.eq_ignore_ascii_case("UCUM"));
    if let (true, Some(code)) = (ucum, code) {
        out.insert("system".into(), json!("http://unitsofmeasure.org"));
        out.insert("code".into(), json!(code));
    }
    out
}

fn quantity(value: Number, units: &Map<String, Value>) -> Value {
    let mut q = Map::new();
    q.insert("value".into(), Value::Number(value));
    q.extend(units.clone());
    Value::Object(q)
}

/// OBX-5 by OBX-2: NM -> valueQuantity (a non-numeric value is AE 102), ST/TX/FT ->
/// valueString (repetitions joined by line breaks), CE/CWE/CNE -> valueCodeableConcept,
/// SN -> valueQuantity with comparator / valueRange / valueRatio, DT -> valueDateTime (date),
/// TS/DTM -> valueDateTime, TM -> valueTime; other types -> valueString of the first
/// repetition's components. An empty OBX-5 has no value.
pub fn observation_value(
    ctx: &MapContext<'_, '_>,
    obx: &Segment,
) -> Result<Option<(&'static str, Value)>, MapError> {
    let message = ctx.message;
    let reps = repetitions(obx, 5);
    let Some(rep) = reps.first() else {
        return Ok(None);
    };
    let first_value = rep_component(rep, 1);
    let kind = first(obx, 2).unwrap_or("ST").to_ascii_uppercase();
    let value = match kind.as_str() {
        "NM" => {
            let text = first_value.unwrap_or_default();
            let number = decimal(text)
                .ok_or_else(|| MapError::data_type(message, obx, 5, "number (NM)", text))?;
            ("valueQuantity", quantity(number, &unit_fields(obx)))
        }
        "ST" | "TX" | "FT" | "STRING" => {
            let lines: Vec<&str> = reps.iter().filter_map(|r| rep_component(r, 1)).collect();
            if lines.is_empty() {
                return Ok(None);
            }
            ("valueString", json!(lines.join("\n")))
        }
        "CE" | "CWE" | "CNE" | "CF" => match codeable_concept(rep) {
            Some(concept) => ("valueCodeableConcept", concept),
            None => return Ok(None),
        },
        "SN" => structured_numeric(ctx, obx, rep)?,
        "DT" => {
            let text = first_value.unwrap_or_default();
            let d =
                date(text).map_err(|_| MapError::data_type(message, obx, 5, "date (DT)", text))?;
            ("valueDateTime", json!(d))
        }
        "TS" | "DTM" => {
            let text = first_value.unwrap_or_default();
            let d = date_time(text)
                .map_err(|_| MapError::data_type(message, obx, 5, "date/time (TS)", text))?;
            ("valueDateTime", json!(d))
        }
        "TM" => {
            let text = first_value.unwrap_or_default();
            let t = time(text)
                .ok_or_else(|| MapError::data_type(message, obx, 5, "time (TM)", text))?;
            ("valueTime", json!(t))
        }
        _ => {
            let parts: Vec<&str> = rep
                .components
                .iter()
                .filter_map(|c| c.subcomponents.first().and_then(|s| clean(s)))
                .collect();
            if parts.is_empty() {
                return Ok(None);
            }
            ("valueString", json!(parts.join("^")))
        }
    };
    Ok(Some(value))
}

/// TM `HHMM[SS[.S]]` -> FHIR time `HH:MM:SS`.
fn time(text: &str) -> Option<String> {
    let digits = text.split(['+', '-', '.']).next()?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![2, 4, 6].contains(&digits.len()) {
        return None;
    }
    let n = |a: usize, b: usize| {
        digits
            .get(a..b)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let (h, m, s) = (n(0, 2), n(2, 4), n(4, 6));
    (h < 24 && m < 60 && s < 60).then(|| format!("{h:02}:{m:02}:{s:02}"))
}

/// SN: `comparator^num1^separator^num2`.
fn structured_numeric(
    ctx: &MapContext<'_, '_>,
    obx: &Segment,
    rep: &crate::er7::Repetition,
) -> Result<(&'static str, Value), MapError> {
    let message = ctx.message;
    let comparator = rep_component(rep, 1);
    let num = |c: usize| -> Result<Option<Number>, MapError> {
        match rep_component(rep, c) {
            None => Ok(None),
            Some(text) => decimal(text).map(Some).ok_or_else(|| {
                MapError::data_type(message, obx, 5, "structured numeric (SN)", text)
            }),
        }
    };
    let (first_number, separator, second) = (num(2)?, rep_component(rep, 3), num(4)?);
    let units = unit_fields(obx);
    let Some(first_number) = first_number else {
        return Err(MapError::at(
            message,
            obx,
            5,
            Hl7ErrorCode::DataTypeError,
            "OBX-5: a structured numeric (SN) value needs its first number (SN.2)",
        ));
    };
    match (separator, second) {
        (Some(":") | Some("/"), Some(second)) => Ok((
            "valueRatio",
            json!({"numerator": {"value": first_number}, "denominator": {"value": second}}),
        )),
        (Some("-"), Some(second)) => Ok((
            "valueRange",
            json!({"low": quantity(first_number, &units), "high": quantity(second, &units)}),
        )),
        _ => {
            let mut q = quantity(first_number, &units);
            match comparator {
                None | Some("=") => {}
                Some(c @ ("<" | ">" | "<=" | ">=")) => {
                    if let Value::Object(q) = &mut q {
                        q.insert("comparator".into(), json!(c));
                    }
                }
                Some(other) => {
                    return Err(MapError::at(
                        message,
                        obx,
                        5,
                        Hl7ErrorCode::DataTypeError,
                        format!("OBX-5: the SN comparator '{other}' has no FHIR equivalent"),
                    ));
                }
            }
            Ok(("valueQuantity", q))
        }
    }
}

/// OBX-7: `low-high`, `<high`, `>low` with OBX-6's unit, else the text as written.
fn reference_range(text: &str, obx: &Segment) -> Value {
    let units = unit_fields(obx);
    let text = text.trim();
    let bound = |s: &str| decimal(s.trim().trim_start_matches('=')).map(|n| quantity(n, &units));
    if let Some(rest) = text.strip_prefix('<')
        && let Some(high) = bound(rest)
    {
        return json!({"high": high, "text": text});
    }
    if let Some(rest) = text.strip_prefix('>')
        && let Some(low) = bound(rest)
    {
        return json!({"low": low, "text": text});
    }
    if let Some(at) = text.get(1..).and_then(|t| t.find('-')).map(|p| p + 1)
        && let (Some(low), Some(high)) = (bound(&text[..at]), bound(&text[at + 1..]))
    {
        return json!({"low": low, "high": high});
    }
    json!({"text": text})
}

/// OBR-25 through the guide's table 0123 map; codes it leaves unmapped: empty -> final,
/// A -> partial, M -> amended, N -> registered, anything else -> unknown.
fn report_status(code: Option<&str>) -> &'static str {
    let Some(code) = code else { return "final" };
    if let Some(mapped) = Table::ReportStatus.lookup(code) {
        return mapped.code;
    }
    match code {
        "A" => "partial",
        "M" => "amended",
        "N" => "registered",
        _ => "unknown",
    }
}

/// Plans the DiagnosticReport of one OBR with its results.
fn report(
    ctx: &mut MapContext<'_, '_>,
    obr: &Segment,
    orc: Option<&Segment>,
    results: &[String],
    subject: &Subject<'_>,
    named: Option<&ResultNames>,
) -> Result<String, MapError> {
    let message = ctx.message;
    let mut body = Map::new();
    let mut identifiers = Vec::new();
    for (segment, field, kind) in [
        (Some(obr), 2, "PLAC"),
        (Some(obr), 3, "FILL"),
        (orc, 2, "PLAC"),
        (orc, 3, "FILL"),
    ] {
        if let Some(rep) = segment.and_then(|s| repetitions(s, field).into_iter().next())
            && let Some(ident) = ei_identifier(rep, &ctx.sender, Some(kind))
            && !identifiers.contains(&ident)
        {
            identifiers.push(ident);
        }
    }
    if !identifiers.is_empty() {
        body.insert("identifier".into(), Value::Array(identifiers));
    }
    body.insert("status".into(), json!(report_status(first(obr, 25))));
    if let Some(section) = first(obr, 24) {
        body.insert(
            "category".into(),
            json!([super::datatypes::table_concept(section, "0074")]),
        );
    }
    let code = field_concept(obr, 4)
        .ok_or_else(|| MapError::missing(message, obr, 4, "universal service identifier"))?;
    body.insert("code".into(), code);
    put(&mut body, "subject", subject.patient.map(reference));
    put(&mut body, "encounter", subject.encounter.map(reference));
    if let Some(at) = first(obr, 7) {
        let at = date_time(at)
            .map_err(|_| MapError::data_type(message, obr, 7, "observation date/time", at))?;
        body.insert("effectiveDateTime".into(), json!(at));
    }
    if let Some(at) = first(obr, 22) {
        let at = instant(at)
            .map_err(|_| MapError::data_type(message, obr, 22, "results report date/time", at))?;
        body.insert("issued".into(), json!(at));
    }
    if !results.is_empty() {
        body.insert(
            "result".into(),
            Value::Array(results.iter().map(|r| reference(r)).collect()),
        );
    }
    let id = match named {
        Some(named) => named.report(),
        None => {
            let position = locate(message, obr, None).sequence;
            ctx.local_id("DiagnosticReport", &format!("OBR/{position}"))
        }
    };
    Ok(ctx.plan("DiagnosticReport", id, body, Write::Replace, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fallbacks() {
        assert_eq!(observation_status(None), "final");
        assert_eq!(observation_status(Some("F")), "final");
        assert_eq!(observation_status(Some("C")), "corrected");
        assert_eq!(observation_status(Some("R")), "preliminary");
        assert_eq!(observation_status(Some("Q")), "unknown");
        assert_eq!(report_status(Some("F")), "final");
        assert_eq!(report_status(Some("A")), "partial");
    }

    #[test]
    fn times() {
        assert_eq!(time("0314").as_deref(), Some("03:14:00"));
        assert_eq!(time("031405.5").as_deref(), Some("03:14:05"));
        assert_eq!(time("2561"), None);
    }
}
