//! MDM^T02 (guide: message `MDM_T02`; segments `TXA[DocumentReference]`,
//! `OBX[DocumentReference]`): one DocumentReference per message.
//!
//! DocumentReference: masterIdentifier TXA-12 (unique document number, found by it); status
//! `current`; docStatus TXA-17 (AU/LA/DO final, DI/IP/IN/PA preliminary); type TXA-2 (table
//! 0270); date TXA-4 (else TXA-6); author TXA-9/TXA-5 (display); subject the PID-3 patient;
//! content: an OBX of type ED with Base64 data becomes an attachment of its MIME type
//! (ED.2/ED.3), text OBX (TX/FT/ST/...) become one `text/plain` attachment, lines joined.
//! A T02 without any content OBX is AE (the content is required).

use super::datatypes::{clean, first, instant, rep_component, repetitions, table_concept};
use super::order::{ei_identifier, ei_system};
use super::patient::referenced_patient;
use super::{MapContext, MapError, Write, locate, reference};
use crate::ack::{AckError, Hl7ErrorCode};
use crate::groups::Grouped;
use base64::Engine;
use serde_json::{Map, Value, json};

/// Maps an MDM^T02.
pub fn map(ctx: &mut MapContext<'_, '_>, grouped: &Grouped<'_>) -> Result<(), MapError> {
    let Some(document) = &grouped.document else {
        return Err(MapError::content(AckError::new(
            Hl7ErrorCode::SegmentSequenceError,
            "MDM has no TXA segment",
        )));
    };
    let txa = document.txa;
    let message = ctx.message;
    let pid = grouped.patients.iter().find_map(|p| p.pid);
    let patient = referenced_patient(ctx, pid)?;
    let mut body = Map::new();
    let mut identity = None;
    if let Some(rep) = repetitions(txa, 12).into_iter().next()
        && let Some(ident) = ei_identifier(rep, &ctx.sender, None)
    {
        body.insert("masterIdentifier".into(), ident);
        identity = Some((
            ei_system(rep, &ctx.sender),
            rep_component(rep, 1).unwrap_or_default().to_owned(),
        ));
    }
    body.insert("status".into(), json!("current"));
    let doc_status = match first(txa, 17) {
        Some("AU" | "LA" | "DO") => Some("final"),
        Some("DI" | "IP" | "IN" | "PA") => Some("preliminary"),
        _ => None,
    };
    if let Some(doc_status) = doc_status {
        body.insert("docStatus".into(), json!(doc_status));
    }
    if let Some(kind) = first(txa, 2) {
        body.insert("type".into(), table_concept(kind, "0270"));
    }
    if let Some(patient) = &patient {
        body.insert("subject".into(), reference(patient));
    }
    for field in [4, 6] {
        if let Some(at) = first(txa, field) {
            let at = instant(at)
                .map_err(|_| MapError::data_type(message, txa, field, "document date/time", at))?;
            body.insert("date".into(), json!(at));
            break;
        }
    }
    // The author: TXA-9 originator, else TXA-5 primary activity provider (a Practitioner when
    // the XCN has an id, see super::person).
    let mut authors: Vec<Value> = Vec::new();
    for rep in [9, 5].into_iter().flat_map(|f| repetitions(txa, f)) {
        if let Some(author) = super::person::practitioner(ctx, rep)? {
            authors.push(author);
            break;
        }
    }
    if !authors.is_empty() {
        body.insert("author".into(), Value::Array(authors));
    }
    let engine = base64::engine::general_purpose::STANDARD;
    let mut contents = Vec::new();
    let mut lines = Vec::new();
    for observation in &document.observations {
        let obx = observation.obx;
        let kind = first(obx, 2).unwrap_or("TX").to_ascii_uppercase();
        for rep in repetitions(obx, 5) {
            if kind == "ED" {
                let mime = match (rep_component(rep, 2), rep_component(rep, 3)) {
                    (Some(t), Some(s)) if !t.contains('/') => {
                        format!("{}/{}", t.to_ascii_lowercase(), s.to_ascii_lowercase())
                    }
                    (Some(t), _) if t.contains('/') => t.to_ascii_lowercase(),
                    _ => "application/octet-stream".to_owned(),
                };
                let Some(data) = rep_component(rep, 5) else {
                    continue;
                };
                let base64 =
                    rep_component(rep, 4).is_some_and(|e| e.eq_ignore_ascii_case("Base64"));
                let data: String = if base64 {
                    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
                    if engine.decode(&compact).is_err() {
                        return Err(MapError::data_type(
                            message,
                            obx,
                            5,
                            "Base64 encapsulated data",
                            data,
                        ));
                    }
                    compact
                } else {
                    engine.encode(data.as_bytes())
                };
                contents.push(json!({"attachment": {"contentType": mime, "data": data}}));
            } else {
                let text: Vec<&str> = rep
                    .components
                    .iter()
                    .filter_map(|c| c.subcomponents.first().and_then(|s| clean(s)))
                    .collect();
                if !text.is_empty() {
                    lines.push(text.join("^"));
                }
            }
        }
    }
    if !lines.is_empty() {
        let text = lines.join("\n");
        contents.insert(0, json!({"attachment": {"contentType": "text/plain; charset=utf-8", "data": engine.encode(text.as_bytes())}}));
    }
    if contents.is_empty() {
        return Err(MapError::content(
            AckError::new(
                Hl7ErrorCode::SegmentSequenceError,
                "MDM^T02 carries no document content (no OBX with a value)",
            )
            .at(locate(message, txa, None)),
        ));
    }
    body.insert("content".into(), Value::Array(contents));
    let id = match &identity {
        Some((system, value)) => ctx.keyed_id("DocumentReference", system, value)?,
        None => ctx.local_id("DocumentReference", "TXA/1"),
    };
    ctx.plan("DocumentReference", id, body, Write::Replace, identity);
    Ok(())
}
