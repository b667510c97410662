//! The door stage: one unit of work per message through vigil-service, and the
//! acknowledgement that tells the truth about it.
//!
//! [`Door::receive`] takes the bytes of one message (blocking: call it from
//! `spawn_blocking`) and returns the [`Reply`]:
//!
//! 1. The decoder parses it; unreadable input is AR (recorded as `rejected` under the sender
//!    `-` and a unique id, so it stays inspectable).
//! 2. The key is (sender, control id): sender `MSH-3.1^MSH-4.1`, control id MSH-10. A key
//!    already recorded gets the same acknowledgement again (same code, error, ACK control id
//!    and time: the ACK is rebuilt from the record) and nothing is written.
//! 3. Unsupported types/events are AR (`rejected`); a missing required segment or content the
//!    mapping cannot honour is AE (`failed`, the dead letter): the raw message and its error
//!    are committed, none of its resources.
//! 4. Otherwise its resources, the raw message and the record `processed` are committed in
//!    one unit, and only then is the answer AA (CA in enhanced mode).
//! 5. A storage fault is answered AR 207 and recorded nowhere (nothing was committed), so the
//!    sender's retry is processed normally.
//!
//! The ACK's MSH-10 is `A<received micros>` and MSH-7 the receive time, both from the record,
//! so a replay is byte-identical to the first answer.

use crate::ack::{
    AckCode, AckError, AckHeader, ErrorLocation, Hl7ErrorCode, Outcome, acknowledge,
    acknowledge_unreadable,
};
use crate::er7::Message;
use crate::groups::group;
use crate::mapper::{self, Ids, MapError, Planned, Write};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use vigil_service::{
    FhirService, InboundMessage, Preconditions, Prepared, RequestContext, Resolution, ServiceError,
    Unit,
};

/// Record states.
pub mod state {
    /// Committed with its resources (AA).
    pub const PROCESSED: &str = "processed";
    /// Content error, nothing of it stored but the raw message (AE): a dead letter.
    pub const FAILED: &str = "failed";
    /// Refused: unsupported type or event, unreadable envelope (AR).
    pub const REJECTED: &str = "rejected";
}

/// What the door answers for one message.
#[derive(Debug, Clone)]
pub struct Reply {
    /// MSA-1.
    pub code: AckCode,
    /// The ACK to send (ER7, segments ended by CR); `None` when enhanced mode asked for no
    /// accept acknowledgement in this case.
    pub ack: Option<String>,
    /// Enhanced mode: the application acknowledgement MSH-16 asks for, sent after `ack`.
    pub application_ack: Option<String>,
    /// The record key, `None` when nothing was recorded (a storage fault).
    pub key: Option<(String, String)>,
    /// True when the key was already recorded and the answer is the recorded one.
    pub replay: bool,
}

/// The ingest door over a service.
pub struct Door {
    service: FhirService,
    context: RequestContext,
    unreadable: AtomicU64,
}

impl Door {
    /// A door writing through `service` as `system:ingest`.
    pub fn new(service: FhirService, base_url: &str) -> Door {
        Door {
            service,
            context: RequestContext::internal("ingest", base_url),
            unreadable: AtomicU64::new(0),
        }
    }

    /// The service behind the door.
    pub fn service(&self) -> &FhirService {
        &self.service
    }

    /// Processes one message (see the module documentation). Blocking.
    pub fn receive(&self, raw: &[u8]) -> Reply {
        let received = vigil_service::now_micros();
        let text = decode_text(raw);
        match Message::parse(raw) {
            Err(error) => {
                let error = AckError::from_parse_error(&error);
                let n = self.unreadable.fetch_add(1, Ordering::Relaxed);
                let key = ("-".to_owned(), format!("unreadable-{received}-{n}"));
                let ack = acknowledge_unreadable(raw, &error, ack_header(received).as_header());
                let record = InboundMessage {
                    sender: key.0.clone(),
                    control_id: key.1.clone(),
                    received_micros: received,
                    raw: text,
                    state: state::REJECTED.to_owned(),
                    error: Some(error_text(AckCode::ApplicationReject, &error)),
                };
                let stored = self.service.unit(&self.context, |unit| {
                    unit.record_message(record);
                    Ok(())
                });
                Reply {
                    code: ack.code,
                    ack: ack.send.then(|| ack.message.encode()),
                    application_ack: None,
                    key: stored.is_ok().then_some(key),
                    replay: false,
                }
            }
            Ok(message) => self.process(&message, text, received, false),
        }
    }

