//! VXU^V04 (guide: message `VXU_V04`; segments `RXA[Immunization]`, `RXR[Immunization]`,
//! `ORC[Immunization]`): an Immunization per RXA.
//!
//! Immunization: status RXA-20 through the guide's `CompletionStatus` map (empty: completed);
//! vaccineCode RXA-5 (required; CVX -> `http://hl7.org/fhir/sid/cvx`); occurrenceDateTime
//! RXA-3 (required); primarySource from RXA-9 (`00` new record -> true, other NIP001 codes
//! -> false); lotNumber RXA-15; expirationDate RXA-16; manufacturer RXA-17 (display);
//! doseQuantity RXA-6/RXA-7 (999 = unknown is left out); statusReason RXA-18 for not-done;
//! route RXR-1; site RXR-2; identifier ORC-3 (filler, found by it) else a derived id.

use super::datatypes::{
    date, date_time, decimal, field_concept, first, rep_component, repetitions,
};
use super::order::{ei_identifier, ei_system};
use super::patient::referenced_patient;
use super::tables::Table;
use super::{MapContext, MapError, Write, locate, put, reference};
use crate::groups::Grouped;
use serde_json::{Map, Value, json};

/// Maps a VXU^V04.
pub fn map(ctx: &mut MapContext<'_, '_>, grouped: &Grouped<'_>) -> Result<(), MapError> {
    for group in &grouped.patients {
        let patient = referenced_patient(ctx, group.pid)?;
        for order in &group.orders {
            let Some(rxa) = order.detail.filter(|d| d.id == "RXA") else {
                continue;
            };
            let Some(patient) = patient.as_deref() else {
                return Err(MapError::missing(
                    ctx.message,
                    rxa,
                    1,
                    "patient (PID) of the immunization",
                ));
            };
            let message = ctx.message;
            let mut body = Map::new();
            let status = first(rxa, 20).map_or("completed", |code| {
                Table::CompletionStatus
                    .lookup(code)
                    .map_or("completed", |m| m.code)
            });
            body.insert("status".into(), json!(status));
            if status == "not-done" {
                put(&mut body, "statusReason", field_concept(rxa, 18));
            }
            let vaccine = field_concept(rxa, 5)
                .ok_or_else(|| MapError::missing(message, rxa, 5, "administered code"))?;
            body.insert("vaccineCode".into(), vaccine);
            body.insert("patient".into(), reference(patient));
            let when = first(rxa, 3).ok_or_else(|| {
                MapError::missing(message, rxa, 3, "date/time start of administration")
            })?;
            let when = date_time(when).map_err(|_| {
                MapError::data_type(message, rxa, 3, "administration date/time", when)
            })?;
            body.insert("occurrenceDateTime".into(), json!(when));
            match repetitions(rxa, 9)
                .first()
                .and_then(|r| rep_component(r, 1))
            {
                Some("00") => {
                    body.insert("primarySource".into(), json!(true));
                }
                Some(code) if code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()) => {
                    body.insert("primarySource".into(), json!(false));
                }
                _ => {}
            }
            put(&mut body, "lotNumber", first(rxa, 15).map(|v| json!(v)));
            if let Some(expires) = first(rxa, 16) {
                let expires = date(expires).map_err(|_| {
                    MapError::data_type(message, rxa, 16, "expiration date", expires)
                })?;
                body.insert("expirationDate".into(), json!(expires));
            }
            if let Some(maker) = repetitions(rxa, 17)
                .first()
                .and_then(|r| rep_component(r, 2).or(rep_component(r, 1)))
            {
                body.insert("manufacturer".into(), json!({"display": maker}));
            }
            if let Some(amount) = first(rxa, 6).filter(|a| *a != "999") {
                let value = decimal(amount).ok_or_else(|| {
                    MapError::data_type(message, rxa, 6, "administered amount (NM)", amount)
                })?;
                let mut dose = Map::new();
                dose.insert("value".into(), Value::Number(value));
                if let Some(rep) = repetitions(rxa, 7).into_iter().next() {
                    if let Some(unit) = rep_component(rep, 2).or(rep_component(rep, 1)) {
                        dose.insert("unit".into(), json!(unit));
                    }
                    if let (Some(code), Some(system)) =
                        (rep_component(rep, 1), rep_component(rep, 3))
                        && system.eq_ignore_ascii_case("UCUM")
                    {
                        dose.insert("system".into(), json!("http://unitsofmeasure.org"));
                        dose.insert("code".into(), json!(code));
                    }
                }
                body.insert("doseQuantity".into(), Value::Object(dose));
            }
            if let Some(rxr) = order.others.iter().find(|s| s.id == "RXR") {
                put(&mut body, "route", field_concept(rxr, 1));
                put(&mut body, "site", field_concept(rxr, 2));
            }
            let filler = order
                .orc
                .and_then(|orc| repetitions(orc, 3).into_iter().next());
            let mut identity = None;
            if let Some(rep) = filler
                && let Some(ident) = ei_identifier(rep, &ctx.sender, Some("FILL"))
            {
                body.insert("identifier".into(), json!([ident]));
                identity = Some((
                    ei_system(rep, &ctx.sender),
                    rep_component(rep, 1).unwrap_or_default().to_owned(),
                ));
            }
            let id = match &identity {
                Some((system, value)) => ctx.keyed_id("Immunization", system, value)?,
                None => {
                    let position = locate(message, rxa, None).sequence;
                    ctx.local_id("Immunization", &format!("RXA/{position}"))
                }
            };
            ctx.plan("Immunization", id, body, Write::Replace, identity);
        }
    }
    Ok(())
}
