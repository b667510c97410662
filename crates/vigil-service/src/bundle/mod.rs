//! `POST /` with a Bundle of type `transaction` or `batch` (FHIR http.html#transaction).
//!
//! - `request_url`: what each entry's `request.url` names;
//! - `references`: rewriting `fullUrl`s and conditional references to `Type/id`;
//! - `transaction`: all entries in one unit of work, all or nothing;
//! - `batch`: each entry on its own;
//! - `reads`: GET and HEAD entries, any read interaction of the REST API.
//!
//! Public for bulk import, which loads Bundle entries with the same parsing and reference
//! rules: [`parse_entry`], [`Entry`], [`EntryTarget`], [`for_each_reference`],
//! [`as_conditional`].

mod batch;
mod reads;
mod references;
mod request_url;
mod transaction;

use crate::{FhirService, RequestContext, ServiceError, format_instant};
use request_url::parse_entry_url;

pub use references::{as_conditional, for_each_reference};
pub use request_url::EntryTarget;
use serde_json::{Map, Value, json};
use vigil_store::StoredVersion;

/// The HTTP method of a bundle entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum EntryMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

/// One parsed entry of a transaction or batch.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its position in `Bundle.entry`.
    pub index: usize,
    /// `request.method`.
    pub method: EntryMethod,
    /// What `request.url` names.
    pub target: EntryTarget,
    /// `fullUrl`.
    pub full_url: Option<String>,
    /// `resource`.
    pub resource: Option<Value>,
    /// `request.ifMatch`, as a version number.
    pub if_match: Option<u64>,
    /// `request.ifNoneExist`.
    pub if_none_exist: Option<String>,
}

/// How much of each written resource the response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleReturn {
    /// Status, location and etag only (the default, as HAPI).
    #[default]
    Minimal,
    /// The resource as stored, too (`Prefer: return=representation`).
    Representation,
}

impl FhirService {
    /// Processes a Bundle of type `transaction` or `batch` and answers with the matching
    /// response Bundle.
    pub fn process_bundle(
        &self,
        context: &RequestContext,
        bundle: Value,
        returns: BundleReturn,
    ) -> Result<Value, ServiceError> {
        let Value::Object(bundle) = bundle else {
            return Err(ServiceError::invalid("the body must be a Bundle", "Bundle"));
        };
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(ServiceError::invalid(
                "POST to the server root takes a Bundle of type transaction or batch",
                "resourceType",
            ));
        }
        let kind = bundle
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        // Check the Bundle's own shape (entries are validated one by one below, with their
        // position, so one bad entry is reported as such).
        let mut shell = bundle.clone();
        shell.remove("entry");
        let issues = vigil_model::validate::validate_resource(&Value::Object(shell));
        let errors: Vec<_> = issues
            .into_iter()
            .filter(|i| i.severity.is_error())
            .collect();
        if !errors.is_empty() {
            return Err(ServiceError::with_issues(
                crate::ServiceErrorKind::Invalid,
                errors,
            ));
        }
        use vigil_model::validate::MAX_ARRAY_ITEMS;
        let entries = match bundle.get("entry") {
            None => Vec::new(),
            Some(Value::Array(entries)) if entries.len() > MAX_ARRAY_ITEMS => {
                return Err(ServiceError::with_issues(
                    crate::ServiceErrorKind::TooLarge,
                    vec![
                        vigil_model::Issue::error(
                            vigil_model::IssueType::TooCostly,
                            format!(
                                "{} entries: a Bundle takes at most {MAX_ARRAY_ITEMS} (too large \
                                 to serve well; split it)",
                                entries.len()
                            ),
                        )
                        .at("Bundle.entry"),
                    ],
                ));
            }
            Some(Value::Array(entries)) => entries.clone(),
            Some(_) => {
                return Err(ServiceError::invalid(
                    "Bundle.entry must be an array",
                    "Bundle.entry",
                ));
            }
        };
        check_full_urls(&entries)?;
        match kind.as_str() {
            "transaction" => {
                let none_match = entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| if_none_match(e).map_err(|error| error.in_entry(i)))
                    .collect::<Result<Vec<_>, _>>()?;
                let parsed = entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| parse_entry(context, i, e))
                    .collect::<Result<Vec<_>, _>>()?;
                self.transaction(context, parsed, &none_match, returns)
            }
            "batch" => Ok(self.batch(context, entries, returns)),
            other => Err(ServiceError::invalid(
                format!("Bundle.type must be transaction or batch to be processed, not '{other}'"),
                "Bundle.type",
            )),
        }
    }
}

