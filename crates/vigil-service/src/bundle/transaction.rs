//! Transactions: every entry in one unit of work, all or nothing.
//!
//! Order of processing is the spec's: DELETE, then POST, then PUT/PATCH, then GET/HEAD.
//!
//! Before the unit of work (outside the writer lock, where the CPU work belongs):
//! 1. every entry's request is parsed and its resource validated;
//! 2. ids are chosen: a new one for each POST, the URL's for PUT/PATCH on an instance;
//! 3. conditional references (`Practitioner?identifier=x|1`) are resolved against the committed
//!    data, each distinct one once;
//! 4. `fullUrl`s (`urn:uuid:…` or absolute) of entries whose id is known are rewritten to
//!    `Type/id` in every resource, and those resources' index rows are extracted; a relative
//!    reference (`Patient/0`) naming an entry's absolute fullUrl
//!    (`http://example.org/fhir/Patient/0`) counts as that fullUrl (bundle.html#references).
//!
//! Inside the unit: deletes, then conditional creates (`ifNoneExist`) and conditional updates
//! find their targets; only resources whose references pointed at such entries are rewritten
//! and re-indexed there; then the writes. Reads and searches (GET) run after the commit and see
//! it. Any failing entry fails the whole transaction with an OperationOutcome naming it.
//!
//! A PATCH entry carries its patch as the entry's resource: a `Parameters` (FHIRPath Patch) or
//! a `Binary` with `contentType` `application/json-patch+json` and the JSON Patch in base64
//! `data`. The patch is parsed before the unit; the references its values hold are rewritten
//! like those of any resource (a bare string written at a `reference` element, such as a JSON
//! Patch `replace` of `/subject/reference`, included); inside the unit it is applied to the
//! current version of its target, found like a conditional update's when the URL has criteria.

use super::references::{RelativeIndex, as_conditional, for_each_reference};
use super::request_url::EntryTarget;
use super::{
    BundleReturn, Entry, EntryMethod, NoneMatch, check_write_none_match, not_modified,
    response_bundle, version_entry,
};
use crate::conditional::{Conditional, Decision};
use crate::interactions::{Preconditions, Prepared, WriteOutcome};
use crate::{FhirService, PatchDocument, RequestContext, ServiceError, ServiceErrorKind, Unit};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// What a write entry will do, once its target is known.
struct Write {
    entry: Entry,
    object: Map<String, Value>,
    /// The chosen or URL id; `None` while a conditional update has not matched yet.
    id: Option<String>,
    /// Extracted before the unit when nothing about the resource depends on it.
    prepared: Option<Prepared>,
    /// fullUrls of conditional entries this resource refers to (rewritten inside the unit).
    pending_refs: bool,
    /// For a PATCH entry: the patch (`object` is then empty).
    patch: Option<PatchDocument>,
    /// `ifNoneMatch: *`: the write fails (412) when the resource has a current version.
    if_absent: bool,
}

impl FhirService {
    pub(super) fn transaction(
        &self,
        context: &RequestContext,
        entries: Vec<Entry>,
        none_match: &[Option<NoneMatch>],
        returns: BundleReturn,
    ) -> Result<Value, ServiceError> {
        let count = entries.len();
        check_duplicates(&entries)?;
        let mut deletes = Vec::new();
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        for entry in entries {
            let resource_type = entry.target.resource_type();
            if !resource_type.is_empty() {
                self.check_type(resource_type)
                    .map_err(|e| e.in_entry(entry.index))?;
            }
            let condition = none_match.get(entry.index).copied().flatten();
            check_write_none_match(&entry, condition).map_err(|e| e.in_entry(entry.index))?;
            match entry.method {
                EntryMethod::Delete => deletes.push(entry),
                EntryMethod::Get | EntryMethod::Head => reads.push(entry),
                EntryMethod::Post | EntryMethod::Put | EntryMethod::Patch => {
                    let mut write = self.plan_write(entry)?;
                    write.if_absent = condition == Some(NoneMatch::Any);
                    writes.push(write);
                }
            }
        }

        self.rewrite_references(context, &mut writes)?;

        // GET entries run after the commit; what they may read is checked now, so that a
        // refusal fails the transaction before anything is written.
        for entry in &reads {
            self.allow_read_entry(context, entry)
                .map_err(|e| e.in_entry(entry.index))?;
        }
        let base = context.base_url.clone();
        let mut responses: Vec<Option<Value>> = vec![None; count];
        let written = self.unit(context, |unit| transaction_unit(unit, deletes, writes))?;
        for (index, outcome, status) in written {
            responses[index] = Some(match outcome {
                Some(outcome) => version_entry(&base, &outcome.version, status, returns),
                None => serde_json::json!({"response": {"status": super::status_text(status)}}),
            });
        }
        for entry in reads {
            let index = entry.index;
            let response = self
                .read_entry(context, entry)
                .map_err(|e| e.in_entry(index))?;
            responses[index] = Some(not_modified(
                response,
                none_match.get(index).copied().flatten(),
            ));
        }
        let entries = responses
            .into_iter()
            .map(|r| r.unwrap_or(Value::Null))
            .collect();
        Ok(response_bundle("transaction-response", entries))
    }

