//! Batches: each entry processed on its own, in order, with its own status; a failing entry
//! answers with its OperationOutcome and does not affect the others.

use super::request_url::EntryTarget;
use super::{
    BundleReturn, Entry, EntryMethod, NoneMatch, check_write_none_match, if_none_match,
    not_modified, parse_entry, response_bundle, status_text, version_entry,
};
use crate::interactions::Preconditions;
use crate::{FhirService, PatchDocument, RequestContext, ServiceError};
use serde_json::{Value, json};

impl FhirService {
    pub(super) fn batch(
        &self,
        context: &RequestContext,
        entries: Vec<Value>,
        returns: BundleReturn,
    ) -> Value {
        let responses = entries
            .into_iter()
            .enumerate()
            .map(|(index, raw)| {
                let result = if_none_match(&raw).and_then(|none_match| {
                    let entry = parse_entry(context, index, raw)?;
                    self.batch_entry(context, entry, none_match, returns)
                });
                match result {
                    Ok(response) => response,
                    Err(error) => {
                        let error = error.in_entry(index);
                        json!({
                            "response": {
                                "status": status_text(error.kind().http_status()),
                                "outcome": vigil_model::outcome::operation_outcome(error.issues()),
                            }
                        })
                    }
                }
            })
            .collect();
        response_bundle("batch-response", responses)
    }

    fn batch_entry(
        &self,
        context: &RequestContext,
        entry: Entry,
        none_match: Option<NoneMatch>,
        returns: BundleReturn,
    ) -> Result<Value, ServiceError> {
        let base = context.base_url.clone();
        let preconditions = Preconditions {
            if_match: entry.if_match,
        };
        let resource = entry.resource.clone().unwrap_or(Value::Null);
        check_write_none_match(&entry, none_match)?;
        match (entry.method, &entry.target) {
            (EntryMethod::Get | EntryMethod::Head, _) => self
                .read_entry(context, entry)
                .map(|response| not_modified(response, none_match)),
            (EntryMethod::Put, EntryTarget::Instance(resource_type, id))
                if none_match == Some(NoneMatch::Any) =>
            {
                let outcome =
                    self.update_if_absent(context, resource_type, id, resource, &preconditions)?;
                Ok(written(&base, &outcome, returns))
            }
            (EntryMethod::Post, EntryTarget::Type(resource_type)) => {
                let outcome = self.create(
                    context,
                    resource_type,
                    resource,
                    entry.if_none_exist.as_deref(),
                )?;
                Ok(written(&base, &outcome, returns))
            }
            (EntryMethod::Put, EntryTarget::Instance(resource_type, id)) => {
                let outcome = self.update(context, resource_type, id, resource, &preconditions)?;
                Ok(written(&base, &outcome, returns))
            }
            (EntryMethod::Put, EntryTarget::Query(resource_type, criteria)) => {
                let outcome = self.conditional_update(
                    context,
                    resource_type,
                    criteria,
                    resource,
                    &preconditions,
                )?;
                Ok(written(&base, &outcome, returns))
            }
            (EntryMethod::Delete, EntryTarget::Instance(resource_type, id)) => {
                let outcome = self.delete(context, resource_type, id, &preconditions)?;
                Ok(version_entry(&base, &outcome.version, 204, returns))
            }
            (EntryMethod::Delete, EntryTarget::Query(resource_type, criteria)) => {
                match self
                    .conditional_delete(context, resource_type, criteria, &preconditions)?
                    .deleted
                {
                    Some(outcome) => Ok(version_entry(&base, &outcome.version, 204, returns)),
                    None => Ok(json!({"response": {"status": status_text(204)}})),
                }
            }
            (EntryMethod::Patch, EntryTarget::Instance(resource_type, id)) => {
                let patch = PatchDocument::from_entry_resource(&resource)?;
                let outcome = self.patch(context, resource_type, id, &patch, &preconditions)?;
                Ok(version_entry(&base, &outcome.version, 200, returns))
            }
            (EntryMethod::Patch, EntryTarget::Query(resource_type, criteria)) => {
                let patch = PatchDocument::from_entry_resource(&resource)?;
                let outcome = self.conditional_patch(
                    context,
                    resource_type,
                    criteria,
                    &patch,
                    &preconditions,
                )?;
                Ok(version_entry(&base, &outcome.version, 200, returns))
            }
            (method, _) => Err(ServiceError::invalid(
                format!("{method:?} is not allowed on this request.url"),
                "request.url",
            )),
        }
    }
}

/// The response entry of a create or update: 201 when it created, else 200.
fn written(base: &str, outcome: &crate::WriteOutcome, returns: BundleReturn) -> Value {
    version_entry(
        base,
        &outcome.version,
        if outcome.created { 201 } else { 200 },
        returns,
    )
}
