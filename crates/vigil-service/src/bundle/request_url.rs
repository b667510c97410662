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
    /// `Patient/123/_history` or `Patient/_history`.
    History(String, Option<String>),
}

impl EntryTarget {
    /// The resource type the target names.
    pub fn resource_type(&self) -> &str {
        match self {
            EntryTarget::Type(t)
            | EntryTarget::Instance(t, _)
            | EntryTarget::Version(t, _, _)
            | EntryTarget::Query(t, _)
            | EntryTarget::History(t, _) => t,
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
    let target = match (segments.as_slice(), query) {
        ([resource_type], Some(query)) => {
            EntryTarget::Query((*resource_type).to_owned(), query.to_owned())
        }
        ([resource_type], None) => EntryTarget::Type((*resource_type).to_owned()),
        ([resource_type, "_history"], None) => {
            EntryTarget::History((*resource_type).to_owned(), None)
        }
        ([resource_type, id], None) => {
            EntryTarget::Instance((*resource_type).to_owned(), (*id).to_owned())
        }
        ([resource_type, id, "_history"], None) => {
            EntryTarget::History((*resource_type).to_owned(), Some((*id).to_owned()))
        }
        ([resource_type, id, "_history", version], None) => EntryTarget::Version(
            (*resource_type).to_owned(),
            (*id).to_owned(),
            (*version).to_owned(),
        ),
        _ => {
            return Err(ServiceError::invalid(
                format!(
                    "request.url '{url}' is not a resource type, instance, version or search URL"
                ),
                expression,
            ));
        }
    };
    if target
        .resource_type()
        .starts_with(|c: char| !c.is_ascii_uppercase())
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
                EntryTarget::History("Patient".into(), None),
            ),
            (
                "Patient/1/_history",
                EntryTarget::History("Patient".into(), Some("1".into())),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_entry_url(url, base, "x").unwrap(), expected, "{url}");
        }
        for bad in ["", "a/b/c/d/e", "patient/1", "Patient/1/2"] {
            assert!(parse_entry_url(bad, base, "x").is_err(), "{bad}");
        }
    }
}