    /// Rewrites the references of every write before the unit: `fullUrl`s of entries whose
    /// id is certain become `Type/id`, conditional references are resolved against committed
    /// data (each once); references to conditional entries are marked for the unit. Resources
    /// with nothing left to resolve are prepared (index rows) here.
    fn rewrite_references(
        &self,
        context: &RequestContext,
        writes: &mut [Write],
    ) -> Result<(), ServiceError> {
        // fullUrl -> Type/id for entries whose id is already certain.
        let mut local: HashMap<String, String> = HashMap::new();
        let mut conditional_urls: HashSet<String> = HashSet::new();
        for write in writes.iter() {
            let Some(full_url) = &write.entry.full_url else {
                continue;
            };
            let conditional = write.entry.if_none_exist.is_some() || write.id.is_none();
            match (&write.id, conditional) {
                (Some(id), false) => {
                    local.insert(
                        full_url.clone(),
                        format!("{}/{id}", write.entry.target.resource_type()),
                    );
                }
                _ => {
                    conditional_urls.insert(full_url.clone());
                }
            }
        }
        let relative = RelativeIndex::new(
            writes
                .iter()
                .filter_map(|write| write.entry.full_url.as_deref()),
        );
        let mut resolved_conditionals: HashMap<String, String> = HashMap::new();
        for write in writes.iter_mut() {
            let index = write.entry.index;
            let referrer = write.entry.full_url.clone();
            // A patch's references are in the values it writes; they are rewritten as one array.
            let mut resource = match &mut write.patch {
                Some(patch) => patch.take_values(),
                None => Value::Object(std::mem::take(&mut write.object)),
            };
            let mut pending = false;
            let mut failure: Option<ServiceError> = None;
            let rewritten = for_each_reference(&mut resource, &mut |reference| {
                // A relative `Type/id` naming an entry's absolute fullUrl is that fullUrl.
                if let Some(full_url) = relative.resolve(reference, referrer.as_deref())? {
                    *reference = full_url.to_owned();
                }
                if let Some(target) = local.get(reference.as_str()) {
                    *reference = target.clone();
                } else if conditional_urls.contains(reference.as_str()) {
                    pending = true;
                } else if let Some((resource_type, query)) = as_conditional(reference) {
                    let target = match resolved_conditionals.get(reference.as_str()) {
                        Some(target) => target.clone(),
                        None => {
                            let target = self
                                .resolve_reference(context, resource_type, query)
                                .map_err(|e| {
                                    let text = message(&e);
                                    failure = Some(e);
                                    text
                                })?;
                            resolved_conditionals.insert(reference.clone(), target.clone());
                            target
                        }
                    };
                    *reference = target;
                } else if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
                    return Err(format!(
                        "the reference '{reference}' names no entry of this Bundle"
                    ));
                }
                Ok(())
            });
            if let Err(problem) = rewritten {
                let error = failure.unwrap_or_else(|| ServiceError::invalid(problem, "reference"));
                return Err(error.in_entry(index));
            }
            write.pending_refs = pending;
            if let Some(patch) = &mut write.patch {
                patch.put_back_values(resource);
                continue;
            }
            let Value::Object(object) = resource else {
                return Err(ServiceError::internal(format!(
                    "entry {index} is no longer an object"
                )));
            };
            write.object = object;
            if let (Some(id), false, None) = (&write.id, pending, &write.entry.if_none_exist) {
                let prepared = self
                    .prepare(write.entry.target.resource_type(), id, write.object.clone())
                    .map_err(|e| e.in_entry(index))?;
                write.prepared = Some(prepared);
            }
        }

