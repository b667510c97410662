//! People and places a message names: an XCN (PV1-7/8/9/17 doctors, ORC-12 ordering
//! provider, OBX-16 responsible observer) becomes a Practitioner and a PL (PV1-3, PV1-6)
//! a Location (guide: `XCN[Practitioner]`, `PL[Location]`).
//!
//! Both are master data another system usually owns, so they are found by their identifier
//! and created only when unknown, never overwritten by a message (`Write::CreateOnly`), as
//! patients referred to by results are. A person without an id (XCN-1 empty) or a place
//! without a point of care, room or bed is kept as display text only.

use super::datatypes::{rep_component, rep_sub};
use super::patient::hd_system;
use super::{MapContext, MapError, Write};
use crate::er7::Repetition;
use serde_json::{Map, Value, json};

/// An XCN's name for display: prefix (XCN-6), given (XCN-3), family (XCN-2.1), else its id.
pub fn xcn_display(rep: &Repetition) -> Option<String> {
    let name: Vec<&str> = [
        rep_component(rep, 6),
        rep_component(rep, 3),
        rep_sub(rep, 2, 1),
    ]
    .into_iter()
    .flatten()
    .collect();
    if name.is_empty() {
        rep_component(rep, 1).map(str::to_owned)
    } else {
        Some(name.join(" "))
    }
}

/// The Reference to the person of an XCN: a Practitioner found or created by its id XCN-1
/// (system from the assigning authority XCN-9, else the sender), with the name as display;
/// only a display without XCN-1; `None` for an empty XCN.
pub fn practitioner(
    ctx: &mut MapContext<'_, '_>,
    rep: &Repetition,
) -> Result<Option<Value>, MapError> {
    let display = xcn_display(rep);
    let Some(value) = rep_component(rep, 1) else {
        return Ok(display.map(|d| json!({ "display": d })));
    };
    let system = hd_system(rep, 9, &ctx.sender);
    let id = ctx.keyed_id("Practitioner", &system, value)?;
    let reference = format!("Practitioner/{id}");
    if !ctx.is_planned("Practitioner", &id) {
        let mut body = Map::new();
        body.insert(
            "identifier".into(),
            json!([{ "system": system, "value": value }]),
        );
        let mut name = Map::new();
        if let Some(family) = rep_sub(rep, 2, 1) {
            name.insert("family".into(), json!(family));
        }
        let given: Vec<&str> = [rep_component(rep, 3), rep_component(rep, 4)]
            .into_iter()
            .flatten()
            .collect();
        if !given.is_empty() {
            name.insert("given".into(), json!(given));
        }
        if let Some(suffix) = rep_component(rep, 5) {
            name.insert("suffix".into(), json!([suffix]));
        }
        if let Some(prefix) = rep_component(rep, 6) {
            name.insert("prefix".into(), json!([prefix]));
        }
        if !name.is_empty() {
            body.insert("name".into(), json!([name]));
        }
        ctx.plan(
            "Practitioner",
            id,
            body,
            Write::CreateOnly,
            Some((system, value.to_owned())),
        );
    }
    let mut out = Map::new();
    out.insert("reference".into(), json!(reference));
    if let Some(display) = display {
        out.insert("display".into(), json!(display));
    }
    Ok(Some(Value::Object(out)))
}

/// A PL's text: point of care, room, bed, facility.
pub fn location_display(rep: &Repetition) -> Option<String> {
    let parts: Vec<&str> = [1, 2, 3]
        .into_iter()
        .filter_map(|c| rep_component(rep, c))
        .chain(rep_sub(rep, 4, 1))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The Reference to the place of a PL: a Location found or created by its identifier (value
/// point of care^room^bed as written, PL-1 to PL-3; system from the facility PL-4, else the
/// sender), `physicalType` the most specific part (bed, room, else ward), `mode` instance;
/// a display only when PL-1 to PL-3 are empty; `None` for an empty PL.
pub fn location(ctx: &mut MapContext<'_, '_>, rep: &Repetition) -> Result<Option<Value>, MapError> {
    let display = location_display(rep);
    let parts = [1, 2, 3].map(|c| rep_component(rep, c));
    if parts.iter().all(Option::is_none) {
        return Ok(display.map(|d| json!({ "display": d })));
    }
    let value = parts.map(|p| p.unwrap_or_default()).join("^");
    let value = value.trim_end_matches('^').to_owned();
    let system = hd_system(rep, 4, &ctx.sender);
    let id = ctx.keyed_id("Location", &system, &value)?;
    if !ctx.is_planned("Location", &id) {
        let (code, text) = match parts {
            [_, _, Some(_)] => ("bd", "Bed"),
            [_, Some(_), None] => ("ro", "Room"),
            _ => ("wa", "Ward"),
        };
        let mut body = Map::new();
        body.insert(
            "identifier".into(),
            json!([{ "system": system, "value": value }]),
        );
        body.insert("status".into(), json!("active"));
        if let Some(name) = &display {
            body.insert("name".into(), json!(name));
        }
        body.insert("mode".into(), json!("instance"));
        body.insert(
            "physicalType".into(),
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": code, "display": text}]}),
        );
        ctx.plan(
            "Location",
            id.clone(),
            body,
            Write::CreateOnly,
            Some((system, value)),
        );
    }
    let mut out = Map::new();
    out.insert("reference".into(), json!(format!("Location/{id}")));
    if let Some(display) = display {
        out.insert("display".into(), json!(display));
    }
    Ok(Some(Value::Object(out)))
}
