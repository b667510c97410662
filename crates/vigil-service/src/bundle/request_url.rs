//! `Bundle.entry.request.url`: what an entry asks for, relative to the server base.

use crate::ServiceError;

/// The target of a bundle entry's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryTarget {
    /// `Patient` (create, or a search without parameters).
    Type(String),
    /// `Patient/123`.
    Instance(String, String),
    /// `Patient/123/_history/2`.
    Version(String, String, String),
    /// `Patient?identifier=x` (conditional update/delete, or a search).
    Query(String, String),
    /// `Patient/123/_history` or `Patient/_history`, with its query (`_count`, `_since`, ...;
    /// empty when none).
    History(String, Option<String>, String),
    /// `metadata`: the CapabilityStatement.
    Metadata,
    /// `_history` (the whole system), with its query.
    SystemHistory(String),
    /// `?_type=Patient&...`: a system-level search.
    SystemSearch(String),
    /// `Patient/123/Observation?...`: a search in a compartment.
    Compartment {
        /// The compartment type (`Patient`).
        compartment: String,
        /// The compartment resource's id.
        id: String,
        /// The type searched.
        resource_type: String,
        /// The search query (may be empty).
        query: String,
    },
    /// `$op`, `Type/$op` or `Type/id/$op`.
    Operation {
        /// The type, for type and instance operations.
        resource_type: Option<String>,
        /// The id, for instance operations.
        id: Option<String>,
        /// The operation name without `$`.
        name: String,
        /// The query (the operation's parameters).
        query: String,
    },
}

impl EntryTarget {
    /// The resource type the target names; empty for system-level targets (`metadata`,
    /// `_history`, a system search, `$op`).
    pub fn resource_type(&self) -> &str {
        match self {
            EntryTarget::Type(t)
            | EntryTarget::Instance(t, _)
            | EntryTarget::Version(t, _, _)
            | EntryTarget::Query(t, _)
            | EntryTarget::History(t, _, _)
            | EntryTarget::Compartment {
                resource_type: t, ..
            }
            | EntryTarget::Operation {
                resource_type: Some(t),
                ..
            } => t,
            EntryTarget::Metadata
            | EntryTarget::SystemHistory(_)
            | EntryTarget::SystemSearch(_)
            | EntryTarget::Operation {
                resource_type: None,
                ..
            } => "",
        }
    }
}