        Ok(())
    }

    /// Validates a write entry's resource and decides its id where it can.
    fn plan_write(&self, entry: Entry) -> Result<Write, ServiceError> {
        let index = entry.index;
        let resource_type = entry.target.resource_type().to_owned();
        let resource = entry.resource.clone().unwrap_or(Value::Null);
        if entry.method == EntryMethod::Patch {
            return plan_patch(entry, &resource);
        }
        let (object, _warnings) = self
            .validate_body(&resource_type, resource)
            .map_err(|e| e.in_entry(index))?;
        let id = match (&entry.method, &entry.target) {
            (EntryMethod::Post, EntryTarget::Type(_)) => Some(uuid::Uuid::new_v4().to_string()),
            (EntryMethod::Put, EntryTarget::Instance(_, id)) => {
                crate::interactions::check_id_syntax(id).map_err(|e| e.in_entry(index))?;
                match object.get("id").and_then(Value::as_str) {
                    Some(body_id) if body_id == id => {}
                    _ => {
                        return Err(ServiceError::invalid(
                            format!("the resource id must equal the id in request.url ('{id}')"),
                            &format!("{resource_type}.id"),
                        )
                        .in_entry(index));
                    }
                }
                Some(id.clone())
            }
            (EntryMethod::Put, EntryTarget::Query(_, _)) => None,
            _ => {
                return Err(ServiceError::invalid(
                    format!("{:?} is not allowed on this request.url", entry.method),
                    "request.url",
                )
                .in_entry(index));
            }
        };
        Ok(Write {
            entry,
            object,
            id,
            prepared: None,
            pending_refs: false,
            patch: None,
            if_absent: false,
        })
    }
}

/// Two entries may not write the same resource (http.html#trules).
fn check_duplicates(entries: &[Entry]) -> Result<(), ServiceError> {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for entry in entries {
        if let (
            EntryMethod::Put | EntryMethod::Delete | EntryMethod::Patch,
            EntryTarget::Instance(resource_type, id),
        ) = (&entry.method, &entry.target)
            && let Some(first) = seen.insert((resource_type.clone(), id.clone()), entry.index)
        {
            return Err(ServiceError::invalid(
                format!("{resource_type}/{id} is written by entries {first} and {}; a transaction may touch a resource once", entry.index),
                "request.url",
            )
            .in_entry(entry.index));
        }
    }
    Ok(())
}