/// Parses one entry's request part; the resource is validated later, by type.
pub fn parse_entry(
    context: &RequestContext,
    index: usize,
    entry: Value,
) -> Result<Entry, ServiceError> {
    let at = |field: &str| format!("Bundle.entry[{index}].{field}");
    let Value::Object(mut entry) = entry else {
        return Err(ServiceError::invalid(
            "a Bundle entry must be an object",
            &at(""),
        ));
    };
    let request = entry
        .get("request")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ServiceError::invalid(
                "a transaction or batch entry needs request.method and request.url",
                &at("request"),
            )
        })?;
    let method = match request.get("method").and_then(Value::as_str) {
        Some("GET") => EntryMethod::Get,
        Some("HEAD") => EntryMethod::Head,
        Some("POST") => EntryMethod::Post,
        Some("PUT") => EntryMethod::Put,
        Some("PATCH") => EntryMethod::Patch,
        Some("DELETE") => EntryMethod::Delete,
        other => {
            return Err(ServiceError::invalid(
                format!(
                    "request.method must be GET, HEAD, POST, PUT, PATCH or DELETE, not {other:?}"
                ),
                &at("request.method"),
            ));
        }
    };
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| ServiceError::invalid("request.url is missing", &at("request.url")))?;
    let url = url.to_owned();
    let if_match = match request.get("ifMatch").and_then(Value::as_str) {
        None => None,
        Some(tag) => Some(parse_etag(tag).ok_or_else(|| {
            ServiceError::invalid(
                format!("request.ifMatch must be a version ETag such as W/\"3\", not '{tag}'"),
                &at("request.ifMatch"),
            )
        })?),
    };
    let if_none_exist = request
        .get("ifNoneExist")
        .and_then(Value::as_str)
        .map(|q| q.trim_start_matches('?').to_owned());
    let full_url = entry
        .get("fullUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut resource = entry.remove("resource");
    let mut method = method;
    let url = match (method, search_via_post(&url)) {
        (EntryMethod::Post, Some((path, query))) => {
            // `POST [type]/_search` is a search: its parameters are the URL's plus those of a
            // Parameters resource, if the entry carries one.
            method = EntryMethod::Get;
            search_entry_url(path, query, resource.take().as_ref(), &at("resource"))?
        }
        _ => url,
    };
    let target = parse_entry_url(&url, &context.base_url, &at("request.url"))?;
    if matches!(
        method,
        EntryMethod::Post | EntryMethod::Put | EntryMethod::Patch
    ) && resource.is_none()
    {
        return Err(ServiceError::invalid(
            format!("a {method:?} entry needs a resource"),
            &at("resource"),
        ));
    }
    Ok(Entry {
        index,
        method,
        target,
        full_url,
        resource,
        if_match,
        if_none_exist,
    })
}

/// Splits `[path/]_search[?query]` into the path before `_search` and the query.
fn search_via_post(url: &str) -> Option<(&str, &str)> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path.trim_end_matches('/');
    let before = path.strip_suffix("_search")?;
    (before.is_empty() || before.ends_with('/')).then_some((before.trim_end_matches('/'), query))
}

/// The GET URL of a `POST _search` entry: `path?query` plus the `Parameters` resource's
/// parameters (each `name` with a primitive `value[x]`), form-encoded.
fn search_entry_url(
    path: &str,
    query: &str,
    resource: Option<&Value>,
    expression: &str,
) -> Result<String, ServiceError> {
    let mut pairs = form_urlencoded::Serializer::new(query.to_owned());
    if let Some(resource) = resource {
        if resource.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
            return Err(ServiceError::invalid(
                "the resource of a POST _search entry must be a Parameters resource of search parameters",
                expression,
            ));
        }
        let parameters = resource.get("parameter").and_then(Value::as_array);
        for parameter in parameters.into_iter().flatten() {
            let name = parameter.get("name").and_then(Value::as_str);
            let value = parameter.as_object().and_then(|object| {
                object
                    .iter()
                    .find(|(key, _)| key.starts_with("value"))
                    .map(|(_, value)| value)
            });
            match (name, value) {
                (Some(name), Some(Value::String(text))) => {
                    pairs.append_pair(name, text);
                }
                (Some(name), Some(value @ (Value::Number(_) | Value::Bool(_)))) => {
                    pairs.append_pair(name, &value.to_string());
                }
                _ => {
                    return Err(ServiceError::invalid(
                        "each parameter of a POST _search entry needs a name and a primitive value[x]",
                        expression,
                    ));
                }
            }
        }
    }
    let query = pairs.finish();
    Ok(if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    })
}

/// `request.ifNoneMatch` of an entry, read beside [`Entry`]: `*` or a version ETag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoneMatch {
    /// `*`: a write proceeds only when the resource has no current version; a read answers
    /// 304 when it has one.
    Any,
    /// `W/"3"`: a read answers 304 when that version is current.
    Version(u64),
}