    /// Processes a recorded message again (`vigil hl7 reprocess`): its record is replaced by
    /// the new outcome. A message already `processed` is not applied twice.
    pub fn reprocess(&self, sender: &str, control_id: &str) -> Result<Reply, ServiceError> {
        let record = self
            .service
            .inbound_message(sender, control_id)?
            .ok_or_else(|| ServiceError::not_found(format!("no message {sender} {control_id}")))?;
        if record.state == state::PROCESSED {
            let message = Message::parse(record.raw.as_bytes())
                .map_err(|e| ServiceError::internal(e.to_string()))?;
            return Ok(self.replay(&message, &record));
        }
        let received = vigil_service::now_micros();
        match Message::parse(record.raw.as_bytes()) {
            Err(error) => {
                let error = AckError::from_parse_error(&error);
                let ack = acknowledge_unreadable(
                    record.raw.as_bytes(),
                    &error,
                    ack_header(received).as_header(),
                );
                Ok(Reply {
                    code: ack.code,
                    ack: Some(ack.message.encode()),
                    application_ack: None,
                    key: Some((sender.to_owned(), control_id.to_owned())),
                    replay: false,
                })
            }
            Ok(message) => {
                let mut reply = self.process_keyed(
                    &message,
                    record.raw.clone(),
                    received,
                    (sender.to_owned(), control_id.to_owned()),
                    true,
                );
                reply.replay = false;
                Ok(reply)
            }
        }
    }

    fn process(&self, message: &Message, raw: String, received: i64, reprocess: bool) -> Reply {
        let (sender, control_id) = message_key(message);
        let keyed = !control_id.is_empty();
        let control_id = if keyed {
            control_id
        } else {
            format!("no-control-id-{received}")
        };
        if keyed && !reprocess {
            match self.service.inbound_message(&sender, &control_id) {
                Ok(Some(record)) => return self.replay(message, &record),
                Ok(None) => {}
                Err(error) => return self.transient(message, received, &error),
            }
        }
        self.process_keyed(message, raw, received, (sender, control_id), reprocess)
    }