fn message(error: &ServiceError) -> String {
    error
        .issues()
        .iter()
        .map(|i| i.diagnostics.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A PATCH entry: its patch parsed, its id known unless the URL has criteria.
fn plan_patch(entry: Entry, resource: &Value) -> Result<Write, ServiceError> {
    let index = entry.index;
    let patch = PatchDocument::from_entry_resource(resource)
        .map_err(|e| ServiceError::from(e).in_entry(index))?;
    let id = match &entry.target {
        EntryTarget::Instance(_, id) => {
            crate::interactions::check_id_syntax(id).map_err(|e| e.in_entry(index))?;
            Some(id.clone())
        }
        EntryTarget::Query(_, _) => None,
        _ => {
            return Err(ServiceError::invalid(
                "PATCH needs [type]/[id] or [type]?criteria",
                "request.url",
            )
            .in_entry(index));
        }
    };
    Ok(Write {
        entry,
        object: Map::new(),
        id,
        prepared: None,
        pending_refs: false,
        patch: Some(patch),
        if_absent: false,
    })
}

/// Rewrites references to entries whose ids were found inside the unit.
fn rewrite_late(
    patch: &mut PatchDocument,
    late: &HashMap<String, String>,
) -> Result<(), ServiceError> {
    let mut values = patch.take_values();
    let rewritten = for_each_reference(&mut values, &mut |reference| {
        if let Some(target) = late.get(reference.as_str()) {
            *reference = target.clone();
        }
        Ok(())
    });
    patch.put_back_values(values);
    rewritten.map_err(|p| ServiceError::invalid(p, "reference"))
}

/// Everything that writes, in one unit of work. Returns (entry index, outcome, status); a
/// delete that found nothing has no outcome.
fn transaction_unit(
    unit: &mut Unit<'_>,
    deletes: Vec<Entry>,
    mut writes: Vec<Write>,
) -> Result<Vec<(usize, Option<WriteOutcome>, u16)>, ServiceError> {
    let mut results = Vec::new();
    for entry in deletes {
        let index = entry.index;
        let outcome = delete_entry(unit, &entry).map_err(|e| e.in_entry(index))?;
        results.push((index, outcome, 204));
    }
    // Conditional creates, updates and patches find their targets now, inside the unit.
    let mut late: HashMap<String, String> = HashMap::new();
    let mut existing: HashMap<usize, WriteOutcome> = HashMap::new();
    for write in &mut writes {
        let index = write.entry.index;
        if let Some(outcome) = find_target(unit, write).map_err(|e| e.in_entry(index))? {
            existing.insert(index, outcome);
        }
        if let (Some(full_url), Some(id)) = (&write.entry.full_url, &write.id) {
            let resource_type = write.entry.target.resource_type();
            late.insert(full_url.clone(), format!("{resource_type}/{id}"));
        }
    }
    for write in writes {
        let index = write.entry.index;
        if let Some(outcome) = existing.remove(&index) {
            results.push((index, Some(outcome), 200));
            continue;
        }
        let outcome = write_entry(unit, write, &late).map_err(|e| e.in_entry(index))?;
        let status = if outcome.created { 201 } else { 200 };
        results.push((index, Some(outcome), status));
    }
    Ok(results)
}

/// A DELETE entry; `None` when there was nothing to delete.
fn delete_entry(unit: &mut Unit<'_>, entry: &Entry) -> Result<Option<WriteOutcome>, ServiceError> {
    let preconditions = Preconditions {
        if_match: entry.if_match,
    };
    match &entry.target {
        EntryTarget::Instance(resource_type, id) => {
            match unit.delete(resource_type, id, &preconditions) {
                Ok(outcome) => Ok(Some(outcome)),
                // Deleting what does not exist changes nothing (http.html#delete allows 404 or
                // success); a transaction need not fail for it.
                Err(error) if error.kind() == ServiceErrorKind::NotFound => Ok(None),
                Err(error) => Err(error),
            }
        }
        EntryTarget::Query(resource_type, query) => Ok(unit
            .conditional_delete(resource_type, query, &preconditions)?
            .deleted),
        _ => Err(ServiceError::invalid(
            "DELETE needs [type]/[id] or [type]?criteria",
            "request.url",
        )),
    }
}

/// Resolves a write entry's conditional target (the one resolver: `ifNoneExist`, `PUT` and
/// `PATCH` with criteria) and sets its id. Returns the outcome of a conditional create that
/// matched (nothing to write).
fn find_target(
    unit: &mut Unit<'_>,
    write: &mut Write,
) -> Result<Option<WriteOutcome>, ServiceError> {
    let resource_type = write.entry.target.resource_type().to_owned();
    if let Some(criteria) = &write.entry.if_none_exist
        && write.patch.is_none()
        && let Decision::Existing(id) =
            unit.resolve_for(Conditional::Create, &resource_type, criteria, None)?
    {
        let version = unit
            .read(&resource_type, &id)?
            .ok_or_else(|| ServiceError::internal("match vanished"))?;
        write.id = Some(id);
        return Ok(Some(WriteOutcome {
            version,
            created: false,
            unchanged: true,
            warnings: Vec::new(),
        }));
    }
    let EntryTarget::Query(_, criteria) = &write.entry.target else {
        return Ok(None);
    };
    let (interaction, body_id) = match write.patch {
        Some(_) => (Conditional::Patch, None),
        None => (
            Conditional::Update,
            write.object.get("id").and_then(Value::as_str),
        ),
    };
    let id = match unit.resolve_for(interaction, &resource_type, criteria, body_id)? {
        Decision::Existing(id) => id,
        Decision::Create | Decision::Nothing => body_id
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    if write.patch.is_none() {
        crate::check_id_syntax(&id)?;
    }
    write.id = Some(id);
    Ok(None)
}

/// A POST, PUT or PATCH entry whose target is known.
fn write_entry(
    unit: &mut Unit<'_>,
    write: Write,
    late: &HashMap<String, String>,
) -> Result<WriteOutcome, ServiceError> {
    let index = write.entry.index;
    let resource_type = write.entry.target.resource_type().to_owned();
    let id = write
        .id
        .clone()
        .ok_or_else(|| ServiceError::internal("write without an id"))?;
    let preconditions = Preconditions {
        if_match: write.entry.if_match,
    };
    if let Some(mut patch) = write.patch {
        if write.pending_refs {
            rewrite_late(&mut patch, late)?;
        }
        return unit.patch(&resource_type, &id, &patch, &preconditions);
    }
    let prepared = match write.prepared {
        Some(prepared) if !write.pending_refs => prepared,
        _ => {
            let mut resource = Value::Object(write.object);
            for_each_reference(&mut resource, &mut |reference| {
                if let Some(target) = late.get(reference.as_str()) {
                    *reference = target.clone();
                }
                Ok(())
            })
            .map_err(|p| ServiceError::invalid(p, "reference"))?;
            let Value::Object(object) = resource else {
                return Err(ServiceError::internal(format!(
                    "entry {index} is no longer an object"
                )));
            };
            unit.service.prepare(&resource_type, &id, object)?
        }
    };
    if write.if_absent {
        unit.refuse_existing(&resource_type, &id)?;
    }
    match write.entry.method {
        EntryMethod::Post => unit.create(prepared, None),
        _ => unit.update(prepared, &preconditions),
    }
}
