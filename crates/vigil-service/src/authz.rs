//! Authorization: one [`Authorizer`] asked for every resource the service reads, writes or
//! returns, whoever the caller is (REST, transaction and batch entries, `vigil import`,
//! `$export`, later ingest and CDS).
//!
//! The service builds an [`Access`] at each point a resource is touched and asks
//! [`Authorizer::authorize`]; a refusal becomes [`ServiceErrorKind::Forbidden`] (HTTP 403,
//! OperationOutcome `forbidden`) for a direct access, or leaves the resource out of a Bundle
//! (search matches, includes, history, `$everything`, export). The refusal message never
//! mentions the content.
//!
//! [`AllowAll`] is today's behaviour (`--dev`); the security issue plugs a real policy in with
//! [`crate::FhirService::with_authorizer`] without touching any handler. Asking must stay cheap:
//! an [`Access`] borrows everything, and [`Content`] parses stored text only when a policy looks
//! at it, so `AllowAll` costs one virtual call and no allocation.

use crate::{RequestContext, ServiceError, ServiceErrorKind};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::OnceLock;
use vigil_model::IssueType;

/// What is being done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read the current version.
    Read,
    /// Read one version.
    VRead,
    /// Search a type: asked once per type before running (the searched type, every type
    /// reached by chains and `_has`, every `_include`/`_revinclude` target type), then
    /// [`Action::Read`] is asked for each resource returned.
    Search,
    /// Read a history entry.
    History,
    /// Create a resource.
    Create,
    /// Update (or create by update) a resource.
    Update,
    /// Patch a resource.
    Patch,
    /// Delete a resource.
    Delete,
    /// Run an operation (`everything`, `export`, ...), asked at the type level and, for the
    /// resources the operation returns, once per resource.
    Operation(&'a str),
}

impl Action<'_> {
    /// The interaction's name as the FHIR http page spells it (`read`, `search-type`, ...).
    pub fn name(&self) -> &str {
        match self {
            Action::Read => "read",
            Action::VRead => "vread",
            Action::Search => "search-type",
            Action::History => "history",
            Action::Create => "create",
            Action::Update => "update",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::Operation(name) => name,
        }
    }
}

/// One access the service is about to make.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// What is being done.
    pub action: Action<'a>,
    /// The resource type.
    pub resource_type: &'a str,
    /// The resource id, when one resource is at stake (`None` for type-level asks).
    pub id: Option<&'a str>,
    /// The content at stake: the resource returned, or the new content written.
    pub resource: Option<&'a Content<'a>>,
    /// For update, patch and delete: the current content being replaced.
    pub previous: Option<&'a Content<'a>>,
}

impl<'a> Access<'a> {
    /// A type-level access (no resource yet).
    pub fn to_type(action: Action<'a>, resource_type: &'a str) -> Self {
        Access {
            action,
            resource_type,
            id: None,
            resource: None,
            previous: None,
        }
    }

    /// An access to one resource with its content.
    pub fn to_resource(
        action: Action<'a>,
        resource_type: &'a str,
        id: &'a str,
        resource: Option<&'a Content<'a>>,
    ) -> Self {
        Access {
            action,
            resource_type,
            id: Some(id),
            resource,
            previous: None,
        }
    }
}

/// The content of a resource as the service holds it (parsed, or stored JSON text), parsed
/// on demand and at most once.
pub struct Content<'a> {
    source: Source<'a>,
    parsed: OnceLock<Option<Value>>,
}

enum Source<'a> {
    Value(&'a Value),
    Object(&'a Map<String, Value>),
    Text(&'a str),
}

impl<'a> Content<'a> {
    /// Content already parsed.
    pub fn value(value: &'a Value) -> Self {
        Content::from_source(Source::Value(value))
    }

    /// A resource object already parsed.
    pub fn object(object: &'a Map<String, Value>) -> Self {
        Content::from_source(Source::Object(object))
    }

    /// Stored JSON text, parsed only if [`Content::get`] is called.
    pub fn text(text: &'a str) -> Self {
        Content::from_source(Source::Text(text))
    }

    fn from_source(source: Source<'a>) -> Self {
        Content {
            source,
            parsed: OnceLock::new(),
        }
    }

    /// The resource as JSON (`None` when stored text is not JSON, which the store never
    /// holds). An object given with [`Content::object`] is copied once into a [`Value`].
    pub fn get(&self) -> Option<&Value> {
        match &self.source {
            Source::Value(value) => Some(value),
            Source::Object(object) => self
                .parsed
                .get_or_init(|| Some(Value::Object((*object).clone())))
                .as_ref(),
            Source::Text(text) => self
                .parsed
                .get_or_init(|| serde_json::from_str(text).ok())
                .as_ref(),
        }
    }
}

impl fmt::Debug for Content<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Content is PHI: never printed.
        f.write_str("Content(..)")
    }
}

/// A refusal. The reason is for logs and audit; the caller is told only that the access is
/// forbidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Why (the policy's words; must hold no resource content).
    pub reason: String,
}

impl Denied {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Denied {
            reason: reason.into(),
        }
    }
}

/// The access policy: asked by the service for every resource it reads, writes or returns.
pub trait Authorizer: Send + Sync {
    /// Whether `context` may make `access`.
    fn authorize(&self, context: &RequestContext, access: &Access<'_>) -> Result<(), Denied>;
}

/// Allows everything: development mode (`--dev`) and local tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _context: &RequestContext, _access: &Access<'_>) -> Result<(), Denied> {
        Ok(())
    }
}

/// The service error of a refusal: 403 with no hint of the content.
pub(crate) fn forbidden(access: &Access<'_>, denied: &Denied) -> ServiceError {
    tracing::info!(
        resource_type = access.resource_type,
        action = ?access.action,
        reason = %denied.reason,
        "access refused"
    );
    // Neither the id (a conditional match would reveal which resource matched) nor the
    // reason (it may describe the content) goes back to the caller.
    ServiceError::new(
        ServiceErrorKind::Forbidden,
        IssueType::Forbidden,
        format!(
            "{} on {} is not allowed for this caller",
            access.action.name(),
            access.resource_type
        ),
    )
}
