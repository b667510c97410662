//! The mapper stage: a grouped HL7 v2 message to the FHIR resources it stands for, following
//! the HL7 V2-to-FHIR guide (message, segment, datatype and vocabulary maps; see
//! `docs/ingest.md` for the tables as implemented and every deviation).
//!
//! One file per message family: [`adt`] (ADT A01-A13, A28, A31, A40), [`oru`] (ORU^R01),
//! [`order`] (ORM^O01, OML^O21), [`siu`] (SIU^S12-S15), [`vxu`] (VXU^V04), [`mdm`] (MDM^T02);
//! [`patient`] maps PID and PV1 for all of them; [`datatypes`] the v2 datatypes; [`tables`] the
//! guide's code tables.
//!
//! The mapper is pure apart from one question it asks through [`Ids`]: which id a resource
//! with a business identifier (a patient's PID-3, a visit number, an order or appointment
//! number) already has. Everything else gets a deterministic id derived from the message key
//! (sender, control id) and the segment it comes from, so processing a message twice (a
//! reprocess after a crash between commit and ACK) can never duplicate a resource.
//!
//! A message the mapping cannot honour (a non-numeric NM value, a missing field the resources
//! need, a malformed date) is a [`MapError::Content`]: the door stores none of its resources and
//! answers AE with that error.

pub mod adt;
pub mod datatypes;
pub mod mdm;
pub mod order;
pub mod oru;
pub mod patient;
pub mod person;
pub mod siu;
pub mod tables;
pub mod vxu;

use crate::ack::{AckError, ErrorLocation, Hl7ErrorCode};
use crate::er7::{Message, Segment};
use crate::groups::{Grouped, Structure};
use serde_json::{Map, Value};

/// How the door writes one planned resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Create, or replace the current version (ADT demographics, encounters, orders).
    Replace,
    /// Create only when there is no live resource with this id (a patient an ORU refers to).
    CreateOnly,
    /// Replace, but take these elements from the current version when there is one (an A08
    /// keeps the encounter's status; an update keeps a merge's links).
    Keep(&'static [&'static str]),
    /// A40's surviving patient: replaced like [`Write::Replace`], its `link`s the current
    /// version's plus the planned ones (a second merge into the same survivor keeps the
    /// first's `replaces` link).
    MergeLinks,
    /// A40's prior patient: an existing record is kept, made inactive and linked
    /// `replaced-by` this reference; a missing one is created as planned.
    Retire {
        /// `Patient/<id>` of the surviving record.
        by: String,
    },
}

/// One resource the message maps to.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The FHIR resource type.
    pub resource_type: &'static str,
    /// Its id (found through [`Ids::keyed`] or derived).
    pub id: String,
    /// The resource, `resourceType` and `id` included.
    pub body: Map<String, Value>,
    /// How to write it.
    pub write: Write,
    /// The business identifier it was found or named by, `(system, value)`: the door checks
    /// inside the unit of work that no other resource took it meanwhile.
    pub identity: Option<(String, String)>,
}

/// Ids of resources named by a business identifier.
pub trait Ids {
    /// The id of the `resource_type` with identifier `system|value`: the existing one, or a
    /// new one derived from the identifier (so concurrent messages agree on it).
    fn keyed(&mut self, resource_type: &str, system: &str, value: &str) -> Result<String, String>;
}

/// Why a message cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// The content makes the mapping impossible (AE, nothing stored).
    Content(Box<AckError>),
    /// The event is not one Vigil maps (AR 201).
    Unsupported(Box<AckError>),
    /// An id lookup failed (storage fault): the message is not processed and not recorded.
    Internal(String),
}

impl MapError {
    /// A content error (AE).
    pub fn content(error: AckError) -> MapError {
        MapError::Content(Box::new(error))
    }

    /// A content error of `code` at `segment`'s field `field` in `message`.
    pub fn at(
        message: &Message,
        segment: &Segment,
        field: usize,
        code: Hl7ErrorCode,
        text: impl Into<String>,
    ) -> MapError {
        MapError::content(AckError::new(code, text).at(locate(message, segment, Some(field))))
    }

    /// A required field missing (101).
    pub fn missing(message: &Message, segment: &Segment, field: usize, what: &str) -> MapError {
        MapError::at(
            message,
            segment,
            field,
            Hl7ErrorCode::RequiredFieldMissing,
            format!(
                "{}-{field} ({what}) is required for the mapping",
                segment.id
            ),
        )
    }

    /// A value of the wrong type (102).
    pub fn data_type(
        message: &Message,
        segment: &Segment,
        field: usize,
        what: &str,
        value: &str,
    ) -> MapError {
        let shown: String = value.chars().take(40).collect();
        MapError::at(
            message,
            segment,
            field,
            Hl7ErrorCode::DataTypeError,
            format!("{}-{field}: '{shown}' is not a valid {what}", segment.id),
        )
    }
}

/// The ERR-2 location of `segment` (by identity) in `message`.
pub fn locate(message: &Message, segment: &Segment, field: Option<usize>) -> ErrorLocation {
    let sequence = message
        .segments()
        .iter()
        .filter(|s| s.id == segment.id)
        .position(|s| std::ptr::eq(s, segment))
        .map_or(1, |p| p + 1);
    ErrorLocation {
        segment_id: segment.id.clone(),
        sequence,
        field,
        ..ErrorLocation::default()
    }
}