    fn process_keyed(
        &self,
        message: &Message,
        raw: String,
        received: i64,
        key: (String, String),
        reprocess: bool,
    ) -> Reply {
        let record = |state: &str, error: Option<String>| InboundMessage {
            sender: key.0.clone(),
            control_id: key.1.clone(),
            received_micros: received,
            raw: raw.clone(),
            state: state.to_owned(),
            error,
        };
        let outcome = match group(message) {
            Err(error) if error.is_reject() => Outcome::Rejected(error.ack_error()),
            Err(error) => Outcome::Error(error.ack_error()),
            Ok((structure, grouped)) => {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let mut ids = DoorIds { door: self };
                    let planned = mapper::map(
                        message,
                        structure,
                        &grouped,
                        format!("{}|{}", key.0, key.1),
                        &mut ids,
                    );
                    let planned = match planned {
                        Ok(planned) => planned,
                        Err(MapError::Content(error)) => break Outcome::Error(*error),
                        Err(MapError::Unsupported(error)) => break Outcome::Rejected(*error),
                        Err(MapError::Internal(text)) => {
                            return self.transient(
                                message,
                                received,
                                &ServiceError::internal(text),
                            );
                        }
                    };
                    let prepared = match self.prepare_all(planned) {
                        Ok(prepared) => prepared,
                        Err(error) => break Outcome::Error(*error),
                    };
                    let retry = AtomicBool::new(false);
                    let result = self.service.unit(&self.context, |unit| {
                        if !reprocess
                            && let Some(existing) = unit.inbound_message(&key.0, &key.1)?
                        {
                            return Ok(Some(existing));
                        }
                        for (planned, prepared) in prepared {
                            self.write(unit, planned, prepared, &retry)?;
                        }
                        unit.record_message(record(state::PROCESSED, None));
                        Ok(None)
                    });
                    match result {
                        Ok(Some(existing)) => return self.replay(message, &existing),
                        Ok(None) => break Outcome::Accepted,
                        Err(_) if retry.load(Ordering::Relaxed) && attempt < 3 => continue,
                        Err(error) if vigil_service::breaks_unit(&error) => {
                            return self.transient(message, received, &error);
                        }
                        Err(error) => {
                            break Outcome::Error(AckError::new(
                                Hl7ErrorCode::ApplicationInternalError,
                                format!("the mapped resources were refused: {error}"),
                            ));
                        }
                    }
                }
            }
        };
        let (code, state) = match &outcome {
            Outcome::Accepted => (AckCode::ApplicationAccept, state::PROCESSED),
            Outcome::Error(_) => (AckCode::ApplicationError, state::FAILED),
            Outcome::Rejected(_) => (AckCode::ApplicationReject, state::REJECTED),
        };
        if !matches!(outcome, Outcome::Accepted) {
            let error = match &outcome {
                Outcome::Error(e) | Outcome::Rejected(e) => Some(error_text(code, e)),
                Outcome::Accepted => None,
            };
            let stored = self.service.unit(&self.context, |unit| {
                if !reprocess && let Some(existing) = unit.inbound_message(&key.0, &key.1)? {
                    return Ok(Some(existing));
                }
                unit.record_message(record(state, error));
                Ok(None)
            });
            match stored {
                Ok(Some(existing)) => return self.replay(message, &existing),
                Ok(None) => {}
                Err(error) => return self.transient(message, received, &error),
            }
        }
        let ack = acknowledge(message, &outcome, ack_header(received).as_header());
        Reply {
            code: ack.code,
            ack: ack.send.then(|| ack.message.encode()),
            application_ack: ack.application.map(|a| a.encode()),
            key: Some(key),
            replay: false,
        }
    }

    /// The recorded answer again.
    fn replay(&self, message: &Message, record: &InboundMessage) -> Reply {
        let outcome = recorded_outcome(record);
        let ack = acknowledge(
            message,
            &outcome,
            ack_header(record.received_micros).as_header(),
        );
        Reply {
            code: ack.code,
            ack: ack.send.then(|| ack.message.encode()),
            application_ack: ack.application.map(|a| a.encode()),
            key: Some((record.sender.clone(), record.control_id.clone())),
            replay: true,
        }
    }

    /// A storage fault: AR 207, nothing recorded.
    fn transient(&self, message: &Message, received: i64, error: &ServiceError) -> Reply {
        tracing::error!(%error, "ingest: a message could not be committed");
        let outcome = Outcome::Rejected(AckError::new(
            Hl7ErrorCode::ApplicationInternalError,
            "the message could not be stored; send it again",
        ));
        let ack = acknowledge(message, &outcome, ack_header(received).as_header());
        Reply {
            code: ack.code,
            ack: ack.send.then(|| ack.message.encode()),
            // AR 207 as in original mode: nothing was processed; a resend is.
            application_ack: ack.application.map(|a| a.encode()),
            key: None,
            replay: false,
        }
    }

    /// Validates and prepares every planned resource outside the unit of work.
    fn prepare_all(
        &self,
        planned: Vec<Planned>,
    ) -> Result<Vec<(Planned, Prepared)>, Box<AckError>> {
        let mut out = Vec::with_capacity(planned.len());
        for p in planned {
            let body = Value::Object(p.body.clone());
            let (object, _) = self
                .service
                .validate_body(p.resource_type, body)
                .map_err(|e| {
                    Box::new(AckError::new(
                        Hl7ErrorCode::DataTypeError,
                        format!("the mapped {} is not valid FHIR: {e}", p.resource_type),
                    ))
                })?;
            let prepared = self
                .service
                .prepare(p.resource_type, &p.id, object)
                .map_err(|e| {
                    Box::new(AckError::new(
                        Hl7ErrorCode::ApplicationInternalError,
                        format!("indexing the mapped {}: {e}", p.resource_type),
                    ))
                })?;
            out.push((p, prepared));
        }
        Ok(out)
    }

    /// Writes one planned resource inside the unit.
    fn write(
        &self,
        unit: &mut Unit<'_>,
        planned: Planned,
        prepared: Prepared,
        retry: &AtomicBool,
    ) -> Result<(), ServiceError> {
        if let Some((system, value)) = &planned.identity {
            let criteria = vigil_service::token_criteria("identifier", Some(system), value);
            if let Resolution::One(found) = unit.resolve(planned.resource_type, &criteria)?
                && found != planned.id
            {
                // Another writer created it under a different id meanwhile: map again.
                retry.store(true, Ordering::Relaxed);
                return Err(ServiceError::internal("an identifier was taken meanwhile"));
            }
        }
        let none = Preconditions::default();
        if planned.write == Write::Replace {
            // The update reads the current version itself.
            unit.update(prepared, &none)?;
            return Ok(());
        }
        let current = unit
            .read(planned.resource_type, &planned.id)?
            .filter(|v| !v.meta.deleted);
        let current_object = || -> Result<Map<String, Value>, ServiceError> {
            let text = current.as_ref().map_or("{}", |v| &*v.content);
            match serde_json::from_str(text) {
                Ok(Value::Object(object)) => Ok(object),
                _ => Err(ServiceError::internal(
                    "a stored resource is not a JSON object",
                )),
            }
        };
        match &planned.write {
            Write::Replace => {}
            Write::CreateOnly => {
                if current.is_none() {
                    unit.update(prepared, &none)?;
                }
            }
            Write::Keep(fields) => {
                if current.is_none() {
                    unit.update(prepared, &none)?;
                } else {
                    let existing = current_object()?;
                    let mut body = planned.body.clone();
                    for field in *fields {
                        match existing.get(*field) {
                            Some(value) => {
                                body.insert((*field).to_owned(), value.clone());
                            }
                            None => {
                                body.remove(*field);
                            }
                        }
                    }
                    let prepared =
                        self.service
                            .prepare(planned.resource_type, &planned.id, body)?;
                    unit.update(prepared, &none)?;
                }
            }
            Write::MergeLinks => {
                if current.is_none() {
                    unit.update(prepared, &none)?;
                } else {
                    let existing = current_object()?;
                    let mut body = planned.body.clone();
                    let mut links: Vec<Value> = existing
                        .get("link")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(Value::Array(planned_links)) = body.get("link") {
                        for link in planned_links {
                            if !links.contains(link) {
                                links.push(link.clone());
                            }
                        }
                    }
                    body.insert("link".into(), Value::Array(links));
                    let prepared =
                        self.service
                            .prepare(planned.resource_type, &planned.id, body)?;
                    unit.update(prepared, &none)?;
                }
            }
            Write::Retire { by } => {
                if current.is_none() {
                    unit.update(prepared, &none)?;
                } else {
                    let mut existing = current_object()?;
                    existing.remove("meta");
                    existing.insert("active".into(), json!(false));
                    let link = json!({"other": {"reference": by}, "type": "replaced-by"});
                    let links = existing.entry("link").or_insert_with(|| json!([]));
                    if let Value::Array(links) = links
                        && !links.contains(&link)
                    {
                        links.push(link);
                    }
                    let prepared =
                        self.service
                            .prepare(planned.resource_type, &planned.id, existing)?;
                    unit.update(prepared, &none)?;
                }
            }
        }
        Ok(())
    }
}