/// Reads `request.ifNoneMatch` of a raw entry (absent: `None`); the caller places an error in
/// its entry.
pub(crate) fn if_none_match(entry: &Value) -> Result<Option<NoneMatch>, ServiceError> {
    let Some(value) = entry.pointer("/request/ifNoneMatch") else {
        return Ok(None);
    };
    let text = value.as_str().map(str::trim).unwrap_or("");
    if text == "*" {
        return Ok(Some(NoneMatch::Any));
    }
    parse_etag(text)
        .map(|v| Some(NoneMatch::Version(v)))
        .ok_or_else(|| {
            ServiceError::invalid(
                format!(
                    "request.ifNoneMatch must be * or a version ETag such as W/\"3\", not '{text}'"
                ),
                "request.ifNoneMatch",
            )
        })
}

/// A GET entry's answer under `ifNoneMatch`: 304 without the resource when the condition
/// names the current version (or is `*`).
pub(crate) fn not_modified(response: Value, none_match: Option<NoneMatch>) -> Value {
    let Some(none_match) = none_match else {
        return response;
    };
    let Some(etag) = response.pointer("/response/etag").and_then(Value::as_str) else {
        return response;
    };
    let current = parse_etag(etag);
    let unchanged = match none_match {
        NoneMatch::Any => current.is_some(),
        NoneMatch::Version(version) => current == Some(version),
    };
    if unchanged {
        json!({"response": {"status": status_text(304), "etag": etag}})
    } else {
        response
    }
}

/// `ifNoneMatch` on a write: only `*` on `PUT [type]/[id]` (create only if absent). The caller
/// places an error in its entry.
pub(crate) fn check_write_none_match(
    entry: &Entry,
    none_match: Option<NoneMatch>,
) -> Result<(), ServiceError> {
    let allowed = matches!(
        (entry.method, &entry.target, none_match),
        (_, _, None)
            | (EntryMethod::Get | EntryMethod::Head, _, _)
            | (
                EntryMethod::Put,
                EntryTarget::Instance(..),
                Some(NoneMatch::Any)
            )
    );
    if allowed {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "request.ifNoneMatch on a write must be '*' and is supported on PUT [type]/[id] only",
            "request.ifNoneMatch",
        ))
    }
}

/// Bundle rule bdl-7: no two entries share a `fullUrl` unless their `meta.versionId`s differ.
/// Both entries are named in the error.
pub(crate) fn check_full_urls(entries: &[Value]) -> Result<(), ServiceError> {
    let mut seen: std::collections::HashMap<(&str, Option<&str>), usize> =
        std::collections::HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(full_url) = entry.get("fullUrl").and_then(Value::as_str) else {
            continue;
        };
        let version = entry
            .pointer("/resource/meta/versionId")
            .and_then(Value::as_str);
        if let Some(first) = seen.insert((full_url, version), index) {
            return Err(ServiceError::invalid(
                format!(
                    "entries {first} and {index} have the same fullUrl '{full_url}'; a Bundle's fullUrls must be unique (bdl-7)"
                ),
                &format!("Bundle.entry[{index}].fullUrl"),
            ));
        }
    }
    Ok(())
}

/// `W/"3"`, `"3"` or `3`.
pub fn parse_etag(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let digits = match text.strip_prefix('"') {
        // A quoted tag must be closed: `"3` is malformed, not version 3.
        Some(rest) => rest.strip_suffix('"')?,
        None => text,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `201 Created` and friends, for `entry.response.status`.
pub(crate) fn status_text(code: u16) -> String {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    };
    format!("{code} {reason}").trim_end().to_owned()
}

/// The response entry of a write (or read).
pub(crate) fn version_entry(
    base: &str,
    version: &StoredVersion,
    status: u16,
    returns: BundleReturn,
) -> Value {
    let mut response = Map::new();
    response.insert("status".into(), json!(status_text(status)));
    if !version.meta.deleted || status != 204 {
        response.insert(
            "location".into(),
            json!(format!(
                "{}/{}/_history/{}",
                version.resource_type, version.id, version.meta.version_id
            )),
        );
    }
    response.insert(
        "etag".into(),
        json!(format!("W/\"{}\"", version.meta.version_id)),
    );
    response.insert(
        "lastModified".into(),
        json!(format_instant(version.meta.last_updated_micros)),
    );
    let mut entry = Map::new();
    if !version.meta.deleted {
        entry.insert(
            "fullUrl".into(),
            json!(format!("{base}/{}/{}", version.resource_type, version.id)),
        );
        if returns == BundleReturn::Representation
            && let Ok(resource) = serde_json::from_str::<Value>(&version.content)
        {
            entry.insert("resource".into(), resource);
        }
    }
    entry.insert("response".into(), Value::Object(response));
    Value::Object(entry)
}

/// The response Bundle.
pub(crate) fn response_bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": kind,
        "entry": entries,
    })
}