/// What every mapping needs: the message, its key, the id source, and the resources so far.
pub struct MapContext<'m, 'i> {
    /// The message.
    pub message: &'m Message,
    /// MSH-3.1 and MSH-4.1, for identifier systems when an assigning authority is missing.
    pub sender: (String, String),
    /// The message key, for the ids of resources without a business identifier.
    pub key: String,
    ids: &'i mut dyn Ids,
    /// Ids already found by identifier in this message: a person or place named by several
    /// segments is looked up once.
    keyed: std::collections::HashMap<(String, String, String), String>,
    /// The resources planned so far.
    pub planned: Vec<Planned>,
}

impl<'m, 'i> MapContext<'m, 'i> {
    /// A context for `message` under `key` (`sender` + control id).
    pub fn new(message: &'m Message, key: String, ids: &'i mut dyn Ids) -> Self {
        let header = message.header().segment();
        let hd = |f| datatypes::first(header, f).unwrap_or_default().to_owned();
        MapContext {
            message,
            sender: (hd(3), hd(4)),
            key,
            ids,
            keyed: std::collections::HashMap::new(),
            planned: Vec::new(),
        }
    }

    /// A deterministic id for a resource of this message (`what` names its source, e.g.
    /// `OBX/3`).
    pub fn local_id(&self, resource_type: &str, what: &str) -> String {
        derived_id(&format!("{}|{resource_type}|{what}", self.key))
    }

    /// The id of a resource named by a business identifier.
    pub fn keyed_id(
        &mut self,
        resource_type: &str,
        system: &str,
        value: &str,
    ) -> Result<String, MapError> {
        let key = (
            resource_type.to_owned(),
            system.to_owned(),
            value.to_owned(),
        );
        if let Some(id) = self.keyed.get(&key) {
            return Ok(id.clone());
        }
        let id = self
            .ids
            .keyed(resource_type, system, value)
            .map_err(MapError::Internal)?;
        self.keyed.insert(key, id.clone());
        Ok(id)
    }

    /// Whether `resource_type/id` is planned already (a person or place named twice in one
    /// message is written once).
    pub fn is_planned(&self, resource_type: &str, id: &str) -> bool {
        self.planned
            .iter()
            .any(|p| p.resource_type == resource_type && p.id == id)
    }

    /// Adds a planned resource; returns its `Type/id` reference.
    pub fn plan(
        &mut self,
        resource_type: &'static str,
        id: String,
        mut body: Map<String, Value>,
        write: Write,
        identity: Option<(String, String)>,
    ) -> String {
        let reference = format!("{resource_type}/{id}");
        let mut full = Map::new();
        full.insert("resourceType".into(), Value::String(resource_type.into()));
        full.insert("id".into(), Value::String(id.clone()));
        full.append(&mut body);
        self.planned.push(Planned {
            resource_type,
            id,
            body: full,
            write,
            identity,
        });
        reference
    }
}

/// A FHIR id derived from a name (a name-based UUID, version 5).
pub fn derived_id(name: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5f1c_4d2e_9b7a_4c61_8e0f_7a3b_2d19_c804);
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// The events the mappings support per structure; others are refused (AR 201).
pub fn supports(structure: Structure, trigger: &str) -> bool {
    match structure {
        Structure::Adt => [
            "A01", "A02", "A03", "A04", "A05", "A08", "A11", "A13", "A28", "A31", "A40",
        ]
        .contains(&trigger),
        Structure::Siu => ["S12", "S13", "S14", "S15"].contains(&trigger),
        Structure::Mdm => trigger == "T02",
        Structure::Oru | Structure::Orm | Structure::Oml | Structure::Vxu => true,
    }
}

/// Maps a grouped message: the resources to write, in order (a patient before what refers
/// to it).
pub fn map(
    message: &Message,
    structure: Structure,
    grouped: &Grouped<'_>,
    key: String,
    ids: &mut dyn Ids,
) -> Result<Vec<Planned>, MapError> {
    let trigger = message.header().trigger_event();
    if !supports(structure, trigger) {
        let code = message.header().message_code();
        return Err(MapError::Unsupported(Box::new(
            AckError::new(
                Hl7ErrorCode::UnsupportedEventCode,
                format!("{code}^{trigger} is not mapped by Vigil"),
            )
            .at(ErrorLocation {
                segment_id: "MSH".into(),
                sequence: 1,
                field: Some(9),
                ..ErrorLocation::default()
            }),
        )));
    }
    let mut context = MapContext::new(message, key, ids);
    match structure {
        Structure::Adt => adt::map(&mut context, grouped, trigger)?,
        Structure::Oru => oru::map(&mut context, grouped)?,
        Structure::Orm | Structure::Oml => order::map(&mut context, grouped)?,
        Structure::Siu => siu::map(&mut context, grouped, trigger)?,
        Structure::Vxu => vxu::map(&mut context, grouped)?,
        Structure::Mdm => mdm::map(&mut context, grouped)?,
    }
    Ok(context.planned)
}

/// Inserts `key: value` when the value is present.
pub(crate) fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

/// A reference object.
pub(crate) fn reference(target: &str) -> Value {
    serde_json::json!({ "reference": target })
}

/// Notes (NTE-3, repeating) as Annotation list.
pub(crate) fn notes(segments: &[&Segment]) -> Option<Value> {
    let texts: Vec<Value> = segments
        .iter()
        .filter_map(|nte| {
            let text: Vec<&str> = datatypes::repetitions(nte, 3)
                .iter()
                .filter_map(|r| datatypes::rep_component(r, 1))
                .collect();
            (!text.is_empty()).then(|| serde_json::json!({"text": text.join("\n")}))
        })
        .collect();
    (!texts.is_empty()).then_some(Value::Array(texts))
}

#[cfg(test)]
mod tests;
