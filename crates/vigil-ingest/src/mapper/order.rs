//! ORM^O01 and OML^O21 (guide: messages `ORM_O01`, `OML_O21`; segments `ORC[ServiceRequest]`,
//! `OBR[ServiceRequest]`): a ServiceRequest per ORDER group.
//!
//! ServiceRequest: identifier placer ORC-2 (else OBR-2, type PLAC) and filler ORC-3 (else
//! OBR-3, type FILL); found by the placer number (else the filler number) so a later message
//! about the same order (a cancel, a status change) updates it; status ORC-5 through the
//! guide's `OrderStatus` map, else ORC-1 through `OrderControlCode[ServiceRequest.status]`,
//! else `active` (unmapped codes: `unknown`); intent `order`; code OBR-4; authoredOn ORC-9;
//! requester ORC-12 (display); priority TQ1-9 / ORC-7.6 (S stat, A asap, R routine); notes
//! from NTE; subject the PID-3 patient (required: an order without a patient is AE).

use super::datatypes::{
    date_time, field_concept, first, rep_component, rep_sub, repetitions, urn_part,
};
use super::oru::visit;
use super::patient::referenced_patient;
use super::tables::Table;
use super::{MapContext, MapError, Write, locate, notes, put, reference};
use crate::ack::{AckError, Hl7ErrorCode};
use crate::er7::{Repetition, Segment};
use crate::groups::{Grouped, Order};
use serde_json::{Map, Value, json};

/// The system of an EI (entity identifier): universal id (ISO -> `urn:oid:`, a URI as is),
/// else the namespace (`urn:vigil:hl7v2:assigner:<ns>`), else the sender.
pub fn ei_system(rep: &Repetition, sender: &(String, String)) -> String {
    match (
        rep_component(rep, 2),
        rep_component(rep, 3),
        rep_component(rep, 4),
    ) {
        (_, Some(universal), Some(kind)) if kind.eq_ignore_ascii_case("ISO") => {
            format!("urn:oid:{universal}")
        }
        (_, Some(universal), _) if universal.contains("://") || universal.starts_with("urn:") => {
            universal.to_owned()
        }
        (Some(namespace), _, _) => format!("urn:vigil:hl7v2:assigner:{}", urn_part(namespace)),
        (None, Some(universal), _) => format!("urn:vigil:hl7v2:assigner:{}", urn_part(universal)),
        (None, None, _) => format!(
            "urn:vigil:hl7v2:sender:{}:{}",
            urn_part(&sender.0),
            urn_part(&sender.1)
        ),
    }
}

/// EI -> Identifier (with a v2-0203 type code when given).
pub fn ei_identifier(
    rep: &Repetition,
    sender: &(String, String),
    kind: Option<&str>,
) -> Option<Value> {
    let value = rep_sub(rep, 1, 1)?;
    let mut out = Map::new();
    if let Some(kind) = kind {
        out.insert(
            "type".into(),
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": kind}]}),
        );
    }
    out.insert("system".into(), json!(ei_system(rep, sender)));
    out.insert("value".into(), json!(value));
    Some(Value::Object(out))
}

/// Maps an ORM^O01 or OML^O21.
pub fn map(ctx: &mut MapContext<'_, '_>, grouped: &Grouped<'_>) -> Result<(), MapError> {
    for group in &grouped.patients {
        let patient = referenced_patient(ctx, group.pid)?;
        let encounter = visit(ctx, group, patient.as_deref())?;
        for order in &group.orders {
            service_request(ctx, order, patient.as_deref(), encounter.as_deref())?;
        }
    }
    Ok(())
}

fn status(orc: &Segment) -> &'static str {
    if let Some(code) = first(orc, 5) {
        return Table::OrderStatus
            .lookup(code)
            .map_or("unknown", |m| m.code);
    }
    match first(orc, 1) {
        Some(control) => Table::OrderControlStatus
            .lookup(control)
            .map_or("unknown", |m| m.code),
        None => "active",
    }
}

fn priority(order: &Order<'_>) -> Option<&'static str> {
    let code = order
        .timing
        .iter()
        .find(|s| s.id == "TQ1")
        .and_then(|tq1| first(tq1, 9))
        .or_else(|| {
            order
                .orc
                .and_then(|orc| orc.value(7, 1, 6, 1))
                .and_then(super::datatypes::clean)
        })?;
    match code {
        "S" => Some("stat"),
        "A" => Some("asap"),
        "R" => Some("routine"),
        _ => None,
    }
}

fn service_request(
    ctx: &mut MapContext<'_, '_>,
    order: &Order<'_>,
    patient: Option<&str>,
    encounter: Option<&str>,
) -> Result<String, MapError> {
    let message = ctx.message;
    let Some(orc) = order.orc else {
        return Err(MapError::content(AckError::new(
            Hl7ErrorCode::SegmentSequenceError,
            "ORDER has no ORC segment",
        )));
    };
    let Some(patient) = patient else {
        return Err(MapError::content(
            AckError::new(
                Hl7ErrorCode::SegmentSequenceError,
                "the order has no PID: ServiceRequest.subject is required",
            )
            .at(locate(message, orc, None)),
        ));
    };
    let obr = order.detail.filter(|d| d.id == "OBR");
    let number = |field: usize| {
        repetitions(orc, field)
            .into_iter()
            .next()
            .or_else(|| obr.and_then(|obr| repetitions(obr, field).into_iter().next()))
    };
    let mut body = Map::new();
    let mut identifiers = Vec::new();
    let mut identity = None;
    for (field, kind) in [(2, "PLAC"), (3, "FILL")] {
        if let Some(rep) = number(field)
            && let Some(ident) = ei_identifier(rep, &ctx.sender, Some(kind))
        {
            if identity.is_none() {
                identity = Some((
                    ei_system(rep, &ctx.sender),
                    rep_sub(rep, 1, 1).unwrap_or_default().to_owned(),
                ));
            }
            identifiers.push(ident);
        }
    }
    if !identifiers.is_empty() {
        body.insert("identifier".into(), Value::Array(identifiers));
    }
    body.insert("status".into(), json!(status(orc)));
    body.insert("intent".into(), json!("order"));
    put(&mut body, "priority", priority(order).map(|p| json!(p)));
    put(&mut body, "code", obr.and_then(|obr| field_concept(obr, 4)));
    body.insert("subject".into(), reference(patient));
    put(&mut body, "encounter", encounter.map(reference));
    if let Some(at) = first(orc, 9) {
        let at = date_time(at)
            .map_err(|_| MapError::data_type(message, orc, 9, "transaction date/time", at))?;
        body.insert("authoredOn".into(), json!(at));
    }
    if let Some(rep) = repetitions(orc, 12).into_iter().next() {
        let requester = super::person::practitioner(ctx, rep)?;
        put(&mut body, "requester", requester);
    }
    put(&mut body, "note", notes(&order.notes));
    let id = match &identity {
        Some((system, value)) => ctx.keyed_id("ServiceRequest", system, value)?,
        None => {
            let position = locate(message, orc, None).sequence;
            ctx.local_id("ServiceRequest", &format!("ORC/{position}"))
        }
    };
    Ok(ctx.plan("ServiceRequest", id, body, Write::Replace, identity))
}
