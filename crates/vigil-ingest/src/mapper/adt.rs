//! ADT (guide: messages `ADT_A01`, `ADT_A02`, `ADT_A05`, `ADT_A11`; segments `PID[Patient]`,
//! `PV1[Encounter]`, `MRG`): A01, A02, A03, A04, A05, A08, A11, A13, A28, A31, A40.
//!
//! - Every event: the Patient of PID found by PID-3 or created, its demographics replaced by
//!   PID's (keeping `link` and `active` that a merge set).
//! - A01-A13 with a PV1: the Encounter found by its visit number (PV1-19) or created, status
//!   per the guide's `Event[EncounterStatus]` map (A01/A02 in-progress, A03 finished,
//!   A04/A05 planned, A11 cancelled, A13 in-progress again); A08 keeps a current status
//!   (the map says `unknown` only for a new one); A03 ends the period at PV1-45, else EVN-6,
//!   EVN-2 or MSH-7.
//! - A28/A31 (person information): no Encounter (their PV1 is a placeholder).
//! - A40: per PATIENT group, the surviving Patient (PID) gets `link` `replaces` the prior one
//!   (MRG-1), and the prior one is made inactive with `link` `replaced-by` the survivor
//!   (created so when it is not known).

use super::datatypes::{date_time, first, repetitions};
use super::patient::{
    EncounterPlan, encounter, identifier, identifier_system, patient, patient_body,
};
use super::tables::Table;
use super::{MapContext, MapError, Write, reference};
use crate::groups::Grouped;
use serde_json::{Value, json};

/// Maps an ADT message of a supported event.
pub fn map(
    ctx: &mut MapContext<'_, '_>,
    grouped: &Grouped<'_>,
    trigger: &str,
) -> Result<(), MapError> {
    if trigger == "A40" {
        return merge(ctx, grouped);
    }
    let Some(group) = grouped.patients.iter().find(|p| p.pid.is_some()) else {
        return Ok(()); // the grouping step requires a PID for ADT; nothing to map without it
    };
    let Some(pid) = group.pid else { return Ok(()) };
    let patient_ref = patient(ctx, pid, Write::Keep(&["link", "active"]))?;
    let visit_events = ["A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13"];
    if let (Some(pv1), true) = (group.visit, visit_events.contains(&trigger)) {
        let status = Table::EncounterStatus
            .lookup(trigger)
            .map_or("unknown", |m| m.code);
        let write = if trigger == "A08" {
            Write::Keep(&["status", "period"])
        } else {
            Write::Replace
        };
        let end = if trigger == "A03" {
            discharge_time(ctx, grouped)?
        } else {
            None
        };
        encounter(
            ctx,
            pv1,
            Some(&patient_ref),
            EncounterPlan { status, write, end },
        )?;
    }
    Ok(())
}

/// When an A03 discharge happened if PV1-45 does not say: EVN-6, EVN-2, else MSH-7.
fn discharge_time(
    ctx: &MapContext<'_, '_>,
    grouped: &Grouped<'_>,
) -> Result<Option<String>, MapError> {
    let evn = grouped.header.iter().find(|s| s.id == "EVN");
    let candidates = [
        evn.and_then(|e| first(e, 6).map(|v| (*e, 6, v))),
        evn.and_then(|e| first(e, 2).map(|v| (*e, 2, v))),
        grouped
            .header
            .first()
            .and_then(|msh| first(msh, 7).map(|v| (*msh, 7, v))),
    ];
    if let Some((segment, field, value)) = candidates.into_iter().flatten().next() {
        return date_time(value)
            .map(Some)
            .map_err(|_| MapError::data_type(ctx.message, segment, field, "date/time", value));
    }
    Ok(None)
}

/// A40: merge each PATIENT group's MRG patient into its PID patient.
fn merge(ctx: &mut MapContext<'_, '_>, grouped: &Grouped<'_>) -> Result<(), MapError> {
    for group in &grouped.patients {
        let (Some(pid), Some(mrg)) = (group.pid, group.merge) else {
            continue; // the grouping step requires both for A40
        };
        let prior_rep = repetitions(mrg, 1)
            .into_iter()
            .find(|r| super::datatypes::rep_component(r, 1).is_some())
            .ok_or_else(|| {
                MapError::missing(ctx.message, mrg, 1, "prior patient identifier list")
            })?;
        let prior_system = identifier_system(prior_rep, &ctx.sender);
        let prior_value = super::datatypes::rep_component(prior_rep, 1)
            .unwrap_or_default()
            .to_owned();
        let prior_id = ctx.keyed_id("Patient", &prior_system, &prior_value)?;
        let prior_ref = format!("Patient/{prior_id}");
        // The survivor: demographics from PID, linked to the prior record.
        let survivor_ref = {
            let mut body = patient_body(ctx, pid)?;
            body.insert(
                "link".into(),
                json!([{"other": reference(&prior_ref), "type": "replaces"}]),
            );
            let (system, value) = super::patient::patient_key(pid, &ctx.sender)
                .ok_or_else(|| MapError::missing(ctx.message, pid, 3, "patient identifier list"))?;
            let id = ctx.keyed_id("Patient", &system, &value)?;
            if id == prior_id {
                return Err(MapError::at(
                    ctx.message,
                    mrg,
                    1,
                    crate::ack::Hl7ErrorCode::DuplicateKeyIdentifier,
                    "MRG-1 names the same patient as PID-3",
                ));
            }
            ctx.plan(
                "Patient",
                id,
                body,
                Write::MergeLinks,
                Some((system, value)),
            )
        };
        let mut prior = serde_json::Map::new();
        let ident = identifier(prior_rep, &ctx.sender)
            .into_iter()
            .collect::<Vec<Value>>();
        prior.insert("identifier".into(), Value::Array(ident));
        prior.insert("active".into(), json!(false));
        prior.insert(
            "link".into(),
            json!([{"other": reference(&survivor_ref), "type": "replaced-by"}]),
        );
        ctx.plan(
            "Patient",
            prior_id,
            prior,
            Write::Retire { by: survivor_ref },
            Some((prior_system, prior_value)),
        );
    }
    Ok(())
}
