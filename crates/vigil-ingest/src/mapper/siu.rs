//! SIU^S12-S15 (guide: message `SIU_S12`; segments `SCH[Appointment]`, `AIS`, `AIG`, `AIL`,
//! `AIP[Appointment]`): one Appointment per message.
//!
//! Appointment: identifier placer SCH-1 and filler SCH-2 (found by the first, so S13-S15
//! update the S12's appointment); status S15 `cancelled`, else SCH-25 through the guide's
//! `FillerStatusCodes[Appointment]` map (unmapped: Discontinued -> cancelled, others booked),
//! else `booked`; start/end from SCH-11 (TQ.4/TQ.5), else TQ1-7/TQ1-8, else AIS-4;
//! minutesDuration SCH-9 (minutes, or SCH-10 hours); reasonCode SCH-7; appointmentType
//! SCH-8; serviceType AIS-3; participants: the PID-3 patient, AIL locations and AIP/AIG
//! resources (display only), each `accepted`; comment from NTE.

use super::datatypes::{
    codeable_concept, field_concept, first, instant, rep_component, repetitions,
};
use super::order::{ei_identifier, ei_system};
use super::patient::referenced_patient;
use super::tables::Table;
use super::{MapContext, MapError, Write, locate, reference};
use crate::ack::{AckError, Hl7ErrorCode};
use crate::groups::Grouped;
use serde_json::{Map, Value, json};

/// Maps an SIU^S12-S15.
pub fn map(
    ctx: &mut MapContext<'_, '_>,
    grouped: &Grouped<'_>,
    trigger: &str,
) -> Result<(), MapError> {
    let Some(schedule) = &grouped.schedule else {
        return Err(MapError::content(AckError::new(
            Hl7ErrorCode::SegmentSequenceError,
            "SIU has no SCH segment",
        )));
    };
    let sch = schedule.sch;
    let message = ctx.message;
    let pid = grouped.patients.iter().find_map(|p| p.pid);
    let patient = referenced_patient(ctx, pid)?;
    let mut body = Map::new();
    let mut identifiers = Vec::new();
    let mut identity = None;
    for (field, kind) in [(1, "PLAC"), (2, "FILL")] {
        if let Some(rep) = repetitions(sch, field).into_iter().next()
            && let Some(ident) = ei_identifier(rep, &ctx.sender, Some(kind))
        {
            if identity.is_none() {
                identity = Some((
                    ei_system(rep, &ctx.sender),
                    rep_component(rep, 1).unwrap_or_default().to_owned(),
                ));
            }
            identifiers.push(ident);
        }
    }
    if !identifiers.is_empty() {
        body.insert("identifier".into(), Value::Array(identifiers));
    }
    let status = if trigger == "S15" {
        "cancelled"
    } else {
        match first(sch, 25) {
            Some(code) => Table::AppointmentStatus.lookup(code).map_or(
                if code.eq_ignore_ascii_case("Discontinued") {
                    "cancelled"
                } else {
                    "booked"
                },
                |m| m.code,
            ),
            None => "booked",
        }
    };
    body.insert("status".into(), json!(status));
    if let Some(reason) = field_concept(sch, 7) {
        body.insert("reasonCode".into(), json!([reason]));
    }
    if let Some(kind) = field_concept(sch, 8) {
        body.insert("appointmentType".into(), kind);
    }
    let services: Vec<Value> = grouped
        .resources
        .iter()
        .flat_map(|r| &r.items)
        .filter(|i| i.segment.id == "AIS")
        .filter_map(|i| {
            repetitions(i.segment, 3)
                .first()
                .and_then(|r| codeable_concept(r))
        })
        .collect();
    if !services.is_empty() {
        body.insert("serviceType".into(), Value::Array(services));
    }
    // Start and end: SCH-11 TQ.4/TQ.5, else TQ1-7/TQ1-8, else the first AIS-4.
    let tq1 = schedule.timing.iter().find(|s| s.id == "TQ1");
    let ais = grouped
        .resources
        .iter()
        .flat_map(|r| &r.items)
        .find(|i| i.segment.id == "AIS");
    let candidates = [
        (Some(sch), 11, 4, 12),
        (tq1.copied(), 7, 1, 8),
        (ais.map(|a| a.segment), 4, 1, 0),
    ];
    for (segment, field, component, end_field) in candidates {
        let Some(segment) = segment else { continue };
        let Some(start) = segment
            .value(field, 1, component, 1)
            .and_then(super::datatypes::clean)
        else {
            continue;
        };
        let start_at = instant(start)
            .map_err(|_| MapError::data_type(message, segment, field, "start date/time", start))?;
        body.insert("start".into(), json!(start_at));
        let end = if field == 11 {
            segment.value(11, 1, 5, 1).and_then(super::datatypes::clean)
        } else if end_field > 0 {
            first(segment, end_field)
        } else {
            None
        };
        if let Some(end) = end {
            let end_at = instant(end)
                .map_err(|_| MapError::data_type(message, segment, field, "end date/time", end))?;
            body.insert("end".into(), json!(end_at));
        }
        break;
    }
    if let Some(duration) = first(sch, 9)
        .and_then(|d| d.parse::<u64>().ok())
        .filter(|d| *d > 0)
    {
        let hours = rep_component_is(sch, 10, "H") || rep_component_is(sch, 10, "HR");
        body.insert(
            "minutesDuration".into(),
            json!(if hours { duration * 60 } else { duration }),
        );
    }
    let mut participants = Vec::new();
    if let Some(patient) = &patient {
        participants.push(json!({"actor": reference(patient), "status": "accepted"}));
    }
    for item in grouped.resources.iter().flat_map(|r| &r.items) {
        let segment = item.segment;
        let display = match segment.id.as_str() {
            "AIL" => repetitions(segment, 3).first().and_then(|r| {
                let parts: Vec<&str> = [1, 2, 3]
                    .into_iter()
                    .filter_map(|c| rep_component(r, c))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            }),
            "AIP" => repetitions(segment, 3)
                .first()
                .and_then(|r| super::person::xcn_display(r)),
            "AIG" => repetitions(segment, 3).first().and_then(|r| {
                rep_component(r, 2)
                    .or(rep_component(r, 1))
                    .map(str::to_owned)
            }),
            _ => None,
        };
        if let Some(display) = display {
            participants.push(json!({"actor": {"display": display}, "status": "accepted"}));
        }
    }
    if participants.is_empty() {
        return Err(MapError::content(
            AckError::new(
                Hl7ErrorCode::SegmentSequenceError,
                "the appointment has no participant: neither PID nor AIL/AIP/AIG",
            )
            .at(locate(message, sch, None)),
        ));
    }
    body.insert("participant".into(), Value::Array(participants));
    if let Some(comment) = super::notes(&schedule.notes) {
        let texts: Vec<&str> = comment
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.get("text").and_then(Value::as_str))
            .collect();
        body.insert("comment".into(), json!(texts.join("\n")));
    }
    let id = match &identity {
        Some((system, value)) => ctx.keyed_id("Appointment", system, value)?,
        None => ctx.local_id("Appointment", "SCH/1"),
    };
    ctx.plan("Appointment", id, body, Write::Replace, identity);
    Ok(())
}

fn rep_component_is(segment: &crate::er7::Segment, field: usize, code: &str) -> bool {
    segment
        .value(field, 1, 1, 1)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(code))
}