/// Parses `request.url`, which may be relative (`Patient/1`) or absolute under the server base.
pub(crate) fn parse_entry_url(
    url: &str,
    base_url: &str,
    expression: &str,
) -> Result<EntryTarget, ServiceError> {
    let relative = url
        .strip_prefix(base_url)
        .map(|rest| rest.trim_start_matches('/'))
        .unwrap_or(url);
    let relative = relative.strip_prefix('/').unwrap_or(relative);
    let (path, query) = match relative.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (relative, None),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let owned = |s: &&str| (*s).to_owned();
    let all = || query.unwrap_or("").to_owned();
    let target = match (segments.as_slice(), query) {
        ([], Some(query)) => EntryTarget::SystemSearch(query.to_owned()),
        (["metadata"], _) => EntryTarget::Metadata,
        (["_history"], _) => EntryTarget::SystemHistory(all()),
        ([operation], _) if operation.starts_with('$') => EntryTarget::Operation {
            resource_type: None,
            id: None,
            name: operation[1..].to_owned(),
            query: all(),
        },
        ([resource_type, operation], _) if operation.starts_with('$') => EntryTarget::Operation {
            resource_type: Some(owned(resource_type)),
            id: None,
            name: operation[1..].to_owned(),
            query: all(),
        },
        ([resource_type, id, operation], _) if operation.starts_with('$') => {
            EntryTarget::Operation {
                resource_type: Some(owned(resource_type)),
                id: Some(owned(id)),
                name: operation[1..].to_owned(),
                query: all(),
            }
        }
        ([resource_type], Some(query)) => {
            EntryTarget::Query((*resource_type).to_owned(), query.to_owned())
        }
        ([resource_type], None) => EntryTarget::Type((*resource_type).to_owned()),
        ([resource_type, "_history"], _) => {
            EntryTarget::History((*resource_type).to_owned(), None, all())
        }
        ([resource_type, id], None) => {
            EntryTarget::Instance((*resource_type).to_owned(), (*id).to_owned())
        }
        ([resource_type, id, "_history"], _) => {
            EntryTarget::History((*resource_type).to_owned(), Some((*id).to_owned()), all())
        }
        ([compartment, id, resource_type], _)
            if resource_type.starts_with(|c: char| c.is_ascii_uppercase()) =>
        {
            EntryTarget::Compartment {
                compartment: owned(compartment),
                id: owned(id),
                resource_type: owned(resource_type),
                query: all(),
            }
        }
        ([resource_type, id, "_history", version], None) => EntryTarget::Version(
            (*resource_type).to_owned(),
            (*id).to_owned(),
            (*version).to_owned(),
        ),
        _ => {
            return Err(ServiceError::invalid(
                format!(
                    "request.url '{url}' is not a URL of the REST API (type, instance, version, history, search, compartment, metadata or operation)"
                ),
                expression,
            ));
        }
    };
    let compartment_type = match &target {
        EntryTarget::Compartment { compartment, .. } => compartment.as_str(),
        _ => "",
    };
    if [target.resource_type(), compartment_type]
        .iter()
        .any(|t| t.starts_with(|c: char| !c.is_ascii_uppercase()))
    {
        return Err(ServiceError::invalid(
            format!("request.url '{url}' does not start with a resource type"),
            expression,
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_urls() {
        let base = "http://localhost:8080";
        let cases = [
            ("Patient", EntryTarget::Type("Patient".into())),
            (
                "Patient/1",
                EntryTarget::Instance("Patient".into(), "1".into()),
            ),
            (
                "/Patient/1",
                EntryTarget::Instance("Patient".into(), "1".into()),
            ),
            (
                "http://localhost:8080/Patient/1",
                EntryTarget::Instance("Patient".into(), "1".into()),
            ),
            (
                "Patient/1/_history/3",
                EntryTarget::Version("Patient".into(), "1".into(), "3".into()),
            ),
            (
                "Patient?identifier=a|b",
                EntryTarget::Query("Patient".into(), "identifier=a|b".into()),
            ),
            (
                "Patient/_history",
                EntryTarget::History("Patient".into(), None, String::new()),
            ),
            (
                "Patient/1/_history?_count=2",
                EntryTarget::History("Patient".into(), Some("1".into()), "_count=2".into()),
            ),
            ("metadata", EntryTarget::Metadata),
            (
                "_history?_since=2020",
                EntryTarget::SystemHistory("_since=2020".into()),
            ),
            (
                "?_type=Patient",
                EntryTarget::SystemSearch("_type=Patient".into()),
            ),
            (
                "Patient/1/Observation?code=x",
                EntryTarget::Compartment {
                    compartment: "Patient".into(),
                    id: "1".into(),
                    resource_type: "Observation".into(),
                    query: "code=x".into(),
                },
            ),
            (
                "Patient/1/$everything?_count=5",
                EntryTarget::Operation {
                    resource_type: Some("Patient".into()),
                    id: Some("1".into()),
                    name: "everything".into(),
                    query: "_count=5".into(),
                },
            ),
            (
                "$export",
                EntryTarget::Operation {
                    resource_type: None,
                    id: None,
                    name: "export".into(),
                    query: String::new(),
                },
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_entry_url(url, base, "x").unwrap(), expected, "{url}");
        }
        for bad in [
            "",
            "a/b/c/d/e",
            "patient/1",
            "Patient/1/2",
            "patient/1/Observation",
        ] {
            assert!(parse_entry_url(bad, base, "x").is_err(), "{bad}");
        }
    }
}