/// Ids through the door: the committed resource with the identifier, else a derived id.
struct DoorIds<'d> {
    door: &'d Door,
}

impl Ids for DoorIds<'_> {
    fn keyed(&mut self, resource_type: &str, system: &str, value: &str) -> Result<String, String> {
        let criteria = vigil_service::token_criteria("identifier", Some(system), value);
        match self
            .door
            .service
            .resolve_committed(&self.door.context, resource_type, &criteria)
        {
            Ok(Resolution::One(id)) => Ok(id),
            Ok(Resolution::None | Resolution::Many) => Ok(mapper::derived_id(&format!(
                "{resource_type}|{system}|{value}"
            ))),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// The record key of a parsed message: sender `MSH-3.1^MSH-4.1`, control id MSH-10.
pub fn message_key(message: &Message) -> (String, String) {
    let msh = message.header().segment();
    let hd = |f| msh.value(f, 1, 1, 1).unwrap_or_default().trim().to_owned();
    (
        format!("{}^{}", hd(3), hd(4)),
        message.header().control_id().trim().to_owned(),
    )
}

/// Bytes as text the way the parser reads them (UTF-8, else Latin-1).
pub fn decode_text(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) => text.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

struct OwnedHeader {
    control_id: String,
    timestamp: String,
}

impl OwnedHeader {
    fn as_header(&self) -> AckHeader<'_> {
        AckHeader {
            control_id: &self.control_id,
            timestamp: &self.timestamp,
        }
    }
}

/// The ACK's MSH-10 and MSH-7 for a message received at `micros`.
fn ack_header(micros: i64) -> OwnedHeader {
    let instant = vigil_service::format_instant(micros);
    let digits: String = instant
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    OwnedHeader {
        control_id: format!("A{micros}"),
        timestamp: format!("{digits}+0000"),
    }
}

/// The record's error column: `<AE|AR> <HL7 code> <location or -> <text>`.
pub fn error_text(code: AckCode, error: &AckError) -> String {
    let location = error.location.as_ref().map_or("-".to_owned(), |l| {
        let mut text = format!("{}^{}", l.segment_id, l.sequence);
        if let Some(field) = l.field {
            text.push_str(&format!("^{field}"));
        }
        text
    });
    let (number, _) = error.code.code_and_text();
    format!(
        "{} {number} {location} {}",
        code.as_str(),
        error.message.replace(['\r', '\n'], " ")
    )
}

/// The outcome a record stands for (the inverse of [`error_text`]).
pub fn recorded_outcome(record: &InboundMessage) -> Outcome {
    if record.state == state::PROCESSED {
        return Outcome::Accepted;
    }
    let text = record.error.clone().unwrap_or_default();
    let mut parts = text.splitn(4, ' ');
    let kind = parts.next().unwrap_or_default();
    let code = hl7_code(parts.next().unwrap_or_default());
    let location = parts.next().filter(|l| *l != "-").map(|l| {
        let mut pieces = l.split('^');
        ErrorLocation {
            segment_id: pieces.next().unwrap_or_default().to_owned(),
            sequence: pieces.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            field: pieces.next().and_then(|n| n.parse().ok()),
            ..ErrorLocation::default()
        }
    });
    let mut error = AckError::new(code, parts.next().unwrap_or_default());
    if let Some(location) = location {
        error = error.at(location);
    }
    if kind == "AR" || record.state == state::REJECTED {
        Outcome::Rejected(error)
    } else {
        Outcome::Error(error)
    }
}

fn hl7_code(number: &str) -> Hl7ErrorCode {
    match number {
        "100" => Hl7ErrorCode::SegmentSequenceError,
        "101" => Hl7ErrorCode::RequiredFieldMissing,
        "102" => Hl7ErrorCode::DataTypeError,
        "103" => Hl7ErrorCode::TableValueNotFound,
        "200" => Hl7ErrorCode::UnsupportedMessageType,
        "201" => Hl7ErrorCode::UnsupportedEventCode,
        "202" => Hl7ErrorCode::UnsupportedProcessingId,
        "203" => Hl7ErrorCode::UnsupportedVersionId,
        "204" => Hl7ErrorCode::UnknownKeyIdentifier,
        "205" => Hl7ErrorCode::DuplicateKeyIdentifier,
        "206" => Hl7ErrorCode::ApplicationRecordLocked,
        _ => Hl7ErrorCode::ApplicationInternalError,
    }
}
