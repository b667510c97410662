//! history: `GET [type]/[id]/_history`, `GET [type]/_history`, `GET /_history`.
//!
//! Pages run newest first and are addressed by a cursor (the global sequence number of the last
//! version shown), so a page stays correct while new versions are written.

use crate::{FhirService, RequestContext, ServiceError, format_instant, parse_instant_micros};
use serde_json::{Map, Value, json};
use vigil_store::{HistoryQuery, HistoryScope, StoredVersion, WriteMethod};

/// The query parameters of a history interaction, as sent.
#[derive(Debug, Clone, Default)]
pub struct HistoryParams {
    /// `_count`.
    pub count: Option<String>,
    /// `_since`: only versions written at or after this instant.
    pub since: Option<String>,
    /// `_at`: only versions written at or before this instant.
    pub at: Option<String>,
    /// `_page`: the paging cursor from a `next` link.
    pub page: Option<String>,
}

/// One page of history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// Versions, newest first.
    pub versions: Vec<StoredVersion>,
    /// All versions the query covers.
    pub total: Option<u64>,
    /// Cursor of the next page, when there is one.
    pub next: Option<u64>,
}

impl FhirService {
    /// A history page as a FHIR Bundle of type `history`.
    pub(crate) fn history_unaudited(
        &self,
        context: &RequestContext,
        scope: HistoryScope,
        params: &HistoryParams,
    ) -> Result<Value, ServiceError> {
        match &scope {
            HistoryScope::System => {}
            HistoryScope::Type(resource_type) => self.check_type(resource_type)?,
            HistoryScope::Instance(resource_type, id) => {
                self.check_type(resource_type)?;
                // Asked before telling whether the resource exists; each entry is asked again.
                self.allow(
                    context,
                    &crate::authz::Access::to_resource(
                        crate::authz::Action::History,
                        resource_type,
                        id,
                        None,
                    ),
                )?;
                let current = self.store.read(resource_type, id)?;
                if current.is_none() || !self.read_visible(context, current.as_ref())? {
                    return Err(crate::confine::unknown(resource_type, id));
                }
            }
        }
        let count = self.page_size(params.count.as_deref())?;
        let query = HistoryQuery {
            scope: scope.clone(),
            since_micros: parse_bound(params.since.as_deref(), "_since")?,
            before_micros: parse_bound(params.at.as_deref(), "_at")?,
            before_seq: match params.page.as_deref() {
                None => None,
                Some(page) => Some(page.parse::<u64>().map_err(|_| {
                    ServiceError::invalid(format!("'{page}' is not a valid page cursor"), "_page")
                })?),
            },
            limit: count + 1,
        };
        let mut versions = if count == 0 {
            Vec::new()
        } else {
            self.store.history(&query)?
        };
        let next = if versions.len() > count {
            versions.truncate(count);
            versions.last().map(|v| v.seq)
        } else {
            None
        };
        // An entry the caller may not see is left out (the cursor is taken before, so paging
        // is unchanged).
        let listed = versions.len();
        versions.retain(|v| self.allows_version(context, crate::authz::Action::History, v));
        // A count over entries the caller may not see (another patient's, refused ones) would
        // tell that they exist: no total then.
        let total = if versions.len() < listed || crate::confine::confinement(context).is_some() {
            None
        } else {
            Some(self.store.history_count(&query)?)
        };
        let page = HistoryPage {
            versions,
            total,
            next,
        };
        Ok(history_bundle(context, &scope, params, count, &page))
    }

    /// The page size for `_count`: the default when absent, capped at the maximum.
    pub fn page_size(&self, count: Option<&str>) -> Result<usize, ServiceError> {
        match count {
            None => Ok(self.config.default_page_size),
            Some(text) => text
                .parse::<usize>()
                .map(|n| n.min(self.config.max_page_size))
                .map_err(|_| {
                    ServiceError::invalid(
                        format!("_count must be a non-negative integer, not '{text}'"),
                        "_count",
                    )
                }),
        }
    }
}

fn parse_bound(value: Option<&str>, name: &str) -> Result<Option<i64>, ServiceError> {
    match value {
        None => Ok(None),
        Some(text) => parse_instant_micros(text).map(Some).ok_or_else(|| {
            ServiceError::invalid(
                format!("{name} must be a FHIR instant or date, not '{text}'"),
                name,
            )
        }),
    }
}

fn history_bundle(
    context: &RequestContext,
    scope: &HistoryScope,
    params: &HistoryParams,
    count: usize,
    page: &HistoryPage,
) -> Value {
    let base = &context.base_url;
    let path = match scope {
        HistoryScope::System => format!("{base}/_history"),
        HistoryScope::Type(resource_type) => format!("{base}/{resource_type}/_history"),
        HistoryScope::Instance(resource_type, id) => {
            format!("{base}/{resource_type}/{id}/_history")
        }
    };
    let link = |cursor: Option<u64>| {
        let mut query = vec![format!("_count={count}")];
        if let Some(since) = &params.since {
            query.push(format!("_since={}", encode(since)));
        }
        if let Some(at) = &params.at {
            query.push(format!("_at={}", encode(at)));
        }
        if let Some(cursor) = cursor {
            query.push(format!("_page={cursor}"));
        }
        format!("{path}?{}", query.join("&"))
    };
    let mut links = vec![
        json!({"relation": "self", "url": link(params.page.as_deref().and_then(|p| p.parse().ok()))}),
    ];
    if let Some(next) = page.next {
        links.push(json!({"relation": "next", "url": link(Some(next))}));
    }
    let entries: Vec<Value> = page
        .versions
        .iter()
        .map(|version| history_entry(base, version))
        .collect();
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), json!("Bundle"));
    bundle.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    bundle.insert(
        "meta".into(),
        json!({"lastUpdated": format_instant(crate::now_micros())}),
    );
    bundle.insert("type".into(), json!("history"));
    if let Some(total) = page.total {
        bundle.insert("total".into(), json!(total));
    }
    bundle.insert("link".into(), Value::Array(links));
    if !entries.is_empty() {
        bundle.insert("entry".into(), Value::Array(entries));
    }
    Value::Object(bundle)
}

fn history_entry(base: &str, version: &StoredVersion) -> Value {
    let (resource_type, id) = (&version.resource_type, &version.id);
    let method = version.meta.method;
    let (url, status) = match method {
        WriteMethod::Create => (resource_type.clone(), "201 Created"),
        WriteMethod::Update | WriteMethod::Patch if version.meta.version_id == 1 => {
            (format!("{resource_type}/{id}"), "201 Created")
        }
        WriteMethod::Update | WriteMethod::Patch => (format!("{resource_type}/{id}"), "200 OK"),
        WriteMethod::Delete => (format!("{resource_type}/{id}"), "204 No Content"),
    };
    let mut entry = Map::new();
    entry.insert(
        "fullUrl".into(),
        json!(format!("{base}/{resource_type}/{id}")),
    );
    if !version.meta.deleted
        && let Ok(resource) = serde_json::from_str::<Value>(&version.content)
    {
        entry.insert("resource".into(), resource);
    }
    entry.insert(
        "request".into(),
        json!({"method": method.http_verb(), "url": url}),
    );
    entry.insert(
        "response".into(),
        json!({
            "status": status,
            "etag": format!("W/\"{}\"", version.meta.version_id),
            "lastModified": format_instant(version.meta.last_updated_micros),
        }),
    );
    Value::Object(entry)
}

/// Percent-encodes a query value (instants carry `+` and `:`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
